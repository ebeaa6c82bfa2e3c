namespace Serve.Gguf;

/// <summary>
/// Block geometry of each <see cref="GgmlType"/>: a row of <c>ne0</c> elements is stored as
/// <c>ne0 / BlockSize</c> blocks of <c>TypeSize</c> bytes. Values are ggml's <c>type_traits</c>
/// (sizes of the block structs in ggml-common.h), so byte counts agree with llama.cpp.
/// </summary>
public static class GgmlTypeInfo
{
    private const int QK_K = 256;

    // Indexed by the enum's number; (0, 0) marks a number ggml does not define (removed types).
    private static readonly (int Block, int Size)[] Table = BuildTable();

    private static (int, int)[] BuildTable()
    {
        var t = new (int, int)[43];
        void Set(GgmlType type, int block, int size) => t[(int)type] = (block, size);
        Set(GgmlType.F32, 1, 4);
        Set(GgmlType.F16, 1, 2);
        Set(GgmlType.BF16, 1, 2);
        Set(GgmlType.F64, 1, 8);
        Set(GgmlType.I8, 1, 1);
        Set(GgmlType.I16, 1, 2);
        Set(GgmlType.I32, 1, 4);
        Set(GgmlType.I64, 1, 8);
        Set(GgmlType.Q4_0, 32, 2 + 16);
        Set(GgmlType.Q4_1, 32, 4 + 16);
        Set(GgmlType.Q5_0, 32, 2 + 4 + 16);
        Set(GgmlType.Q5_1, 32, 4 + 4 + 16);
        Set(GgmlType.Q8_0, 32, 2 + 32);
        Set(GgmlType.Q8_1, 32, 4 + 32);
        Set(GgmlType.Q1_0, 128, 2 + 16);
        Set(GgmlType.Q2_0, 64, 2 + 16);
        Set(GgmlType.MXFP4, 32, 1 + 16);
        Set(GgmlType.NVFP4, 64, 4 + 32);
        Set(GgmlType.IQ4_NL, 32, 2 + 16);
        Set(GgmlType.Q2_K, QK_K, 4 + QK_K / 16 + QK_K / 4);            // 84
        Set(GgmlType.Q3_K, QK_K, 2 + QK_K / 4 + QK_K / 8 + 12);        // 110
        Set(GgmlType.Q4_K, QK_K, 4 + 12 + QK_K / 2);                   // 144
        Set(GgmlType.Q5_K, QK_K, 4 + 12 + QK_K / 2 + QK_K / 8);        // 176
        Set(GgmlType.Q6_K, QK_K, 2 + QK_K / 16 + 3 * QK_K / 4);        // 210
        Set(GgmlType.Q8_K, QK_K, 4 + QK_K + QK_K / 16 * 2);            // 292
        Set(GgmlType.IQ2_XXS, QK_K, 2 + QK_K / 8 * 2);                 // 66
        Set(GgmlType.IQ2_XS, QK_K, 2 + QK_K / 8 * 2 + QK_K / 32);      // 74
        Set(GgmlType.IQ2_S, QK_K, 2 + QK_K / 4 + QK_K / 16);           // 82
        Set(GgmlType.IQ3_XXS, QK_K, 2 + 3 * (QK_K / 8));               // 98
        Set(GgmlType.IQ3_S, QK_K, 2 + 13 * (QK_K / 32) + QK_K / 64);   // 110
        Set(GgmlType.IQ1_S, QK_K, 2 + QK_K / 8 + QK_K / 16);           // 50
        Set(GgmlType.IQ1_M, QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32);   // 56
        Set(GgmlType.IQ4_XS, QK_K, 2 + 2 + QK_K / 64 + QK_K / 2);      // 136
        Set(GgmlType.TQ1_0, QK_K, 2 + QK_K / 64 + (QK_K - 4 * QK_K / 64) / 5); // 54
        Set(GgmlType.TQ2_0, QK_K, 2 + QK_K / 4);                       // 66
        return t;
    }

    /// <summary>True when the type is one ggml defines, so its block and byte sizes are known.</summary>
    public static bool IsSupported(GgmlType t) => (uint)t < (uint)Table.Length && Table[(int)t].Block != 0;

    /// <summary>Elements per block.</summary>
    public static int BlockSize(GgmlType t) => Lookup(t).Block;

    /// <summary>Bytes per block.</summary>
    public static int TypeSize(GgmlType t) => Lookup(t).Size;

    /// <summary>Bytes taken by one row of <paramref name="ne0"/> elements.</summary>
    public static long RowBytes(GgmlType t, long ne0)
    {
        var (block, size) = Lookup(t);
        ArgumentOutOfRangeException.ThrowIfNegative(ne0);
        if (ne0 % block != 0)
            throw new ArgumentException($"A row of {ne0} elements is not a multiple of the {t} block size {block}.", nameof(ne0));
        return ne0 / block * size; // cannot overflow: size <= 292 and ne0 / block <= long.MaxValue / 32
    }

    /// <summary>Total bytes of a contiguous tensor of this type; <paramref name="shape"/> is in ggml order (ne0 first).</summary>
    public static long TensorBytes(GgmlType t, IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long ne0 = shape.Count == 0 ? 1 : shape[0];
        long bytes = RowBytes(t, ne0);
        try
        {
            for (int i = 1; i < shape.Count; i++)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(shape[i], nameof(shape));
                bytes = checked(bytes * shape[i]);
            }
        }
        catch (OverflowException)
        {
            throw new ArgumentException($"Tensor of shape [{string.Join(", ", shape)}] is too large.", nameof(shape));
        }
        return bytes;
    }

    /// <summary>Number of elements in <paramref name="shape"/> (1 for an empty shape, as ggml treats a 0-dim tensor).</summary>
    public static long ElementCount(IReadOnlyList<long> shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        try
        {
            foreach (var d in shape)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
                n = checked(n * d);
            }
        }
        catch (OverflowException)
        {
            throw new ArgumentException($"Tensor of shape [{string.Join(", ", shape)}] has too many elements.", nameof(shape));
        }
        return n;
    }

    private static (int Block, int Size) Lookup(GgmlType t)
    {
        if (!IsSupported(t))
            throw new NotSupportedException($"ggml type {(uint)t} is not a known tensor type.");
        return Table[(int)t];
    }
}
