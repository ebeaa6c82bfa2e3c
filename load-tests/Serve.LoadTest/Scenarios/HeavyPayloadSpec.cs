namespace Serve.LoadTest.Scenarios;

/// <summary>
/// Makes each request costly to prepare, as a careless or hostile client would: a GBNF grammar of many alternatives,
/// a response_format JSON schema with a huge enum, or a prompt of many bytes. Any combination; each is generated,
/// not written into the scenario file.
/// </summary>
public sealed record HeavyPayloadSpec
{
    /// <summary>A "grammar" field: root ::= "w0" | "w1" | ... with this many alternatives (100k is about 1 MB).</summary>
    public int? GrammarAlternatives { get; init; }
    /// <summary>A json_schema response_format whose one property is an enum of this many strings.</summary>
    public int? SchemaEnumValues { get; init; }
    /// <summary>The user prompt replaced by plain text of this many bytes.</summary>
    public int? PromptBytes { get; init; }
}
