using Serve.Training.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>Gated feed-forward: down(act(gate(x)) · up(x)), act SiLU (SwiGLU) or tanh-GELU (gemma's GeGLU).</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly LoraLinear gate_proj, up_proj, down_proj;
    private readonly bool _gelu;

    public LlamaMlp(LoraLinear gate, LoraLinear up, LoraLinear down, bool gelu = false) : base("mlp")
    {
        gate_proj = gate;
        up_proj = up;
        down_proj = down;
        _gelu = gelu;
        RegisterComponents();
    }

    public IEnumerable<(string Target, LoraLinear Linear)> Projections =>
        [("gate", gate_proj), ("up", up_proj), ("down", down_proj)];

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var g = gate_proj.forward(x);
        var activated = _gelu ? GgmlGelu(g) : nn.functional.silu(g);
        return down_proj.forward(activated * up_proj.forward(x)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// GELU as llama.cpp's CPU backend computes it (ggml_vec_geglu_f32): the tanh approximation looked up in a table
    /// indexed by the input rounded to fp16, the result rounded to fp16; 0 below -10, x above 10. Without the rounding
    /// logits drift by ~1e-3 from what serving computes. Gradients are the smooth function's (straight-through).
    /// </summary>
    internal static Tensor GgmlGelu(Tensor x)
    {
        using var scope = NewDisposeScope();
        var smooth = GeluTanh(x);
        Tensor table;
        using (no_grad())
        {
            var rounded = GeluTanh(x.to(ScalarType.Float16).to(ScalarType.Float32)).to(ScalarType.Float16).to(ScalarType.Float32);
            table = where(x <= -10, zeros_like(x), where(x >= 10, x, rounded));
        }
        return (smooth + (table - smooth).detach()).MoveToOuterDisposeScope();
    }

    private static Tensor GeluTanh(Tensor x)
    {
        const double sqrt2OverPi = 0.79788456080286535587989211986876;
        return 0.5 * x * (1 + (sqrt2OverPi * x * (1 + 0.044715 * x * x)).tanh());
    }
}
