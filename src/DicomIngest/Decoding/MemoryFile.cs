using System.Runtime.InteropServices;
using EdgeMed.DicomIngest.Interop;
using Microsoft.Win32.SafeHandles;

namespace EdgeMed.DicomIngest.Decoding;

/// <summary>
/// A file's bytes in an anonymous memory file (memfd) that GDCM opens by name, <c>/proc/self/fd/N</c>. GDCM reads only
/// from a file name; this way the decoder sees exactly the bytes the ingest hashed and checked, reads nothing from the
/// share a second time, and patient data never lands in a named temporary file. Gone when disposed or when the
/// process dies.
/// </summary>
internal sealed class MemoryFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    private MemoryFile(SafeFileHandle handle) => _handle = handle;

    /// <summary>The name GDCM opens.</summary>
    public string Path => $"/proc/self/fd/{_handle.DangerousGetHandle()}";

    /// <summary>Copies <paramref name="length"/> bytes of <paramref name="content"/> into a new memory file.</summary>
    /// <exception cref="EndOfStreamException">The stream ended first.</exception>
    public static MemoryFile From(Stream content, long length)
    {
        var fd = LibC.MemfdCreate("edgemed-decode", LibC.MemfdCloexec);
        if (fd < 0)
        {
            throw new IOException($"memfd_create failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        var file = new MemoryFile(new SafeFileHandle(fd, ownsHandle: true));
        try
        {
            var buffer = new byte[(int)Math.Min(length, 1 << 16)];
            long offset = 0;
            while (offset < length)
            {
                var read = content.Read(buffer, 0, (int)Math.Min(buffer.Length, length - offset));
                if (read == 0)
                {
                    throw new EndOfStreamException($"The file's bytes ended after {offset} of {length}.");
                }

                RandomAccess.Write(file._handle, buffer.AsSpan(0, read), offset);
                offset += read;
            }

            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Gives the memory back while the file stays open: GDCM holds the whole data set once it has read it, and the
    /// decoded pixels come next, so the file's bytes and the pixels are never held here at the same time.
    /// </summary>
    public void Release() => RandomAccess.SetLength(_handle, 0);

    public void Dispose() => _handle.Dispose();
}
