using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Serve.Server.Apis;
using Serve.Server.Hosting;

namespace Serve.Cluster.Tests.Deployment;

/// <summary>
/// deploy/k8s/inference-pool cannot be applied here (no cluster), so it is held to the Inference Extension's API
/// (facts from its CRD and endpoint picker, in TestData/inference-extension-v1.json) and to our code: the pool uses
/// only fields the CRD defines, selects exactly the replica pods on their HTTP port, points at the picker's Service,
/// the picker scrapes the vLLM metric names Serve publishes on a path the server maps, and the replicas' variables
/// bind into our options types.
/// </summary>
public sealed class InferencePoolManifestTests
{
    private static string Overlay => Path.Combine(TestPaths.RepositoryRoot, "deploy/k8s/inference-pool");
    private static readonly Lazy<JsonElement> Facts = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Deployment/TestData/inference-extension-v1.json"))).RootElement.Clone());

    /// <summary>The overlay's objects as kustomize would build them: the base's resources, its own, its patches applied.</summary>
    private static List<Dictionary<object, object>> Build()
    {
        var kustomization = Yaml.ReadDocuments(Path.Combine(Overlay, "kustomization.yaml")).Single();
        var objects = new List<Dictionary<object, object>>();
        foreach (var resource in kustomization.List("resources").Cast<string>())
        {
            var path = Path.GetFullPath(Path.Combine(Overlay, resource));
            if (Directory.Exists(path))
            {
                var base_ = Yaml.ReadDocuments(Path.Combine(path, "kustomization.yaml")).Single();
                foreach (var file in base_.List("resources").Cast<string>()) objects.AddRange(Yaml.ReadDocuments(Path.Combine(path, file)));
            }
            else
            {
                objects.AddRange(Yaml.ReadDocuments(path));
            }
        }
        foreach (var patch in kustomization.Maps("patches"))
        {
            var document = patch.TextOrNull("patch") is { } inline
                ? Yaml.Parse(inline)
                : Yaml.ReadDocuments(Path.Combine(Overlay, patch.Text("path"))).Single();
            var kind = document.Text("kind");
            var name = document.Map("metadata").Text("name");
            var target = objects.Single(o => o.Text("kind") == kind && o.Map("metadata").Text("name") == name);
            if (document.TextOrNull("$patch") == "delete") objects.Remove(target);
            else Merge(target, document);
        }
        return objects;
    }

    /// <summary>Strategic merge as far as these patches need it: maps merge, lists of named items merge by name.</summary>
    private static void Merge(Dictionary<object, object> target, Dictionary<object, object> patch)
    {
        foreach (var (key, value) in patch)
        {
            if (value is Dictionary<object, object> map && target.TryGetValue(key, out var existing) && existing is Dictionary<object, object> into)
                Merge(into, map);
            else if (value is List<object> items && target.TryGetValue(key, out var old) && old is List<object> list)
                foreach (var item in items.Cast<Dictionary<object, object>>())
                {
                    var same = list.Cast<Dictionary<object, object>>().FirstOrDefault(i => i.TextOrNull("name") == item.TextOrNull("name"));
                    if (same is null) list.Add(item);
                    else Merge(same, item);
                }
            else target[key] = value;
        }
    }

    private static Dictionary<object, object> Object(List<Dictionary<object, object>> objects, string kind, string name) =>
        objects.Single(o => o.Text("kind") == kind && o.Map("metadata").Text("name") == name);

