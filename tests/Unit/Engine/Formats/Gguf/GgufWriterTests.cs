using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Tests.Engine.Formats.Gguf;

/// <summary>The GGUF v3 layout byte for byte, alignment of tensor data, and what a failed or refused write leaves behind.</summary>
public sealed class GgufWriterTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmcpu-gguf-writer-").FullName;

    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    private static GgufTensorContent Bytes(params byte[] data) => (_, destination, _) => destination.Write(data);

    private static byte[] WriteToMemory(GgufWriter writer)
    {
        using var stream = new MemoryStream();
        writer.WriteTo(stream);
        return stream.ToArray();
    }

    [Fact]
    public void SmallFileIsLaidOutAsTheSpecificationSays()
    {
        var writer = new GgufWriter();
        writer.AddMetadata("a", GgufValue.UInt32(7));
        writer.AddTensor("t", GgmlType.F32, [2], Bytes(Hex("0000803F 00000040")));
        var expected = Hex(
            "47475546 03000000 0100000000000000 0200000000000000" +                       // magic, version 3, 1 tensor, 2 keys
            "0100000000000000 61 04000000 07000000" +                                     // "a": uint32 7
            "1100000000000000" + Convert.ToHexString("general.alignment"u8) + "04000000 20000000" +
            "0100000000000000 74 01000000 0200000000000000 00000000 0000000000000000" +  // "t": 1 dim [2], F32, offset 0
            new string('0', 2 * (128 - 107)) +                                            // header padded to 128
            "0000803F 00000040" + new string('0', 2 * 24));                              // data padded to 32
        var bytes = WriteToMemory(writer);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(bytes));
        Assert.Equal(bytes.Length, writer.FileSize);
    }

    private static readonly Dictionary<string, (GgufValue Value, string Bytes)> Values = new()
    {
        ["uint8"] = (GgufValue.UInt8(0xAB), "00000000 AB"),
        ["int8"] = (GgufValue.Int8(-2), "01000000 FE"),
        ["uint16"] = (GgufValue.UInt16(0x1234), "02000000 3412"),
        ["int16"] = (GgufValue.Int16(-2), "03000000 FEFF"),
        ["uint32"] = (GgufValue.UInt32(0x01020304), "04000000 04030201"),
        ["int32"] = (GgufValue.Int32(-2), "05000000 FEFFFFFF"),
        ["float32"] = (GgufValue.Float32(1f), "06000000 0000803F"),
        ["bool"] = (GgufValue.Bool(true), "07000000 01"),
        ["string"] = (GgufValue.String("hé"), "08000000 0300000000000000 68C3A9"),
        ["uint64"] = (GgufValue.UInt64(1), "0A000000 0100000000000000"),
        ["int64"] = (GgufValue.Int64(-1), "0B000000 FFFFFFFFFFFFFFFF"),
        ["float64"] = (GgufValue.Float64(1.0), "0C000000 000000000000F03F"),
        ["string array"] = (GgufValue.Array(["a", "bc"]), "09000000 08000000 0200000000000000 0100000000000000 61 0200000000000000 6263"),
        ["float32 array"] = (GgufValue.Array([1f]), "09000000 06000000 0100000000000000 0000803F"),
        ["int32 array"] = (GgufValue.Array([-1, 2]), "09000000 05000000 0200000000000000 FFFFFFFF 02000000"),
        ["uint32 array"] = (GgufValue.Array([3u]), "09000000 04000000 0100000000000000 03000000"),
        ["bool array"] = (GgufValue.Array([true, false]), "09000000 07000000 0200000000000000 0100"),
        ["empty array"] = (GgufValue.Array(Array.Empty<ulong>()), "09000000 0A000000 0000000000000000"),
    };

    [Theory]
    [InlineData("uint8")] [InlineData("int8")] [InlineData("uint16")] [InlineData("int16")] [InlineData("uint32")]
    [InlineData("int32")] [InlineData("float32")] [InlineData("bool")] [InlineData("string")] [InlineData("uint64")]
    [InlineData("int64")] [InlineData("float64")] [InlineData("string array")] [InlineData("float32 array")]
    [InlineData("int32 array")] [InlineData("uint32 array")] [InlineData("bool array")] [InlineData("empty array")]
    public void MetadataValuesAreEncodedWithTheirTypeId(string name)
    {
        var (value, expected) = Values[name];
        var writer = new GgufWriter();
        writer.AddMetadata("k", value);
        var bytes = WriteToMemory(writer);
        // Header (24 bytes), then the key: 8-byte length and "k", then the type id and the value.
        var encoded = Hex(expected);
        Assert.Equal(Convert.ToHexString(encoded), Convert.ToHexString(bytes.AsSpan(24 + 8 + 1, encoded.Length)));
    }

    [Fact]
    public void TensorDataStartsOnAlignedOffsetsInOrder()
    {
        var writer = new GgufWriter();
        var first = writer.AddTensor("three floats", GgmlType.F32, [3], Bytes(Enumerable.Repeat((byte)1, 12).ToArray()));
        var second = writer.AddTensor("one q8 block", GgmlType.Q8_0, [32, 1], Bytes(Enumerable.Repeat((byte)2, 34).ToArray()));
        var third = writer.AddTensor("five halves", GgmlType.F16, [5], Bytes(Enumerable.Repeat((byte)3, 10).ToArray()));
        Assert.Equal(new long[] { 0, 32, 96 }, new[] { first.Offset, second.Offset, third.Offset });
        Assert.Equal(new long[] { 12, 34, 10 }, writer.Tensors.Select(t => t.ByteSize));

        var bytes = WriteToMemory(writer);
        Assert.Equal(writer.FileSize, bytes.Length);
        Assert.Equal(0, bytes.Length % 32);
        long dataStart = bytes.Length - 128;
        Assert.Equal(0, dataStart % 32);
        Assert.All(bytes.AsSpan((int)dataStart, 12).ToArray(), b => Assert.Equal(1, b));
        Assert.All(bytes.AsSpan((int)(dataStart + 12), 20).ToArray(), b => Assert.Equal(0, b));
        Assert.All(bytes.AsSpan((int)(dataStart + 32), 34).ToArray(), b => Assert.Equal(2, b));
        Assert.All(bytes.AsSpan((int)(dataStart + 96), 10).ToArray(), b => Assert.Equal(3, b));
    }

    [Fact]
    public void DescriptionsThatGgmlCannotHoldAreRefused()
    {
        var writer = new GgufWriter();
        writer.AddMetadata("k", GgufValue.Bool(true));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata("k", GgufValue.Bool(false)));
        Assert.Throws<ArgumentException>(() => writer.AddMetadata(GgufWriter.AlignmentKey, GgufValue.UInt32(64)));
        writer.AddTensor("t", GgmlType.F32, [1], Bytes(0, 0, 0, 0));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", GgmlType.F32, [1], Bytes(0, 0, 0, 0)));
        Assert.Throws<ArgumentException>(() => writer.AddTensor(new string('x', 64), GgmlType.F32, [1], Bytes()));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("rows of 33", GgmlType.Q4_0, [33, 2], Bytes()));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("five dims", GgmlType.F32, [1, 1, 1, 1, 1], Bytes()));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.AddTensor("unknown type", (GgmlType)5, [32], Bytes()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(alignment: 24));
    }

    [Fact]
    public void WriteFileCreatesTheFileAndNothingElse()
    {
        string path = Path.Combine(_folder, "model.gguf");
        var writer = new GgufWriter();
        writer.AddTensor("t", GgmlType.F32, [1], Bytes(0, 0, 128, 63));
        writer.WriteFile(path);
        Assert.Equal(new[] { path }, Directory.GetFiles(_folder));
        Assert.Equal(WriteToMemory(writer), File.ReadAllBytes(path));
    }

    [Fact]
    public void AnExistingFileIsKeptUnlessOverwriteIsAllowed()
    {
        string path = Path.Combine(_folder, "model.gguf");
        File.WriteAllText(path, "keep me");
        var writer = new GgufWriter();
        writer.AddTensor("t", GgmlType.F32, [1], Bytes(0, 0, 128, 63));

        var refused = Assert.Throws<OutputFileExistsException>(() => writer.WriteFile(path));
        Assert.Equal(path, refused.FilePath);
        Assert.Equal("keep me", File.ReadAllText(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_folder));

        writer.WriteFile(path, overwrite: true);
        Assert.Equal(WriteToMemory(writer), File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_folder));
    }

    [Fact]
    public void CancellationMidWriteLeavesNoFile()
    {
        string path = Path.Combine(_folder, "model.gguf");
        using var cancellation = new CancellationTokenSource();
        var writer = new GgufWriter();
        writer.AddTensor("first", GgmlType.F32, [1024], (_, destination, token) =>
        {
            destination.Write(new byte[2048]);
            cancellation.Cancel();   // as Ctrl+C would, halfway through a tensor
            token.ThrowIfCancellationRequested();
            destination.Write(new byte[2048]);
        });
        writer.AddTensor("second", GgmlType.F32, [1], Bytes(0, 0, 0, 0));
        Assert.ThrowsAny<OperationCanceledException>(() => writer.WriteFile(path, cancellation: cancellation.Token));
        Assert.Empty(Directory.GetFileSystemEntries(_folder));
    }

    [Fact]
    public void CancellationBetweenTensorsLeavesNoFileAndKeepsAnOldOne()
    {
        string path = Path.Combine(_folder, "model.gguf");
        File.WriteAllText(path, "old");
        using var cancellation = new CancellationTokenSource();
        var writer = new GgufWriter();
        writer.AddTensor("first", GgmlType.F32, [1], (_, destination, _) =>
        {
            destination.Write(new byte[4]);
            cancellation.Cancel();
        });
        writer.AddTensor("second", GgmlType.F32, [1], (_, _, _) => throw new InvalidOperationException("must not be reached"));
        Assert.ThrowsAny<OperationCanceledException>(() => writer.WriteFile(path, overwrite: true, cancellation.Token));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(new[] { path }, Directory.GetFiles(_folder));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void ATensorWriterThatMiscountsFailsTheWriteAndLeavesNoFile(int bytes)
    {
        string path = Path.Combine(_folder, "model.gguf");
        var writer = new GgufWriter();
        writer.AddTensor("miscounted", GgmlType.F32, [1], Bytes(new byte[bytes]));
        var error = Assert.Throws<InvalidOperationException>(() => writer.WriteFile(path));
        Assert.Contains("miscounted", error.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_folder));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
