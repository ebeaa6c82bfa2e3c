using System.Buffers.Binary;

namespace Serve.Gguf;

/// <summary>
/// IEEE half and bfloat16 conversions as raw 16-bit patterns, matching ggml: half rounds to nearest even
/// (what F16C does and what <see cref="Half"/> does), bfloat16 rounds to nearest even and keeps NaN a NaN
/// (ggml_compute_fp32_to_bf16).
/// </summary>
public static class Float16
{
    public static ushort ToHalfBits(float v) => BitConverter.HalfToUInt16Bits((Half)v);

    public static float FromHalfBits(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    public static ushort ToBFloat16Bits(float v)
    {
        uint u = BitConverter.SingleToUInt32Bits(v);
        // A NaN whose payload lives only in the low bits would truncate to infinity; force the quiet bit.
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000)
            return (ushort)((u >> 16) | 0x40);
        return (ushort)((u + (0x7FFF + ((u >> 16) & 1))) >> 16);
    }

    public static float FromBFloat16Bits(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Writes <paramref name="src"/> as little-endian halves into <paramref name="dst"/> (2 bytes each).</summary>
    public static void WriteHalves(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (dst.Length < src.Length * 2) throw new ArgumentException("Destination too small.", nameof(dst));
        for (int i = 0; i < src.Length; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(dst.Slice(i * 2), ToHalfBits(src[i]));
    }

    /// <summary>Writes <paramref name="src"/> as little-endian bfloat16 values into <paramref name="dst"/> (2 bytes each).</summary>
    public static void WriteBFloat16s(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (dst.Length < src.Length * 2) throw new ArgumentException("Destination too small.", nameof(dst));
        for (int i = 0; i < src.Length; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(dst.Slice(i * 2), ToBFloat16Bits(src[i]));
    }
}
