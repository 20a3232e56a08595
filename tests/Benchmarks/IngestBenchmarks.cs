using BenchmarkDotNet.Attributes;
using EdgeMed.DicomIngest;
using EdgeMed.DicomIngest.Images;
using EdgeMed.DicomIngest.Normalization;

namespace EdgeMed.Benchmarks;

/// <summary>
/// Decode + normalize per slice, for a 256×256 16-bit MR slice (GE, explicit VR LE) and a 176×208 JPEG, and what
/// decoding in a separate process costs against decoding in-process. Inputs come from ../shared/data.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 3, iterationCount: 15)]
public class IngestBenchmarks
{
    private readonly float[] _tensor = new float[3 * 224 * 224];
    private DicomReader _isolated = null!;
    private DicomReader _inProcess = null!;
    private JpegDecoder _jpeg = null!;
    private SliceNormalizer _normalizer = null!;
    private string _dicomPath = null!;
    private byte[] _jpegBytes = null!;
    private float[] _slicePixels = null!;

    [GlobalSetup]
    public void Setup()
    {
        _dicomPath = Directory.GetFiles(EdgeMed.Tests.SharedData.GeSeries).Order(StringComparer.Ordinal).First();
        _jpegBytes = File.ReadAllBytes(Directory.EnumerateFiles(EdgeMed.Tests.SharedData.Alzheimer, "*.jpg", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First());
        _isolated = new DicomReader();
        _inProcess = new DicomReader(isolation: DecoderIsolation.InProcess);
        _jpeg = new JpegDecoder();
        _normalizer = new SliceNormalizer();
        _slicePixels = _inProcess.ReadAsync(_dicomPath).GetAwaiter().GetResult().Slices[0].Pixels;
        _isolated.ReadAsync(_dicomPath).GetAwaiter().GetResult(); // start the decoder process outside the measurement
    }

    [Benchmark(Baseline = true, Description = "MR 256×256 16-bit: read + decode in-process + normalize")]
    public float DicomInProcess()
    {
        var slice = _inProcess.ReadAsync(_dicomPath).GetAwaiter().GetResult().Slices[0];
        _normalizer.Normalize(slice, _tensor);
        return _tensor[0];
    }

    [Benchmark(Description = "MR 256×256 16-bit: read + decode in decoder process + normalize")]
    public float DicomIsolated()
    {
        var slice = _isolated.ReadAsync(_dicomPath).GetAwaiter().GetResult().Slices[0];
        _normalizer.Normalize(slice, _tensor);
        return _tensor[0];
    }

    [Benchmark(Description = "MR 256×256: normalize only (the hot path)")]
    public float NormalizeOnly()
    {
        _normalizer.Normalize<float>(_slicePixels, 256, 256, _tensor);
        return _tensor[0];
    }

    [Benchmark(Description = "JPEG 176×208: decode (turbojpeg) + normalize")]
    public float Jpeg()
    {
        var gray = _jpeg.Decode(_jpegBytes, out var width, out var height);
        _normalizer.Normalize(gray, height, width, _tensor);
        return _tensor[0];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _isolated.Dispose();
        _inProcess.Dispose();
        _jpeg.Dispose();
    }
}
