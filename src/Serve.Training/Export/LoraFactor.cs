namespace Serve.Training.Export;

/// <summary>
/// One adapted matrix in row-major float32: A [rank, in] and B [out, rank] (PyTorch order), with the base tensor's
/// GGUF name (blk.N.attn_q.weight), layer and target. Q/K rows of B are in llama.cpp's RoPE layout.
/// </summary>
public sealed record LoraFactor(string BaseTensor, int Layer, string Target, int Rank, long In, long Out, float[] A, float[] B);
