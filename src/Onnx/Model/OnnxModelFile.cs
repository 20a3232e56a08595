using Google.Protobuf;
using Onnx;

namespace EdgeMed.Onnx.Model;

/// <summary>Reads and writes ONNX model files (<see cref="ModelProto"/>).</summary>
public static class OnnxModelFile
{
    /// <summary>Reads an ONNX model from <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="OnnxModelFormatException">The file is not a readable ONNX model.</exception>
    public static ModelProto Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"ONNX model file not found: {path}", path);
        }

        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses an ONNX model from bytes; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="OnnxModelFormatException">The bytes are not a readable ONNX model.</exception>
    public static ModelProto Parse(ReadOnlySpan<byte> bytes, string source = "<bytes>")
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxModelFormatException($"{source} is not an ONNX model: {e.Message}", e);
        }

        // Protobuf happily parses many non-ONNX byte strings into an empty message; a model always has a graph and an IR version.
        if (model.Graph is null || model.IrVersion <= 0)
        {
            throw new OnnxModelFormatException($"{source} is not an ONNX model: it has no graph or no IR version.");
        }

        return model;
    }

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> atomically: a reader sees the old file or the
    /// whole new one, never a partial write (temporary file in the same folder, flushed, then renamed).
    /// </summary>
    public static void Save(ModelProto model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                model.WriteTo(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }
}

/// <summary>The bytes given as an ONNX model are not one.</summary>
public sealed class OnnxModelFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OnnxModelFormatException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public OnnxModelFormatException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
