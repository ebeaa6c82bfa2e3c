namespace Serve.LoadTest.Scenarios;

public enum AdapterMixKind
{
    Uniform,
    Zipf,
    Weights,
}
