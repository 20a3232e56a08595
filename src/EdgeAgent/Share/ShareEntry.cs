using System.Runtime.InteropServices;
using EdgeMed.EdgeAgent.Interop;

namespace EdgeMed.EdgeAgent.Share;

/// <summary>What a name on the share is. Only <see cref="Regular"/> files are read: opening a FIFO blocks until a writer comes.</summary>
public enum ShareEntryKind
{
    /// <summary>A regular file.</summary>
    Regular,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>A symbolic link (never followed: it could lead out of the share or into a loop).</summary>
    SymbolicLink,

    /// <summary>A named pipe.</summary>
    Fifo,

    /// <summary>A Unix socket.</summary>
    Socket,

    /// <summary>A character or block device.</summary>
    Device,

    /// <summary>Gone.</summary>
    Missing,
}

/// <summary>The type of a file on the share, from statx without following links.</summary>
public static class ShareEntry
{
    /// <summary>The reason code of an entry that is not a regular file, as the ledger stores it.</summary>
    public static string ReasonOf(ShareEntryKind kind) => kind switch
    {
        ShareEntryKind.SymbolicLink => Ledger.FileReasons.SymbolicLink,
        ShareEntryKind.Fifo => Ledger.FileReasons.Fifo,
        ShareEntryKind.Socket => Ledger.FileReasons.Socket,
        _ => Ledger.FileReasons.Device,
    };

    /// <summary>What <paramref name="path"/> is (a link is reported as a link, not as its target).</summary>
    public static ShareEntryKind KindOf(string path)
    {
        // glibc 2.28+ answers statx itself from fstatat on kernels without the system call, so a failure is the path's.
        var buffer = new byte[LibC.StatxSize];
        if (LibC.Statx(LibC.AtFdCwd, path, LibC.AtSymlinkNoFollow, LibC.StatxType, buffer) != 0)
        {
            return ShareEntryKind.Missing;
        }

        return (BitConverter.ToUInt16(buffer, LibC.StatxModeOffset) & 0xF000) switch
        {
            0x8000 => ShareEntryKind.Regular,
            0x4000 => ShareEntryKind.Directory,
            0xA000 => ShareEntryKind.SymbolicLink,
            0x1000 => ShareEntryKind.Fifo,
            0xC000 => ShareEntryKind.Socket,
            _ => ShareEntryKind.Device,
        };
    }

    /// <summary>The file system (device number) <paramref name="path"/> is on, or null when it cannot be told.</summary>
    public static ulong? DeviceOf(string path)
    {
        var buffer = new byte[LibC.StatxSize];
        return LibC.Statx(LibC.AtFdCwd, path, 0, LibC.StatxType, buffer) != 0
            ? null
            : ((ulong)BitConverter.ToUInt32(buffer, LibC.StatxDevOffset) << 32) | BitConverter.ToUInt32(buffer, LibC.StatxDevOffset + 4);
    }

    /// <summary>Flushes a directory's entries to disk, so a file created or renamed in it survives a power cut.</summary>
    public static void SyncDirectory(string folder)
    {
        var fd = LibC.Open(folder, LibC.OpenDirectory);
        if (fd < 0)
        {
            throw new IOException($"cannot open the folder to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        using var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        if (LibC.Fsync(handle) != 0)
        {
            throw new IOException($"fsync of the folder failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }
}
