using Serve.Training.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>Causal grouped-query self-attention with llama.cpp's RoPE; query head h reads kv head h / (heads / kvHeads).</summary>
public sealed class LlamaAttention : nn.Module<Tensor, Tensor>
{
    private readonly LoraLinear q_proj, k_proj, v_proj, o_proj;
    private readonly RotaryEmbedding _rope;
    private readonly int _heads, _kvHeads, _headDim;

    public LlamaAttention(LoraLinear q, LoraLinear k, LoraLinear v, LoraLinear o, RotaryEmbedding rope, LlamaConfig config) : base("self_attn")
    {
        q_proj = q;
        k_proj = k;
        v_proj = v;
        o_proj = o;
        _rope = rope;
        _heads = config.HeadCount;
        _kvHeads = config.HeadCountKv;
        _headDim = config.HeadDim;
        RegisterComponents();
    }

    public IEnumerable<(string Target, LoraLinear Linear)> Projections =>
        [("q", q_proj), ("k", k_proj), ("v", v_proj), ("o", o_proj)];

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = _rope.Apply(q_proj.forward(x).view(b, t, _heads, _headDim)).transpose(1, 2);
        var k = _rope.Apply(k_proj.forward(x).view(b, t, _kvHeads, _headDim)).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        if (_kvHeads != _heads)
        {
            var groups = _heads / _kvHeads;
            k = k.repeat_interleave(groups, dim: 1);
            v = v.repeat_interleave(groups, dim: 1);
        }
        var attended = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true);
        var merged = attended.transpose(1, 2).contiguous().view(b, t, _heads * _headDim);
        return o_proj.forward(merged).MoveToOuterDisposeScope();
    }
}
