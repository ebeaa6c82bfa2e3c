namespace Serve.Server.OpenAi;

/// <summary>
/// A request that ends in an OpenAI-shaped error. Thrown anywhere in a handler; the error middleware writes it
/// (or, once an SSE stream started, the stream writes it as an error event).
/// </summary>
internal sealed class OpenAiException(int statusCode, string message, string type = OpenAiErrorTypes.InvalidRequest, string? param = null, string? code = null)
    : Exception(message)
{
    public int StatusCode { get; } = statusCode;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    /// <summary>Seconds a client should wait before retrying (429/503), sent as Retry-After.</summary>
    public int? RetryAfterSeconds { get; init; }

    public OpenAiError ToError() => new(Message, Type, Param, Code);

    public static OpenAiException BadRequest(string message, string? param = null, string? code = null) => new(400, message, OpenAiErrorTypes.InvalidRequest, param, code);

    public static OpenAiException ModelNotFound(string model) =>
        new(404, $"The model '{model}' does not exist or you do not have access to it.", OpenAiErrorTypes.InvalidRequest, "model", "model_not_found");
}
