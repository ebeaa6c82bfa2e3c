using System.Buffers.Binary;

namespace Serve.Gguf;

/// <summary>
/// ggml block layouts (ggml-common.h) and the reference (de)quantisers of ggml-quants.c, re-derived in C#
/// so that bytes we write are the bytes llama-quantize would write and values we read are what llama.cpp computes.
/// </summary>
internal static class GgmlQuants
{
    private static float Half(ReadOnlySpan<byte> b, int at) => Float16.FromHalfBits(BinaryPrimitives.ReadUInt16LittleEndian(b[at..]));

    private static void PutHalf(Span<byte> b, int at, float v) => BinaryPrimitives.WriteUInt16LittleEndian(b[at..], Float16.ToHalfBits(v));

    public static bool CanDequantize(GgmlType t) => t is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.F64
        or GgmlType.I8 or GgmlType.I16 or GgmlType.I32
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0
        or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    /// <summary>Decodes whole blocks of <paramref name="src"/> into <paramref name="dst"/> (dst.Length elements).</summary>
    public static void Dequantize(GgmlType t, ReadOnlySpan<byte> src, Span<float> dst)
    {
        int bs = GgmlTypeInfo.BlockSize(t), ts = GgmlTypeInfo.TypeSize(t);
        int blocks = dst.Length / bs;
        for (int i = 0; i < blocks; i++)
        {
            var b = src.Slice(i * ts, ts);
            var y = dst.Slice(i * bs, bs);
            switch (t)
            {
                case GgmlType.F32: y[0] = BinaryPrimitives.ReadSingleLittleEndian(b); break;
                case GgmlType.F16: y[0] = Half(b, 0); break;
                case GgmlType.BF16: y[0] = Float16.FromBFloat16Bits(BinaryPrimitives.ReadUInt16LittleEndian(b)); break;
                case GgmlType.F64: y[0] = (float)BinaryPrimitives.ReadDoubleLittleEndian(b); break;
                case GgmlType.I8: y[0] = (sbyte)b[0]; break;
                case GgmlType.I16: y[0] = BinaryPrimitives.ReadInt16LittleEndian(b); break;
                case GgmlType.I32: y[0] = BinaryPrimitives.ReadInt32LittleEndian(b); break;
                case GgmlType.Q4_0: Q4_0(b, y); break;
                case GgmlType.Q4_1: Q4_1(b, y); break;
                case GgmlType.Q5_0: Q5_0(b, y); break;
                case GgmlType.Q5_1: Q5_1(b, y); break;
                case GgmlType.Q8_0: Q8_0(b, y); break;
                case GgmlType.Q4_K: Q4_K(b, y); break;
                case GgmlType.Q5_K: Q5_K(b, y); break;
                case GgmlType.Q6_K: Q6_K(b, y); break;
                default: throw new NotSupportedException($"Reading {t} tensors as float32 is not supported.");
            }
        }
    }

