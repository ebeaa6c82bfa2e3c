using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Serve.SideBySide;

/// <summary>
/// Before the loads, with both servers up: the same greedy completions from each, compared. The loads measure speed
/// only; this says whether Serve's per-token adapters (the adapter pool) compute what llama.cpp's own LoRA computes
/// on the backend at hand, a GPU included, where no test runs. Cases: the base model, and a few adapters spread over
/// the set (the last one included, so slots far into the pool are read), each on two prompts. Answers may part after
/// a near-tie (the pool keeps F16 factors and F32 activations where llama.cpp's LoRA rounds the activations to F16),
/// so the line counts identical answers and the characters they share before they part, and checks that each
/// adapter's answer differs from the base model's on Serve (the adapter was applied at all).
/// </summary>
internal static class Agreement
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private const int Tokens = 24;
    private static readonly string[] Prompts = ["The river runs past the old market and", "Once upon a time, in a town by the sea,"];

    public static async Task<string> CheckAsync(ModelSet models, string serveUrl, string llamaServerUrl, TimeSpan timeout)
    {
        var n = models.Adapters.Count;
        var adapters = new[] { 0, 1, n / 2, n - 1 }.Where(i => i >= 0 && i < n).Distinct().ToList();
        using var http = new HttpClient { Timeout = timeout };
        var baseSame = 0;
        var adapterSame = 0;
        var adapterCases = 0;
        var applied = 0;
        var shared = new List<double>();
        var parted = new List<string>();
        foreach (var prompt in Prompts)
        {
            var serveBase = await CompleteAsync(http, serveUrl, Body("base", prompt, null));
            var llamaBase = await CompleteAsync(http, llamaServerUrl, Body("base", prompt, SideBySideRun.LlamaServerLora(models, -1)));
            if (serveBase == llamaBase) baseSame++;
            else parted.Add($"base after {CommonPrefix(serveBase, llamaBase)} of {Math.Max(serveBase.Length, llamaBase.Length)} characters");
            foreach (var i in adapters)
            {
                var name = models.Adapters[i].Name;
                var serve = await CompleteAsync(http, serveUrl, Body(name, prompt, null));
                var llama = await CompleteAsync(http, llamaServerUrl, Body(name, prompt, SideBySideRun.LlamaServerLora(models, i)));
                adapterCases++;
                var (common, longer) = (CommonPrefix(serve, llama), Math.Max(serve.Length, llama.Length));
                if (serve == llama) adapterSame++;
                else parted.Add($"{name} after {common} of {longer} characters");
                shared.Add(longer == 0 ? 1 : (double)common / longer);
                if (serve != serveBase) applied++;
            }
        }
        var line = string.Create(Inv,
            $"Answers (greedy, {Tokens} tokens, /v1/completions, {Prompts.Length} prompts): Serve and llama-server identical for the base model {baseSame}/{Prompts.Length}");
        if (adapterCases > 0)
        {
            line += string.Create(Inv,
                $", for adapters {adapterSame}/{adapterCases} ({string.Join(", ", adapters.Select(i => models.Adapters[i].Name))}), sharing {100 * shared.Average():F1} % of their characters on average; Serve's adapter answers differ from its base answers {applied}/{adapterCases}");
        }
        if (parted.Count > 0) line += $". Parted: {string.Join("; ", parted)}";
        return line;
    }

    private static JsonObject Body(string model, string prompt, JsonObject? llamaServerLora)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["prompt"] = prompt,
            ["max_tokens"] = Tokens,
            ["temperature"] = 0,
            ["ignore_eos"] = true,
        };
        if (llamaServerLora is not null)
        {
            foreach (var (key, value) in llamaServerLora) body[key] = value?.DeepClone();
        }
        return body;
    }

    private static async Task<string> CompleteAsync(HttpClient http, string baseUrl, JsonObject body)
    {
        using var response = await http.PostAsJsonAsync(baseUrl + "/v1/completions", body);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
            throw new BenchFailedException($"{baseUrl}/v1/completions answered {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)?["choices"]?[0]?["text"]?.GetValue<string>()
            ?? throw new BenchFailedException($"{baseUrl}/v1/completions: no choices[0].text in {text}");
    }

    internal static int CommonPrefix(string a, string b)
    {
        var i = 0;
        while (i < a.Length && i < b.Length && a[i] == b[i]) i++;
        return i;
    }
}
