using Serve.Llama;
using Serve.Models;
using Serve.Training.Data;

namespace Serve.Training.Bench;

/// <summary>Made base models and the project's mood task, cached under the temp directory.</summary>
internal static class BenchModels
{
    public static string Directory { get; } = CreateDirectory();

    private static string CreateDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "serve-training-bench");
        System.IO.Directory.CreateDirectory(dir);
        return dir;
    }

    public static string Build(LlamaModelSpec spec) => ModelMaker.BuildTestModel(Directory, spec);

    public static TokenizedDataset MoodData(string basePath, int count, int maxLength = 128)
    {
        var path = Path.Combine(Directory, $"mood-{count}.jsonl");
        if (!File.Exists(path)) MoodTaskDataset.WriteJsonl(path, count, seed: 1);
        using var vocab = LlamaModel.Load(basePath, new LlamaModelOptions { VocabOnly = true });
        return TokenizedDataset.Build(JsonlChatReader.Read(path), new ChatTokenizer(vocab), maxLength, TruncationMode.Right, 0.1, seed: 7);
    }
}
