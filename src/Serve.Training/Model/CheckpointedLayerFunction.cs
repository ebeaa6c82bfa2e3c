using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>
/// Gradient checkpointing for one decoder layer: the forward runs without recording a graph and keeps only the
/// layer's input; backward runs the layer again from that input with autograd on and back-propagates through the
/// recomputed graph, which fills the LoRA factors' gradients and gives the input's. Activations then exist for one
/// layer at a time instead of all of them (about a third more compute). Dropout draws are replayed: the random
/// generator's state is saved before the forward and restored for the recomputation.
/// </summary>
/// <remarks>
/// As with <see cref="Quantization.FrozenMatmulFunction"/>, the gradient handed in and the one returned are
/// registered on the training step's dispose scope by TorchSharp; backward disposes the former when done and the
/// one it returned last time (autograd has copied it by then), so they do not pile up until the step ends.
/// </remarks>
internal sealed class CheckpointedLayerFunction : autograd.SingleTensorFunction<CheckpointedLayerFunction>
{
    [ThreadStatic] private static Tensor? _lastGradient;

    public override string Name => "CheckpointedLayer";

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var layer = (LlamaDecoderLayer)vars[1];
        ctx.save_for_backward([x]);
        ctx.save_data("layer", layer);
        ctx.save_data("rng", random.get_rng_state().DetachFromDisposeScope()); // kept past the forward's scope; disposed in backward
        using var noGrad = no_grad();
        return layer.forward(x);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        _lastGradient?.Dispose();
        _lastGradient = null;
        var x = ctx.get_saved_variables()[0];
        var layer = (LlamaDecoderLayer)ctx.get_data("layer");
        using var rng = (Tensor)ctx.get_data("rng");
        Tensor gradInput;
        using (var scope = NewDisposeScope())
        {
            var current = random.get_rng_state();
            random.set_rng_state(rng);
            using var grad = enable_grad();
            var input = x.detach().requires_grad_(true);
            var output = layer.forward(input);
            random.set_rng_state(current);
            output.backward([gradOutput]);
            gradInput = input.grad!.MoveToOuterDisposeScope();
        }
        gradOutput.Dispose();
        _lastGradient = gradInput;
        return [gradInput, null!]; // the layer object gets no gradient
    }
}
