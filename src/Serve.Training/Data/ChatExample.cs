namespace Serve.Training.Data;

/// <summary>One conversation from the dataset, with the 1-based line it came from.</summary>
public sealed record ChatExample(int Line, IReadOnlyList<(string Role, string Content)> Messages);
