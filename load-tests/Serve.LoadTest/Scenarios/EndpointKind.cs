namespace Serve.LoadTest.Scenarios;

public enum EndpointKind
{
    /// <summary>POST /v1/chat/completions</summary>
    Chat,

    /// <summary>POST /v1/completions</summary>
    Completions,
}
