using System.Net;
using System.Net.Sockets;

namespace Serve.Testing;

/// <summary>Loopback ports for the servers tests start (linked into each test project that needs it).</summary>
public static class Ports
{
    /// <summary>A loopback port that was free a moment ago (the OS picks it).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
