namespace Serve.Server.OpenAi;

/// <summary>The error types OpenAI uses.</summary>
internal static class OpenAiErrorTypes
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Authentication = "authentication_error";
    public const string Permission = "permission_error";
    public const string RateLimit = "rate_limit_error";
    public const string Server = "server_error";
}
