using System.Text;

namespace Serve.LoadTest.Workloads;

/// <summary>Builds prompt text of about N tokens from common short English words: with an SPM or BPE vocabulary
/// such words are mostly one token each, so word count approximates prompt tokens without a tokenizer.</summary>
public static class PromptText
{
    private static readonly string[] Words =
    [
        "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are", "as", "with",
        "his", "they", "at", "be", "this", "have", "from", "or", "one", "had", "by", "word", "but", "not", "what",
        "all", "were", "we", "when", "your", "can", "said", "there", "use", "an", "each", "which", "she", "do",
        "how", "their", "if", "will", "up", "other", "about", "out", "many", "then", "them", "these", "so", "some",
        "her", "would", "make", "like", "him", "into", "time", "has", "look", "two", "more", "write", "go", "see",
        "number", "no", "way", "could", "people", "my", "than", "first", "water", "been", "call", "who", "oil",
        "its", "now", "find", "long", "down", "day", "did", "get", "come", "made", "may", "part", "over", "new",
        "sound", "take", "only", "little", "work", "know", "place", "year", "live", "me", "back", "give", "most",
        "very", "after", "thing", "our", "just", "name", "good", "man", "think", "say", "great", "where", "help",
        "through", "much", "before", "line", "right", "too", "mean", "old", "any", "same", "tell", "boy", "follow",
        "came", "want", "show", "also", "around", "form", "three", "small", "set", "put", "end", "does", "another",
        "well", "large", "must", "big", "even", "such", "because", "turn", "here", "why", "ask", "went", "men",
        "read", "need", "land", "different", "home", "us", "move", "try", "kind", "hand", "picture", "again",
        "change", "off", "play", "spell", "air", "away", "animal", "house", "point", "page", "letter", "mother",
    ];

    /// <summary>A prompt of <paramref name="tokens"/> words, optionally after a fixed prefix.</summary>
    public static string Build(int tokens, Random rng, string? prefix)
    {
        var sb = new StringBuilder(prefix?.Length + tokens * 6 ?? tokens * 6);
        if (prefix is not null) sb.Append(prefix).Append(' ');
        for (var i = 0; i < tokens; i++)
        {
            if (i > 0) sb.Append(' ');
            sb.Append(Words[rng.Next(Words.Length)]);
        }
        return sb.ToString();
    }
}
