using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Serve.Gateway.Hosting;
using Serve.Server.Hosting;
using Yarp.ReverseProxy;

namespace Serve.Cluster.Tests.Deployment;

/// <summary>
/// The Dockerfile, deploy/compose.yaml and deploy/k8s/ cannot be built or applied here (no Docker engine, no
/// cluster), so these tests read them and hold them to the code: the ports the images listen on, the health paths
/// the server and gateway really map, the project each image publishes, the llama.cpp library names, and every
/// environment variable bound into the real options types (YARP's through a real gateway's configuration).
/// </summary>
public sealed class DeploymentFilesTests
{
    private const string ReadyPath = "/healthz/ready";
    private const string LivePath = "/healthz/live";

    private static string Root => TestPaths.RepositoryRoot;
    private static readonly Lazy<IReadOnlyList<DockerStage>> Stages = new(() => DockerfileReader.Read(Path.Combine(Root, "Dockerfile")));
    private static DockerStage Stage(string name) => Stages.Value.Single(s => s.Name == name);
    private static int ImagePort(string stage) => int.Parse(Stage(stage).Env["ASPNETCORE_HTTP_PORTS"], System.Globalization.CultureInfo.InvariantCulture);
    private static string ServerExecutable => Path.GetFileNameWithoutExtension(TestPaths.ServerDll);
    private static string GatewayExecutable => Path.GetFileNameWithoutExtension(TestPaths.GatewayDll);

    private static Type LibraryLocator => typeof(Serve.Llama.LlamaBackend).Assembly.GetType("Serve.Llama.Native.Load.LlamaLibraryLocator", throwOnError: true)!;

    private static void AssertBinds(IReadOnlyDictionary<string, string> environment, string where)
    {
        var problems = ConfigurationKeys.Check(environment, out _);
        Assert.True(problems.Count == 0, $"{where}:{Environment.NewLine}{string.Join(Environment.NewLine, problems)}");
    }

    [Fact]
    public void ConfigurationKeys_SeeTheOptionsTypes_AndRejectUnknownOrInvalidKeys()
    {
        Assert.Superset(new HashSet<Type> { typeof(ServerOptions), typeof(EngineSettings), typeof(Serve.Cluster.ClusterOptions), typeof(GatewayOptions) },
            ConfigurationKeys.Types.ToHashSet());
        Assert.Empty(ConfigurationKeys.Check(new Dictionary<string, string> { ["Gateway__Affinity__LoadFactor"] = "0.5", ["Serve__Engine__Threads"] = "4" }, out _));
        Assert.Single(ConfigurationKeys.Check(new Dictionary<string, string> { ["Serve__Engine__Modle"] = "/models/base.gguf" }, out _));
        Assert.Single(ConfigurationKeys.Check(new Dictionary<string, string> { ["Gateway__Affinity__LoadFactr"] = "0.5" }, out _));
        Assert.Single(ConfigurationKeys.Check(new Dictionary<string, string> { ["Serve__Engine__Threads"] = "0" }, out _)); // [Range(1, 1024)]
        Assert.Single(ConfigurationKeys.Check(new Dictionary<string, string> { ["Gateway__MaxConnectAttempts"] = "many" }, out _));
        Assert.Single(ConfigurationKeys.Check(new Dictionary<string, string> { ["Nowhere__Redis"] = "redis:6379" }, out _));
    }

