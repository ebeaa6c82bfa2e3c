namespace Serve.Llama;

/// <summary>llama_decode returned non-zero. <see cref="ReturnCode"/> is the raw value; see llama.h for its meaning.</summary>
public sealed class LlamaDecodeException : LlamaException
{
    public LlamaDecodeException(int returnCode, IReadOnlyList<string> nativeErrors)
        : base(WithNativeErrors($"llama_decode failed with {returnCode} ({Describe(returnCode)})", nativeErrors))
        => ReturnCode = returnCode;

    public int ReturnCode { get; }

    /// <summary>True when no KV slot was free (code 1): retry with a smaller batch or after freeing sequences.</summary>
    public bool IsNoKvSlot => ReturnCode == 1;

    /// <summary>
    /// True when processed micro-batches may remain in the KV cache (abort or fatal error); query
    /// SeqPosMax to resynchronise. For 1 and -1 the memory state was restored.
    /// </summary>
    public bool MemoryMayBePartial => ReturnCode == 2 || ReturnCode < -1;

    public static string Describe(int code) => code switch
    {
        0 => "success",
        1 => "no KV cache slot for the batch; reduce the batch or increase the context",
        2 => "aborted; processed micro-batches remain in the KV cache",
        -1 => "invalid input batch",
        < -1 => "fatal error; processed micro-batches remain in the KV cache",
        _ => "warning",
    };
}
