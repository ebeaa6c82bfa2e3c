using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Serve.Cli.Publishing;
using Serve.Llama;
using Serve.Training.Data;
using Serve.Training.Model;
using Serve.Training.Training;

namespace Serve.Cli.Commands;

/// <summary>What <c>serve publish</c> was asked to do, read and checked from its command line.</summary>
internal sealed record PublishSettings
{
    public required string AdapterName { get; init; }
    public required string BasePath { get; init; }
    public required string RegistryDirectory { get; init; }
    public required string DataPath { get; init; }
    public string? EvalPath { get; init; }
    public required TrainingOptions Training { get; init; }
    public int? Threads { get; init; }
    public double MinMatch { get; init; }
    public double MaxLossRatio { get; init; }
    public bool NoGate { get; init; }
    public int EvalSamples { get; init; }
    public int Show { get; init; }
    public bool KeepWork { get; init; }
}

/// <summary>
/// The stages of <c>serve publish</c>, one method each: describe, preflight, train, evaluate, gate, publish to the
/// registry, distribute to replicas, live request. <see cref="RunAsync"/> runs them in order and turns an early
/// stop into the command's exit code; nothing already serving changes before <see cref="PublishToRegistry"/>.
/// </summary>
internal sealed class PublishPipeline
{
    private const int Stages = 6;

    private readonly PublishSettings _settings;
    private readonly ReplicaOptionSet _replicas;
    private readonly ParseResult _parseResult;
    private readonly TextWriter _out;
    private readonly TextWriter _error;
    private readonly AdapterFileRegistry _registry;
    private readonly IReadOnlyList<Uri> _servers;
    private readonly AdapterVersion? _previous;
    private string _baseSha = "";

    public PublishPipeline(PublishSettings settings, ReplicaOptionSet replicas, ParseResult parseResult)
    {
        _settings = settings ?? throw new ArgumentNullException(nameof(settings));
        _replicas = replicas ?? throw new ArgumentNullException(nameof(replicas));
        _parseResult = parseResult ?? throw new ArgumentNullException(nameof(parseResult));
        _out = parseResult.InvocationConfiguration.Output;
        _error = parseResult.InvocationConfiguration.Error;
        _registry = new AdapterFileRegistry(settings.RegistryDirectory);
        _servers = replicas.ServerList(parseResult);
        _previous = _registry.Read(settings.AdapterName).CurrentVersion;
    }

    private string KeepsServing => _previous is null ? "nothing was serving under that name" : $"version {_previous.Version} keeps serving";

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        foreach (var stale in _registry.RemoveStaleTempFiles(TimeSpan.FromMinutes(1))) _out.WriteLine($"removed {stale}, left by a write that did not finish");
        Describe();
        if (!await PreflightAsync(cancellationToken).ConfigureAwait(false))
        {
            _error.WriteLine("error: a replica serves another base model; pass the matching --base, or leave that --server out.");
            return CommandErrors.ExitInvalid;
        }

