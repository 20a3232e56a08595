using System.CommandLine;
using EdgeMed.DicomIngest.Datasets;
using EdgeMed.Packages;
using EdgeMed.Quantization;
using EdgeMed.Quantization.Calibration;

// ./edgemed.sh quantize --model PACKAGE --calib DIR --out PACKAGE [--format qdq|dynamic] [--method minmax|percentile|entropy] [--samples 200] [--eval DIR]
//   [--matmul-outputs int8|float] [--include-depthwise]
var model = new Option<string>("--model") { Description = "fp32 model package", Required = true };
var calib = new Option<string>("--calib") { Description = "Labeled calibration folder (one sub-folder per class, images or DICOM)", Required = true };
var output = new Option<string>("--out") { Description = "int8 package to write (must not exist)", Required = true };
var method = new Option<string>("--method") { Description = "minmax, percentile or entropy", DefaultValueFactory = _ => "minmax" };
var percentile = new Option<double>("--percentile") { DefaultValueFactory = _ => 99.99 };
var samples = new Option<int>("--samples") { DefaultValueFactory = _ => 200 };
var eval = new Option<string?>("--eval") { Description = "Labeled folder for agreement, accuracy and per-tensor error" };
var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 2 };
var opTypes = new Option<string>("--op-types") { Description = "Operators to quantize", DefaultValueFactory = _ => "MatMul,Gemm,Conv" };
var exclude = new Option<string?>("--exclude-nodes") { Description = "Node names to keep float, comma-separated" };
var cache = new Option<string?>("--cache") { Description = "Tensor cache folder" };
var activationType = new Option<string>("--activation-type") { Description = "s8 (S8S8, default) or u8 (U8S8; for CPUs without VNNI add --reduce-range)", DefaultValueFactory = _ => "s8" };
var format = new Option<string>("--format") { Description = "qdq (static: calibrated activations, Q/DQ around every int8 node) or dynamic (MatMul only, activations quantized per run: fewer float conversions)", DefaultValueFactory = _ => "qdq" };
var includeDepthwise = new Option<bool>("--include-depthwise") { Description = "Quantize the depthwise convolutions too (qdq only; float by default, see docs/PERFORMANCE.md)" };
var matmulOutputs = new Option<string>("--matmul-outputs") { Description = "int8 (QLinearMatMul, the default) or float (MatMulIntegerToFloat: no requantization of the products' results)", DefaultValueFactory = _ => "int8" };
var reduceRange = new Option<bool>("--reduce-range") { Description = "7-bit weights: avoids U8S8 saturation on x86 CPUs without VNNI, as ONNX Runtime documents" };
var root = new RootCommand("EdgeMed quantizer: int8 post-training quantization of a model package")
{
    model, calib, output, format, method, percentile, samples, eval, threads, opTypes, exclude, cache, activationType, reduceRange, includeDepthwise, matmulOutputs,
};
root.SetAction(async (result, cancellationToken) =>
{
    try
    {
        var methodText = result.GetRequiredValue(method);
        if (!Enum.TryParse<CalibrationMethod>(methodText, ignoreCase: true, out var parsed))
        {
            throw new QuantizationException($"--method {methodText} is unknown; choose minmax, percentile or entropy.");
        }

        var activation = result.GetRequiredValue(activationType);
        if (activation is not ("s8" or "u8"))
        {
            throw new QuantizationException($"--activation-type {activation} is unknown; choose s8 or u8.");
        }

        var formatText = result.GetRequiredValue(format);
        if (formatText is not ("qdq" or "dynamic"))
        {
            throw new QuantizationException($"--format {formatText} is unknown; choose qdq or dynamic.");
        }

        var matmulOutputsText = result.GetRequiredValue(matmulOutputs);
        if (matmulOutputsText is not ("int8" or "float"))
        {
            throw new QuantizationException($"--matmul-outputs {matmulOutputsText} is unknown; choose int8 or float.");
        }

        if (formatText == "dynamic" && (result.GetValue(includeDepthwise) || matmulOutputsText == "float"))
        {
            throw new QuantizationException("--include-depthwise and --matmul-outputs need --format qdq: the dynamic format quantizes MatMul only, its outputs always float.");
        }

        var pct = result.GetValue(percentile);
        if (result.GetValue(samples) < 1 || result.GetValue(threads) < 1 || pct is <= 0 or > 100)
        {
            throw new QuantizationException("--samples and --threads must be at least 1, --percentile in (0, 100].");
        }

        var request = new QuantizeRequest
        {
            Model = result.GetRequiredValue(model), Calibration = result.GetRequiredValue(calib), Out = result.GetRequiredValue(output),
            Method = parsed, Percentile = pct, Samples = result.GetValue(samples), Eval = result.GetValue(eval), Threads = result.GetValue(threads),
            Cache = result.GetValue(cache),
            Dynamic = formatText == "dynamic",
            Format = new QdqFormat { UnsignedActivations = activation == "u8", ReduceRange = result.GetValue(reduceRange), FloatMatMulOutputs = matmulOutputsText == "float" },
            Selection = new QuantizationSelection
            {
                OpTypes = result.GetRequiredValue(opTypes).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal),
                ExcludeNodes = (result.GetValue(exclude) ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal),
                IncludeDepthwise = result.GetValue(includeDepthwise),
            },
        };
        await Quantizer.QuantizeAsync(request, Console.WriteLine, cancellationToken).ConfigureAwait(false);
        return 0;
    }
    catch (Exception e) when (e is QuantizationException or ModelPackageException or DatasetException)
    {
        await Console.Error.WriteLineAsync($"error: {e.Message} Nothing was written.").ConfigureAwait(false);
        return 2;
    }
});
return await root.Parse(args).InvokeAsync();
