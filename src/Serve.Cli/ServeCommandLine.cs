using System.CommandLine;
using Serve.Cli.Commands;

namespace Serve.Cli;

/// <summary>The <c>serve</c> command tree; each subcommand lives in its own file under Commands/.</summary>
public static class ServeCommandLine
{
    public static RootCommand Create() => new("serve: train, serve and inspect LoRA adapters on a llama.cpp base model")
    {
        MakeModelCommand.Create(),
        MakeLoraCommand.Create(),
        TrainCommand.Create(),
        ExportCommand.Create(),
        MergeCommand.Create(),
        MakeDefaultModelCommand.Create(),
        MakeDemoDataCommand.Create(),
        EvalCommand.Create(),
        PublishCommand.Create(),
        RollbackCommand.Create(),
        VersionsCommand.Create(),
    };

    /// <summary>Runs a command line with the given writers (tests and embedding hosts).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error) =>
        Create().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
}
