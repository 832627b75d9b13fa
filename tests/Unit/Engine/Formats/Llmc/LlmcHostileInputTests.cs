using System.Text.Json.Nodes;
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
