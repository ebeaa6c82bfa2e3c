using Serve.Gguf;
using Serve.Models;

namespace Serve.Training.Tests;

/// <summary>
/// Tiny made llama models in a temp directory, shared by the tests: weights drawn with a large std so logits are
/// O(1..10) and a parity check is not trivially met by near-zero logits.
/// </summary>
public sealed class TrainingFixture : IDisposable
{
    public TrainingFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "serve-training-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        ModelPath = ModelMaker.BuildTestModel(Directory, Spec);
        TiedModelPath = ModelMaker.BuildTestModel(Directory, Spec with { TiedEmbeddings = true, Seed = 2, HeadCountKv = 4 });
        LearningModelPath = ModelMaker.BuildTestModel(Directory, Spec with { InitStd = 0.15f, Seed = 5, Name = "training-learn" });
    }

    public static readonly LlamaModelSpec Spec = new()
    {
        EmbeddingLength = 64, BlockCount = 2, HeadCount = 4, HeadCountKv = 2, FeedForwardLength = 128,
        ContextLength = 256, InitStd = 0.25f, Name = "training-test", VocabSize = 512,
    };

    public string Directory { get; }

    /// <summary>F32, untied output, GQA (4 heads, 2 kv heads).</summary>
    public string ModelPath { get; }

    /// <summary>F32, tied embeddings, no GQA.</summary>
    public string TiedModelPath { get; }

    /// <summary>F32 for training runs: init std 0.15, so the frozen output projection can express confident predictions.</summary>
    public string LearningModelPath { get; }

    public string TempPath(string name) => Path.Combine(Directory, name);

    /// <summary>Rewrites a model with all 2-D weights stored as another type (metadata and norms unchanged).</summary>
    public string Convert(string path, GgmlType type)
    {
        var target = TempPath($"{Path.GetFileNameWithoutExtension(path)}-{type}.gguf");
        if (File.Exists(target)) return target;
        using var source = GgufFile.Read(path);
        var writer = new GgufWriter();
        foreach (var (key, value) in source.Metadata)
            if (key != GgufKeys.Alignment) writer.Set(key, value);
        foreach (var t in source.Tensors)
        {
            var values = source.ReadTensorAsFloat32(t);
            writer.AddTensor(t.Name, t.Shape, values, t.Shape.Length == 2 ? type : GgmlType.F32);
        }
        writer.WriteTo(target);
        return target;
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// One collection for every test that runs TorchSharp: training reseeds libtorch's global generator every step, so
/// two trainings in parallel would change each other's dropout draws (and break the bit-exact resume test).
/// </summary>
[CollectionDefinition(Name)]
public sealed class TrainingCollection : ICollectionFixture<TrainingFixture>, ICollectionFixture<ArchitectureFixture>
{
    public const string Name = "training models";
}
