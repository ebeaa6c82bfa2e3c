using System.CommandLine;
using System.Globalization;
using Serve.Cli.Publishing;

namespace Serve.Cli.Commands;

/// <summary><c>serve versions</c>: the published versions of an adapter (or every published name) in the file registry.</summary>
internal static class VersionsCommand
{
    public static Command Create()
    {
        var name = new Option<string>("--name") { Description = "Adapter name (default: list every published name)" };
        var registry = new Option<DirectoryInfo>("--registry") { Description = "Registry directory (default: models/adapters above the current directory)" };
        var command = new Command("versions", "List the published versions of an adapter, the current one marked") { name, registry };
        command.SetAction(p => CommandErrors.Guard(p, () =>
        {
            var o = p.InvocationConfiguration.Output;
            var fileRegistry = new AdapterFileRegistry(RegistryDirectory(p.GetValue(registry)));
            if (p.GetValue(name) is not { } adapterName)
            {
                var root = Path.Combine(fileRegistry.Directory, AdapterFileRegistry.VersionsFolder);
                var names = Directory.Exists(root) ? Directory.GetDirectories(root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList() : [];
                if (names.Count == 0) o.WriteLine($"nothing published in {fileRegistry.Directory}");
                foreach (var n in names)
                {
                    var h = fileRegistry.Read(n!);
                    o.WriteLine($"{n,-24} current {h.CurrentVersion?.Version ?? "none",-16} {h.Versions.Count} version(s)");
                }
                return 0;
            }
            var history = fileRegistry.Read(adapterName);
            if (history.Versions.Count == 0) throw new ArgumentException($"'{adapterName}' has never been published to {fileRegistry.Directory}.");
            o.WriteLine($"{"",1} {"version",-16} {"created (UTC)",-19} {"method",-6} {"rank",4} {"alpha",6} {"steps",6} {"match",6} {"loss",8} {"base loss",9}  dataset");
            foreach (var v in history.Versions.OrderBy(v => v.Created))
            {
                var current = history.Current.Count > 0 && history.Current[0] == v.Version ? "*" : " ";
                var e = v.Eval;
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{current} {v.Version,-16} {v.Created.UtcDateTime,-19:yyyy-MM-dd HH:mm:ss} {v.Method,-6} {v.Rank,4} {v.Alpha,6} {v.Steps,6} {(e is null ? "n/a" : PublishCommand.Percent(e.AdapterMatch)),6} {Loss(e?.AdapterLoss),8} {Loss(e?.BaseLoss),9}  {Path.GetFileName(v.Dataset)}"));
            }
            o.WriteLine($"base {history.CurrentVersion?.BaseSha256[..12]}; files in {Path.Combine(fileRegistry.Directory, AdapterFileRegistry.VersionsFolder, adapterName)}");
            return 0;
        }));
        return command;
    }

    internal static string RegistryDirectory(DirectoryInfo? given) =>
        given?.FullName ?? BaseModelLocator.DefaultRegistry(Directory.GetCurrentDirectory())
        ?? throw new ArgumentException("No registry: models/ was not found above the current directory; pass --registry <dir>.");

    private static string Loss(double? v) => v is { } x ? x.ToString("F4", CultureInfo.InvariantCulture) : "n/a";
}
