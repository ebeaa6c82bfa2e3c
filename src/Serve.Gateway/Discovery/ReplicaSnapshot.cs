using Serve.Cluster;

namespace Serve.Gateway.Discovery;

/// <summary>The replicas the last successful Redis read listed, and the token that fires when the next read differs.</summary>
internal sealed record ReplicaSnapshot(IReadOnlyList<ReplicaRecord> Replicas, CancellationTokenSource Changed);
