using Serve.Llama;
using Serve.Training.Data;

namespace Serve.Training.Tests;

/// <summary>Serving-side check: greedy answers from llama.cpp, prompts built as the server builds them.</summary>
internal static class Greedy
{
    public static IReadOnlyList<string> Answers(string modelPath, string? adapterPath, IEnumerable<string> prompts, int maxTokens = 12)
    {
        using var model = LlamaModel.Load(modelPath);
        using var context = LlamaCppReference.ExactContext(model);
        using var adapter = adapterPath is null ? null : LlamaLoraAdapter.Load(model, adapterPath);
        if (adapter is not null) context.SetAdapters([(adapter, 1f)]);
        using var sampler = new LlamaSamplerChain().Greedy();
        var tokenizer = new ChatTokenizer(model);
        var answers = new List<string>();
        foreach (var prompt in prompts)
        {
            var tokens = tokenizer.Prompt([("user", prompt)]);
            context.Memory.Clear();
            using var batch = new LlamaBatch(Math.Max(tokens.Length, 1));
            batch.AddRange(tokens, 0, 0, lastLogits: true);
            context.Decode(batch);
            var index = tokens.Length - 1;
            var output = new List<int>();
            for (var i = 0; i < maxTokens; i++)
            {
                var token = sampler.Sample(context, index);
                if (model.Vocab.IsEog(token)) break;
                output.Add(token);
                batch.Clear();
                batch.Add(token, tokens.Length + i, 0, outputLogits: true);
                context.Decode(batch);
                index = 0;
            }
            answers.Add(model.Vocab.Detokenize(output.ToArray()).Trim());
        }
        return answers;
    }
}
