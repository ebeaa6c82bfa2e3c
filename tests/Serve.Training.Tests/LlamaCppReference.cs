using Serve.Llama;
using Serve.Llama.Native;

namespace Serve.Training.Tests;

/// <summary>llama.cpp as the reference: logits for every position, and greedy generation.</summary>
internal static class LlamaCppReference
{
    /// <summary>Exact settings: no flash attention and an F32 KV cache, which would otherwise round through F16.</summary>
    public static LlamaContext ExactContext(LlamaModel model, int contextSize = 256) =>
        LlamaContext.Create(model, new LlamaContextOptions
        {
            ContextSize = contextSize, BatchSize = contextSize, UBatchSize = contextSize, Threads = 2,
            FlashAttention = LlamaFlashAttnType.Disabled, TypeK = GgmlType.F32, TypeV = GgmlType.F32,
        });

    /// <summary>Logits [tokens, vocab] of a prompt decoded in one batch, with an optional adapter at scale 1.</summary>
    public static float[][] Logits(string modelPath, IReadOnlyList<int> tokens, string? adapterPath = null)
    {
        using var model = LlamaModel.Load(modelPath);
        using var context = ExactContext(model);
        using var adapter = adapterPath is null ? null : LlamaLoraAdapter.Load(model, adapterPath);
        if (adapter is not null) context.SetAdapters([(adapter, 1f)]);
        using var batch = new LlamaBatch(tokens.Count);
        for (var i = 0; i < tokens.Count; i++) batch.Add(tokens[i], i, 0, outputLogits: true);
        context.Decode(batch);
        return [.. Enumerable.Range(0, tokens.Count).Select(i => context.GetLogits(i).ToArray())];
    }

    public static float MaxAbsDiff(float[][] a, float[][] b)
    {
        var max = 0f;
        for (var i = 0; i < a.Length; i++)
            for (var j = 0; j < a[i].Length; j++) max = Math.Max(max, Math.Abs(a[i][j] - b[i][j]));
        return max;
    }

    public static float MaxAbs(float[][] a) => a.Max(row => row.Max(Math.Abs));
}
