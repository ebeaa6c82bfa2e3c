using Serve.Llama;
using Serve.Training.Data;
using Serve.Training.Model;
using Serve.Training.Training;
using static TorchSharp.torch;

namespace Serve.Training.Tests;

/// <summary>The dataset formats people already have, read into the same conversations, and sequence packing.</summary>
[Collection(TrainingCollection.Name)]
public sealed class DataFormatTests(TrainingFixture fixture)
{
    private string Write(string name, params string[] lines)
    {
        var path = fixture.TempPath(name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Read_ShareGpt_MapsFromValueToRoles()
    {
        var examples = JsonlChatReader.Read(Write("sharegpt.jsonl",
            """{"conversations":[{"from":"system","value":"Be brief."},{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello."},{"from":"human","value":"Bye"},{"from":"gpt","value":"Bye."}]}"""));
        Assert.Equal([("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello."), ("user", "Bye"), ("assistant", "Bye.")], examples[0].Messages);
    }

    [Fact]
    public void Read_Alpaca_InstructionAndInputBecomeTheUserMessage()
    {
        var examples = JsonlChatReader.Read(Write("alpaca.jsonl",
            """{"instruction":"Translate to French.","input":"Good morning","output":"Bonjour"}""",
            """{"instruction":"Say hi.","input":"","output":"Hi!"}"""));
        Assert.Equal([("user", "Translate to French.\n\nGood morning"), ("assistant", "Bonjour")], examples[0].Messages);
        Assert.Equal([("user", "Say hi."), ("assistant", "Hi!")], examples[1].Messages);
    }

    [Fact]
    public void Encode_PlainText_TrainedWholeWithBosAndEos()
    {
        var examples = JsonlChatReader.Read(Write("text.jsonl", """{"text":"The lighthouse keeper walked home."}"""));
        Assert.Empty(examples[0].Messages);
        using var model = LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions { VocabOnly = true });
        var encoded = new ChatTokenizer(model).Encode(examples[0]);
        var expected = model.Vocab.Tokenize("The lighthouse keeper walked home.", addSpecial: true, parseSpecial: false);
        Assert.Equal([.. expected, model.Vocab.Eos], encoded.Tokens);
        Assert.Equal([false, .. Enumerable.Repeat(true, encoded.Tokens.Length - 1)], encoded.Trained);
    }

    [Fact]
    public void Read_EveryFormat_BadLinesReportedByNumber()
    {
        var error = Assert.Throws<DatasetException>(() => JsonlChatReader.Read(Write("bad-formats.jsonl",
            """{"text":"fine"}""",
            """{"conversations":[{"from":"human","value":"no answer"}]}""",
            """{"conversations":[{"from":"robot","value":"x"},{"from":"gpt","value":"y"}]}""",
            """{"instruction":"no output"}""",
            """{"text":""}""",
            """{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[{"type":"function"}]}]}""",
            """{"messages":[{"role":"user","content":"q"},{"role":"tool","content":"r","tool_calls":[{"function":{"name":"f"}}]},{"role":"assistant","content":"a"}]}""",
            """{"unknown":1}""")));
        Assert.Equal([2, 3, 4, 5, 6, 7, 8], error.Errors.Select(e => e.Line));
        Assert.Contains("no gpt answer", error.Errors[0].Message);
        Assert.Contains("robot", error.Errors[1].Message);
        Assert.Contains("output", error.Errors[2].Message);
        Assert.Contains("empty", error.Errors[3].Message);
        Assert.Contains("function with a string name", error.Errors[4].Message);
        Assert.Contains("only assistant messages call tools", error.Errors[5].Message);
        Assert.Contains("conversations", error.Errors[6].Message);
    }

    [Fact]
    public void Encode_ToolCalls_NeedARendererThatKnowsToolsAndReachIt()
    {
        var examples = JsonlChatReader.Read(Write("tools.jsonl",
            """{"messages":[{"role":"user","content":"Weather in Oslo?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}}]},{"role":"tool","tool_call_id":"c1","name":"weather","content":"rain"},{"role":"assistant","content":"It rains."}]}"""));
        var example = examples[0];
        Assert.True(example.UsesTools);
        Assert.Contains("\"weather\"", example.Tools![1]!.ToolCallsJson);
        Assert.Equal("c1", example.Tools[2]!.ToolCallId);

        using var model = LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions { VocabOnly = true });
        // llama.cpp's built-in matcher cannot render tool calls: a clear error, never a silently different prompt.
        var refused = Assert.Throws<NotSupportedException>(() => new ChatTokenizer(model, new LlamaCppChatTemplateRenderer(model)).Encode(example));
        Assert.Contains("line 1", refused.Message);

        // With a renderer that knows tools, both assistant turns are trained: a test renderer, and the default (the
        // server's Jinja formatter), whose trained text holds the call and the final answer but not the user's words.
        foreach (var tokenizer in new[] { new ChatTokenizer(model, new ToolEchoRenderer()), new ChatTokenizer(model) })
        {
            var encoded = tokenizer.Encode(example);
            var text = model.Vocab.Detokenize([.. encoded.Tokens.Where((_, i) => encoded.Trained[i])], removeSpecial: false, unparseSpecial: true);
            Assert.Contains("weather", text);
            Assert.Contains("It rains.", text);
            Assert.DoesNotContain("Oslo?", text);
        }
    }

