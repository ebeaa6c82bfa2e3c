using System.ComponentModel.DataAnnotations;

namespace Serve.Server.Hosting;

/// <summary>The HTTP side's settings (section "Serve"). The engine's are in <see cref="EngineSettings"/> ("Serve:Engine").</summary>
public sealed class ServerOptions
{
    public const string Section = "Serve";

    /// <summary>Bearer keys accepted on /v1; none configured = /v1 is open.</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Bearer key for /admin; none configured = /admin answers loopback clients only.</summary>
    public string? AdminKey { get; set; }

    /// <summary>
    /// Largest JSON body accepted on /v1 (413 beyond); once the model is loaded, less when no request that fits its
    /// context could need that much (see RequestBodyLimits). Also the limit of endpoints without one of their own.
    /// </summary>
    [Range(1024, long.MaxValue)]
    public long MaxRequestBodyBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>Largest adapter upload on /admin.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxAdapterUploadBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>
    /// Directories POST /admin/adapters {"path"} may register files from (symbolic links resolved); empty, the default,
    /// turns registering by server path off: adapters are then uploaded.
    /// </summary>
    public List<string> AdapterImportDirectories { get; set; } = [];

    /// <summary>Largest GBNF grammar a request may send (400 beyond): every token of its sequence is checked against it.</summary>
    [Range(1, int.MaxValue)]
    public int MaxGrammarBytes { get; set; } = 16 * 1024;

    /// <summary>Largest response_format JSON schema (its JSON text) a request may send (400 beyond).</summary>
    [Range(1, int.MaxValue)]
    public int MaxSchemaBytes { get; set; } = 16 * 1024;

    /// <summary>Most enum and const values one response_format schema may hold, all together (400 beyond).</summary>
    [Range(1, int.MaxValue)]
    public int MaxSchemaEnumValues { get; set; } = 500;

    /// <summary>
    /// How long a stream may wait for its client to take the next event (the client stopped reading) before it is
    /// ended and its sequence freed.
    /// </summary>
    public TimeSpan StreamStallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Temp files of interrupted adapter writes younger than this are left at startup (another process may still be writing them).</summary>
    public TimeSpan StaleTempFileAge { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Most prompt tokens a request may have; null = only the engine's context limit.</summary>
    [Range(1, int.MaxValue)]
    public int? MaxPromptTokens { get; set; }

    /// <summary>
    /// Strict (default): a request field this server does not know gets OpenAI's 400 "Unrecognized request argument
    /// supplied". False (--Serve:StrictRequestFields=false): unknown fields are ignored. Known extensions this server refuses
    /// (guided_json, ...) are refused either way, with the supported way to ask.
    /// </summary>
    public bool StrictRequestFields { get; set; } = true;

    /// <summary>Largest max_tokens a request may ask for (400 beyond).</summary>
    [Range(1, int.MaxValue)]
    public int MaxCompletionTokens { get; set; } = 4096;

    /// <summary>
    /// Requests per minute per API key (or client address when /v1 is open); null = unlimited. 429 beyond. Shared by
    /// every replica through Redis when Serve:Redis is set, per replica otherwise.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int? RequestsPerMinute { get; set; }

    /// <summary>Prompt plus completion tokens per minute per API key; null = unlimited. A key at its limit gets 429 until the minute ends.</summary>
    [Range(1, int.MaxValue)]
    public int? TokensPerMinute { get; set; }

    /// <summary>Limits for particular API keys, replacing RequestsPerMinute and TokensPerMinute for them.</summary>
    public List<ApiKeyQuota> Quotas { get; set; } = [];

    /// <summary>Name in owned_by of /v1/models.</summary>
    public string OwnedBy { get; set; } = "serve";
}
