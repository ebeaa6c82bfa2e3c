using System.Text.RegularExpressions;

namespace Serve.Models;

/// <summary>
/// The training text of the default base model, all drawn from the project's own corpus: its conversations (as whole
/// chats and as single questions), questions about each section's topic answered with the section's paragraphs, a few
/// greetings, and every paragraph as plain text. Deterministic: the same corpus gives the same data.
/// </summary>
public static partial class DefaultModelData
{
    /// <summary>A chat of (role, content) messages, user first, alternating with the assistant.</summary>
    public sealed record Conversation(IReadOnlyList<(string Role, string Content)> Messages);

    private static readonly (string User, string Assistant)[] Greetings =
    [
        ("Hello!", "Hello! I am a small model served by Serve. Ask me about adapters, the weather, cooking, numbers, or a story."),
        ("Hi", "Hi! How can I help you today?"),
        ("Who are you?", "I am a small language model. I was trained on a short book of plain English text, and I answer simple questions."),
        ("What can you do?", "I can answer simple questions about adapters and servers, the weather, cooking, numbers and travel, and I can tell a short story."),
        ("Thank you!", "You are welcome. Ask again any time."),
        ("Good morning", "Good morning! I hope you have a good day."),
    ];

    // Topics the corpus never covers: the model learns to say so in plain words instead of drifting into noise.
    private static readonly string[] UnknownTopics =
    [
        "dragons", "quantum physics", "the stock market", "football", "volcanoes", "ancient Rome", "jazz music", "black holes",
        "car engines", "chess", "dinosaurs", "space travel", "electric cars", "the human brain", "the pyramids", "vaccines",
        "poetry prizes", "mountain climbing", "submarines", "video games", "the moon", "tax law", "robots", "painting",
    ];

    private static readonly string[] UnknownQuestions =
    [
        "Why is the sky blue?", "What is the meaning of life?", "Who will win the next election?", "How far away is the moon?",
        "What is the price of gold today?", "Can you write a computer virus?", "How do I fix my car?", "What time is it in Tokyo?",
        "Who invented the telephone?", "What is the best phone to buy?", "How do planes fly?", "Can you sing a song?",
    ];

    private const string Offer = "Ask me about adapters and servers, the weather, cooking, numbers, travel, or the lighthouse keeper.";

    private static readonly string[] TopicQuestions =
    [
        "Tell me about {0}.",
        "What do you know about {0}?",
        "Can you explain {0}?",
        "Write a few sentences about {0}.",
    ];

    /// <summary>Chats to train on with the chat template; the assistant turns carry the loss.</summary>
    public static IReadOnlyList<Conversation> Conversations(string? corpus = null)
    {
        var sections = Sections(corpus ?? EmbeddedCorpus.Text);
        var result = new List<Conversation>();
        foreach (var (user, assistant) in Greetings) result.Add(new Conversation([("user", user), ("assistant", assistant)]));
        for (var i = 0; i < UnknownTopics.Length; i++)
        {
            var question = string.Format(System.Globalization.CultureInfo.InvariantCulture, TopicQuestions[i % TopicQuestions.Length], UnknownTopics[i]);
            result.Add(new Conversation([("user", question), ("assistant", $"I do not know much about {UnknownTopics[i]}. I am a small model that has read one short book. {Offer}")]));
        }
        foreach (var question in UnknownQuestions)
            result.Add(new Conversation([("user", question), ("assistant", $"I am sorry, I do not know that. I am a small model that has read one short book. {Offer}")]));
        foreach (var section in sections)
        {
            foreach (var dialogue in section.Dialogues)
            {
                result.Add(new Conversation(dialogue));
                // Each exchange on its own too, so a first question gets its answer without the earlier turns.
                for (var i = 2; i < dialogue.Count; i += 2) result.Add(new Conversation([dialogue[i], dialogue[i + 1]]));
            }
            if (section.Topic is null || section.Paragraphs.Count == 0) continue;
            for (var q = 0; q < TopicQuestions.Length; q++)
            {
                var answer = section.Paragraphs[q % section.Paragraphs.Count];
                result.Add(new Conversation([("user", string.Format(System.Globalization.CultureInfo.InvariantCulture, TopicQuestions[q], section.Topic)), ("assistant", answer)]));
            }
        }
        return result;
    }

    /// <summary>One question with the corpus's answer and the topic of the section it is in.</summary>
    public sealed record QuestionAnswer(string Question, string Answer, string Topic);

