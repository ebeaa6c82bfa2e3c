using Serve.Gguf;
using Serve.Llama;
using Serve.Models;
using Serve.Training.Data;
using Serve.Training.Model;
using Serve.Training.Pretraining;
using Xunit.Abstractions;

namespace Serve.Training.Tests;

[Collection(TrainingCollection.Name)]
public sealed class BaseTrainingTests(TrainingFixture fixture, ITestOutputHelper output)
{
    private static List<TokenizedExample> Chats(string modelPath)
    {
        using var vocab = LlamaModel.Load(modelPath, new LlamaModelOptions { VocabOnly = true });
        var chat = new ChatTokenizer(vocab);
        var line = 0;
        // Short chats only: the test model's context is 256 tokens.
        return [.. DefaultModelData.Conversations().Select(c => chat.Encode(new ChatExample(++line, c.Messages))).Where(e => e.Tokens.Length <= 200).Take(24)];
    }

    [Fact]
    public void Run_EveryWeightTrains_LossFalls_AndTheWrittenModelIsTheSameFileShapeLlamaCppLoads()
    {
        var examples = Chats(fixture.ModelPath);
        var trainer = new BaseModelTrainer(fixture.ModelPath, examples.Skip(4).ToList(), examples.Take(4).ToList(),
            new BaseTrainingOptions { Steps = 40, BatchTokens = 1024, LearningRate = 3e-3, WarmupSteps = 5, EvalEvery = 20, LogEvery = 10 }, new TestLog(output));
        var path = fixture.TempPath("base-trained.gguf");
        var result = trainer.Run(path, GgmlType.F32, new Dictionary<string, string> { ["general.description"] = "test" });

        // It learns the chats it sees (train loss at least halves) and some English that carries over (held-out falls).
        Assert.True(result.History[^1].Loss < 0.5 * result.History[0].Loss, $"train loss {result.History[0].Loss} -> {result.History[^1].Loss}");
        Assert.True(result.FinalEvalLoss < result.InitialEvalLoss, $"held-out loss {result.InitialEvalLoss} -> {result.FinalEvalLoss}");
        using var source = GgufFile.Read(fixture.ModelPath);
        using var written = GgufFile.Read(path);
        // Same tensors, shapes and tokenizer; every weight (norms too) moved.
        Assert.Equal(source.Tensors.Select(t => (t.Name, string.Join(",", t.Shape))), written.Tensors.Select(t => (t.Name, string.Join(",", t.Shape))));
        Assert.Equal((string[])source.GetValue("tokenizer.ggml.tokens")!.Value, (string[])written.GetValue("tokenizer.ggml.tokens")!.Value);
        Assert.Equal("test", written.GetString("general.description"));
        Assert.Equal("40", written.GetString("serve.base_training.steps"));
        foreach (var t in source.Tensors)
            Assert.False(source.ReadTensorAsFloat32(t).AsSpan().SequenceEqual(written.ReadTensorAsFloat32(written.GetTensor(t.Name))), $"{t.Name} did not change");

        // llama.cpp loads it and computes what the trainer's forward pass computes.
        int[] tokens = [.. examples[0].Tokens.Take(16)];
        using var model = LlamaForCausalLM.Load(path);
        var diff = LlamaCppReference.MaxAbsDiff(TorchLogits.Of(model, tokens), LlamaCppReference.Logits(path, tokens));
        output.WriteLine($"trained base: max abs logit difference torch vs llama.cpp {diff:E2}");
        Assert.True(diff <= 1e-3f, $"max abs difference {diff}");
    }

    [Fact]
    public void Batches_GroupByLength_WithinTheTokenBudget_AndCoverEveryExampleOnce()
    {
        var examples = Enumerable.Range(1, 50).Select(i => new TokenizedExample(i, new int[i * 7 % 97 + 2], new bool[i * 7 % 97 + 2])).ToList();
        var batches = BaseModelTrainer.Batches(examples, 256);
        Assert.All(batches, b => Assert.True(b.Length == 1 || b.Length * b.Max(e => e.Tokens.Length) <= 256));
        Assert.Equal(examples.Select(e => e.Line).Order(), batches.SelectMany(b => b).Select(e => e.Line).Order());
    }

    private sealed class TestLog(ITestOutputHelper output) : StringWriter
    {
        public override void WriteLine(string? value) => output.WriteLine(value ?? "");
    }
}
