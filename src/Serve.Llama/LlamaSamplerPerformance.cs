namespace Serve.Llama;

/// <summary>Sampler chain timings (llama_perf_sampler).</summary>
public sealed record LlamaSamplerPerformance(double SampleMs, int Samples);
