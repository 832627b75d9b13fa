using LlmCpu.Engine;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support.Hostile;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Formats.Gguf;

/// <summary>
/// Thousands of damaged copies of a small GGUF model, loaded and, where they load, run: cut at every boundary between
/// fields, every kind of field given boundary values (huge counts and dimensions, lengths past the end, unknown type
/// tags, offsets out of range, misaligned or overlapping), invalid UTF-8 in keys and strings, random damage in the
/// header and anywhere. Each ends in a model or in ModelFormatInvalid / ModelNotSupported naming the field.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class GgufHostileInputTests(ITestOutputHelper output)
{
    private const string FileName = "tiny.gguf";

    private HostileCampaign Campaign(string name) => new("GGUF " + name, output)
    {
        Load = folder => ModelLoader.Load(Path.Combine(folder, FileName)),
        Target = FileName,
        Exercise = model => ModelUse.Generate(model),
    };

    [Fact]
    public void TheSeedsLoadAndRun()
    {
        var summary = Campaign("seeds").Run([
            HostileCase.Single(FileName, TinyModel.Gguf(GgmlType.F16), "F16 seed"),
            HostileCase.Single(FileName, TinyModel.Gguf(GgmlType.Q4_0), "Q4_0 seed"),
        ]);
        Assert.Equal(2, summary.Used);
    }

    [Fact]
    public void CutAtEveryBoundaryBetweenFields()
    {
        byte[] seed = TinyModel.Gguf();
        var map = GgufFieldMap.Of(seed);
        int dataStart = (map.InfoEnd + 31) / 32 * 32;
        var cuts = map.Boundaries().Concat(map.TensorOffsets.Select(t => dataStart + (int)t.Offset)).Where(c => c < seed.Length).Distinct().ToList();
        var summary = Campaign("cut at every field boundary").Run(cuts.Select(c => HostileCase.Single(FileName, seed[..c], $"cut at byte {c}")));
        Assert.Equal(0, summary.Loaded);
        Assert.True(summary.Cases > 1000, $"only {summary.Cases} boundaries");
    }

    [Fact]
    public void BoundaryValuesInEveryKindOfField()
    {
        var random = new Random(HostileScale.Seed);
        var summary = Campaign("boundary values in fields").Run(Cases(HostileScale.Cases(1500)));
        Assert.True(summary.Refused.Count > 0 && summary.Loaded > 0, summary.ToString());

        IEnumerable<HostileCase> Cases(int count)
        {
            foreach (var type in new[] { GgmlType.F16, GgmlType.Q4_0 })
            {
                byte[] seed = TinyModel.Gguf(type);
                var map = GgufFieldMap.Of(seed);
                // Fields that hold numbers, weighted so that the few header and tensor fields are hit as often as the many token scores.
                var numeric = map.Fields.Where(f => f.Kind != GgufFieldKind.StringBytes).ToList();
                var rare = numeric.Where(f => f.Kind is not GgufFieldKind.Scalar and not GgufFieldKind.Length || !f.Name.Contains('[')).ToList();
                var offsets = map.TensorOffsets.Select(t => (ulong)t.Offset).ToArray();
                for (int i = 0; i < count / 2; i++)
                {
                    var field = (i % 3 == 0 ? numeric : rare)[random.Next(i % 3 == 0 ? numeric.Count : rare.Count)];
                    ulong value = field.Kind == GgufFieldKind.TensorOffset && random.Next(3) == 0
                        ? offsets[random.Next(offsets.Length)] + (ulong)(random.Next(2) * 32)  // another tensor's data: overlapping
                        : HostileBytes.Boundary(random);
                    yield return HostileCase.Single(FileName, HostileBytes.SetNumber(seed, field.Offset, field.Width, value), $"{type} {field.Name} = 0x{value:X}");
                }
            }
        }
    }

    /// <summary>Boundary values in the numeric fields of each family's GGUF (other keys, other tensors, fused and biased layouts).</summary>
    [Theory]
    [InlineData("llama3")]
    [InlineData("mistral")]
    [InlineData("qwen2")]
    [InlineData("gptneox")]
    [InlineData("falcon-7b")]
    [InlineData("falcon-40b")]
    public void BoundaryValuesInEveryFamilysFields(string family)
    {
        var random = new Random(HostileScale.Seed + family.Sum(c => c)); // a stable seed per family
        byte[] seed = File.ReadAllBytes(Path.Combine(LlmCpu.Tests.Support.RepoPaths.ArchitectureFixture(family), "model-f32.gguf"));
        var map = GgufFieldMap.Of(seed);
        // The header and tensor fields, not the thousands of token scores.
        var fields = map.Fields.Where(f => f.Kind != GgufFieldKind.StringBytes && !f.Name.Contains('[')).ToList();
        var offsets = map.TensorOffsets.Select(t => (ulong)t.Offset).ToArray();
        Campaign(family + " boundary values").Run(Enumerable.Range(0, HostileScale.Cases(150)).Select(_ =>
        {
            var field = fields[random.Next(fields.Count)];
            ulong value = field.Kind == GgufFieldKind.TensorOffset && random.Next(3) == 0
                ? offsets[random.Next(offsets.Length)]
                : HostileBytes.Boundary(random);
            return HostileCase.Single(FileName, HostileBytes.SetNumber(seed, field.Offset, field.Width, value), $"{family} {field.Name} = 0x{value:X}");
        }));
    }

    [Fact]
    public void InvalidUtf8InKeysNamesAndStrings()
    {
        var random = new Random(HostileScale.Seed + 1);
        byte[] seed = TinyModel.Gguf();
        var strings = GgufFieldMap.Of(seed).Fields.Where(f => f.Kind == GgufFieldKind.StringBytes).ToList();
        var summary = Campaign("invalid UTF-8").Run(Enumerable.Range(0, HostileScale.Cases(400)).Select(_ =>
        {
            var field = strings[random.Next(strings.Count)];
            var invalid = HostileBytes.InvalidUtf8[random.Next(HostileBytes.InvalidUtf8.Length)];
            var copy = (byte[])seed.Clone();
            int at = field.Offset + random.Next(Math.Max(1, field.Width - invalid.Length + 1));
            invalid.AsSpan(0, Math.Min(invalid.Length, field.Offset + field.Width - at)).CopyTo(copy.AsSpan(at));
            return HostileCase.Single(FileName, copy, $"invalid UTF-8 {Convert.ToHexString(invalid)} in {field.Name}");
        }));
        Assert.True(summary.Refused.Count > 0, summary.ToString());
    }

    [Fact]
    public void RandomDamageInTheHeaderAndAnywhere()
    {
        var random = new Random(HostileScale.Seed + 2);
        byte[] seed = TinyModel.Gguf(GgmlType.Q4_0);
        int infoEnd = GgufFieldMap.Of(seed).InfoEnd;
        Campaign("random damage").Run(Enumerable.Range(0, HostileScale.Cases(1200)).Select(i =>
        {
            var (bytes, damage) = HostileBytes.Havoc(seed, random, region: i % 4 == 0 ? int.MaxValue : infoEnd);
            return HostileCase.Single(FileName, bytes, damage);
        }));
    }

    [Fact]
    public void NonFiniteWeightsLoadAndFailInUseAsANumericError()
    {
        byte[] seed = TinyModel.Gguf(GgmlType.F16);
        var map = GgufFieldMap.Of(seed);
        int dataStart = (map.InfoEnd + 31) / 32 * 32;
        long q = map.TensorOffsets.Single(t => t.Name == "blk.0.attn_q.weight").Offset;
        var summary = Campaign("NaN and infinite weights").Run(
            new[] { Half.NaN, Half.PositiveInfinity, Half.NegativeInfinity }.Select(value =>
            {
                var copy = (byte[])seed.Clone();
                // Every weight of the query projection: whatever the prompt, the layer's output is not finite.
                for (int i = 0; i < 64 * 64; i++) BitConverter.TryWriteBytes(copy.AsSpan(dataStart + (int)q + 2 * i), value);
                return HostileCase.Single(FileName, copy, $"attn_q all {value}");
            }));
        Assert.Equal(3, summary.Loaded);
        Assert.Equal(3, summary.UseRefused);
    }
}
