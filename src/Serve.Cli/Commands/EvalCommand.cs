using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Serve.Cli.Demo;
using Serve.Cli.Publishing;
using Serve.Training.Data;

namespace Serve.Cli.Commands;

/// <summary>
/// <c>serve eval</c>: held-out prompts answered greedily by the base and by an adapter through the serving engine
/// (publish's behaviour check, <see cref="BehaviourEval"/>), scored by normalised match with the target and by an
/// optional behaviour pattern; exit 1 when the adapter's pattern rate is below --min-pattern-rate.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var basePath = new Option<FileInfo>("--base") { Description = "Base model GGUF", Required = true };
        var adapter = new Option<FileInfo>("--adapter") { Description = "Adapter GGUF", Required = true };
        var data = new Option<FileInfo>("--data") { Description = "Held-out JSONL ({\"prompt\",\"completion\"} or {\"messages\"}); the last assistant turn is the target", Required = true };
        var pattern = new Option<string?>("--pattern") { Description = "Regex every answer with the behaviour matches (whole trimmed answer)" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens per answer (a behaviour may need more room than the target)", DefaultValueFactory = _ => 96 };
        var show = new Option<int>("--show") { Description = "Answers to print side by side", DefaultValueFactory = _ => 3 };
        var minRate = new Option<double?>("--min-pattern-rate") { Description = "Fail (exit 1) when the adapter matches the pattern less often than this (0..1)" };
        var threads = new Option<int>("--threads") { Description = "llama.cpp threads (0 = its default)", DefaultValueFactory = _ => 0 };
        var command = new Command("eval", "Score an adapter against its base on held-out prompts (match with the target, behaviour pattern)")
        {
            basePath, adapter, data, pattern, maxTokens, show, minRate, threads,
        };
        command.SetAction((parseResult, cancellationToken) => CommandErrors.GuardAsync(parseResult, async () =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            if (parseResult.GetValue(minRate) is { } asked && (parseResult.GetValue(pattern) is null || asked is < 0 or > 1))
                throw new ArgumentException("--min-pattern-rate needs --pattern and a rate between 0 and 1");
            IReadOnlyList<ChatExample> chats;
            try
            {
                chats = JsonlChatReader.Read(parseResult.GetValue(data)!.FullName);
            }
            catch (DatasetException e)
            {
                parseResult.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                return CommandErrors.ExitInvalid;
            }
            var examples = chats.Select(c => HeldOutExample.From(c) ?? throw new InvalidDataException($"line {c.Line}: no assistant answer after a prompt to compare with")).ToList();
            var regex = parseResult.GetValue(pattern) is { } text ? new Regex(text, RegexOptions.CultureInvariant | RegexOptions.Singleline) : null;
            var adapterPath = parseResult.GetValue(adapter)!.FullName;
            if (!File.Exists(adapterPath)) throw new FileNotFoundException($"The adapter '{adapterPath}' does not exist.");
            var name = Path.GetFileNameWithoutExtension(adapterPath);
            var result = await BehaviourEval.RunAsync(parseResult.GetValue(basePath)!.FullName, Path.GetDirectoryName(adapterPath)!, name, examples,
                parseResult.GetValue(threads) is > 0 and var t ? t : null, maxTokens: parseResult.GetValue(maxTokens), cancellationToken: cancellationToken).ConfigureAwait(false);

            double Rate(Func<BehaviourRow, bool> hit) => result.Rows.Count == 0 ? 0 : result.Rows.Count(hit) / (double)result.Rows.Count;
            var basePattern = regex is null ? (double?)null : Rate(r => regex.IsMatch(r.BaseAnswer));
            var adapterPattern = regex is null ? (double?)null : Rate(r => regex.IsMatch(r.AdapterAnswer));
            output.WriteLine($"| {examples.Count} held-out prompts | match | pattern match |");
            output.WriteLine("|---|---:|---:|");
            output.WriteLine($"| base | {DemoAdapters.Percent(result.BaseMatchRate)} | {(basePattern is { } b ? DemoAdapters.Percent(b) : "-")} |");
            output.WriteLine($"| adapter {name} | {DemoAdapters.Percent(result.AdapterMatchRate)} | {(adapterPattern is { } a ? DemoAdapters.Percent(a) : "-")} |");
            foreach (var row in result.Rows.Take(parseResult.GetValue(show)))
            {
                output.WriteLine();
                output.WriteLine($"prompt:  {row.Example.Prompt[^1].Content}");
                output.WriteLine($"target:  {row.Example.Target}");
                output.WriteLine($"base:    {OneLine(row.BaseAnswer)}");
                output.WriteLine($"adapter: {OneLine(row.AdapterAnswer)}");
            }
            if (parseResult.GetValue(minRate) is { } min && adapterPattern < min)
            {
                parseResult.InvocationConfiguration.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"serve eval: the adapter matches the pattern on {adapterPattern:P0} of the prompts, below --min-pattern-rate {min:P0}"));
                return 1;
            }
            return 0;
        }));
        return command;
    }

    private static string OneLine(string text) => text.Replace("\n", "\\n", StringComparison.Ordinal).Trim();
}
