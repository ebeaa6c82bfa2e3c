namespace Serve.Engine;

/// <summary>
/// A snapshot of the scheduler for health and metrics. KvTokens: positions held by all sequence slots (running and
/// idle prefix-cache slots; shared prefix cells counted per slot). Steps: scheduler steps; Decodes: llama_decode
/// calls (one per step with mixed batching, one per adapter group per step with grouped batching). PrefillTokens:
/// prompt tokens decoded (a prompt shared by n choices is prefilled once; cached prefix tokens are not decoded).
/// KvCapacityTokens: positions running sequences can hold (the unified pool, or MaxSequences streams); RunningKvTokens: positions held by running sequences
/// (idle prefix-cache slots are reusable, so not "used", as vLLM does not count its cached free blocks);
/// KvUsage = RunningKvTokens / KvCapacityTokens (0..1).
/// RunningAdapters / WaitingAdapters: the distinct adapter names of running and queued requests (base excluded),
/// ordered, which is what vLLM's lora_requests_info reports to LoRA-aware routers.
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
    long PrefillTokens = 0,
    int KvCapacityTokens = 0,
    int RunningKvTokens = 0,
    IReadOnlyList<string>? RunningAdapters = null,
    IReadOnlyList<string>? WaitingAdapters = null)
{
    public double KvUsage => KvCapacityTokens <= 0 ? 0 : Math.Clamp((double)RunningKvTokens / KvCapacityTokens, 0, 1);
}
