namespace Serve.Training.Data;

/// <summary>A dataset line that cannot be used, and why.</summary>
public sealed record DatasetLineError(int Line, string Message)
{
    public override string ToString() => $"line {Line}: {Message}";
}
