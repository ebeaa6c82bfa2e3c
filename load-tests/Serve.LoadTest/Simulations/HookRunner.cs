using System.Diagnostics;
using System.Globalization;
using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Simulations;

/// <summary>Fires the run's hooks at their times: kills a replica by pid (file) or runs a shell command.</summary>
public static class HookRunner
{
    public static async Task<HookEvent> RunAsync(HookSpec hook, RunClock clock, CancellationToken token)
    {
        var at = hook.At.TotalSeconds;
        if (!await clock.WaitUntilAsync(at, token).ConfigureAwait(false))
            return new HookEvent { Name = hook.Name, Action = ActionName(hook), At = at, Detail = "the run ended before the hook's time" };
        var fired = clock.Now;
        try
        {
            var detail = hook.Action switch
            {
                HookAction.Kill => Kill(hook),
                HookAction.Command => await RunCommandAsync(hook.Command!, token).ConfigureAwait(false),
                _ => throw new InvalidOperationException($"unknown hook action {hook.Action}"),
            };
            return new HookEvent { Name = hook.Name, Action = ActionName(hook), At = at, FiredAt = fired, Succeeded = true, Detail = detail };
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException or FormatException
                                       or System.ComponentModel.Win32Exception or UnauthorizedAccessException)
        {
            return new HookEvent { Name = hook.Name, Action = ActionName(hook), At = at, FiredAt = fired, Succeeded = false, Detail = e.Message };
        }
    }

    private static string ActionName(HookSpec hook) => hook.Action == HookAction.Kill ? "kill" : "command";

    private static string Kill(HookSpec hook)
    {
        var pid = hook.Pid ?? int.Parse(File.ReadAllText(hook.PidFile!).Trim(), CultureInfo.InvariantCulture);
        using var process = Process.GetProcessById(pid);
        process.Kill(entireProcessTree: true);
        process.WaitForExit(5000);
        return $"killed pid {pid}";
    }

    private static async Task<string> RunCommandAsync(string command, CancellationToken token)
    {
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(command);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start /bin/sh");
        var stdout = process.StandardOutput.ReadToEndAsync(token);
        var stderr = process.StandardError.ReadToEndAsync(token);
        await process.WaitForExitAsync(token).ConfigureAwait(false);
        var output = ((await stdout.ConfigureAwait(false)) + (await stderr.ConfigureAwait(false))).Trim();
        if (process.ExitCode != 0) throw new InvalidOperationException($"command exited {process.ExitCode}: {output}");
        return output.Length > 300 ? output[..300] : output;
    }
}
