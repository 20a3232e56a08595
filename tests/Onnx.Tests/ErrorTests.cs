using EdgeMed.Onnx.Runtime;

namespace EdgeMed.Onnx.Tests;

public sealed class ErrorTests
{
    private static OnnxSession AddSession() => OnnxSession.FromBytes(TestModels.Add(2, 3).Bytes());

    [Fact]
    public void Open_MissingFile_ThrowsFileNotFoundNamingThePath()
    {
        var path = Path.Combine(Path.GetTempPath(), "edgemed-no-such-model.onnx");

        var error = Assert.Throws<FileNotFoundException>(() => OnnxSession.Open(path));

        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void Open_TruncatedModel_ThrowsOnnxRuntimeException()
    {
        using var folder = new TempFolder();
        var bytes = TestModels.Conv(new float[3 * 2 * 9], new float[3], 3, 2, 3, 5, 5).Bytes();
        var path = folder.File("truncated.onnx");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.Open(path));

        Assert.Equal(OrtErrorCode.InvalidProtobuf, error.ErrorCode);
    }

    [Fact]
    public void Open_NonOnnxFile_ThrowsOnnxRuntimeException()
    {
        using var folder = new TempFolder();
        var path = folder.File("notes.onnx");
        File.WriteAllText(path, "This is a text file, not a model.\n");

        var error = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.Open(path));

