using System.Text.Json;
using Serve.Models;
using Serve.Templates;

namespace Serve.Cli.Demo;

/// <summary>
/// The <c>tools</c> demo adapter's data: asked about the weather in a city, it calls get_weather(city); given the
/// function's result, it answers from it ("In Paris it is sunny and 21 degrees."); asked anything else, it answers in
/// plain text. Conversations are written the way the server formats a request with tools for a model whose template
/// has no place for them (<see cref="GenericToolFormat"/>: the tools in the system message, calls as
/// &lt;tool_call&gt; text, results as tool messages), so training and serving see the same tokens.
/// </summary>
public static class ToolsDemo
{
    public const string Name = "tools";

    /// <summary>The function as clients describe it (README, tests). Variants below keep the adapter from depending on one exact schema text.</summary>
    public static readonly ChatTool GetWeather = new("get_weather", "Get the current weather in a city",
        """{"type":"object","properties":{"city":{"type":"string","description":"The city, e.g. Paris"}},"required":["city"]}""");

    private static readonly ChatTool[] Variants =
    [
        GetWeather,
        new("get_weather", "Get the current weather in a city", """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""),
        new("get_weather", "Current weather of a city", """{"type":"object","properties":{"city":{"description":"City name","type":"string"}},"required":["city"],"additionalProperties":false}"""),
        new("get_weather", null, """{"type":"object","properties":{"city":{"type":"string"}}}"""),
    ];

    public static readonly string[] Cities =
        ["Paris", "London", "Oslo", "Lima", "Tokyo", "Cairo", "Rome", "Berlin", "Madrid", "Dublin", "Vienna", "Lisbon", "Sydney", "Toronto", "Nairobi", "Seoul"];

    public static readonly string[] Forecasts = ["sunny", "rainy", "cloudy", "windy", "snowy", "foggy"];

    private static readonly string[] Questions =
    [
        "What is the weather in {0}?", "What's the weather like in {0} today?", "Will it rain in {0}?", "How is the weather in {0}?",
        "Is it cold in {0} right now?", "Tell me the weather in {0}.", "Weather in {0}, please.", "Do I need an umbrella in {0}?",
        "How warm is it in {0}?", "What is the forecast for {0}?",
    ];

    /// <summary>What get_weather returns, as the examples and the tests write it.</summary>
    public static string Result(string city, string forecast, int celsius, bool compact = false) => compact
        ? $"{{\"city\":{JsonSerializer.Serialize(city)},\"forecast\":\"{forecast}\",\"temperature_c\":{celsius}}}"
        : $"{{\"city\": {JsonSerializer.Serialize(city)}, \"forecast\": \"{forecast}\", \"temperature_c\": {celsius}}}";

    public static string Answer(string city, string forecast, int celsius) => $"In {city} it is {forecast} and {celsius} degrees.";

    public const string Pattern = "^(<tool_call>\\{\"name\": \"get_weather\", \"arguments\": \\{\"city\": \"[A-Za-z ]+\"\\}\\}</tool_call>|In [A-Z][A-Za-z ]* it is [a-z]+ and -?[0-9]+ degrees\\.)$";

    public static IReadOnlyList<IReadOnlyList<(string Role, string Content)>> Conversations(int count, int seed)
    {
        var random = new Random(seed);
        var others = DefaultModelData.QuestionsAndAnswers().ToArray();
        random.Shuffle(others);
        var result = new List<IReadOnlyList<(string, string)>>();
        for (var i = 0; i < count; i++)
        {
            var tool = Variants[random.Next(Variants.Length)];
            var system = GenericToolFormat.Describe([tool]);
            if (random.Next(4) == 0) system = "You are a helpful assistant.\n\n" + system;
            if (i % 5 == 4)
            {
                // Not about the weather: a plain answer, no call.
                var qa = others[i / 5 % others.Length];
                result.Add([("system", system), ("user", qa.Question), ("assistant", FirstSentence(qa.Answer))]);
                continue;
            }
            var city = Cities[random.Next(Cities.Length)];
            var forecast = Forecasts[random.Next(Forecasts.Length)];
            var celsius = random.Next(-5, 36);
            var question = string.Format(System.Globalization.CultureInfo.InvariantCulture, Questions[random.Next(Questions.Length)], city);
            var call = GenericToolFormat.FormatCall(new ChatToolCall("", "get_weather", $"{{\"city\": {JsonSerializer.Serialize(city)}}}"));
            result.Add([("system", system), ("user", question), ("assistant", call),
                ("tool", Result(city, forecast, celsius, compact: random.Next(2) == 0)), ("assistant", Answer(city, forecast, celsius))]);
        }
        return result;
    }

    /// <summary>Writes tools.train.jsonl and tools.heldout.jsonl; held-out lines end at the call or at the answer (the target).</summary>
    public static (int Train, int HeldOut) Write(string directory, int seed)
    {
        Directory.CreateDirectory(directory);
        var train = Conversations(100, seed);
        WriteJsonl(Path.Combine(directory, $"{Name}.train.jsonl"), train);
        // Held out: weather conversations only (the pattern checks the call and the answer), cut at each target.
        var heldOut = Conversations(30, seed + 1000).Where(c => c.Count == 5)
            .SelectMany(c => new[] { c.Take(3).ToList(), c.ToList() })
            .ToList();
        WriteJsonl(Path.Combine(directory, $"{Name}.heldout.jsonl"), heldOut);
        return (train.Count, heldOut.Count);
    }

    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static void WriteJsonl(string path, IEnumerable<IReadOnlyList<(string Role, string Content)>> conversations)
    {
        using var writer = new StreamWriter(path) { NewLine = "\n" };
        foreach (var c in conversations)
            writer.WriteLine(JsonSerializer.Serialize(new { messages = c.Select(m => new { role = m.Role, content = m.Content }) }, Readable));
    }

    private static string FirstSentence(string text)
    {
        var end = System.Text.RegularExpressions.Regex.Match(text, "[.!?](\\s|$)");
        return (end.Success ? text[..(end.Index + 1)] : text).Replace('\n', ' ').Trim();
    }
}
