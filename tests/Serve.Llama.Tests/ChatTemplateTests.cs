namespace Serve.Llama.Tests;

public sealed class BuiltInChatTemplateTests
{
    private static readonly (string, string)[] Conversation = [("system", "Be brief."), ("user", "Hi")];

    [Fact]
    public void BuiltInTemplates_List_ContainsChatmlAndLlama3()
    {
        var names = LlamaChatTemplate.BuiltInTemplates;
        Assert.Contains("chatml", names);
        Assert.Contains("llama3", names);
        Assert.True(names.Count > 20);
    }

    [Fact]
    public void Apply_Chatml_ProducesChatmlTurns()
    {
        var text = LlamaChatTemplate.Apply("chatml", Conversation, addAssistant: true);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void Apply_Llama3_ProducesHeaderTurns()
    {
        var text = LlamaChatTemplate.Apply("llama3", Conversation, addAssistant: false);
        Assert.Equal(
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", text);
    }

    [Fact]
    public void Apply_LongMessages_GrowsBufferAndKeepsUtf8()
    {
        var content = string.Concat(Enumerable.Repeat("héllo wörld 你好 🙂 ", 500));
        var text = LlamaChatTemplate.Apply("chatml", [("user", content)], addAssistant: false);
        Assert.Equal($"<|im_start|>user\n{content}<|im_end|>\n", text);
    }

    [Fact]
    public void Apply_UnknownTemplate_ThrowsLlamaException()
    {
        var ex = Assert.Throws<LlamaException>(() => LlamaChatTemplate.Apply("no-such-template", Conversation, true));
        Assert.Contains("not supported", ex.Message);
    }
}
