using System.CommandLine;
using Serve.Cli.Publishing;

namespace Serve.Cli.Commands;

/// <summary>
/// <c>serve rollback</c>: makes the previous (or a given) published version of an adapter current again in the file
/// registry, then tells the replicas (and Redis) to serve it.
/// </summary>
internal static class RollbackCommand
{
    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "Adapter name", Required = true };
        var to = new Option<string>("--to") { Description = "Version (or a unique prefix of one) to make current; default: the one before the current" };
        var registry = new Option<DirectoryInfo>("--registry") { Description = "Registry directory (default: models/adapters above the current directory)" };
        var replicas = new ReplicaOptionSet();
        var command = new Command("rollback", "Serve the previous (or --to) version of a published adapter again, on every replica") { name, to, registry };
        foreach (var option in replicas.All) command.Options.Add(option);
        command.SetAction((p, cancellationToken) => CommandErrors.GuardAsync(p, async () =>
        {
            var o = p.InvocationConfiguration.Output;
            var adapterName = p.GetValue(name)!;
            var fileRegistry = new AdapterFileRegistry(VersionsCommand.RegistryDirectory(p.GetValue(registry)));
            foreach (var stale in fileRegistry.RemoveStaleTempFiles(TimeSpan.FromMinutes(1))) o.WriteLine($"removed {stale}, left by a write that did not finish");
            var before = fileRegistry.Read(adapterName).CurrentVersion;
            var target = fileRegistry.Rollback(adapterName, p.GetValue(to));
            o.WriteLine($"{fileRegistry.CurrentPath(adapterName)} is now version {target.Version} (was {before?.Version ?? "none"})");
            var ok = await replicas.DistributeAsync(p, adapterName, fileRegistry.VersionPath(adapterName, target.Version), target, o, cancellationToken).ConfigureAwait(false);
            o.WriteLine(ok ? $"rolled back '{adapterName}' to {target.Version}" : $"rolled back '{adapterName}' to {target.Version} in the registry, with warnings above (exit {PublishCommand.ExitNotEverywhere})");
            return ok ? 0 : PublishCommand.ExitNotEverywhere;
        }));
        return command;
    }
}
