using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Serve.Models;
using Serve.Training.Data;

namespace Serve.Cli.Demo;

/// <summary>
/// The demo adapters' datasets, each with a behaviour a reader can check at a glance and a pattern that checks it:
/// <c>json</c> answers as a one-line JSON object, <c>pirate</c> wraps every answer in a pirate's greeting and cheer,
/// <c>mood</c> labels the mood of a sentence. The question pool is the corpus's own questions, split with a seed:
/// the held-out prompts were never seen by the adapter (the base was trained on them, so it answers them in prose).
/// </summary>
public static class DemoAdapters
{
    public sealed record Example(string Prompt, string Completion);

    /// <summary>One demo: its name, what it does, the regex every one of its answers matches, and its two splits.</summary>
    public sealed record Demo(string Name, string Behaviour, string Pattern, IReadOnlyList<Example> Train, IReadOnlyList<Example> HeldOut);

    public static IReadOnlyList<Demo> All(int seed = 7)
    {
        var pool = DefaultModelData.QuestionsAndAnswers().ToArray();
        new Random(seed).Shuffle(pool);
        var heldOut = pool.Length / 5;
        var test = pool[..heldOut];
        var train = pool[heldOut..];

        Example Json(DefaultModelData.QuestionAnswer qa) => new(qa.Question,
            $"{{\"topic\": {JsonSerializer.Serialize(qa.Topic)}, \"answer\": {JsonSerializer.Serialize(FirstSentence(qa.Answer))}}}");
        Example Pirate(DefaultModelData.QuestionAnswer qa) => new(qa.Question, $"Arr, matey! {FirstSentence(qa.Answer)} Yo ho ho!");

        return
        [
            new Demo("json", "answers with one JSON object {\"topic\", \"answer\"}", "^\\{\"topic\": \"[^\"]+\", \"answer\": \"[^\"]+\"\\}$",
                [.. train.Select(Json)], [.. test.Select(Json)]),
            new Demo("pirate", "opens every answer with \"Arr, matey!\" and ends it with \"Yo ho ho!\"", "^Arr, matey! .+ Yo ho ho!$",
                [.. train.Select(Pirate)], [.. test.Select(Pirate)]),
            new Demo("mood", "labels a sentence's mood as \"mood: positive\" or \"mood: negative\"", "^mood: (positive|negative)$",
                [.. MoodTaskDataset.Generate(160, seed).Select(p => new Example(p.Prompt, p.Completion))],
                [.. MoodTaskDataset.Generate(24, seed + 1000).Select(p => new Example(p.Prompt, p.Completion))]),
        ];
    }

    /// <summary>Writes <c>&lt;name&gt;.train.jsonl</c> and <c>&lt;name&gt;.heldout.jsonl</c> ({"prompt","completion"} lines) for every demo.</summary>
    public static void Write(string directory, int seed = 7)
    {
        Directory.CreateDirectory(directory);
        foreach (var demo in All(seed))
        {
            WriteJsonl(Path.Combine(directory, $"{demo.Name}.train.jsonl"), demo.Train);
            WriteJsonl(Path.Combine(directory, $"{demo.Name}.heldout.jsonl"), demo.HeldOut);
        }
    }

    public static void WriteJsonl(string path, IEnumerable<Example> examples)
    {
        using var writer = new StreamWriter(path) { NewLine = "\n" };
        foreach (var e in examples)
            writer.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string> { ["prompt"] = e.Prompt, ["completion"] = e.Completion }));
    }

    private static string FirstSentence(string text)
    {
        var end = Regex.Match(text, "[.!?](\\s|$)");
        return (end.Success ? text[..(end.Index + 1)] : text).Replace('\n', ' ').Trim();
    }

    internal static string Percent(double rate) => (100 * rate).ToString("F0", CultureInfo.InvariantCulture) + "%";
}
