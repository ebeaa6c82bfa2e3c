using Serve.Llama.Native;

namespace Serve.Llama.Tests;

[Collection(LlamaModelCollection.Name)]
public sealed class ModelTests(LlamaModelFixture fixture)
{
    private readonly LlamaModel _model = fixture.Model;

    [Fact]
    public void Load_MadeModel_ReportsSpecHyperparameters()
    {
        Assert.Equal(64, _model.EmbeddingLength);
        Assert.Equal(2, _model.LayerCount);
        Assert.Equal(4, _model.HeadCount);
        Assert.Equal(2, _model.HeadCountKv);
        Assert.Equal(512, _model.TrainContextLength);
        Assert.Equal(LlamaRopeType.Norm, _model.RopeType);
        Assert.False(_model.HasEncoder);
        Assert.True(_model.HasDecoder);
        Assert.False(_model.IsRecurrent);
        Assert.True(_model.ParameterCount > 0);
        Assert.True(_model.SizeBytes >= _model.ParameterCount * 4 - 1024); // F32 weights
        Assert.False(string.IsNullOrEmpty(_model.Description));
    }

    [Fact]
    public void Metadata_MadeModel_HasArchitectureAndName()
    {
        Assert.Equal("llama", _model.Metadata["general.architecture"]);
        Assert.Equal("serve-test", _model.Metadata["general.name"]);
        Assert.Equal("64", _model.Metadata["llama.embedding_length"]);
    }

    [Fact]
    public void ChatTemplate_MadeModel_IsChatml()
    {
        var template = _model.ChatTemplate;
        Assert.NotNull(template);
        Assert.Contains("<|im_start|>", template);
        Assert.Null(_model.GetChatTemplate("no-such-name"));
    }

    [Fact]
    public void ChatTemplateApply_ModelOwnTemplate_EqualsChatml()
    {
        (string, string)[] messages = [("user", "Hello there")];
        var own = LlamaChatTemplate.Apply(_model, null, messages, addAssistant: true);
        Assert.Equal("<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n", own);
        Assert.Equal(LlamaChatTemplate.Apply("chatml", messages, true), own);
    }

    [Fact]
    public void Load_WithProgress_ReportsUpToOne()
    {
        var values = new List<float>();
        using var model = LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions { Progress = new SyncProgress(values.Add), UseMmap = false });
        Assert.NotEmpty(values);
        Assert.Equal(1f, values[^1]);
    }

    [Fact]
    public void Load_CancelledToken_ThrowsOperationCanceled()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions(), cts.Token));
    }

    [Fact]
    public void Load_VocabOnly_TokenizesWithoutWeights()
    {
        using var model = LlamaModel.Load(fixture.ModelPath, new LlamaModelOptions { VocabOnly = true });
        Assert.Equal(_model.Vocab.Tokenize("hello world", false, false), model.Vocab.Tokenize("hello world", false, false));
    }

    [Fact]
    public void Load_MissingFile_ThrowsFileNotFound()
    {
        Assert.Throws<FileNotFoundException>(() => LlamaModel.Load("/nonexistent/model.gguf"));
    }

    [Fact]
    public void Load_NotGguf_ThrowsLlamaExceptionWithNativeReason()
    {
        var path = Path.Combine(fixture.Directory, "not-a-model.gguf");
        File.WriteAllText(path, "this is not a gguf file, just some text that is long enough to read a header from");
        var ex = Assert.Throws<LlamaException>(() => LlamaModel.Load(path));
        Assert.Contains("Failed to load model", ex.Message);
        Assert.Contains("invalid magic", ex.Message); // llama.cpp's own reason, from its error log
    }

    [Fact]
    public void Load_TruncatedModel_ThrowsLlamaException()
    {
        var path = Path.Combine(fixture.Directory, "truncated-model.gguf");
        var bytes = File.ReadAllBytes(fixture.ModelPath);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        Assert.Throws<LlamaException>(() => LlamaModel.Load(path));
    }

    [Fact]
    public void Dispose_ModelBeforeContext_ContextStillDecodes()
    {
        var model = LlamaModel.Load(fixture.ModelPath);
        var context = LlamaContext.Create(model, new LlamaContextOptions { ContextSize = 64, Threads = 2 });
        var tokens = model.Vocab.Tokenize("hello", true, false);
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Description);
        Assert.Throws<ObjectDisposedException>(() => LlamaContext.Create(model));
        Assert.NotEmpty(Decoding.PromptLogits(context, tokens));
        context.Dispose();
        Assert.Throws<ObjectDisposedException>(() => context.Decode(new LlamaBatch(1)));
    }

    private sealed class SyncProgress(Action<float> report) : IProgress<float>
    {
        public void Report(float value) => report(value);
    }
}
