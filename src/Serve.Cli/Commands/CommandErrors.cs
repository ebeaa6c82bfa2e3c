using System.CommandLine;
using Serve.Gguf;

namespace Serve.Cli.Commands;

/// <summary>Turns expected failures (bad settings, unreadable files) into one line on stderr and exit code 2.</summary>
internal static class CommandErrors
{
    public const int ExitInvalid = 2;

    public static int Guard(ParseResult parseResult, Func<int> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        try
        {
            return action();
        }
        catch (Exception e) when (IsExpected(e))
        {
            return Report(parseResult, e);
        }
    }

    /// <summary>The same for an asynchronous command action.</summary>
    public static async Task<int> GuardAsync(ParseResult parseResult, Func<Task<int>> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception e) when (IsExpected(e))
        {
            return Report(parseResult, e);
        }
    }

    private static bool IsExpected(Exception e) => e is ArgumentException or IOException or InvalidDataException or UnauthorizedAccessException
        or NotSupportedException or FormatException or KeyNotFoundException or GgufFormatException;

    private static int Report(ParseResult parseResult, Exception e)
    {
        var message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "") : e.Message;
        parseResult.InvocationConfiguration.Error.WriteLine($"error: {message}");
        return ExitInvalid;
    }

    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes / (1024.0 * 1024):F1} MiB",
    };
}
