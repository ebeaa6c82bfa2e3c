using System.Text.Json.Serialization;

namespace Serve.Cluster;

/// <summary>Source-generated JSON for heartbeat records (no reflection on the hot heartbeat path).</summary>
[JsonSerializable(typeof(ReplicaRecord))]
internal sealed partial class ReplicaRecordJson : JsonSerializerContext;
