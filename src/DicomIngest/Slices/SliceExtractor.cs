using System.Buffers.Binary;
using EdgeMed.DicomIngest.Decoding;

namespace EdgeMed.DicomIngest.Slices;

/// <summary>
/// Turns decoded pixels into slices: frames split (with per-frame geometry for enhanced objects), Siemens mosaics
/// split into tiles at their true positions, bits-stored masking, rescale, MONOCHROME1 inversion, and color to
/// luminance when allowed.
/// </summary>
internal static class SliceExtractor
{
    public static List<Slice> Extract(InstanceMetadata m, DecodedPixels pixels, DicomIngestOptions options)
    {
        if (pixels.Columns != m.Columns || pixels.Rows != m.Rows || pixels.Frames != m.Frames || pixels.SamplesPerPixel != m.SamplesPerPixel)
        {
            throw new DicomIngestException(IngestFailure.DecodeFailed,
                $"Decoded {pixels.Columns}×{pixels.Rows}×{pixels.Frames}×{pixels.SamplesPerPixel} but the header says {m.Columns}×{m.Rows}×{m.Frames}×{m.SamplesPerPixel}.");
        }

        var bytesPerSample = pixels.BitsAllocated / 8;
        var frameSamples = (long)pixels.Rows * pixels.Columns * pixels.SamplesPerPixel;
        if (pixels.BitsAllocated is not (8 or 16 or 32) || pixels.Buffer.LongLength < frameSamples * bytesPerSample * pixels.Frames)
        {
            throw new DicomIngestException(IngestFailure.DecodeFailed, $"Decoded buffer of {pixels.Buffer.Length} bytes is too short for {pixels.Frames} frames of {frameSamples} samples at {pixels.BitsAllocated} bits.");
        }

        var monochrome1 = string.Equals(pixels.Photometric, "MONOCHROME1", StringComparison.OrdinalIgnoreCase);
        var slices = new List<Slice>(Math.Min(pixels.Frames == 1 ? m.MosaicTiles ?? 1 : pixels.Frames, 4096));
        for (var frame = 0; frame < pixels.Frames; frame++)
        {
            var geometry = frame < m.FrameGeometries.Count ? m.FrameGeometries[frame] : null;
            var slope = geometry?.RescaleSlope ?? m.RescaleSlope;
            var intercept = geometry?.RescaleIntercept ?? m.RescaleIntercept; // per frame when the file says, else the top level
            var values = ToModalityValues(pixels, m.StoredBitsOffset, frame, slope, intercept);
            double? center = geometry?.WindowCenter ?? m.WindowCenter;
            var width = geometry?.WindowWidth ?? m.WindowWidth;
            if (monochrome1)
            {
                var (lo, hi) = RescaledRange(pixels, slope, intercept);
                var sum = (float)(lo + hi);
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = sum - values[i];
                }

                center = center is { } c ? lo + hi - c : null;
            }

            var position = geometry?.ImagePositionPatient ?? m.ImagePositionPatient;
            var orientation = geometry?.ImageOrientationPatient ?? m.ImageOrientationPatient;
            if (m.MosaicTiles is { } tiles && m.Frames == 1)
            {
                slices.AddRange(SplitMosaic(m, values, tiles, position, orientation, center, width, options));
                continue;
            }

            slices.Add(new Slice
            {
                SopInstanceUid = m.SopInstanceUid,
                SeriesInstanceUid = m.SeriesInstanceUid,
                Frame = frame,
                Rows = m.Rows,
                Columns = m.Columns,
                Pixels = values,
                Position = position,
                Orientation = orientation,
                PixelSpacing = m.PixelSpacing,
                WindowCenter = center,
                WindowWidth = width,
                Plane = SliceGeometry.Classify(orientation, options.PlaneToleranceDegrees),
            });
        }

