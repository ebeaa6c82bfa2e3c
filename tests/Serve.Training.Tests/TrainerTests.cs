using System.Text.Json;
using Serve.Gguf;
using Serve.Llama;
using Serve.Training.Data;
using Serve.Training.Export;
using Serve.Training.Lora;
using Serve.Training.Model;
using Serve.Training.Training;

namespace Serve.Training.Tests;

[Collection(TrainingCollection.Name)]
public sealed class TrainerTests(TrainingFixture fixture)
{
    private static readonly TrainingOptions Quick = new()
    {
        Lora = new LoraOptions { Rank = 4, Alpha = 8, Dropout = 0.1f },
        MaxSteps = 12, BatchSize = 4, GradientAccumulation = 2, LearningRate = 3e-3, EvalEvery = 4, CheckpointEvery = 4,
        LogEvery = 1, EarlyStoppingPatience = 0, Seed = 11, WeightDecay = 0.01,
    };

    private TokenizedDataset Data(int count = 48)
    {
        var path = fixture.TempPath($"trainer-{count}.jsonl");
        if (!File.Exists(path)) MoodTaskDataset.WriteJsonl(path, count, seed: 2);
        using var vocab = LlamaModel.Load(fixture.LearningModelPath, new LlamaModelOptions { VocabOnly = true });
        return TokenizedDataset.Build(JsonlChatReader.Read(path), new ChatTokenizer(vocab), 96, TruncationMode.Right, 0.2, seed: 1);
    }

    private string Dir(string name)
    {
        var dir = fixture.TempPath(name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public void Resume_KilledAfterCheckpointThenResumed_SameAdapterAsUninterrupted()
    {
        var data = Data();
        var straight = new TrainingOutputs(Path.Combine(Dir("resume-a"), "adapter.gguf"));
        var full = new Trainer(fixture.LearningModelPath, data, Quick, straight).Run();
        Assert.False(full.Interrupted);

        var resumed = new TrainingOutputs(Path.Combine(Dir("resume-b"), "adapter.gguf"));
        var first = new Trainer(fixture.LearningModelPath, data, Quick with { StopAfterStep = 6 }, resumed).Run();
        Assert.True(first.Interrupted);
        Assert.Equal(6, first.StepsDone);
        Assert.False(File.Exists(resumed.AdapterPath));

        // A new trainer (as after a restart) picks the checkpoint up; step 6 was not a multiple of CheckpointEvery.
        var second = new Trainer(fixture.LearningModelPath, data, Quick, resumed) { Resume = true }.Run();
        Assert.True(second.Resumed);
        Assert.Equal(12, second.StepsDone);

        var (a, _, _) = GgufAdapterWriter.Read(straight.AdapterPath);
        var (b, _, _) = GgufAdapterWriter.Read(resumed.AdapterPath);
        Assert.Equal(a.Count, b.Count);
        for (var i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].A, b[i].A);
            Assert.Equal(a[i].B, b[i].B);
        }
        Assert.Contains(a, f => f.B.Any(v => v != 0));
        Assert.Equal(full.History.Select(h => h.Loss), second.History.Select(h => h.Loss));
        Assert.Equal(File.ReadAllLines(straight.MetricsPath).Length, File.ReadAllLines(resumed.MetricsPath).Length);
    }

    [Fact]
    public void Resume_CheckpointFromOtherSettings_Refused()
    {
        var data = Data();
        var outputs = new TrainingOutputs(Path.Combine(Dir("resume-other"), "adapter.gguf"));
        new Trainer(fixture.LearningModelPath, data, Quick with { StopAfterStep = 2 }, outputs).Run();
        var error = Assert.Throws<InvalidOperationException>(() =>
            new Trainer(fixture.LearningModelPath, data, Quick with { LearningRate = 1e-3 }, outputs) { Resume = true }.Run());
        Assert.Contains("other settings", error.Message);
    }

