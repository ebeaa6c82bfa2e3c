namespace Serve.Engine;

/// <summary>The loaded base model: the name it is served under and what identifies it.</summary>
public sealed record BaseModelInfo(
    string Name,
    string Path,
    string Sha256,
    string Architecture,
    long ParameterCount,
    int VocabularySize,
    int ContextPerSequence,
    int TrainContextLength,
    DateTimeOffset CreatedUtc);
