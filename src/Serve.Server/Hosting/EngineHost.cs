using Microsoft.Extensions.Options;
using Serve.Engine;
using Serve.Engine.Adapters;
using Serve.Server.OpenAi;

namespace Serve.Server.Hosting;

/// <summary>
/// Owns the engine. Loading starts in the background when the host starts, so Kestrel answers (/healthz/ready 503,
/// /v1 503 with Retry-After) while the model loads; a model that fails to load stops the application.
/// </summary>
public sealed class EngineHost(
    IOptions<EngineSettings> settings,
    IOptions<ServerOptions> serverOptions,
    ILoggerFactory loggers,
    IHostApplicationLifetime lifetime) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<EngineHost>();
    private readonly TaskCompletionSource<InferenceEngine> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private InferenceEngine? _engine;
    private Task? _loading;

    /// <summary>The engine once loaded, else null.</summary>
    public InferenceEngine? Engine => Volatile.Read(ref _engine);

    /// <summary>Why loading failed, when it did.</summary>
    public Exception? LoadError { get; private set; }

    /// <summary>Completes with the engine once loaded (faults when loading failed).</summary>
    public Task<InferenceEngine> Ready => _ready.Task;

    /// <summary>The engine for a request, or a 503 the client may retry.</summary>
    public InferenceEngine Require() => Engine ?? throw new OpenAiException(503,
        LoadError is null ? "The model is still loading; retry shortly." : "The model failed to load.",
        OpenAiErrorTypes.Server, null, LoadError is null ? "model_loading" : "model_unavailable") { RetryAfterSeconds = 5 };

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var options = settings.Value.ToEngineOptions();
        _loading = Task.Run(() =>
        {
            try
            {
                RemoveStaleTempFiles(options.AdaptersDirectory);
                var engine = InferenceEngine.Start(options, loggers, _stopping.Token);
                Volatile.Write(ref _engine, engine);
                _ready.TrySetResult(engine);
            }
            catch (Exception e)
            {
                LoadError = e;
                _ready.TrySetException(e);
                if (e is OperationCanceledException && _stopping.IsCancellationRequested) return;
                _logger.LogCritical(e, "The base model {Path} could not be loaded; stopping", options.ModelPath);
                Environment.ExitCode = 1;
                lifetime.StopApplication();
            }
        }, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>A crash during an upload leaves its temp file (up to the upload limit in size): clear them before serving.</summary>
    private void RemoveStaleTempFiles(string? directory)
    {
        if (directory is null) return;
        foreach (var path in StaleTempFiles.Remove(Path.GetFullPath(directory), serverOptions.Value.StaleTempFileAge))
            _logger.LogWarning("Removed {Path}, left by an adapter write that did not finish", path);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loading is not null) await _loading.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_loading is not null) await _loading.ConfigureAwait(false);
        var engine = Interlocked.Exchange(ref _engine, null);
        if (engine is not null) await engine.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}
