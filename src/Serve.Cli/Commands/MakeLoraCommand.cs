using System.CommandLine;
using Serve.Gguf;
using Serve.Models;

namespace Serve.Cli.Commands;

/// <summary><c>serve make-lora</c>: a random LoRA adapter in llama.cpp's GGUF adapter format for a given base model.</summary>
internal static class MakeLoraCommand
{
    private static readonly Dictionary<string, string> TargetAliases = new(StringComparer.OrdinalIgnoreCase)
    {
        ["q"] = "attn_q", ["k"] = "attn_k", ["v"] = "attn_v", ["o"] = "attn_output",
        ["gate"] = "ffn_gate", ["up"] = "ffn_up", ["down"] = "ffn_down",
    };

    public static Command Create()
    {
        var defaults = new LoraSpec();
        var baseModel = new Option<FileInfo>("--base") { Description = "Base model .gguf the adapter is for", Required = true };
        baseModel.AcceptExistingOnly();
        var output = new Option<FileInfo>("--out") { Description = "Path of the adapter .gguf to write", Required = true };
        var rank = new Option<int>("--rank") { Description = "LoRA rank", DefaultValueFactory = _ => defaults.Rank };
        var alpha = new Option<float>("--alpha") { Description = "LoRA alpha (llama.cpp scales by alpha / rank)", DefaultValueFactory = _ => defaults.Alpha };
        var targets = new Option<string>("--targets")
        {
            Description = "Comma-separated targets: q,k,v,o,gate,up,down or base tensor names such as attn_q",
            DefaultValueFactory = _ => "q,k,v,o,gate,up,down",
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the random factors", DefaultValueFactory = _ => defaults.Seed };
        var std = new Option<float>("--std") { Description = "Standard deviation of the random factors", DefaultValueFactory = _ => defaults.Std };

        var command = new Command("make-lora", "Write a random LoRA adapter for a base model (both factors non-zero, so it changes the output)")
        {
            baseModel, output, rank, alpha, targets, seed, std,
        };
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var spec = new LoraSpec
            {
                Rank = parseResult.GetValue(rank),
                Alpha = parseResult.GetValue(alpha),
                Targets = ParseTargets(parseResult.GetValue(targets)!),
                Seed = parseResult.GetValue(seed),
                Std = parseResult.GetValue(std),
            };
            var basePath = parseResult.GetValue(baseModel)!.FullName;
            var path = parseResult.GetValue(output)!.FullName;
            LoraMaker.Write(path, basePath, spec);

            using var written = GgufFile.Read(path);
            var pairs = written.Tensors.Count / 2;
            var parameters = written.Tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
            parseResult.InvocationConfiguration.Output.WriteLine(
                $"wrote {path} ({CommandErrors.Size(new FileInfo(path).Length)}): LoRA rank {spec.Rank}, alpha {spec.Alpha}, " +
                $"{pairs} adapted tensors ({string.Join(",", spec.Targets)}), {parameters:N0} parameters, seed {spec.Seed}, " +
                $"base {Path.GetFileName(basePath)} sha256 {written.Metadata["serve.adapter.base_hash"].AsString()[..16]}…");
            return 0;
        }));
        return command;
    }

    internal static IReadOnlyList<string> ParseTargets(string value)
    {
        var parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ArgumentException("--targets is empty");
        return [.. parts.Select(p => TargetAliases.GetValueOrDefault(p) ?? (p.Contains('_') || p == "output" ? p
            : throw new ArgumentException($"unknown target '{p}' (use q,k,v,o,gate,up,down or a tensor name such as attn_q)")))];
    }
}
