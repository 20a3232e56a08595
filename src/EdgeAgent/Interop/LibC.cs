using System.Runtime.InteropServices;

namespace EdgeMed.EdgeAgent.Interop;

/// <summary>
/// The C library calls the agent needs and .NET does not offer: the type of a file (FIFO, socket, device, link), which
/// <see cref="FileSystemInfo"/> reports as "Normal". statx, not stat: its buffer has one layout on every architecture
/// (glibc 2.28+, Linux 4.11+).
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

    [LibraryImport(Library, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Statx(int dirFd, string path, int flags, uint mask, [Out] byte[] buffer);
}
