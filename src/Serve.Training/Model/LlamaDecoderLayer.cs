using Serve.Training.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>
/// Pre-norm transformer block: h = x + post(attn(norm(x))); out = h + post(mlp(norm(h))), where post is gemma's extra
/// RMSNorm (post_attention_norm, post_ffw_norm) and the identity elsewhere.
/// </summary>
public sealed class LlamaDecoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly RmsNorm input_layernorm, post_attention_layernorm;
    private readonly RmsNorm? post_self_attn_layernorm, post_feedforward_layernorm;
    private readonly LlamaAttention self_attn;
    private readonly LlamaMlp mlp;

    public LlamaDecoderLayer(int index, RmsNorm attnNorm, LlamaAttention attention, RmsNorm ffnNorm, LlamaMlp mlp,
        RmsNorm? postAttentionNorm = null, RmsNorm? postFeedForwardNorm = null) : base($"layers.{index}")
    {
        Index = index;
        input_layernorm = attnNorm;
        self_attn = attention;
        post_attention_layernorm = ffnNorm;
        this.mlp = mlp;
        post_self_attn_layernorm = postAttentionNorm;
        post_feedforward_layernorm = postFeedForwardNorm;
        RegisterComponents();
    }

    public int Index { get; }

    public RmsNorm AttentionNorm => input_layernorm;
    public RmsNorm FeedForwardNorm => post_attention_layernorm;

    /// <summary>Whether the layer has norms or tensors beyond llama's two norms and seven matrices.</summary>
    public bool HasExtras => post_self_attn_layernorm is not null || post_feedforward_layernorm is not null || self_attn.QkNorms is not null
        || Projections.Any(p => p.Linear.Bias is not null || p.Linear.Source.IsFused);

    public IEnumerable<(string Target, LoraLinear Linear)> Projections => self_attn.Projections.Concat(mlp.Projections);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var attended = self_attn.forward(input_layernorm.forward(x));
        if (post_self_attn_layernorm is not null) attended = post_self_attn_layernorm.forward(attended);
        var h = x + attended;
        var fed = mlp.forward(post_attention_layernorm.forward(h));
        if (post_feedforward_layernorm is not null) fed = post_feedforward_layernorm.forward(fed);
        return (h + fed).MoveToOuterDisposeScope();
    }
}
