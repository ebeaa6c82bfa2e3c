using System.Text.Json;
using System.Text.Json.Serialization;
using Serve.LoadTest.Thresholds;

namespace Serve.LoadTest.Scenarios;

/// <summary>Reads and checks scenario files (JSON, comments and trailing commas allowed, unknown fields refused
/// so a typo cannot silently change a run).</summary>
public static class ScenarioFile
{
    public static readonly JsonSerializerOptions Options = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            WriteIndented = true,
        };
        o.Converters.Add(new DurationJsonConverter());
        o.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower));
        return o;
    }

    public static RunSpec Load(string path)
    {
        if (!File.Exists(path)) throw new ScenarioException($"scenario file '{path}' not found");
        return Parse(File.ReadAllText(path), path);
    }

    public static RunSpec Parse(string json, string source = "scenario")
    {
        RunSpec? spec;
        try
        {
            spec = JsonSerializer.Deserialize<RunSpec>(json, Options);
        }
        catch (JsonException e)
        {
            throw new ScenarioException($"{source}: {e.Message}");
        }
        if (spec is null) throw new ScenarioException($"{source}: empty");
        Validate(spec, source);
        return spec;
    }

    public static void Validate(RunSpec spec, string source = "scenario")
    {
        if (spec.Scenarios.Count == 0) throw new ScenarioException($"{source}: no scenarios");
        if (!Uri.TryCreate(spec.Target.BaseUrl, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new ScenarioException($"{source}: target.baseUrl '{spec.Target.BaseUrl}' is not an http(s) URL");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in spec.Scenarios)
        {
            var where = $"{source}: scenario '{s.Name}'";
            if (!names.Add(s.Name)) throw new ScenarioException($"{where}: duplicate name");
            if (s.Phases.Count == 0) throw new ScenarioException($"{where}: no phases");
            for (var i = 0; i < s.Phases.Count; i++) s.Phases[i].Validate($"{where} phase {i + 1}");
            if (s.WarmUp > TimeSpan.Zero && s.Phases[0].Kind == PhaseKind.Pause)
                throw new ScenarioException($"{where}: warm-up uses the first phase's load; it cannot be a pause");
            var w = s.Workload;
            if (w.Adapters.Names.Count == 0) throw new ScenarioException($"{where}: workload.adapters.names is empty");
            if (w.Adapters.Mix == AdapterMixKind.Weights && (w.Adapters.Weights is null || w.Adapters.Weights.Count == 0))
                throw new ScenarioException($"{where}: mix 'weights' needs workload.adapters.weights");
            if (w.Adapters.Weights is { } weights && weights.Values.Any(v => v < 0 || double.IsNaN(v)))
                throw new ScenarioException($"{where}: adapter weights must be >= 0");
            foreach (var name in w.AdapterBodies?.Keys ?? [])
            {
                if (!w.Adapters.Names.Contains(name))
                    throw new ScenarioException($"{where}: adapterBodies names '{name}', which workload.adapters.names does not have");
            }
            w.PromptTokens.Validate($"{where} promptTokens");
            w.OutputTokens.Validate($"{where} outputTokens");
            if (w.StreamFraction is < 0 or > 1) throw new ScenarioException($"{where}: streamFraction must be in [0,1]");
            if (w.Heavy is { } heavy && (heavy.GrammarAlternatives is < 1 || heavy.SchemaEnumValues is < 1 || heavy.PromptBytes is < 1))
                throw new ScenarioException($"{where}: heavy sizes must be >= 1");
            if (w.StallAfterHeaders is { } stall && (stall <= TimeSpan.Zero || w.StreamFraction == 0))
                throw new ScenarioException($"{where}: stallAfterHeaders must be > 0 and needs streaming requests (streamFraction > 0)");
            if (w.Repeat is { } r && (r.Fraction is < 0 or > 1 || r.Pool < 1))
                throw new ScenarioException($"{where}: repeat needs fraction in [0,1] and pool >= 1");
            foreach (var t in s.Thresholds)
            {
                if (!ThresholdMetric.IsKnown(t.Metric)) throw new ScenarioException($"{where}: unknown threshold metric '{t.Metric}'");
                if (t.Min is null && t.Max is null) throw new ScenarioException($"{where}: threshold '{t.Metric}' has neither min nor max");
                if (t.RelativeTo is not null && t.Phase is null) throw new ScenarioException($"{where}: threshold '{t.Metric}' has relativeTo but no phase");
                if (t.Phase is not null && t.Adapter is not null) throw new ScenarioException($"{where}: threshold '{t.Metric}' names both a phase and an adapter");
                foreach (var phase in new[] { t.Phase, t.RelativeTo }.OfType<string>())
                {
                    if (!s.Phases.Any(p => p.Name == phase)) throw new ScenarioException($"{where}: threshold '{t.Metric}' names phase '{phase}', which the scenario does not have");
                }
            }
        }
        foreach (var h in spec.Hooks)
        {
            if (h.Action == HookAction.Kill && h.PidFile is null && h.Pid is null)
                throw new ScenarioException($"{source}: hook '{h.Name}' kills but names no pidFile or pid");
            if (h.Action == HookAction.Command && string.IsNullOrWhiteSpace(h.Command))
                throw new ScenarioException($"{source}: hook '{h.Name}' has no command");
        }
    }
}
