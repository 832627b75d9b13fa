using System.Text.Json.Nodes;
using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support.Hostile;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Formats;

/// <summary>
/// Damaged model.safetensors files in an otherwise valid Hugging Face folder, loaded as a model and run where they
/// load: the JSON header damaged by structure (dtypes, shapes and data_offsets given boundary values, overlapping or
/// out-of-range offsets, wrong kinds, duplicate names), the header length given boundary values, the file cut at every
/// boundary between header and tensors, random bytes damaged, NaN and infinite weights.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class SafeTensorsHostileInputTests(ITestOutputHelper output)
{
    private const string FileName = "model.safetensors";

    private HostileCampaign Campaign(string name) => new("safetensors " + name, output)
    {
        Load = folder => ModelLoader.Load(folder),
        Exercise = model => ModelUse.Generate(model),
    };

    private static HostileCase Case(byte[] safetensors, string damage) => new HostileCase(damage, TinyModel.HuggingFaceFolder()).With(FileName, safetensors, damage);

    [Fact]
    public void TheSeedLoadsAndRuns() =>
        Assert.Equal(1, Campaign("seed").Run([new HostileCase("seed", TinyModel.HuggingFaceFolder())]).Used);

    [Fact]
    public void DamagedHeaders()
    {
        var random = new Random(HostileScale.Seed + 10);
        var builder = TinyModel.SafeTensors();
        var header = builder.Header();
        byte[] data = builder.Data();
        var summary = Campaign("damaged JSON header").Run(Enumerable.Range(0, HostileScale.Cases(1500)).Select(_ =>
        {
            var (json, damage) = HostileJson.Mutate(header, random);
            return Case(SafeTensorsBuilder.Assemble(json, data), damage);
        }));
        Assert.True(summary.Refused.Count > 0 && summary.Loaded > 0, summary.ToString());
    }

    [Fact]
    public void HeaderLengthBoundaryValuesAndCutsAtEveryBoundary()
    {
        var random = new Random(HostileScale.Seed + 11);
        var builder = TinyModel.SafeTensors();
        byte[] seed = builder.ToBytes();
        long headerLength = BitConverter.ToInt64(seed);
        var cuts = new List<long> { 0, 1, 7, 8, 9, 8 + headerLength / 2, 8 + headerLength - 1, 8 + headerLength };
        foreach (var (_, entry) in builder.Header().Where(p => p.Key != "__metadata__"))
            foreach (var offset in entry!["data_offsets"]!.AsArray()) cuts.AddRange([8 + headerLength + (long)offset!, 8 + headerLength + (long)offset! - 1]);
        var cases = cuts.Distinct().Where(c => c < seed.Length).Select(c => Case(seed[..(int)c], $"cut at byte {c}"))
            .Concat(HostileBytes.BoundaryValues.Select(v => Case(HostileBytes.SetNumber(seed, 0, 8, v), $"header length 0x{v:X}")))
            .Concat(Enumerable.Range(0, HostileScale.Cases(300)).Select(_ =>
            {
                var (bytes, damage) = HostileBytes.Havoc(seed, random, region: (int)(8 + headerLength));
                return Case(bytes, damage);
            }));
        var summary = Campaign("header length, cuts, random damage").Run(cases);
        Assert.True(summary.Refused.Count > 0, summary.ToString());
    }

    [Fact]
    public void NonFiniteWeightsLoadAndFailInUseAsANumericError()
    {
        var builder = TinyModel.SafeTensors();
        byte[] seed = builder.ToBytes();
        int dataStart = 8 + (int)BitConverter.ToInt64(seed);
        var header = builder.Header();
        var cases = new List<HostileCase>();
        foreach (var (tensor, bits, label) in new[]
                 {
                     ("model.layers.0.self_attn.q_proj.weight", (ushort)0x7E00, "F16 NaN"),
                     ("model.layers.0.mlp.down_proj.weight", (ushort)0x7C00, "F16 infinity"),
                     ("model.embed_tokens.weight", (ushort)0x7FC0, "BF16 NaN"),
                 })
        {
            var copy = (byte[])seed.Clone();
            var offsets = header[tensor]!["data_offsets"]!.AsArray();
            for (long at = (long)offsets[0]!; at < (long)offsets[1]!; at += 2) BitConverter.TryWriteBytes(copy.AsSpan(dataStart + (int)at), bits);
            cases.Add(Case(copy, $"{tensor} all {label}"));
        }
        var summary = Campaign("NaN and infinite weights").Run(cases);
        Assert.Equal(3, summary.UseRefused);
    }
}
