using System.Text;
using LlmCpu.Engine;
using LlmCpu.Engine.Formats;

namespace LlmCpu.Tests.Engine.Formats;

public sealed class SafeTensorsFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string header, int dataBytes, long? headerLengthOverride = null)
    {
        string path = Path.Combine(_dir, Guid.NewGuid() + ".safetensors");
        var headerBytes = Encoding.UTF8.GetBytes(header);
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes(headerLengthOverride ?? headerBytes.Length));
        stream.Write(headerBytes);
        stream.Write(new byte[dataBytes]);
        return path;
    }

    [Fact]
    public void ReadsAValidFile()
    {
        string path = Write("""{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"__metadata__":{"format":"pt"}}""", 12);
        using var file = SafeTensorsFile.Open(path);
        var tensor = file.Tensors["a"];
        Assert.Equal(TensorType.F16, tensor.Type);
        Assert.Equal(new long[] { 2, 3 }, tensor.Shape);
        var values = new float[6];
        tensor.ReadAsFloat32(0, values);
        Assert.All(values, v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,14]}}""", 12, "data_offsets")]
    [InlineData("""{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,10]}}""", 12, "data_offsets")]
    [InlineData("""{"a":{"dtype":"F16","shape":[-2,3],"data_offsets":[0,12]}}""", 12, "shape")]
    [InlineData("""{"a":{"dtype":"F16","shape":[4294967296,4294967296],"data_offsets":[0,12]}}""", 12, "shape")]
    [InlineData("""{"a":{"shape":[2,3],"data_offsets":[0,12]}}""", 12, "dtype")]
    [InlineData("""{"a":{"dtype":"F16","shape":[2,3],"data_offsets":[6,0]}}""", 12, "data_offsets")]
    [InlineData("""{"a":""", 12, "header")]
    [InlineData("""[1,2,3]""", 12, "header")]
    public void RefusesDamagedHeadersNamingTheField(string header, int dataBytes, string field)
    {
        string path = Write(header, dataBytes);
        var ex = Assert.ThrowsAny<ModelFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Contains(field, ex.Field);
        Assert.Equal(path, ex.FilePath);
    }

    [Fact]
    public void RefusesUnsupportedDtypeAsNotSupported()
    {
        string path = Write("""{"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}""", 4);
        Assert.Throws<ModelNotSupportedException>(() => SafeTensorsFile.Open(path));
    }

    [Theory]
    [InlineData(-5L)]
    [InlineData(1L << 40)]
    [InlineData(0L)]
    public void RefusesAnImpossibleHeaderLength(long length)
    {
        string path = Write("{}", 0, length);
        var ex = Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Equal("header length", ex.Field);
    }

    [Fact]
    public void RefusesATruncatedFile()
    {
        string path = Path.Combine(_dir, "short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal("header length", Assert.Throws<ModelFormatException>(() => SafeTensorsFile.Open(path)).Field);
    }
}