    [Fact]
    public void Packing_SameLossAsUnpacked_AndAttentionStaysInsideEachExample()
    {
        var path = fixture.TempPath("pack.jsonl");
        MoodTaskDataset.WriteJsonl(path, 6, seed: 4);
        using var vocab = LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions { VocabOnly = true });
        var tokenizer = new ChatTokenizer(vocab);
        var examples = JsonlChatReader.Read(path).Select(e => tokenizer.Encode(e)).ToArray();
        using var model = LlamaForCausalLM.Load(fixture.ModelPath);
        model.eval();
        using var noGrad = no_grad();

        var rowLength = examples.Sum(e => e.Tokens.Length) / 2 + examples.Max(e => e.Tokens.Length);
        using var packed = TrainingBatch.CreatePacked(examples, rowLength, 0, CPU);
        using var unpacked = TrainingBatch.Create(examples, 0, CPU);
        Assert.True(packed.Inputs.shape[0] < examples.Length, "examples should share rows");
        Assert.Equal(unpacked.TrainedTokens, packed.TrainedTokens);
        var packedLoss = packed.LossSum(packed.Forward(model)).item<float>();
        var unpackedLoss = unpacked.LossSum(unpacked.Forward(model)).item<float>();
        Assert.True(Math.Abs(packedLoss - unpackedLoss) <= 1e-4 * unpackedLoss, $"packed {packedLoss} vs unpacked {unpackedLoss}");

        // The second example of the first row sees only itself: its logits equal those of the example alone.
        var second = packed.Segments![0].ToList().IndexOf(1);
        var alone = TorchLogits.Of(model, examples[1].Tokens);
        var logits = packed.Forward(model)[0];
        for (var i = 0; i < examples[1].Tokens.Length; i++)
        {
            var row = logits[second + i].data<float>().ToArray();
            Assert.True(row.Zip(alone[i]).Max(p => Math.Abs(p.First - p.Second)) <= 1e-4f, $"position {i}");
        }
    }

    /// <summary>Test double for the template engine: chatml with tool calls written as their JSON.</summary>
    private sealed class ToolEchoRenderer : IChatTemplateRenderer
    {
        public bool SupportsTools => true;

        public string Render(ChatExample conversation, int messageCount, bool addAssistant)
        {
            var text = string.Concat(conversation.Messages.Take(messageCount).Select((m, i) =>
                $"<|im_start|>{m.Role}\n{m.Content}{conversation.Tools?[i]?.ToolCallsJson}<|im_end|>\n"));
            return addAssistant ? text + "<|im_start|>assistant\n" : text;
        }
    }
}
