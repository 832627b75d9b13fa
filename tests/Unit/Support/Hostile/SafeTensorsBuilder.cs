using System.Text.Json.Nodes;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>Writes safetensors bytes for tests: an 8-byte header length, the JSON header, then each tensor's data in order.</summary>
public sealed class SafeTensorsBuilder
{
    private readonly List<(string Name, string Dtype, long[] Shape, byte[] Data)> _tensors = [];

    public SafeTensorsBuilder Add(string name, string dtype, long[] shape, byte[] data)
    {
        _tensors.Add((name, dtype, shape, data));
        return this;
    }

    /// <summary>The header as a JSON object, with each tensor's data_offsets relative to the end of the header.</summary>
    public JsonObject Header()
    {
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (var (name, dtype, shape, data) in _tensors)
        {
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + data.Length),
            };
            offset += data.Length;
        }
        return header;
    }

    public byte[] Data() => _tensors.SelectMany(t => t.Data).ToArray();

    public byte[] ToBytes() => Assemble(System.Text.Encoding.UTF8.GetBytes(Header().ToJsonString()), Data());

    /// <summary>A file from a header (any bytes, valid JSON or not) and data; the length field says the header's true length.</summary>
    public static byte[] Assemble(byte[] header, byte[] data) => [.. BitConverter.GetBytes((long)header.Length), .. header, .. data];
}
