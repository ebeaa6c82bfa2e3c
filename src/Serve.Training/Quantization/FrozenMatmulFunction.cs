using static TorchSharp.torch;

namespace Serve.Training.Quantization;

/// <summary>
/// y = x Wᵀ for a quantised frozen W that autograd must not keep: backward dequantises W again (dx = dy W), so
/// only one layer's dense weight exists at a time. W gets no gradient.
/// </summary>
internal sealed class FrozenMatmulFunction : autograd.SingleTensorFunction<FrozenMatmulFunction>
{
    public override string Name => "FrozenMatmul";

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var weight = (FrozenWeight)vars[1];
        ctx.save_data("weight", weight);
        // Without this the matmul would record its own graph node holding the dense weight until backward.
        using var noGrad = no_grad();
        using var w = weight.Dense();
        // The transposed view shares w's storage: disposed here too, or it would keep this layer's dense weight alive
        // in the caller's dispose scope until the end of the step (every layer's at once: QLoRA peaked above LoRA).
        using var wt = w.t();
        return x.matmul(wt);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var weight = (FrozenWeight)ctx.get_data("weight");
        using var noGrad = no_grad();
        using var w = weight.Dense();
        return [gradOutput.matmul(w), null!]; // one gradient per argument: none for the frozen weight
    }
}
