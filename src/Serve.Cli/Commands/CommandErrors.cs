using System.CommandLine;
using Serve.Gguf;

namespace Serve.Cli.Commands;

/// <summary>Turns expected failures (bad settings, unreadable files) into one line on stderr and exit code 2.</summary>
internal static class CommandErrors
{
    public const int ExitInvalid = 2;

    public static int Guard(ParseResult parseResult, Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException or UnauthorizedAccessException
                                      or NotSupportedException or FormatException or KeyNotFoundException or GgufFormatException)
        {
            var message = e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "") : e.Message;
            parseResult.InvocationConfiguration.Error.WriteLine($"error: {message}");
            return ExitInvalid;
        }
    }

    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes / (1024.0 * 1024):F1} MiB",
    };
}
