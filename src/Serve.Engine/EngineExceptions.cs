namespace Serve.Engine;

/// <summary>Base of the engine's errors. Param names the request field at fault, when one is.</summary>
public class EngineException(string message, string? param = null, Exception? inner = null) : Exception(message, inner)
{
    public string? Param { get; } = param;
}

/// <summary>The request itself is invalid (HTTP 400).</summary>
public sealed class InvalidGenerationRequestException(string message, string? param = null) : EngineException(message, param);

/// <summary>Prompt plus requested tokens do not fit the sequence's context (HTTP 400, code context_length_exceeded).</summary>
public sealed class ContextLengthExceededException(string message, int promptTokens, int limit) : EngineException(message, "messages")
{
    public int PromptTokens { get; } = promptTokens;
    public int Limit { get; } = limit;
}

/// <summary>A named adapter is not registered (HTTP 404, code model_not_found).</summary>
public sealed class AdapterNotFoundException(string name) : EngineException($"The model '{name}' does not exist.", "model")
{
    public string Name { get; } = name;
}

/// <summary>An adapter file was refused (admin HTTP 400): not a LoRA GGUF, wrong architecture or shapes.</summary>
public sealed class AdapterValidationException(string message, Exception? inner = null) : EngineException(message, "file", inner);

/// <summary>The queue is full (HTTP 503 with Retry-After).</summary>
public sealed class EngineOverloadedException(string message) : EngineException(message);
