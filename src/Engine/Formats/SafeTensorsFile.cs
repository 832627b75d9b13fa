using System.Text;
using System.Text.Json;

namespace LlmCpu.Engine.Formats;

/// <summary>
/// Reads a safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
/// shape and byte range, then the raw data. Every number in the header is checked against the file before use.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    // A header is a few hundred kilobytes even for models with thousands of tensors.
    private const long MaxHeaderBytes = 100L << 20;

    private readonly MappedFile _file;
    private readonly Dictionary<string, TensorData> _tensors = new(StringComparer.Ordinal);

    private SafeTensorsFile(MappedFile file) => _file = file;

    public string Path => _file.Path;

    public long FileLength => _file.Length;

    public IReadOnlyDictionary<string, TensorData> Tensors => _tensors;

    public static SafeTensorsFile Open(string path)
    {
        var file = new MappedFile(path);
        var result = new SafeTensorsFile(file);
        try
        {
            result.ReadHeader();
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    private void ReadHeader()
    {
        if (_file.Length < 8) throw new ModelFormatException(Path, "header length", $"file is {_file.Length} bytes, shorter than the 8-byte header length");
        long headerLength = BitConverter.ToInt64(_file.Span(0, 8));
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || headerLength > _file.Length - 8)
            throw new ModelFormatException(Path, "header length", $"{headerLength} is outside 1..{Math.Min(MaxHeaderBytes, _file.Length - 8)}");
        long dataStart = 8 + headerLength;
        long dataLength = _file.Length - dataStart;

        using (var document = JsonText.Parse(_file.Span(8, (int)headerLength).ToArray(), Path, "header"))
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new ModelFormatException(Path, "header", "is not a JSON object");
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__") continue;
                if (!_tensors.TryAdd(property.Name, ReadEntry(property.Name, property.Value, dataStart, dataLength)))
                    throw new ModelFormatException(Path, $"tensor '{property.Name}'", "appears more than once in the header");
            }
        }
    }

    private TensorData ReadEntry(string name, JsonElement entry, long dataStart, long dataLength)
    {
        string field = $"tensor '{name}'";
        if (entry.ValueKind != JsonValueKind.Object) throw new ModelFormatException(Path, field, "entry is not an object");
        if (!entry.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new ModelFormatException(Path, field + " dtype", "is missing");
        string dtype = dtypeElement.GetString()!;
        TensorType type = dtype switch
        {
            "F32" => TensorType.F32,
            "F16" => TensorType.F16,
            "BF16" => TensorType.BF16,
            "I32" => TensorType.I32,
            _ => throw new ModelNotSupportedException(Path, field + " dtype", $"'{dtype}' is not supported (F32, F16, BF16 and, for packed 4-bit codes, I32 are)"),
        };
        if (!entry.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException(Path, field + " shape", "is missing");
        var shape = new List<long>();
        long elements = 1;
        foreach (var dimension in shapeElement.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long d) || d < 0)
                throw new ModelFormatException(Path, field + " shape", "holds a value that is not a non-negative integer");
            shape.Add(d);
            try { elements = checked(elements * d); }
            catch (OverflowException) { throw new ModelFormatException(Path, field + " shape", "element count overflows"); }
        }
        if (!entry.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2
            || offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end))
            throw new ModelFormatException(Path, field + " data_offsets", "is not a pair of integers");
        if (begin < 0 || end < begin || end > dataLength)
            throw new ModelFormatException(Path, field + " data_offsets", $"[{begin}, {end}] is outside the {dataLength} bytes of data");
        long expected;
        try { expected = checked(elements * type.ElementSize()); }
        catch (OverflowException) { throw new ModelFormatException(Path, field + " shape", "byte size overflows"); }
        if (end - begin != expected)
            throw new ModelFormatException(Path, field + " data_offsets", $"span {end - begin} bytes, but {dtype} {string.Join('x', shape)} needs {expected}");
        return new TensorData(name, type, shape.ToArray(), _file.Pointer + dataStart + begin, expected);
    }

    /// <summary>
    /// Drops the pages of tensor <paramref name="name"/> from this process's resident memory once its data has been
    /// copied or quantized elsewhere (they stay in the page cache, and a later read maps them back), so reading a model
    /// tensor by tensor does not leave the whole file resident.
    /// </summary>
    public void ReleaseTensorPages(string name)
    {
        if (_tensors.TryGetValue(name, out var tensor)) _file.ReleasePages(tensor.Data, tensor.ByteLength);
    }

    public void Dispose() => _file.Dispose();
}
