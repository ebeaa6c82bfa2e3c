using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Serve.Training.Export;

/// <summary>
/// The safetensors format: an 8-byte little-endian header size, a JSON header (name → dtype, shape, data_offsets,
/// plus optional string <c>__metadata__</c>), then the raw little-endian tensor bytes. Writes F32; reads F32, F16, BF16.
/// </summary>
public static class SafeTensorsFile
{
    public static void Write(string path, IReadOnlyList<(string Name, long[] Shape, float[] Values)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, shape, values) in tensors)
        {
            if (shape.Aggregate(1L, (a, b) => a * b) != values.Length) throw new ArgumentException($"tensor {name}: shape does not match its {values.Length} values");
            var size = values.Length * 4L;
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray([.. shape.Select(d => (JsonNode)d)]),
                ["data_offsets"] = new JsonArray(offset, offset + size),
            };
            offset += size;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8; // the data then starts 8-byte aligned
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        stream.Write(length);
        stream.Write(json);
        for (var i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
        var buffer = new byte[4];
        foreach (var (_, _, values) in tensors)
        {
            foreach (var v in values)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buffer, v);
                stream.Write(buffer);
            }
        }
    }

    public static Dictionary<string, (long[] Shape, float[] Values)> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new InvalidDataException($"{path} is too short to be a safetensors file");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)(bytes.Length - 8)) throw new InvalidDataException($"{path}: header length {headerLength} runs past the end of the file");
        var dataStart = 8 + (int)headerLength;
        using var document = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var result = new Dictionary<string, (long[], float[])>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__") continue;
            var dtype = property.Value.GetProperty("dtype").GetString();
            var shape = property.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var offsets = property.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var count = shape.Aggregate(1L, (a, b) => a * b);
            var width = dtype switch { "F32" => 4, "F16" or "BF16" => 2, _ => throw new NotSupportedException($"{path}: tensor {property.Name} has dtype {dtype} (F32, F16 and BF16 are supported)") };
            if (offsets.Length != 2 || offsets[1] - offsets[0] != count * width || dataStart + offsets[1] > bytes.Length)
                throw new InvalidDataException($"{path}: tensor {property.Name} has inconsistent data offsets");
            var data = bytes.AsSpan(dataStart + (int)offsets[0], (int)(count * width));
            var values = new float[count];
            for (var i = 0; i < count; i++)
            {
                values[i] = dtype switch
                {
                    "F32" => BinaryPrimitives.ReadSingleLittleEndian(data[(i * 4)..]),
                    "F16" => (float)BinaryPrimitives.ReadHalfLittleEndian(data[(i * 2)..]),
                    _ => BitConverter.UInt32BitsToSingle((uint)BinaryPrimitives.ReadUInt16LittleEndian(data[(i * 2)..]) << 16),
                };
            }
            result[property.Name] = (shape, values);
        }
        return result;
    }
}
