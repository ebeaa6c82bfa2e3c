namespace Serve.Training.Lora;

/// <summary>
/// Output rows [Offset, Offset + Rows) of the GGUF tensor <see cref="Tensor"/> (blk.N.attn_q.weight). A slice that is
/// not the whole tensor is part of a fused matrix (phi3: q, k and v in attn_qkv; gate and up in ffn_up).
/// </summary>
public sealed record TensorSlice(string Tensor, long Offset, long Rows, long TensorRows = 0)
{
    public bool IsFused => TensorRows != 0 && TensorRows != Rows;
}
