using System.Globalization;

namespace EdgeMed.TrainerHost.Training;

/// <summary>What <c>./edgemed.sh train</c> was asked to do. Defaults are the IConvNeXt paper's.</summary>
internal sealed record TrainingOptions
{
    public static readonly string[] Architectures = ["iconvnext-tiny", "convnext-tiny", "base-cnn", "arn-cnn", "arn-cnn-no-attention", "arn-cnn-no-residual", "resnet18", "resnet50", "vgg16"];

    /// <summary>Networks with four stride-4/8/16/32 stages, whose stage outputs --distill-features matches.</summary>
    public static readonly string[] FourStageArchitectures = ["iconvnext-tiny", "convnext-tiny", "resnet18", "resnet50"];

    public required string Data { get; init; }

    public required string Arch { get; init; }

    public required string Out { get; init; }

    public int Epochs { get; init; } = 10;

    public int Batch { get; init; } = 4;

    public double Lr { get; init; } = 1e-3;

    /// <summary>adam, adamw or adamax; null takes the architecture's (Adamax for arn-cnn, Adam otherwise).</summary>
    public string? Optimizer { get; init; }

    public int Threads { get; init; } = 8;

    public int Size { get; init; } = 224;

    public double TrainFraction { get; init; } = 0.7;

    public double ValidationFraction { get; init; } = 0.1;

    public double TestFraction { get; init; } = 0.2;

    public int Seed { get; init; }

    /// <summary>Feature-smoothing weight; null takes the architecture's (0.05 for iconvnext-tiny, 0 otherwise).</summary>
    public double? LambdaFs { get; init; }

    /// <summary>none, basic (rotation, flip, scale) or strong (also shift and intensity jitter).</summary>
    public string Augment { get; init; } = "none";

    /// <summary>constant or cosine (decay to zero over the run, after the warm-up).</summary>
    public string Schedule { get; init; } = "constant";

    /// <summary>Epochs of linear learning-rate warm-up (fractions allowed).</summary>
    public double WarmupEpochs { get; init; }

    /// <summary>Decoupled (AdamW) or L2 weight decay on weight matrices and kernels; biases and norms are exempt.</summary>
    public double WeightDecay { get; init; }

    public double LabelSmoothing { get; init; }

    /// <summary>Stochastic depth rate of the ConvNeXt blocks (rises linearly to this value in the last block).</summary>
    public double DropPath { get; init; }

    /// <summary>fp32, or bf16-mixed (bfloat16 compute, float32 master weights and LayerNorm).</summary>
    public string Precision { get; init; } = "fp32";

    /// <summary>file (each image its own group; DICOM by patient) or similar (images linked to their most similar slices).</summary>
    public string GroupBy { get; init; } = "file";

    public int EarlyStopping { get; init; }

    public bool ReduceLrOnPlateau { get; init; }

    /// <summary>none, inverse (N / (classes × count)) or sqrt (its square root): the loss weight per class.</summary>
    public string ClassWeights { get; init; } = NoClassWeights;

    public const string NoClassWeights = "none";

    /// <summary>Decay of the weights' exponential moving average (null: the raw weights are validated and kept).</summary>
    public double? Ema { get; init; }

    public IReadOnlyDictionary<string, int> Subset { get; init; } = new Dictionary<string, int>();

    public bool Resume { get; init; }

    public string? Init { get; init; }

    public string? Cache { get; init; }

    /// <summary>A finished run folder whose best weights teach this one (knowledge distillation).</summary>
    public string? Teacher { get; init; }

    /// <summary>Share of the loss taken by matching the teacher's softened outputs (the rest is cross-entropy on the labels).</summary>
    public double? DistillWeight { get; init; }

    /// <summary>Softmax temperature for the teacher's and student's outputs in the distillation term.</summary>
    public double? DistillTemperature { get; init; }

    /// <summary>Weight of matching the teacher's four stage outputs (feature hints) beside its softened outputs; null: off.</summary>
    public double? DistillFeatures { get; init; }

    /// <summary>A text file naming files (relative to --data, one per line): their whole subjects are kept out of every part.</summary>
    public string? HoldOut { get; init; }

    /// <summary>Length of the cosine schedule in epochs when it should outlast the run (null: --epochs): a run that
    /// stops at epoch 5 of a 12-epoch cosine follows the learning rates of a 12-epoch run whose epoch 5 a validation
    /// split chose, without the split.</summary>
    public int? ScheduleEpochs { get; init; }

    /// <summary>Score the test part after every epoch too: recorded, never used to choose weights.</summary>
    public bool TestEveryEpoch { get; init; }

    /// <summary>Stop each epoch after this many batches (0: all). For smoke tests and CI, not for real training.</summary>
    public int MaxSteps { get; init; }

