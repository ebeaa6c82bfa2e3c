using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Serve.Cluster;
using Serve.Gateway.Hosting;
using Serve.Server.Hosting;

namespace Serve.Cluster.Tests.Deployment;

/// <summary>
/// Checks environment variables from the deployment files against the code's options: each name becomes its
/// configuration key (__ → :), goes to the options type of the server, cluster or gateway that owns it (a type
/// with a <c>Section</c> constant and a property of that name), is bound into that real type with unknown keys an
/// error, and the result passes the type's data-annotation validation. ReverseProxy keys are YARP's (checked by
/// loading them into a gateway); a few names are for the platform, not for configuration.
/// </summary>
public static class ConfigurationKeys
{
    /// <summary>Read by the host or the library loader rather than bound to options; POD_* are Kubernetes helpers.</summary>
    public static readonly HashSet<string> PlatformVariables = new(StringComparer.Ordinal)
    {
        "ASPNETCORE_HTTP_PORTS", "SERVE_LLAMA_LIB_DIR", "POD_NAME", "POD_IP",
    };

    /// <summary>
    /// Serve:Redis, the replica's shared-state connection, comes with the server's Redis wiring (another branch);
    /// until an options type of section "Serve" has a Redis property, it is the one key accepted unbound.
    /// </summary>
    public const string PendingServerRedisKey = "Serve:Redis";

    /// <summary>Every options type of the server, cluster and gateway assemblies: public, with a const Section.</summary>
    private static readonly (string Section, Type Type)[] OptionTypes =
        [.. new[] { typeof(ServerOptions).Assembly, typeof(ClusterOptions).Assembly, typeof(GatewayOptions).Assembly }
            .SelectMany(a => a.GetExportedTypes())
            .Select(t => (Field: t.GetField("Section", BindingFlags.Public | BindingFlags.Static), Type: t))
            .Where(x => x.Field is { IsLiteral: true } && x.Field.FieldType == typeof(string) && x.Type.GetConstructor(Type.EmptyTypes) is not null)
            .Select(x => ((string)x.Field!.GetRawConstantValue()!, x.Type))
            // Longest first: a key belongs to the most specific section.
            .OrderByDescending(x => x.Item1.Length)];

    public static string KeyOf(string environmentVariable) => environmentVariable.Replace("__", ":", StringComparison.Ordinal);

    /// <summary>Problems found, empty when every variable binds; ReverseProxy keys are returned in <paramref name="proxyKeys"/>.</summary>
    public static List<string> Check(IReadOnlyDictionary<string, string> environment, out Dictionary<string, string?> proxyKeys)
    {
        var problems = new List<string>();
        proxyKeys = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var byType = new Dictionary<(string Section, Type Type), Dictionary<string, string?>>();
        foreach (var (name, value) in environment)
        {
            if (PlatformVariables.Contains(name)) continue;
            var key = KeyOf(name);
            if (key.StartsWith("ReverseProxy:", StringComparison.OrdinalIgnoreCase))
            {
                proxyKeys[key] = value;
                continue;
            }
            var section = OptionTypes.Select(o => o.Section).FirstOrDefault(s => key.StartsWith(s + ":", StringComparison.OrdinalIgnoreCase));
            var property = section is null ? null : key[(section.Length + 1)..].Split(':')[0];
            var owner = OptionTypes.FirstOrDefault(o => o.Section == section
                && o.Type.GetProperty(property!, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is not null);
            if (owner.Type is null)
            {
                if (key.Equals(PendingServerRedisKey, StringComparison.OrdinalIgnoreCase)) continue;
                problems.Add($"{name}: no options type binds {key}");
                continue;
            }
            if (!byType.TryGetValue(owner, out var values)) byType[owner] = values = new(StringComparer.OrdinalIgnoreCase);
            values[key] = value;
        }

        foreach (var ((section, type), values) in byType)
        {
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
            try
            {
                var bound = configuration.GetSection(section).Get(type, o => o.ErrorOnUnknownConfiguration = true) ?? Activator.CreateInstance(type)!;
                var results = new List<ValidationResult>();
                if (!Validator.TryValidateObject(bound, new ValidationContext(bound), results, validateAllProperties: true))
                    problems.AddRange(results.Select(r => $"{section} ({type.Name}): {r.ErrorMessage}"));
            }
            catch (InvalidOperationException e)
            {
                problems.Add($"{section} ({type.Name}): {e.Message}");
            }
        }
        return problems;
    }

    /// <summary>The options types found, for a test that the scan sees the ones the deployment files use.</summary>
    public static IEnumerable<Type> Types => OptionTypes.Select(o => o.Type);
}
