using System.Globalization;
using Spectre.Console;

namespace EdgeMed.TrainerHost.Training;

/// <summary>
/// What a person sees: Spectre.Console progress bars (cache, batches with loss, accuracy and ETA) on a terminal;
/// plain lines when output is redirected or CI is set, so logs stay readable.
/// </summary>
internal sealed class TrainingConsole
{
    private readonly bool _interactive = !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null && AnsiConsole.Profile.Capabilities.Interactive;
    private ProgressContext? _context;
    private ProgressTask? _cache;
    private ProgressTask? _epoch;
    private int _lastCachePercent = -1;

    public async Task<T> RunAsync<T>(Func<Task<T>> work)
    {
        if (!_interactive)
        {
            return await work().ConfigureAwait(false);
        }

        return await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                _context = context;
                return await work().ConfigureAwait(false);
            }).ConfigureAwait(false);
    }

    public void Line(string text)
    {
        if (_interactive)
        {
            AnsiConsole.MarkupLine(Markup.Escape(text));
        }
        else
        {
            Console.WriteLine(text);
        }
    }

    public void Cache(int done, int total)
    {
        if (_context is not null)
        {
            _cache ??= _context.AddTask("preprocessing", maxValue: total);
            _cache.Value = done;
            return;
        }

        var percent = done * 10 / Math.Max(1, total) * 10;
        if (percent != _lastCachePercent)
        {
            _lastCachePercent = percent;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preprocessing {done}/{total} files ({percent}%)"));
        }
    }

    public void Batch(int epoch, int batch, int batches, double loss, double accuracy)
    {
        if (_context is null)
        {
            return; // plain output reports whole epochs only
        }

        if (_epoch is null || _epoch.Description.StartsWith($"epoch {epoch} ", StringComparison.Ordinal) is false)
        {
            _epoch?.StopTask();
            _epoch = _context.AddTask($"epoch {epoch} ", maxValue: batches);
        }

        _epoch.Value = batch;
        _epoch.Description = string.Create(CultureInfo.InvariantCulture, $"epoch {epoch} loss {loss:F4} acc {accuracy:F3}");
    }
}
