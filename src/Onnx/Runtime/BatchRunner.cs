namespace EdgeMed.Onnx.Runtime;

/// <summary>
/// The one inference loop of EdgeMed: a session, a preallocated NCHW batch buffer, and the outputs the model package
/// names (logits first). Callers write samples into <see cref="Sample"/> slots (the agent from its normalizer,
/// trainer and quantizer from a tensor cache) and <see cref="Run(int, CancellationToken)"/> the first <c>count</c>.
/// One user at a time: the buffer is not shared between threads.
/// </summary>
public sealed class BatchRunner : IDisposable
{
    private readonly float[] _input;
    private readonly long[] _sampleShape;
    private readonly string _inputName;
    private readonly bool _ownsSession;

    /// <summary>Runs <paramref name="session"/> on batches of up to <paramref name="batchSize"/> samples of shape <paramref name="sampleShape"/> (C, H, W).</summary>
    /// <param name="session">The session (disposed with this runner when <paramref name="ownsSession"/>).</param>
    /// <param name="sampleShape">One sample's shape without the batch dimension.</param>
    /// <param name="batchSize">Samples per run at most.</param>
    /// <param name="outputs">Output names to fetch by default, logits first (a package manifest's <c>outputs</c>).</param>
    /// <param name="ownsSession">Whether disposing the runner disposes the session.</param>
    public BatchRunner(OnnxSession session, ReadOnlySpan<long> sampleShape, int batchSize, IReadOnlyList<string> outputs, bool ownsSession = true)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (outputs.Count == 0 || outputs.Any(o => !session.Outputs.Any(s => s.Name == o)))
        {
            throw new OnnxInputException(string.Join(",", outputs), $"The model's outputs are {string.Join(", ", session.Outputs.Select(o => o.Name))}; the package names {string.Join(", ", outputs)}.");
        }

        Session = session;
        Outputs = outputs;
        _ownsSession = ownsSession;
        _sampleShape = sampleShape.ToArray();
        _inputName = session.Inputs[0].Name;
        SampleLength = checked((int)_sampleShape.Aggregate(1L, (a, b) => a * b));
        BatchSize = batchSize;
        _input = new float[batchSize * SampleLength];
    }

    /// <summary>The session.</summary>
    public OnnxSession Session { get; }

    /// <summary>Output names fetched by default, logits first.</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>Samples per run at most.</summary>
    public int BatchSize { get; }

    /// <summary>Floats in one sample.</summary>
    public int SampleLength { get; }

    /// <summary>The input slot of sample <paramref name="index"/> of the next batch.</summary>
    public Span<float> Sample(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, BatchSize);
        return _input.AsSpan(index * SampleLength, SampleLength);
    }

    /// <summary>Runs the first <paramref name="count"/> samples and fetches <see cref="Outputs"/>.</summary>
    public OnnxOutputs Run(int count, CancellationToken cancellationToken) => Run(count, Outputs, cancellationToken);

    /// <summary>Runs the first <paramref name="count"/> samples and fetches <paramref name="outputNames"/>.</summary>
    public OnnxOutputs Run(int count, IReadOnlyList<string> outputNames, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, BatchSize);
        Span<long> shape = stackalloc long[_sampleShape.Length + 1];
        shape[0] = count;
        _sampleShape.CopyTo(shape[1..]);
        using var tensor = OnnxTensor.Create(_input.AsMemory(0, count * SampleLength), shape);
        return Session.Run([new NamedTensor(_inputName, tensor)], outputNames, cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="total"/> samples in batches: <paramref name="fill"/> writes sample i into its slot, and
    /// <paramref name="consume"/> gets each batch's first sample index, its size and its outputs.
    /// </summary>
    public void RunAll(int total, Action<int, Span<float>> fill, Action<int, int, OnnxOutputs> consume, CancellationToken cancellationToken, IReadOnlyList<string>? outputNames = null)
    {
        ArgumentNullException.ThrowIfNull(fill);
        ArgumentNullException.ThrowIfNull(consume);
        for (var start = 0; start < total; start += BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(BatchSize, total - start);
            for (var b = 0; b < count; b++)
            {
                fill(start + b, Sample(b));
            }

            using var outputs = Run(count, outputNames ?? Outputs, cancellationToken);
            consume(start, count, outputs);
        }
    }

    /// <summary>Softmax of one row of logits into <paramref name="probabilities"/>: max-subtracted, summed in double.</summary>
    public static void Softmax(ReadOnlySpan<float> logits, Span<double> probabilities)
    {
        if (probabilities.Length != logits.Length)
        {
            throw new ArgumentException($"{logits.Length} logits need as many probabilities, not {probabilities.Length}.", nameof(probabilities));
        }

        var max = double.NegativeInfinity;
        foreach (var v in logits)
        {
            max = Math.Max(max, v);
        }

        var sum = 0.0;
        for (var i = 0; i < logits.Length; i++)
        {
            probabilities[i] = Math.Exp(logits[i] - max);
            sum += probabilities[i];
        }

        for (var i = 0; i < probabilities.Length; i++)
        {
            probabilities[i] /= sum;
        }
    }

    /// <summary>Releases the session when this runner owns it.</summary>
    public void Dispose()
    {
        if (_ownsSession)
        {
            Session.Dispose();
        }
    }
}