    // block_q4_0: half d; u8 qs[16]. Element j is the low nibble of qs[j], element j+16 the high nibble.
    private static void Q4_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0);
        var qs = b[2..];
        for (int j = 0; j < 16; j++)
        {
            y[j] = ((qs[j] & 0x0F) - 8) * d;
            y[j + 16] = ((qs[j] >> 4) - 8) * d;
        }
    }

    // block_q4_1: half d, half m; u8 qs[16].
    private static void Q4_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0), m = Half(b, 2);
        var qs = b[4..];
        for (int j = 0; j < 16; j++)
        {
            y[j] = (qs[j] & 0x0F) * d + m;
            y[j + 16] = (qs[j] >> 4) * d + m;
        }
    }

    // block_q5_0: half d; u32 qh (5th bits); u8 qs[16].
    private static void Q5_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[2..]);
        var qs = b[6..];
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) << 4) & 0x10;
            int h1 = (int)(qh >> (j + 12)) & 0x10;
            y[j] = (((qs[j] & 0x0F) | h0) - 16) * d;
            y[j + 16] = (((qs[j] >> 4) | h1) - 16) * d;
        }
    }

    // block_q5_1: half d, half m; u32 qh; u8 qs[16].
    private static void Q5_1(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0), m = Half(b, 2);
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        var qs = b[8..];
        for (int j = 0; j < 16; j++)
        {
            int h0 = (int)((qh >> j) << 4) & 0x10;
            int h1 = (int)(qh >> (j + 12)) & 0x10;
            y[j] = ((qs[j] & 0x0F) | h0) * d + m;
            y[j + 16] = ((qs[j] >> 4) | h1) * d + m;
        }
    }

    // block_q8_0: half d; i8 qs[32].
    private static void Q8_0(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0);
        for (int j = 0; j < 32; j++) y[j] = (sbyte)b[2 + j] * d;
    }

    // 6-bit scale and min of sub-block j from the 12 packed bytes of a Q4_K/Q5_K block.
    private static (int Scale, int Min) ScaleMinK4(int j, ReadOnlySpan<byte> q) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    // block_q4_K: half d, half dmin; u8 scales[12]; u8 qs[128]. 8 sub-blocks of 32.
    private static void Q4_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0), min = Half(b, 2);
        var scales = b.Slice(4, 12);
        var q = b.Slice(16, 128);
        int yi = 0, qi = 0;
        for (int is_ = 0; is_ < 8; is_ += 2)
        {
            var (sc1, m1) = ScaleMinK4(is_, scales);
            var (sc2, m2) = ScaleMinK4(is_ + 1, scales);
            float d1 = d * sc1, mm1 = min * m1, d2 = d * sc2, mm2 = min * m2;
            for (int l = 0; l < 32; l++) y[yi++] = d1 * (q[qi + l] & 0xF) - mm1;
            for (int l = 0; l < 32; l++) y[yi++] = d2 * (q[qi + l] >> 4) - mm2;
            qi += 32;
        }
    }

    // block_q5_K: half d, half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128].
    private static void Q5_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 0), min = Half(b, 2);
        var scales = b.Slice(4, 12);
        var qh = b.Slice(16, 32);
        var ql = b.Slice(48, 128);
        int yi = 0, qi = 0;
        int u1 = 1, u2 = 2;
        for (int is_ = 0; is_ < 8; is_ += 2)
        {
            var (sc1, m1) = ScaleMinK4(is_, scales);
            var (sc2, m2) = ScaleMinK4(is_ + 1, scales);
            float d1 = d * sc1, mm1 = min * m1, d2 = d * sc2, mm2 = min * m2;
            for (int l = 0; l < 32; l++) y[yi++] = d1 * ((ql[qi + l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - mm1;
            for (int l = 0; l < 32; l++) y[yi++] = d2 * ((ql[qi + l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - mm2;
            qi += 32;
            u1 <<= 2;
            u2 <<= 2;
        }
    }

    // block_q6_K: u8 ql[128]; u8 qh[64]; i8 scales[16]; half d. Two halves of 128 elements.
    private static void Q6_K(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Half(b, 208);
        for (int n = 0; n < 2; n++)
        {
            var ql = b.Slice(n * 64, 64);
            var qh = b.Slice(128 + n * 32, 32);
            var sc = b.Slice(192 + n * 8, 8);
            var yy = y.Slice(n * 128, 128);
            for (int l = 0; l < 32; l++)
            {
                int s = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                yy[l] = d * (sbyte)sc[s] * q1;
                yy[l + 32] = d * (sbyte)sc[s + 2] * q2;
                yy[l + 64] = d * (sbyte)sc[s + 4] * q3;
                yy[l + 96] = d * (sbyte)sc[s + 6] * q4;
            }
        }
    }

    /// <summary>quantize_row_q8_0_ref: d = max|x| / 127, q = round-half-away(x / d).</summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> x, Span<byte> dst)
    {
        for (int i = 0; i < x.Length / 32; i++)
        {
            var xs = x.Slice(i * 32, 32);
            var b = dst.Slice(i * 34, 34);
            float amax = 0f;
            foreach (var v in xs) amax = Math.Max(amax, Math.Abs(v));
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            PutHalf(b, 0, d);
            for (int j = 0; j < 32; j++)
                b[2 + j] = (byte)(sbyte)MathF.Round(xs[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    /// <summary>quantize_row_q4_0_ref: d = (the value of largest magnitude) / -8, q = min(15, trunc(x / d + 8.5)).</summary>
    public static void QuantizeQ4_0(ReadOnlySpan<float> x, Span<byte> dst)
    {
        for (int i = 0; i < x.Length / 32; i++)
        {
            var xs = x.Slice(i * 32, 32);
            var b = dst.Slice(i * 18, 18);
            float amax = 0f, max = 0f;
            foreach (var v in xs)
            {
                if (amax < Math.Abs(v))
                {
                    amax = Math.Abs(v);
                    max = v;
                }
            }
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            PutHalf(b, 0, d);
            for (int j = 0; j < 16; j++)
            {
                float x0 = xs[j] * id, x1 = xs[16 + j] * id;
                int q0 = Math.Min(15, (int)(x0 + 8.5f));
                int q1 = Math.Min(15, (int)(x1 + 8.5f));
                b[2 + j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    /// <summary>
    /// Q4_K (block of 256: fp16 d and dmin, 8 sub-blocks of 32 with 6-bit scale and min, 4-bit values): each sub-block's
    /// range [min(0, lowest), highest] split in 15 steps, value = d·sc·q - dmin·m. A plain encoder (no search for the
    /// error-minimising scales ggml's quantizer does); it writes exactly the layout ggml's dequantize_row_q4_K reads.
    /// </summary>
    public static void QuantizeQ4_K(ReadOnlySpan<float> x, Span<byte> dst)
    {
        Span<float> scale = stackalloc float[8];
        Span<float> min = stackalloc float[8];
        Span<int> sc = stackalloc int[8];
        Span<int> mq = stackalloc int[8];
        for (int i = 0; i < x.Length / 256; i++)
        {
            var xs = x.Slice(i * 256, 256);
            var b = dst.Slice(i * 144, 144);
            b.Clear();
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 8; j++)
            {
                float lo = 0, hi = float.MinValue;
                foreach (var v in xs.Slice(j * 32, 32))
                {
                    lo = Math.Min(lo, v);
                    hi = Math.Max(hi, v);
                }
                scale[j] = Math.Max(0, hi - lo) / 15;
                min[j] = -lo;
                maxScale = Math.Max(maxScale, scale[j]);
                maxMin = Math.Max(maxMin, min[j]);
            }
            PutHalf(b, 0, maxScale / 63);
            PutHalf(b, 2, maxMin / 63);
            float d = Half(b, 0), dmin = Half(b, 2);
            for (int j = 0; j < 8; j++)
            {
                sc[j] = d > 0 ? Math.Clamp((int)MathF.Round(scale[j] / d), 0, 63) : 0;
                mq[j] = dmin > 0 ? Math.Clamp((int)MathF.Round(min[j] / dmin), 0, 63) : 0;
            }
            var packed = b.Slice(4, 12);
            for (int j = 0; j < 4; j++)
            {
                packed[j] = (byte)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
                packed[j + 4] = (byte)((mq[j] & 63) | ((mq[j + 4] >> 4) << 6));
                packed[j + 8] = (byte)((sc[j + 4] & 0xF) | ((mq[j + 4] & 0xF) << 4));
            }
            var qs = b.Slice(16, 128);
            for (int j = 0; j < 8; j++)
            {
                float step = d * sc[j], offset = dmin * mq[j];
                for (int l = 0; l < 32; l++)
                {
                    int q = step > 0 ? Math.Clamp((int)MathF.Round((xs[j * 32 + l] + offset) / step), 0, 15) : 0;
                    qs[(j / 2) * 32 + l] |= (byte)(j % 2 == 0 ? q : q << 4);
                }
            }
        }
    }

    /// <summary>
    /// Q6_K (block of 256: 16 groups of 16 with an int8 scale each, one fp16 d, 6-bit values stored as 4 low bits in ql
    /// and 2 high bits in qh): value = d·sc·(q - 32). A plain encoder writing the layout ggml's dequantize_row_q6_K reads.
    /// </summary>
    public static void QuantizeQ6_K(ReadOnlySpan<float> x, Span<byte> dst)
    {
        Span<float> scale = stackalloc float[16];
        for (int i = 0; i < x.Length / 256; i++)
        {
            var xs = x.Slice(i * 256, 256);
            var b = dst.Slice(i * 210, 210);
            b.Clear();
            float maxScale = 0;
            for (int g = 0; g < 16; g++)
            {
                float amax = 0;
                foreach (var v in xs.Slice(g * 16, 16)) amax = Math.Max(amax, Math.Abs(v));
                scale[g] = amax / 31;
                maxScale = Math.Max(maxScale, scale[g]);
            }
            PutHalf(b, 208, maxScale / 127);
            float d = Half(b, 208);
            for (int n = 0; n < 2; n++)
            {
                var ql = b.Slice(n * 64, 64);
                var qh = b.Slice(128 + n * 32, 32);
                var scales = b.Slice(192 + n * 8, 8);
                for (int g = 0; g < 8; g++) scales[g] = (byte)(sbyte)(d > 0 ? Math.Clamp((int)MathF.Round(scale[n * 8 + g] / d), -128, 127) : 0);
                for (int k = 0; k < 128; k++)
                {
                    float step = d * (sbyte)scales[k / 16];
                    int q = (step != 0 ? Math.Clamp((int)MathF.Round(xs[n * 128 + k] / step), -32, 31) : 0) + 32;
                    int l = k % 32, quarter = k / 32;
                    var low = quarter is 0 or 2 ? l : l + 32;
                    ql[low] |= (byte)(quarter < 2 ? q & 0xF : (q & 0xF) << 4);
                    qh[l] |= (byte)((q >> 4) << (2 * quarter));
                }
            }
        }
    }
}
