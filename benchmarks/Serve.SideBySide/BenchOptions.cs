using System.Globalization;

namespace Serve.SideBySide;

internal sealed class BenchUsageException(string message) : Exception(message);

internal sealed class BenchFailedException(string message) : Exception(message);

/// <summary>One load: who asks for what, and how many at once.</summary>
/// <param name="Name">base, one, mixed:N (the first N adapters, uniformly) or stream (one client, base model).</param>
internal sealed record LoadSpec(string Name, int AdapterCount, int Streams, int Requests);

internal sealed record BenchOptions
{
    public string Command { get; init; } = "run";
    public bool Help { get; init; }
    public string Size { get; init; } = "cpu";
    public int Adapters { get; init; } = 4;
    public string? Model { get; init; }
    public string? AdapterDirectory { get; init; }
    public string? Work { get; init; }
    public string? LlamaServer { get; init; }
    public string? Serve { get; init; }
    public string? ServeLibraryDirectory { get; init; }
    public IReadOnlyList<(string Name, string Value)> ServeSettings { get; init; } = [];
    public IReadOnlyList<string> Loads { get; init; } = ["base", "one", "mixed", "stream"];
    public IReadOnlyList<string> Servers { get; init; } = ["llama-server", "serve"];
    public int Streams { get; init; } = 8;
    public int Requests { get; init; } = 48;
    public int Rounds { get; init; } = 1;
    public int Tokens { get; init; } = 64;
    public int PromptWords { get; init; } = 64;
    public int Threads { get; init; }
    public int GpuLayers { get; init; }
    public int ContextPerSequence { get; init; } = 512;
    public TimeSpan LoadTime { get; init; } = TimeSpan.FromSeconds(120);
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(300);
    public string Endpoint { get; init; } = "chat";
    public string? OutputDirectory { get; init; }
    public bool Reports { get; init; }

    public const string Usage = """
        serve-side-by-side [run|make-models] [options]
          --size cpu|1b          model made by Serve.Models when --model is absent (cpu: ~113M, 1b: ~1.0B; F16)
          --adapters N           rank-16 adapters on every linear layer to make (default 4)
          --model PATH           use this base GGUF instead (then --adapter-dir names its adapters, <name>.gguf)
          --adapter-dir DIR
          --work DIR             where made models are kept and reused (default ~/.cache/serve/side-by-side)
          --llama-server PATH    llama-server binary (default: native/build-llama.sh --server builds or finds it)
          --serve PATH           directory of a Serve.Server build or publish (default: src/Serve.Server's Release output)
          --serve-lib DIR        llama.cpp libraries for Serve (SERVE_LLAMA_LIB_DIR), e.g. a CUDA build
          --serve-setting N=V    an engine setting for Serve (Serve:Engine:N), e.g. AdapterPoolType=Q8_0; repeatable
          --servers LIST         llama-server,serve (default both, in that order)
          --loads LIST           base,one,mixed,stream; mixed:N mixes the first N adapters (mixed = all)
          --streams N            concurrent clients for every load but stream (default 8)
          --requests N           measured requests per load (default 48; stream: N/6, at least 4)
          --rounds N             measure every load N times, the servers in turn (default 1); the table shows each
                                 server's median and the ratio of the medians, with every round's ratio beside it
          --tokens N             tokens per response, ignore_eos (default 64)
          --prompt N             prompt words (about one token each; default 64)
          --threads N            CPU threads for both servers (default: each server's own choice)
          --gpu-layers N         layers to offload, both servers (default 0; 999 = all)
          --ctx N                context per sequence, both servers (default 512)
          --load-seconds N       hard limit per load (default 120); unfinished requests count as failed
          --endpoint chat|completions
          --out DIR              write the table to DIR/side-by-side.md and the servers' logs there (default: a temp dir)
          --reports              also write serve-load's reports of every load under DIR (--out)
        """;

    public IReadOnlyList<LoadSpec> LoadSpecs()
    {
        var list = new List<LoadSpec>();
        foreach (var load in Loads)
        {
            var parts = load.Split(':', 2);
            list.Add(parts[0] switch
            {
                "base" => new LoadSpec("base", 0, Streams, Requests),
                "one" => new LoadSpec("one adapter", 1, Streams, Requests),
                "mixed" => MixedSpec(parts.Length > 1 ? ParseInt("--loads mixed:N", parts[1]) : Adapters),
                "stream" => new LoadSpec("one stream", 0, 1, Math.Max(4, Requests / 6)),
                _ => throw new BenchUsageException($"unknown load '{load}' (base, one, mixed, mixed:N, stream)"),
            });
        }
        return list;
    }

