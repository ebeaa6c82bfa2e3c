using Serve.Training.Model;
using static TorchSharp.torch;

namespace Serve.Training.Export;

/// <summary>Puts saved LoRA factors (from a GGUF or PEFT adapter) into a model built with the same targets and rank.</summary>
public static class AdapterLoader
{
    public static void CopyInto(LlamaForCausalLM model, IReadOnlyList<LoraFactor> factors)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(factors);
        var byName = factors.ToDictionary(f => (f.Layer, f.Target));
        var linears = model.LoraLinears();
        if (linears.Count != factors.Count)
            throw new ArgumentException($"the adapter has {factors.Count} adapted tensors but the model was built with {linears.Count}");
        using var noGrad = no_grad();
        foreach (var (layer, target, linear) in linears)
        {
            if (!byName.TryGetValue((layer, target), out var f))
                throw new ArgumentException($"the adapter has no factors for layer {layer} target {target}");
            if (f.Rank != linear.A.shape[0] || f.In != linear.A.shape[1] || f.Out != linear.B.shape[0])
                throw new ArgumentException($"factor shapes of {f.BaseTensor} do not match the model (rank {f.Rank}, in {f.In}, out {f.Out})");
            using var a = tensor(f.A, [f.Rank, f.In]);
            using var b = tensor(f.B, [f.Out, f.Rank]);
            linear.A.copy_(a);
            linear.B.copy_(b);
        }
    }
}