        var work = Directory.CreateTempSubdirectory("serve-publish-").FullName;
        try
        {
            var total = Stopwatch.StartNew();
            if (Train(work) is not var (data, outputs, result)) return CommandErrors.ExitInvalid;
            var (heldOut, eval) = await EvaluateAsync(work, data, result, cancellationToken).ConfigureAwait(false);
            if (!Gate(eval)) return PublishCommand.ExitRefused;
            var published = PublishToRegistry(outputs, result, eval);
            var everywhere = await DistributeAsync(published, cancellationToken).ConfigureAwait(false);
            var live = await LiveRequestAsync(heldOut, cancellationToken).ConfigureAwait(false);

            var ok = everywhere && live;
            _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"published '{_settings.AdapterName}' version {published.Version} in {total.Elapsed.TotalSeconds:F1} s{(ok ? "" : $", with warnings above (exit {PublishCommand.ExitNotEverywhere})")}; roll back with: serve rollback --name {_settings.AdapterName} --registry {_registry.Directory}"));
            return ok ? 0 : PublishCommand.ExitNotEverywhere;
        }
        catch (Exception e) when (e is not (ArgumentException or DatasetException or OperationCanceledException))
        {
            // Anything else (training, engine, disk): the registry's current file was not replaced.
            _error.WriteLine($"error: publishing '{_settings.AdapterName}' failed: {e.GetType().Name}: {e.Message}");
            _out.WriteLine($"failed: '{_settings.AdapterName}' was not published; {KeepsServing} (exit {PublishCommand.ExitFailed})");
            return PublishCommand.ExitFailed;
        }
        finally
        {
            if (_settings.KeepWork) _out.WriteLine($"work directory kept: {work}");
            else PublishCommand.TryDelete(work);
        }
    }

    /// <summary>Prints every setting before any work, so a run's log says what it did.</summary>
    private void Describe()
    {
        var s = _settings;
        _out.WriteLine($"serve publish {s.AdapterName}: {s.DataPath}{(s.EvalPath is null ? "" : $", held out {s.EvalPath}")}");
        _out.WriteLine($"  base {s.BasePath}");
        _out.WriteLine($"  registry {_registry.Directory} (current: {_previous?.Version ?? "none"})");
        foreach (var line in TrainingOptionSet.Describe(s.Training)) _out.WriteLine("  " + line);
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  gate: {(s.NoGate ? "off (--no-gate)" : $"held-out match >= {s.MinMatch:0.##} and adapter loss <= {s.MaxLossRatio:0.##} x base loss")}; eval-samples {s.EvalSamples}"));
        _out.WriteLine($"  replicas: {(_servers.Count == 0 ? "none (--no-server)" : string.Join(", ", _servers))}{(_parseResult.GetValue(_replicas.Redis) is { } r ? $"; redis {r}" : "")}");
    }

    /// <summary>Every replica is asked which base it serves before training starts.</summary>
    private Task<bool> PreflightAsync(CancellationToken cancellationToken)
    {
        _baseSha = AdapterFileRegistry.Sha256(_settings.BasePath);
        return _replicas.PreflightAsync(_parseResult, _baseSha, _out, cancellationToken);
    }

    /// <summary>[1/6] Trains into the work directory; null (after printing why) when the data cannot be used.</summary>
    private (TokenizedDataset Data, TrainingOutputs Outputs, TrainingResult Result)? Train(string work)
    {
        var s = _settings;
        var stage = Stage(1, $"train {(s.Training.Quantization == BaseQuantization.None ? "LoRA" : "QLoRA")} on {Path.GetFileName(s.DataPath)}");
        var log = new IndentedWriter(_out, "      ");
        TokenizedDataset data;
        try
        {
            data = TrainingSession.LoadData(s.BasePath, s.DataPath, s.EvalPath, s.Training, log, out _);
        }
        catch (Exception e) when (e is DatasetException or LlamaException)
        {
            _error.WriteLine($"error: {e.Message}");
            return null;
        }
        var outputs = new TrainingOutputs(Path.Combine(work, s.AdapterName + ".gguf"));
        var result = new Trainer(s.BasePath, data, s.Training, outputs, log)
        {
            // The plain SHA-256 of the file: what the engine compares an adapter's base hash with.
            BaseModelSha256 = _baseSha,
            DatasetSha256 = TrainingSession.Sha256(s.DataPath, s.EvalPath),
            PadToken = 0,
        }.Run();
        Done(stage, string.Create(CultureInfo.InvariantCulture, $"{result.StepsDone} steps, train loss {result.FinalTrainLoss:F4}, {result.TokensPerSecond:F0} tok/s"));
        return (data, outputs, result);
    }

    /// <summary>[2/6] Held-out loss (from training) and greedy answers of base and adapter through the serving engine.</summary>
    private async Task<(IReadOnlyList<HeldOutExample> HeldOut, PublishEval Eval)> EvaluateAsync(string work, TokenizedDataset data, TrainingResult result, CancellationToken cancellationToken)
    {
        var stage = Stage(2, $"evaluate on {data.Eval.Count} held-out examples (loss, and greedy answers through llama.cpp)");
        var heldOut = PublishCommand.HeldOut(_settings.EvalPath ?? _settings.DataPath, data, _settings.EvalSamples);
        var behaviour = await BehaviourEval.RunAsync(_settings.BasePath, work, _settings.AdapterName, heldOut, _settings.Threads, cancellationToken).ConfigureAwait(false);
        var eval = new PublishEval(heldOut.Count, result.BaseEvalLoss, result.FinalEvalLoss, behaviour.BaseMatchRate, behaviour.AdapterMatchRate);
        PublishCommand.PrintTable(_out, behaviour, _settings.Show);
        PublishCommand.PrintEval(_out, eval);
        Done(stage, "");
        return (heldOut, eval);
    }

    /// <summary>[3/6] False (after printing the reasons) when the adapter is refused.</summary>
    private bool Gate(PublishEval eval)
    {
        var stage = Stage(3, "quality gate");
        var refusals = PublishCommand.Gate(eval, _settings.MinMatch, _settings.MaxLossRatio);
        if (refusals.Count > 0 && !_settings.NoGate)
        {
            foreach (var reason in refusals) _out.WriteLine($"      FAIL {reason}");
            _out.WriteLine($"refused: '{_settings.AdapterName}' was not published; {KeepsServing} (exit {PublishCommand.ExitRefused})");
            return false;
        }
        Done(stage, refusals.Count == 0 ? "passed" : $"ignored (--no-gate): {string.Join("; ", refusals)}");
        return true;
    }

    /// <summary>[4/6] The exported adapter becomes the registry's new current version (the previous one is kept).</summary>
    private AdapterVersion PublishToRegistry(TrainingOutputs outputs, TrainingResult result, PublishEval eval)
    {
        var s = _settings;
        var stage = Stage(4, $"export GGUF and publish to {_registry.Directory}");
        var (factors, scale, _) = Serve.Training.Export.GgufAdapterWriter.Read(outputs.AdapterPath); // the export reads back whole
        var sha = AdapterFileRegistry.Sha256(outputs.AdapterPath);
        var record = new AdapterVersion
        {
            Version = AdapterFileRegistry.VersionOf(sha), Sha256 = sha, Created = DateTimeOffset.UtcNow, BaseSha256 = _baseSha,
            Rank = s.Training.Lora.Rank, Alpha = (float)(scale * factors[0].Rank), SizeBytes = new FileInfo(outputs.AdapterPath).Length,
            Method = s.Training.Quantization == BaseQuantization.None ? "lora" : "qlora", Dataset = s.DataPath,
            DatasetSha256 = TrainingSession.Sha256(s.DataPath, s.EvalPath), Steps = result.StepsDone, Eval = eval,
        };
        var published = _registry.Publish(s.AdapterName, outputs.AdapterPath, record, new Dictionary<string, string>
        {
            [".loss.png"] = outputs.LossCurvePath,
            [".metrics.jsonl"] = outputs.MetricsPath,
        });
        _out.WriteLine($"      {_registry.CurrentPath(s.AdapterName)} is now version {published.Version} ({CommandErrors.Size(record.SizeBytes)}, rank {record.Rank}, alpha {record.Alpha.ToString(CultureInfo.InvariantCulture)})" +
            (_previous is null ? "" : _previous.Version == published.Version ? " (same content as before)" : $"; previous {_previous.Version} kept for rollback"));
        Done(stage, "");
        return published;
    }

    /// <summary>[5/6] Every replica (and Redis) is told to serve the new version; false when any did not take it.</summary>
    private async Task<bool> DistributeAsync(AdapterVersion published, CancellationToken cancellationToken)
    {
        var stage = Stage(5, $"make {_servers.Count} replica(s){(_parseResult.GetValue(_replicas.Redis) is null ? "" : " and Redis")} serve it");
        var everywhere = await _replicas.DistributeAsync(_parseResult, _settings.AdapterName, _registry.VersionPath(_settings.AdapterName, published.Version), published, _out, cancellationToken)
            .ConfigureAwait(false);
        Done(stage, "");
        return everywhere;
    }

    /// <summary>[6/6] One held-out prompt asked of the first replica by name, as a client would.</summary>
    private async Task<bool> LiveRequestAsync(IReadOnlyList<HeldOutExample> heldOut, CancellationToken cancellationToken)
    {
        var stage = Stage(6, "live request");
        var ok = true;
        if (_servers.Count > 0)
        {
            if (heldOut.Count == 0)
            {
                _out.WriteLine("      skipped: no held-out prompt to ask");
            }
            else
            {
                var example = heldOut[0];
                var server = _servers[0];
                using var client = _replicas.Client(_parseResult, server);
                var (answer, error) = await client.ChatAsync(_settings.AdapterName, example.Prompt.Select(m => (m.Role, m.Content)), 64, cancellationToken).ConfigureAwait(false);
                _out.WriteLine($"      POST {server}v1/chat/completions model={_settings.AdapterName}");
                _out.WriteLine($"      prompt:   {PublishCommand.Cut(example.Prompt[^1].Content, 100)}");
                if (answer is null)
                {
                    _out.WriteLine($"      WARNING no answer: {error}");
                    ok = false;
                }
                else
                {
                    _out.WriteLine($"      answer:   {PublishCommand.Cut(answer, 100)}");
                    _out.WriteLine($"      expected: {PublishCommand.Cut(example.Target, 100)} {(BehaviourEval.Matches(answer, example.Target) ? "(match)" : "(differs)")}");
                }
            }
        }
        Done(stage, "");
        return ok;
    }

    private Stopwatch Stage(int number, string what)
    {
        _out.WriteLine($"[{number}/{Stages}] {what}");
        return Stopwatch.StartNew();
    }

    private void Done(Stopwatch stage, string summary) =>
        _out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"      done in {stage.Elapsed.TotalSeconds:F1} s{(summary.Length > 0 ? ": " + summary : "")}"));
}
