using Serve.Llama;
using Serve.Training.Data;

namespace Serve.Training.Tests;

[Collection(TrainingCollection.Name)]
public sealed class DataTests(TrainingFixture fixture)
{
    private string Write(string name, params string[] lines)
    {
        var path = fixture.TempPath(name);
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Read_MessagesAndPromptCompletion_BothParsedWithLineNumbers()
    {
        var path = Write("mixed.jsonl",
            """{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello."}]}""",
            "",
            """{"prompt":"What is two and two?","completion":"Four."}""");
        var examples = JsonlChatReader.Read(path);
        Assert.Equal(2, examples.Count);
        Assert.Equal(1, examples[0].Line);
        Assert.Equal(3, examples[1].Line);
        Assert.Equal([("user", "What is two and two?"), ("assistant", "Four.")], examples[1].Messages);
    }

    [Fact]
    public void Read_BadLines_AllReportedWithLineNumbersNothingDropped()
    {
        var path = Write("bad.jsonl",
            """{"prompt":"ok","completion":"fine"}""",
            """{"prompt":"missing completion"}""",
            """not json""",
            """{"messages":[{"role":"user","content":"no answer"}]}""",
            """{"messages":[{"role":"wizard","content":"x"},{"role":"assistant","content":"y"}]}""",
            """{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"},{"role":"user","content":"dangling"}]}""",
            """[1,2]""");
        var error = Assert.Throws<DatasetException>(() => JsonlChatReader.Read(path));
        Assert.Equal([2, 3, 4, 5, 6, 7], error.Errors.Select(e => e.Line));
        Assert.Contains("completion", error.Errors[0].Message);
        Assert.Contains("not valid JSON", error.Errors[1].Message);
        Assert.Contains("no assistant message", error.Errors[2].Message);
        Assert.Contains("wizard", error.Errors[3].Message);
        Assert.Contains("no assistant answer", error.Errors[4].Message);
        Assert.Contains($"{path}:line 2:", error.Message);
    }

    [Fact]
    public void Encode_Conversation_PromptMatchesServerAndOnlyAnswersWithEotAreTrained()
    {
        using var model = LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions { VocabOnly = true });
        var tokenizer = new ChatTokenizer(model);
        var example = new ChatExample(1, [("system", "Be brief."), ("user", "Hi there"), ("assistant", "Hello friend."), ("user", "Bye"), ("assistant", "Good night.")]);
        var encoded = tokenizer.Encode(example);

        // The prompt of the last turn is exactly what the server would build and tokenize.
        var serverText = LlamaChatTemplate.Apply(model, null, example.Messages.Take(4).ToList(), addAssistant: true);
        var serverPrompt = model.Vocab.Tokenize(serverText, addSpecial: true, parseSpecial: true);
        Assert.Equal(serverPrompt, encoded.Tokens[..serverPrompt.Length]);
        Assert.False(encoded.Trained[serverPrompt.Length - 1]);

        // Trained spans: each answer followed by the end-of-turn token, nothing else.
        var spans = new List<string>();
        var current = new List<int>();
        for (var i = 0; i < encoded.Tokens.Length; i++)
        {
            if (encoded.Trained[i]) current.Add(encoded.Tokens[i]);
            else if (current.Count > 0) { spans.Add(Text(model, current)); current.Clear(); }
        }
        if (current.Count > 0) spans.Add(Text(model, current));
        Assert.Equal(["Hello friend.<|im_end|>", "Good night.<|im_end|>"], spans);
        Assert.Equal(model.Vocab.Eot, encoded.Tokens[^1]);
        Assert.Equal(tokenizer.EndOfTurnToken, model.Vocab.Eot);
    }

    [Fact]
    public void Encode_TrainOnPrompt_TrainsEveryTokenButTheFirst()
    {
        using var model = LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions { VocabOnly = true });
        var encoded = new ChatTokenizer(model).Encode(new ChatExample(1, [("user", "Hi"), ("assistant", "Yes.")]), trainOnPrompt: true);
        Assert.False(encoded.Trained[0]);
        Assert.All(encoded.Trained.Skip(1), Assert.True);
    }

    [Theory]
    [InlineData(TruncationMode.Right)]
    [InlineData(TruncationMode.Left)]
    [InlineData(TruncationMode.Drop)]
    public void Build_LongExamples_TruncatedOrDroppedAndReported(TruncationMode mode)
    {
        using var model = LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions { VocabOnly = true });
        var tokenizer = new ChatTokenizer(model);
        var longAnswer = string.Join(" ", Enumerable.Repeat("the farmer walked to the market", 20));
        ChatExample[] examples =
        [
            new(1, [("user", "short"), ("assistant", "fine")]),
            new(2, [("user", "tell me a long story"), ("assistant", longAnswer)]),
        ];
        var data = TokenizedDataset.Build(examples, tokenizer, 48, mode, evalFraction: 0, seed: 1);
        Assert.All(data.Train, e => Assert.True(e.Tokens.Length <= 48));
        if (mode == TruncationMode.Drop)
        {
            Assert.Equal([2], data.DroppedLines);
            Assert.Single(data.Train);
        }
        else
        {
            Assert.Equal([2], data.TruncatedLines);
            var cut = data.Train.Single(e => e.Line == 2);
            Assert.Equal(48, cut.Tokens.Length);
            Assert.Equal(model.Vocab.Bos, cut.Tokens[0]);
            // Left keeps the end of the answer, EOT included; right keeps the prompt.
            if (mode == TruncationMode.Left) Assert.Equal(model.Vocab.Eot, cut.Tokens[^1]);
            else Assert.Equal(tokenizer.Encode(examples[1]).Tokens[..48], cut.Tokens);
        }
    }

    [Fact]
    public void Build_EvalSplit_SeededDisjointAndComplete()
    {
        using var model = LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions { VocabOnly = true });
        var tokenizer = new ChatTokenizer(model);
        var examples = Enumerable.Range(1, 30).Select(i => new ChatExample(i, [("user", $"question {i}"), ("assistant", $"answer {i}")])).ToArray();
        var a = TokenizedDataset.Build(examples, tokenizer, 128, TruncationMode.Right, 0.2, seed: 5);
        var b = TokenizedDataset.Build(examples, tokenizer, 128, TruncationMode.Right, 0.2, seed: 5);
        var c = TokenizedDataset.Build(examples, tokenizer, 128, TruncationMode.Right, 0.2, seed: 6);
        Assert.Equal(6, a.Eval.Count);
        Assert.Equal(a.Eval.Select(e => e.Line), b.Eval.Select(e => e.Line));
        Assert.NotEqual(a.Eval.Select(e => e.Line), c.Eval.Select(e => e.Line));
        Assert.Empty(a.Eval.Select(e => e.Line).Intersect(a.Train.Select(e => e.Line)));
        Assert.Equal(Enumerable.Range(1, 30), a.Eval.Concat(a.Train).Select(e => e.Line).Order());
    }

    private static string Text(LlamaModel model, List<int> tokens) => model.Vocab.Detokenize(tokens.ToArray(), unparseSpecial: true);
}
