using System.Text.Json;
using EdgeMed.DicomIngest.Datasets;

namespace EdgeMed.TrainerHost.Training;

/// <summary>
/// A finished training run that teaches another (<c>--teacher</c>): its best-validation weights (checkpoint.pt),
/// architecture, classes, input size and the files it trained on (split.csv).
/// </summary>
internal sealed record TeacherRun(string Folder, string Checkpoint, string Arch, IReadOnlyList<string> Classes, int Size, IReadOnlySet<string> TrainedOn)
{
    public static TeacherRun Load(string folder)
    {
        var full = Path.GetFullPath(folder);
        var checkpoint = Path.Combine(full, "checkpoint.pt");
        var config = Path.Combine(full, "config.json");
        var split = Path.Combine(full, "split.csv");
        if (!File.Exists(checkpoint) || !File.Exists(config) || !File.Exists(split))
        {
            throw new TrainingInputException($"--teacher {folder}: not a training run folder (it needs checkpoint.pt, config.json and split.csv from ./edgemed.sh train --out).");
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(config));
            var root = document.RootElement;
            var trainedOn = Splitter.Read(split).Where(r => r.Part == SplitPart.Train).Select(r => r.Path).ToHashSet(StringComparer.Ordinal);
            return new TeacherRun(full, checkpoint, root.GetProperty("arch").GetString()!, [.. root.GetProperty("classes").EnumerateArray().Select(c => c.GetString()!)], root.GetProperty("size").GetInt32(), trainedOn);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new TrainingInputException($"--teacher {folder}: config.json or split.csv is unreadable ({e.Message}).");
        }
    }

    /// <summary>
    /// Refuses a teacher that cannot teach this run honestly: other classes or input size, or one that trained on
    /// images this run holds out (its soft labels would carry those answers into validation and test).
    /// </summary>
    public void CheckFits(LabeledSet set, IReadOnlyDictionary<string, SplitPart> parts, int size)
    {
        if (!Classes.SequenceEqual(set.Classes, StringComparer.Ordinal))
        {
            throw new TrainingInputException($"--teacher {Folder}: its classes ({string.Join(", ", Classes)}) differ from this data's ({string.Join(", ", set.Classes)}).");
        }

        if (Size != size)
        {
            throw new TrainingInputException($"--teacher {Folder}: it was trained at {Size} px, this run uses --size {size}; both read the same tensors.");
        }

        var leaked = set.Files.Count(f => parts[f.Path] != SplitPart.Train && TrainedOn.Contains(Path.GetRelativePath(set.Root, f.Path)));
        if (leaked > 0)
        {
            var heldOut = set.Files.Count(f => parts[f.Path] != SplitPart.Train);
            throw new TrainingInputException($"--teacher {Folder}: it trained on {leaked} of this run's {heldOut} validation, test and held-out images; train the teacher with the same --split, --seed, --group-by and --hold-out.");
        }
    }
}
