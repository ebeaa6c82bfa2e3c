namespace Serve.LoadTest.Cli;

public sealed class UsageException(string message) : Exception(message);
