using System.Globalization;
using System.Text;
using System.Text.Json;

namespace EdgeMed.TrainerHost.Reporting;

/// <summary>One epoch of training history.</summary>
internal sealed record EpochRecord(int Epoch, double TrainLoss, double TrainAccuracy, double? ValLoss, double? ValAccuracy, double Lr, double Seconds);

/// <summary>Writes <c>report.md</c>, <c>metrics.json</c> and the PNG figures into a folder.</summary>
internal static class ReportWriter
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static void Write(string folder, string title, ClassificationMetrics m, IReadOnlyList<string> classes, float[] features, int featureWidth, IReadOnlyList<int> labels, IReadOnlyList<EpochRecord>? history, IEnumerable<string> notes)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "confusion_matrix.png"), Plots.Confusion(m.ConfusionMatrix, classes));
        File.WriteAllBytes(Path.Combine(folder, "roc.png"), Plots.Roc(m.Roc, [.. m.PerClass.Select(c => c.Auc)]));
        if (featureWidth >= 3 && labels.Count >= 3)
        {
            File.WriteAllBytes(Path.Combine(folder, "pca.png"), Plots.Pca(features, featureWidth, labels, classes));
        }

        if (history is { Count: > 0 })
        {
            File.WriteAllBytes(Path.Combine(folder, "curves.png"), Plots.Curves([.. history.Select(h => (h.TrainLoss, h.ValLoss, h.TrainAccuracy, h.ValAccuracy))]));
        }

        File.WriteAllText(Path.Combine(folder, "metrics.json"), JsonSerializer.Serialize(ToJson(m, history), Json));
        File.WriteAllText(Path.Combine(folder, "report.md"), Markdown(title, m, classes, history, notes));
    }

    public static object ToJson(ClassificationMetrics m, IReadOnlyList<EpochRecord>? history = null) => new
    {
        n = m.N,
        accuracy = m.Accuracy,
        macro_f1 = m.MacroF1,
        weighted_f1 = m.WeightedF1,
        macro_precision = m.MacroPrecision,
        macro_recall = m.MacroRecall,
        auc_macro = double.IsNaN(m.AucMacro) ? (double?)null : m.AucMacro,
        cohen_kappa = m.CohenKappa,
        log_loss = m.LogLoss,
        mean_entropy = m.MeanEntropy,
        per_class = m.PerClass.ToDictionary(p => p.Name, p => new
        {
            precision = p.Precision,
            recall = p.Recall,
            f1 = p.F1,
            support = p.Support,
            auc = double.IsNaN(p.Auc) ? (double?)null : p.Auc,
            normalized_max_probability = new { mean = Finite(p.MaxProbabilityMean), std = Finite(p.MaxProbabilityStd), min = Finite(p.MaxProbabilityMin), max = Finite(p.MaxProbabilityMax) },
        }),
        confusion_matrix = m.ConfusionMatrix,
        history,
    };

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;

    private static string Markdown(string title, ClassificationMetrics m, IReadOnlyList<string> classes, IReadOnlyList<EpochRecord>? history, IEnumerable<string> notes)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.Append(inv, $"# {title}\n\n");
        foreach (var note in notes.Where(n => n.Length > 0))
        {
            md.Append(inv, $"- {note}\n");
        }

        md.Append(inv, $"\n## Summary (n = {m.N})\n\n| metric | value |\n|---|---|\n");
        md.Append(inv, $"| accuracy | {m.Accuracy:F4} |\n| macro F1 | {m.MacroF1:F4} |\n| weighted F1 | {m.WeightedF1:F4} |\n");
        md.Append(inv, $"| macro precision | {m.MacroPrecision:F4} |\n| macro recall | {m.MacroRecall:F4} |\n| macro AUC (one-vs-rest) | {m.AucMacro:F4} |\n");
        md.Append(inv, $"| Cohen's kappa | {m.CohenKappa:F4} |\n| log loss | {m.LogLoss:F4} |\n| mean predictive entropy (nats) | {m.MeanEntropy:F4} |\n");
        md.Append("\n## Per class\n\nNormalized max probability: (p_max − 1/K) / (1 − 1/K) over the samples of the class (0 = uniform guess, 1 = certain).\n\n");
        md.Append("| class | precision | recall | F1 | support | AUC | norm. max-p mean ± sd [min, max] |\n|---|---|---|---|---|---|---|\n");
        foreach (var p in m.PerClass)
        {
            md.Append(inv, $"| {p.Name} | {p.Precision:F4} | {p.Recall:F4} | {p.F1:F4} | {p.Support} | {p.Auc:F4} | {p.MaxProbabilityMean:F3} ± {p.MaxProbabilityStd:F3} [{p.MaxProbabilityMin:F3}, {p.MaxProbabilityMax:F3}] |\n");
        }

        md.Append("\n## Confusion matrix (rows: true class, columns: predicted)\n\n| |");
        md.Append(string.Join("|", classes)).Append("|\n|---|").Append(string.Concat(Enumerable.Repeat("---|", classes.Count))).Append('\n');
        for (var r = 0; r < classes.Count; r++)
        {
            md.Append(inv, $"| {classes[r]} | {string.Join(" | ", m.ConfusionMatrix[r])} |\n");
        }

        if (history is { Count: > 0 })
        {
            md.Append("\n## Training history\n\n| epoch | train loss | train acc | val loss | val acc | lr | s |\n|---|---|---|---|---|---|---|\n");
            foreach (var h in history)
            {
                md.Append(inv, $"| {h.Epoch} | {h.TrainLoss:F4} | {h.TrainAccuracy:F4} | {h.ValLoss:F4} | {h.ValAccuracy:F4} | {h.Lr:G3} | {h.Seconds:F0} |\n");
            }
        }

        var colors = string.Join(", ", classes.Select((c, i) => $"{c} {Plots.PaletteNames[i % Plots.PaletteNames.Length]}"));
        md.Append("\n## Figures\n\n");
        if (history is { Count: > 0 })
        {
            md.Append("- `curves.png`: loss (left) and accuracy (right, grid every 0.25) per epoch; training blue, validation orange.\n");
        }

        md.Append("- `confusion_matrix.png`: rows true class, columns predicted, in class order; darker blue is a larger share of the row.\n");
        md.Append(inv, $"- `roc.png`: one-vs-rest ROC per class (false positive rate across, true positive rate up); {colors}.\n");
        md.Append(inv, $"- `pca.png`: pre-logits features on their first three principal components: PC1×PC2, PC1×PC3, PC2×PC3; {colors}.\n");
        return md.ToString();
    }
}
