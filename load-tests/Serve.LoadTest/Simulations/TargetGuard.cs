using System.Net;
using Serve.LoadTest.Scenarios;

namespace Serve.LoadTest.Simulations;

/// <summary>Load goes to loopback targets only unless the operator says otherwise: a scenario file pointed at
/// someone else's server by mistake must not fire.</summary>
public static class TargetGuard
{
    public static async Task EnsureAllowedAsync(string baseUrl, bool allowRemote, CancellationToken token = default)
    {
        if (allowRemote) return;
        var host = new Uri(baseUrl).Host;
        if (await IsLoopbackAsync(host, token).ConfigureAwait(false)) return;
        throw new ScenarioException(
            $"target '{baseUrl}' is not a loopback address; pass --allow-remote to load-test a remote server");
    }

    public static async Task<bool> IsLoopbackAsync(string host, CancellationToken token = default)
    {
        var bare = host.Trim('[', ']');
        if (IPAddress.TryParse(bare, out var ip)) return IPAddress.IsLoopback(ip);
        if (string.Equals(bare, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(bare, token).ConfigureAwait(false);
            return addresses.Length > 0 && addresses.All(IPAddress.IsLoopback);
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}
