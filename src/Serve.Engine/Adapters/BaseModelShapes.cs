using Serve.Gguf;

namespace Serve.Engine.Adapters;

/// <summary>The base model's architecture and tensor shapes (GGUF order), read once from its header.</summary>
internal sealed record BaseModelShapes(string Architecture, string? Sha256, IReadOnlyDictionary<string, long[]> Shapes)
{
    public static BaseModelShapes Read(string path, string? sha256)
    {
        using var gguf = GgufFile.Read(path);
        return new BaseModelShapes(gguf.Architecture ?? "unknown", sha256,
            gguf.Tensors.ToDictionary(t => t.Name, t => t.Shape, StringComparer.Ordinal));
    }
}
