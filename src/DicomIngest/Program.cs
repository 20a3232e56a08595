using System.CommandLine;
using EdgeMed.DicomIngest;
using EdgeMed.DicomIngest.Decoding;

// The decoder process is this program too; it starts before anything else loads.
if (args is [DecoderWorker.Command])
{
    return DecoderWorker.RunOnStandardStreams();
}

var paths = new Argument<string[]>("paths") { Description = "DICOM files or folders (searched recursively)", Arity = ArgumentArity.OneOrMore };
var decode = new Option<bool>("--decode") { Description = "Also decode the pixels (slower; finds decoder failures)" };
var inspect = new Command("inspect", "One line per instance: short UIDs, modality, plane, size, transfer syntax, frames, status or reason") { paths, decode };
inspect.SetAction((result, cancellationToken) => DicomCommands.InspectAsync(result.GetRequiredValue(paths), result.GetValue(decode), Console.Out, cancellationToken));

var input = new Argument<string>("input") { Description = "A DICOM file or a folder (searched recursively)" };
var output = new Argument<string>("outdir") { Description = "Folder for the PNG slices and their JSON sidecars" };
var size = new Option<int>("--size") { Description = "Output size in pixels", DefaultValueFactory = _ => 224 };
var allPlanes = new Option<bool>("--all-planes") { Description = "Convert coronal, sagittal and oblique slices too (default: axial only)" };
var convert = new Command("convert", "Normalized axial slices as PNG, a JSON sidecar each, and a summary of skipped files") { input, output, size, allPlanes };
convert.SetAction((result, cancellationToken) => DicomCommands.ConvertAsync(result.GetRequiredValue(input), result.GetRequiredValue(output), result.GetValue(size), result.GetValue(allPlanes), Console.Out, cancellationToken));

var root = new RootCommand("EdgeMed DICOM ingest: inspect and convert DICOM files") { inspect, convert };
return await root.Parse(args).InvokeAsync();
