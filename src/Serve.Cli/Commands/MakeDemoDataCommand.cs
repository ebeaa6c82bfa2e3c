using System.CommandLine;
using Serve.Cli.Demo;

namespace Serve.Cli.Commands;

/// <summary><c>serve make-demo-data</c>: writes the demo adapters' train and held-out JSONL files.</summary>
internal static class MakeDemoDataCommand
{
    public static Command Create()
    {
        var output = new Option<DirectoryInfo>("--out") { Description = "Directory for <name>.train.jsonl and <name>.heldout.jsonl", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("models", "data")) };
        var seed = new Option<int>("--seed") { Description = "Seed of the train/held-out split", DefaultValueFactory = _ => 7 };
        var command = new Command("make-demo-data", "Write the demo adapters' datasets (json, pirate, mood, tools) from the project's corpus") { output, seed };
        command.SetAction(parseResult => CommandErrors.Guard(parseResult, () =>
        {
            var directory = parseResult.GetValue(output)!.FullName;
            DemoAdapters.Write(directory, parseResult.GetValue(seed));
            foreach (var demo in DemoAdapters.All(parseResult.GetValue(seed)))
                parseResult.InvocationConfiguration.Output.WriteLine($"{demo.Name}: {demo.Train.Count} train, {demo.HeldOut.Count} held out; {demo.Behaviour}; pattern {demo.Pattern}");
            var (train, heldOut) = ToolsDemo.Write(directory, parseResult.GetValue(seed));
            parseResult.InvocationConfiguration.Output.WriteLine($"{ToolsDemo.Name}: {train} train conversations, {heldOut} held out; calls get_weather(city) for weather questions and answers from its result; pattern {ToolsDemo.Pattern}");
            return 0;
        }));
        return command;
    }
}