    [Fact]
    public void Run_WritesAdapterWithMetadata_MetricsPerStep_AndLossCurvePng()
    {
        var data = Data();
        var outputs = new TrainingOutputs(Path.Combine(Dir("outputs"), "adapter.gguf"));
        var log = new StringWriter();
        var reported = new List<StepMetrics>();
        var result = new Trainer(fixture.LearningModelPath, data, Quick, outputs, log)
        {
            BaseModelSha256 = "base-hash", DatasetSha256 = "data-hash", StepCompleted = reported.Add,
        }.Run();

        using (var adapter = GgufFile.Read(outputs.AdapterPath))
        {
            Assert.Equal("adapter", adapter.GetString("general.type"));
            Assert.Equal("lora", adapter.GetString("adapter.type"));
            Assert.Equal("base-hash", adapter.GetString("serve.adapter.base_hash"));
            Assert.Equal("data-hash", adapter.GetString("serve.training.dataset_hash"));
            Assert.Equal((float)result.FinalEvalLoss!.Value, adapter.GetFloat32("serve.training.eval_loss"));
            var config = JsonDocument.Parse(adapter.GetString("serve.training.config")!).RootElement;
            Assert.Equal(4, config.GetProperty("Lora").GetProperty("Rank").GetInt32());
            Assert.Equal(2 * 7 * 2, adapter.Tensors.Count);
        }
        using (var model = LlamaModel.Load(fixture.LearningModelPath))
        using (var loaded = LlamaLoraAdapter.Load(model, outputs.AdapterPath))
            Assert.Equal("lora", loaded.Metadata["adapter.type"]);

        var lines = File.ReadAllLines(outputs.MetricsPath);
        Assert.Equal(12, lines.Length);
        var metrics = lines.Select(l => JsonSerializer.Deserialize<StepMetrics>(l)!).ToArray();
        Assert.Equal(Enumerable.Range(1, 12), metrics.Select(m => m.Step));
        Assert.Equal([4, 8, 12], metrics.Where(m => m.EvalLoss is not null).Select(m => m.Step));
        Assert.Equal(metrics.Select(m => (m.Step, m.Loss, m.Tokens)), reported.Select(m => (m.Step, m.Loss, m.Tokens)));
        Assert.All(metrics, m => Assert.True(m.TokensPerSecond > 0 && double.IsFinite(m.Loss)));

        var png = File.ReadAllBytes(outputs.LossCurvePath);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        Assert.Contains("tok/s", log.ToString());
        Assert.Contains("eta", log.ToString());
    }

    [Fact]
    public void Run_EvalLossStopsImproving_StopsEarly()
    {
        // A learning rate too small to move the loss by the required delta: every evaluation counts as no improvement.
        var data = Data();
        var options = Quick with { MaxSteps = 40, EvalEvery = 2, EarlyStoppingPatience = 2, EarlyStoppingMinDelta = 10, LearningRate = 1e-6 };
        var outputs = new TrainingOutputs(Path.Combine(Dir("early"), "adapter.gguf"));
        var result = new Trainer(fixture.LearningModelPath, data, options, outputs).Run();
        Assert.True(result.StoppedEarly);
        Assert.Equal(4, result.StepsDone);
        Assert.True(File.Exists(outputs.AdapterPath));
    }

    [Fact]
    public void Run_Qlora_TrainsAndExportsAnAdapterLlamaCppLoads()
    {
        var data = Data();
        var outputs = new TrainingOutputs(Path.Combine(Dir("qlora"), "adapter.gguf"));
        var result = new Trainer(fixture.LearningModelPath, data, Quick with { Quantization = BaseQuantization.Nf4DoubleQuant, MaxSteps = 8 }, outputs).Run();
        Assert.True(result.FinalEvalLoss < result.BaseEvalLoss, $"{result.FinalEvalLoss} vs {result.BaseEvalLoss}");
        using var model = LlamaModel.Load(fixture.LearningModelPath);
        using var adapter = LlamaLoraAdapter.Load(model, outputs.AdapterPath);
        Assert.Equal("adapter", adapter.Metadata["general.type"]);
    }

    [Fact]
    public void Schedule_WarmupThenCosineToMinimum()
    {
        var schedule = new LearningRateSchedule(1e-3, WarmupSteps: 4, TotalSteps: 20, MinRatio: 0.1);
        Assert.Equal(2.5e-4, schedule.At(0), 12);
        Assert.Equal(1e-3, schedule.At(3), 12);
        Assert.Equal(1e-3, schedule.At(4), 12);
        Assert.Equal(1e-4, schedule.At(19), 12);
        for (var s = 5; s < 20; s++) Assert.True(schedule.At(s) < schedule.At(s - 1));
    }

    [Fact]
    public void Load_QuantizedBase_StoresAboutAnEighthOfFloat32()
    {
        using var dense = LlamaForCausalLM.Load(fixture.LearningModelPath, new LlamaLoadOptions { Lora = new LoraOptions() });
        using var nf4 = LlamaForCausalLM.Load(fixture.LearningModelPath, new LlamaLoadOptions { Lora = new LoraOptions(), Quantization = BaseQuantization.Nf4DoubleQuant });
        var ratio = (double)nf4.BaseStorageBytes / dense.BaseStorageBytes;
        Assert.InRange(ratio, 0.1, 0.2);
    }
}
