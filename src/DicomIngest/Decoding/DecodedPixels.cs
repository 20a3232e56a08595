namespace EdgeMed.DicomIngest.Decoding;

/// <summary>Pixels as the decoder returns them: raw samples of all frames, in the file's pixel layout.</summary>
/// <param name="Columns">Columns of one frame.</param>
/// <param name="Rows">Rows of one frame.</param>
/// <param name="Frames">Number of frames (GDCM's third dimension).</param>
/// <param name="SamplesPerPixel">1 or 3.</param>
/// <param name="BitsAllocated">8, 16 or 32.</param>
/// <param name="BitsStored">Bits that carry the value.</param>
/// <param name="PixelRepresentation">0 unsigned, 1 signed.</param>
/// <param name="Photometric">Photometric interpretation after decoding.</param>
/// <param name="PlanarConfiguration">0 interleaved, 1 planar (color only).</param>
/// <param name="Buffer">Little-endian samples.</param>
internal sealed record DecodedPixels(int Columns, int Rows, int Frames, int SamplesPerPixel, int BitsAllocated, int BitsStored, int PixelRepresentation, string Photometric, int PlanarConfiguration, byte[] Buffer);
