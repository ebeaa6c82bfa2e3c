namespace Serve.Llama.Graph;

/// <summary>
/// Sees the nodes of the graph llama.cpp computes during <see cref="LlamaContext.Decode"/> (llama.cpp's cb_eval).
/// For every node, <see cref="WantsResult"/> is asked first; ggml computes the graph up to each node that was
/// wanted and then calls <see cref="OnComputed"/> with it, before any later node runs, so a change made to the
/// node's data there is what the rest of the graph reads. Each wanted node splits the computation, so want few.
/// Both run on the thread that called Decode. An exception makes that Decode throw (its results are then
/// unusable), never escapes into native code.
/// </summary>
public interface ILlamaGraphObserver
{
    /// <summary>True to be called back with this node's result.</summary>
    bool WantsResult(GgmlTensor node);

    /// <summary>The node has been computed; its sources and data may be read, and its data changed in place.</summary>
    void OnComputed(GgmlTensor node);
}
