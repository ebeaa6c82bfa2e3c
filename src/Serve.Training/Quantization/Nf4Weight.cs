using System.Buffers;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Quantization;

/// <summary>
/// A frozen base matrix in 4-bit NormalFloat (QLoRA): blocks of 64 values share one absmax; each value is the index
/// of the nearest of 16 levels placed at normal quantiles. With double quantisation the per-block absmax values are
/// themselves stored as 8-bit codes (groups of 256, one float scale each, around their mean): about 4.13 bits a weight.
/// Dequantised on the fly, one matrix at a time.
/// </summary>
public sealed class Nf4Weight : FrozenWeight
{
    public const int BlockSize = 64;
    public const int AbsmaxGroupSize = 256;

    /// <summary>The NF4 levels of the QLoRA paper (Dettmers et al. 2023): quantiles of N(0, 1) scaled to [-1, 1], exact zero.</summary>
    public static readonly float[] Levels =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
        0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    private readonly Tensor _codes;          // uint8 [blocks * 32]: two 4-bit level indices a byte, first in the high nibble
    private readonly Tensor? _absmax;        // float32 [blocks] without double quantisation
    private readonly Tensor? _absmaxCodes;   // int8 [blocks] with it
    private readonly Tensor? _absmaxScales;  // float32 [groups]
    private readonly float _absmaxMean;
    private readonly Tensor _pairTable;      // float32 [256, 2]: the two values each code byte stands for
    private readonly long _out, _in, _blocks;
    private readonly DequantizationBuffer? _buffer;

    private static readonly float[] PairTable = BuildPairTable();

    private Nf4Weight(long outFeatures, long inFeatures, long blocks, Tensor codes, Tensor? absmax, Tensor? absmaxCodes, Tensor? absmaxScales, float absmaxMean, Device device, DequantizationBuffer? buffer)
    {
        _out = outFeatures;
        _in = inFeatures;
        _blocks = blocks;
        _codes = codes;
        _absmax = absmax;
        _absmaxCodes = absmaxCodes;
        _absmaxScales = absmaxScales;
        _absmaxMean = absmaxMean;
        _pairTable = tensor(PairTable, [256, 2], device: device);
        _buffer = buffer;
        Device = device;
    }

    private static float[] BuildPairTable()
    {
        var table = new float[512];
        for (var b = 0; b < 256; b++)
        {
            table[2 * b] = Levels[b >> 4];
            table[2 * b + 1] = Levels[b & 15];
        }
        return table;
    }

    public override long OutFeatures => _out;
    public override long InFeatures => _in;
    public override Device Device { get; }
    public override bool IsQuantized => true;
    public bool DoubleQuantized => _absmaxCodes is not null;

    public override long StorageBytes =>
        _codes.NumberOfElements + (_absmax?.NumberOfElements * 4 ?? 0) + (_absmaxCodes?.NumberOfElements ?? 0)
        + (_absmaxScales?.NumberOfElements * 4 ?? 0) + 4;

    /// <summary>Quantises a row-major [out, in] float32 matrix.</summary>
    public static Nf4Weight Quantize(ReadOnlySpan<float> values, long outFeatures, long inFeatures, bool doubleQuant, Device? device = null, DequantizationBuffer? buffer = null)
    {
        var count = outFeatures * inFeatures;
        if (values.Length != count) throw new ArgumentException($"expected {count} values, got {values.Length}", nameof(values));
        unsafe
        {
            fixed (float* p = values)
            {
                var at = (IntPtr)p;
                return Quantize(outFeatures, inFeatures, doubleQuant,
                    (start, chunk) => new ReadOnlySpan<float>((float*)at + start, chunk.Length).CopyTo(chunk), device, buffer);
            }
        }
    }

