using static TorchSharp.torch;

namespace Serve.Training.Quantization;

/// <summary>
/// y = x Wᵀ for a quantised frozen W that autograd must not keep: backward dequantises W again (dx = dy W), so
/// only one layer's dense weight exists at a time. W gets no gradient.
/// </summary>
/// <remarks>
/// TorchSharp runs <see cref="backward"/> from the native autograd engine and wraps its incoming gradient in a new
/// managed handle registered on the caller's dispose scope (the training step's); the gradient returned is
/// registered there too, and the engine copies it when backward returns. Left to the scope, every layer's dy and dx
/// would stay alive until the step ends (with QLoRA on all 7 targets about as much memory as the saved activations).
/// So backward disposes dy once used and disposes the dx it returned last time, which the engine has long copied.
/// </remarks>
internal sealed class FrozenMatmulFunction : autograd.SingleTensorFunction<FrozenMatmulFunction>
{
    [ThreadStatic] private static Tensor? _lastGradient;

    public override string Name => "FrozenMatmul";

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var weight = (FrozenWeight)vars[1];
        ctx.save_data("weight", weight);
        // Without this the matmul would record its own graph node holding the dense weight until backward.
        using var noGrad = no_grad();
        using var w = weight.DenseForMatmul();
        // The transposed view shares w's storage: disposed here too, or it would keep this layer's dense weight alive
        // in the caller's dispose scope until the end of the step (every layer's at once: QLoRA peaked above LoRA).
        using var wt = w.t();
        return x.matmul(wt);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        _lastGradient?.Dispose();
        _lastGradient = null;
        var weight = (FrozenWeight)ctx.get_data("weight");
        using var noGrad = no_grad();
        Tensor gradInput;
        using (var w = weight.DenseForMatmul()) gradInput = gradOutput.matmul(w);
        gradOutput.Dispose();
        _lastGradient = gradInput;
        return [gradInput, null!]; // one gradient per argument: none for the frozen weight
    }
}
