using System.Text.Json.Nodes;
using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support.Hostile;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Formats.Llmc;

/// <summary>
/// Damaged .llmc files. Random damage is caught by the checksums, so most cases are damaged and then sealed again (the
/// checksums recomputed), as a deliberate forger or a buggy writer would: the directory's JSON damaged by structure
/// (shapes, group sizes, blob offsets and lengths given boundary values, overlapping blobs, wrong kinds), header fields
/// given boundary values, the tokenizer blob damaged, NaN scales; plus unsealed random damage and cuts.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class LlmcHostileInputTests(ITestOutputHelper output)
{
    private const string FileName = "tiny.llmc";

    private HostileCampaign Campaign(string name) => new(".llmc " + name, output)
    {
        Load = folder => ModelLoader.Load(Path.Combine(folder, FileName)),
        Target = FileName,
        Exercise = model => ModelUse.Generate(model),
    };

    [Fact]
    public void TheSeedLoadsAndRuns() => Assert.Equal(1, Campaign("seed").Run([HostileCase.Single(FileName, TinyModel.LlmcFile(), "seed")]).Used);

    [Fact]
    public void ResealedDirectoryDamage()
    {
        var random = new Random(HostileScale.Seed + 60);
        byte[] seed = TinyModel.LlmcFile();
        var directory = JsonNode.Parse(LlmcSeal.Directory(seed))!;
        var summary = Campaign("directory damaged and resealed").Run(Enumerable.Range(0, HostileScale.Cases(1500)).Select(_ =>
        {
            var (json, damage) = HostileJson.Mutate(directory, random);
            return HostileCase.Single(FileName, LlmcSeal.WithDirectory(seed, json), damage);
        }));
        Assert.True(summary.Loaded > 0 && summary.Refused.Count > 0, summary.ToString());
    }

    [Fact]
    public void ResealedHeaderFieldsAndTokenizerDamage()
    {
        var random = new Random(HostileScale.Seed + 61);
        byte[] seed = TinyModel.LlmcFile();
        var cases = new List<HostileCase>();
        foreach (var (offset, width, name) in new[] { (8, 4, "version"), (12, 4, "reserved"), (16, 8, "directory offset"), (24, 8, "directory length"), (40, 8, "file length") })
            foreach (ulong value in HostileBytes.BoundaryValues)
                cases.Add(HostileCase.Single(FileName, LlmcSeal.Header(HostileBytes.SetNumber(seed, offset, width, value)), $"{name} = 0x{value:X}"));
        var tokenizer = LlmcSeal.TokenizerBlob(seed);
        for (int i = 0; i < HostileScale.Cases(400); i++)
        {
            var (bytes, damage) = HostileBytes.Havoc(seed[(int)tokenizer.Offset..(int)(tokenizer.Offset + tokenizer.Length)], random);
            cases.Add(HostileCase.Single(FileName, LlmcSeal.WithTokenizer(seed, bytes), "tokenizer blob: " + damage));
        }
        var summary = Campaign("header fields and tokenizer, resealed").Run(cases);
        Assert.True(summary.Refused.Count > 0, summary.ToString());
    }

    [Fact]
    public void UnsealedRandomDamageAndCutsAreRefused()
    {
        var random = new Random(HostileScale.Seed + 62);
        byte[] seed = TinyModel.LlmcFile();
        var cases = Enumerable.Range(0, HostileScale.Cases(400)).Select(_ =>
        {
            var (bytes, damage) = HostileBytes.Havoc(seed, random);
            return HostileCase.Single(FileName, bytes, damage);
        }).Concat(Enumerable.Range(0, 64).Select(i => HostileCase.Single(FileName, seed[..(seed.Length * i / 64)], $"cut to {i}/64")));
        var summary = Campaign("unsealed damage and cuts").Run(cases);
        // A damage can cancel out (a byte set to the value it had), so a few copies may still load, but never a damaged one.
        Assert.True(summary.Refused.Values.Sum() >= summary.Cases - 20, summary.ToString());
    }

    [Fact]
    public void NaNScalesLoadAndFailInUseAsANumericError()
    {
        byte[] seed = TinyModel.LlmcFile();
        var directory = JsonNode.Parse(LlmcSeal.Directory(seed))!;
        var qkv = directory["tensors"]!.AsArray().First(t => (string)t!["name"]! == LlmcTensorNames.QueryKeyValue(0))!;
        long offset = (long)qkv["blobs"]!["scales"]!["offset"]!, length = (long)qkv["blobs"]!["scales"]!["length"]!;
        var copy = (byte[])seed.Clone();
        for (long at = offset; at < offset + length; at += 2) BitConverter.TryWriteBytes(copy.AsSpan((int)at), Half.NaN);
        var summary = Campaign("NaN scales").Run([HostileCase.Single(FileName, LlmcSeal.Blobs(copy), "every scale of the layer's QKV NaN")]);
        Assert.Equal(1, summary.UseRefused);
    }
}

