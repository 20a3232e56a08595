using EdgeMed.DicomIngest;
using EdgeMed.DicomIngest.Slices;
using EdgeMed.EdgeAgent.Share;

namespace EdgeMed.EdgeAgent.Pipeline;

/// <summary>A file read, filtered to the slices that are classified.</summary>
/// <param name="Candidate">The file version from the share.</param>
/// <param name="FileId">Its ledger row.</param>
/// <param name="Metadata">Its header.</param>
/// <param name="Slices">The slices kept by the plane filter.</param>
/// <param name="ReadMs">Time to hash, read and decode it.</param>
/// <param name="ArrivedAt">When it was read (<see cref="System.Diagnostics.Stopwatch"/> timestamp).</param>
public sealed record ReadInstance(FileCandidate Candidate, long FileId, InstanceMetadata Metadata, IReadOnlyList<Slice> Slices, double ReadMs, long ArrivedAt)
{
    /// <summary>Bytes its decoded pixels hold (4 a pixel), what it counts against the <see cref="SliceBudget"/>.</summary>
    public long Bytes { get; } = Slices.Sum(s => (long)s.Pixels.Length * sizeof(float));
}

/// <summary>All instances of a series that arrived before its quiet period ended.</summary>
/// <param name="SeriesInstanceUid">Series.</param>
/// <param name="Instances">Its instances, in arrival order.</param>
public sealed record CompletedSeries(string SeriesInstanceUid, IReadOnlyList<ReadInstance> Instances)
{
    /// <summary>Number of slices.</summary>
    public int SliceCount => Instances.Sum(i => i.Slices.Count);

    /// <summary>Bytes its decoded pixels hold (what it counts against the <see cref="SliceBudget"/>).</summary>
    public long Bytes => Instances.Sum(i => i.Bytes);
}
