using EdgeMed.DicomIngest.Slices;

namespace EdgeMed.DicomIngest.Tests;

public sealed class CorpusGeometryTests : IDisposable
{
    private readonly DicomReader _reader = new();

    [Fact]
    public async Task NineTransferSyntaxes_OfOneSeries_GiveBitIdenticalPixels()
    {
        var files = Enumerable.Range(1, 9).Select(i => Path.Combine(SharedData.TransferSyntaxes, $"{i}.dcm")).ToArray();
        var reference = await _reader.ReadAsync(files[0]);
        var syntaxes = new HashSet<string>();

        foreach (var file in files)
        {
            var instance = await _reader.ReadAsync(file);
            syntaxes.Add(instance.Metadata.TransferSyntaxUid);
            Assert.Equal(reference.Slices.Count, instance.Slices.Count);
            for (var s = 0; s < reference.Slices.Count; s++)
            {
                Assert.True(reference.Slices[s].Pixels.AsSpan().SequenceEqual(instance.Slices[s].Pixels), $"{Path.GetFileName(file)} slice {s} differs from 1.dcm");
            }
        }

        Assert.Equal(7, syntaxes.Count); // two pairs share a syntax with different encoder settings
        Assert.Contains(reference.Slices[0].Pixels, v => v != 0);
    }

    [Fact]
    public async Task GeSeries_InShuffledFileOrder_ComesOutStrictlyOrderedAlongTheNormal()
    {
        var files = Directory.GetFiles(SharedData.GeSeries);
        var slices = new List<Slice>();
        foreach (var file in files)
        {
            slices.AddRange((await _reader.ReadAsync(file)).Slices);
        }

        var order = SliceGeometry.Order(slices);

        Assert.Equal(130, order.Slices.Count);
        Assert.Empty(order.Duplicates);
        Assert.Empty(order.Gaps);
        Assert.All(order.Slices, s => Assert.Equal(SlicePlane.Axial, s.Plane));
        Assert.Equal(SlicePlane.Oblique, SliceGeometry.Classify(order.Slices[0].Orientation, toleranceDegrees: 10)); // tilted 13°
        var locations = order.Slices.Select(s => s.Location!.Value).ToArray();
        for (var i = 1; i < locations.Length; i++)
        {
            Assert.True(locations[i] > locations[i - 1], $"slice {i} at {locations[i]} is not above {locations[i - 1]}");
        }

        // The file names' numbers are not the order: the ordering did real work.
        Assert.NotEqual(files.Order(StringComparer.Ordinal).Select(Path.GetFileName), order.Slices.Select(s => s.SopInstanceUid));
    }

    [Fact]
    public async Task PhilipsEnhancedFile_SplitsIntoFramesWithTheirOwnPositions()
    {
        var file = Directory.GetFiles(Path.Combine(SharedData.Philips, "401_T1W_FFE_Sno_CS2")).Single(f => !f.EndsWith("_Raw.dcm", StringComparison.Ordinal));

        var instance = await _reader.ReadAsync(file);

        Assert.Equal(SopClasses.EnhancedMrImage, instance.Metadata.SopClassUid);
        Assert.Equal(24, instance.Slices.Count);
        Assert.Equal(Enumerable.Range(0, 24), instance.Slices.Select(s => s.Frame));
        Assert.All(instance.Slices, s => Assert.NotNull(s.Position));
        Assert.Equal(24, instance.Slices.Select(s => Math.Round(s.Location!.Value, 3)).Distinct().Count());
        var order = SliceGeometry.Order(instance.Slices);
        Assert.Empty(order.Duplicates);
        Assert.NotNull(order.MedianSpacing);
    }

    [Fact]
    public async Task PhilipsClassicSeries_IsAxialWithItsSpacing()
    {
        var slices = new List<Slice>();
        foreach (var file in Directory.GetFiles(Path.Combine(SharedData.Philips, "501_T1W_FFE_Sno_CS4")))
        {
            slices.AddRange((await _reader.ReadAsync(file)).Slices);
        }

        var order = SliceGeometry.Order(slices);

        Assert.Equal(24, order.Slices.Count);
        Assert.All(order.Slices, s => Assert.Equal(SlicePlane.Axial, s.Plane));
        Assert.Equal(5.5, order.MedianSpacing!.Value, 2);
    }

    [Fact]
    public async Task SiemensMosaic_SplitsIntoItsTilesStepAlongTheNormal()
    {
        var instance = await _reader.ReadAsync(Path.Combine(SharedData.TransferSyntaxes, "1.dcm"));

        Assert.Equal(35, instance.Metadata.MosaicTiles);
        Assert.Equal(35, instance.Slices.Count);
        Assert.All(instance.Slices, s => Assert.Equal((64, 64), (s.Rows, s.Columns)));
        Assert.Equal(Enumerable.Range(0, 35), instance.Slices.Select(s => s.Tile));
        var order = SliceGeometry.Order(instance.Slices);
        Assert.Equal(instance.Slices.Select(s => s.Tile), order.Slices.Select(s => s.Tile)); // tiles are stored in order along the normal
        Assert.Empty(order.Duplicates);
        Assert.Empty(order.Gaps);
        // The 6×6 grid has one empty tile at the end; the last real tile has signal.
        Assert.Contains(instance.Slices[34].Pixels, v => v != 0);
    }

    [Fact]
    public async Task MosaicTiles_MatchTheMosaicFramePixels()
    {
        var instance = await _reader.ReadAsync(Path.Combine(SharedData.TransferSyntaxes, "2.dcm"));
        using var inProcess = new DicomReader(isolation: DecoderIsolation.InProcess);
        var whole = await inProcess.ReadAsync(Path.Combine(SharedData.TransferSyntaxes, "2.dcm"));

        // Tile 7 sits in grid row 1, column 1 of the 6×6 mosaic: its first row starts at mosaic (64, 64).
        Assert.Equal(whole.Slices[7].Pixels, instance.Slices[7].Pixels);
        Assert.Equal(35, whole.Slices.Count);
    }

    public void Dispose() => _reader.Dispose();
}
