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
/// </summary>
internal static class PublishCommand
{
    public const int ExitRefused = 3;
    public const int ExitFailed = 4;
    public const int ExitNotEverywhere = 5;
    private const int Stages = 6;

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
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var p = parseResult;
            var o = p.InvocationConfiguration.Output;
            var adapterName = p.GetValue(name)!;
            if (!AdapterCatalog.IsValidName(adapterName))
                throw new ArgumentException($"'{adapterName}' is not a valid adapter name: use 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit.");
            if (p.GetValue(minMatch) is < 0 or > 1) throw new ArgumentException("--min-match must be between 0 and 1.");
            if (p.GetValue(maxLossRatio) <= 0) throw new ArgumentException("--max-loss-ratio must be positive.");
            var options = training.Read(p);
            if (p.GetValue(training.Threads) is > 0 and var n) TorchSharp.torch.set_num_threads(n);
            var basePath = p.GetValue(baseModel)?.FullName ?? BaseModelLocator.Find(Directory.GetCurrentDirectory())
                ?? throw new ArgumentException($"No base model: {BaseModelLocator.RelativePath} was not found above {Directory.GetCurrentDirectory()}; pass --base <base.gguf>.");
            var registryDir = p.GetValue(registry)?.FullName ?? BaseModelLocator.DefaultRegistry(Directory.GetCurrentDirectory())
                ?? throw new ArgumentException("No registry: models/ was not found above the current directory; pass --registry <dir> (the server's --adapters directory).");
            var dataPath = p.GetValue(dataset)!.FullName;
            var evalPath = p.GetValue(evalData)?.FullName;
            var servers = replicas.ServerList(p);
            var fileRegistry = new AdapterFileRegistry(registryDir);
            foreach (var stale in fileRegistry.RemoveStaleTempFiles(TimeSpan.FromMinutes(1))) o.WriteLine($"removed {stale}, left by a write that did not finish");
            var previous = fileRegistry.Read(adapterName).CurrentVersion;

            o.WriteLine($"serve publish {adapterName}: {dataPath}{(evalPath is null ? "" : $", held out {evalPath}")}");
            o.WriteLine($"  base {basePath}");
            o.WriteLine($"  registry {fileRegistry.Directory} (current: {previous?.Version ?? "none"})");
            foreach (var line in TrainingOptionSet.Describe(options)) o.WriteLine("  " + line);
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  gate: {(p.GetValue(noGate) ? "off (--no-gate)" : $"held-out match >= {p.GetValue(minMatch):0.##} and adapter loss <= {p.GetValue(maxLossRatio):0.##} x base loss")}; eval-samples {p.GetValue(evalSamples)}"));
            o.WriteLine($"  replicas: {(servers.Count == 0 ? "none (--no-server)" : string.Join(", ", servers))}{(p.GetValue(replicas.Redis) is { } r ? $"; redis {r}" : "")}");

            var baseSha = AdapterFileRegistry.Sha256(basePath);
            if (!replicas.Preflight(p, baseSha, o))
            {
                p.InvocationConfiguration.Error.WriteLine("error: a replica serves another base model; pass the matching --base, or leave that --server out.");
                return CommandErrors.ExitInvalid;
            }

