using System.Runtime.InteropServices;

namespace EdgeMed.DicomIngest.Interop;

/// <summary>The C library calls the decoder process needs: file descriptors, which .NET does not duplicate.</summary>
internal static partial class LibC
{
    private const string Library = "libc";

    [LibraryImport(Library, EntryPoint = "dup", SetLastError = true)]
    internal static partial int Dup(int fd);

    [LibraryImport(Library, EntryPoint = "dup2", SetLastError = true)]
    internal static partial int Dup2(int oldFd, int newFd);
}
