using System.Text.Json.Nodes;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Tests.Support.Hostile;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Tokenization;

/// <summary>
/// Damaged tokenizer.json files (byte-level BPE): vocabulary ids out of range or repeated, merges of the wrong shape or
/// naming unknown tokens, added tokens of the wrong kind, pre-tokenizer steps and expressions damaged, invalid UTF-8,
/// lone surrogates, deep nesting. Each loads and then encodes and decodes, or is refused naming the field.
/// </summary>
[Collection(HostileInputCollection.Name)]
public sealed class TokenizerJsonHostileInputTests(ITestOutputHelper output)
{
    private const string FileName = "tokenizer.json";

    private HostileCampaign Campaign(string name) => new("tokenizer.json " + name, output)
    {
        Load = folder => ByteLevelBpeTextTokenizer.FromTokenizerJson(Path.Combine(folder, FileName)),
        Target = FileName,
        Exercise = TokenizerUse.EncodeAndDecode,
    };

    /// <summary>The small GPT-2-style file, and the same vocabulary with Llama 3's Split-then-ByteLevel pre-tokenizer.</summary>
    private static JsonObject[] Seeds()
    {
        var gpt2 = TokenizerJsonBuilder.Small();
        var llama3 = TokenizerJsonBuilder.Small();
        llama3["pre_tokenizer"] = TokenizerJsonBuilder.SplitThenByteLevel(
            @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+");
        return [gpt2, llama3];
    }

    [Fact]
    public void StructuralDamage()
    {
        var random = new Random(HostileScale.Seed + 50);
        var seeds = Seeds();
        var summary = Campaign("structural damage").Run(Enumerable.Range(0, HostileScale.Cases(2000)).Select(i =>
        {
            var (bytes, damage) = HostileJson.Mutate(seeds[i % 2], random);
            return HostileCase.Single(FileName, bytes, damage);
        }));
        Assert.True(summary.Loaded > 0 && summary.Refused.Count > 0, summary.ToString());
    }

    [Fact]
    public void DamagedTokenizerInAModelFolder()
    {
        var random = new Random(HostileScale.Seed + 51);
        var seed = Seeds()[0];
        var folder = TinyModel.HuggingFaceFolder();
        folder.Remove("tokenizer.model");
        new HostileCampaign("tokenizer.json in a model folder", output)
        {
            Load = path => ModelLoader.Load(path),
            Exercise = model => ModelUse.Generate(model),
        }.Run(Enumerable.Range(0, HostileScale.Cases(200)).Select(_ =>
        {
            var (bytes, damage) = HostileJson.Mutate(seed, random);
            return new HostileCase(damage, folder).With(FileName, bytes, damage);
        }));
    }
}
