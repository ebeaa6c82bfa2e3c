namespace Serve.Llama;

/// <summary>Context timings (llama_perf_context); only collected when the context was made with NoPerf = false.</summary>
public sealed record LlamaContextPerformance(
    double StartMs, double LoadMs, double PromptEvalMs, double EvalMs, int PromptTokens, int EvalTokens, int GraphReuses);
