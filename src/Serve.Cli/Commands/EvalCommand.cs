using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Serve.Cli.Demo;
using Serve.Training.Data;

namespace Serve.Cli.Commands;

/// <summary>
/// <c>serve eval</c>: held-out prompts answered greedily by the base and by an adapter through llama.cpp, scored by exact
/// match and by an optional behaviour pattern; exit 1 when the adapter's pattern rate is below --min-pattern-rate.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var basePath = new Option<FileInfo>("--base") { Description = "Base model GGUF", Required = true };
        var adapter = new Option<FileInfo?>("--adapter") { Description = "Adapter GGUF (omit to score the base alone)" };
        var data = new Option<FileInfo>("--data") { Description = "Held-out JSONL ({\"prompt\",\"completion\"} or {\"messages\"}); the last assistant turn is the target", Required = true };
        var pattern = new Option<string?>("--pattern") { Description = "Regex every answer with the behaviour matches (whole trimmed answer)" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens per answer", DefaultValueFactory = _ => 96 };
        var show = new Option<int>("--show") { Description = "Answers to print side by side", DefaultValueFactory = _ => 3 };
        var minRate = new Option<double?>("--min-pattern-rate") { Description = "Fail (exit 1) when the adapter matches the pattern less often than this (0..1)" };
        var command = new Command("eval", "Score a base model and an adapter on held-out prompts (exact match, behaviour pattern)")
        {
            basePath, adapter, data, pattern, maxTokens, show, minRate,
        };
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            if (parseResult.GetValue(minRate) is { } asked && (parseResult.GetValue(pattern) is null || asked is < 0 or > 1))
                throw new ArgumentException("--min-pattern-rate needs --pattern and a rate between 0 and 1");
            IReadOnlyList<ChatExample> examples;
            try
            {
                examples = JsonlChatReader.Read(parseResult.GetValue(data)!.FullName);
            }
            catch (DatasetException e)
            {
                parseResult.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                return CommandErrors.ExitInvalid;
            }
            var regexText = parseResult.GetValue(pattern);
            var regex = regexText is null ? null : new Regex(regexText, RegexOptions.CultureInvariant | RegexOptions.Singleline);
            var adapterPath = parseResult.GetValue(adapter)?.FullName;
            using var evaluator = new AdapterEvaluator(parseResult.GetValue(basePath)!.FullName, adapterPath);
            var tokens = parseResult.GetValue(maxTokens);
            var baseScore = evaluator.ScoreAsync(examples, false, regex, tokens).GetAwaiter().GetResult();
            var adapterScore = adapterPath is null ? null : evaluator.ScoreAsync(examples, true, regex, tokens).GetAwaiter().GetResult();

            output.WriteLine($"| {examples.Count} held-out prompts | exact match | pattern match |");
            output.WriteLine("|---|---:|---:|");
            output.WriteLine($"| base | {DemoAdapters.Percent(baseScore.ExactRate)} | {(regex is null ? "-" : DemoAdapters.Percent(baseScore.PatternRate))} |");
            if (adapterScore is not null)
                output.WriteLine($"| adapter {evaluator.AdapterName} | {DemoAdapters.Percent(adapterScore.ExactRate)} | {(regex is null ? "-" : DemoAdapters.Percent(adapterScore.PatternRate))} |");
            for (var i = 0; i < Math.Min(parseResult.GetValue(show), examples.Count); i++)
            {
                output.WriteLine();
                output.WriteLine($"prompt:  {baseScore.Answers[i].Prompt}");
                output.WriteLine($"target:  {baseScore.Answers[i].Target}");
                output.WriteLine($"base:    {OneLine(baseScore.Answers[i].Text)}");
                if (adapterScore is not null) output.WriteLine($"adapter: {OneLine(adapterScore.Answers[i].Text)}");
            }
            var min = parseResult.GetValue(minRate);
            if (min is { } m && adapterScore is not null && regex is not null && adapterScore.PatternRate < m)
            {
                parseResult.InvocationConfiguration.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"serve eval: the adapter matches the pattern on {adapterScore.PatternRate:P0} of the prompts, below --min-pattern-rate {m:P0}"));
                return 1;
            }
            return 0;
        }));
        return command;
    }

    private static string OneLine(string text) => text.Replace("\n", "\\n", StringComparison.Ordinal).Trim();
}
