namespace Serve.Engine;

/// <summary>
/// A snapshot of the scheduler for health and metrics. KvTokens: positions held by all sequence slots (running and
/// idle prefix-cache slots; shared prefix cells counted per slot). Steps: scheduler steps; Decodes: llama_decode
/// calls (one per step with mixed batching, one per adapter group per step with grouped batching). PrefillTokens:
/// prompt tokens decoded (a prompt shared by n choices is prefilled once; cached prefix tokens are not decoded).
/// </summary>
public sealed record EngineStatus(
    bool Ready,
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
    long Decodes = 0,
    long PrefillTokens = 0);
