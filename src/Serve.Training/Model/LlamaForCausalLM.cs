using Serve.Gguf;
using Serve.Training.Lora;
using Serve.Training.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>
/// A llama-architecture causal LM in TorchSharp whose frozen weights come straight from a GGUF file (F32, F16,
/// BF16, Q8_0, Q4_0 and the other types Serve.Gguf dequantises), in llama.cpp's layout, so its logits match
/// llama.cpp's for the same file. Only LoRA factors are trainable.
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>
{
    private readonly FrozenWeight _tokenEmbedding;
    private readonly FrozenWeight _output;
    private readonly ModuleList<LlamaDecoderLayer> layers;
    private readonly RmsNorm norm;
    private readonly RotaryEmbedding _rope;

    private readonly DequantizationBuffer? _dequantization;

    private LlamaForCausalLM(LlamaConfig config, FrozenWeight tokenEmbedding, FrozenWeight output, IList<LlamaDecoderLayer> blocks, RmsNorm outputNorm, RotaryEmbedding rope, Device device, DequantizationBuffer? dequantization)
        : base("model")
    {
        _dequantization = dequantization;
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
    public override Tensor forward(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        long b = inputIds.shape[0], t = inputIds.shape[1];
        // Only the looked-up rows: a quantised embedding is not dequantised whole.
        var h = _tokenEmbedding.Rows(inputIds.reshape(-1)).view(b, t, Config.EmbeddingLength);
        var checkpoint = GradientCheckpointing && training && is_grad_enabled();
        // A checkpointed layer's output needs a gradient only if its input does; the frozen embedding's does not, so
        // without this no layer would be back-propagated (the input's gradient itself is small and thrown away).
        if (checkpoint) h = h.detach().requires_grad_(true);
        foreach (var layer in layers) h = checkpoint ? CheckpointedLayerFunction.apply(h, layer) : layer.forward(h);
        return _output.Project(norm.forward(h)).MoveToOuterDisposeScope();
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
        FrozenWeight Matrix(string name)
        {
            var info = file.GetTensor(name);
            if (info.Shape.Length != 2) throw new InvalidDataException($"tensor '{name}' is not a matrix");
            long inFeatures = info.Shape[0], outFeatures = info.Shape[1];
            if (options.Quantization == BaseQuantization.None)
            {
                var dense = empty([outFeatures, inFeatures], ScalarType.Float32);
                GgufTensorReader.ReadFloat32(file, info, dense);
                return new DenseWeight(device.type == DeviceType.CPU ? dense : dense.to(device));
            }
            Nf4Weight.ReadChunk read;
            if (GgufTensorReader.ReadsRanges(info))
            {
                read = (start, chunk) => GgufTensorReader.ReadFloat32(file, info, start, chunk);
            }
            else
            {
                var values = file.ReadTensorAsFloat32(info); // a ggml-quantised tensor decodes whole once
                read = (start, chunk) => values.AsSpan((int)start, chunk.Length).CopyTo(chunk);
            }
            return Nf4Weight.Quantize(outFeatures, inFeatures, options.Quantization == BaseQuantization.Nf4DoubleQuant, read, device, dequantization);
        }

        RmsNorm Norm(string name)
        {
            var info = file.GetTensor(name);
            var values = file.ReadTensorAsFloat32(info);
            if (values.Length != config.EmbeddingLength) throw new InvalidDataException($"norm '{name}' has {values.Length} values, expected {config.EmbeddingLength}");
            return new RmsNorm(tensor(values, device: device), config.RmsNormEps);
        }

        LoraLinear Linear(int layer, string target)
        {
            var lora = targets.Contains(target) ? options.Lora : null;
            return new LoraLinear(target, Matrix($"blk.{layer}.{LoraTarget.GgufName(target)}.weight"), lora, init);
        }

        var positions = options.MaxPositions > 0 ? options.MaxPositions : config.ContextLength;
        var rope = new RotaryEmbedding(config.HeadDim, positions, config.RopeFreqBase);
        var tokenEmbedding = Matrix("token_embd.weight");
        if (tokenEmbedding.OutFeatures != config.VocabSize || tokenEmbedding.InFeatures != config.EmbeddingLength)
            throw new InvalidDataException($"token_embd.weight is [{tokenEmbedding.InFeatures}, {tokenEmbedding.OutFeatures}], expected [{config.EmbeddingLength}, {config.VocabSize}]");
        var output = config.TiedEmbeddings ? tokenEmbedding : Matrix("output.weight");
        var blocks = new List<LlamaDecoderLayer>();
        for (var i = 0; i < config.BlockCount; i++)
        {
            var attention = new LlamaAttention(Linear(i, "q"), Linear(i, "k"), Linear(i, "v"), Linear(i, "o"), rope, config);
            var mlp = new LlamaMlp(Linear(i, "gate"), Linear(i, "up"), Linear(i, "down"));
            blocks.Add(new LlamaDecoderLayer(i, Norm($"blk.{i}.attn_norm.weight"), attention, Norm($"blk.{i}.ffn_norm.weight"), mlp));
        }
        return new LlamaForCausalLM(config, tokenEmbedding, output, blocks, Norm("output_norm.weight"), rope, device, dequantization);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _tokenEmbedding.Dispose();
            if (!ReferenceEquals(_output, _tokenEmbedding)) _output.Dispose();
            _rope.Dispose();
            _dequantization?.Dispose();
        }
        base.Dispose(disposing);
    }
}
