namespace Serve.Cluster.Tests.Deployment;

/// <summary>One build stage of a Dockerfile: the instructions the deployment tests look at.</summary>
public sealed record DockerStage(string Name, string From)
{
    public Dictionary<string, string> Env { get; } = new(StringComparer.Ordinal);
    public List<string> Expose { get; } = [];
    public List<string> Run { get; } = [];
    public List<string> Copy { get; } = [];
    public string? Entrypoint { get; set; }
}

/// <summary>
/// A Dockerfile read line by line: continuations joined, comments dropped, FROM ... AS name opening a stage, and
/// ENV (key=value pairs, quotes allowed), EXPOSE, RUN, COPY and ENTRYPOINT (exec form, first element) recorded.
/// </summary>
public static class DockerfileReader
{
    public static IReadOnlyList<DockerStage> Read(string path)
    {
        var stages = new List<DockerStage>();
        foreach (var instruction in Instructions(File.ReadAllLines(path)))
        {
            var space = instruction.IndexOf(' ');
            var keyword = (space < 0 ? instruction : instruction[..space]).ToUpperInvariant();
            var rest = space < 0 ? "" : instruction[(space + 1)..].Trim();
            if (keyword == "FROM")
            {
                var parts = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var name = parts.Length >= 3 && parts[^2].Equals("AS", StringComparison.OrdinalIgnoreCase) ? parts[^1] : $"#{stages.Count}";
                stages.Add(new DockerStage(name, parts[0]));
                continue;
            }
            if (stages.Count == 0) continue; // ARG before the first FROM
            var stage = stages[^1];
            switch (keyword)
            {
                case "ENV":
                    foreach (var pair in rest.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    {
                        var eq = pair.IndexOf('=');
                        if (eq <= 0) throw new FormatException($"ENV without key=value in stage {stage.Name}: {instruction}");
                        stage.Env[pair[..eq]] = pair[(eq + 1)..].Trim('"');
                    }
                    break;
                case "EXPOSE":
                    stage.Expose.AddRange(rest.Split(' ', StringSplitOptions.RemoveEmptyEntries));
                    break;
                case "RUN":
                    stage.Run.Add(rest);
                    break;
                case "COPY":
                    stage.Copy.Add(rest);
                    break;
                case "ENTRYPOINT":
                    stage.Entrypoint = System.Text.Json.JsonSerializer.Deserialize<string[]>(rest)![0];
                    break;
            }
        }
        return stages;
    }

    private static IEnumerable<string> Instructions(IEnumerable<string> lines)
    {
        var current = new System.Text.StringBuilder();
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.StartsWith('#') || (line.Length == 0 && current.Length == 0)) continue;
            if (line.EndsWith('\\'))
            {
                current.Append(line[..^1].Trim()).Append(' ');
                continue;
            }
            current.Append(line);
            if (current.Length > 0) yield return current.ToString().Trim();
            current.Clear();
        }
        if (current.Length > 0) yield return current.ToString().Trim();
    }
}
