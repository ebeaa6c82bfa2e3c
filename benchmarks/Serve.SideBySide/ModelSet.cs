using System.Globalization;
using Serve.Gguf;
using Serve.Models;

namespace Serve.SideBySide;

/// <summary>The base model and its adapters (names in llama-server's --lora order).</summary>
internal sealed record ModelSet(string ModelPath, IReadOnlyList<(string Name, string Path)> Adapters, string Description)
{
    /// <summary>
    /// Vocabulary of the made models: 32,000 like llama-2's, so that sampling and the output projection cost what
    /// they cost in real models. The project's corpus supports about 3,000 learned pieces; the rest are filler pieces
    /// (plain lower-case words, scored below every learned merge).
    /// </summary>
    private const int VocabSize = 32000, LearnedVocab = 3072;

    public static ModelSet MakeOrReuse(BenchOptions options)
    {
        if (options.Model is { } model)
        {
            if (!File.Exists(model)) throw new BenchUsageException($"--model {model} does not exist");
            var dir = options.AdapterDirectory;
            var found = dir is null ? [] : Directory.GetFiles(dir, "*.gguf").Order(StringComparer.Ordinal)
                .Select(p => (Path.GetFileNameWithoutExtension(p), p)).ToList();
            if (found.Count < options.Adapters)
                throw new BenchUsageException($"--adapters {options.Adapters} but {dir ?? "(no --adapter-dir)"} holds {found.Count} adapters");
            return new ModelSet(model, found.Take(options.Adapters).ToList(), $"{Path.GetFileName(model)} with {options.Adapters} adapters from {dir}");
        }

        var spec = options.Size switch
        {
            // issue 18's size class (100-150 M, F16): 16 layers of 768, GQA 12/4, FFN 2048.
            "cpu" => new LlamaModelSpec
            {
                Name = "side-by-side-cpu", EmbeddingLength = 768, BlockCount = 16, HeadCount = 12, HeadCountKv = 4,
                FeedForwardLength = 2048, VocabSize = VocabSize, ContextLength = 8192, WeightType = GgmlType.F16, InitStd = 0.05f,
            },
            // issue 13's GPU model class (~1 B, F16): 16 layers of 2048, GQA 32/8, FFN 8192.
            _ => new LlamaModelSpec
            {
                Name = "side-by-side-1b", EmbeddingLength = 2048, BlockCount = 16, HeadCount = 32, HeadCountKv = 8,
                FeedForwardLength = 8192, VocabSize = VocabSize, ContextLength = 8192, WeightType = GgmlType.F16, InitStd = 0.02f,
            },
        };
        var work = options.Work ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "serve", "side-by-side");
        Directory.CreateDirectory(work);
        var fingerprint = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"{ModelMaker.MakerVersion}:{spec}:learned{LearnedVocab}")))[..12];
        var path = Path.Combine(work, $"{spec.Name}-{fingerprint}.gguf");
        if (!File.Exists(path))
        {
            Console.WriteLine($"making {path} ({spec.ParameterCount / 1e6:F0}M parameters)");
            ModelMaker.Write(path + ".part", spec, PaddedVocab(VocabSize));
            File.Move(path + ".part", path, overwrite: true);
        }
        var adapterDir = Path.Combine(work, "adapters-" + Path.GetFileNameWithoutExtension(path));
        Directory.CreateDirectory(adapterDir);
        var adapters = new (string, string)[options.Adapters];
        // Independent files: made in parallel (the 1b set is 64 x 45 MB on a 16-core machine).
        Parallel.For(0, options.Adapters, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount / 2) }, i =>
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"adapter-{i:D2}");
            var file = Path.Combine(adapterDir, name + ".gguf");
            if (!File.Exists(file))
            {
                var part = file + ".part";
                LoraMaker.Write(part, path, new LoraSpec { Seed = 1000 + i, Rank = 16, Alpha = 16 });
                File.Move(part, file, overwrite: true);
            }
            adapters[i] = (name, file);
        });
        // Only this run's adapters in the directory Serve scans (an earlier run may have made more).
        var serveDir = Path.Combine(adapterDir, string.Create(CultureInfo.InvariantCulture, $"first-{options.Adapters}"));
        Directory.CreateDirectory(serveDir);
        foreach (var (name, file) in adapters)
        {
            var link = Path.Combine(serveDir, name + ".gguf");
            if (!File.Exists(link)) File.CreateSymbolicLink(link, file);
        }
        var linked = adapters.Select(a => (a.Item1, Path.Combine(serveDir, a.Item1 + ".gguf"))).ToList();
        return new ModelSet(path, linked,
            string.Create(CultureInfo.InvariantCulture,
                $"{Path.GetFileName(path)}: {spec.ParameterCount / 1e6:F0}M parameters F16, {spec.BlockCount} layers of {spec.EmbeddingLength}, vocab {spec.VocabSize}; {options.Adapters} rank-16 adapters on every linear layer"));
    }

    private static TokenizerVocab PaddedVocab(int size)
    {
        var learned = SpmTokenizerTrainer.Default(LearnedVocab);
        var tokens = learned.Tokens.ToList();
        var scores = learned.Scores.ToList();
        var types = learned.TokenTypes.ToList();
        var lowest = scores.Min();
        for (var n = 0; tokens.Count < size; n++)
        {
            // "\u2581zq" + n in base 26: distinct words that no learned piece spells.
            var word = new System.Text.StringBuilder("\u2581zq");
            for (var v = n; ; v /= 26)
            {
                word.Append((char)('a' + v % 26));
                if (v < 26) break;
            }
            tokens.Add(word.ToString());
            scores.Add(lowest - 1 - n);
            types.Add(TokenType.Normal);
        }
        return learned with { Tokens = tokens, Scores = scores, TokenTypes = types };
    }

    public string AdapterDirectory => Path.GetDirectoryName(Adapters.Count > 0 ? Adapters[0].Path : ModelPath)!;
}