/// <summary>
/// Damaged .llmc files whose output projection is a "q8_0" tensor: the tensor's JSON damaged and resealed, its blobs'
/// lengths and the shape given values that do not fit the kind, an unknown kind, NaN scales.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class LlmcQ8TensorHostileInputTests(ITestOutputHelper output)
{
    private const string FileName = "tiny.llmc";

    private HostileCampaign Campaign(string name) => new(".llmc q8_0 " + name, output)
    {
        Load = folder => ModelLoader.Load(Path.Combine(folder, FileName)),
        Target = FileName,
        Exercise = model => ModelUse.Generate(model),
    };

    private static (byte[] Seed, JsonNode Directory, JsonNode Output) Seed()
    {
        byte[] seed = TinyModel.LlmcQ8OutputFile();
        var directory = JsonNode.Parse(LlmcSeal.Directory(seed))!;
        var tensor = directory["tensors"]!.AsArray().First(t => (string)t!["name"]! == LlmcTensorNames.Output)!;
        return (seed, directory, tensor);
    }

    /// <summary>The seed with its output tensor's directory entry changed by <paramref name="change"/>, resealed.</summary>
    private static byte[] WithOutputTensor(Action<JsonNode> change)
    {
        var (seed, directory, tensor) = Seed();
        change(tensor);
        return LlmcSeal.WithDirectory(seed, TinyModel.Utf8(directory.ToJsonString()));
    }

    private static ModelFormatException LoadFails(byte[] file)
    {
        string folder = Directory.CreateTempSubdirectory("llmcpu-q8-").FullName;
        try
        {
            string path = Path.Combine(folder, FileName);
            File.WriteAllBytes(path, file);
            return Assert.ThrowsAny<ModelFormatException>(() => ModelLoader.Load(path).Dispose());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void TheSeedHasAQ8OutputAndRuns()
    {
        Assert.Equal("q8_0", (string)Seed().Output["kind"]!);
        Assert.Equal(1, Campaign("seed").Run([HostileCase.Single(FileName, TinyModel.LlmcQ8OutputFile(), "seed")]).Used);
    }

    [Fact]
    public void AnUnknownKindIsAFormatErrorNamingTheTensor()
    {
        var e = LoadFails(WithOutputTensor(t => t["kind"] = "q9_9"));
        Assert.IsNotType<ModelNotSupportedException>(e);
        Assert.Equal("tensor 'output' kind", e.Field);
        Assert.Contains("'q9_9'", e.Message);
    }

    [Fact]
    public void BlobsAndShapesThatDoNotFitTheKindAreRefusedByName()
    {
        Assert.Equal("tensor 'output' codes length", LoadFails(WithOutputTensor(t => t["blobs"]!["codes"]!["length"] = (long)t["blobs"]!["codes"]!["length"]! - 1)).Field);
        Assert.Equal("tensor 'output' scales length", LoadFails(WithOutputTensor(t => t["blobs"]!["scales"]!["length"] = 2)).Field);
        Assert.Equal("tensor 'output' codes", LoadFails(WithOutputTensor(t => t["blobs"]!.AsObject().Remove("codes"))).Field);
        Assert.Equal("tensor 'output' data", LoadFails(WithOutputTensor(t => t["blobs"]!["data"] = t["blobs"]!["codes"]!.DeepClone())).Field);
        Assert.Equal("tensor 'output' shape", LoadFails(WithOutputTensor(t => t["columns"] = 48)).Field);
        // The kind's lengths follow the shape: fewer rows make the blobs too long.
        Assert.Equal("tensor 'output' codes length", LoadFails(WithOutputTensor(t => t["rows"] = 8)).Field);
        // An int4 tensor holds no codes.
        Assert.StartsWith("tensor 'output'", LoadFails(WithOutputTensor(t => { t["kind"] = "int4"; t["groupSize"] = 32; t["asymmetric"] = false; })).Field);
    }

    [Fact]
    public void ResealedQ8TensorDamage()
    {
        var random = new Random(HostileScale.Seed + 63);
        var (seed, directory, tensor) = Seed();
        string whole = directory.ToJsonString(), entry = tensor.ToJsonString();
        Assert.Contains(entry, whole);
        var summary = Campaign("output tensor damaged and resealed").Run(Enumerable.Range(0, HostileScale.Cases(600)).Select(_ =>
        {
            var (json, damage) = HostileJson.Mutate(tensor, random);
            byte[] damaged = TinyModel.Utf8(whole.Replace(entry, System.Text.Encoding.UTF8.GetString(json)));
            return HostileCase.Single(FileName, LlmcSeal.WithDirectory(seed, damaged), damage);
        }));
        Assert.True(summary.Refused.Count > 0, summary.ToString());
    }

    [Fact]
    public void NaNScalesLoadAndFailInUseAsANumericError()
    {
        var (seed, _, tensor) = Seed();
        long offset = (long)tensor["blobs"]!["scales"]!["offset"]!, length = (long)tensor["blobs"]!["scales"]!["length"]!;
        var copy = (byte[])seed.Clone();
        for (long at = offset; at < offset + length; at += 2) BitConverter.TryWriteBytes(copy.AsSpan((int)at), Half.NaN);
        var summary = Campaign("NaN scales").Run([HostileCase.Single(FileName, LlmcSeal.Blobs(copy), "every scale of the output projection NaN")]);
        Assert.Equal(1, summary.UseRefused);
    }
}
