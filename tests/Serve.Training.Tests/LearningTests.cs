using Serve.Llama;
using Serve.Training.Data;
using Serve.Training.Export;
using Serve.Training.Model;
using Serve.Training.Lora;
using Serve.Training.Training;
using Xunit.Abstractions;

namespace Serve.Training.Tests;

[Collection(TrainingCollection.Name)]
public sealed class LearningTests(TrainingFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public void Train_MoodTask_HeldOutLossFallsAndServedAnswersMatchFarMoreOften()
    {
        var basePath = fixture.LearningModelPath;
        var dataPath = fixture.TempPath("mood-train.jsonl");
        MoodTaskDataset.WriteJsonl(dataPath, 240, seed: 1);
        var heldOut = MoodTaskDataset.Generate(40, seed: 999);

        using var vocabModel = LlamaModel.Load(basePath, new LlamaModelOptions { VocabOnly = true });
        var data = TokenizedDataset.Build(JsonlChatReader.Read(dataPath), new ChatTokenizer(vocabModel), 128, TruncationMode.Right, 0.1, seed: 7);
        var options = new TrainingOptions
        {
            Lora = new LoraOptions { Rank = 8, Alpha = 16, Dropout = 0.0f },
            Epochs = 6, BatchSize = 8, LearningRate = 5e-3, EvalEvery = 20, LogEvery = 10, CheckpointEvery = 0, Seed = 3,
        };
        var outputs = new TrainingOutputs(fixture.TempPath("mood.gguf"));
        var log = new StringWriter();
        var result = new Trainer(basePath, data, options, outputs, log).Run();
        output.WriteLine(log.ToString());

        var served = Greedy.Answers(basePath, outputs.AdapterPath, heldOut.Select(h => h.Prompt));
        var baseline = Greedy.Answers(basePath, null, heldOut.Select(h => h.Prompt));
        var withRate = served.Zip(heldOut).Count(p => p.First == p.Second.Completion) / (double)heldOut.Count;
        var withoutRate = baseline.Zip(heldOut).Count(p => p.First == p.Second.Completion) / (double)heldOut.Count;
        output.WriteLine($"held-out loss base {result.BaseEvalLoss:F4} -> {result.FinalEvalLoss:F4}; exact match with adapter {withRate:P0}, without {withoutRate:P0}");
        output.WriteLine($"sample: '{served[0]}' / '{baseline[0]}' for '{heldOut[0].Prompt}'");
        Assert.True(result.FinalEvalLoss < 0.25 * result.BaseEvalLoss, $"held-out loss {result.FinalEvalLoss} vs base {result.BaseEvalLoss}");
        Assert.True(withRate >= 0.7, $"exact match with the adapter {withRate:P0}");
        Assert.True(withoutRate <= 0.05, $"exact match without the adapter {withoutRate:P0}");

        // The trained adapter, as exported, gives llama.cpp the logits the trainer's model computes.
        var (factors, scale, _) = GgufAdapterWriter.Read(outputs.AdapterPath);
        Assert.Equal(options.Lora.Scale, scale, 6);
        using var trained = LlamaForCausalLM.Load(basePath, new LlamaLoadOptions { Lora = options.Lora });
        AdapterLoader.CopyInto(trained, factors);
        var tokens = data.Eval[0].Tokens;
        var diff = LlamaCppReference.MaxAbsDiff(TorchLogits.Of(trained, tokens), LlamaCppReference.Logits(basePath, tokens, outputs.AdapterPath));
        output.WriteLine($"trained adapter parity: max abs difference {diff:E2}");
        Assert.True(diff <= 1e-3f, $"trained adapter: max abs difference {diff}");
    }
}