    [Fact]
    public void Dockerfile_EachTargetPublishesItsProject_ListensWhereItExposes_AndBindsItsVariables()
    {
        Assert.Equal("server", Stages.Value[^1].Name); // the default target of a plain `docker build .`
        foreach (var (target, publish, project, executable) in new[]
        {
            ("server", "publish-server", "src/Serve.Server", ServerExecutable),
            ("server-cuda", "publish-server", "src/Serve.Server", ServerExecutable),
            ("gateway", "publish-gateway", "src/Serve.Gateway", GatewayExecutable),
        })
        {
            var stage = Stage(target);
            Assert.Contains(stage.Copy, c => c.StartsWith($"--from={publish} /out /app", StringComparison.Ordinal));
            Assert.Contains(Stage(publish).Run, r => r.StartsWith($"dotnet publish {project} ", StringComparison.Ordinal));
            Assert.True(File.Exists(Path.Combine(Root, project, Path.GetFileName(project) + ".csproj")), project);
            Assert.Equal("/app/" + executable, stage.Entrypoint);
            Assert.Equal([stage.Env["ASPNETCORE_HTTP_PORTS"]], stage.Expose);
            AssertBinds(stage.Env, $"Dockerfile target {target}");
        }

        // The cli target runs the Serve.Cli executable, whatever its AssemblyName.
        var cli = File.ReadAllText(Path.Combine(Root, "src/Serve.Cli/Serve.Cli.csproj"));
        Assert.Equal("/app/" + Regex.Match(cli, "<AssemblyName>([^<]+)</AssemblyName>").Groups[1].Value, Stage("cli").Entrypoint);
        Assert.Contains(Stage("publish-cli").Run, r => r.StartsWith("dotnet publish src/Serve.Cli ", StringComparison.Ordinal));
    }

