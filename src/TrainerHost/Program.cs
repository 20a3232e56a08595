using System.CommandLine;
using EdgeMed.DicomIngest.Datasets;
using EdgeMed.Packages;
using EdgeMed.TrainerHost.Training;

// ./edgemed.sh train --data DIR --arch A --out RUNDIR [options]   and   ./edgemed.sh train evaluate --model PACKAGE --data DIR
var data = new Option<string>("--data") { Description = "Folder with one sub-folder per class (JPEG/PNG images or DICOM files)", Required = true };
var arch = new Option<string>("--arch") { Description = $"Architecture: {string.Join(", ", TrainingOptions.Architectures)}", DefaultValueFactory = _ => "iconvnext-tiny" };
var output = new Option<string>("--out") { Description = "Run folder (report, checkpoints, package)", Required = true };
var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 10 };
var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 4 };
var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 1e-3 };
var optimizer = new Option<string?>("--optimizer") { Description = "adam, adamw or adamax (default: Adamax for arn-cnn, Adam otherwise)" };
var threads = new Option<int>("--threads") { DefaultValueFactory = _ => 8 };
var size = new Option<int>("--size") { DefaultValueFactory = _ => 224 };
var split = new Option<string>("--split") { Description = "train,validation,test fractions", DefaultValueFactory = _ => "0.7,0.1,0.2" };
var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0 };
var lambdaFs = new Option<double?>("--lambda-fs") { Description = "Feature-smoothing weight (default: 0.05 for iconvnext-tiny, 0 otherwise)" };
var augment = new Option<string>("--augment") { Description = "none, basic (rotation, flip, scale) or strong (also shift, brightness/contrast/gamma)", DefaultValueFactory = _ => "none" };
var schedule = new Option<string>("--schedule") { Description = "Learning rate: constant or cosine (decays to zero by the last epoch, or by --schedule-epochs)", DefaultValueFactory = _ => "constant" };
var holdOut = new Option<string?>("--hold-out") { Description = "A text file naming files relative to --data (one per line): their subjects are kept out of training, validation and test (e.g. the demo's samples)" };
var scheduleEpochs = new Option<int?>("--schedule-epochs") { Description = "Cosine schedule length in epochs when training stops earlier (default: --epochs)" };
var testEveryEpoch = new Option<bool>("--test-every-epoch") { Description = "Score the test part after every epoch too (history.json; never used to choose weights)" };
var warmup = new Option<double>("--warmup-epochs") { Description = "Linear learning-rate warm-up, in epochs" };
var weightDecay = new Option<double>("--weight-decay") { Description = "Weight decay on weights and kernels (not biases or norms)" };
var labelSmoothing = new Option<double>("--label-smoothing") { Description = "Cross-entropy label smoothing, e.g. 0.1" };
var dropPath = new Option<double>("--drop-path") { Description = "Stochastic depth rate for the ConvNeXt architectures, e.g. 0.1" };
var precision = new Option<string>("--precision") { Description = "fp32, or bf16-mixed (bfloat16 compute with float32 master weights and LayerNorm; 0.23× the time per image of fp32 measured on an AVX512-BF16 CPU)", DefaultValueFactory = _ => "fp32" };
var groupBy = new Option<string>("--group-by") { Description = "Split groups: file (DICOM: by patient), or similar (images: slices linked to their two most similar slices form one subject)", DefaultValueFactory = _ => "file" };
var earlyStopping = new Option<int>("--early-stopping") { Description = "Stop after this many epochs without a better validation accuracy (0: never)" };
var reduceLr = new Option<bool>("--reduce-lr-on-plateau") { Description = "Halve the learning rate after 2 epochs without improvement" };
var classWeights = new Option<string?>("--class-weights")
{
    Description = "Weight the loss by class frequency in the training part: inverse (N / (classes × count); given without a value) or sqrt (its square root)",
    Arity = ArgumentArity.ZeroOrOne, CustomParser = r => r.Tokens.Count == 0 ? "inverse" : r.Tokens[0].Value,
};
var ema = new Option<double?>("--ema") { Description = "Validate, keep and export an exponential moving average of the weights with this decay per step, e.g. 0.998" };
var subset = new Option<string?>("--subset") { Description = "Files per class, e.g. MildDemented=182,NonDemented=351" };
var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last completed epoch" };
var init = new Option<string?>("--init")
{
    Description = $"Initial weights: a PyTorch state dict you bring, or {ImagenetWeights.Keyword} (--arch resnet18: ImageNet-trained ResNet weights from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18, fetched once into $EDGEMED_WEIGHTS or ~/.cache/edgemed/weights)",
};
var teacher = new Option<string?>("--teacher") { Description = "A finished run folder (same data, --size and split) whose best weights teach this run: knowledge distillation" };
var distillWeight = new Option<double?>("--distill-weight") { Description = "Share of the loss for matching the teacher's softened outputs (default 0.5 with --teacher)" };
var distillTemperature = new Option<double?>("--distill-temperature") { Description = "Softmax temperature of the distillation term (default 2 with --teacher)" };
var distillFeatures = new Option<double?>("--distill-features") { Description = "Also match the teacher's four stage outputs through 1x1 projections (FitNets hints), at this weight (student and teacher: ConvNeXt or ResNet)" };
var cache = new Option<string?>("--cache") { Description = "Tensor cache folder (default $EDGEMED_CACHE or ~/.cache/edgemed/tensors)" };
var maxSteps = new Option<int>("--max-steps") { Description = "Batches per epoch at most (smoke tests)", Hidden = true };

