using System.CommandLine;
using Serve.Gguf;
using Serve.Training.Export;

namespace Serve.Cli.Commands;

/// <summary><c>serve merge</c>: the base model with a GGUF LoRA adapter merged into its weights, written as one GGUF.</summary>
internal static class MergeCommand
{
    public static Command Create()
    {
        var baseModel = new Option<FileInfo>("--base") { Description = "Base model .gguf", Required = true };
        baseModel.AcceptExistingOnly();
        var adapter = new Option<FileInfo>("--adapter") { Description = "GGUF LoRA adapter trained on that base", Required = true };
        adapter.AcceptExistingOnly();
        var output = new Option<FileInfo>("--out") { Description = "Merged model .gguf to write", Required = true };
        var scale = new Option<float>("--scale") { Description = "Adapter scale, as llama.cpp's --lora-scaled", DefaultValueFactory = _ => 1f };
        var type = new Option<string>("--type")
        {
            Description = "Type of the merged matrices: same (the base's when writable, else f32), f32, f16, bf16, q8_0, q4_0",
            DefaultValueFactory = _ => "same",
        };
        type.AcceptOnlyFromAmong("same", "f32", "f16", "bf16", "q8_0", "q4_0");

        var command = new Command("merge", "Write the base model with an adapter merged in, as one GGUF")
        {
            baseModel, adapter, output, scale, type,
        };
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var storeAs = parseResult.GetValue(type) switch
            {
                "f32" => GgmlType.F32, "f16" => GgmlType.F16, "bf16" => GgmlType.BF16, "q8_0" => GgmlType.Q8_0, "q4_0" => GgmlType.Q4_0,
                _ => (GgmlType?)null,
            };
            var path = parseResult.GetValue(output)!.FullName;
            var merged = AdapterMerger.Merge(parseResult.GetValue(baseModel)!.FullName, parseResult.GetValue(adapter)!.FullName, path,
                parseResult.GetValue(scale), storeAs);
            parseResult.InvocationConfiguration.Output.WriteLine(
                $"wrote {path} ({CommandErrors.Size(new FileInfo(path).Length)}): {merged} matrices merged at scale {parseResult.GetValue(scale)}");
            return 0;
        }));
        return command;
    }
}
