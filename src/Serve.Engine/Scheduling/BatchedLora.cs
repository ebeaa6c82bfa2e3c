using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Serve.Engine.Adapters;
using Serve.Llama.Graph;
using Serve.Llama.Native;

namespace Serve.Engine.Scheduling;

/// <summary>
/// Applies a different adapter configuration to each token of one llama_decode, so sequences of every adapter
/// share a batch (S-LoRA / Punica style) instead of one decode per adapter. No adapter is set on the llama.cpp
/// context: llama.cpp computes the base model, and for each targeted weight W this observer stops the graph right
/// after the product W x and adds scale * B (A x) to each token's column, using that token's adapters, before
/// any later node reads it. Tokens of the base model are left alone. A token's result thus depends only on its
/// own adapters, whatever else is in the batch.
/// The batch must fit one micro-batch (llama.cpp then keeps the token order), and the weights must be in host
/// memory or readable through ggml_backend_tensor_get/set.
/// </summary>
internal sealed unsafe class BatchedLora : ILlamaGraphObserver
{
    private readonly Dictionary<nint, string> _weightNames = [];
    private readonly HashSet<string> _targets = new(StringComparer.Ordinal);
    private readonly List<IReadOnlyList<(LoraWeights Weights, float Scale)>> _configurations = [];
    private readonly Dictionary<string, int> _configurationIndex = new(StringComparer.Ordinal);
    private readonly List<int> _tokenConfiguration = [];   // per batch token: index into _configurations, -1 = base
    private readonly List<int> _outputConfiguration = [];  // the same for the tokens that want logits
    private float[] _input = [], _output = [], _ax = [];
    private readonly List<int> _columns = [];

    /// <summary>Starts describing the next decode's batch: no tokens, no adapters.</summary>
    public void BeginBatch()
    {
        _configurations.Clear();
        _configurationIndex.Clear();
        _targets.Clear();
        _tokenConfiguration.Clear();
        _outputConfiguration.Clear();
    }

    /// <summary>
    /// The next <paramref name="count"/> batch tokens (in batch order, as they were added to the batch) run with this
    /// lease's adapters; the last of them wants logits when <paramref name="lastIsOutput"/>.
    /// </summary>
    public void AddTokens(AdapterLease lease, int count, bool lastIsOutput)
    {
        var c = -1;
        if (!lease.Configuration.IsBase && !_configurationIndex.TryGetValue(lease.Configuration.Key, out c))
        {
            _configurationIndex[lease.Configuration.Key] = c = _configurations.Count;
            _configurations.Add(lease.Weights);
            foreach (var (weights, _) in lease.Weights) _targets.UnionWith(weights.Targets);
        }
        for (var i = 0; i < count; i++) _tokenConfiguration.Add(c);
        if (lastIsOutput) _outputConfiguration.Add(c);
    }

    public bool WantsResult(GgmlTensor node)
    {
        if (_targets.Count == 0 || !node.IsMatMul) return false;
        return WeightName(node.Source(0)) is { } name && _targets.Contains(name);
    }