            var work = Directory.CreateTempSubdirectory("serve-publish-").FullName;
            try
            {
                var total = Stopwatch.StartNew();

                // [1/6] train
                var stage = Stage(o, 1, $"train {(options.Quantization == BaseQuantization.None ? "LoRA" : "QLoRA")} on {Path.GetFileName(dataPath)}");
                var log = new IndentedWriter(o, "      ");
                TokenizedDataset data;
                try
                {
                    data = TrainingSession.LoadData(basePath, dataPath, evalPath, options, log, out _);
                }
                catch (Exception e) when (e is DatasetException or LlamaException)
                {
                    p.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                    return CommandErrors.ExitInvalid;
                }
                var outputs = new TrainingOutputs(Path.Combine(work, adapterName + ".gguf"));
                var result = new Trainer(basePath, data, options, outputs, log)
                {
                    // The plain SHA-256 of the file: what the engine compares an adapter's base hash with.
                    BaseModelSha256 = baseSha,
                    DatasetSha256 = TrainingSession.Sha256(dataPath, evalPath),
                    PadToken = 0,
                }.Run();
                Done(o, stage, string.Create(CultureInfo.InvariantCulture, $"{result.StepsDone} steps, train loss {result.FinalTrainLoss:F4}, {result.TokensPerSecond:F0} tok/s"));

                // [2/6] evaluate
                stage = Stage(o, 2, $"evaluate on {data.Eval.Count} held-out examples (loss, and greedy answers through llama.cpp)");
                var heldOut = HeldOut(evalPath ?? dataPath, data, p.GetValue(evalSamples));
                var behaviour = BehaviourEval.RunAsync(basePath, work, adapterName, heldOut, p.GetValue(training.Threads) is > 0 and var t ? t : null)
                    .GetAwaiter().GetResult();
                var eval = new PublishEval(heldOut.Count, result.BaseEvalLoss, result.FinalEvalLoss, behaviour.BaseMatchRate, behaviour.AdapterMatchRate);
                PrintTable(o, behaviour, p.GetValue(show));
                PrintEval(o, eval);
                Done(o, stage, "");

                // [3/6] gate
                stage = Stage(o, 3, "quality gate");
                var refusals = Gate(eval, p.GetValue(minMatch), p.GetValue(maxLossRatio));
                if (refusals.Count > 0 && !p.GetValue(noGate))
                {
                    foreach (var reason in refusals) o.WriteLine($"      FAIL {reason}");
                    o.WriteLine($"refused: '{adapterName}' was not published; {(previous is null ? "nothing was serving under that name" : $"version {previous.Version} keeps serving")} (exit {ExitRefused})");
                    return ExitRefused;
                }
                Done(o, stage, refusals.Count == 0 ? "passed" : $"ignored (--no-gate): {string.Join("; ", refusals)}");

                // [4/6] export + publish to the registry
                stage = Stage(o, 4, $"export GGUF and publish to {fileRegistry.Directory}");
                var (factors, scale, _) = Serve.Training.Export.GgufAdapterWriter.Read(outputs.AdapterPath); // the export reads back whole
                var sha = AdapterFileRegistry.Sha256(outputs.AdapterPath);
                var record = new AdapterVersion
                {
                    Version = AdapterFileRegistry.VersionOf(sha), Sha256 = sha, Created = DateTimeOffset.UtcNow, BaseSha256 = baseSha,
                    Rank = options.Lora.Rank, Alpha = (float)(scale * factors[0].Rank), SizeBytes = new FileInfo(outputs.AdapterPath).Length,
                    Method = options.Quantization == BaseQuantization.None ? "lora" : "qlora", Dataset = dataPath,
                    DatasetSha256 = TrainingSession.Sha256(dataPath, evalPath), Steps = result.StepsDone, Eval = eval,
                };
                var published = fileRegistry.Publish(adapterName, outputs.AdapterPath, record, new Dictionary<string, string>
                {
                    [".loss.png"] = outputs.LossCurvePath,
                    [".metrics.jsonl"] = outputs.MetricsPath,
                });
                o.WriteLine($"      {fileRegistry.CurrentPath(adapterName)} is now version {published.Version} ({CommandErrors.Size(record.SizeBytes)}, rank {record.Rank}, alpha {record.Alpha.ToString(CultureInfo.InvariantCulture)})" +
                    (previous is null ? "" : previous.Version == published.Version ? " (same content as before)" : $"; previous {previous.Version} kept for rollback"));
                Done(o, stage, "");

                // [5/6] replicas
                stage = Stage(o, 5, $"make {servers.Count} replica(s){(p.GetValue(replicas.Redis) is null ? "" : " and Redis")} serve it");
                var everywhere = replicas.Distribute(p, adapterName, fileRegistry.VersionPath(adapterName, published.Version), published, o);
                Done(o, stage, "");

                // [6/6] live request
                stage = Stage(o, 6, "live request");
                var live = servers.Count == 0 || LiveRequest(p, replicas, servers[0], adapterName, heldOut, o);
                Done(o, stage, "");

                var ok = everywhere && live;
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"published '{adapterName}' version {published.Version} in {total.Elapsed.TotalSeconds:F1} s{(ok ? "" : $", with warnings above (exit {ExitNotEverywhere})")}; roll back with: serve rollback --name {adapterName} --registry {fileRegistry.Directory}"));
                return ok ? 0 : ExitNotEverywhere;
            }
            catch (Exception e) when (e is not (ArgumentException or DatasetException))
            {
                // Anything else (training, engine, disk): the registry's current file was not replaced.
                p.InvocationConfiguration.Error.WriteLine($"error: publishing '{adapterName}' failed: {e.GetType().Name}: {e.Message}");
                o.WriteLine($"failed: '{adapterName}' was not published; {(previous is null ? "nothing was serving under that name" : $"version {previous.Version} keeps serving")} (exit {ExitFailed})");
                return ExitFailed;
            }
            finally
            {
                if (p.GetValue(keepWork)) o.WriteLine($"work directory kept: {work}");
                else TryDelete(work);
            }
        }));
        return command;
    }

    private static Stopwatch Stage(TextWriter o, int number, string what)
    {
        o.WriteLine($"[{number}/{Stages}] {what}");
        return Stopwatch.StartNew();
    }

    private static void Done(TextWriter o, Stopwatch stage, string summary) =>
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      done in {stage.Elapsed.TotalSeconds:F1} s{(summary.Length > 0 ? ": " + summary : "")}"));

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

    private static void PrintTable(TextWriter o, BehaviourResult behaviour, int rows)
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

    private static void PrintEval(TextWriter o, PublishEval e)
    {
        static string Loss(double? v) => v is { } x ? x.ToString("F4", CultureInfo.InvariantCulture) : "n/a";
        o.WriteLine($"      {"",-22} {"base",10} {"adapter",10}");
        o.WriteLine($"      {"held-out loss",-22} {Loss(e.BaseLoss),10} {Loss(e.AdapterLoss),10}");
        o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      {$"match ({e.Examples} prompts)",-22} {Percent(e.BaseMatch),10} {Percent(e.AdapterMatch),10}"));
    }

    private static bool LiveRequest(ParseResult p, ReplicaOptionSet replicas, Uri server, string name, IReadOnlyList<HeldOutExample> heldOut, TextWriter o)
    {
        if (heldOut.Count == 0)
        {
            o.WriteLine("      skipped: no held-out prompt to ask");
            return true;
        }
        var example = heldOut[0];
        using var client = replicas.Client(p, server);
        var (answer, error) = client.ChatAsync(name, example.Prompt.Select(m => (m.Role, m.Content)), 64, CancellationToken.None).GetAwaiter().GetResult();
        o.WriteLine($"      POST {server}v1/chat/completions model={name}");
        o.WriteLine($"      prompt:   {Cut(example.Prompt[^1].Content, 100)}");
        if (answer is null)
        {
            o.WriteLine($"      WARNING no answer: {error}");
            return false;
        }
        o.WriteLine($"      answer:   {Cut(answer, 100)}");
        o.WriteLine($"      expected: {Cut(example.Target, 100)} {(BehaviourEval.Matches(answer, example.Target) ? "(match)" : "(differs)")}");
        return true;
    }

    private static string Mark(bool match) => match ? "✓ " : "✗ ";

    internal static string Percent(double rate) => (rate * 100).ToString("F0", CultureInfo.InvariantCulture) + "%";

    private static string Cut(string text, int width)
    {
        // An untrained base answers with any bytes: keep the table one line of printable text.
        var line = new string([.. text.ReplaceLineEndings(" ").Select(c => char.IsControl(c) || c == '\uFFFD' ? '?' : c)]);
        return line.Length <= width ? line : line[..(width - 1)] + "…";
    }

    private static void TryDelete(string directory)
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
