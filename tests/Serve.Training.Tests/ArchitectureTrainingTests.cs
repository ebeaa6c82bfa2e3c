using Serve.Llama;
using Serve.Training.Data;
using Serve.Training.Export;
using Serve.Training.Lora;
using Serve.Training.Model;
using Serve.Training.Training;
using Xunit.Abstractions;

namespace Serve.Training.Tests;

/// <summary>A short LoRA run lowers held-out loss on every architecture, and QLoRA (NF4 base) trains on each too.</summary>
[Collection(TrainingCollection.Name)]
public sealed class ArchitectureTrainingTests(ArchitectureFixture fixture, ITestOutputHelper output)
{
    public static TheoryData<string> Architectures => [.. ArchitectureFixture.Specs.Keys];

    private TokenizedDataset Data(string basePath)
    {
        var path = fixture.TempPath("arch-mood.jsonl");
        lock (fixture) if (!File.Exists(path)) MoodTaskDataset.WriteJsonl(path, 48, seed: 6);
        using var vocab = LlamaModel.Load(basePath, new LlamaModelOptions { VocabOnly = true });
        return TokenizedDataset.Build(JsonlChatReader.Read(path), new ChatTokenizer(vocab), 96, TruncationMode.Right, 0.25, seed: 2);
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Train_Lora_HeldOutLossFalls_AndTheExportedAdapterMatchesLlamaCpp(string architecture)
    {
        var basePath = fixture.ModelPath(architecture);
        var data = Data(basePath);
        var options = new TrainingOptions
        {
            Lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0 },
            MaxSteps = 16, BatchSize = 6, LearningRate = 1e-2, EvalEvery = 16, LogEvery = 16, CheckpointEvery = 0, EarlyStoppingPatience = 0, Seed = 5,
        };
        var outputs = new TrainingOutputs(fixture.TempPath($"{architecture}-trained.gguf"));
        var result = new Trainer(basePath, data, options, outputs).Run();
        output.WriteLine($"{architecture} LoRA: held-out loss {result.BaseEvalLoss:F4} -> {result.FinalEvalLoss:F4}");
        Assert.True(result.FinalEvalLoss < 0.8 * result.BaseEvalLoss, $"held-out loss {result.FinalEvalLoss} vs base {result.BaseEvalLoss}");

        var (factors, _, adapterArchitecture) = GgufAdapterWriter.Read(outputs.AdapterPath);
        Assert.Equal(architecture == "phi3" ? "phi3" : ArchitectureFixture.Specs[architecture].Architecture, adapterArchitecture);
        using var trained = LlamaForCausalLM.Load(basePath, new LlamaLoadOptions { Lora = options.Lora });
        AdapterLoader.CopyInto(trained, factors);
        var tokens = data.Eval[0].Tokens;
        var diff = LlamaCppReference.MaxAbsDiff(TorchLogits.Of(trained, tokens), LlamaCppReference.Logits(basePath, tokens, outputs.AdapterPath));
        output.WriteLine($"{architecture} trained adapter parity: max abs difference {diff:E2}");
        Assert.True(diff <= 1e-3f, $"trained adapter: max abs difference {diff}");
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Train_Qlora_RunsOnNf4BaseAndLowersHeldOutLoss(string architecture)
    {
        var basePath = fixture.ModelPath(architecture);
        var options = new TrainingOptions
        {
            Lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0 }, Quantization = BaseQuantization.Nf4DoubleQuant,
            MaxSteps = 8, BatchSize = 6, LearningRate = 1e-2, EvalEvery = 8, LogEvery = 8, CheckpointEvery = 0, EarlyStoppingPatience = 0, Seed = 5,
        };
        var outputs = new TrainingOutputs(fixture.TempPath($"{architecture}-qlora.gguf"));
        var result = new Trainer(basePath, Data(basePath), options, outputs).Run();
        output.WriteLine($"{architecture} QLoRA: held-out loss {result.BaseEvalLoss:F4} -> {result.FinalEvalLoss:F4}");
        Assert.True(File.Exists(outputs.AdapterPath));
        Assert.True(result.FinalEvalLoss < result.BaseEvalLoss, $"held-out loss {result.FinalEvalLoss} vs base {result.BaseEvalLoss}");
    }
}
