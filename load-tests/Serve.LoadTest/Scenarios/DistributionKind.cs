namespace Serve.LoadTest.Scenarios;

public enum DistributionKind
{
    Fixed,
    Uniform,
    Normal,
    LogNormal,
}
