using System.Buffers;
using System.Runtime.InteropServices;

namespace EdgeMed.Onnx.Runtime;

/// <summary>Base for ONNX Runtime object handles: invalid when zero, released exactly once.</summary>
internal abstract class OrtHandle : SafeHandle
{
    protected OrtHandle()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>Takes ownership of a native pointer just returned by ONNX Runtime.</summary>
    internal void Assign(nint value) => SetHandle(value);
}

internal sealed unsafe class OrtEnvHandle : OrtHandle
{
    protected override bool ReleaseHandle()
    {
        OrtNative.ReleaseEnv(handle);
        return true;
    }
}

/// <summary>An <c>OrtSession</c> and the native UTF-8 copies of its input and output names, freed together.</summary>
internal sealed unsafe class OrtSessionHandle : OrtHandle
{
    private readonly List<nint> _names = [];

    /// <summary>Keeps a native UTF-8 copy of <paramref name="name"/> for the session's lifetime.</summary>
    internal nint KeepName(string name)
    {
        var utf8 = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8(name);
        _names.Add(utf8);
        return utf8;
    }

    protected override bool ReleaseHandle()
    {
        OrtNative.ReleaseSession(handle);
        foreach (var name in _names)
        {
            System.Runtime.InteropServices.Marshal.FreeCoTaskMem(name);
        }

        return true;
    }
}

internal sealed unsafe class OrtSessionOptionsHandle : OrtHandle
{
    internal static OrtSessionOptionsHandle Create()
    {
        var options = new OrtSessionOptionsHandle();
        nint raw;
        OrtNative.Check(OrtNative.CreateSessionOptions(&raw));
        options.Assign(raw);
        return options;
    }

    protected override bool ReleaseHandle()
    {
        OrtNative.ReleaseSessionOptions(handle);
        return true;
    }
}

internal sealed unsafe class OrtRunOptionsHandle : OrtHandle
{
    internal static OrtRunOptionsHandle Create()
    {
        var options = new OrtRunOptionsHandle();
        nint raw;
        OrtNative.Check(OrtNative.CreateRunOptions(&raw));
        options.Assign(raw);
        return options;
    }

    protected override bool ReleaseHandle()
    {
        OrtNative.ReleaseRunOptions(handle);
        return true;
    }
}

/// <summary>
/// An <c>OrtValue</c>. When it wraps managed memory, the pin is held until the native value is released, so a
/// dispose that races a run (deferred by SafeHandle reference counting) never unpins memory ORT still reads.
/// </summary>
internal sealed unsafe class OrtValueHandle : OrtHandle
{
    private MemoryHandle _pin;

    internal void Adopt(nint value, MemoryHandle pin)
    {
        _pin = pin;
        SetHandle(value);
    }

    protected override bool ReleaseHandle()
    {
        OrtNative.ReleaseValue(handle);
        _pin.Dispose();
        return true;
    }
}
