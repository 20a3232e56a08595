using System.Runtime.InteropServices;

namespace EdgeMed.DicomIngest.Interop;

/// <summary>The C library calls the decoder process needs: file descriptors, which .NET does not duplicate, and
/// anonymous memory files, which .NET does not create.</summary>
internal static partial class LibC
{
    private const string Library = "libc";

    [LibraryImport(Library, EntryPoint = "dup", SetLastError = true)]
    internal static partial int Dup(int fd);

    [LibraryImport(Library, EntryPoint = "dup2", SetLastError = true)]
    internal static partial int Dup2(int oldFd, int newFd);

    /// <summary>MFD_CLOEXEC: the memory file is not inherited by processes this one starts.</summary>
    internal const uint MemfdCloexec = 1;

    [LibraryImport(Library, EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int MemfdCreate(string name, uint flags);
}
