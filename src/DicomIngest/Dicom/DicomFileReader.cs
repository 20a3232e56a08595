using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace EdgeMed.DicomIngest.Dicom;

/// <summary>Where the pixel data sits in the file and how it is stored.</summary>
internal sealed record PixelDataLocation(long Offset, long Length, bool Encapsulated, int FragmentCount);

/// <summary>A parsed DICOM file: transfer syntax, data set (pixel data left in place) and where the pixels are.</summary>
internal sealed record DicomFile(string TransferSyntaxUid, bool HasFileMeta, bool TransferSyntaxInferred, DicomDataset Dataset, PixelDataLocation? PixelData);

/// <summary>Limits that bound the work and memory of reading one header, whatever the bytes.</summary>
internal sealed record DicomReadLimits
{
    public int MaxSequenceDepth { get; init; } = 12;

    public int MaxElements { get; init; } = 200_000;

    /// <summary>Largest data set a deflated file may inflate to (guards against zip bombs).</summary>
    public long MaxInflatedBytes { get; init; } = 256L << 20;
}

/// <summary>
/// Reads the DICOM file format (PS3.10 file meta, PS3.5 data set encoding) in managed code, so headers can be
/// checked and unwanted files refused before any native decoder sees them. Implicit and explicit VR, little and big
/// endian, deflated data sets, defined and undefined lengths, nested sequences and encapsulated pixel data. Every
/// structural fault raises <see cref="DicomIngestException"/> with a reason; nothing else escapes.
/// </summary>
internal static class DicomFileReader
{
    private const uint UndefinedLength = 0xFFFFFFFF;

