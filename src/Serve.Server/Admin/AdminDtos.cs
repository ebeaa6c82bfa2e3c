namespace Serve.Server.Admin;

/// <summary>A registered adapter and its immutable version, as the admin API lists it.</summary>
internal sealed record AdapterView(
    string Name,
    string Version,
    int Rank,
    float Alpha,
    string Architecture,
    string? BaseModelSha256,
    long SizeBytes,
    DateTimeOffset Created,
    bool Loaded,
    bool Pinned,
    int ActiveSequences,
    string Path,
    IReadOnlyDictionary<string, string> Metadata);

internal sealed record AdapterListView(string BaseModel, string BaseModelSha256, IReadOnlyList<AdapterView> Data);

/// <summary>POST /admin/adapters with JSON: register a file that is already on the server.</summary>
internal sealed class RegisterAdapterBody
{
    public string? Name { get; set; }
    public string? Path { get; set; }
    /// <summary>Load into memory now (default true) rather than on first use.</summary>
    public bool? Load { get; set; }
}

/// <summary>GET /admin/status: the engine's scheduler snapshot and the base model.</summary>
internal sealed record EngineStatusView(
    bool Ready,
    string BaseModel,
    string BaseModelSha256,
    int Running,
    int Waiting,
    IReadOnlyDictionary<string, int> RunningPerAdapter,
    IReadOnlyDictionary<string, int> WaitingPerAdapter,
    int LoadedAdapters,
    long Steps,
    long GeneratedTokens,
    long PromptTokens,
    long CachedPromptTokens,
    int KvTokens,
    double KvUsage,
    int KvCapacityTokens);
