using System.Reflection;
using System.Runtime.InteropServices;

namespace Serve.Gguf.Tests;

/// <summary>Runs only when llama.cpp's libggml-base.so (built by native/build-llama.sh) is present.</summary>
public sealed class GgmlFactAttribute : FactAttribute
{
    public GgmlFactAttribute()
    {
        if (GgmlBase.Handle == IntPtr.Zero) Skip = $"libggml-base.so not found in '{GgmlBase.Dir}'";
    }
}

internal static unsafe class GgmlBase
{
    public static readonly string Dir = typeof(GgmlBase).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "LlamaNativeDir")?.Value ?? "";

    public static readonly IntPtr Handle =
        NativeLibrary.TryLoad(Path.Combine(Dir, "libggml-base.so"), out var h) ? h : IntPtr.Zero;

    public static IntPtr Fn(string name) => NativeLibrary.GetExport(Handle, name);
}

[StructLayout(LayoutKind.Sequential)]
internal struct GgufInitParams
{
    public byte NoAlloc;
    public IntPtr Ctx; // struct ggml_context **
}

/// <summary>
/// Compares our bytes and numbers with ggml's own code: the reference quantisers, the dequantisers and
/// gguf.cpp's parser. This is the proof that "byte-compatible with ggml" holds, not a restatement of our code.
/// </summary>
public sealed unsafe class GgmlCrossCheckTests
{
    private static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2) * (rng.Next(10) == 0 ? 50 : 1)).ToArray();
    }

    private static byte[] Ours(float[] x, GgmlType type)
    {
        var ms = new MemoryStream();
        new GgufWriter().AddTensor("t", [x.Length], x, type).WriteTo(ms);
        using var f = GgufFile.Read(new MemoryStream(ms.ToArray()));
        return f.ReadTensorBytes(f.GetTensor("t"));
    }

    [GgmlFact]
    public void Quantise_Q8_0_Q4_0_F16_BF16_ByteIdenticalToGgml()
    {
        var x = Random(32 * 256, 5);
        x[0] = 0; x[31] = 0; // an edge or two
        var q8 = (delegate* unmanaged<float*, byte*, long, void>)GgmlBase.Fn("quantize_row_q8_0_ref");
        var q4 = (delegate* unmanaged<float*, byte*, long, void>)GgmlBase.Fn("quantize_row_q4_0_ref");
        var f16 = (delegate* unmanaged<float*, byte*, long, void>)GgmlBase.Fn("ggml_fp32_to_fp16_row");
        var bf16 = (delegate* unmanaged<float*, byte*, long, void>)GgmlBase.Fn("ggml_fp32_to_bf16_row");
        foreach (var (type, fn) in new[] { (GgmlType.Q8_0, (IntPtr)q8), (GgmlType.Q4_0, (IntPtr)q4), (GgmlType.F16, (IntPtr)f16), (GgmlType.BF16, (IntPtr)bf16) })
        {
            var expected = new byte[GgmlTypeInfo.TensorBytes(type, [x.Length])];
            fixed (float* px = x)
            fixed (byte* py = expected)
                ((delegate* unmanaged<float*, byte*, long, void>)fn)(px, py, x.Length);
            Assert.True(expected.AsSpan().SequenceEqual(Ours(x, type)), $"{type} bytes differ from ggml");
        }
    }

    [GgmlFact]
    public void Quantise_Q4_K_Q6_K_GgmlDecodesOurBlocksCloseToTheInput()
    {
        var x = Random(256 * 16, 11);
        foreach (var (type, tolerance) in new[] { (GgmlType.Q4_K, 0.1f), (GgmlType.Q6_K, 0.03f) })
        {
            var bytes = Ours(x, type);
            var decoded = new float[x.Length];
            var fn = (delegate* unmanaged<byte*, float*, long, void>)GgmlBase.Fn(type == GgmlType.Q4_K ? "dequantize_row_q4_K" : "dequantize_row_q6_K");
            fixed (byte* pb = bytes)
            fixed (float* pd = decoded)
                fn(pb, pd, x.Length);
            // ggml reads our blocks as our own dequantiser does, and each value is near its input: within a fraction
            // of its 256-block's range (a wrong layout puts values in the wrong places, errors of the order of the range).
            var ms = new MemoryStream();
            new GgufWriter().AddTensor("t", type, [x.Length], bytes).WriteTo(ms);
            using var f = GgufFile.Read(new MemoryStream(ms.ToArray()));
            Assert.Equal(decoded, f.ReadTensorAsFloat32(f.GetTensor("t")));
            for (int b = 0; b < x.Length / 256; b++)
            {
                var range = 2 * x.AsSpan(b * 256, 256).ToArray().Max(Math.Abs);
                for (int i = b * 256; i < b * 256 + 256; i++)
                    Assert.True(Math.Abs(decoded[i] - x[i]) <= tolerance * range, $"{type}[{i}]: {x[i]} decoded as {decoded[i]} (block range {range})");
            }
        }
    }

    [GgmlFact]
    public void Dequantise_RandomBlocks_MatchesGgml()
    {
        var rng = new Random(9);
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            int blocks = 16, n = blocks * GgmlTypeInfo.BlockSize(type);
            var raw = new byte[blocks * GgmlTypeInfo.TypeSize(type)];
            rng.NextBytes(raw);
            // Keep the fp16 scales finite and modest so both sides compute ordinary numbers.
            for (int b = 0; b < blocks; b++)
            {
                var blk = raw.AsSpan(b * GgmlTypeInfo.TypeSize(type), GgmlTypeInfo.TypeSize(type));
                int[] halves = type switch
                {
                    GgmlType.Q6_K => [208],
                    GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
                    _ => [0],
                };
                foreach (var at in halves)
                    BitConverter.TryWriteBytes(blk[at..], Float16.ToHalfBits((float)(rng.NextDouble() - 0.5)));
            }
            var expected = new float[n];
            var fn = (delegate* unmanaged<byte*, float*, long, void>)GgmlBase.Fn("dequantize_row_" + type.ToString().ToLowerInvariant().Replace("_k", "_K")); // e.g. dequantize_row_q4_K
            fixed (byte* pr = raw)
            fixed (float* pe = expected)
                fn(pr, pe, n);

            var ms = new MemoryStream();
            new GgufWriter().AddTensor("t", type, [n], raw).WriteTo(ms);
            using var f = GgufFile.Read(new MemoryStream(ms.ToArray()));
            var ours = f.ReadTensorAsFloat32(f.GetTensor("t"));
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(ours[i] - expected[i]) <= 1e-5f * Math.Max(1, Math.Abs(expected[i])), $"{type}[{i}]: ours {ours[i]}, ggml {expected[i]}");
        }
    }

    [GgmlFact]
    public void GgufCpp_ReadsOurFile_SameCountsAndOffsets()
    {
        var init = (delegate* unmanaged<byte*, GgufInitParams, IntPtr>)GgmlBase.Fn("gguf_init_from_file");
        var free = (delegate* unmanaged<IntPtr, void>)GgmlBase.Fn("gguf_free");
        var nTensors = (delegate* unmanaged<IntPtr, long>)GgmlBase.Fn("gguf_get_n_tensors");
        var nKv = (delegate* unmanaged<IntPtr, long>)GgmlBase.Fn("gguf_get_n_kv");
        var tensorOffset = (delegate* unmanaged<IntPtr, long, nuint>)GgmlBase.Fn("gguf_get_tensor_offset");
        var dataOffset = (delegate* unmanaged<IntPtr, nuint>)GgmlBase.Fn("gguf_get_data_offset");

        var dir = Directory.CreateTempSubdirectory("gguf-xcheck-");
        try
        {
            foreach (uint alignment in new uint[] { 32, 64 })
            {
                var path = Path.Combine(dir.FullName, $"a{alignment}.gguf");
                new GgufWriter { Alignment = alignment }
                    .Set(GgufKeys.Architecture, "llama").Set("u8", GgufValue.From((byte)1)).Set("f64", 1.0).Set("b", false)
                    .SetArray("tokens", new[] { "a", "b", "" }).Set("bools", GgufValue.FromArray(new[] { true, false }))
                    .AddTensor("a", [3], new[] { 1f, 2f, 3f })
                    .AddTensor("b", [64, 2], new float[128], GgmlType.Q8_0)
                    .AddTensor("c", [5], new float[5], GgmlType.BF16)
                    .WriteTo(path);
                using var ours = GgufFile.Read(path);

                var name = System.Text.Encoding.UTF8.GetBytes(path + "\0");
                IntPtr ctx;
                fixed (byte* pn = name)
                    ctx = init(pn, new GgufInitParams { NoAlloc = 1, Ctx = IntPtr.Zero });
                Assert.NotEqual(IntPtr.Zero, ctx);
                try
                {
                    Assert.Equal(ours.Tensors.Count, nTensors(ctx));
                    Assert.Equal(ours.Metadata.Count, nKv(ctx));
                    Assert.Equal((nuint)ours.DataOffset, dataOffset(ctx));
                    for (int i = 0; i < ours.Tensors.Count; i++)
                        Assert.Equal((nuint)ours.Tensors[i].Offset, tensorOffset(ctx, i));
                }
                finally
                {
                    free(ctx);
                }
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
