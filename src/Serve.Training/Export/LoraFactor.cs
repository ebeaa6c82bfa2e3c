namespace Serve.Training.Export;

/// <summary>
/// One adapted matrix in row-major float32: A [rank, in] and B [out, rank] (PyTorch order), with the base tensor's
/// GGUF name (blk.N.attn_q.weight), layer and target. Q/K rows of B are in llama.cpp's RoPE layout. A factor of a
/// slice of a fused tensor (phi3's attn_qkv, ffn_up) has its rows' offset and the fused tensor's row count; 0 when the
/// factor covers the whole tensor.
/// </summary>
public sealed record LoraFactor(string BaseTensor, int Layer, string Target, int Rank, long In, long Out, float[] A, float[] B,
    long RowOffset = 0, long TensorRows = 0)
{
    public bool IsFused => TensorRows != 0 && TensorRows != Out;
}
