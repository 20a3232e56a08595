// Times the GELU forms written by eng/gelu-variants.py side by side (rounds alternate between them), 2 threads, and
// prints each one's largest difference from the erf form. Usage: dotnet run eng/gelu-variants.cs DIR
#:package Microsoft.ML.OnnxRuntime
using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

var dir = args.Length > 0 ? args[0] : ".";
string[] names = ["erfgelu", "biasgelu", "fastgelu", "quickgelu"];
var x = new DenseTensor<float>([8, 1024, 384]);
var random = new Random(1);
for (var i = 0; i < x.Length; i++)
{
    x.SetValue(i, (float)((random.NextDouble() * 6) - 3));
}

using var options = new SessionOptions { IntraOpNumThreads = 2 };
var sessions = names.Select(n => new InferenceSession(Path.Combine(dir, n + ".onnx"), options)).ToArray();
NamedOnnxValue[] inputs = [NamedOnnxValue.CreateFromTensor("x", x)];
var outputs = sessions.Select(s => { using var r = s.Run(inputs); return r[0].AsTensor<float>().ToArray(); }).ToArray();
var times = names.Select(_ => new List<double>()).ToArray();
for (var round = 0; round < 15; round++)
{
    for (var k = 0; k < names.Length; k++)
    {
        var clock = Stopwatch.StartNew();
        for (var r = 0; r < 5; r++)
        {
            using var result = sessions[k].Run(inputs);
        }

        times[k].Add(clock.Elapsed.TotalMilliseconds / 5);
    }
}

double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);
for (var k = 0; k < names.Length; k++)
{
    var diff = outputs[k].Zip(outputs[0], (a, b) => Math.Abs(a - b)).Max();
    Console.WriteLine($"{names[k],-10} median {Median(times[k]):F2} ms ({Median(times[k]) / Median(times[0]):F2} of the erf form), max |diff| from it {diff:G3}");
}

foreach (var s in sessions)
{
    s.Dispose();
}
