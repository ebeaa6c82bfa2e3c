using Serve.Training.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>
/// Causal grouped-query self-attention as llama.cpp computes it for the llama family: query head h reads kv head
/// h / (heads / kvHeads); optional per-head q/k RMSNorm before RoPE (qwen3, gemma3), score soft-capping (gemma2) and a
/// sliding window (gemma). Biases live in the projections.
/// </summary>
public sealed class LlamaAttention : nn.Module<Tensor, Tensor>
{
    private readonly LoraLinear q_proj, k_proj, v_proj, o_proj;
    private readonly RmsNorm? q_norm, k_norm;
    private readonly RotaryEmbedding _rope;
    private readonly AttentionInputs _inputs;
    private readonly int _heads, _kvHeads, _headDim;
    private readonly double _scale, _softcap;
    private readonly bool _sliding;

    public LlamaAttention(LoraLinear q, LoraLinear k, LoraLinear v, LoraLinear o, RotaryEmbedding rope, LlamaConfig config,
        AttentionInputs inputs, bool sliding = false, RmsNorm? qNorm = null, RmsNorm? kNorm = null) : base("self_attn")
    {
        q_proj = q;
        k_proj = k;
        v_proj = v;
        o_proj = o;
        q_norm = qNorm;
        k_norm = kNorm;
        _rope = rope;
        _inputs = inputs;
        _heads = config.HeadCount;
        _kvHeads = config.HeadCountKv;
        _headDim = config.HeadDim;
        _scale = config.AttentionScale;
        _softcap = config.AttentionSoftcap;
        _sliding = sliding;
        RegisterComponents();
    }

    public IEnumerable<(string Target, LoraLinear Linear)> Projections =>
        [("q", q_proj), ("k", k_proj), ("v", v_proj), ("o", o_proj)];

    /// <summary>The q and k norms (qwen3, gemma3), null elsewhere.</summary>
    public (RmsNorm Q, RmsNorm K)? QkNorms => q_norm is null || k_norm is null ? null : (q_norm, k_norm);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = q_proj.forward(x).view(b, t, _heads, _headDim);
        var k = k_proj.forward(x).view(b, t, _kvHeads, _headDim);
        if (q_norm is not null) q = q_norm.forward(q);
        if (k_norm is not null) k = k_norm.forward(k);
        q = _rope.Apply(q, _inputs.Positions).transpose(1, 2);
        k = _rope.Apply(k, _inputs.Positions).transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        if (_kvHeads != _heads)
        {
            var groups = _heads / _kvHeads;
            k = k.repeat_interleave(groups, dim: 1);
            v = v.repeat_interleave(groups, dim: 1);
        }
        var mask = _sliding ? _inputs.SlidingMask : _inputs.FullMask;
        Tensor attended;
        if (mask is null && _softcap == 0 && Math.Abs(_scale * Math.Sqrt(_headDim) - 1) < 1e-6)
        {
            attended = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true);
        }
        else
        {
            var scores = q.matmul(k.transpose(-2, -1)).mul_(_scale);
            if (_softcap > 0) scores = scores.div(_softcap).tanh().mul(_softcap);
            mask ??= ones([t, t], ScalarType.Bool, device: x.device).tril();
            scores = scores.masked_fill(mask.logical_not(), double.NegativeInfinity);
            attended = scores.softmax(-1).matmul(v);
        }
        var merged = attended.transpose(1, 2).contiguous().view(b, t, _heads * _headDim);
        return o_proj.forward(merged).MoveToOuterDisposeScope();
    }
}
