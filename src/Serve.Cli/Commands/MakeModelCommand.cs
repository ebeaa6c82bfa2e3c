using System.CommandLine;
using Serve.Gguf;
using Serve.Models;

namespace Serve.Cli.Commands;

/// <summary><c>serve make-model</c>: a llama-architecture GGUF with seeded random weights and the project's tokenizer.</summary>
internal static class MakeModelCommand
{
    public static Command Create()
    {
        var defaults = new LlamaModelSpec();
        var output = new Option<FileInfo>("--out") { Description = "Path of the .gguf file to write", Required = true };
        var embd = new Option<int>("--embd") { Description = "Embedding length", DefaultValueFactory = _ => defaults.EmbeddingLength };
        var layers = new Option<int>("--layers") { Description = "Number of transformer blocks", DefaultValueFactory = _ => defaults.BlockCount };
        var heads = new Option<int>("--heads") { Description = "Attention heads", DefaultValueFactory = _ => defaults.HeadCount };
        var kvHeads = new Option<int>("--kv-heads") { Description = "Key/value heads (grouped-query attention)", DefaultValueFactory = _ => defaults.HeadCountKv };
        var ff = new Option<int>("--ff") { Description = "Feed-forward length", DefaultValueFactory = _ => defaults.FeedForwardLength };
        var ctx = new Option<int>("--ctx") { Description = "Training context length", DefaultValueFactory = _ => defaults.ContextLength };
        var vocab = new Option<int>("--vocab") { Description = "Vocabulary size of the learned tokenizer", DefaultValueFactory = _ => defaults.VocabSize };
        var type = new Option<string>("--type") { Description = "Storage type of the weight matrices", DefaultValueFactory = _ => "f32" };
        type.AcceptOnlyFromAmong("f32", "f16", "q8_0");
        var seed = new Option<int>("--seed") { Description = "Seed of the random weights (same seed, same bytes)", DefaultValueFactory = _ => defaults.Seed };
        var tied = new Option<bool>("--tied") { Description = "Tie the output projection to the token embeddings" };
        var name = new Option<string>("--name") { Description = "general.name of the model", DefaultValueFactory = _ => defaults.Name };
        var std = new Option<float>("--std") { Description = "Standard deviation of the random weights", DefaultValueFactory = _ => defaults.InitStd };

        var command = new Command("make-model", "Write a small llama-architecture GGUF model with seeded random weights")
        {
            output, embd, layers, heads, kvHeads, ff, ctx, vocab, type, seed, tied, name, std,
        };
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var spec = new LlamaModelSpec
            {
                EmbeddingLength = parseResult.GetValue(embd),
                BlockCount = parseResult.GetValue(layers),
                HeadCount = parseResult.GetValue(heads),
                HeadCountKv = parseResult.GetValue(kvHeads),
                FeedForwardLength = parseResult.GetValue(ff),
                ContextLength = parseResult.GetValue(ctx),
                VocabSize = parseResult.GetValue(vocab),
                WeightType = ParseType(parseResult.GetValue(type)!),
                Seed = parseResult.GetValue(seed),
                TiedEmbeddings = parseResult.GetValue(tied),
                Name = parseResult.GetValue(name)!,
                InitStd = parseResult.GetValue(std),
            };
            spec.Validate(); // before training a tokenizer for a spec that cannot be written
            var path = parseResult.GetValue(output)!.FullName;
            ModelMaker.Write(path, spec, SpmTokenizerTrainer.Default(spec.VocabSize));

            parseResult.InvocationConfiguration.Output.WriteLine(
                $"wrote {path} ({CommandErrors.Size(new FileInfo(path).Length)}): llama, {spec.ParameterCount:N0} parameters, " +
                $"embd {spec.EmbeddingLength}, {spec.BlockCount} layers, {spec.HeadCount} heads ({spec.HeadCountKv} kv), ff {spec.FeedForwardLength}, " +
                $"ctx {spec.ContextLength}, vocab {spec.VocabSize}, {parseResult.GetValue(type)}{(spec.TiedEmbeddings ? ", tied embeddings" : "")}, seed {spec.Seed}");
            return 0;
        }));
        return command;
    }

    private static GgmlType ParseType(string type) => type switch
    {
        "f32" => GgmlType.F32,
        "f16" => GgmlType.F16,
        "q8_0" => GgmlType.Q8_0,
        _ => throw new ArgumentException($"unknown weight type '{type}' (f32, f16 or q8_0)"),
    };
}