    /// <summary>
    /// Quantises a row-major [out, in] float32 matrix read in chunks: <paramref name="read"/>(start, chunk) fills
    /// chunk with the values from element start on. Only one chunk of floats exists at a time, so loading a base
    /// never holds a float32 copy of its largest matrix (the token embedding, for a large vocabulary).
    /// </summary>
    /// <param name="buffer">Where <see cref="FrozenWeight.Project"/> dequantises (shared by a model's matrices); null: a fresh tensor each time.</param>
    public static Nf4Weight Quantize(long outFeatures, long inFeatures, bool doubleQuant, ReadChunk read, Device? device = null, DequantizationBuffer? buffer = null)
    {
        ArgumentNullException.ThrowIfNull(read);
        device ??= CPU;
        var count = outFeatures * inFeatures;
        var blocks = (count + BlockSize - 1) / BlockSize;
        using var codesCpu = zeros([blocks * BlockSize / 2], ScalarType.Byte);
        var codes = codesCpu.bytes;
        var absmax = new float[blocks];
        Span<float> midpoints = stackalloc float[15];
        for (var i = 0; i < 15; i++) midpoints[i] = (Levels[i] + Levels[i + 1]) / 2;

        const int chunkBlocks = 1024;
        var chunk = new float[chunkBlocks * BlockSize];
        for (long first = 0; first < blocks; first += chunkBlocks)
        {
            var chunkStart = first * BlockSize;
            var chunkLength = (int)Math.Min(chunk.Length, count - chunkStart);
            read(chunkStart, chunk.AsSpan(0, chunkLength));
            for (var b = first; b < Math.Min(blocks, first + chunkBlocks); b++)
            {
                var offset = (int)((b - first) * BlockSize);
                var length = Math.Min(BlockSize, chunkLength - offset);
                var block = chunk.AsSpan(offset, length);
                var max = 0f;
                foreach (var v in block) max = Math.Max(max, Math.Abs(v));
                absmax[b] = max;
                var inv = max > 0 ? 1f / max : 0f;
                for (var j = 0; j < BlockSize; j++)
                {
                    var x = j < length ? block[j] * inv : 0f; // padding past the end of the matrix codes 0.0
                    var code = 0;
                    while (code < 15 && x > midpoints[code]) code++;
                    var at = b * BlockSize + j;
                    if ((at & 1) == 0) codes[(int)(at / 2)] = (byte)(code << 4);
                    else codes[(int)(at / 2)] |= (byte)code;
                }
            }
        }

        var codesTensor = device.type == DeviceType.CPU ? codesCpu.alias().DetachFromDisposeScope() : codesCpu.to(device).DetachFromDisposeScope();
        if (!doubleQuant)
            return new Nf4Weight(outFeatures, inFeatures, blocks, codesTensor, tensor(absmax, [blocks], device: device), null, null, 0, device, buffer);

        // Second level: absmax values minus their mean, symmetric 8-bit codes per group of 256.
        var mean = (float)absmax.Average(v => (double)v);
        var groups = (blocks + AbsmaxGroupSize - 1) / AbsmaxGroupSize;
        var scales = new float[groups];
        var absCodes = new sbyte[blocks];
        for (long g = 0; g < groups; g++)
        {
            var from = g * AbsmaxGroupSize;
            var to = Math.Min(blocks, from + AbsmaxGroupSize);
            var m = 0f;
            for (var i = from; i < to; i++) m = Math.Max(m, Math.Abs(absmax[i] - mean));
            scales[g] = m / 127f;
            var inv = m > 0 ? 127f / m : 0f;
            for (var i = from; i < to; i++) absCodes[i] = (sbyte)Math.Clamp(MathF.Round((absmax[i] - mean) * inv), -127, 127);
        }
        return new Nf4Weight(outFeatures, inFeatures, blocks, codesTensor, null,
            tensor(absCodes, [blocks], device: device), tensor(scales, [groups], device: device), mean, device, buffer);
    }

    /// <summary>Fills chunk with the matrix's values from element start on (row-major).</summary>
    public delegate void ReadChunk(long start, Span<float> chunk);

