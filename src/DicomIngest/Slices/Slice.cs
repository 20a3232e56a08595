namespace EdgeMed.DicomIngest.Slices;

/// <summary>Orientation of a slice's plane in the patient frame.</summary>
public enum SlicePlane
{
    /// <summary>No orientation in the file.</summary>
    Unknown,

    /// <summary>Normal along the patient's head–foot axis.</summary>
    Axial,

    /// <summary>Normal along the front–back axis.</summary>
    Coronal,

    /// <summary>Normal along the left–right axis.</summary>
    Sagittal,

    /// <summary>None of the three within the tolerance.</summary>
    Oblique,
}

/// <summary>
/// One 2-D image in modality units (rescale applied, MONOCHROME1 inverted), with its geometry. A classic
/// instance gives one slice, an enhanced multi-frame one a slice per frame, a Siemens mosaic a slice per tile.
/// </summary>
public sealed class Slice
{
    /// <summary>SOP instance UID of the file it came from.</summary>
    public required string SopInstanceUid { get; init; }

    /// <summary>Series instance UID.</summary>
    public string? SeriesInstanceUid { get; init; }

    /// <summary>Frame index within the file (0 for single-frame files).</summary>
    public int Frame { get; init; }

    /// <summary>Tile index within a mosaic, or -1.</summary>
    public int Tile { get; init; } = -1;

    /// <summary>Rows.</summary>
    public required int Rows { get; init; }

    /// <summary>Columns.</summary>
    public required int Columns { get; init; }

    /// <summary>Row-major pixels in modality units.</summary>
    public required float[] Pixels { get; init; }

    /// <summary>Position (patient) of the first pixel, mm.</summary>
    public double[]? Position { get; init; }

    /// <summary>Row and column direction cosines.</summary>
    public double[]? Orientation { get; init; }

    /// <summary>Spacing between rows and between columns, mm.</summary>
    public double[]? PixelSpacing { get; init; }

    /// <summary>VOI window center in the same units as <see cref="Pixels"/>, when the file gives one.</summary>
    public double? WindowCenter { get; init; }

    /// <summary>VOI window width, when the file gives one.</summary>
    public double? WindowWidth { get; init; }

    /// <summary>The plane, from <see cref="Orientation"/>.</summary>
    public SlicePlane Plane { get; init; }

    /// <summary>Position along the slice normal (mm), for ordering; null without geometry.</summary>
    public double? Location => Position is { } p && Orientation is { } o ? SliceGeometry.Dot(p, SliceGeometry.Normal(o)) : null;
}