    [Fact]
    public void Dockerfile_LlamaLibraries_AreWhereAndNamedAsServeLlamaLoadsThem()
    {
        var variable = (string)LibraryLocator.GetField("EnvironmentVariable", BindingFlags.NonPublic | BindingFlags.Static)!.GetRawConstantValue()!;
        var fileNames = (IReadOnlyDictionary<string, string[]>)LibraryLocator.GetField("FileNames", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;
        Assert.Equal("SERVE_LLAMA_LIB_DIR", variable);

        // CPU: the build copies the libraries native/build-llama.sh made to <output>/llama/ (LlamaNative.targets),
        // published to /app/llama; the image builds them portable (every CPU variant, chosen at run time).
        Assert.Equal("/app/llama", Stage("server").Env[variable]);
        Assert.Contains("Link=\"llama/", File.ReadAllText(Path.Combine(Root, "src/Serve.Llama/LlamaNative.targets")), StringComparison.Ordinal);
        Assert.Contains(Stage("llama-cpu").Copy, c => c == "native/patches native/patches");
        Assert.Contains(Stage("llama-cpu").Run, r => r.Contains("native/build-llama.sh --portable", StringComparison.Ordinal));
        Assert.Contains(Stage("publish-server").Copy, c => c == "--from=llama-cpu /llama-cpu native/lib");
        Assert.Contains(Stage("publish-server").Run, r => r.Contains("-p:SkipLlamaNativeBuild=true", StringComparison.Ordinal));

        // CUDA: the same source and patches, compiled by nvcc for Hopper (90) among the usual architectures.
        var cuda = Stage("llama-cuda");
        Assert.StartsWith("nvidia/cuda:13.", cuda.From, StringComparison.Ordinal);
        Assert.Contains("-devel-", cuda.From, StringComparison.Ordinal);
        Assert.Contains(cuda.Copy, c => c == "native/patches native/patches");
        var archs = Regex.Match(string.Join('\n', cuda.Run), "build-llama.sh --cuda \"([0-9;]+)\"").Groups[1].Value.Split(';');
        Assert.Contains("90", archs);
        // The libraries the build makes are the names Serve.Llama loads first.
        foreach (var (library, names) in fileNames)
            Assert.True(names[0] is "libllama.so" or "libggml.so" or "libggml-base.so", $"{library}: {names[0]} is not a name native/build-llama.sh makes");
        Assert.Contains(Stage("server-cuda").Copy, c => c == "--from=llama-cuda /llama-cuda /app/llama-cuda");
        Assert.Equal("/app/llama-cuda", Stage("server-cuda").Env[variable]);
        Assert.StartsWith("${CUDA_RUNTIME}", Stage("server-cuda").From, StringComparison.Ordinal);
        // libggml-cuda.so of that package links libcudart.so.13 and libcublas.so.13: a CUDA 13 runtime image.
        Assert.Matches(@"^ARG CUDA_RUNTIME=nvidia/cuda:13\.[0-9.]+-runtime-", File.ReadAllLines(Path.Combine(Root, "Dockerfile")).Single(l => l.StartsWith("ARG CUDA_RUNTIME=", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task HealthPaths_UsedByTheDeployments_AreMappedByServerAndGateway()
    {
        var server = await RoutesAsync(ServeApplication.Build(["--urls", "http://127.0.0.1:0"], b => b.Logging.ClearProviders()));
        var gateway = await RoutesAsync(GatewayApplication.Build(["--urls", "http://127.0.0.1:0"], b => b.Logging.ClearProviders(),
            new WebApplicationOptions { ContentRootPath = Path.GetDirectoryName(TestPaths.GatewayDll) }));
        foreach (var path in new[] { ReadyPath, LivePath })
        {
            Assert.Contains(path, server);
            Assert.Contains(path, gateway);
        }
        // The gateway's own active health checks probe the replicas on the same path.
        using var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "src/Serve.Gateway/appsettings.json")));
        Assert.Equal(ReadyPath, settings.RootElement.GetProperty("ReverseProxy").GetProperty("Clusters").GetProperty("replicas")
            .GetProperty("HealthCheck").GetProperty("Active").GetProperty("Path").GetString());
    }

    [Fact]
    public async Task Compose_ServicesMatchTheImagesAndTheCode_AndTheGatewayGetsBothReplicas()
    {
        var compose = Yaml.ReadDocuments(Path.Combine(Root, "deploy/compose.yaml")).Single();
        var services = compose.Map("services");
        var redis = services.Map("redis");
        var redisPort = redis.List("expose").Cast<string>().Single();
        Assert.Equal("6379", redisPort);

        var replicas = services.Where(s => ((Dictionary<object, object>)s.Value).TryGetValue("build", out var b) && ((Dictionary<object, object>)b).Text("target") == "server")
            .ToDictionary(s => (string)s.Key, s => (Dictionary<object, object>)s.Value);
        Assert.Equal(["replica-1", "replica-2"], replicas.Keys.Order(StringComparer.Ordinal));
        var port = ImagePort("server");
        foreach (var (name, replica) in replicas)
        {
            Assert.Equal("..", replica.Map("build").Text("context")); // the repository root, relative to deploy/
            Assert.Equal("Dockerfile", replica.Map("build").Text("dockerfile"));
            Assert.Equal([port.ToString(System.Globalization.CultureInfo.InvariantCulture)], replica.List("expose").Cast<string>());
            var env = EnvironmentOf(replica);
            AssertBinds(env, $"compose service {name}");
            Assert.Equal(name, env["Serve__Cluster__ReplicaId"]);
            Assert.Equal($"http://{name}:{port}", env["Serve__Cluster__AdvertisedUrl"]);
            Assert.Equal($"redis:{redisPort}", env["Serve__Cluster__Redis"]);
            Assert.Equal($"redis:{redisPort}", env["Serve__Redis"]);
            // The image's model paths, under the mounted /models.
            Assert.Equal(Stage("server").Env["Serve__Engine__Model"], env["Serve__Engine__Model"]);
            Assert.Equal(Stage("server").Env["Serve__Engine__Adapters"], env["Serve__Engine__Adapters"]);
            Assert.Contains("../models:/models:ro", replica.List("volumes").Cast<string>());
            Assert.StartsWith("/models/", env["Serve__Engine__Model"], StringComparison.Ordinal);
        }

        var gateway = services.Map("gateway");
        Assert.Equal("gateway", gateway.Map("build").Text("target"));
        Assert.Equal([$"8080:{ImagePort("gateway")}"], gateway.List("ports").Cast<string>());
        var gatewayEnv = EnvironmentOf(gateway);
        AssertBinds(gatewayEnv, "compose service gateway");
        Assert.Equal($"redis:{redisPort}", gatewayEnv["Gateway__Redis"]);

        // YARP's keys, loaded the way the gateway loads them (its shipped appsettings.json, then the environment):
        // the replica cluster gets both replicas, by the ids they register under, with the AdapterAffinity policy.
        ConfigurationKeys.Check(gatewayEnv, out var proxyKeys);
        // No probes or Redis here: the addresses are compose host names, and tests talk to loopback only.
        proxyKeys["ReverseProxy:Clusters:replicas:HealthCheck:Active:Enabled"] = "false";
        await using var app = GatewayApplication.Build(["--urls", "http://127.0.0.1:0"], b =>
        {
            b.Configuration.AddInMemoryCollection(proxyKeys);
            b.Logging.ClearProviders();
        }, new WebApplicationOptions { ContentRootPath = Path.GetDirectoryName(TestPaths.GatewayDll) });
        await app.StartAsync();
        Assert.True(app.Services.GetRequiredService<IProxyStateLookup>().TryGetCluster("replicas", out var cluster));
        Assert.Equal("AdapterAffinity", cluster.Model.Config.LoadBalancingPolicy);
        Assert.Equal(replicas.Keys.Order(StringComparer.Ordinal), cluster.Destinations.Keys.Order(StringComparer.Ordinal));
        foreach (var name in replicas.Keys)
            Assert.Equal($"http://{name}:{port}", cluster.Destinations[name].Model.Config.Address);
        await app.StopAsync();
    }

    [Fact]
    public async Task Kubernetes_ProbesPortsServicesAndVariables_MatchTheCode()
    {
        var directory = Path.Combine(Root, "deploy/k8s");
        var kustomization = Yaml.ReadDocuments(Path.Combine(directory, "kustomization.yaml")).Single();
        var resources = kustomization.List("resources").Cast<string>().ToArray();
        Assert.Equal(Directory.GetFiles(directory, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order(StringComparer.Ordinal),
            resources.Order(StringComparer.Ordinal));
        var objects = resources.SelectMany(r => Yaml.ReadDocuments(Path.Combine(directory, r))).ToArray();
        Dictionary<object, object> Object(string kind, string name) =>
            objects.Single(o => o.Text("kind") == kind && o.Map("metadata").Text("name") == name);

        var serverRoutes = await RoutesAsync(ServeApplication.Build(["--urls", "http://127.0.0.1:0"], b => b.Logging.ClearProviders()));
        var gatewayRoutes = await RoutesAsync(GatewayApplication.Build(["--urls", "http://127.0.0.1:0"], b => b.Logging.ClearProviders(),
            new WebApplicationOptions { ContentRootPath = Path.GetDirectoryName(TestPaths.GatewayDll) }));

        var redisService = Object("Service", "serve-redis");
        var redisAddress = $"serve-redis:{redisService.Map("spec").Maps("ports").Single().Text("port")}";
        foreach (var (deployment, stage, routes) in new[] { ("serve-replica", "server", serverRoutes), ("serve-gateway", "gateway", gatewayRoutes) })
        {
            var pod = Object("Deployment", deployment).Map("spec").Map("template");
            var container = pod.Map("spec").Maps("containers").Single();
            var containerPort = container.Maps("ports").Single();
            Assert.Equal(ImagePort(stage).ToString(System.Globalization.CultureInfo.InvariantCulture), containerPort.Text("containerPort"));
            var env = container.Maps("env").ToArray();
            var values = env.Where(e => e.ContainsKey("value")).ToDictionary(e => e.Text("name"), e => e.Text("value"));
            Assert.Equal(containerPort.Text("containerPort"), values["ASPNETCORE_HTTP_PORTS"]);
            AssertBinds(env.ToDictionary(e => e.Text("name"), e => e.TextOrNull("value") ?? "from-field"), $"k8s {deployment}");
            // $(VAR) expands only from variables defined earlier in the list.
            for (var i = 0; i < env.Length; i++)
                foreach (Match reference in Regex.Matches(env[i].TextOrNull("value") ?? "", @"\$\((\w+)\)"))
                    Assert.Contains(reference.Groups[1].Value, env.Take(i).Select(e => e.Text("name")));

            foreach (var (probe, path) in new[] { ("readinessProbe", ReadyPath), ("livenessProbe", LivePath) })
            {
                var get = container.Map(probe).Map("httpGet");
                Assert.Equal(path, get.Text("path"));
                Assert.Contains(path, routes);
                Assert.Equal(containerPort.Text("name"), get.Text("port"));
            }

            // Its Service selects these pods and targets this port.
            var service = Object("Service", deployment).Map("spec");
            foreach (var (label, value) in service.Map("selector"))
                Assert.Equal(value, pod.Map("metadata").Map("labels")[label]);
            Assert.Equal(containerPort.Text("name"), service.Maps("ports").Single().Text("targetPort"));
            foreach (var (name, value) in values.Where(v => v.Key.EndsWith("__Redis", StringComparison.Ordinal)))
                Assert.True(value == redisAddress, $"{deployment} {name}={value}, but Redis is {redisAddress}");
        }

        var replica = Object("Deployment", "serve-replica").Map("spec").Map("template").Map("spec");
        var server = replica.Maps("containers").Single();
        var serverEnv = server.Maps("env").ToDictionary(e => e.Text("name"));
        Assert.Equal("metadata.name", serverEnv["POD_NAME"].Map("valueFrom").Map("fieldRef").Text("fieldPath"));
        Assert.Equal("status.podIP", serverEnv["POD_IP"].Map("valueFrom").Map("fieldRef").Text("fieldPath"));
        Assert.Equal("$(POD_NAME)", serverEnv["Serve__Cluster__ReplicaId"].Text("value"));
        Assert.Equal($"http://$(POD_IP):{ImagePort("server")}", serverEnv["Serve__Cluster__AdvertisedUrl"].Text("value"));
        // The model files come from the claimed volume, mounted where the variables point.
        var mount = server.Maps("volumeMounts").Single();
        Assert.StartsWith(mount.Text("mountPath") + "/", serverEnv["Serve__Engine__Model"].Text("value"), StringComparison.Ordinal);
        Assert.StartsWith(mount.Text("mountPath") + "/", serverEnv["Serve__Engine__Adapters"].Text("value") + "/", StringComparison.Ordinal);
        var volume = replica.Maps("volumes").Single(v => v.Text("name") == mount.Text("name"));
        Object("PersistentVolumeClaim", volume.Map("persistentVolumeClaim").Text("claimName"));

        // The gateway's replica cluster exists in its shipped configuration.
        var gatewayEnv = Object("Deployment", "serve-gateway").Map("spec").Map("template").Map("spec").Maps("containers").Single().Maps("env")
            .ToDictionary(e => e.Text("name"), e => e.Text("value"));
        using var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "src/Serve.Gateway/appsettings.json")));
        Assert.True(settings.RootElement.GetProperty("ReverseProxy").GetProperty("Clusters").TryGetProperty(gatewayEnv["Gateway__ReplicaCluster"], out _));

        // Images are the Dockerfile's targets, named as kustomization.yaml sets them.
        var images = kustomization.Maps("images").ToDictionary(i => i.Text("name"), i => i.Text("newTag"));
        Assert.Equal("serve-server", server.Text("image"));
        Assert.Equal("cpu", images["serve-server"]);
        Assert.Equal("serve-gateway", Object("Deployment", "serve-gateway").Map("spec").Map("template").Map("spec").Maps("containers").Single().Text("image"));
        Assert.True(images.ContainsKey("serve-gateway"));
    }

    private static Dictionary<string, string> EnvironmentOf(Dictionary<object, object> service) =>
        service.Map("environment").ToDictionary(e => (string)e.Key, e => (string)e.Value);

    /// <summary>The route patterns an app maps, read from its endpoint data sources without starting it.</summary>
    private static async Task<HashSet<string>> RoutesAsync(WebApplication app)
    {
        await using (app)
        {
            return ((IEndpointRouteBuilder)app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>()
                .Select(e => "/" + e.RoutePattern.RawText?.TrimStart('/')).ToHashSet(StringComparer.Ordinal);
        }
    }
}
