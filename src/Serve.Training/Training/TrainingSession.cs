using System.Globalization;
using System.Security.Cryptography;
using Serve.Gguf;
using Serve.Llama;
using Serve.Training.Data;
using Serve.Training.Model;

namespace Serve.Training.Training;

/// <summary>
/// The whole <c>serve train</c> flow for one base model and dataset: read and tokenize the data with the base's own
/// llama.cpp vocab and template, report what was truncated or dropped, train, export.
/// </summary>
public static class TrainingSession
{
    public const int DefaultMaxLength = 512;

    /// <param name="renderer">
    /// Chat formatting for the base's vocab model; null for llama.cpp's built-in template matcher, which refuses
    /// conversations with tool calls (all such lines are reported). The Jinja template engine plugs in here.
    /// </param>
    public static TokenizedDataset LoadData(string basePath, string dataPath, string? evalDataPath, TrainingOptions options, TextWriter log, out int maxLength,
        Func<LlamaModel, IChatTemplateRenderer>? renderer = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        var examples = JsonlChatReader.Read(dataPath);
        var evalExamples = evalDataPath is null ? null : JsonlChatReader.Read(evalDataPath);
        using var vocab = LlamaModel.Load(basePath, new LlamaModelOptions { VocabOnly = true });
        var chat = renderer?.Invoke(vocab) ?? new JinjaChatTemplateRenderer(vocab);
        if (!chat.SupportsTools)
        {
            foreach (var (path, set) in new[] { (dataPath, examples), (evalDataPath, evalExamples ?? []) })
            {
                var toolLines = set.Where(e => e.UsesTools).Select(e => new DatasetLineError(e.Line, "tool calls or tool messages need the Jinja chat template engine; llama.cpp's built-in template matcher renders roles and content only")).ToList();
                if (toolLines.Count > 0) throw new DatasetException(path!, toolLines);
            }
        }
        int context;
        using (var file = GgufFile.Read(basePath)) context = LlamaConfig.FromGguf(file).ContextLength;
        maxLength = options.MaxLength > 0 ? options.MaxLength : Math.Min(DefaultMaxLength, context);
        var data = TokenizedDataset.Build(examples, new ChatTokenizer(vocab, chat), maxLength, options.Truncation, evalExamples is null ? options.EvalSplit : 0,
            options.Seed, options.TrainOnPrompt, evalExamples);
        var tokens = data.Train.Sum(e => (long)e.Tokens.Length);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"data: {examples.Count} examples from {dataPath}; {data.Train.Count} train ({tokens:N0} tokens, {data.Train.Sum(e => (long)e.TrainedCount):N0} trained), {data.Eval.Count} held out; max length {maxLength}"));
        if (data.TruncatedLines.Count > 0)
            log.WriteLine($"data: {data.TruncatedLines.Count} conversation(s) longer than {maxLength} tokens truncated ({options.Truncation}): lines {Lines(data.TruncatedLines)}");
        if (data.DroppedLines.Count > 0)
            log.WriteLine($"data: {data.DroppedLines.Count} conversation(s) left out (too long, or no answer token left after truncation): lines {Lines(data.DroppedLines)}");
        return data;
    }

    /// <summary>
    /// SHA-256 of one file (the plain file hash, which is what the server compares an adapter's base hash with), or of
    /// several files' hashes in order.
    /// </summary>
    public static string Sha256(params string?[] paths)
    {
        var files = paths.OfType<string>().ToArray();
        if (files.Length == 1)
        {
            using var single = File.OpenRead(files[0]);
            return Convert.ToHexStringLower(SHA256.HashData(single));
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in paths)
        {
            if (path is null) continue;
            using var stream = File.OpenRead(path);
            hash.AppendData(SHA256.HashData(stream));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static string Lines(IReadOnlyList<int> lines) =>
        string.Join(",", lines.Take(30)) + (lines.Count > 30 ? $",... ({lines.Count - 30} more)" : "");
}
