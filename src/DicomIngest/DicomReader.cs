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

    /// <summary>Reads and checks the header only; no pixel is decoded.</summary>
    /// <exception cref="DicomIngestException">The file is refused; <see cref="DicomIngestException.Reason"/> says why.</exception>
    public InstanceMetadata ReadHeader(string path) => DicomHeaderReader.Read(path, _options).Metadata;

    /// <summary>Reads the header, decodes the pixels and returns the slices.</summary>
    /// <exception cref="DicomIngestException">The file is refused; <see cref="DicomIngestException.Reason"/> says why.</exception>
    public async Task<DicomInstance> ReadAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var started = Stopwatch.GetTimestamp();
        var full = Path.GetFullPath(path);
        try
        {
            var (metadata, file, bytes) = DicomHeaderReader.Read(full, _options);
            var pixels = file.HasFileMeta
                ? await DecodeAsync(full, cancellationToken).ConfigureAwait(false)
                : await DecodeWithSynthesizedMetaAsync(bytes, file, metadata, cancellationToken).ConfigureAwait(false);
            var slices = SliceExtractor.Extract(metadata, pixels, _options);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                var plane = slices.Count > 0 ? slices[0].Plane.ToString() : "-";
                var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                Log.FileRead(_logger, slices.Count, plane, elapsed);
            }

            return new DicomInstance(full, metadata, slices);
        }
        catch (DicomIngestException e)
        {
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                var reason = e.ReasonCode;
                Log.FileRefused(_logger, reason, e.Message);
            }

            throw;
        }
    }

    private async Task<DecodedPixels> DecodeAsync(string path, CancellationToken cancellationToken) =>
        _decoder is null ? GdcmDecoder.Decode(path) : await _decoder.DecodeAsync(path, cancellationToken).ConfigureAwait(false);

    /// <summary>GDCM refuses data sets without file meta; give it a temporary copy that has one.</summary>
    private async Task<DecodedPixels> DecodeWithSynthesizedMetaAsync(byte[] bytes, Dicom.DicomFile file, InstanceMetadata metadata, CancellationToken cancellationToken)
    {
        var temp = Path.Combine(Path.GetTempPath(), $"edgemed-meta-{Environment.ProcessId}-{Guid.NewGuid():N}.dcm");
        try
        {
            // Patient data: readable by this user only.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
            await using (var stream = new FileStream(temp, options))
            {
                await stream.WriteAsync(FileMetaWriter.WithFileMeta(bytes, metadata.SopClassUid, metadata.SopInstanceUid, file.TransferSyntaxUid), cancellationToken).ConfigureAwait(false);
            }

            return await DecodeAsync(temp, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Stops the decoder process.</summary>
    public void Dispose() => _decoder?.Dispose();
}
