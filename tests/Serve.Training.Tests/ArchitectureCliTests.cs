using Serve.Cli;

namespace Serve.Training.Tests;

/// <summary><c>serve train</c> on a non-llama base with another dataset format and packing, and its refusals.</summary>
[Collection(TrainingCollection.Name)]
public sealed class ArchitectureCliTests(ArchitectureFixture fixture)
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = ServeCommandLine.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Train_Qwen3BaseShareGptDataPacked_WritesAQwen3Adapter()
    {
        var data = fixture.TempPath("cli-sharegpt.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 12).Select(i =>
            $$"""{"conversations":[{"from":"human","value":"Count to {{i % 4 + 1}}."},{"from":"gpt","value":"{{string.Join(" ", Enumerable.Range(1, i % 4 + 1))}}"}]}"""));
        var adapter = fixture.TempPath("cli-qwen3.gguf");
        var (code, output, error) = Run("train", "--base", fixture.ModelPath("qwen3"), "--data", data, "--out", adapter, "--max-steps", "2", "--packing");
        Assert.True(code == 0, error);
        Assert.Contains("packing True", output);
        var (_, _, architecture) = Serve.Training.Export.GgufAdapterWriter.Read(adapter);
        Assert.Equal("qwen3", architecture);
    }

    [Fact]
    public void Train_ToolCallData_IsRenderedByTheServersTemplateEngine_AndTrains()
    {
        var data = fixture.TempPath("cli-tools.jsonl");
        const string call = """{"messages":[{"role":"user","content":"Weather?"},{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"rain"},{"role":"assistant","content":"Rain."}]}""";
        File.WriteAllLines(data, [call, """{"prompt":"a","completion":"b"}""", call, call, call, call]);
        var adapter = fixture.TempPath("cli-tools.gguf");
        var (code, _, error) = Run("train", "--base", fixture.ModelPath("llama"), "--data", data, "--out", adapter, "--max-steps", "2");
        Assert.True(code == 0, error);
        Assert.True(File.Exists(adapter));
    }
}
