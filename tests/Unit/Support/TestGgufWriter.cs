using System.Text;
using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Tests.Support;

/// <summary>
/// Writes small GGUF v3 files for tests, including deliberately damaged ones: every header number, value type, tensor
/// type and offset can be overridden. Not a production writer: it keeps everything in memory.
/// </summary>
public sealed class TestGgufWriter
{
    private readonly List<(string Key, uint Type, byte[] Payload)> _metadata = [];
    private readonly List<TensorEntry> _tensors = [];

    private sealed record TensorEntry(string Name, ulong[] Dimensions, uint TypeId, byte[] Data, ulong? OffsetOverride);

    public uint Magic { get; set; } = GgufFile.Magic;

    public uint Version { get; set; } = 3;

    public ulong? TensorCountOverride { get; set; }

    public ulong? KeyValueCountOverride { get; set; }

    /// <summary>The alignment tensors are laid out with; written as general.alignment when not the default.</summary>
    public int Alignment { get; set; } = GgufFile.DefaultAlignment;

    /// <summary>Bytes to cut from the end of the written file.</summary>
    public int TruncateBy { get; set; }

    public TestGgufWriter Raw(string key, GgufValueType type, byte[] payload) => Raw(key, (uint)type, payload);

    public TestGgufWriter Raw(string key, uint typeId, byte[] payload)
    {
        _metadata.Add((key, typeId, payload));
        return this;
    }

    public TestGgufWriter Add(string key, string value) => Raw(key, GgufValueType.String, StringBytes(value));

    public TestGgufWriter Add(string key, uint value) => Raw(key, GgufValueType.UInt32, BitConverter.GetBytes(value));

    public TestGgufWriter Add(string key, int value) => Raw(key, GgufValueType.Int32, BitConverter.GetBytes(value));

    public TestGgufWriter Add(string key, float value) => Raw(key, GgufValueType.Float32, BitConverter.GetBytes(value));

    public TestGgufWriter Add(string key, bool value) => Raw(key, GgufValueType.Bool, [value ? (byte)1 : (byte)0]);

    public TestGgufWriter Add(string key, string[] values) =>
        Raw(key, GgufValueType.Array, ArrayHeader(GgufValueType.String, values.Length).Concat(values.SelectMany(StringBytes)).ToArray());

    public TestGgufWriter Add(string key, float[] values) =>
        Raw(key, GgufValueType.Array, ArrayHeader(GgufValueType.Float32, values.Length).Concat(values.SelectMany(BitConverter.GetBytes)).ToArray());

    public TestGgufWriter Add(string key, int[] values) =>
        Raw(key, GgufValueType.Array, ArrayHeader(GgufValueType.Int32, values.Length).Concat(values.SelectMany(BitConverter.GetBytes)).ToArray());

    public TestGgufWriter Remove(string key)
    {
        _metadata.RemoveAll(m => m.Key == key);
        return this;
    }

    /// <summary>A tensor; <paramref name="dimensions"/> are ggml's ne[], innermost (row length) first.</summary>
    public TestGgufWriter AddTensor(string name, GgmlType type, ulong[] dimensions, byte[] data, ulong? offset = null, uint? typeId = null)
    {
        _tensors.Add(new TensorEntry(name, dimensions, typeId ?? (uint)type, data, offset));
        return this;
    }

    public TestGgufWriter RemoveTensor(string name)
    {
        _tensors.RemoveAll(t => t.Name == name);
        return this;
    }

    public static byte[] StringBytes(string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        return BitConverter.GetBytes((ulong)bytes.Length).Concat(bytes).ToArray();
    }

    public static byte[] ArrayHeader(GgufValueType elementType, long count) =>
        BitConverter.GetBytes((uint)elementType).Concat(BitConverter.GetBytes((ulong)count)).ToArray();

    public byte[] ToBytes()
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream);
        List<(string Key, uint Type, byte[] Payload)> metadata = Alignment == GgufFile.DefaultAlignment || _metadata.Any(m => m.Key == GgufFile.AlignmentKey)
            ? _metadata
            : [.. _metadata, (GgufFile.AlignmentKey, (uint)GgufValueType.UInt32, BitConverter.GetBytes((uint)Alignment))];
        writer.Write(Magic);
        writer.Write(Version);
        writer.Write(TensorCountOverride ?? (ulong)_tensors.Count);
        writer.Write(KeyValueCountOverride ?? (ulong)metadata.Count);
        foreach (var (key, type, payload) in metadata)
        {
            writer.Write(StringBytes(key));
            writer.Write(type);
            writer.Write(payload);
        }
        ulong offset = 0;
        var offsets = new List<ulong>();
        foreach (var tensor in _tensors)
        {
            offsets.Add(offset);
            writer.Write(StringBytes(tensor.Name));
            writer.Write((uint)tensor.Dimensions.Length);
            foreach (ulong d in tensor.Dimensions) writer.Write(d);
            writer.Write(tensor.TypeId);
            writer.Write(tensor.OffsetOverride ?? offset);
            offset = Align(offset + (ulong)tensor.Data.Length);
        }
        if (_tensors.Count > 0)
        {
            Pad(writer);
            long dataStart = stream.Position;
            for (int i = 0; i < _tensors.Count; i++)
            {
                stream.Position = dataStart + (long)offsets[i];
                writer.Write(_tensors[i].Data);
            }
            stream.SetLength(dataStart + (long)offset);
        }
        writer.Flush();
        var bytes = stream.ToArray();
        return bytes[..Math.Max(0, bytes.Length - TruncateBy)];
    }

    public string Write(string path)
    {
        File.WriteAllBytes(path, ToBytes());
        return path;
    }

    private ulong Align(ulong value) => (value + (ulong)Alignment - 1) / (ulong)Alignment * (ulong)Alignment;

    private void Pad(BinaryWriter writer)
    {
        long position = writer.BaseStream.Position;
        long padded = (long)Align((ulong)position);
        for (long i = position; i < padded; i++) writer.Write((byte)0);
    }
}
