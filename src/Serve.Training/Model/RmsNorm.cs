using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>x / sqrt(mean(x²) + eps) * weight, as llama.cpp's ggml_rms_norm followed by the norm weight.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Tensor weight;
    private readonly double _eps;

    public RmsNorm(Tensor weight, double eps) : base(nameof(RmsNorm))
    {
        this.weight = weight;
        _eps = eps;
        register_buffer(nameof(weight), weight);
    }

    /// <summary>The norm's scale vector (the stored tensor itself; base-model training makes it trainable).</summary>
    public Tensor Weight => weight;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var variance = x.pow(2).mean([-1], keepdim: true);
        return (x * (variance + _eps).rsqrt() * weight).MoveToOuterDisposeScope();
    }
}
