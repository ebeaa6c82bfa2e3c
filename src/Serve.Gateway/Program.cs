using Microsoft.Extensions.Options;
using Serve.Gateway.Hosting;

// Everything is built in GatewayApplication so the tests start the very same gateway.
try
{
    var app = GatewayApplication.Build(args);
    await app.RunAsync();
    return Environment.ExitCode;
}
catch (OptionsValidationException e)
{
    Console.Error.WriteLine("serve-gateway: " + string.Join(Environment.NewLine + "serve-gateway: ", e.Failures));
    return 2;
}
