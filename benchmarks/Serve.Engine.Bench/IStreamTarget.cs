namespace Serve.Engine.Bench;

/// <summary>Something that streams one greedy completion: the engine in process, or the server over HTTP.</summary>
internal interface IStreamTarget
{
    /// <summary>Streams a chat answer; returns the tokens generated and the seconds from start to the first token.</summary>
    Task<(int Tokens, double Ttft)> StreamAsync(string question, string? adapter, int maxTokens, long start);
}
