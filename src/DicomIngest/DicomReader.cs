using System.Diagnostics;
using EdgeMed.DicomIngest.Decoding;
using EdgeMed.DicomIngest.Dicom;
using EdgeMed.DicomIngest.Slices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMed.DicomIngest;

/// <summary>Where GDCM decodes pixels.</summary>
public enum DecoderIsolation
{
    /// <summary>In a separate, long-lived process: a native crash costs one file. The default for the CLI and the agent.</summary>
    SeparateProcess,

    /// <summary>In this process: faster, for trusted training folders only (a GDCM abort ends the caller).</summary>
    InProcess,
}

/// <summary>One DICOM file read: its metadata and its slices (frames or mosaic tiles) in modality units.</summary>
/// <param name="Path">The file.</param>
/// <param name="Metadata">What the header says.</param>
/// <param name="Slices">The slices, in the file's frame or tile order.</param>
public sealed record DicomInstance(string Path, InstanceMetadata Metadata, IReadOnlyList<Slice> Slices);

/// <summary>
/// Reads DICOM files into slices. The header is read and checked in managed code first, so non-image and unwanted
/// files never reach the native decoder; pixels are then decoded by GDCM, by default in a separate process.
/// Thread-safe; decodes in the separate process are serialized.
/// </summary>
public sealed class DicomReader : IDisposable
{
    private readonly DicomIngestOptions _options;
    private readonly ILogger _logger;
    private readonly DecoderProcess? _decoder;

    /// <summary>Creates a reader; the decoder process starts on the first decode.</summary>
    public DicomReader(DicomIngestOptions? options = null, DecoderIsolation isolation = DecoderIsolation.SeparateProcess, ILogger? logger = null)
    {
        _options = options ?? new DicomIngestOptions();
        _logger = logger ?? NullLogger.Instance;
        _decoder = isolation == DecoderIsolation.SeparateProcess ? new DecoderProcess(_options.DecodeTimeout, _logger) : null;
    }

    /// <summary>How many decoder processes have been started (restarts after crashes included).</summary>
    public int DecoderStarts => _decoder?.Starts ?? 0;

    /// <summary>The running decoder process's id (its memory is its own, beside the caller's), or null.</summary>
    public int? DecoderProcessId => _decoder?.WorkerProcessId;

    /// <summary>Reads a file whole, as <see cref="ReadAsync(string, byte[], CancellationToken)"/> takes it: too large
    /// a file, or a large one that does not start like DICOM, is refused before it is read into memory.</summary>
    /// <exception cref="DicomIngestException">Refused, or <see cref="IngestFailure.Unreadable"/> with the I/O exception inside.</exception>
    public byte[] ReadFile(string path) => DicomHeaderReader.ReadFile(path, _options);

    /// <summary>Reads and checks the header only; no pixel is decoded.</summary>
    /// <exception cref="DicomIngestException">The file is refused; <see cref="DicomIngestException.Reason"/> says why.</exception>
    public InstanceMetadata ReadHeader(string path) => DicomHeaderReader.Read(DicomHeaderReader.ReadFile(path, _options), _options).Metadata;

    /// <summary>Reads the file, checks the header, decodes the pixels and returns the slices.</summary>
    /// <exception cref="DicomIngestException">The file is refused; <see cref="DicomIngestException.Reason"/> says why.</exception>
    public Task<DicomInstance> ReadAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        try
        {
            return ReadAsync(full, ReadFile(full), cancellationToken);
        }
        catch (DicomIngestException e)
        {
            Refused(e);
            throw;
        }
    }

    /// <summary>
    /// Checks the header of a file's bytes, read once by the caller (who may have hashed them), decodes the pixels
    /// from those same bytes and returns the slices; <paramref name="path"/> is only recorded.
    /// </summary>
    /// <exception cref="DicomIngestException">The file is refused; <see cref="DicomIngestException.Reason"/> says why.</exception>
    public async Task<DicomInstance> ReadAsync(string path, byte[] content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var (metadata, file) = DicomHeaderReader.Read(content, _options);
            // GDCM refuses data sets without file meta: it gets them with one.
            var decodable = file.HasFileMeta ? content : FileMetaWriter.WithFileMeta(content, metadata.SopClassUid, metadata.SopInstanceUid, file.TransferSyntaxUid);
            var pixels = await DecodeAsync(decodable, cancellationToken).ConfigureAwait(false);
            var slices = SliceExtractor.Extract(metadata, pixels, _options);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                var plane = slices.Count > 0 ? slices[0].Plane.ToString() : "-";
                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                Log.FileRead(_logger, slices.Count, plane, elapsed);
            }

            return new DicomInstance(Path.GetFullPath(path), metadata, slices);
        }
        catch (DicomIngestException e)
        {
            Refused(e);
            throw;
        }
    }

    private void Refused(DicomIngestException e)
    {
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            var reason = e.ReasonCode;
            Log.FileRefused(_logger, reason, e.Message);
        }
    }

    private async Task<DecodedPixels> DecodeAsync(byte[] content, CancellationToken cancellationToken)
    {
        if (_decoder is not null)
        {
            return await _decoder.DecodeAsync(content, cancellationToken).ConfigureAwait(false);
        }

        MemoryFile file;
        try
        {
            using var stream = new MemoryStream(content, writable: false);
            file = MemoryFile.From(stream, content.Length);
        }
        catch (IOException e)
        {
            throw new DicomIngestException(IngestFailure.DecodeFailed, $"No memory file for the decoder: {e.Message}", e);
        }

        using (file)
        {
            return GdcmDecoder.Decode(file);
        }
    }

    /// <summary>Stops the decoder process.</summary>
    public void Dispose() => _decoder?.Dispose();
}
