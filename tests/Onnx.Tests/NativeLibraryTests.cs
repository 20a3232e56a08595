using System.Runtime.InteropServices;
using EdgeMed.Onnx.Runtime;

namespace EdgeMed.Onnx.Tests;

public sealed class NativeLibraryTests
{
    [Fact]
    public void Load_MissingLibrary_NamesThePathAndTheSetupCommand()
    {
        var path = Path.Combine(Path.GetTempPath(), "edgemed-missing", "libonnxruntime.so.1");

        var error = Assert.Throws<OnnxRuntimeUnavailableException>(() => OrtLibrary.Load(path));

        Assert.Equal(path, error.LibraryPath);
        Assert.Contains(path, error.Message);
        Assert.Contains("./edgemed.sh setup", error.Message);
    }

    [Fact]
    public void Load_LibraryOfOtherArchitecture_SaysWhichArchitectures()
    {
        // setup fetches both architectures; the one this process is not is a real foreign ELF file.
        var other = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? "linux-arm64" : "linux-x64";
        var path = Path.Combine(AppContext.BaseDirectory, "runtimes", other, "native", OrtLibrary.FileName);
        Assert.True(File.Exists(path), $"{path} should have been placed by ./edgemed.sh setup");

        var error = Assert.Throws<OnnxRuntimeUnavailableException>(() => OrtLibrary.Load(path));

        Assert.Contains(RuntimeInformation.ProcessArchitecture.ToString(), error.Message);
        Assert.Contains("./edgemed.sh setup", error.Message);
    }

    [Fact]
    public void Load_FileThatIsNotALibrary_ThrowsUnavailable()
    {
        using var folder = new TempFolder();
        var path = folder.File(OrtLibrary.FileName);
        File.WriteAllText(path, "not an ELF file");

        var error = Assert.Throws<OnnxRuntimeUnavailableException>(() => OrtLibrary.Load(path));

        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void ReadElfArchitecture_KnowsBothPinnedLibraries()
    {
        var root = Path.Combine(AppContext.BaseDirectory, "runtimes");

        Assert.Equal(Architecture.X64, OrtLibrary.ReadElfArchitecture(Path.Combine(root, "linux-x64", "native", OrtLibrary.FileName)));
        Assert.Equal(Architecture.Arm64, OrtLibrary.ReadElfArchitecture(Path.Combine(root, "linux-arm64", "native", OrtLibrary.FileName)));
    }
}
