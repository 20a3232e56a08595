using System.Runtime.InteropServices;

namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// Owns one ONNX Runtime object (a session or a value) and disposes it only after the last run using it returns:
/// runs take a reference (<see cref="SafeHandle.DangerousAddRef"/>), so disposing a session or tensor while another
/// thread runs on it is safe. The handle value itself is a placeholder; the object is what is released.
/// </summary>
internal sealed class OrtLease<T> : SafeHandle
    where T : class, IDisposable
{
    private readonly T _target;

    internal OrtLease(T target)
        : base(0, ownsHandle: true)
    {
        _target = target;
        SetHandle(1);
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The object; use it only between <c>DangerousAddRef</c> and <c>DangerousRelease</c>, or while no one can dispose it.</summary>
    internal T Target => _target;

    protected override bool ReleaseHandle()
    {
        _target.Dispose();
        return true;
    }
}
