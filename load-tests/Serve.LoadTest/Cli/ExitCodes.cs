namespace Serve.LoadTest.Cli;

public static class ExitCodes
{
    public const int Passed = 0;
    public const int ThresholdsFailed = 1;
    public const int Usage = 2;
    public const int Failed = 3;
}
