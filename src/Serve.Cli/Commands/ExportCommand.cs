using System.CommandLine;
using Serve.Gguf;
using Serve.Training.Export;
using Serve.Training.Lora;
using Serve.Training.Model;

namespace Serve.Cli.Commands;

/// <summary>
/// <c>serve export</c>: converts LoRA adapters between llama.cpp's GGUF format and Hugging Face PEFT
/// (adapter_config.json + adapter_model.safetensors), permuting q/k rows between the two RoPE layouts.
/// </summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var baseModel = new Option<FileInfo>("--base") { Description = "Base model .gguf the adapter belongs to", Required = true };
        baseModel.AcceptExistingOnly();
        var fromPeft = new Option<DirectoryInfo>("--from-peft") { Description = "PEFT adapter directory to convert to GGUF" };
        fromPeft.AcceptExistingOnly();
        var adapter = new Option<FileInfo>("--adapter") { Description = "GGUF adapter to convert to PEFT (with --to-peft)" };
        adapter.AcceptExistingOnly();
        var toPeft = new Option<DirectoryInfo>("--to-peft") { Description = "Directory to write the PEFT adapter to" };
        var output = new Option<FileInfo>("--out") { Description = "GGUF adapter to write (with --from-peft)" };

        var command = new Command("export", "Convert a LoRA adapter: PEFT to GGUF (--from-peft DIR --out FILE) or GGUF to PEFT (--adapter FILE --to-peft DIR)")
        {
            baseModel, fromPeft, adapter, toPeft, output,
        };
        command.Validators.Add(result =>
        {
            var importing = result.GetValue(fromPeft) is not null;
            var exporting = result.GetValue(adapter) is not null || result.GetValue(toPeft) is not null;
            if (importing == exporting)
                result.AddError("give either --from-peft DIR with --out FILE, or --adapter FILE with --to-peft DIR");
            else if (importing && result.GetValue(output) is null)
                result.AddError("--from-peft needs --out FILE");
            else if (exporting && (result.GetValue(adapter) is null || result.GetValue(toPeft) is null))
                result.AddError("--to-peft needs --adapter FILE, and --adapter needs --to-peft DIR");
        });
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var o = parseResult.InvocationConfiguration.Output;
            var basePath = parseResult.GetValue(baseModel)!.FullName;
            using var file = GgufFile.Read(basePath);
            if (parseResult.GetValue(fromPeft) is { } peftDir)
            {
                var (factors, lora) = PeftAdapter.Import(peftDir.FullName, file);
                var path = parseResult.GetValue(output)!.FullName;
                GgufAdapterWriter.Write(path, file.Architecture ?? "llama", lora.Scale, factors, new AdapterMetadata
                {
                    Name = Path.GetFileNameWithoutExtension(path),
                    BaseModelSha256 = Serve.Training.Training.TrainingSession.Sha256(basePath),
                });
                o.WriteLine($"wrote {path}: {factors.Count} adapted tensors from {peftDir.FullName}, rank {lora.Rank}, alpha {lora.Alpha}{(lora.RsLora ? " (rsLoRA)" : "")}, targets {string.Join(",", lora.Targets)}");
            }
            else
            {
                var adapterPath = parseResult.GetValue(adapter)!.FullName;
                var (factors, scale, _) = GgufAdapterWriter.Read(adapterPath);
                var rank = factors[0].Rank;
                var lora = new LoraOptions { Rank = rank, Alpha = (float)(scale * rank), Dropout = 0, Targets = [.. factors.Select(f => f.Target).Distinct()] };
                var dir = parseResult.GetValue(toPeft)!.FullName;
                PeftAdapter.Export(dir, factors, lora, LlamaConfig.FromGguf(file), Path.GetFileName(basePath));
                o.WriteLine($"wrote {dir}: {PeftAdapter.ConfigFile} and {PeftAdapter.WeightsFile}, {factors.Count} adapted tensors, rank {rank}, alpha {lora.Alpha}");
            }
            return 0;
        }));
        return command;
    }
}
