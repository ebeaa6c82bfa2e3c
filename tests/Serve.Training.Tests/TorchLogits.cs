using Serve.Training.Model;
using static TorchSharp.torch;

namespace Serve.Training.Tests;

internal static class TorchLogits
{
    /// <summary>Logits [tokens, vocab] of one sequence from the TorchSharp model, in eval mode without gradients.</summary>
    public static float[][] Of(LlamaForCausalLM model, IReadOnlyList<int> tokens)
    {
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var ids = tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Count]);
        var logits = model.forward(ids)[0];
        var vocab = (int)logits.shape[1];
        var flat = logits.contiguous().data<float>().ToArray();
        return [.. Enumerable.Range(0, tokens.Count).Select(i => flat.AsSpan(i * vocab, vocab).ToArray())];
    }
}
