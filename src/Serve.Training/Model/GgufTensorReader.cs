using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Serve.Gguf;
using TorchSharp;
using static TorchSharp.torch;

namespace Serve.Training.Model;

/// <summary>
/// Reads a GGUF tensor as float32 straight into a CPU tensor's memory or a span: F32, F16 and BF16 are converted in
/// chunks without a managed copy of the whole tensor; other types go through Serve.Gguf's dequantisation.
/// </summary>
internal static class GgufTensorReader
{
    private const int ChunkElements = 1 << 18;

    public static void ReadFloat32(GgufFile file, GgufTensorInfo info, Tensor destination)
    {
        if (destination.device.type != DeviceType.CPU || destination.dtype != ScalarType.Float32 || !destination.is_contiguous())
            throw new ArgumentException("destination must be a contiguous float32 CPU tensor", nameof(destination));
        ReadFloat32(file, info, MemoryMarshal.Cast<byte, float>(destination.bytes));
    }

    public static void ReadFloat32(GgufFile file, GgufTensorInfo info, Span<float> destination)
    {
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"destination has {destination.Length} elements, tensor '{info.Name}' {info.ElementCount}", nameof(destination));
        ReadFloat32(file, info, 0, destination);
    }

    /// <summary>Whether <see cref="ReadFloat32(GgufFile, GgufTensorInfo, long, Span{float})"/> reads a range without decoding the whole tensor.</summary>
    public static bool ReadsRanges(GgufTensorInfo info) => info.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16;

    /// <summary>
    /// Elements [first, first + destination.Length) of the tensor as float32. F32/F16/BF16 read just that range;
    /// other types decode the whole tensor (callers reading a quantised tensor in pieces should decode it once).
    /// </summary>
    public static void ReadFloat32(GgufFile file, GgufTensorInfo info, long first, Span<float> destination)
    {
        if (first < 0 || first + destination.Length > info.ElementCount)
            throw new ArgumentOutOfRangeException(nameof(first), $"range [{first}, {first + destination.Length}) is outside tensor '{info.Name}' ({info.ElementCount} elements)");
        var width = info.Type switch { GgmlType.F32 => 4, GgmlType.F16 or GgmlType.BF16 => 2, _ => 0 };
        if (width == 0)
        {
            file.ReadTensorAsFloat32(info).AsSpan((int)first, destination.Length).CopyTo(destination);
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(destination.Length, ChunkElements) * width);
        try
        {
            ReadChunks(file, info, first, destination, width, buffer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void ReadChunks(GgufFile file, GgufTensorInfo info, long first, Span<float> destination, int width, byte[] buffer)
    {
        for (long start = 0; start < destination.Length; start += ChunkElements)
        {
            var n = (int)Math.Min(ChunkElements, destination.Length - start);
            var chunk = buffer.AsSpan(0, n * width);
            file.ReadTensorBytes(info, (first + start) * width, chunk);
            var target = destination.Slice((int)start, n);
            switch (info.Type)
            {
                case GgmlType.F32:
                    MemoryMarshal.Cast<byte, float>(chunk).CopyTo(target);
                    if (!BitConverter.IsLittleEndian)
                        for (var i = 0; i < n; i++) target[i] = BinaryPrimitives.ReadSingleLittleEndian(chunk[(i * 4)..]);
                    break;
                case GgmlType.F16:
                    for (var i = 0; i < n; i++) target[i] = Float16.FromHalfBits(BinaryPrimitives.ReadUInt16LittleEndian(chunk[(i * 2)..]));
                    break;
                default:
                    for (var i = 0; i < n; i++) target[i] = Float16.FromBFloat16Bits(BinaryPrimitives.ReadUInt16LittleEndian(chunk[(i * 2)..]));
                    break;
            }
        }
    }
}
