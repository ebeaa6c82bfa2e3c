namespace Serve.Llama.Tests;

/// <summary>Small decode helpers shared by the tests.</summary>
internal static class Decoding
{
    /// <summary>Decodes a prompt as sequence 0 from position 0 and returns a copy of the last token's logits.</summary>
    public static float[] PromptLogits(LlamaContext context, IReadOnlyList<int> tokens, int seq = 0)
    {
        using var batch = new LlamaBatch(tokens.Count);
        batch.AddRange(tokens.ToArray(), 0, seq, lastLogits: true);
        context.Decode(batch);
        return context.GetLogits(tokens.Count - 1).ToArray();
    }

    /// <summary>Greedy generation of count tokens after a prompt, in a cleared context.</summary>
    public static List<int> Generate(LlamaContext context, LlamaSamplerChain sampler, IReadOnlyList<int> prompt, int count)
    {
        context.Memory.Clear();
        using var batch = new LlamaBatch(Math.Max(prompt.Count, 1));
        batch.AddRange(prompt.ToArray(), 0, 0, lastLogits: true);
        context.Decode(batch);
        var index = prompt.Count - 1;
        var position = prompt.Count;
        var output = new List<int>();
        for (var i = 0; i < count; i++)
        {
            var token = sampler.Sample(context, index);
            output.Add(token);
            batch.Clear();
            batch.Add(token, position++, 0, outputLogits: true);
            context.Decode(batch);
            index = 0;
        }
        return output;
    }

    public static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var max = 0f;
        for (var i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    public static float MaxAbs(ReadOnlySpan<float> a)
    {
        var max = 0f;
        foreach (var v in a) max = Math.Max(max, Math.Abs(v));
        return max;
    }
}
