using Serve.Cli;
using Serve.Gguf;

namespace Serve.Models.Tests;

public class CliTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = ServeCommandLine.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [Fact]
    public void MakeModel_ThenMakeLora_WritesBothAndReports()
    {
        using var dir = new TempDirectory();
        var model = dir.File("m.gguf");
        var lora = dir.File("l.gguf");

        var made = Run("make-model", "--out", model, "--embd", "96", "--heads", "6", "--kv-heads", "2", "--ff", "192", "--layers", "1", "--type", "f16", "--seed", "4", "--tied");
        Assert.True(made.Exit == 0, made.Err);
        Assert.Contains("wrote", made.Out);
        Assert.Contains("embd 96", made.Out);
        var md = GgufFile.Read(model).Metadata;
        Assert.Equal(96u, md["llama.embedding_length"].AsUInt32());
        Assert.Equal(1u, md["general.file_type"].AsUInt32());
        Assert.DoesNotContain(GgufFile.Read(model).Tensors, t => t.Name == "output.weight");

        var adapted = Run("make-lora", "--base", model, "--out", lora, "--rank", "2", "--alpha", "4", "--targets", "q,v,down");
        Assert.True(adapted.Exit == 0, adapted.Err);
        Assert.Contains("rank 2", adapted.Out);
        var tensors = GgufFile.Read(lora).Tensors;
        Assert.Equal(3 * 2, tensors.Count);
        Assert.Contains(tensors, t => t.Name == "blk.0.ffn_down.weight.lora_a" && t.Shape.SequenceEqual([192L, 2L]));
    }

    [Theory]
    [InlineData("make-model", "--out", "{dir}/x.gguf", "--heads", "5")]
    [InlineData("make-model", "--out", "{dir}/x.gguf", "--type", "q4_0")]
    [InlineData("make-model", "--embd", "64")]
    [InlineData("make-model", "--out", "{dir}/x.gguf", "--vocab", "10")]
    [InlineData("make-lora", "--base", "{dir}/missing.gguf", "--out", "{dir}/l.gguf")]
    public void BadArguments_FailWithMessage(params string[] args)
    {
        using var dir = new TempDirectory();

        var result = Run([.. args.Select(a => a.Replace("{dir}", dir.Path))]);

        Assert.NotEqual(0, result.Exit);
        Assert.False(string.IsNullOrWhiteSpace(result.Err));
        Assert.False(File.Exists(dir.File("x.gguf")));
    }

    [Fact]
    public void MakeLora_UnknownTarget_FailsWithMessage()
    {
        using var dir = new TempDirectory();
        var model = ModelMaker.BuildTestModel(dir.Path);

        var result = Run("make-lora", "--base", model, "--out", dir.File("l.gguf"), "--targets", "q,bogus");

        Assert.NotEqual(0, result.Exit);
        Assert.Contains("bogus", result.Err);
    }
}
