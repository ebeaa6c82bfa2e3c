using System.Text.Json;

namespace Serve.Server.OpenAi;

/// <summary>
/// Fields /v1/chat/completions and /v1/completions share. Fields the types do not name land in Unrecognized and are
/// refused in strict mode (<see cref="RequestFields"/>); fields whose JSON type varies (stop, response_format's
/// schema) stay JsonElement and are checked by the request mapper.
/// </summary>
internal abstract class GenerationRequestBody
{
    /// <summary>The base model's name or "base" (no adapter), or an adapter's name.</summary>
    public string? Model { get; set; }
    public bool? Stream { get; set; }
    public StreamOptionsBody? StreamOptions { get; set; }
    public int? MaxTokens { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    public long? Seed { get; set; }
    /// <summary>A string or an array of strings.</summary>
    public JsonElement? Stop { get; set; }
    public float? PresencePenalty { get; set; }
    public float? FrequencyPenalty { get; set; }
    /// <summary>Token id (as a string) to a bias in [-100, 100].</summary>
    public Dictionary<string, float>? LogitBias { get; set; }
    public ResponseFormatBody? ResponseFormat { get; set; }
    /// <summary>Only 1 is served; larger values are refused with a 400.</summary>
    public int? N { get; set; }

    /// <summary>Extension: several adapters with scales, e.g. [{"name":"a","scale":0.5}]; replaces what model selects.</summary>
    public List<AdapterWeightBody>? Adapters { get; set; }
    /// <summary>Extension (vLLM): 0 = off.</summary>
    public int? TopK { get; set; }
    /// <summary>Extension (vLLM): 0 = off.</summary>
    public float? MinP { get; set; }
    /// <summary>Extension (vLLM): 1 = off.</summary>
    public float? RepetitionPenalty { get; set; }
    /// <summary>Extension (llama-server): a GBNF grammar with a "root" rule.</summary>
    public string? Grammar { get; set; }
    /// <summary>Extension (vLLM): keep generating past end-of-generation tokens (benchmarks).</summary>
    public bool? IgnoreEos { get; set; }
    /// <summary>Extension (llama-server): adapters by id (their order in /v1/models, base excluded) with scales.</summary>
    public List<LoraBody>? Lora { get; set; }

    /// <summary>OpenAI's end-user id: accepted; this server keeps no per-user state.</summary>
    public string? User { get; set; }
    /// <summary>OpenAI's stored completions: false (or absent) only; this server stores nothing.</summary>
    public bool? Store { get; set; }
    /// <summary>OpenAI's tags for stored completions: accepted (nothing is stored).</summary>
    public Dictionary<string, string>? Metadata { get; set; }
    /// <summary>OpenAI's processing tier: "auto" or "default" only (there is one tier).</summary>
    public string? ServiceTier { get; set; }

    /// <summary>Every field not named above, for strict checking.</summary>
    [System.Text.Json.Serialization.JsonExtensionData]
    public Dictionary<string, JsonElement>? Unrecognized { get; set; }
}

internal sealed class LoraBody
{
    public int? Id { get; set; }
    public float? Scale { get; set; }
}

internal sealed class StreamOptionsBody
{
    public bool? IncludeUsage { get; set; }
}

internal sealed class AdapterWeightBody
{
    public string? Name { get; set; }
    public float? Scale { get; set; }
}

internal sealed class ResponseFormatBody
{
    /// <summary>text, json_object or json_schema.</summary>
    public string? Type { get; set; }
    public JsonSchemaFormatBody? JsonSchema { get; set; }
}

internal sealed class JsonSchemaFormatBody
{
    public string? Name { get; set; }
    public string? Description { get; set; }
    public JsonElement? Schema { get; set; }
    public bool? Strict { get; set; }
}