    public static DicomFile Read(byte[] bytes, DicomReadLimits? limits = null)
    {
        limits ??= new DicomReadLimits();
        try
        {
            return ReadCore(bytes, limits);
        }
        catch (DicomIngestException)
        {
            throw;
        }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidDataException or OverflowException or DecoderFallbackException)
        {
            // Defence in depth: a bounds fault we did not foresee is still a malformed file, not a crash.
            throw new DicomIngestException(IngestFailure.InconsistentLength, $"Malformed data set: {e.Message}", e);
        }
    }

    private static DicomFile ReadCore(byte[] bytes, DicomReadLimits limits)
    {
        var position = 0;
        var hasMeta = false;
        string? transferSyntax = null;
        if (bytes.Length >= 132 && bytes.AsSpan(128, 4).SequenceEqual("DICM"u8))
        {
            position = 132;
            hasMeta = true;
        }
        else if (bytes.Length >= 8 && BinaryPrimitives.ReadUInt16LittleEndian(bytes) == 0x0002 && LooksExplicit(bytes, 0))
        {
            hasMeta = true; // file meta without the 128-byte preamble
        }

        if (hasMeta)
        {
            var meta = new DicomDataset(bigEndian: false);
            var context = new Context(bytes, limits, BigEndian: false, Implicit: false);
            position = ParseElements(context, meta, position, bytes.Length, depth: 0, untilItemDelimiter: false, metaOnly: true);
            transferSyntax = meta.GetString(DicomTag.TransferSyntaxUid);
        }

        if (position >= bytes.Length)
        {
            throw new DicomIngestException(hasMeta ? IngestFailure.Truncated : IngestFailure.NotDicom, hasMeta ? "The file ends after its file meta information." : "The file is empty or too short to be DICOM.");
        }

        var inferred = transferSyntax is null;
        transferSyntax ??= InferTransferSyntax(bytes, position);
        var data = bytes;
        if (transferSyntax == TransferSyntax.DeflatedExplicitVrLittleEndian)
        {
            data = Inflate(bytes, position, limits.MaxInflatedBytes);
            position = 0;
        }

        var bigEndian = TransferSyntax.IsBigEndian(transferSyntax);
        var implicitVr = TransferSyntax.IsImplicitVr(transferSyntax);
        var dataset = new DicomDataset(bigEndian);
        var ctx = new Context(data, limits, bigEndian, implicitVr);
        ParseElements(ctx, dataset, position, data.Length, depth: 0, untilItemDelimiter: false, metaOnly: false);

        if (!hasMeta && !dataset.Contains(DicomTag.SopClassUid) && !dataset.Contains(DicomTag.Rows))
        {
            throw new DicomIngestException(IngestFailure.NotDicom, "No file meta header, and the bytes do not read as a DICOM data set with an SOP class or image rows.");
        }

        return new DicomFile(transferSyntax, hasMeta, inferred, dataset, ctx.PixelData);
    }

    private sealed record Context(byte[] Data, DicomReadLimits Limits, bool BigEndian, bool Implicit)
    {
        public int ElementCount { get; set; }

        public PixelDataLocation? PixelData { get; set; }

        public ushort ReadUInt16(int offset) => BigEndian ? BinaryPrimitives.ReadUInt16BigEndian(Data.AsSpan(offset)) : BinaryPrimitives.ReadUInt16LittleEndian(Data.AsSpan(offset));

        public uint ReadUInt32(int offset) => BigEndian ? BinaryPrimitives.ReadUInt32BigEndian(Data.AsSpan(offset)) : BinaryPrimitives.ReadUInt32LittleEndian(Data.AsSpan(offset));
    }

    /// <summary>Parses elements from <paramref name="position"/> to <paramref name="end"/>; returns the position after the last one read.</summary>
    private static int ParseElements(Context ctx, DicomDataset target, int position, int end, int depth, bool untilItemDelimiter, bool metaOnly)
    {
        var data = ctx.Data;
        while (position < end)
        {
            if (end - position < 8)
            {
                throw Short(ctx, end, $"{end - position} stray bytes at offset {position}");
            }

            var tag = new DicomTag(ctx.ReadUInt16(position), ctx.ReadUInt16(position + 2));
            if (metaOnly && tag.Group != 0x0002)
            {
                return position;
            }

            if (tag == DicomTag.ItemDelimitation)
            {
                if (!untilItemDelimiter)
                {
                    throw new DicomIngestException(IngestFailure.InconsistentLength, $"Unexpected item delimiter at offset {position}.");
                }

                return position + 8;
            }

            if (tag == DicomTag.SequenceDelimitation || tag == DicomTag.Item)
            {
                throw new DicomIngestException(IngestFailure.InconsistentLength, $"Unexpected {(tag == DicomTag.Item ? "item" : "sequence delimiter")} tag at offset {position} outside a sequence.");
            }

            if (++ctx.ElementCount > ctx.Limits.MaxElements)
            {
                throw new DicomIngestException(IngestFailure.TooLarge, $"More than {ctx.Limits.MaxElements} elements in the header.");
            }

            var elementOffset = position;
            ushort vr = 0;
            uint length;
            var implicitHere = ctx.Implicit && tag.Group != 0x0002;
            if (implicitHere)
            {
                length = ctx.ReadUInt32(position + 4);
                position += 8;
            }
            else
            {
                vr = (ushort)((data[position + 4] << 8) | data[position + 5]);
                if (!IsVrLetters(data[position + 4], data[position + 5]))
                {
                    throw new DicomIngestException(depth == 0 && target.Count == 0 ? IngestFailure.NotDicom : IngestFailure.InconsistentLength,
                        $"Element {tag} at offset {elementOffset} has no valid value representation.");
                }

                if (HasLongLength(vr))
                {
                    if (end - position < 12)
                    {
                        throw Short(ctx, end, $"element {tag} header cut at offset {position}");
                    }

                    length = ctx.ReadUInt32(position + 8);
                    position += 12;
                }
                else
                {
                    length = ctx.ReadUInt16(position + 6);
                    position += 8;
                }
            }

            var isSequence = vr == Vr("SQ") || (length == UndefinedLength && tag != DicomTag.PixelData) || (implicitHere && KnownSequences.Contains(tag.Value));
            if (tag == DicomTag.PixelData && length == UndefinedLength)
            {
                position = ReadEncapsulatedPixelData(ctx, elementOffset, position, end, depth);
                target.Add(new DicomElement(tag, vr, ReadOnlyMemory<byte>.Empty, null, elementOffset));
                continue;
            }

            if (isSequence)
            {
                if (depth + 1 > ctx.Limits.MaxSequenceDepth)
                {
                    throw new DicomIngestException(IngestFailure.NestingTooDeep, $"Sequences nest deeper than {ctx.Limits.MaxSequenceDepth} levels at offset {elementOffset}.");
                }

                // Items of a UN element with undefined length are implicit VR little endian (PS3.5 6.2.2).
                var itemCtx = vr == Vr("UN") && !ctx.Implicit ? ctx with { Implicit = true, BigEndian = false } : ctx;
                var items = new List<DicomDataset>();
                position = ReadItems(itemCtx, items, position, end, length, depth + 1);
                if (!ReferenceEquals(itemCtx, ctx))
                {
                    ctx.ElementCount = itemCtx.ElementCount;
                }

                target.Add(new DicomElement(tag, vr, ReadOnlyMemory<byte>.Empty, items, elementOffset));
                continue;
            }

            if (length == UndefinedLength)
            {
                throw new DicomIngestException(IngestFailure.InconsistentLength, $"Element {tag} at offset {elementOffset} has an undefined length.");
            }

            if (length > (uint)(end - position))
            {
                throw Short(ctx, end, $"element {tag} at offset {elementOffset} declares {length} bytes but {end - position} remain");
            }

            var value = new ReadOnlyMemory<byte>(data, position, (int)length);
            if (tag == DicomTag.PixelData && depth == 0)
            {
                ctx.PixelData = new PixelDataLocation(position, length, Encapsulated: false, FragmentCount: 0);
                value = ReadOnlyMemory<byte>.Empty; // never copied or kept: the decoder reads pixels itself
            }

            target.Add(new DicomElement(tag, vr, value, null, elementOffset));
            position += (int)length;
        }

        if (untilItemDelimiter)
        {
            throw Short(ctx, end, "an item with undefined length has no item delimiter");
        }

        return position;
    }

    private static int ReadItems(Context ctx, List<DicomDataset> items, int position, int end, uint length, int depth)
    {
        var sequenceEnd = end;
        if (length != UndefinedLength)
        {
            if (length > (uint)(end - position))
            {
                throw Short(ctx, end, $"a sequence at offset {position} declares {length} bytes but {end - position} remain");
            }

            sequenceEnd = position + (int)length;
        }

        while (position < sequenceEnd)
        {
            if (sequenceEnd - position < 8)
            {
                throw Short(ctx, sequenceEnd, $"item header cut at offset {position}");
            }

            var tag = new DicomTag(ctx.ReadUInt16(position), ctx.ReadUInt16(position + 2));
            var itemLength = ctx.ReadUInt32(position + 4);
            position += 8;
            if (tag == DicomTag.SequenceDelimitation)
            {
                if (length != UndefinedLength)
                {
                    throw new DicomIngestException(IngestFailure.InconsistentLength, $"Sequence delimiter inside a sequence of defined length at offset {position - 8}.");
                }

                return position;
            }

            if (tag != DicomTag.Item)
            {
                throw new DicomIngestException(IngestFailure.InconsistentLength, $"Expected an item tag at offset {position - 8}, found {tag}.");
            }

            if (++ctx.ElementCount > ctx.Limits.MaxElements)
            {
                throw new DicomIngestException(IngestFailure.TooLarge, $"More than {ctx.Limits.MaxElements} elements in the header.");
            }

            var item = new DicomDataset(ctx.BigEndian);
            if (itemLength == UndefinedLength)
            {
                position = ParseElements(ctx, item, position, sequenceEnd, depth, untilItemDelimiter: true, metaOnly: false);
            }
            else
            {
                if (itemLength > (uint)(sequenceEnd - position))
                {
                    throw Short(ctx, sequenceEnd, $"an item at offset {position - 8} declares {itemLength} bytes but {sequenceEnd - position} remain");
                }

                var itemEnd = position + (int)itemLength;
                ParseElements(ctx, item, position, itemEnd, depth, untilItemDelimiter: false, metaOnly: false);
                position = itemEnd;
            }

            items.Add(item);
        }

        if (length == UndefinedLength)
        {
            throw Short(ctx, end, "a sequence with undefined length has no sequence delimiter");
        }

        return position;
    }

    private static int ReadEncapsulatedPixelData(Context ctx, int elementOffset, int position, int end, int depth)
    {
        var fragments = 0;
        var start = position;
        while (true)
        {
            if (end - position < 8)
            {
                throw Short(ctx, end, "encapsulated pixel data has no sequence delimiter");
            }

            var tag = new DicomTag(ctx.ReadUInt16(position), ctx.ReadUInt16(position + 2));
            var length = ctx.ReadUInt32(position + 4);
            position += 8;
            if (tag == DicomTag.SequenceDelimitation)
            {
                break;
            }

            if (tag != DicomTag.Item || length == UndefinedLength)
            {
                throw new DicomIngestException(IngestFailure.InconsistentLength, $"Malformed pixel data fragment {tag} at offset {position - 8}.");
            }

            if (length > (uint)(end - position))
            {
                throw Short(ctx, end, $"pixel data fragment at offset {position - 8} declares {length} bytes but {end - position} remain");
            }

            position += (int)length;
            fragments++;
        }

        if (depth == 0)
        {
            // The first item is the basic offset table, not image data.
            ctx.PixelData = new PixelDataLocation(start, position - start, Encapsulated: true, FragmentCount: Math.Max(0, fragments - 1));
        }

        _ = elementOffset;
        return position;
    }

    private static DicomIngestException Short(Context ctx, int end, string what) =>
        end == ctx.Data.Length
            ? new DicomIngestException(IngestFailure.Truncated, $"The file is truncated: {what}.")
            : new DicomIngestException(IngestFailure.InconsistentLength, $"A length field is inconsistent: {what}.");

    /// <summary>
    /// Refuses, as <see cref="Read"/> would, first bytes that cannot start DICOM: no "DICM" after the 128-byte
    /// preamble and no plausible first element of a data set without one. <paramref name="head"/> is the first 132 bytes.
    /// </summary>
    /// <exception cref="DicomIngestException">Not DICOM.</exception>
    public static void CheckStart(byte[] head)
    {
        ArgumentNullException.ThrowIfNull(head);
        if (head.Length < 132 || !head.AsSpan(128, 4).SequenceEqual("DICM"u8))
        {
            InferTransferSyntax(head, 0);
        }
    }

    private static string InferTransferSyntax(byte[] bytes, int position)
    {
        if (bytes.Length - position < 8)
        {
            throw new DicomIngestException(IngestFailure.NotDicom, "Too short to be DICOM.");
        }

        var groupLe = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(position));
        var groupBe = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(position));
        if (LooksExplicit(bytes, position))
        {
            if (PlausibleFirstGroup(groupLe))
            {
                return TransferSyntax.ExplicitVrLittleEndian;
            }

            if (PlausibleFirstGroup(groupBe))
            {
                return TransferSyntax.ExplicitVrBigEndian;
            }
        }

        if (PlausibleFirstGroup(groupLe))
        {
            return TransferSyntax.ImplicitVrLittleEndian;
        }

        throw new DicomIngestException(IngestFailure.NotDicom, "No DICM prefix, and the first bytes are not a DICOM element.");
    }

    // A data set without meta information starts with a low, even group: identifying (0008) or earlier.
    private static bool PlausibleFirstGroup(ushort group) => group is >= 0x0002 and <= 0x0010 && group % 2 == 0;

    private static bool LooksExplicit(byte[] bytes, int position) =>
        bytes.Length - position >= 6 && IsVrLetters(bytes[position + 4], bytes[position + 5]) && KnownVrs.Contains((ushort)((bytes[position + 4] << 8) | bytes[position + 5]));

    private static bool IsVrLetters(byte a, byte b) => a is >= (byte)'A' and <= (byte)'Z' && b is >= (byte)'A' and <= (byte)'Z';

    private static bool HasLongLength(ushort vr) => LongLengthVrs.Contains(vr);

    private static ushort Vr(string text) => (ushort)((text[0] << 8) | text[1]);

    private static byte[] Inflate(byte[] bytes, int position, long maxBytes)
    {
        using var input = new MemoryStream(bytes, position, bytes.Length - position, writable: false);
        using var inflater = new DeflateStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = inflater.Read(buffer)) > 0)
        {
            if (output.Length + read > maxBytes)
            {
                throw new DicomIngestException(IngestFailure.TooLarge, $"The deflated data set inflates past {maxBytes} bytes.");
            }

            output.Write(buffer, 0, read);
        }

        return output.ToArray();
    }

    private static readonly HashSet<ushort> LongLengthVrs = [.. new[] { "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV" }.Select(Vr)];

    private static readonly HashSet<ushort> KnownVrs = [.. new[]
    {
        "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH",
        "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV",
    }.Select(Vr)];

    // Sequences we descend into even when implicit VR gives them a defined length.
    private static readonly HashSet<uint> KnownSequences =
    [
        DicomTag.SharedFunctionalGroups.Value, DicomTag.PerFrameFunctionalGroups.Value, DicomTag.PlanePositionSequence.Value,
        DicomTag.PlaneOrientationSequence.Value, DicomTag.PixelMeasuresSequence.Value, DicomTag.FrameVoiLutSequence.Value,
        DicomTag.PixelValueTransformationSequence.Value,
    ];
}
