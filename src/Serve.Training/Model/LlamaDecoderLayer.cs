using Serve.Training.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>Pre-norm transformer block: h = x + attn(norm(x)); out = h + mlp(norm(h)).</summary>
public sealed class LlamaDecoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly RmsNorm input_layernorm, post_attention_layernorm;
    private readonly LlamaAttention self_attn;
    private readonly LlamaMlp mlp;

    public LlamaDecoderLayer(int index, RmsNorm attnNorm, LlamaAttention attention, RmsNorm ffnNorm, LlamaMlp mlp) : base($"layers.{index}")
    {
        Index = index;
        input_layernorm = attnNorm;
        self_attn = attention;
        post_attention_layernorm = ffnNorm;
        this.mlp = mlp;
        RegisterComponents();
    }

    public int Index { get; }

    public RmsNorm AttentionNorm => input_layernorm;
    public RmsNorm FeedForwardNorm => post_attention_layernorm;

    public IEnumerable<(string Target, LoraLinear Linear)> Projections => self_attn.Projections.Concat(mlp.Projections);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x + self_attn.forward(input_layernorm.forward(x));
        return (h + mlp.forward(post_attention_layernorm.forward(h))).MoveToOuterDisposeScope();
    }
}
