using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Serve.Cli.Publishing;
using Serve.Engine;
using Serve.Engine.Adapters;
using Serve.Llama;
using Serve.Training.Data;
using Serve.Training.Model;
using Serve.Training.Training;

namespace Serve.Cli.Commands;

/// <summary>
/// <c>serve publish</c>: train an adapter on a dataset, evaluate it on the held-out split (loss, and greedy answers
/// through the serving engine), refuse it below the quality gate, store it as a new version in the file registry,
/// make every replica (and Redis) serve it, and end with a live request. Nothing already serving is touched before
/// the gate passed and the exported file is complete, so a failure at any stage leaves the previous version serving.
/// This class reads the command line; <see cref="PublishPipeline"/> runs the stages.
/// </summary>
internal static class PublishCommand
{
    public const int ExitRefused = 3;
    public const int ExitFailed = 4;
    public const int ExitNotEverywhere = 5;

    public static Command Create()
    {
        var dataset = new Argument<FileInfo>("dataset") { Description = "Training data: JSONL of {\"messages\":[...]} or {\"prompt\",\"completion\"}" };
        dataset.AcceptExistingOnly();
        var name = new Argument<string>("name") { Description = "Adapter name: the model name clients use (1-64 of [A-Za-z0-9._-])" };
        var baseModel = new Option<FileInfo>("--base") { Description = $"Base model .gguf (default: {BaseModelLocator.RelativePath} above the current directory, the server's default)" };
        baseModel.AcceptExistingOnly();
        var registry = new Option<DirectoryInfo>("--registry") { Description = "Registry directory: <name>.gguf is current, .versions/<name>/ keeps every version (default: models/adapters next to the default base)" };
        var evalData = new Option<FileInfo>("--eval-data") { Description = "Held-out data (JSONL); default: --eval-split of the dataset" };
        evalData.AcceptExistingOnly();
        var minMatch = new Option<double>("--min-match") { Description = "Gate: least held-out match rate of the adapter's greedy answers (0-1)", DefaultValueFactory = _ => 0.8 };
        var maxLossRatio = new Option<double>("--max-loss-ratio") { Description = "Gate: most held-out loss of the adapter as a fraction of the base's", DefaultValueFactory = _ => 0.5 };
        var noGate = new Option<bool>("--no-gate") { Description = "Publish whatever the evaluation says (the numbers are still printed)" };
        var evalSamples = new Option<int>("--eval-samples") { Description = "Most held-out prompts answered in the behaviour check", DefaultValueFactory = _ => 64 };
        var show = new Option<int>("--show") { Description = "Held-out rows printed in the behaviour table", DefaultValueFactory = _ => 6 };
        var keepWork = new Option<bool>("--keep-work") { Description = "Keep the work directory (checkpoint-free training output, metrics, loss curve)" };
        var training = new TrainingOptionSet();
        var replicas = new ReplicaOptionSet();

        var command = new Command("publish", "Train an adapter, evaluate it on held-out data, gate it, publish it as a new version and make every replica serve it")
        {
            dataset, name, baseModel, registry, evalData, minMatch, maxLossRatio, noGate, evalSamples, show, keepWork,
        };
        foreach (var option in training.All.Concat(replicas.All)) command.Options.Add(option);
        command.SetAction((parseResult, cancellationToken) => CommandErrors.GuardAsync(parseResult, () =>
        {
            var p = parseResult;
            var adapterName = p.GetValue(name)!;
            if (!AdapterCatalog.IsValidName(adapterName))
                throw new ArgumentException($"'{adapterName}' is not a valid adapter name: use 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit.");
            if (p.GetValue(minMatch) is < 0 or > 1) throw new ArgumentException("--min-match must be between 0 and 1.");
            if (p.GetValue(maxLossRatio) <= 0) throw new ArgumentException("--max-loss-ratio must be positive.");
            var options = training.Read(p);
            if (p.GetValue(training.Threads) is > 0 and var n) TorchSharp.torch.set_num_threads(n);
            var settings = new PublishSettings
            {
                AdapterName = adapterName,
                BasePath = p.GetValue(baseModel)?.FullName ?? BaseModelLocator.Find(Directory.GetCurrentDirectory())
                    ?? throw new ArgumentException($"No base model: {BaseModelLocator.RelativePath} was not found above {Directory.GetCurrentDirectory()}; pass --base <base.gguf>."),
                RegistryDirectory = p.GetValue(registry)?.FullName ?? BaseModelLocator.DefaultRegistry(Directory.GetCurrentDirectory())
                    ?? throw new ArgumentException("No registry: models/ was not found above the current directory; pass --registry <dir> (the server's --adapters directory)."),
                DataPath = p.GetValue(dataset)!.FullName,
                EvalPath = p.GetValue(evalData)?.FullName,
                Training = options,
                Threads = p.GetValue(training.Threads) is > 0 and var t ? t : null,
                MinMatch = p.GetValue(minMatch),
                MaxLossRatio = p.GetValue(maxLossRatio),
                NoGate = p.GetValue(noGate),
                EvalSamples = p.GetValue(evalSamples),
                Show = p.GetValue(show),
                KeepWork = p.GetValue(keepWork),
            };
            return new PublishPipeline(settings, replicas, p).RunAsync(cancellationToken);
        }));
        return command;
    }

