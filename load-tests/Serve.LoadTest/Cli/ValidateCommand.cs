using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Cli;

/// <summary>serve-load validate FILE...: checks scenario files without sending anything.</summary>
public static class ValidateCommand
{
    public static int Run(ArgReader args)
    {
        var files = args.Rest();
        if (files.Count == 0) throw new UsageException("validate needs scenario files");
        foreach (var f in files)
        {
            var spec = ScenarioFile.Load(f);
            Console.WriteLine($"{f}: ok ({spec.Scenarios.Count} scenario(s), {spec.Hooks.Count} hook(s))");
        }
        return ExitCodes.Passed;
    }
}
