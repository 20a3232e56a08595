using EdgeMed.DicomIngest.Images;

namespace EdgeMed.DicomIngest.Datasets;

/// <summary>One labeled file; <see cref="Group"/> keeps files of one patient or series on one side of the split.</summary>
/// <param name="Path">The file.</param>
/// <param name="Label">Class index.</param>
/// <param name="Group">Split group: the file itself for images; the patient key (else series) for DICOM.</param>
public sealed record LabeledFile(string Path, int Label, string Group);

/// <summary>A labeled folder cannot be used as given; the message says how to fix it.</summary>
public sealed class DatasetException(string message) : Exception(message);

/// <summary>
/// A folder-per-class tree of JPEG/PNG images (ImageFolder) or of DICOM files. Classes are the sub-folder names
/// in ordinal order; files are found recursively inside each class folder.
/// </summary>
public sealed class LabeledSet
{
    private LabeledSet(string root, IReadOnlyList<string> classes, IReadOnlyList<LabeledFile> files, bool isDicom)
    {
        Root = root;
        Classes = classes;
        Files = files;
        IsDicom = isDicom;
    }

    /// <summary>The data folder.</summary>
    public string Root { get; }

    /// <summary>Class names in label order.</summary>
    public IReadOnlyList<string> Classes { get; }

    /// <summary>Files with labels, in ordinal path order.</summary>
    public IReadOnlyList<LabeledFile> Files { get; }

    /// <summary>Whether the tree holds DICOM rather than images.</summary>
    public bool IsDicom { get; }

    /// <summary>Scans <paramref name="root"/>; <paramref name="expectedClasses"/> (from a package) must match when given.</summary>
    /// <exception cref="DatasetException">Missing folder, fewer than two classes, an empty class, or mismatched classes.</exception>
    public static LabeledSet Scan(string root, IReadOnlyList<string>? expectedClasses = null, DicomReader? dicomHeaders = null)
    {
        if (!Directory.Exists(root))
        {
            throw new DatasetException($"Data folder not found: {root}");
        }

        var classes = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith('.')).Order(StringComparer.Ordinal).ToList();
        if (classes.Count < 2)
        {
            throw new DatasetException($"{root} has {classes.Count} class folder(s); training and evaluation need at least two (one folder per class).");
        }

        if (expectedClasses is not null)
        {
            var unknown = classes.Except(expectedClasses, StringComparer.Ordinal).ToList();
            if (unknown.Count > 0)
            {
                throw new DatasetException($"{root} has classes the model does not know: {string.Join(", ", unknown)}; the model's classes are {string.Join(", ", expectedClasses)}.");
            }

            classes = [.. expectedClasses];
        }

        var files = new List<LabeledFile>();
        var anyImage = false;
        var anyOther = false;
        for (var label = 0; label < classes.Count; label++)
        {
            var folder = Path.Combine(root, classes[label]);
            var inClass = Directory.Exists(folder)
                ? Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal).ToList()
                : [];
            if (inClass.Count == 0 && expectedClasses is null)
            {
                throw new DatasetException($"Class folder {folder} is empty.");
            }

            foreach (var file in inClass)
            {
                var image = ImageSlice.IsImageFile(file);
                anyImage |= image;
                anyOther |= !image;
                files.Add(new LabeledFile(file, label, image ? file : DicomGroup(file, dicomHeaders)));
            }
        }

        if (files.Count == 0)
        {
            throw new DatasetException($"{root} holds no files.");
        }

        return new LabeledSet(root, classes, files, isDicom: anyOther && !anyImage);
    }

    /// <summary>Keeps at most the asked number of files per class, chosen by <paramref name="seed"/>.</summary>
    /// <exception cref="DatasetException">A class is unknown or has fewer files than asked.</exception>
    public LabeledSet Subset(IReadOnlyDictionary<string, int> perClass, int seed)
    {
        var kept = new List<LabeledFile>();
        for (var label = 0; label < Classes.Count; label++)
        {
            var inClass = Files.Where(f => f.Label == label).ToList();
            if (!perClass.TryGetValue(Classes[label], out var wanted))
            {
                kept.AddRange(inClass);
                continue;
            }

            if (wanted > inClass.Count)
            {
                throw new DatasetException($"--subset asks for {wanted} files of {Classes[label]}, which has {inClass.Count}.");
            }

            var random = new Random(unchecked((seed * 7919) + label));
            kept.AddRange(inClass.OrderBy(_ => random.Next()).Take(wanted).OrderBy(f => f.Path, StringComparer.Ordinal));
        }

        var unknown = perClass.Keys.Except(Classes, StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            throw new DatasetException($"--subset names unknown classes: {string.Join(", ", unknown)}.");
        }

        return new LabeledSet(Root, Classes, kept, IsDicom);
    }

    /// <summary>
    /// The set without every group (subject) that holds one of <paramref name="named"/> (paths relative to
    /// <see cref="Root"/>): kept out of training, validation and test alike, e.g. the subjects the demo's samples come from.
    /// </summary>
    /// <exception cref="DatasetException">A named file is not in the set.</exception>
    public LabeledSet WithoutGroupsOf(IEnumerable<string> named)
    {
        ArgumentNullException.ThrowIfNull(named);
        // Full paths on both sides: Scan keeps paths as the root was given, which may be relative.
        var byPath = Files.ToDictionary(f => System.IO.Path.GetFullPath(f.Path), StringComparer.Ordinal);
        var wanted = named.Select(n => System.IO.Path.GetFullPath(System.IO.Path.Combine(Root, n))).ToList();
        var missing = wanted.Where(w => !byPath.ContainsKey(w)).ToList();
        if (missing.Count > 0)
        {
            throw new DatasetException($"--hold-out names {missing.Count} file(s) that are not in the data (or not in its --subset), e.g. {System.IO.Path.GetRelativePath(Root, missing[0])}.");
        }

        var groups = wanted.Select(w => byPath[w].Group).ToHashSet(StringComparer.Ordinal);
        return new LabeledSet(Root, Classes, [.. Files.Where(f => !groups.Contains(f.Group))], IsDicom);
    }

    /// <summary>The same files with split groups taken from <paramref name="groups"/> (by path); files it lacks keep theirs.</summary>
    public LabeledSet WithGroups(IReadOnlyDictionary<string, string> groups) =>
        new(Root, Classes, [.. Files.Select(f => groups.TryGetValue(f.Path, out var g) ? f with { Group = g } : f)], IsDicom);

    private static string DicomGroup(string file, DicomReader? headers)
    {
        if (headers is null)
        {
            return file;
        }

        try
        {
            var m = headers.ReadHeader(file);
            return m.PatientKey ?? m.SeriesInstanceUid ?? file;
        }
        catch (DicomIngestException)
        {
            return file; // refused later, when the cache is built, with its reason
        }
    }
}