        return slices;
    }

    /// <summary>One frame as float modality values (luminance for color), with bits-stored masking and rescale; the stored
    /// bits start <paramref name="shift"/> bits above bit 0.</summary>
    private static float[] ToModalityValues(DecodedPixels p, int shift, int frame, double slope, double intercept)
    {
        var count = p.Rows * p.Columns;
        var result = new float[count];
        var bytesPerSample = p.BitsAllocated / 8;
        var frameOffset = (long)frame * count * p.SamplesPerPixel * bytesPerSample;
        var buffer = p.Buffer.AsSpan();
        if (p.SamplesPerPixel == 1)
        {
            for (var i = 0; i < count; i++)
            {
                result[i] = (float)((Sample(buffer, frameOffset + ((long)i * bytesPerSample), p, shift) * slope) + intercept);
            }

            return result;
        }

        // Color: luminance (ITU-R BT.601), or the Y channel itself when the decoder left YBR.
        var ybr = p.Photometric.StartsWith("YBR", StringComparison.OrdinalIgnoreCase);
        for (var i = 0; i < count; i++)
        {
            long Offset(int channel) => frameOffset + ((p.PlanarConfiguration == 1 ? ((long)channel * count) + i : ((long)i * 3) + channel) * bytesPerSample);
            var r = Sample(buffer, Offset(0), p, shift);
            var luminance = ybr ? r : (0.299 * r) + (0.587 * Sample(buffer, Offset(1), p, shift)) + (0.114 * Sample(buffer, Offset(2), p, shift));
            result[i] = (float)((luminance * slope) + intercept);
        }

        return result;
    }

    private static double Sample(Span<byte> buffer, long offset, DecodedPixels p, int shift)
    {
        var at = buffer[(int)offset..];
        long raw = p.BitsAllocated switch
        {
            8 => at[0],
            16 => BinaryPrimitives.ReadUInt16LittleEndian(at),
            _ => BinaryPrimitives.ReadUInt32LittleEndian(at),
        };

        // Only bits stored carry the value (from bit `shift` up); the bits around them may hold overlays.
        // Sign-extend from bits stored.
        var bits = Math.Clamp(p.BitsStored, 1, p.BitsAllocated);
        raw = (raw >> shift) & ((1L << bits) - 1);
        if (p.PixelRepresentation == 1 && (raw & (1L << (bits - 1))) != 0)
        {
            raw -= 1L << bits;
        }

        return raw;
    }

    private static (double Lo, double Hi) RescaledRange(DecodedPixels p, double slope, double intercept)
    {
        var bits = Math.Clamp(p.BitsStored, 1, p.BitsAllocated);
        double min = p.PixelRepresentation == 1 ? -(1L << (bits - 1)) : 0;
        double max = p.PixelRepresentation == 1 ? (1L << (bits - 1)) - 1 : (1L << bits) - 1;
        var a = (min * slope) + intercept;
        var b = (max * slope) + intercept;
        return (Math.Min(a, b), Math.Max(a, b));
    }

    /// <summary>
    /// A Siemens mosaic stores N slices as tiles of a ceil(√N)-square grid. The header's position is that of the whole
    /// mosaic's corner; each tile's true corner is shifted by half the size difference (as nibabel and dcm2niix do),
    /// then stepped along the slice normal.
    /// </summary>
    private static IEnumerable<Slice> SplitMosaic(InstanceMetadata m, float[] mosaic, int tiles, double[]? position, double[]? orientation, double? center, double? width, DicomIngestOptions options)
    {
        var perRow = (int)Math.Ceiling(Math.Sqrt(tiles));
        var tileRows = m.Rows / perRow;
        var tileColumns = m.Columns / perRow;
        if (tileRows == 0 || tileColumns == 0 || m.Rows % perRow != 0 || m.Columns % perRow != 0)
        {
            throw new DicomIngestException(IngestFailure.InvalidPixelAttributes, $"A {m.Rows}×{m.Columns} mosaic cannot hold {tiles} tiles in a {perRow}×{perRow} grid.");
        }

        double[]? first = null;
        double[]? normal = null;
        var spacing = m.SpacingBetweenSlices ?? m.SliceThickness ?? 0;
        if (position is not null && orientation is not null && m.PixelSpacing is { } ps)
        {
            var dRows = (m.Rows - tileRows) / 2.0;
            var dColumns = (m.Columns - tileColumns) / 2.0;
            first = new double[3];
            for (var k = 0; k < 3; k++)
            {
                // Column cosine steps down rows (spacing between rows); row cosine steps across columns.
                first[k] = position[k] + (orientation[3 + k] * ps[0] * dRows) + (orientation[k] * ps[1] * dColumns);
            }

            normal = m.SliceNormal ?? SliceGeometry.Normal(orientation);
        }

        var plane = SliceGeometry.Classify(orientation, options.PlaneToleranceDegrees);
        for (var t = 0; t < tiles; t++)
        {
            var pixels = new float[tileRows * tileColumns];
            var top = t / perRow * tileRows;
            var left = t % perRow * tileColumns;
            for (var r = 0; r < tileRows; r++)
            {
                mosaic.AsSpan(((top + r) * m.Columns) + left, tileColumns).CopyTo(pixels.AsSpan(r * tileColumns, tileColumns));
            }

            yield return new Slice
            {
                SopInstanceUid = m.SopInstanceUid,
                SeriesInstanceUid = m.SeriesInstanceUid,
                Tile = t,
                Rows = tileRows,
                Columns = tileColumns,
                Pixels = pixels,
                Position = first is null || normal is null ? null : [first[0] + (t * spacing * normal[0]), first[1] + (t * spacing * normal[1]), first[2] + (t * spacing * normal[2])],
                Orientation = orientation,
                PixelSpacing = m.PixelSpacing,
                WindowCenter = center,
                WindowWidth = width,
                Plane = plane,
            };
        }
    }
}
