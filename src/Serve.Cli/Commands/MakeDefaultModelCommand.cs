using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Serve.Gguf;
using Serve.Llama;
using Serve.Models;
using Serve.Training.Data;
using Serve.Training.Pretraining;

namespace Serve.Cli.Commands;

/// <summary>
/// <c>serve make-default-model</c>: the project's default base model from scratch. A tokenizer learned from the
/// embedded corpus, a seeded random llama GGUF, then full-parameter training on the corpus's conversations,
/// topic questions and paragraphs, written as an F16 GGUF that the server serves with no arguments.
/// </summary>
internal static class MakeDefaultModelCommand
{
    /// <summary>The default model's shape: about 1.9 M parameters, under 5 MB in F16.</summary>
    public static LlamaModelSpec Spec(int seed) => new()
    {
        Name = "serve-base", EmbeddingLength = 192, BlockCount = 4, HeadCount = 6, HeadCountKv = 2, FeedForwardLength = 512,
        ContextLength = 1024, VocabSize = 1024, WeightType = GgmlType.F32, Seed = seed, InitStd = 0.02f,
    };

    public static Command Create()
    {
        var output = new Option<FileInfo>("--out") { Description = "Path of the model to write", DefaultValueFactory = _ => new FileInfo(Path.Combine("models", "base.gguf")) };
        var steps = new Option<int>("--steps") { Description = "Training steps", DefaultValueFactory = _ => new BaseTrainingOptions().Steps };
        var batch = new Option<int>("--batch-tokens") { Description = "Most tokens in a step's batch (examples grouped by length)", DefaultValueFactory = _ => new BaseTrainingOptions().BatchTokens };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => new BaseTrainingOptions().LearningRate };
        var seed = new Option<int>("--seed") { Description = "Seed of the initial weights, the data order and the held-out split", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "CPU threads for TorchSharp (0 = all cores)", DefaultValueFactory = _ => 0 };
        var command = new Command("make-default-model", "Train the project's default base model from scratch (tokenizer, random init, full training)")
        {
            output, steps, batch, lr, seed, threads,
        };
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var log = parseResult.InvocationConfiguration.Output;
            var clock = Stopwatch.StartNew();
            var path = parseResult.GetValue(output)!.FullName;
            var spec = Spec(parseResult.GetValue(seed));
            var options = new BaseTrainingOptions
            {
                Steps = parseResult.GetValue(steps), BatchTokens = parseResult.GetValue(batch), LearningRate = parseResult.GetValue(lr),
                Seed = spec.Seed, Threads = parseResult.GetValue(threads),
            };
            options.Validate(); // before minutes of work
            var initial = path + ".init.gguf";
            ModelMaker.Write(initial, spec, SpmTokenizerTrainer.Default(spec.VocabSize));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[1/3] tokenizer ({spec.VocabSize} pieces, learned from the corpus) and random weights: {spec.ParameterCount:N0} parameters, embd {spec.EmbeddingLength}, {spec.BlockCount} layers, seed {spec.Seed} ({clock.Elapsed.TotalSeconds:F1} s)"));
            try
            {
                var (train, eval) = Examples(initial, spec.Seed, log);
                log.WriteLine($"[2/3] training every weight ({clock.Elapsed.TotalSeconds:F1} s)");
                var trainer = new BaseModelTrainer(initial, train, eval, options, log);
                var result = trainer.Run(path, GgmlType.F16, new Dictionary<string, string>
                {
                    ["general.description"] = "Serve's default base model: trained from scratch by 'serve make-default-model' on the project's own corpus",
                    ["serve.base_training.data"] = "Serve.Models DefaultModelData (embedded corpus)",
                });
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[3/3] done in {clock.Elapsed:hh\\:mm\\:ss}: held-out loss {result.InitialEvalLoss:F3} -> {result.FinalEvalLoss:F3}, train loss {result.FinalLoss:F3}, {result.TokensPerSecond:F0} tok/s"));
            }
            finally
            {
                File.Delete(initial);
            }
            return 0;
        }));
        return command;
    }

    /// <summary>Chats through the model's own chat template (assistant turns trained) and paragraphs as plain text (all trained).</summary>
    private static (List<TokenizedExample> Train, List<TokenizedExample> Eval) Examples(string modelPath, int seed, TextWriter log)
    {
        using var model = LlamaModel.Load(modelPath, new LlamaModelOptions { VocabOnly = true });
        var chat = new ChatTokenizer(model);
        var examples = new List<TokenizedExample>();
        var line = 0;
        foreach (var conversation in DefaultModelData.Conversations())
            examples.Add(chat.Encode(new ChatExample(++line, conversation.Messages)));
        var chats = examples.Count;
        foreach (var passage in DefaultModelData.Passages())
        {
            var tokens = model.Vocab.Tokenize(passage, addSpecial: true, parseSpecial: false);
            var trained = new bool[tokens.Length];
            Array.Fill(trained, true);
            examples.Add(new TokenizedExample(++line, tokens, trained));
        }
        // A seeded twentieth of the chats is held out to watch the loss; the rest trains.
        var random = new Random(seed);
        var eval = examples.Take(chats).Where(_ => random.Next(20) == 0).ToList();
        var train = examples.Except(eval).ToList();
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"      data: {chats} chats and {examples.Count - chats} paragraphs, {train.Sum(e => e.Tokens.Length):N0} tokens to train on, {eval.Count} chats held out; longest {examples.Max(e => e.Tokens.Length)} tokens"));
        return (train, eval);
    }
}
