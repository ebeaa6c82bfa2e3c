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

    /// <summary>
    /// Continuation of the project's own English corpus: the prompt is the start of a sentence, the answer its rest.
    /// Unlike the mood task the loss does not run to ~0, so two methods' final losses can be compared meaningfully.
    /// </summary>
    public static TokenizedDataset CorpusData(string basePath, int maxLength = 96)
    {
        var path = Path.Combine(Directory, "corpus-continuation.jsonl");
        if (!File.Exists(path))
        {
            var sentences = EmbeddedCorpus.Text.Split(['.', '?', '!', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(s => s.Split(' ').Length >= 8).ToArray();
            using var writer = new StreamWriter(path);
            foreach (var sentence in sentences)
            {
                var words = sentence.Split(' ');
                var cut = words.Length / 3;
                writer.WriteLine(System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
                {
                    ["prompt"] = "Continue: " + string.Join(' ', words[..cut]),
                    ["completion"] = string.Join(' ', words[cut..]) + ".",
                }));
            }
        }
        using var vocab = LlamaModel.Load(basePath, new LlamaModelOptions { VocabOnly = true });
        return TokenizedDataset.Build(JsonlChatReader.Read(path), new ChatTokenizer(vocab), maxLength, TruncationMode.Right, 0.1, seed: 7);
    }

    public static TokenizedDataset MoodData(string basePath, int count, int maxLength = 128)
    {
        var path = Path.Combine(Directory, $"mood-{count}.jsonl");
        if (!File.Exists(path)) MoodTaskDataset.WriteJsonl(path, count, seed: 1);
        using var vocab = LlamaModel.Load(basePath, new LlamaModelOptions { VocabOnly = true });
        return TokenizedDataset.Build(JsonlChatReader.Read(path), new ChatTokenizer(vocab), maxLength, TruncationMode.Right, 0.1, seed: 7);
    }
}
