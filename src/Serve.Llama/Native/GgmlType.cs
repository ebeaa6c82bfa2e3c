namespace Serve.Llama.Native;

/// <summary>
/// ggml tensor types (enum ggml_type), used here for the KV cache element types. Only the values a KV cache
/// commonly uses are named; any other ggml_type value can be cast.
/// </summary>
public enum GgmlType
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    IQ4_NL = 20,
    BF16 = 30,
}
