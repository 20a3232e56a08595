namespace EdgeMed.DicomIngest.Slices;

/// <summary>A run of slices in order along their normal, with what is wrong with the spacing.</summary>
/// <param name="Slices">Slices sorted by position along the normal (inferior to superior for axial slices).</param>
/// <param name="Duplicates">Pairs of indices (into <paramref name="Slices"/>) at the same position.</param>
/// <param name="Gaps">Indices i where the step from slice i to i+1 exceeds 1.5 × the median spacing.</param>
/// <param name="MedianSpacing">Median distance between neighbours, mm; null with fewer than two positioned slices.</param>
public sealed record SliceOrder(IReadOnlyList<Slice> Slices, IReadOnlyList<(int First, int Second)> Duplicates, IReadOnlyList<int> Gaps, double? MedianSpacing);

/// <summary>Plane classification and ordering of slices by their DICOM geometry.</summary>
public static class SliceGeometry
{
    /// <summary>Positions closer than this (mm) along the normal are the same slice position.</summary>
    public const double DuplicateTolerance = 0.01;

    /// <summary>The plane of an orientation (row and column cosines), within <paramref name="toleranceDegrees"/>.</summary>
    public static SlicePlane Classify(double[]? orientation, double toleranceDegrees = 25)
    {
        if (orientation is not { Length: >= 6 })
        {
            return SlicePlane.Unknown;
        }

        var n = Normal(orientation);
        if (double.IsNaN(n[0]))
        {
            return SlicePlane.Unknown;
        }

        var limit = Math.Cos(toleranceDegrees * Math.PI / 180);
        return Math.Abs(n[2]) >= limit ? SlicePlane.Axial
            : Math.Abs(n[1]) >= limit ? SlicePlane.Coronal
            : Math.Abs(n[0]) >= limit ? SlicePlane.Sagittal
            : SlicePlane.Oblique;
    }

    /// <summary>The unit normal (row × column) of an orientation; NaNs when the cosines are degenerate.</summary>
    public static double[] Normal(double[] orientation)
    {
        double rx = orientation[0], ry = orientation[1], rz = orientation[2];
        double cx = orientation[3], cy = orientation[4], cz = orientation[5];
        double nx = (ry * cz) - (rz * cy), ny = (rz * cx) - (rx * cz), nz = (rx * cy) - (ry * cx);
        var length = Math.Sqrt((nx * nx) + (ny * ny) + (nz * nz));
        return length < 1e-6 ? [double.NaN, double.NaN, double.NaN] : [nx / length, ny / length, nz / length];
    }

    /// <summary>Dot product of two 3-vectors.</summary>
    public static double Dot(double[] a, double[] b) => (a[0] * b[0]) + (a[1] * b[1]) + (a[2] * b[2]);

    /// <summary>
    /// Orders slices along the normal of the first positioned slice; slices without geometry keep their order at the end.
    /// Reports duplicate positions and gaps.
    /// </summary>
    public static SliceOrder Order(IEnumerable<Slice> slices)
    {
        var all = slices.ToList();
        var reference = all.FirstOrDefault(s => s.Position is not null && s.Orientation is not null);
        if (reference is null)
        {
            return new SliceOrder(all, [], [], null);
        }

        var normal = Normal(reference.Orientation!);
        var positioned = all.Where(s => s.Position is not null).Select(s => (Slice: s, Location: Dot(s.Position!, normal)))
            .OrderBy(x => x.Location).ThenBy(x => x.Slice.SopInstanceUid, StringComparer.Ordinal).ThenBy(x => x.Slice.Frame).ToList();
        var ordered = positioned.Select(x => x.Slice).Concat(all.Where(s => s.Position is null)).ToList();

        var duplicates = new List<(int, int)>();
        var steps = new List<double>();
        for (var i = 1; i < positioned.Count; i++)
        {
            var step = positioned[i].Location - positioned[i - 1].Location;
            if (step < DuplicateTolerance)
            {
                duplicates.Add((i - 1, i));
            }
            else
            {
                steps.Add(step);
            }
        }

        double? median = null;
        var gaps = new List<int>();
        if (steps.Count > 0)
        {
            var sorted = steps.Order().ToArray();
            median = sorted[sorted.Length / 2];
            for (var i = 1; i < positioned.Count; i++)
            {
                if (positioned[i].Location - positioned[i - 1].Location > 1.5 * median.Value)
                {
                    gaps.Add(i - 1);
                }
            }
        }

        return new SliceOrder(ordered, duplicates, gaps, median);
    }
}
