using Serve.Cli;

return await ServeCommandLine.Create().Parse(args).InvokeAsync().ConfigureAwait(false);