    private LoadSpec MixedSpec(int n)
    {
        if (n < 2 || n > Adapters) throw new BenchUsageException($"mixed:{n} needs 2..{Adapters} adapters (--adapters {Adapters})");
        return new LoadSpec($"{n} adapters", n, Streams, Requests);
    }

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        var i = 0;
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            if (args[0] is not ("run" or "make-models")) throw new BenchUsageException($"unknown command '{args[0]}' (run, make-models)");
            o = o with { Command = args[0] };
            i = 1;
        }
        for (; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new BenchUsageException($"{name} needs a value");
            int Int() => ParseInt(name, Value());
            o = name switch
            {
                "--help" or "-h" => o with { Help = true },
                "--size" => Value() is "cpu" or "1b" ? o with { Size = args[i] } : throw new BenchUsageException("--size is cpu or 1b"),
                "--adapters" => o with { Adapters = Positive(name, Int()) },
                "--model" => o with { Model = Value() },
                "--adapter-dir" => o with { AdapterDirectory = Value() },
                "--work" => o with { Work = Value() },
                "--llama-server" => o with { LlamaServer = Value() },
                "--serve" => o with { Serve = Value() },
                "--serve-lib" => o with { ServeLibraryDirectory = Value() },
                "--serve-setting" => o with { ServeSettings = [.. o.ServeSettings, Setting(name, Value())] },
                "--servers" => o with { Servers = List(Value(), ["llama-server", "serve"], name) },
                "--loads" => o with { Loads = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                "--streams" => o with { Streams = Positive(name, Int()) },
                "--requests" => o with { Requests = Positive(name, Int()) },
                "--rounds" => o with { Rounds = Positive(name, Int()) },
                "--tokens" => o with { Tokens = Positive(name, Int()) },
                "--prompt" => o with { PromptWords = Positive(name, Int()) },
                "--threads" => o with { Threads = Positive(name, Int()) },
                "--gpu-layers" => o with { GpuLayers = Int() },
                "--ctx" => o with { ContextPerSequence = Positive(name, Int()) },
                "--load-seconds" => o with { LoadTime = TimeSpan.FromSeconds(Positive(name, Int())) },
                "--endpoint" => Value() is "chat" or "completions" ? o with { Endpoint = args[i] } : throw new BenchUsageException("--endpoint is chat or completions"),
                "--out" => o with { OutputDirectory = Value() },
                "--reports" => o with { Reports = true },
                _ => throw new BenchUsageException($"unknown option '{name}'"),
            };
        }
        if (o.Reports && o.OutputDirectory is null) throw new BenchUsageException("--reports needs --out");
        if (o.Model is null && o.AdapterDirectory is not null) throw new BenchUsageException("--adapter-dir goes with --model");
        if (o.PromptWords + o.Tokens + 64 > o.ContextPerSequence)
            throw new BenchUsageException($"--prompt {o.PromptWords} + --tokens {o.Tokens} do not fit --ctx {o.ContextPerSequence} (with 64 tokens to spare for the template)");
        _ = o.LoadSpecs(); // refuse bad --loads before anything starts
        return o;
    }

    private static int ParseInt(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new BenchUsageException($"{name}: '{value}' is not a number");

    private static (string, string) Setting(string name, string value)
    {
        var eq = value.IndexOf('=');
        var key = eq > 0 ? value[..eq] : "";
        if (key.Length == 0 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') || eq == value.Length - 1)
            throw new BenchUsageException($"{name}: '{value}' is not NAME=VALUE with an engine setting's name (e.g. AdapterPoolType=Q8_0)");
        return (key, value[(eq + 1)..]);
    }

    private static int Positive(string name, int value) => value > 0 ? value : throw new BenchUsageException($"{name} must be > 0");

    private static string[] List(string value, string[] allowed, string name)
    {
        var items = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var item in items)
        {
            if (!allowed.Contains(item)) throw new BenchUsageException($"{name}: unknown '{item}' ({string.Join(", ", allowed)})");
        }
        return items.Length > 0 ? items : throw new BenchUsageException($"{name} is empty");
    }
}
