using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Serve.Cluster;
using Serve.Gateway.Hosting;
using Serve.Server.Hosting;

namespace Serve.Gateway.Tests.Deployment;

/// <summary>
/// Checks environment variables from the deployment files against the code's options: each name becomes its
/// configuration key (__ → :), is bound into the real options type of its section with unknown keys an error,
/// and the result passes that type's data-annotation validation. ReverseProxy keys are YARP's (checked by loading
/// them into a gateway); a few names are for the platform, not for configuration.
/// </summary>
public static class ConfigurationKeys
{
    /// <summary>Read by the host or the library loader rather than bound to options; POD_* are Kubernetes helpers.</summary>
    public static readonly HashSet<string> PlatformVariables = new(StringComparer.Ordinal)
    {
        "ASPNETCORE_HTTP_PORTS", "SERVE_LLAMA_LIB_DIR", "POD_NAME", "POD_IP",
    };

    /// <summary>
    /// Serve:Redis, the replica's shared-state connection, is being added to ServerOptions by the Redis wiring of
    /// the server; until ServerOptions has it, it is the one key accepted without a property to bind to.
    /// </summary>
    public const string PendingServerRedisKey = "Serve:Redis";

    private static readonly (string Section, Type Type)[] Sections =
    [
        // Longest first: a key belongs to the most specific section.
        (EngineSettings.Section, typeof(EngineSettings)),
        (ClusterOptions.Section, typeof(ClusterOptions)),
        (GatewayOptions.Section, typeof(GatewayOptions)),
        (ServerOptions.Section, typeof(ServerOptions)),
    ];

    public static string KeyOf(string environmentVariable) => environmentVariable.Replace("__", ":", StringComparison.Ordinal);

    /// <summary>Problems found, empty when every variable binds; ReverseProxy keys are returned in <paramref name="proxyKeys"/>.</summary>
    public static List<string> Check(IReadOnlyDictionary<string, string> environment, out Dictionary<string, string?> proxyKeys)
    {
        var problems = new List<string>();
        proxyKeys = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var bySection = Sections.ToDictionary(s => s.Section, _ => new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase));
        foreach (var (name, value) in environment)
        {
            if (PlatformVariables.Contains(name)) continue;
            var key = KeyOf(name);
            if (key.StartsWith("ReverseProxy:", StringComparison.OrdinalIgnoreCase))
            {
                proxyKeys[key] = value;
                continue;
            }
            if (key.Equals(PendingServerRedisKey, StringComparison.OrdinalIgnoreCase) && typeof(ServerOptions).GetProperty("Redis") is null) continue;
            var section = Sections.FirstOrDefault(s => key.StartsWith(s.Section + ":", StringComparison.OrdinalIgnoreCase));
            if (section.Type is null)
            {
                problems.Add($"{name}: {key} is in no options section the code binds");
                continue;
            }
            bySection[section.Section][key] = value;
        }

        foreach (var (section, type) in Sections)
        {
            var values = bySection[section];
            if (values.Count == 0) continue;
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
            try
            {
                var bound = configuration.GetSection(section).Get(type, o => o.ErrorOnUnknownConfiguration = true) ?? Activator.CreateInstance(type)!;
                var results = new List<ValidationResult>();
                if (!Validator.TryValidateObject(bound, new ValidationContext(bound), results, validateAllProperties: true))
                    problems.AddRange(results.Select(r => $"{section}: {r.ErrorMessage}"));
            }
            catch (InvalidOperationException e)
            {
                problems.Add($"{section} ({type.Name}): {e.Message}");
            }
        }
        return problems;
    }
}