var train = new RootCommand("EdgeMed trainer: retrain and evaluate classification models on labeled slices")
{
    data, arch, output, epochs, batch, lr, optimizer, threads, size, split, seed, lambdaFs, augment, schedule, scheduleEpochs, warmup, weightDecay, labelSmoothing, dropPath, precision, groupBy,
    earlyStopping, reduceLr, classWeights, ema, subset, resume, init, teacher, distillWeight, distillTemperature, distillFeatures, cache, maxSteps, testEveryEpoch, holdOut,
};
train.SetAction(async (result, cancellationToken) =>
{
    var ui = new TrainingConsole();
    return await Guarded(ui, async () =>
    {
        var (trainFraction, validationFraction, testFraction) = TrainingOptions.ParseSplit(result.GetRequiredValue(split));
        var options = new TrainingOptions
        {
            Data = result.GetRequiredValue(data), Arch = result.GetRequiredValue(arch), Out = result.GetRequiredValue(output),
            Epochs = result.GetValue(epochs), Batch = result.GetValue(batch), Lr = result.GetValue(lr), Optimizer = result.GetValue(optimizer),
            Threads = result.GetValue(threads), Size = result.GetValue(size), TrainFraction = trainFraction, ValidationFraction = validationFraction,
            TestFraction = testFraction, Seed = result.GetValue(seed), LambdaFs = result.GetValue(lambdaFs), Augment = result.GetRequiredValue(augment),
            EarlyStopping = result.GetValue(earlyStopping), ReduceLrOnPlateau = result.GetValue(reduceLr), ClassWeights = result.GetValue(classWeights) ?? TrainingOptions.NoClassWeights, Ema = result.GetValue(ema),
            Subset = TrainingOptions.ParseSubset(result.GetValue(subset)), Resume = result.GetValue(resume), Init = result.GetValue(init),
            Cache = result.GetValue(cache), MaxSteps = result.GetValue(maxSteps), Schedule = result.GetRequiredValue(schedule), ScheduleEpochs = result.GetValue(scheduleEpochs),
            TestEveryEpoch = result.GetValue(testEveryEpoch), HoldOut = result.GetValue(holdOut),
            WarmupEpochs = result.GetValue(warmup), WeightDecay = result.GetValue(weightDecay), LabelSmoothing = result.GetValue(labelSmoothing),
            DropPath = result.GetValue(dropPath), Precision = result.GetRequiredValue(precision), GroupBy = result.GetRequiredValue(groupBy),
            Teacher = result.GetValue(teacher), DistillWeight = result.GetValue(distillWeight), DistillTemperature = result.GetValue(distillTemperature),
            DistillFeatures = result.GetValue(distillFeatures),
        };
        await ui.RunAsync(() => TrainingRun.ExecuteAsync(options, "./edgemed.sh train " + string.Join(' ', args), ui, cancellationToken)).ConfigureAwait(false);
    }).ConfigureAwait(false);
});

var model = new Option<string>("--model") { Description = "Model package folder (fp32 or int8)", Required = true };
var evalData = new Option<string>("--data") { Description = "Folder with one sub-folder per class", Required = true };
var evalOut = new Option<string?>("--out") { Description = "Report folder (default ./evaluation-<package name>)" };
var evalThreads = new Option<int>("--threads") { DefaultValueFactory = _ => Environment.ProcessorCount };
var evaluate = new Command("evaluate", "Evaluate a model package on a labeled folder and write the report") { model, evalData, evalOut, evalThreads, cache };
evaluate.SetAction(async (result, cancellationToken) =>
{
    var ui = new TrainingConsole();
    return await Guarded(ui, async () =>
    {
        var package = result.GetRequiredValue(model);
        var folder = result.GetValue(evalOut) ?? Path.Combine(Environment.CurrentDirectory, "evaluation-" + Path.GetFileName(Path.GetFullPath(package).TrimEnd('/')));
        await ui.RunAsync(() => TrainingRun.EvaluateAsync(package, result.GetRequiredValue(evalData), folder, result.GetValue(evalThreads), result.GetValue(cache), ui, cancellationToken)).ConfigureAwait(false);
    }).ConfigureAwait(false);
});
train.Subcommands.Add(evaluate);

return await train.Parse(args).InvokeAsync();

// Exit codes: 0 done, 1 the run failed (its folder says why), 2 bad input, 130 interrupted.
static async Task<int> Guarded(TrainingConsole ui, Func<Task> work)
{
    try
    {
        await work().ConfigureAwait(false);
        return 0;
    }
    catch (Exception e) when (e is TrainingInputException or DatasetException or ModelPackageException)
    {
        await Console.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
        return 2;
    }
    catch (TrainingFailedException e)
    {
        await Console.Error.WriteLineAsync($"failed: {e.Message}").ConfigureAwait(false);
        return 1;
    }
    catch (OperationCanceledException)
    {
        ui.Line("interrupted: the run folder keeps the last completed epoch; continue with --resume");
        return 130;
    }
}
