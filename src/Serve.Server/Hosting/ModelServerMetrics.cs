using System.Globalization;
using System.Text;
using Prometheus;
using Serve.Engine;

namespace Serve.Server.Hosting;

/// <summary>
/// The model-server protocol's metrics, under vLLM's names, so the Gateway API Inference Extension's endpoint picker
/// and llm-d can schedule onto a replica: queue and running counts, KV-cache usage (0..1) and
/// <c>vllm:lora_requests_info</c>, whose labels name the adapters of running and waiting requests and max_lora (the
/// adapters one batch can hold) and whose value is the time of the reading, as vLLM does (the picker keeps the
/// newest series). They are written per server beside prometheus-net's registry on /metrics: that registry is
/// process-wide, and a test process runs several servers. Public for its metric names, which deployments configure
/// the picker with.
/// </summary>
public sealed class ModelServerMetrics(EngineHost host, TimeProvider? time = null)
{
    public const string Waiting = "vllm:num_requests_waiting";
    public const string Running = "vllm:num_requests_running";
    public const string KvCacheUsage = "vllm:kv_cache_usage_perc";
    /// <summary>The same reading under the name vLLM used before v0.10 (older pickers scrape it).</summary>
    public const string GpuCacheUsage = "vllm:gpu_cache_usage_perc";
    public const string LoraRequestsInfo = "vllm:lora_requests_info";

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The protocol's metrics in Prometheus' text format; zeros while the model is loading.</summary>
    internal string Render()
    {
        var engine = host.Engine;
        var status = engine?.Status;
        var model = engine?.BaseModel.Name ?? "";
        var maxLora = engine?.Options.MaxLoadedAdapters ?? 0;
        var text = new StringBuilder();
        var modelLabel = $"model_name=\"{Escape(model)}\"";
        Gauge(text, Waiting, "Requests waiting to be processed.", modelLabel, status?.Waiting ?? 0);
        Gauge(text, Running, "Requests running on the engine.", modelLabel, status?.Running ?? 0);
        Gauge(text, KvCacheUsage, "KV-cache usage: 1 means 100 percent.", modelLabel, status?.KvUsage ?? 0);
        Gauge(text, GpuCacheUsage, "KV-cache usage: 1 means 100 percent (the name before vllm:kv_cache_usage_perc).", modelLabel, status?.KvUsage ?? 0);
        var running = string.Join(',', status?.RunningAdapters ?? []);
        var waiting = string.Join(',', status?.WaitingAdapters ?? []);
        var labels = $"max_lora=\"{maxLora}\",running_lora_adapters=\"{Escape(running)}\",waiting_lora_adapters=\"{Escape(waiting)}\"";
        Gauge(text, LoraRequestsInfo, "Running stats on LoRA requests; the value is the time of the reading (Unix seconds).", labels,
            _time.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0);
        return text.ToString();
    }

    /// <summary>/metrics: prometheus-net's default registry (engine, HTTP, process metrics) followed by the protocol's.</summary>
    internal static async Task WriteAsync(HttpContext context)
    {
        var metrics = context.RequestServices.GetRequiredService<ModelServerMetrics>();
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        await context.Response.WriteAsync(metrics.Render(), context.RequestAborted).ConfigureAwait(false);
    }

    private static void Gauge(StringBuilder text, string name, string help, string labels, double value) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(" gauge\n")
            .Append(name).Append('{').Append(labels).Append("} ").Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');

    private static string Escape(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
