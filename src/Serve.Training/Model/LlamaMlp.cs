using Serve.Training.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) · up(x)).</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly LoraLinear gate_proj, up_proj, down_proj;

    public LlamaMlp(LoraLinear gate, LoraLinear up, LoraLinear down) : base("mlp")
    {
        gate_proj = gate;
        up_proj = up;
        down_proj = down;
        RegisterComponents();
    }

    public IEnumerable<(string Target, LoraLinear Linear)> Projections =>
        [("gate", gate_proj), ("up", up_proj), ("down", down_proj)];

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var hidden = nn.functional.silu(gate_proj.forward(x)) * up_proj.forward(x);
        return down_proj.forward(hidden).MoveToOuterDisposeScope();
    }
}
