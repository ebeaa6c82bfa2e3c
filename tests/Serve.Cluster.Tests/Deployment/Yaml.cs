using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Serve.Cluster.Tests.Deployment;

/// <summary>YAML documents as plain maps, lists and strings (YamlDotNet; merge keys such as <c>&lt;&lt;: *x</c> resolved).</summary>
public static class Yaml
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder().Build();

    public static List<Dictionary<object, object>> ReadDocuments(string path) => ReadText(File.ReadAllText(path));

    /// <summary>The one document in text (an inline kustomize patch).</summary>
    public static Dictionary<object, object> Parse(string text) => ReadText(text).Single();

    private static List<Dictionary<object, object>> ReadText(string text)
    {
        var documents = new List<Dictionary<object, object>>();
        using var reader = new StringReader(text);
        var parser = new MergingParser(new Parser(reader));
        parser.Consume<StreamStart>();
        while (parser.Accept<DocumentStart>(out _))
        {
            if (Deserializer.Deserialize<Dictionary<object, object>?>(parser) is { } document) documents.Add(document);
        }
        return documents;
    }

    public static Dictionary<object, object> Map(this Dictionary<object, object> map, string key) =>
        map.TryGetValue(key, out var value) && value is Dictionary<object, object> child ? child : throw new KeyNotFoundException($"no map '{key}'");

    public static List<object> List(this Dictionary<object, object> map, string key) =>
        map.TryGetValue(key, out var value) && value is List<object> child ? child : throw new KeyNotFoundException($"no list '{key}'");

    public static string Text(this Dictionary<object, object> map, string key) =>
        map.TryGetValue(key, out var value) && value is string text ? text : throw new KeyNotFoundException($"no value '{key}'");

    public static string? TextOrNull(this Dictionary<object, object> map, string key) => map.TryGetValue(key, out var value) ? value as string : null;

    public static IEnumerable<Dictionary<object, object>> Maps(this Dictionary<object, object> map, string key) => map.List(key).Cast<Dictionary<object, object>>();
}
