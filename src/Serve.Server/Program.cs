using Microsoft.Extensions.Options;
using Serve.Server.Hosting;

// Everything is built in ServeApplication so the tests start the very same server.
try
{
    var app = ServeApplication.Build(args);
    await app.RunAsync();
    return Environment.ExitCode;
}
catch (OptionsValidationException e)
{
    // Configuration mistakes (no model file, bad limits) get one clear line rather than a stack trace.
    Console.Error.WriteLine("serve: " + string.Join(Environment.NewLine + "serve: ", e.Failures));
    return 2;
}
