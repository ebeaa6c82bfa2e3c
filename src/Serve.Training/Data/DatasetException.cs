namespace Serve.Training.Data;

/// <summary>The dataset has lines that cannot be used; every one is listed with its line number.</summary>
public sealed class DatasetException : Exception
{
    public DatasetException(string path, IReadOnlyList<DatasetLineError> errors)
        : base(Describe(path, errors))
    {
        Path = path;
        Errors = errors;
    }

    public DatasetException() : base("invalid dataset") => Errors = [];

    public DatasetException(string message) : base(message) => Errors = [];

    public DatasetException(string message, Exception inner) : base(message, inner) => Errors = [];

    public string? Path { get; }
    public IReadOnlyList<DatasetLineError> Errors { get; }

    private static string Describe(string path, IReadOnlyList<DatasetLineError> errors)
    {
        const int shown = 20;
        var lines = string.Join(Environment.NewLine, errors.Take(shown).Select(e => $"  {path}:{e}"));
        var more = errors.Count > shown ? $"{Environment.NewLine}  ... and {errors.Count - shown} more" : "";
        return $"{errors.Count} bad line(s) in {path}:{Environment.NewLine}{lines}{more}";
    }
}
