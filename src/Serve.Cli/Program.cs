using Serve.Cli;

return ServeCommandLine.Create().Parse(args).Invoke();
