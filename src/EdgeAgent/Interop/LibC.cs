using System.Runtime.InteropServices;

namespace EdgeMed.EdgeAgent.Interop;

/// <summary>
/// The C library calls the agent needs and .NET does not offer: the type of a file (FIFO, socket, device, link), which
/// <see cref="FileSystemInfo"/> reports as "Normal", the file system it is on, and fsync of a directory (so a rename
/// into it survives a power cut). statx, not stat: its buffer has one layout on every architecture (glibc 2.28+,
/// Linux 4.11+).
/// </summary>
internal static partial class LibC
{
    private const string Library = "libc";

    /// <summary>Paths relative to the working directory.</summary>
    internal const int AtFdCwd = -100;

    /// <summary>Describe a symbolic link itself, not its target.</summary>
    internal const int AtSymlinkNoFollow = 0x100;

    /// <summary>Only stx_mode's type bits are wanted.</summary>
    internal const uint StatxType = 0x1;

    /// <summary>sizeof(struct statx).</summary>
    internal const int StatxSize = 256;

    /// <summary>Offset of stx_mode (a 16-bit value) in struct statx.</summary>
    internal const int StatxModeOffset = 28;

    /// <summary>Offset of stx_dev_major and stx_dev_minor (32-bit values, always filled) in struct statx.</summary>
    internal const int StatxDevOffset = 136;

    /// <summary>open(2) flags for a directory to fsync: read-only (0), closed on exec (O_CLOEXEC, one value on x64 and arm64; O_DIRECTORY is not).</summary>
    internal const int OpenDirectory = 0x80000;

    [LibraryImport(Library, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Statx(int dirFd, string path, int flags, uint mask, [Out] byte[] buffer);

    [LibraryImport(Library, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Open(string path, int flags);

    [LibraryImport(Library, EntryPoint = "fsync", SetLastError = true)]
    internal static partial int Fsync(Microsoft.Win32.SafeHandles.SafeFileHandle fd);
}
