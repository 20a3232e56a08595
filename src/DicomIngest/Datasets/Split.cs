using System.Globalization;
using System.Text;

namespace EdgeMed.DicomIngest.Datasets;

/// <summary>Which split a sample belongs to.</summary>
public enum SplitPart
{
    /// <summary>Training.</summary>
    Train,

    /// <summary>Validation (picks the best epoch).</summary>
    Validation,

    /// <summary>Test (reported).</summary>
    Test,

    /// <summary>In no part: kept out of the run altogether (the trainer's --hold-out).</summary>
    HeldOut,
}

/// <summary>
/// A stratified split, deterministic by seed: within each class, the groups (a file, or all files of one patient or
/// series) are shuffled with the seed and cut by the fractions, so a group never straddles two parts.
/// </summary>
public static class Splitter
{
    /// <summary>The part of every file of <paramref name="set"/>.</summary>
    public static IReadOnlyDictionary<string, SplitPart> Split(LabeledSet set, double train, double validation, int seed)
    {
        // Groups span classes (one patient may have series under two class folders); each is stratified by its
        // majority label, so a group never straddles two parts.
        var groups = set.Files.GroupBy(f => f.Group, StringComparer.Ordinal)
            .Select(g => (Key: g.Key, Files: g.ToList(), Label: g.GroupBy(f => f.Label).OrderByDescending(l => l.Count()).ThenBy(l => l.Key).First().Key))
            .ToList();
        var parts = new Dictionary<string, SplitPart>(StringComparer.Ordinal);
        for (var label = 0; label < set.Classes.Count; label++)
        {
            var inClass = groups.Where(g => g.Label == label).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
            // Not HashCode.Combine: it is seeded per process, and splits must be the same in every run.
            var random = new Random(unchecked((seed * 7919) + label));
            for (var i = inClass.Count - 1; i > 0; i--)
            {
                var j = random.Next(i + 1);
                (inClass[i], inClass[j]) = (inClass[j], inClass[i]);
            }

            var trainEnd = (int)Math.Round(inClass.Count * train);
            var validationEnd = trainEnd + (int)Math.Round(inClass.Count * validation);
            for (var i = 0; i < inClass.Count; i++)
            {
                var part = i < trainEnd ? SplitPart.Train : i < validationEnd ? SplitPart.Validation : SplitPart.Test;
                foreach (var file in inClass[i].Files)
                {
                    parts[file.Path] = part;
                }
            }
        }

        return parts;
    }

    /// <summary>
    /// Writes <c>split.csv</c>: path, class, part, group (a number per split group, in order of first appearance; the
    /// group keys themselves are paths or patient keys and stay out of the file).
    /// </summary>
    public static void Write(string path, LabeledSet set, IReadOnlyDictionary<string, SplitPart> parts)
    {
        var csv = new StringBuilder("path,class,split,group\n");
        var numbers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var file in set.Files)
        {
            if (!numbers.TryGetValue(file.Group, out var group))
            {
                numbers[file.Group] = group = numbers.Count;
            }

            csv.Append(CultureInfo.InvariantCulture, $"\"{Path.GetRelativePath(set.Root, file.Path).Replace("\"", "\"\"", StringComparison.Ordinal)}\",{set.Classes[file.Label]},{parts[file.Path].ToString().ToLowerInvariant()},{group}\n");
        }

        File.WriteAllText(path, csv.ToString());
    }

    /// <summary>Reads a <c>split.csv</c> written by <see cref="Write"/> (with or without its group column): path relative to the data folder, and part.</summary>
    public static IReadOnlyList<(string Path, SplitPart Part)> Read(string path)
    {
        var rows = new List<(string, SplitPart)>();
        foreach (var line in File.ReadLines(path).Skip(1).Where(l => l.Length > 0))
        {
            string file;
            string rest;
            if (line[0] == '"')
            {
                var end = 1;
                while (end < line.Length && (line[end] != '"' || (end + 1 < line.Length && line[end + 1] == '"')))
                {
                    end += line[end] == '"' ? 2 : 1;
                }

                file = line[1..end].Replace("\"\"", "\"", StringComparison.Ordinal);
                rest = end + 1 < line.Length ? line[(end + 2)..] : string.Empty;
            }
            else
            {
                var comma = line.IndexOf(',', StringComparison.Ordinal);
                (file, rest) = comma < 0 ? (line, string.Empty) : (line[..comma], line[(comma + 1)..]);
            }

            var fields = rest.Split(',');
            if (fields.Length < 2 || !Enum.TryParse<SplitPart>(fields[1], ignoreCase: true, out var part))
            {
                throw new FormatException($"{System.IO.Path.GetFileName(path)}: line \"{line}\" is not path,class,split[,group]");
            }

            rows.Add((file, part));
        }

        return rows;
    }
}
