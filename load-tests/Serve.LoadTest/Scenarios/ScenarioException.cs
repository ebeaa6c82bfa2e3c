namespace Serve.LoadTest.Scenarios;

/// <summary>A scenario file that cannot be run as written; the message names the field.</summary>
public sealed class ScenarioException(string message) : Exception(message);
