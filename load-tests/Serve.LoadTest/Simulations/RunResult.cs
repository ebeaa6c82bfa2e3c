using Serve.LoadTest.Reports;

namespace Serve.LoadTest.Simulations;

public sealed record RunResult(RunReport Report, IReadOnlyList<string> Files)
{
    /// <summary>0 when every threshold passed, 1 otherwise.</summary>
    public int ExitCode => Report.ExitCode;
}
