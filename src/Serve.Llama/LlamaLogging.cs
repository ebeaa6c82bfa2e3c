using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Serve.Llama.Native;

namespace Serve.Llama;

/// <summary>
/// Routes llama.cpp and ggml log output to Microsoft.Extensions.Logging (category "llama.cpp"); the default is a
/// no-op logger, which also keeps native output off stderr. Error lines are additionally kept per thread so a
/// failing call can put llama.cpp's own reason into its exception.
/// </summary>
public static class LlamaLogging
{
    public const string Category = "llama.cpp";

    private static volatile ILogger _logger = NullLogger.Instance;

    [ThreadStatic] private static StringBuilder? _pending;
    [ThreadStatic] private static GgmlLogLevel _pendingLevel;
    [ThreadStatic] private static GgmlLogLevel _lastLevel;
    [ThreadStatic] private static List<string>? _errors;
    [ThreadStatic] private static bool _creatingUnifiedContext;

    /// <summary>
    /// While set on this thread, llama.cpp's "n_ctx_seq (N) > n_ctx_train (M)" warning is logged at Debug: with a
    /// unified KV cache n_ctx_seq is the whole cell pool shared by all sequences, not one sequence's length, so the
    /// warning says nothing about overflowing the training context (the engine checks that per sequence).
    /// </summary>
    internal static bool CreatingUnifiedContext { set => _creatingUnifiedContext = value; }

    private const int MaxKeptErrors = 32;

    public static void SetLoggerFactory(ILoggerFactory? loggerFactory) =>
        _logger = loggerFactory?.CreateLogger(Category) ?? NullLogger.Instance;

    public static LogLevel MapLevel(GgmlLogLevel level) => level switch
    {
        GgmlLogLevel.Debug => LogLevel.Debug,
        GgmlLogLevel.Info => LogLevel.Information,
        GgmlLogLevel.Warn => LogLevel.Warning,
        GgmlLogLevel.Error => LogLevel.Error,
        _ => LogLevel.Information,
    };

    internal static unsafe void Install() =>
        NativeApi.llama_log_set(&OnNativeLog, null);

    /// <summary>Marks the start of a native operation on this thread; errors logged from now on are collected.</summary>
    internal static ErrorCapture BeginCapture()
    {
        FlushPending();
        (_errors ??= []).Clear();
        return new ErrorCapture();
    }

    internal readonly struct ErrorCapture
    {
        /// <summary>Error lines llama.cpp logged on this thread since the capture began (most recent last).</summary>
        public IReadOnlyList<string> Errors
        {
            get
            {
                FlushPending();
                return _errors is null ? [] : [.. _errors];
            }
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static unsafe void OnNativeLog(GgmlLogLevel level, byte* text, void* userData)
    {
        try
        {
            var piece = NativeApi.PtrToString(text) ?? "";
            // CONT continues the previous message of this thread at its level (e.g. the dots of a progress line).
            if (level == GgmlLogLevel.Cont) level = _lastLevel;
            else _lastLevel = level;

            var pending = _pending ??= new StringBuilder();
            if (pending.Length == 0) _pendingLevel = level;
            pending.Append(piece);
            if (piece.EndsWith('\n')) FlushPending();
        }
        catch
        {
            // Never let an exception unwind into native code.
        }
    }

    private static void FlushPending()
    {
        var pending = _pending;
        if (pending is null || pending.Length == 0) return;
        var message = pending.ToString().TrimEnd('\n', '\r', ' ');
        pending.Clear();
        if (message.Length == 0) return;

        if (_pendingLevel == GgmlLogLevel.Error)
        {
            var errors = _errors ??= [];
            if (errors.Count == MaxKeptErrors) errors.RemoveAt(0);
            errors.Add(message);
        }
        var logger = _logger;
        var mapped = MapLevel(_pendingLevel);
        if (_creatingUnifiedContext && mapped == LogLevel.Warning && message.Contains("n_ctx_seq (", StringComparison.Ordinal)
            && message.Contains("> n_ctx_train", StringComparison.Ordinal))
            mapped = LogLevel.Debug;
        if (logger.IsEnabled(mapped)) logger.Log(mapped, "{NativeMessage}", message);
    }
}
