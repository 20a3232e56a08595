using System.Runtime.InteropServices;

namespace EdgeMed.TrainerHost.Interop;

/// <summary>The C library call the trainer needs: a plain SIGTERM to the worker (.NET's Process.Kill sends SIGKILL).</summary>
internal static partial class LibC
{
    /// <summary>SIGTERM.</summary>
    internal const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);
}