    /// <summary>The per-block scales as float32 [blocks].</summary>
    public Tensor Absmax()
    {
        if (_absmax is not null) return _absmax.clone();
        using var scope = NewDisposeScope();
        var groups = _absmaxScales!.shape[0];
        var padded = groups * AbsmaxGroupSize;
        var codes = _absmaxCodes!.to(ScalarType.Float32);
        if (padded != _blocks) codes = nn.functional.pad(codes, [0, padded - _blocks]);
        var values = codes.view(groups, AbsmaxGroupSize) * _absmaxScales.unsqueeze(1) + _absmaxMean;
        return values.view(-1).narrow(0, 0, _blocks).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The dequantisation with tensor ops (a table lookup per code byte, times the block's absmax): what runs on a
    /// non-CPU device, and the reference the CPU path is tested against.
    /// </summary>
    public Tensor DenseReference()
    {
        using var scope = NewDisposeScope();
        var pairs = _pairTable.index_select(0, _codes.to(ScalarType.Int64));
        var blocks = pairs.view(_blocks, BlockSize) * Absmax().unsqueeze(1);
        return blocks.view(-1).narrow(0, 0, _out * _in).view(_out, _in).MoveToOuterDisposeScope();
    }

    /// <summary>A fresh float32 [out, in] copy of the weight, owned by the caller.</summary>
    public override Tensor Dense()
    {
        if (Device.type != DeviceType.CPU) return DenseReference();
        var dense = empty([_out, _in], ScalarType.Float32);
        DequantizeInto(dense);
        return dense;
    }

    internal override Tensor DenseForMatmul()
    {
        if (_buffer is null || Device.type != DeviceType.CPU) return Dense();
        var view = _buffer.Rent(_out, _in);
        DequantizeInto(view);
        return view;
    }

    public override Tensor Rows(Tensor indices)
    {
        if (Device.type != DeviceType.CPU)
        {
            using var dense = DenseReference();
            return dense.index_select(0, indices);
        }
        long[] rows;
        using (var flat = indices.to(ScalarType.Int64).contiguous()) rows = flat.data<long>().ToArray();
        var result = empty([rows.Length, _in], ScalarType.Float32);
        var absmax = AbsmaxValues();
        try
        {
            var codes = (ReadOnlySpan<byte>)_codes.bytes;
            var output = MemoryMarshal.Cast<byte, float>(result.bytes);
            for (var i = 0; i < rows.Length; i++)
            {
                var row = rows[i];
                if (row < 0 || row >= _out) throw new ArgumentOutOfRangeException(nameof(indices), $"row {row} is outside [0, {_out})");
                DequantizeRange(codes, absmax, row * _in, output.Slice((int)(i * _in), (int)_in));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(absmax);
        }
        return result;
    }

    /// <summary>Dequantises into a contiguous float32 CPU tensor of [out, in] elements, without temporaries.</summary>
    private void DequantizeInto(Tensor destination)
    {
        var output = MemoryMarshal.Cast<byte, float>(destination.bytes);
        var absmax = AbsmaxValues();
        try
        {
            var codes = _codes.bytes;
            // Whole blocks per chunk; two chunks in parallel on two cores (the matmul that follows is idle meanwhile).
            const int chunkBlocks = 4096;
            var count = _out * _in;
            var chunks = (int)((count + chunkBlocks * BlockSize - 1) / (chunkBlocks * BlockSize));
            unsafe
            {
                fixed (byte* c = codes)
                fixed (float* o = output)
                {
                    var (codesAt, outAt, codeLength) = ((IntPtr)c, (IntPtr)o, codes.Length);
                    Parallel.For(0, chunks, k =>
                    {
                        var start = (long)k * chunkBlocks * BlockSize;
                        var length = (int)Math.Min(chunkBlocks * BlockSize, count - start);
                        DequantizeRange(new ReadOnlySpan<byte>((byte*)codesAt, codeLength), absmax, start, new Span<float>((float*)outAt + start, length));
                    });
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(absmax);
        }
    }

    /// <summary>Elements [start, start + destination.Length) of the row-major matrix.</summary>
    private static void DequantizeRange(ReadOnlySpan<byte> codes, float[] absmax, long start, Span<float> destination)
    {
        var pairs = PairTable;
        var e = start;
        var i = 0;
        var n = destination.Length;
        if ((e & 1) == 1 && n > 0)
        {
            destination[i++] = Levels[codes[(int)(e >> 1)] & 15] * absmax[e / BlockSize];
            e++;
        }
        while (n - i >= 2)
        {
            // From e (even) to the end of its block or of the range, one code byte per pair of values.
            var scale = absmax[e / BlockSize];
            var blockEnd = (e / BlockSize + 1) * BlockSize;
            var count = (int)Math.Min((blockEnd - e) / 2, (n - i) / 2);
            var bytes = codes.Slice((int)(e >> 1), count);
            var target = destination.Slice(i, 2 * count);
            for (var j = 0; j < bytes.Length; j++)
            {
                var b = bytes[j] * 2;
                target[2 * j] = pairs[b] * scale;
                target[2 * j + 1] = pairs[b + 1] * scale;
            }
            i += 2 * count;
            e += 2 * count;
        }
        if (i < n) destination[i] = Levels[codes[(int)(e >> 1)] >> 4] * absmax[e / BlockSize];
    }

    /// <summary>The per-block scales as floats in a pooled array (at least [blocks] long), computed as <see cref="Absmax"/> does.</summary>
    private float[] AbsmaxValues()
    {
        var values = ArrayPool<float>.Shared.Rent((int)_blocks);
        if (_absmax is not null)
        {
            MemoryMarshal.Cast<byte, float>(_absmax.bytes).CopyTo(values);
            return values;
        }
        var codes = MemoryMarshal.Cast<byte, sbyte>(_absmaxCodes!.bytes);
        var scales = MemoryMarshal.Cast<byte, float>(_absmaxScales!.bytes);
        for (var b = 0; b < _blocks; b++) values[b] = codes[b] * scales[b / AbsmaxGroupSize] + _absmaxMean;
        return values;
    }

    public override void Dispose()
    {
        _codes.Dispose();
        _absmax?.Dispose();
        _absmaxCodes?.Dispose();
        _absmaxScales?.Dispose();
        _pairTable.Dispose();
    }
}