    /// <summary>Throws <see cref="TrainingInputException"/> naming the first bad option.</summary>
    public void Validate()
    {
        if (!Architectures.Contains(Arch))
        {
            throw new TrainingInputException($"--arch {Arch} is unknown; choose one of {string.Join(", ", Architectures)}.");
        }

        if (Epochs < 1 || Batch < 1 || Threads < 1 || Lr <= 0 || Size < 32 || MaxSteps < 0 || EarlyStopping < 0)
        {
            throw new TrainingInputException("--epochs, --batch and --threads must be at least 1, --lr positive, --size at least 32.");
        }

        if (Arch == "vgg16" && Size % 224 != 0)
        {
            // Its classifier pools the feature map to 7×7; PyTorch 1.13 exports that pooling only when it divides evenly.
            throw new TrainingInputException($"--arch vgg16 needs --size a multiple of 224 (its classifier pools to 7×7), not {Size}.");
        }

        if (Optimizer is not (null or "adam" or "adamw" or "adamax"))
        {
            throw new TrainingInputException($"--optimizer {Optimizer} is unknown; choose adam, adamw or adamax.");
        }

        if (Augment is not ("none" or "basic" or "strong"))
        {
            throw new TrainingInputException($"--augment {Augment} is unknown; choose none, basic or strong.");
        }

        if (ClassWeights is not (NoClassWeights or "inverse" or "sqrt"))
        {
            throw new TrainingInputException($"--class-weights {ClassWeights} is unknown; choose inverse or sqrt.");
        }

        if (Schedule is not ("constant" or "cosine"))
        {
            throw new TrainingInputException($"--schedule {Schedule} is unknown; choose constant or cosine.");
        }

        if (WarmupEpochs < 0 || WarmupEpochs >= Epochs)
        {
            throw new TrainingInputException($"--warmup-epochs {WarmupEpochs.ToString(CultureInfo.InvariantCulture)} must be at least 0 and less than --epochs.");
        }

        if (ScheduleEpochs is { } span && (Schedule != "cosine" || span < Epochs))
        {
            throw new TrainingInputException($"--schedule-epochs {span} needs --schedule cosine and at least --epochs ({Epochs}): it sets how long the cosine runs, not how long training does.");
        }

        if ((EarlyStopping > 0 || ReduceLrOnPlateau) && ValidationFraction == 0)
        {
            throw new TrainingInputException("--early-stopping and --reduce-lr-on-plateau need a validation part (--split with a validation fraction above 0).");
        }

        if (ReduceLrOnPlateau && (Schedule != "constant" || WarmupEpochs > 0))
        {
            throw new TrainingInputException("--reduce-lr-on-plateau cannot be combined with --schedule cosine or --warmup-epochs: both would set the learning rate.");
        }

        if (WeightDecay < 0 || LabelSmoothing is < 0 or >= 1 || DropPath is < 0 or >= 1)
        {
            throw new TrainingInputException("--weight-decay must be at least 0; --label-smoothing and --drop-path must be in [0, 1).");
        }

        if (DropPath > 0 && Arch is not ("iconvnext-tiny" or "convnext-tiny"))
        {
            throw new TrainingInputException($"--drop-path applies to the ConvNeXt architectures (iconvnext-tiny, convnext-tiny), not {Arch}.");
        }

        if (Ema is <= 0 or >= 1)
        {
            throw new TrainingInputException($"--ema {Ema.Value.ToString(CultureInfo.InvariantCulture)} must be between 0 and 1 (exclusive), e.g. 0.998.");
        }

        if (Precision is not ("fp32" or "bf16-mixed"))
        {
            throw new TrainingInputException($"--precision {Precision} is unknown; choose fp32 or bf16-mixed.");
        }

        if (GroupBy is not ("file" or "similar"))
        {
            throw new TrainingInputException($"--group-by {GroupBy} is unknown; choose file or similar.");
        }

        if (TrainFraction <= 0 || ValidationFraction < 0 || TestFraction < 0 || Math.Abs(TrainFraction + ValidationFraction + TestFraction - 1) > 1e-6)
        {
            throw new TrainingInputException("--split needs three non-negative fractions that sum to 1, with a positive training fraction (e.g. 0.7,0.1,0.2).");
        }

        if (Teacher is null && (DistillWeight is not null || DistillTemperature is not null || DistillFeatures is not null))
        {
            throw new TrainingInputException("--distill-weight, --distill-temperature and --distill-features need --teacher.");
        }

        if (DistillWeight is <= 0 or > 1 || DistillTemperature is <= 0)
        {
            throw new TrainingInputException("--distill-weight must be in (0, 1] and --distill-temperature positive.");
        }

        if (DistillFeatures is not null && (DistillFeatures <= 0 || !FourStageArchitectures.Contains(Arch)))
        {
            throw new TrainingInputException($"--distill-features needs a positive weight and a four-stage student ({string.Join(", ", FourStageArchitectures)}), not {Arch}.");
        }

        if (Teacher is not null && !Directory.Exists(Teacher))
        {
            throw new TrainingInputException($"--teacher {Teacher}: folder not found.");
        }

        if (HoldOut is not null && !File.Exists(HoldOut))
        {
            throw new TrainingInputException($"--hold-out {HoldOut}: file not found.");
        }

        if (HoldOut is not null && Subset.Count > 0)
        {
            throw new TrainingInputException("--hold-out and --subset cannot be combined: subjects are found and taken out over all of the data.");
        }

        if (Init == ImagenetWeights.Keyword && Arch != "resnet18")
        {
            throw new TrainingInputException($"--init {ImagenetWeights.Keyword} holds ImageNet-trained ResNet weights: it needs --arch resnet18, not {Arch}.");
        }

        if (Init is not null && Init != ImagenetWeights.Keyword && !File.Exists(Init))
        {
            throw new TrainingInputException($"--init {Init}: file not found.");
        }
    }

    public static (double Train, double Validation, double Test) ParseSplit(string text)
    {
        var parts = text.Split(',');
        if (parts.Length != 3 || !parts.All(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out _)))
        {
            throw new TrainingInputException($"--split {text}: write three fractions, e.g. 0.7,0.1,0.2.");
        }

        var v = parts.Select(p => double.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return (v[0], v[1], v[2]);
    }

    public static Dictionary<string, int> ParseSubset(string? text)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        if (string.IsNullOrWhiteSpace(text))
        {
            return result;
        }

        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pair = item.Split('=');
            if (pair.Length != 2 || !int.TryParse(pair[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
            {
                throw new TrainingInputException($"--subset {item}: write CLASS=N with N ≥ 1, e.g. MildDemented=182,NonDemented=351.");
            }

            result[pair[0]] = n;
        }

        return result;
    }
}
