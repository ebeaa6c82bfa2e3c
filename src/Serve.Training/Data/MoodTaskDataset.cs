using System.Text.Json;

namespace Serve.Training.Data;

/// <summary>
/// A small task the project owns for learning checks: label the mood of a sentence in a fixed output format
/// (<c>mood: positive</c> / <c>mood: negative</c>). The label follows from which keyword the sentence holds; the
/// sentence frames and fillers vary, so held-out prompts are new sentences, not repeats. A random base model never
/// answers in this format, so the exact-match rate separates a trained adapter from none.
/// </summary>
public static class MoodTaskDataset
{
    private static readonly string[] Positive = ["happy", "glad", "great", "lovely", "wonderful", "good"];
    private static readonly string[] Negative = ["sad", "angry", "awful", "bad", "terrible", "upset"];
    private static readonly string[] Subjects = ["the teacher", "my friend", "the farmer", "our neighbour", "the child", "my sister", "the baker", "his brother"];
    private static readonly string[] Times = ["today", "this morning", "at the market", "after the rain", "in the evening", "on the train"];
    private static readonly string[] Frames = ["{0} felt {1} {2}.", "{2}, {0} was {1}.", "{0} looked {1} {2}.", "I think {0} is {1} {2}."];

    public const string Instruction = "Label the mood: ";

    public static string Answer(bool positive) => positive ? "mood: positive" : "mood: negative";

    /// <summary>Deterministic examples as (prompt, completion) pairs.</summary>
    public static IReadOnlyList<(string Prompt, string Completion)> Generate(int count, int seed)
    {
        var random = new Random(seed);
        var result = new List<(string, string)>(count);
        for (var i = 0; i < count; i++)
        {
            var positive = random.Next(2) == 0;
            var words = positive ? Positive : Negative;
            var sentence = string.Format(System.Globalization.CultureInfo.InvariantCulture, Frames[random.Next(Frames.Length)],
                Subjects[random.Next(Subjects.Length)], words[random.Next(words.Length)], Times[random.Next(Times.Length)]);
            result.Add((Instruction + char.ToUpperInvariant(sentence[0]) + sentence[1..], Answer(positive)));
        }
        return result;
    }

    /// <summary>Writes examples as {"prompt","completion"} JSON lines.</summary>
    public static void WriteJsonl(string path, int count, int seed)
    {
        using var writer = new StreamWriter(path);
        foreach (var (prompt, completion) in Generate(count, seed))
            writer.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string> { ["prompt"] = prompt, ["completion"] = completion }));
    }
}
