using Serve.Cli;
using Serve.Training.Data;

namespace Serve.Training.Tests;

[Collection(TrainingCollection.Name)]
public sealed class CliTests(TrainingFixture fixture)
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = ServeCommandLine.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Train_MinimalCall_PrintsDefaultsAndWritesAdapter_ThenExportsAndImportsPeft()
    {
        var dir = fixture.TempPath("cli");
        Directory.CreateDirectory(dir);
        var data = Path.Combine(dir, "data.jsonl");
        MoodTaskDataset.WriteJsonl(data, 24, seed: 4);
        var adapter = Path.Combine(dir, "adapter.gguf");
        // --max-steps keeps the test short; every other setting comes from the defaults.
        var (code, output, error) = Run("train", "--base", fixture.LearningModelPath, "--data", data, "--out", adapter, "--max-steps", "3");
        Assert.True(code == 0, error);
        foreach (var setting in new[] { "rank 8", "alpha 16", "targets q,k,v,o,gate,up,down", "epochs 3", "lr 0.0002", "eval-split 0.1", "batch-size 4", "seed 42", "device cpu" })
            Assert.Contains(setting, output);
        Assert.Contains("held-out loss", output);
        Assert.True(File.Exists(adapter));
        Assert.True(File.Exists(Path.ChangeExtension(adapter, ".loss.png")));

        var peft = Path.Combine(dir, "peft");
        (code, _, error) = Run("export", "--base", fixture.LearningModelPath, "--adapter", adapter, "--to-peft", peft);
        Assert.True(code == 0, error);
        var back = Path.Combine(dir, "back.gguf");
        (code, output, error) = Run("export", "--base", fixture.LearningModelPath, "--from-peft", peft, "--out", back);
        Assert.True(code == 0, error);
        Assert.Contains("14 adapted tensors", output);
    }

    [Fact]
    public void Train_BadLines_Exit2WithLineNumbers()
    {
        var data = fixture.TempPath("cli-bad.jsonl");
        File.WriteAllLines(data, ["""{"prompt":"a","completion":"b"}""", "{broken", """{"prompt":"c"}"""]);
        var (code, _, error) = Run("train", "--base", fixture.LearningModelPath, "--data", data, "--out", fixture.TempPath("cli-bad.gguf"));
        Assert.Equal(2, code);
        Assert.Contains("line 2: not valid JSON", error);
        Assert.Contains("line 3: \"completion\" must be a string", error);
    }

    [Theory]
    [InlineData("--rank", "0", "rank must be positive")]
    [InlineData("--targets", "q,x", "unknown LoRA target 'x'")]
    [InlineData("--eval-split", "1.5", "eval split")]
    public void Train_InvalidSettings_Exit2(string option, string value, string message)
    {
        var data = fixture.TempPath("cli-ok.jsonl");
        MoodTaskDataset.WriteJsonl(data, 4, seed: 1);
        var (code, _, error) = Run("train", "--base", fixture.LearningModelPath, "--data", data, "--out", fixture.TempPath("x.gguf"), option, value);
        Assert.Equal(2, code);
        Assert.Contains(message, error);
    }

    [Fact]
    public void Train_MissingRequiredOption_ParseErrorExit1()
    {
        var (code, _, _) = Run("train", "--base", fixture.LearningModelPath);
        Assert.Equal(1, code);
    }
}
