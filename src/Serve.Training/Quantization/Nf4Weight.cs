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

    private Nf4Weight(long outFeatures, long inFeatures, long blocks, Tensor codes, Tensor? absmax, Tensor? absmaxCodes, Tensor? absmaxScales, float absmaxMean, Device device)
    {
        _out = outFeatures;
        _in = inFeatures;
        _blocks = blocks;
        _codes = codes;
        _absmax = absmax;
        _absmaxCodes = absmaxCodes;
        _absmaxScales = absmaxScales;
        _absmaxMean = absmaxMean;
        var table = new float[512];
        for (var b = 0; b < 256; b++)
        {
            table[2 * b] = Levels[b >> 4];
            table[2 * b + 1] = Levels[b & 15];
        }
        _pairTable = tensor(table, [256, 2], device: device);
        Device = device;
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
    public static Nf4Weight Quantize(ReadOnlySpan<float> values, long outFeatures, long inFeatures, bool doubleQuant, Device? device = null)
    {
        device ??= CPU;
        var count = outFeatures * inFeatures;
        if (values.Length != count) throw new ArgumentException($"expected {count} values, got {values.Length}", nameof(values));
        var blocks = (count + BlockSize - 1) / BlockSize;
        var codes = new byte[blocks * BlockSize / 2];
        var absmax = new float[blocks];
        Span<float> midpoints = stackalloc float[15];
        for (var i = 0; i < 15; i++) midpoints[i] = (Levels[i] + Levels[i + 1]) / 2;

        for (long b = 0; b < blocks; b++)
        {
            var start = (int)(b * BlockSize);
            var length = (int)Math.Min(BlockSize, count - start);
            var block = values.Slice(start, length);
            var max = 0f;
            foreach (var v in block) max = Math.Max(max, Math.Abs(v));
            absmax[b] = max;
            var inv = max > 0 ? 1f / max : 0f;
            for (var j = 0; j < BlockSize; j++)
            {
                var x = j < length ? block[j] * inv : 0f;
                var code = 0;
                while (code < 15 && x > midpoints[code]) code++;
                var at = start + j;
                if ((at & 1) == 0) codes[at / 2] = (byte)(code << 4);
                else codes[at / 2] |= (byte)code;
            }
        }

        var codesTensor = tensor(codes, [codes.Length], device: device);
        if (!doubleQuant)
            return new Nf4Weight(outFeatures, inFeatures, blocks, codesTensor, tensor(absmax, [blocks], device: device), null, null, 0, device);

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
            tensor(absCodes, [blocks], device: device), tensor(scales, [groups], device: device), mean, device);
    }

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

    public override Tensor Dense()
    {
        using var scope = NewDisposeScope();
        var pairs = _pairTable.index_select(0, _codes.to(ScalarType.Int64));
        var blocks = pairs.view(_blocks, BlockSize) * Absmax().unsqueeze(1);
        return blocks.view(-1).narrow(0, 0, _out * _in).view(_out, _in).MoveToOuterDisposeScope();
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
