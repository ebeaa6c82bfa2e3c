using System.Diagnostics;
using System.Globalization;
using Serve.SideBySide;

// Serve against llama-server, side by side, in one run: the same model, adapters, loads and client (serve-load's
// runner), one server at a time on the same machine. Prints one table of throughput, TTFT and ITL with each ratio,
// and (with both servers) whether their greedy answers agree for the base model and a few adapters (Agreement.cs).
//
//   dotnet run -c Release --project benchmarks/Serve.SideBySide -- [run] [options]
//   serve-side-by-side make-models --size 1b --adapters 64 --work DIR     (only make the model and adapters)
//
// Defaults (issue 18, the 2-core CPU machine): a ~113 M-parameter F16 llama made by Serve.Models, 4 rank-16 adapters
// on every linear layer, loads base / one adapter / mixed / one stream, 8 streams, 48 requests of 64 tokens, greedy,
// ignore_eos. llama-server is built from the project's own llama.cpp source by native/build-llama.sh --server.
// `serve-side-by-side --help` lists the options.
try
{
    var options = BenchOptions.Parse(args);
    if (options.Help)
    {
        Console.WriteLine(BenchOptions.Usage);
        return 0;
    }
    var clock = Stopwatch.StartNew();
    var models = ModelSet.MakeOrReuse(options);
    Console.WriteLine($"model {models.Description} ({clock.Elapsed.TotalSeconds:F0} s)");
    if (options.Command == "make-models") return 0;
    var table = await SideBySideRun.RunAsync(options, models);
    Console.WriteLine();
    Console.WriteLine(table);
    if (options.OutputDirectory is { } outDir)
    {
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "side-by-side.md"), table);
        Console.WriteLine($"written to {Path.Combine(outDir, "side-by-side.md")}");
    }
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"total {clock.Elapsed.TotalSeconds:F0} s"));
    return 0;
}
catch (BenchUsageException e)
{
    Console.Error.WriteLine($"serve-side-by-side: {e.Message}");
    Console.Error.WriteLine("run with --help for the options");
    return 2;
}
catch (BenchFailedException e)
{
    Console.Error.WriteLine($"serve-side-by-side: {e.Message}");
    return 1;
}
