using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Formats.Gguf;

public sealed class GgufFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(TestGgufWriter writer) => writer.Write(Path.Combine(_dir, Guid.NewGuid() + ".gguf"));

    private static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();

    /// <summary>Two small tensors; the last one's size is a multiple of the alignment, so the file ends where its data ends.</summary>
    private static TestGgufWriter Valid() => new TestGgufWriter()
        .Add("general.architecture", "llama")
        .Add("llama.block_count", 3u)
        .AddTensor("a", GgmlType.F32, [2, 3], Floats(1, 2, 3, 4, 5, 6))
        .AddTensor("b", GgmlType.F32, [8], Floats(1, 2, 3, 4, 5, 6, 7, 8));

    [Fact]
    public void ReadsEveryMetadataTypeIncludingNestedArrays()
    {
        var nested = TestGgufWriter.ArrayHeader(GgufValueType.Array, 2)
            .Concat(TestGgufWriter.ArrayHeader(GgufValueType.Int32, 2)).Concat(BitConverter.GetBytes(7)).Concat(BitConverter.GetBytes(-7))
            .Concat(TestGgufWriter.ArrayHeader(GgufValueType.String, 1)).Concat(TestGgufWriter.StringBytes("x")).ToArray();
        var writer = new TestGgufWriter()
            .Raw("u8", GgufValueType.UInt8, [200])
            .Raw("i8", GgufValueType.Int8, [0xFE])
            .Raw("u16", GgufValueType.UInt16, BitConverter.GetBytes((ushort)65000))
            .Raw("i16", GgufValueType.Int16, BitConverter.GetBytes((short)-300))
            .Add("u32", 4_000_000_000u)
            .Add("i32", -5)
            .Add("f32", 1.5f)
            .Add("bool", true)
            .Add("str", "héllo")
            .Raw("u64", GgufValueType.UInt64, BitConverter.GetBytes(ulong.MaxValue))
            .Raw("i64", GgufValueType.Int64, BitConverter.GetBytes(-9_000_000_000L))
            .Raw("f64", GgufValueType.Float64, BitConverter.GetBytes(2.25))
            .Add("strings", ["a", "", "ü"])
            .Add("floats", [0.5f, -1f])
            .Raw("nested", GgufValueType.Array, nested);
        using var file = GgufFile.Open(Write(writer));
        var m = file.Metadata;
        Assert.Equal(3, file.Version);
        Assert.Equal((byte)200, m.Get("u8")!.Value);
        Assert.Equal((sbyte)-2, m.Get("i8")!.Value);
        Assert.Equal((ushort)65000, m.Get("u16")!.Value);
        Assert.Equal((short)-300, m.Get("i16")!.Value);
        Assert.Equal(4_000_000_000u, m.Get("u32")!.Value);
        Assert.Equal(-5, m.GetInt32("i32"));
        Assert.Equal(1.5, m.GetDouble("f32"));
        Assert.True(m.GetBool("bool"));
        Assert.Equal("héllo", m.GetString("str"));
        Assert.Equal(ulong.MaxValue, m.Get("u64")!.Value);
        Assert.Null(m.Get("u64")!.AsInt64());
        Assert.Equal(-9_000_000_000L, m.Get("i64")!.AsInt64());
        Assert.Equal(2.25, m.GetDouble("f64"));
        Assert.Equal(["a", "", "ü"], m.GetStringArray("strings")!);
        Assert.Equal([0.5f, -1f], m.GetSingleArray("floats")!);
        var inner = Assert.IsType<GgufValue[]>(m.Get("nested")!.Value);
        Assert.Equal([7, -7], Assert.IsType<int[]>(inner[0].Value));
        Assert.Equal(["x"], Assert.IsType<string[]>(inner[1].Value));
        Assert.Empty(file.TensorList);
    }

    [Fact]
    public void LocatesTensorsInTheAlignedDataSection()
    {
        using var file = GgufFile.Open(Write(Valid()));
        Assert.Equal(32, file.Alignment);
        Assert.Equal(0, file.DataOffset % 32);
        var a = file.Tensors["a"];
        Assert.Equal([2L, 3L], a.Dimensions);
        Assert.Equal(2, a.Columns);
        Assert.Equal(3, a.Rows);
        var row = new float[2];
        GgmlDequantizer.Dequantize(a.Type, a.Row(2), row);
        Assert.Equal([5f, 6f], row);
        Assert.Equal(32ul, file.Tensors["b"].Offset);
        Assert.Equal(["a", "b"], file.TensorList.Select(t => t.Name));
    }

    [Fact]
    public void HonoursGeneralAlignment()
    {
        var writer = Valid();
        writer.Alignment = 256;
        using var file = GgufFile.Open(Write(writer));
        Assert.Equal(256, file.Alignment);
        Assert.Equal(0, file.DataOffset % 256);
        Assert.Equal(256ul, file.Tensors["b"].Offset);
        var row = new float[8];
        GgmlDequantizer.Dequantize(GgmlType.F32, file.Tensors["b"].Row(0), row);
        Assert.Equal(8f, row[7]);
    }

    [Fact]
    public void ReadsAVocabularyOnlyFileFromLlamaCpp()
    {
        using var file = GgufFile.Open(Path.Combine(RepoPaths.TestData, "llama-vocab", "ggml-vocab-llama-spm.gguf"));
        Assert.Equal(3, file.Version);
        Assert.Empty(file.TensorList);
        Assert.Equal("llama", file.Metadata.GetString("general.architecture"));
        Assert.Equal(32000, file.Metadata.RequireStringArray("tokenizer.ggml.tokens").Length);
        Assert.Equal(32000, file.Metadata.GetInt32Array("tokenizer.ggml.token_type")!.Length);
    }

    public static TheoryData<string, string, bool> DamagedFiles() => new()
    {
        // case, field at fault, whether "not supported" rather than damaged
        { "wrong magic", "header magic", false },
        { "version 99", "header version", false },
        { "version 1", "header version", true },
        { "big-endian", "header version", true },
        { "huge tensor count", "header tensor_count", false },
        { "huge metadata count", "header metadata_kv_count", false },
        { "huge string length", "metadata 'k'", false },
        { "array length overflow", "metadata 'k' array length", false },
        { "array of huge strings", "metadata 'k'", false },
        { "unknown value type", "metadata 'k'", false },
        { "unknown array element type", "metadata 'k'", false },
        { "arrays nested too deep", "metadata 'k'", false },
        { "bool not 0 or 1", "metadata 'k'", false },
        { "duplicate key", "metadata 'k'", false },
        { "key not UTF-8", "metadata #0 key", false },
        { "alignment not a power of two", "metadata 'general.alignment'", false },
        { "alignment of the wrong type", "metadata 'general.alignment'", false },
        { "offset past the end", "tensor 'a' offset", false },
        { "misaligned offset", "tensor 'a' offset", false },
        { "unknown type id", "tensor 'a' type", true },
        { "dimensions overflow", "tensor 'a' dimensions", false },
        { "dimension out of range", "tensor 'a' dimensions", false },
        { "five dimensions", "tensor 'a' dimensions", false },
        { "row not whole blocks", "tensor 'a' dimensions", false },
        { "duplicate tensor", "tensor 'a'", false },
        { "truncated data", "tensor 'b' offset", false },
        { "truncated header", "header tensor_count", false },
        { "truncated tensor info", "tensor 'b' dimensions", false },
        { "empty file", "header magic", false },
    };

    private static TestGgufWriter Damaged(string name)
    {
        var w = Valid();
        switch (name)
        {
            case "wrong magic": w.Magic = 0x46554746; break;
            case "version 99": w.Version = 99; break;
            case "version 1": w.Version = 1; break;
            case "big-endian": w.Version = 0x03000000; break;
            case "huge tensor count": w.TensorCountOverride = ulong.MaxValue / 2; break;
            case "huge metadata count": w.KeyValueCountOverride = 1UL << 40; break;
            case "huge string length": w.Raw("k", GgufValueType.String, BitConverter.GetBytes(1UL << 60)); break;
            case "array length overflow": w.Raw("k", GgufValueType.Array, TestGgufWriter.ArrayHeader(GgufValueType.Float32, long.MaxValue / 2)); break;
            case "array of huge strings": w.Raw("k", GgufValueType.Array, [.. TestGgufWriter.ArrayHeader(GgufValueType.String, 1), .. BitConverter.GetBytes(ulong.MaxValue)]); break;
            case "unknown value type": w.Raw("k", 77u, [0, 0, 0, 0]); break;
            case "unknown array element type": w.Raw("k", GgufValueType.Array, [.. BitConverter.GetBytes(13u), .. BitConverter.GetBytes(1UL), 0]); break;
            case "arrays nested too deep":
                w.Raw("k", GgufValueType.Array, Enumerable.Range(0, 20).SelectMany(_ => TestGgufWriter.ArrayHeader(GgufValueType.Array, 1))
                    .Concat(TestGgufWriter.ArrayHeader(GgufValueType.UInt8, 0)).ToArray());
                break;
            case "bool not 0 or 1": w.Raw("k", GgufValueType.Bool, [2]); break;
            case "duplicate key": w.Add("k", 1u).Add("k", 2u); break;
            case "alignment not a power of two": w.Add("general.alignment", 48u); break;
            case "alignment of the wrong type": w.Add("general.alignment", 64); break;
            case "offset past the end": w.RemoveTensor("a").AddTensor("a", GgmlType.F32, [2, 3], Floats(1, 2, 3, 4, 5, 6), offset: 1 << 20); break;
            case "misaligned offset": w.RemoveTensor("a").AddTensor("a", GgmlType.F32, [2, 3], Floats(1, 2, 3, 4, 5, 6), offset: 4); break;
            case "unknown type id": w.RemoveTensor("a").AddTensor("a", GgmlType.F32, [2, 3], Floats(1, 2, 3, 4, 5, 6), typeId: 77); break;
            case "dimensions overflow": w.RemoveTensor("a").AddTensor("a", GgmlType.F32, [1UL << 40, 1UL << 40], Floats(1)); break;
            case "dimension out of range": w.RemoveTensor("a").AddTensor("a", GgmlType.F32, [ulong.MaxValue], Floats(1)); break;
            case "five dimensions": w.RemoveTensor("a").AddTensor("a", GgmlType.F32, [1, 1, 1, 1, 1], Floats(1)); break;
            case "row not whole blocks": w.RemoveTensor("a").AddTensor("a", GgmlType.Q4_0, [16], new byte[18]); break;
            case "duplicate tensor": w.AddTensor("a", GgmlType.F32, [1], Floats(1)); break;
            case "truncated data": w.TruncateBy = 4; break;
        }
        return w;
    }

    [Theory]
    [MemberData(nameof(DamagedFiles))]
    public void RefusesDamagedFilesNamingTheField(string damage, string field, bool notSupported)
    {
        string path = Path.Combine(_dir, "damaged.gguf");
        File.WriteAllBytes(path, DamagedBytes(damage));
        var ex = Assert.ThrowsAny<ModelFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.Equal(field, ex.Field);
        Assert.Equal(path, ex.FilePath);
        Assert.Equal(notSupported, ex is ModelNotSupportedException);
        Assert.Contains(Path.GetFileName(path), ex.Message);
    }

    private static byte[] DamagedBytes(string damage) => damage switch
    {
        "key not UTF-8" => Patch(new TestGgufWriter().Raw("x", GgufValueType.UInt8, [1]).ToBytes(), "x"u8, [0xFF]),
        "truncated header" => Valid().ToBytes()[..12],
        "truncated tensor info" => TruncateInside(Valid().ToBytes(), "b"u8),
        "empty file" => [],
        _ => Damaged(damage).ToBytes(),
    };

    private static byte[] Patch(byte[] bytes, ReadOnlySpan<byte> find, byte[] replace)
    {
        int at = bytes.AsSpan().IndexOf(find);
        return [.. bytes[..at], .. replace, .. bytes[(at + find.Length)..]];
    }

    // Cuts the file a few bytes after tensor b's name: inside b's dimensions.
    private static byte[] TruncateInside(byte[] bytes, ReadOnlySpan<byte> name)
    {
        int at = bytes.AsSpan().IndexOf([.. BitConverter.GetBytes(1UL), .. name]);
        return bytes[..(at + 8 + name.Length + 6)];
    }

    [Fact]
    public void EveryTruncationIsAFormatError()
    {
        var bytes = Valid().Add("tokens", ["<s>", "a", "bc"]).Add("scores", [0f, -1f, -2f]).ToBytes();
        string path = Path.Combine(_dir, "cut.gguf");
        for (int length = 0; length < bytes.Length; length++)
        {
            File.WriteAllBytes(path, bytes[..length]);
            var ex = Record.Exception(() => GgufFile.Open(path).Dispose());
            Assert.True(ex is ModelFormatException, $"cut at {length}: {ex?.GetType().Name ?? "no exception"} {ex?.Message}");
        }
    }

    [Fact]
    public void CorruptedBytesEndInAFormatErrorOrAValidFileNeverAnotherException()
    {
        var bytes = Valid().Add("tokens", ["<s>", "a", "bc"]).Add("types", [1, 3, 6]).ToBytes();
        string path = Path.Combine(_dir, "corrupt.gguf");
        var random = new Random(1234);
        for (int trial = 0; trial < 1500; trial++)
        {
            var copy = (byte[])bytes.Clone();
            for (int flips = random.Next(1, 4); flips > 0; flips--)
            {
                // Damage the header and tensor infos, where the numbers that are trusted or refused live.
                int at = random.Next((int)Math.Min(copy.Length, 400));
                copy[at] = random.Next(3) switch { 0 => 0xFF, 1 => 0x00, _ => (byte)random.Next(256) };
            }
            File.WriteAllBytes(path, copy);
            var ex = Record.Exception(() => GgufFile.Open(path).Dispose());
            Assert.True(ex is null or ModelFormatException, $"trial {trial}: {ex}");
        }
    }
}