    public void OnComputed(GgmlTensor node)
    {
        var name = WeightName(node.Source(0))!;
        var input = node.Source(1);
        int outputs = checked((int)node.Elements(0)), columns = checked((int)node.Elements(1)), inputs = checked((int)input.Elements(0));
        if (node.Type != GgmlType.F32 || input.Type != GgmlType.F32 || node.Elements(2) * node.Elements(3) != 1 || input.Elements(1) != columns
            || input.Elements(2) * input.Elements(3) != 1 || node.Stride(1) != (long)outputs * sizeof(float) || input.Stride(0) != sizeof(float))
            throw new InvalidOperationException($"Unexpected product for {name}: {node} from {input}.");
        // Every layer's products have one column per batch token, except after llama.cpp keeps only the output
        // rows (the last layer's feed-forward): then one per output token, in batch order.
        List<int> map;
        if (columns == _tokenConfiguration.Count) map = _tokenConfiguration;
        else if (columns == _outputConfiguration.Count) map = _outputConfiguration;
        else throw new InvalidOperationException($"{name} has {columns} columns; the batch has {_tokenConfiguration.Count} tokens and {_outputConfiguration.Count} outputs (was it split into micro-batches?).");

        var inputStride = input.Stride(1);
        var host = node.IsHostMemory && input.IsHostMemory;
        float* y, x;
        GCHandle pinnedIn = default, pinnedOut = default;
        if (host)
        {
            y = (float*)node.HostData;
            x = (float*)input.HostData;
        }
        else
        {
            // Another backend's memory (a GPU): copy out, patch, copy back.
            var inBytes = checked((int)input.ByteSize);
            if (_input.Length * sizeof(float) < inBytes) _input = new float[(inBytes + 3) / 4];
            if (_output.Length < outputs * columns) _output = new float[outputs * columns];
            input.CopyTo(MemoryMarshal.AsBytes(_input.AsSpan())[..inBytes]);
            node.CopyTo(MemoryMarshal.AsBytes(_output.AsSpan(0, outputs * columns)));
            pinnedIn = GCHandle.Alloc(_input, GCHandleType.Pinned);
            pinnedOut = GCHandle.Alloc(_output, GCHandleType.Pinned);
            x = (float*)pinnedIn.AddrOfPinnedObject();
            y = (float*)pinnedOut.AddrOfPinnedObject();
        }
        try
        {
            var patched = false;
            // Column by configuration, then each adapter's A and B read once for all its columns (not once per
            // token): y_j += s * B (A x_j), as ax[j, k] = A_k . x_j then y_j += ax[j, k] * B^T_k.
            for (var c = 0; c < _configurations.Count; c++)
            {
                _columns.Clear();
                for (var j = 0; j < columns; j++) if (map[j] == c) _columns.Add(j);
                if (_columns.Count == 0) continue;
                foreach (var (weights, scale) in _configurations[c])
                {
                    if (!weights.TryGet(name, out var pair)) continue;
                    if (pair.Inputs != inputs || pair.Outputs != outputs)
                        throw new InvalidOperationException($"{name}: the adapter is [{pair.Outputs} x {pair.Inputs}], the product [{outputs} x {inputs}].");
                    int rank = pair.Rank, n = _columns.Count;
                    if (_ax.Length < n * rank) _ax = new float[Math.Max(n * rank, 2 * _ax.Length)];
                    var s = pair.Scale * scale;
                    for (var k = 0; k < rank; k++)
                    {
                        var ak = pair.A.AsSpan(k * inputs, inputs);
                        for (var i = 0; i < n; i++)
                            _ax[i * rank + k] = s * TensorPrimitives.Dot(ak, new ReadOnlySpan<float>((byte*)x + _columns[i] * inputStride, inputs));
                    }
                    for (var k = 0; k < rank; k++)
                    {
                        var bk = pair.BTransposed.AsSpan(k * outputs, outputs);
                        for (var i = 0; i < n; i++)
                        {
                            var yj = new Span<float>(y + (long)_columns[i] * outputs, outputs);
                            TensorPrimitives.MultiplyAdd(bk, _ax[i * rank + k], yj, yj);
                        }
                    }
                    patched = true;
                }
            }
            if (!host && patched) node.CopyFrom(MemoryMarshal.AsBytes(_output.AsSpan(0, outputs * columns)));
        }
        finally
        {
            if (pinnedIn.IsAllocated) pinnedIn.Free();
            if (pinnedOut.IsAllocated) pinnedOut.Free();
        }
    }

    /// <summary>
    /// The GGUF name of a model weight (blk.N.attn_q.weight, output.weight, ...), cached by address: weights never
    /// move or go away while the model lives, and graph tensors are never named *.weight. Null for other tensors.
    /// </summary>
    private string? WeightName(GgmlTensor tensor)
    {
        if (tensor.IsNull) return null;
        if (_weightNames.TryGetValue(tensor.Address, out var name)) return name;
        var utf8 = tensor.NameUtf8;
        if (!utf8.EndsWith(".weight"u8)) return null;
        name = System.Text.Encoding.UTF8.GetString(utf8);
        _weightNames[tensor.Address] = name;
        return name;
    }
}
