using System.Text;
using EdgeMed.DicomIngest.Interop;
using Microsoft.Win32.SafeHandles;

namespace EdgeMed.DicomIngest.Decoding;

/// <summary>
/// The decoder process's loop (<c>EdgeMed.DicomIngest decode-worker</c>): reads files' bytes from stdin, writes decoded
/// pixels or an error to stdout, until stdin closes. If GDCM aborts, only this process dies; <see cref="DecoderProcess"/>
/// reports that file as <c>decoder-crashed</c> and starts a new worker.
/// </summary>
/// <remarks>
/// Frames, all integers little-endian. Request: int32 length, the file's bytes (the parent read the file once, hashed
/// and checked those bytes; the decoder sees the same ones and never opens the share). Reply: byte status (0 ok, 1 error);
/// ok: int32 columns, rows, frames, samples, bits allocated, bits stored, pixel representation, planar configuration,
/// photometric (int32 length + ASCII), int32 buffer length + buffer; error: int32 length + UTF-8 message.
/// </remarks>
internal static class DecoderWorker
{
    public const string Command = "decode-worker";

    /// <summary>
    /// Runs the loop on stdin and a private copy of stdout. Native code that prints to stdout (fd 1) would corrupt the
    /// replies, so fd 1 is pointed at stderr and the replies go to the duplicate taken first.
    /// </summary>
    public static int RunOnStandardStreams()
    {
        var replies = LibC.Dup(1);
        if (replies < 0 || LibC.Dup2(2, 1) < 0)
        {
            return 3;
        }

        // A service stop signals every process of the service at once (systemd's KillMode=control-group; Ctrl-C in a
        // terminal signals the process group). The parent owns this process's lifetime: it ends when the parent closes
        // stdin, or by SIGKILL. Dying on the signal would look like a crash on the file being decoded and count
        // against a good file.
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => c.Cancel = true);
        using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => c.Cancel = true);
        using var output = new FileStream(new SafeFileHandle(replies, ownsHandle: true), FileAccess.Write, 1 << 16);
        using var input = Console.OpenStandardInput();
        return Run(input, output);
    }

    public static int Run(Stream input, Stream output)
    {
        using var reader = new BinaryReader(input, Encoding.UTF8, leaveOpen: true);
        using var writer = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true);
        while (true)
        {
            int length;
            try
            {
                length = reader.ReadInt32();
            }
            catch (EndOfStreamException)
            {
                return 0; // the parent closed our stdin: done
            }

            if (length <= 0)
            {
                return 2; // protocol error: the parent sees EOF and restarts us
            }

            MemoryFile file;
            try
            {
                file = MemoryFile.From(input, length);
            }
            catch (IOException)
            {
                return 2; // the request could not be taken whole; the stream is out of step, so the parent restarts us
            }

            try
            {
                var pixels = GdcmDecoder.Decode(file);
                writer.Write((byte)0);
                writer.Write(pixels.Columns);
                writer.Write(pixels.Rows);
                writer.Write(pixels.Frames);
                writer.Write(pixels.SamplesPerPixel);
                writer.Write(pixels.BitsAllocated);
                writer.Write(pixels.BitsStored);
                writer.Write(pixels.PixelRepresentation);
                writer.Write(pixels.PlanarConfiguration);
                WriteBytes(writer, Encoding.ASCII.GetBytes(pixels.Photometric));
                WriteBytes(writer, pixels.Buffer);
            }
            catch (Exception e) when (e is DicomIngestException or ApplicationException or ArgumentException or IOException)
            {
                writer.Write((byte)1);
                WriteBytes(writer, Encoding.UTF8.GetBytes(e.Message));
            }
            finally
            {
                file.Dispose();
            }

            writer.Flush();
        }
    }

    private static void WriteBytes(BinaryWriter writer, byte[] bytes)
    {
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }
}