    /// <summary>The held-out conversations, split into the prompt before the last answer and that answer.</summary>
    internal static IReadOnlyList<HeldOutExample> HeldOut(string path, TokenizedDataset data, int limit)
    {
        var byLine = JsonlChatReader.Read(path).ToDictionary(e => e.Line);
        var examples = new List<HeldOutExample>();
        foreach (var tokenized in data.Eval)
        {
            if (examples.Count >= limit) break;
            if (byLine.TryGetValue(tokenized.Line, out var example) && HeldOutExample.From(example) is { } heldOut) examples.Add(heldOut);
        }
        return examples;
    }

    internal static List<string> Gate(PublishEval eval, double minMatch, double maxLossRatio)
    {
        var reasons = new List<string>();
        if (eval.Examples == 0) reasons.Add("no held-out examples to judge (raise --eval-split or pass --eval-data)");
        else if (eval.AdapterMatch < minMatch)
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"held-out match {Percent(eval.AdapterMatch)} < --min-match {Percent(minMatch)}"));
        if (eval.BaseLoss is not { } baseLoss || eval.AdapterLoss is not { } adapterLoss)
            reasons.Add("no held-out loss");
        else if (adapterLoss > maxLossRatio * baseLoss)
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"adapter loss {adapterLoss:F4} > --max-loss-ratio {maxLossRatio:0.##} x base loss {baseLoss:F4} (ratio {adapterLoss / baseLoss:F2})"));
        return reasons;
    }

    internal static void PrintTable(TextWriter o, BehaviourResult behaviour, int rows)
    {
        if (behaviour.Rows.Count == 0) return;
        o.WriteLine($"      {"prompt",-40} {"expected",-20} {"base",-20} {"adapter",-20}");
        foreach (var row in behaviour.Rows.Take(Math.Max(0, rows)))
        {
            var prompt = row.Example.Prompt[^1].Content;
            o.WriteLine($"      {Cut(prompt, 40),-40} {Cut(row.Example.Target, 20),-20} {Mark(row.BaseMatches)}{Cut(row.BaseAnswer, 18),-18} {Mark(row.AdapterMatches)}{Cut(row.AdapterAnswer, 18),-18}");
        }
        if (behaviour.Rows.Count > rows) o.WriteLine($"      ... {behaviour.Rows.Count - rows} more");
    }

    internal static void PrintEval(TextWriter o, PublishEval e)
    {
        static string Loss(double? v) => v is { } x ? x.ToString("F4", CultureInfo.InvariantCulture) : "n/a";
        o.WriteLine($"      {"",-22} {"base",10} {"adapter",10}");
        o.WriteLine($"      {"held-out loss",-22} {Loss(e.BaseLoss),10} {Loss(e.AdapterLoss),10}");
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      {$"match ({e.Examples} prompts)",-22} {Percent(e.BaseMatch),10} {Percent(e.AdapterMatch),10}"));
    }

    internal static string Mark(bool match) => match ? "✓ " : "✗ ";

    internal static string Percent(double rate) => (rate * 100).ToString("F0", CultureInfo.InvariantCulture) + "%";

    internal static string Cut(string text, int width)
    {
        // An untrained base answers with any bytes: keep the table one line of printable text.
        var line = new string([.. text.ReplaceLineEndings(" ").Select(c => char.IsControl(c) || c == '\uFFFD' ? '?' : c)]);
        return line.Length <= width ? line : line[..(width - 1)] + "…";
    }

    internal static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
