using EdgeMed.DicomIngest.Decoding;

// The decoder process is this program too; it starts before anything else loads.
if (args is [DecoderWorker.Command])
{
    return DecoderWorker.RunOnStandardStreams();
}

return 0;