    /// <summary>
    /// Every single question of the corpus with its answer (the first exchange of each conversation and the topic
    /// questions), distinct by question. The demo adapters' datasets are built from these.
    /// </summary>
    public static IReadOnlyList<QuestionAnswer> QuestionsAndAnswers(string? corpus = null)
    {
        var result = new List<QuestionAnswer>();
        foreach (var section in Sections(corpus ?? EmbeddedCorpus.Text))
        {
            var topic = section.Topic ?? "the corpus";
            foreach (var dialogue in section.Dialogues)
                for (var i = 0; i < dialogue.Count; i += 2)
                    if (!dialogue[i].Content.StartsWith("And ", StringComparison.Ordinal)) result.Add(new QuestionAnswer(dialogue[i].Content, dialogue[i + 1].Content, topic));
            for (var q = 0; q < TopicQuestions.Length && section.Topic is not null && section.Paragraphs.Count > 0; q++)
                result.Add(new QuestionAnswer(string.Format(System.Globalization.CultureInfo.InvariantCulture, TopicQuestions[q], section.Topic), section.Paragraphs[q % section.Paragraphs.Count], topic));
        }
        return [.. result.DistinctBy(r => r.Question)];
    }

    /// <summary>Every prose paragraph of the corpus, for plain language-model training.</summary>
    public static IReadOnlyList<string> Passages(string? corpus = null) =>
        [.. Sections(corpus ?? EmbeddedCorpus.Text).SelectMany(s => s.Paragraphs)];

    /// <summary>The user questions of the corpus's conversations (demo datasets reuse them as prompts).</summary>
    public static IReadOnlyList<string> Questions(string? corpus = null) =>
        [.. Sections(corpus ?? EmbeddedCorpus.Text).SelectMany(s => s.Dialogues).SelectMany(d => d.Where(m => m.Role == "user").Select(m => m.Content)).Distinct()];

    /// <summary>The topics of the corpus's sections ("the weather", "a small garden"), for questions about them.</summary>
    public static IReadOnlyList<string> Topics(string? corpus = null) =>
        [.. Sections(corpus ?? EmbeddedCorpus.Text).Select(s => s.Topic).OfType<string>().Distinct()];

    private sealed record Section(string? Topic, List<string> Paragraphs, List<List<(string Role, string Content)>> Dialogues);

    private static List<Section> Sections(string corpus)
    {
        var sections = new List<Section>();
        var current = new Section(null, [], []);
        sections.Add(current);
        foreach (var block in corpus.Replace("\r\n", "\n").Split("\n\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var lines = block.Split('\n', StringSplitOptions.TrimEntries);
            if (lines.Length == 1 && IsTitle(lines[0]))
            {
                current = new Section(TopicOf(lines[0]), [], []);
                sections.Add(current);
                continue;
            }
            if (lines[0].StartsWith("User:", StringComparison.Ordinal))
            {
                var dialogue = new List<(string, string)>();
                foreach (var line in lines)
                {
                    if (line.StartsWith("User:", StringComparison.Ordinal)) dialogue.Add(("user", line[5..].Trim()));
                    else if (line.StartsWith("Assistant:", StringComparison.Ordinal)) dialogue.Add(("assistant", line[10..].Trim()));
                }
                // Only well-formed chats: user first, strictly alternating, ending with the assistant.
                var alternating = dialogue.Count >= 2 && dialogue.Count % 2 == 0 && dialogue.Select((m, i) => m.Item1 == (i % 2 == 0 ? "user" : "assistant")).All(x => x);
                if (alternating) current.Dialogues.Add(dialogue);
                continue;
            }
            // Letters and lists keep their lines; prose paragraphs are one line each.
            current.Paragraphs.Add(string.Join(lines.Length > 1 && lines.All(l => l.Length < 80) ? "\n" : " ", lines));
        }
        return sections;
    }

    private static bool IsTitle(string line) => line.Length < 60 && !line.EndsWith('.') && !line.EndsWith('?') && !line.EndsWith('!') && !line.EndsWith(':') && !line.EndsWith(',') && char.IsUpper(line[0]);

    private static string TopicOf(string title)
    {
        var match = TopicPrefix().Match(title);
        var topic = match.Success ? title[match.Length..] : title;
        return char.ToLowerInvariant(topic[0]) + topic[1..];
    }

    [GeneratedRegex("^(A conversation about|Questions and answers about|A short story:|More) ?", RegexOptions.CultureInvariant)]
    private static partial Regex TopicPrefix();
}
