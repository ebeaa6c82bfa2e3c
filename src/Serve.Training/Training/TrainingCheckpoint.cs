using System.Text.Json;
using Serve.Gguf;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Serve.Training.Training;

/// <summary>
/// Everything needed to continue a run exactly: LoRA factors, AdamW moments and step, early-stopping state and the
/// metrics so far, in a GGUF file (written to a temp file and renamed, so a kill never leaves half a checkpoint).
/// The fingerprint (settings, base and data hashes) must match to resume.
/// </summary>
public sealed record TrainingCheckpoint
{
    public required int Step { get; init; }
    public required string Fingerprint { get; init; }
    public double? BaseEvalLoss { get; init; }
    public double? BestEvalLoss { get; init; }
    public double? LastEvalLoss { get; init; }
    public int EvalsWithoutImprovement { get; init; }
    public IReadOnlyList<StepMetrics> History { get; init; } = [];

    public static void Save(string path, TrainingCheckpoint state, IReadOnlyList<Parameter> parameters, AdamW optimizer)
    {
        var writer = new GgufWriter();
        writer.Set("general.type", "serve-training-checkpoint");
        writer.Set("serve.checkpoint.step", state.Step);
        writer.Set("serve.checkpoint.fingerprint", state.Fingerprint);
        writer.Set("serve.checkpoint.adam_step", optimizer.Step);
        if (state.BaseEvalLoss is { } b) writer.Set("serve.checkpoint.base_eval_loss", b);
        if (state.BestEvalLoss is { } best) writer.Set("serve.checkpoint.best_eval_loss", best);
        if (state.LastEvalLoss is { } last) writer.Set("serve.checkpoint.last_eval_loss", last);
        writer.Set("serve.checkpoint.evals_without_improvement", state.EvalsWithoutImprovement);
        writer.Set("serve.checkpoint.history", JsonSerializer.Serialize(state.History));
        for (var i = 0; i < parameters.Count; i++)
        {
            Add(writer, $"lora.{i}", parameters[i]);
            Add(writer, $"adam_m.{i}", optimizer.FirstMoments[i]);
            Add(writer, $"adam_v.{i}", optimizer.SecondMoments[i]);
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        writer.WriteTo(path);
    }

    /// <summary>Loads the checkpoint into the parameters and optimizer; throws when it belongs to another run.</summary>
    public static TrainingCheckpoint Load(string path, string expectedFingerprint, IReadOnlyList<Parameter> parameters, AdamW optimizer)
    {
        using var file = GgufFile.Read(path);
        if (file.GetString("general.type") != "serve-training-checkpoint") throw new InvalidDataException($"{path} is not a training checkpoint");
        var fingerprint = file.GetString("serve.checkpoint.fingerprint") ?? "";
        if (fingerprint != expectedFingerprint)
            throw new InvalidOperationException($"checkpoint {path} is from a run with other settings, base model or data; delete it or train with the same settings");
        using (no_grad())
        {
            for (var i = 0; i < parameters.Count; i++)
            {
                Copy(file, $"lora.{i}", parameters[i]);
                Copy(file, $"adam_m.{i}", optimizer.FirstMoments[i]);
                Copy(file, $"adam_v.{i}", optimizer.SecondMoments[i]);
            }
        }
        optimizer.Step = file.GetInt64("serve.checkpoint.adam_step") ?? 0;
        return new TrainingCheckpoint
        {
            Step = file.GetInt32("serve.checkpoint.step") ?? 0,
            Fingerprint = fingerprint,
            BaseEvalLoss = file.GetFloat64("serve.checkpoint.base_eval_loss"),
            BestEvalLoss = file.GetFloat64("serve.checkpoint.best_eval_loss"),
            LastEvalLoss = file.GetFloat64("serve.checkpoint.last_eval_loss"),
            EvalsWithoutImprovement = file.GetInt32("serve.checkpoint.evals_without_improvement") ?? 0,
            History = JsonSerializer.Deserialize<List<StepMetrics>>(file.GetString("serve.checkpoint.history") ?? "[]") ?? [],
        };
    }

    private static void Add(GgufWriter writer, string name, Tensor t)
    {
        var values = t.detach().cpu().contiguous().data<float>().ToArray();
        writer.AddTensor(name, [.. t.shape.Reverse()], values);
    }

    private static void Copy(GgufFile file, string name, Tensor target)
    {
        var info = file.GetTensor(name);
        if (!info.Shape.Reverse().SequenceEqual(target.shape))
            throw new InvalidDataException($"checkpoint tensor {name} has shape [{string.Join(",", info.Shape)}], expected [{string.Join(",", target.shape.Reverse())}]");
        using var source = tensor(file.ReadTensorAsFloat32(info), target.shape);
        target.copy_(source);
    }
}
