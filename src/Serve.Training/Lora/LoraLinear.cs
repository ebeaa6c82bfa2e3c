using Serve.Training.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Serve.Training.Lora;

/// <summary>
/// y = x Wᵀ + scale · dropout(x) Aᵀ Bᵀ with W frozen (dense or NF4), A [rank, in] drawn like PEFT's default
/// (Kaiming-uniform, a = √5) and B [out, rank] zero, so a fresh adapter changes nothing. Without LoRA it is a plain
/// frozen projection. A frozen bias (llama, qwen2) is added to the base product. <see cref="Source"/> names the GGUF
/// tensor the base rows came from (a slice of it for phi3's fused attn_qkv and ffn_up), which is where the adapter goes.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    private readonly FrozenWeight _base;
    private readonly Parameter? lora_A;
    private readonly Parameter? lora_B;
    private readonly double _scale;
    private readonly double _dropout;
    private readonly Tensor? bias;

    public LoraLinear(string name, FrozenWeight baseWeight, LoraOptions? lora, Generator? init, Tensor? bias = null, TensorSlice? source = null) : base(name)
    {
        _base = baseWeight;
        this.bias = bias;
        Source = source ?? new TensorSlice(name, 0, baseWeight.OutFeatures);
        if (bias is not null && bias.shape[0] != baseWeight.OutFeatures)
            throw new InvalidDataException($"bias of {Source.Tensor} has {bias.shape[0]} values for {baseWeight.OutFeatures} outputs");
        if (lora is not null)
        {
            var bound = 1.0 / Math.Sqrt(baseWeight.InFeatures); // kaiming_uniform(a=√5): gain √(2/6) · √3 / √fan_in
            lora_A = new Parameter(rand([lora.Rank, baseWeight.InFeatures], generator: init, device: baseWeight.Device) * (2 * bound) - bound);
            lora_B = new Parameter(zeros([baseWeight.OutFeatures, lora.Rank], device: baseWeight.Device));
            _scale = lora.Scale;
            _dropout = lora.Dropout;
        }
        RegisterComponents();
    }

    public FrozenWeight Base => _base;
    public Tensor? Bias => bias;
    public TensorSlice Source { get; }
    public bool HasLora => lora_A is not null;
    public Parameter A => lora_A ?? throw new InvalidOperationException($"{GetName()} has no LoRA");
    public Parameter B => lora_B ?? throw new InvalidOperationException($"{GetName()} has no LoRA");
    public double Scale => _scale;

    public override Tensor forward(Tensor x)
    {
        if (lora_A is null || lora_B is null)
        {
            if (bias is null) return _base.Project(x);
            using var plain = NewDisposeScope();
            return _base.Project(x).add_(bias).MoveToOuterDisposeScope();
        }
        using var scope = NewDisposeScope();
        var shape = x.shape;
        var flat = x.reshape(-1, shape[^1]);
        var y = _base.Project(flat);
        if (bias is not null) y = y + bias;
        var input = _dropout > 0 && training ? nn.functional.dropout(flat, _dropout, training: true) : flat;
        // Scale the thin [tokens, rank] product, and let the second GEMM accumulate into y: no full-size extra passes.
        var low = input.matmul(lora_A.t()).mul_(_scale);
        var output = addmm(y, low, lora_B.t(), beta: 1, alpha: 1);
        return output.view([.. shape[..^1], output.shape[1]]).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _base.Dispose();
        base.Dispose(disposing);
    }
}
