using EdgeMed.Onnx.Runtime;

namespace EdgeMed.Benchmarks;

/// <summary>Direct C API calls for the baselines: the same native function pointers, none of the binding's checks.</summary>
internal static unsafe class RawHandles
{
    public static nint Session(OnnxSession session) => session.Handle.DangerousGetHandle();

    public static nint Value(OnnxTensor tensor) => tensor.Handle.DangerousGetHandle();

    public static void Run(nint session, nint* inNames, nint* inValues, int inCount, nint* outNames, int outCount, nint* outValues) =>
        OrtNative.Check(OrtNative.Run(session, 0, inNames, inValues, (nuint)inCount, outNames, (nuint)outCount, outValues));

    public static float ReadFirstFloatAndRelease(nint value)
    {
        void* data;
        OrtNative.Check(OrtNative.GetTensorMutableData(value, &data));
        var first = *(float*)data;
        OrtNative.ReleaseValue(value);
        return first;
    }
}
