using System.Runtime.InteropServices;
using Serve.Gguf;
using Serve.Training.Lora;
using Serve.Training.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>
/// A llama-family causal LM (llama, qwen2, qwen3, phi3, gemma2, gemma3) in TorchSharp whose frozen weights come
/// straight from a GGUF file (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K and the other types Serve.Gguf dequantises), in
/// llama.cpp's layout, computed as llama.cpp computes it, so its logits match llama.cpp's for the same file. Only LoRA
/// factors are trainable. phi3's fused attn_qkv and ffn_up are split into q/k/v and gate/up rows at load.
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>
{
    private readonly FrozenWeight _tokenEmbedding;
    private readonly FrozenWeight _output;
    private readonly ModuleList<LlamaDecoderLayer> layers;
    private readonly RmsNorm norm;
    private readonly RotaryEmbedding _rope;
    private readonly RotaryEmbedding? _slidingRope;
    private readonly Tensor? _outputBias;
    private readonly AttentionInputs _attentionInputs;

    private readonly DequantizationBuffer? _dequantization;

    private LlamaForCausalLM(LlamaConfig config, FrozenWeight tokenEmbedding, FrozenWeight output, IList<LlamaDecoderLayer> blocks, RmsNorm outputNorm,
        RotaryEmbedding rope, RotaryEmbedding? slidingRope, Tensor? outputBias, AttentionInputs attentionInputs, Device device, DequantizationBuffer? dequantization)
        : base("model")
    {
        _dequantization = dequantization;
        _slidingRope = slidingRope;
        _outputBias = outputBias;
        _attentionInputs = attentionInputs;
        Config = config;
        _tokenEmbedding = tokenEmbedding;
        _output = output;
        layers = new ModuleList<LlamaDecoderLayer>([.. blocks]);
        norm = outputNorm;
        _rope = rope;
        Device = device;
        RegisterComponents();
    }

    public LlamaConfig Config { get; }
    public Device Device { get; }
    public IReadOnlyList<LlamaDecoderLayer> Layers => [.. layers];

    /// <summary>Bytes held by the frozen base (norms included).</summary>
    public long BaseStorageBytes =>
        AllLinears().Sum(l => l.Linear.Base.StorageBytes) + _tokenEmbedding.StorageBytes
        + (ReferenceEquals(_output, _tokenEmbedding) ? 0 : _output.StorageBytes)
        + buffers().Sum(b => b.NumberOfElements * b.ElementSize);

    /// <summary>Every projection with its layer and target name, in a fixed order (layer, then q,k,v,o,gate,up,down).</summary>
    public IEnumerable<(int Layer, string Target, LoraLinear Linear)> AllLinears() =>
        layers.SelectMany(l => l.Projections.Select(p => (l.Index, p.Target, p.Linear)));

    /// <summary>The adapted projections in the fixed order above.</summary>
    public IReadOnlyList<(int Layer, string Target, LoraLinear Linear)> LoraLinears() => [.. AllLinears().Where(p => p.Linear.HasLora)];

    /// <summary>A then B of every adapted projection, in <see cref="LoraLinears"/> order.</summary>
    public IReadOnlyList<Parameter> LoraParameters() => [.. LoraLinears().SelectMany(p => new[] { p.Linear.A, p.Linear.B })];

    /// <summary>
    /// Every base weight under its GGUF tensor name, as the stored float32 tensor ([out, in] for matrices, the same
    /// bytes as ggml's [in, out]): what full-parameter training updates and what it writes back. Dense bases only.
    /// </summary>
    public IReadOnlyList<(string Name, Tensor Weight)> BaseTensors()
    {
        static Tensor DenseOf(FrozenWeight w, string name) => w.IsQuantized
            ? throw new InvalidOperationException($"'{name}' is quantised; base training needs a dense (unquantised) load")
            : w.Dense();
        if (Config.Architecture != "llama" || layers.Any(l => l.HasExtras))
            throw new NotSupportedException($"base-model training covers plain llama models; this {Config.Architecture} model has tensors it does not update");
        var result = new List<(string, Tensor)> { ("token_embd.weight", DenseOf(_tokenEmbedding, "token_embd.weight")) };
        result.Add(("output_norm.weight", norm.Weight));
        if (!ReferenceEquals(_output, _tokenEmbedding)) result.Add(("output.weight", DenseOf(_output, "output.weight")));
        foreach (var layer in layers)
        {
            result.Add(($"blk.{layer.Index}.attn_norm.weight", layer.AttentionNorm.Weight));
            result.Add(($"blk.{layer.Index}.ffn_norm.weight", layer.FeedForwardNorm.Weight));
            foreach (var (target, linear) in layer.Projections)
            {
                var name = $"blk.{layer.Index}.{LoraTarget.GgufName(target)}.weight";
                result.Add((name, DenseOf(linear.Base, name)));
            }
        }
        return result;
    }

    /// <summary>
    /// Recompute each layer's activations in backward instead of keeping them (training only): memory for one
    /// layer's activations instead of all, for about a third more compute.
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>input ids [batch, seq] (int64) to logits [batch, seq, vocab].</summary>
    public override Tensor forward(Tensor inputIds) => Forward(inputIds, null);

    /// <summary>
    /// input ids [batch, seq] to logits [batch, seq, vocab]; with <paramref name="segments"/> ([batch][seq] example
    /// number of each token) a row holds several packed examples: each restarts at RoPE position 0 and attends only
    /// to its own tokens, so its logits are those it would have alone.
    /// </summary>
    public Tensor Forward(Tensor inputIds, int[][]? segments)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        using var scope = NewDisposeScope();
        long b = inputIds.shape[0], t = inputIds.shape[1];
        if (segments is not null && (segments.Length != b || segments.Any(s => s.Length != t)))
            throw new ArgumentException($"segments must be [{b}][{t}]", nameof(segments));
        _attentionInputs.Set((int)b, (int)t, segments, Config.SlidingWindow, Device);
        // Only the looked-up rows: a quantised embedding is not dequantised whole.
        var h = _tokenEmbedding.Rows(inputIds.reshape(-1)).view(b, t, Config.EmbeddingLength);
        if (Config.ScaleEmbedding) h = h * MathF.Sqrt(Config.EmbeddingLength); // llama.cpp: ggml_scale by sqrtf(n_embd)
        var checkpoint = GradientCheckpointing && training && is_grad_enabled();
        // A checkpointed layer's output needs a gradient only if its input does; the frozen embedding's does not, so
        // without this no layer would be back-propagated (the input's gradient itself is small and thrown away).
        if (checkpoint) h = h.detach().requires_grad_(true);
        foreach (var layer in layers) h = checkpoint ? CheckpointedLayerFunction.apply(h, layer) : layer.forward(h);
        var logits = _output.Project(norm.forward(h));
        if (_outputBias is not null) logits = logits + _outputBias;
        if (Config.FinalSoftcap > 0) logits = logits.div(Config.FinalSoftcap).tanh().mul(Config.FinalSoftcap);
        return logits.MoveToOuterDisposeScope();
    }

    public static LlamaForCausalLM Load(string ggufPath, LlamaLoadOptions? options = null)
    {
        using var file = GgufFile.Read(ggufPath);
        return Load(file, options);
    }

    public static LlamaForCausalLM Load(GgufFile file, LlamaLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        options ??= new LlamaLoadOptions();
        options.Lora?.Validate();
        var config = LlamaConfig.FromGguf(file);
        var device = torch.device(options.Device);
        var init = new Generator((ulong)options.Seed);
        var targets = options.Lora?.Targets ?? [];

        // Quantised matrices dequantise into one buffer the model owns (one matrix at a time), and are quantised
        // from the file in chunks: loading never holds a float32 copy of a whole matrix.
        var dequantization = options.Quantization == BaseQuantization.None ? null : new DequantizationBuffer(device);
        // Rows [rowStart, rowStart + rows) of a matrix (all of it unless fused): its [out, in] float32 rows are contiguous.
        FrozenWeight Matrix(string name, long rowStart = 0, long rows = -1)
        {
            var info = file.GetTensor(name);
            if (info.Shape.Length != 2) throw new InvalidDataException($"tensor '{name}' is not a matrix");
            long inFeatures = info.Shape[0], outFeatures = rows < 0 ? info.Shape[1] : rows;
            if (rowStart + outFeatures > info.Shape[1]) throw new InvalidDataException($"tensor '{name}' has {info.Shape[1]} rows, not {rowStart + outFeatures}");
            var first = rowStart * inFeatures;
            if (options.Quantization == BaseQuantization.None)
            {
                var dense = empty([outFeatures, inFeatures], ScalarType.Float32);
                if (GgufTensorReader.ReadsRanges(info)) GgufTensorReader.ReadFloat32(file, info, first, MemoryMarshal.Cast<byte, float>(dense.bytes));
                else file.ReadTensorAsFloat32(info).AsSpan((int)first, (int)(outFeatures * inFeatures)).CopyTo(MemoryMarshal.Cast<byte, float>(dense.bytes));
                return new DenseWeight(device.type == DeviceType.CPU ? dense : dense.to(device));
            }
            Nf4Weight.ReadChunk read;
            if (GgufTensorReader.ReadsRanges(info))
            {
                read = (start, chunk) => GgufTensorReader.ReadFloat32(file, info, first + start, chunk);
            }
            else
            {
                var values = file.ReadTensorAsFloat32(info); // a ggml-quantised tensor decodes whole once
                read = (start, chunk) => values.AsSpan((int)(first + start), chunk.Length).CopyTo(chunk);
            }
            return Nf4Weight.Quantize(outFeatures, inFeatures, options.Quantization == BaseQuantization.Nf4DoubleQuant, read, device, dequantization);
        }

        Tensor? Vector(string name, long offset, long length)
        {
            if (!file.TryGetTensor(name, out var info)) return null;
            var values = file.ReadTensorAsFloat32(info);
            if (offset + length > values.Length) throw new InvalidDataException($"'{name}' has {values.Length} values, expected at least {offset + length}");
            return tensor(values.AsSpan((int)offset, (int)length).ToArray(), device: device);
        }

        RmsNorm Norm(string name, long length = 0)
        {
            length = length == 0 ? config.EmbeddingLength : length;
            var info = file.GetTensor(name);
            var values = file.ReadTensorAsFloat32(info);
            if (values.Length != length) throw new InvalidDataException($"norm '{name}' has {values.Length} values, expected {length}");
            return new RmsNorm(tensor(values, device: device), config.RmsNormEps);
        }

        LoraLinear Linear(int layer, string target, string gguf, long rowStart = 0, long rows = -1, bool bias = true)
        {
            var lora = targets.Contains(target) ? options.Lora : null;
            var name = $"blk.{layer}.{gguf}";
            var tensorRows = file.GetTensor(name + ".weight").Shape[1];
            var weight = Matrix(name + ".weight", rowStart, rows);
            var slice = new TensorSlice(name + ".weight", rowStart, weight.OutFeatures, tensorRows);
            var b = bias ? Vector(name + ".bias", rowStart, weight.OutFeatures) : null;
            return new LoraLinear(target, weight, lora, init, b, slice);
        }

        var positions = options.MaxPositions > 0 ? options.MaxPositions : config.ContextLength;
        float[]? ropeFactors = null;
        if (config.Architecture == "llama" && file.TryGetTensor("rope_freqs.weight", out var ropeFreqs)) ropeFactors = file.ReadTensorAsFloat32(ropeFreqs);
        var rope = new RotaryEmbedding(config.HeadDim, positions, config.RopeFreqBase, config.RopeMode, config.RopeFreqScale, ropeFactors);
        var slidingRope = config.SlidingWindow > 0 ? new RotaryEmbedding(config.HeadDim, positions, config.RopeFreqBaseSwa, config.RopeMode) : null;
        var attentionInputs = new AttentionInputs();
        var tokenEmbedding = Matrix("token_embd.weight");
        if (tokenEmbedding.OutFeatures != config.VocabSize || tokenEmbedding.InFeatures != config.EmbeddingLength)
            throw new InvalidDataException($"token_embd.weight is [{tokenEmbedding.InFeatures}, {tokenEmbedding.OutFeatures}], expected [{config.EmbeddingLength}, {config.VocabSize}]");
        var output = config.TiedEmbeddings ? tokenEmbedding : Matrix("output.weight");
        var outputBias = config.Architecture == "qwen2" ? Vector("output.bias", 0, config.VocabSize) : null;
        var llama = config.Architecture == "llama";
        long q = config.QueryLength, kv = config.KvLength, ff = config.FeedForwardLength;
        var blocks = new List<LlamaDecoderLayer>();
        for (var i = 0; i < config.BlockCount; i++)
        {
            var sliding = config.SlidingLayers.Count > i && config.SlidingLayers[i];
            LoraLinear wq, wk, wv;
            if (file.TryGetTensor($"blk.{i}.attn_qkv.weight", out _))
            {
                wq = Linear(i, "q", "attn_qkv", 0, q);
                wk = Linear(i, "k", "attn_qkv", q, kv);
                wv = Linear(i, "v", "attn_qkv", q + kv, kv);
            }
            else
            {
                wq = Linear(i, "q", "attn_q");
                wk = Linear(i, "k", "attn_k");
                wv = Linear(i, "v", "attn_v");
            }
            var qkNorms = config.QkNorm ? (Norm($"blk.{i}.attn_q_norm.weight", config.HeadDim), Norm($"blk.{i}.attn_k_norm.weight", config.HeadDim)) : ((RmsNorm, RmsNorm)?)null;
            var attention = new LlamaAttention(wq, wk, wv, Linear(i, "o", "attn_output", bias: llama), sliding ? slidingRope! : rope, config,
                attentionInputs, sliding, qkNorms?.Item1, qkNorms?.Item2);
            LlamaMlp mlp;
            if (file.TryGetTensor($"blk.{i}.ffn_gate.weight", out _))
                mlp = new LlamaMlp(Linear(i, "gate", "ffn_gate", bias: llama), Linear(i, "up", "ffn_up", bias: llama), Linear(i, "down", "ffn_down", bias: llama), config.GeluGate);
            else if (config.Architecture == "phi3")
                mlp = new LlamaMlp(Linear(i, "gate", "ffn_up", 0, ff, bias: false), Linear(i, "up", "ffn_up", ff, ff, bias: false), Linear(i, "down", "ffn_down", bias: false), config.GeluGate);
            else
                throw new InvalidDataException($"blk.{i}.ffn_gate.weight is missing");
            blocks.Add(new LlamaDecoderLayer(i, Norm($"blk.{i}.attn_norm.weight"), attention, Norm($"blk.{i}.ffn_norm.weight"), mlp,
                config.PostNorms ? Norm($"blk.{i}.post_attention_norm.weight") : null,
                config.PostNorms ? Norm($"blk.{i}.post_ffw_norm.weight") : null));
        }
        return new LlamaForCausalLM(config, tokenEmbedding, output, blocks, Norm("output_norm.weight"), rope, slidingRope, outputBias, attentionInputs, device, dequantization);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _tokenEmbedding.Dispose();
            if (!ReferenceEquals(_output, _tokenEmbedding)) _output.Dispose();
            _rope.Dispose();
            _slidingRope?.Dispose();
            _outputBias?.Dispose();
            _attentionInputs.Dispose();
            _dequantization?.Dispose();
        }
        base.Dispose(disposing);
    }
}
