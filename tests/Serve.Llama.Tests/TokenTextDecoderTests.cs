using System.Text;

namespace Serve.Llama.Tests;

public sealed class TokenTextDecoderTests
{
    [Fact]
    public void Append_SplitMultibyteSequence_HoldsBytesUntilComplete()
    {
        var decoder = new TokenTextDecoder();
        var bytes = Encoding.UTF8.GetBytes("a🙂é");
        var output = new StringBuilder();
        foreach (var b in bytes) output.Append(decoder.Append([b]));
        output.Append(decoder.Flush());
        Assert.Equal("a🙂é", output.ToString());
    }

    [Fact]
    public void Append_PartialSequence_ReturnsEmptyUntilComplete()
    {
        var decoder = new TokenTextDecoder();
        var emoji = Encoding.UTF8.GetBytes("🙂");
        Assert.Equal("", decoder.Append(emoji.AsSpan(0, 2)));
        Assert.Equal("", decoder.Append(emoji.AsSpan(2, 1)));
        Assert.Equal("🙂", decoder.Append(emoji.AsSpan(3, 1)));
    }

    [Fact]
    public void Flush_UnfinishedSequence_EmitsReplacementCharacter()
    {
        var decoder = new TokenTextDecoder();
        Assert.Equal("x", decoder.Append([(byte)'x', 0xE4]));
        Assert.Equal("\uFFFD", decoder.Flush());
    }
}
