namespace EdgeMed.DicomIngest.Decoding;

/// <summary>
/// Marks an entry assembly whose program runs the decoder loop itself when started as <c>PROGRAM decode-worker</c>
/// (by calling <see cref="DecoderWorkerHostAttribute.RunIfWorker"/> first). The decoder process is then that program:
/// a self-contained release has one runtime, in the program's folder, and no separate DicomIngest program to start.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class DecoderWorkerHostAttribute : Attribute
{
    /// <summary>Runs the decoder loop when <paramref name="args"/> ask for it; returns its exit code, or null to go on.</summary>
    public static int? RunIfWorker(string[] args) => args is [DecoderWorker.Command] ? DecoderWorker.RunOnStandardStreams() : null;
}