        Assert.NotEqual(OrtErrorCode.Ok, error.ErrorCode);
    }

    [Fact]
    public void FromBytes_Empty_ThrowsOnnxRuntimeException()
    {
        Assert.Throws<OnnxRuntimeException>(() => OnnxSession.FromBytes(ReadOnlyMemory<byte>.Empty));
    }

    [Fact]
    public void FromBytes_UnknownOperator_ThrowsWithOrtMessage()
    {
        var b = new Model.GraphBuilder("bad");
        var x = b.Input("x", TensorElementType.Float, 1);
        b.NamedNode("NoSuchOperator", [x], ["y"]);
        b.Output("y", TensorElementType.Float, 1);

        var error = Assert.Throws<OnnxRuntimeException>(() => OnnxSession.FromBytes(b.Build().Bytes()));

        Assert.Contains("NoSuchOperator", error.Message);
    }

    [Fact]
    public void Run_WrongInputName_ThrowsOnnxInputExceptionListingInputs()
    {
        using var session = AddSession();
        using var t = OnnxTensor.Create(new float[6], 2, 3);

        var error = Assert.Throws<OnnxInputException>(() => session.Run([new("x", t), new("why", t)]));

        Assert.Equal("why", error.ValueName);
        Assert.Contains("x: Float[2,3]", error.Message);
    }

    [Fact]
    public void Run_MissingInput_ThrowsOnnxInputException()
    {
        using var session = AddSession();
        using var t = OnnxTensor.Create(new float[6], 2, 3);

        var error = Assert.Throws<OnnxInputException>(() => session.Run([new("x", t)]));

        Assert.Equal("y", error.ValueName);
    }

    [Fact]
    public void Run_InputGivenTwice_ThrowsOnnxInputException()
    {
        using var session = AddSession();
        using var t = OnnxTensor.Create(new float[6], 2, 3);

        Assert.Throws<OnnxInputException>(() => session.Run([new("x", t), new("x", t), new("y", t)]));
    }

    [Fact]
    public void Run_WrongElementType_ThrowsOnnxInputException()
    {
        using var session = AddSession();
        using var f = OnnxTensor.Create(new float[6], 2, 3);
        using var l = OnnxTensor.Create(new long[6], 2, 3);

        var error = Assert.Throws<OnnxInputException>(() => session.Run([new("x", f), new("y", l)]));

        Assert.Contains("Int64", error.Message);
    }

    [Fact]
    public void Run_WrongRank_ThrowsOnnxInputException()
    {
        using var session = AddSession();
        using var f = OnnxTensor.Create(new float[6], 2, 3);
        using var flat = OnnxTensor.Create(new float[6], 6);

        var error = Assert.Throws<OnnxInputException>(() => session.Run([new("x", f), new("y", flat)]));

        Assert.Contains("rank", error.Message);
    }

    [Fact]
    public void Run_WrongFixedDimension_ThrowsOnnxInputException()
    {
        using var session = AddSession();
        using var f = OnnxTensor.Create(new float[6], 2, 3);
        using var transposed = OnnxTensor.Create(new float[6], 3, 2);

        Assert.Throws<OnnxInputException>(() => session.Run([new("x", f), new("y", transposed)]));
    }

    [Fact]
    public void Run_UnknownOutputName_ThrowsOnnxInputException()
    {
        using var session = AddSession();
        using var f = OnnxTensor.Create(new float[6], 2, 3);

        Assert.Throws<OnnxInputException>(() => session.Run([new("x", f), new("y", f)], ["nope"]));
    }

    [Fact]
    public void Run_PreallocatedOutputOfWrongShape_ThrowsOnnxInputException()
    {
        using var session = AddSession();
        using var f = OnnxTensor.Create(new float[6], 2, 3);
        using var wrong = OnnxTensor.Create(new float[4], 2, 2);

        Assert.Throws<OnnxInputException>(() => session.Run([new("x", f), new("y", f)], [new NamedTensor("z", wrong)]));
    }

    [Fact]
    public void Run_OnDisposedSession_ThrowsObjectDisposed()
    {
        var session = AddSession();
        using var f = OnnxTensor.Create(new float[6], 2, 3);
        session.Dispose();

        Assert.Throws<ObjectDisposedException>(() => session.Run([new("x", f), new("y", f)]));
    }

    [Fact]
    public void Run_WithDisposedTensor_ThrowsObjectDisposed()
    {
        using var session = AddSession();
        using var f = OnnxTensor.Create(new float[6], 2, 3);
        var gone = OnnxTensor.Create(new float[6], 2, 3);
        gone.Dispose();

        Assert.Throws<ObjectDisposedException>(() => session.Run([new("x", f), new("y", gone)]));
    }

    [Fact]
    public void Outputs_ReadAsWrongTypeOrAfterDispose_Throw()
    {
        using var session = AddSession();
        using var f = OnnxTensor.Create(new float[6], 2, 3);
        var outputs = session.Run([new("x", f), new("y", f)]);

        Assert.Throws<InvalidCastException>(() => outputs.GetSpan<long>(0).Length);
        outputs.Dispose();
        Assert.Throws<ObjectDisposedException>(() => outputs.GetSpan<float>(0).Length);
    }

    [Fact]
    public void Tensor_LengthNotMatchingShape_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => OnnxTensor.Create(new float[5], 2, 3));
        Assert.Throws<ArgumentException>(() => OnnxTensor.Create(new float[6], 2, -3));
    }

    [Fact]
    public void Tensor_UnsupportedElementType_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => OnnxTensor.Create(new ushort[2], 2));
    }

    [Fact]
    public void CudaProvider_OnBuildOrMachineWithoutIt_ThrowsExecutionProviderUnavailable()
    {
        // The Microsoft.ML.OnnxRuntime CPU package ships no CUDA provider library, so this holds on GPU machines too.
        var error = Assert.Throws<ExecutionProviderUnavailableException>(
            () => OnnxSession.FromBytes(TestModels.Add(1).Bytes(), new OnnxSessionOptions { Provider = ExecutionProvider.Cuda }));

        Assert.Equal(ExecutionProvider.Cuda, error.Provider);
    }

    [Fact]
    public void TensorRtProvider_OnBuildOrMachineWithoutIt_ThrowsExecutionProviderUnavailable()
    {
        var error = Assert.Throws<ExecutionProviderUnavailableException>(
            () => OnnxSession.FromBytes(TestModels.Add(1).Bytes(), new OnnxSessionOptions { Provider = ExecutionProvider.TensorRt }));

        Assert.Equal(ExecutionProvider.TensorRt, error.Provider);
    }

    [Theory]
    [InlineData("[ErrorCode:InvalidProtobuf] Load model failed", OrtErrorCode.InvalidProtobuf, "Load model failed")]
    [InlineData("[ErrorCode:ShapeInferenceNotRegistered] provider failed", OrtErrorCode.ExecutionProviderFail, "provider failed")]
    [InlineData("[ErrorCode:SomethingNew] text", OrtErrorCode.Fail, "text")]
    [InlineData("no code at all", OrtErrorCode.Fail, "no code at all")]
    public void PackageErrors_KeepOrtsCodeAndMessage(string text, OrtErrorCode code, string message)
    {
        // Microsoft.ML.OnnxRuntime keeps the code internal and writes it into the message; its enum names the C API's
        // codes 11 and 12 by their old meanings.
        Assert.Equal((code, message), OnnxRuntimeException.Parse(text));
    }

    [Fact]
    public void Options_NegativeThreads_ThrowsArgumentOutOfRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxSession.FromBytes(TestModels.Add(1).Bytes(), new OnnxSessionOptions { IntraOpThreads = -1 }));
    }
}
