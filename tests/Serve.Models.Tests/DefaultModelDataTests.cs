namespace Serve.Models.Tests;

public sealed class DefaultModelDataTests
{
    [Fact]
    public void Conversations_AreUserFirstAlternatingChats_EndingWithTheAssistant()
    {
        var chats = DefaultModelData.Conversations();
        Assert.True(chats.Count >= 100, $"{chats.Count} chats");
        Assert.All(chats, c =>
        {
            Assert.True(c.Messages.Count >= 2 && c.Messages.Count % 2 == 0);
            for (var i = 0; i < c.Messages.Count; i++)
            {
                Assert.Equal(i % 2 == 0 ? "user" : "assistant", c.Messages[i].Role);
                Assert.False(string.IsNullOrWhiteSpace(c.Messages[i].Content));
                Assert.DoesNotContain("User:", c.Messages[i].Content);
            }
        });
        // The corpus's own exchanges are in, both in context and on their own.
        Assert.Contains(chats, c => c.Messages[0].Content == "What is the weather like today?" && c.Messages.Count > 2);
        Assert.Contains(chats, c => c.Messages[0].Content == "Will it rain tomorrow?" && c.Messages.Count == 2);
    }

    [Fact]
    public void QuestionsAndAnswers_AreDistinctWithTopics_AndTopicQuestionsUseSectionParagraphs()
    {
        var pairs = DefaultModelData.QuestionsAndAnswers();
        Assert.Equal(pairs.Count, pairs.Select(p => p.Question).Distinct().Count());
        Assert.Contains(pairs, p => p.Question == "How do I cook rice?" && p.Topic == "cooking");
        Assert.Contains(pairs, p => p.Question == "Tell me about the weather." && p.Answer.StartsWith("In spring", StringComparison.Ordinal));
        Assert.DoesNotContain(pairs, p => p.Question.StartsWith("And ", StringComparison.Ordinal)); // follow-ups need their context
        Assert.Contains("the lighthouse keeper", DefaultModelData.Topics());
    }

    [Fact]
    public void Passages_ArePlainParagraphs_NoTitlesNoDialogue()
    {
        var passages = DefaultModelData.Passages();
        Assert.True(passages.Count >= 40);
        Assert.All(passages, p => Assert.False(p.StartsWith("User:", StringComparison.Ordinal)));
        Assert.DoesNotContain("A conversation about the weather", passages);
    }
}