    [Fact]
    public void Kustomization_ListsEveryFile_AndReplacesServeGatewayWithThePool()
    {
        var kustomization = Yaml.ReadDocuments(Path.Combine(Overlay, "kustomization.yaml")).Single();
        var listed = kustomization.List("resources").Cast<string>().Where(r => r != "../")
            .Concat(kustomization.Maps("patches").Select(p => p.TextOrNull("path")).OfType<string>());
        Assert.Equal(Directory.GetFiles(Overlay, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order(StringComparer.Ordinal),
            listed.Order(StringComparer.Ordinal));
        var objects = Build();
        Assert.DoesNotContain(objects, o => o.Map("metadata").Text("name") == "serve-gateway");
        Assert.Single(objects, o => o.Text("kind") == "InferencePool");
        Assert.Single(objects, o => o.Text("kind") == "Deployment" && o.Map("metadata").Text("name") == "serve-replica");
    }

    [Fact]
    public void InferencePool_UsesOnlyCrdFields_WithRequiredOnesAndValidValues()
    {
        var facts = Facts.Value.GetProperty("InferencePool");
        var pool = Build().Single(o => o.Text("kind") == "InferencePool");
        Assert.Equal(facts.GetProperty("apiVersion").GetString(), pool.Text("apiVersion"));
        var allowed = facts.GetProperty("fields").EnumerateArray().Select(f => f.GetString()!).ToHashSet(StringComparer.Ordinal);
        var leaves = Leaves("spec", pool.Map("spec")).ToList();
        foreach (var (path, _) in leaves)
            Assert.True(allowed.Contains(path), $"spec field {path} is not in the InferencePool CRD");
        var present = leaves.SelectMany(l => Prefixes(l.Path)).ToHashSet(StringComparer.Ordinal);
        foreach (var required in facts.GetProperty("required").EnumerateArray().Select(r => r.GetString()!))
            Assert.Contains(required, present);
        foreach (var field in facts.GetProperty("enums").EnumerateObject())
            foreach (var (path, value) in leaves.Where(l => l.Path == field.Name))
                Assert.Contains(value, field.Value.EnumerateArray().Select(v => v.GetString()));
        Assert.InRange(pool.Map("spec").List("targetPorts").Count, 1, facts.GetProperty("maxItems").GetProperty("spec.targetPorts").GetInt32());
        var range = facts.GetProperty("portRange");
        foreach (var (path, value) in leaves.Where(l => l.Path.EndsWith("number", StringComparison.Ordinal)))
            Assert.InRange(int.Parse(value, CultureInfo.InvariantCulture), range[0].GetInt32(), range[1].GetInt32());
    }

    [Fact]
    public void InferencePool_SelectsExactlyTheReplicaPods_OnTheirHttpPort_AndPointsAtThePickersService()
    {
        var objects = Build();
        var pool = Object(objects, "InferencePool", "serve-pool").Map("spec");
        var selector = pool.Map("selector").Map("matchLabels");
        var selected = objects.Where(o => o.Text("kind") == "Deployment")
            .Where(d => selector.All(kv => d.Map("spec").Map("template").Map("metadata").Map("labels").TryGetValue(kv.Key, out var v) && Equals(v, kv.Value)))
            .Select(d => d.Map("metadata").Text("name")).ToList();
        Assert.Equal(["serve-replica"], selected);

        var replica = Object(objects, "Deployment", "serve-replica").Map("spec").Map("template").Map("spec").Maps("containers").Single();
        Assert.Equal(replica.Maps("ports").Single().Text("containerPort"), pool.Maps("targetPorts").Single().Text("number"));

        // The picker: a Service of that name with that port, selecting the EPP pods, whose container serves gRPC there.
        var reference = pool.Map("endpointPickerRef");
        var service = Object(objects, "Service", reference.Text("name")).Map("spec");
        var port = service.Maps("ports").Single(p => p.Text("port") == reference.Map("port").Text("number"));
        var epp = objects.Single(o => o.Text("kind") == "Deployment" && service.Map("selector").All(kv =>
            o.Map("spec").Map("template").Map("metadata").Map("labels").TryGetValue(kv.Key, out var v) && Equals(v, kv.Value)));
        var container = epp.Map("spec").Map("template").Map("spec").Maps("containers").Single();
        var containerPort = container.Maps("ports").Single(p => p.Text("name") == port.Text("targetPort"));
        Assert.Equal(Flags(container)["grpc-port"], containerPort.Text("containerPort"));

        // The route sends /v1 to the pool.
        var backend = Object(objects, "HTTPRoute", "serve-route").Map("spec").Maps("rules").Single().Maps("backendRefs").Single();
        var route = Facts.Value.GetProperty("HTTPRoute");
        Assert.Equal(route.GetProperty("poolBackendGroup").GetString(), backend.Text("group"));
        Assert.Equal(route.GetProperty("poolBackendKind").GetString(), backend.Text("kind"));
        Assert.Equal("serve-pool", backend.Text("name"));

        // The picker may read the pool (RBAC in the pool's API group).
        var group = Object(objects, "InferencePool", "serve-pool").Text("apiVersion").Split('/')[0];
        Assert.Contains(Object(objects, "Role", "serve-epp").Maps("rules"), r => r.List("apiGroups").Contains(group) && r.List("resources").Contains("inferencepools"));
    }

    [Fact]
    public async Task EndpointPicker_ScrapesTheMetricNamesServePublishes_OnAPathTheServerMaps()
    {
        var facts = Facts.Value.GetProperty("EndpointPicker");
        var objects = Build();
        var container = Object(objects, "Deployment", "serve-epp").Map("spec").Map("template").Map("spec").Maps("containers").Single();
        Assert.StartsWith(facts.GetProperty("image").GetString() + ":", container.Text("image"), StringComparison.Ordinal);
        var flags = Flags(container);
        var known = facts.GetProperty("flags").EnumerateArray().Select(f => f.GetString()!).ToHashSet(StringComparer.Ordinal);
        Assert.All(flags.Keys, f => Assert.Contains(f, known));
        Assert.Equal("serve-pool", flags["pool-name"]);
        // $(NAMESPACE) is defined by the container's environment.
        Assert.Equal("$(NAMESPACE)", flags["pool-namespace"]);
        Assert.Contains(container.Maps("env"), e => e.Text("name") == "NAMESPACE");

        var published = new Dictionary<string, string>
        {
            ["total-queued-requests-metric"] = ModelServerMetrics.Waiting,
            ["total-running-requests-metric"] = ModelServerMetrics.Running,
            ["kv-cache-usage-percentage-metric"] = ModelServerMetrics.KvCacheUsage,
            ["lora-info-metric"] = ModelServerMetrics.LoraRequestsInfo,
        };
        foreach (var flag in facts.GetProperty("metricFlags").EnumerateObject())
            Assert.Equal(published[flag.Name], flags[flag.Name]);

        var routes = await RoutesAsync(ServeApplication.Build(["--urls", "http://127.0.0.1:0"], b => b.Logging.ClearProviders()));
        Assert.Contains(flags["model-server-metrics-path"], routes);
        // The adapter syncer's endpoints (vLLM's) are mapped too.
        Assert.Contains(LoraAdapterApi.LoadPath, routes);
        Assert.Contains(LoraAdapterApi.UnloadPath, routes);
    }

    [Fact]
    public void Replicas_InThePool_BindTheirVariables_AndImportFromTheMountedAdapters()
    {
        var objects = Build();
        var pod = Object(objects, "Deployment", "serve-replica").Map("spec").Map("template").Map("spec");
        var container = pod.Maps("containers").Single();
        var env = container.Maps("env").ToArray();
        var problems = ConfigurationKeys.Check(env.ToDictionary(e => e.Text("name"), e => e.TextOrNull("value") ?? "from-field"), out _);
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
        var values = env.Where(e => e.ContainsKey("value")).ToDictionary(e => e.Text("name"), e => e.Text("value"));
        // The picker's adapter syncer loads by path: the import directory is the mounted adapter directory.
        Assert.Equal(values["Serve__Engine__Adapters"], values["Serve__AdapterImportDirectories__0"]);
        var mount = container.Maps("volumeMounts").Single();
        Assert.StartsWith(mount.Text("mountPath") + "/", values["Serve__AdapterImportDirectories__0"] + "/", StringComparison.Ordinal);
        Assert.Contains(env, e => e.Text("name") == "Serve__AdminKey" && e.Map("valueFrom").ContainsKey("secretKeyRef"));
    }

    /// <summary>"--name value" pairs of a container's args.</summary>
    private static Dictionary<string, string> Flags(Dictionary<object, object> container)
    {
        var args = container.List("args").Cast<string>().ToArray();
        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            Assert.StartsWith("--", args[i], StringComparison.Ordinal);
            var name = args[i][2..];
            if (name.Contains('=')) flags[name[..name.IndexOf('=')]] = name[(name.IndexOf('=') + 1)..];
            else flags[name] = args[++i];
        }
        return flags;
    }

    private static IEnumerable<(string Path, string Value)> Leaves(string path, object node) => node switch
    {
        // Label keys may hold dots: a map of labels is one field whatever its keys.
        Dictionary<object, object> map when path.EndsWith(".matchLabels", StringComparison.Ordinal) => map.SelectMany(kv => Leaves(path + ".*", kv.Value)),
        Dictionary<object, object> map => map.SelectMany(kv => Leaves($"{path}.{kv.Key}", kv.Value)),
        List<object> list => list.SelectMany(item => Leaves(path + "[]", item)),
        _ => [(path, node?.ToString() ?? "")],
    };

    private static IEnumerable<string> Prefixes(string path)
    {
        for (var i = 0; i < path.Length; i++)
            if (path[i] == '.' || (path[i] == '[' && path[i..].StartsWith("[]", StringComparison.Ordinal))) yield return path[..i];
        yield return path;
    }

    private static async Task<HashSet<string>> RoutesAsync(WebApplication app)
    {
        await using (app)
        {
            return ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
                .Select(e => "/" + e.RoutePattern.RawText?.TrimStart('/')).ToHashSet(StringComparer.Ordinal);
        }
    }
}
