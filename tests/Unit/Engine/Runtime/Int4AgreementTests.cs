using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support;
using Xunit.Abstractions;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// The fixture model quantized to INT4 at load against the FP32 reference: how many of the first 32 greedy tokens
/// agree, per format. "Most" is the bar: on average more than half of the 32 tokens before the first divergence.
/// </summary>
public sealed class Int4AgreementTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> Formats() =>
    [
        [32, false, ActivationMode.Int8],
        [128, false, ActivationMode.Int8],
        [128, false, ActivationMode.Float32],
        [32, true, ActivationMode.Int8],
    ];

    [Theory]
    [MemberData(nameof(Formats))]
    public void GreedyTokensAgreeWithTheFloatReferenceForMostOfThe32(int groupSize, bool asymmetric, ActivationMode activations)
    {
        var reference = FixtureReference.Load();
        using var model = ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions
        {
            Precision = ModelPrecision.Int4, Int4Format = new Int4Format(groupSize, asymmetric), Activations = activations,
        });
        var generator = new TextGenerator(model);
        int prefixTotal = 0, positionalTotal = 0, total = 0;
        foreach (var prompt in reference.Prompts)
        {
            var tokens = generator.Generate(prompt.Text, new GenerationOptions
            {
                MaxTokens = prompt.Greedy.Length, Sampling = SamplingOptions.Greedy, StopAtEos = false,
            }).TokenIds;
            int prefix = 0;
            while (prefix < tokens.Count && tokens[prefix] == prompt.Greedy[prefix]) prefix++;
            int positional = tokens.Zip(prompt.Greedy).Count(p => p.First == p.Second);
            output.WriteLine($"{model.Precision} {activations}: '{prompt.Text}': first divergence at {prefix} of {prompt.Greedy.Length}, {positional} positions equal");
            prefixTotal += prefix;
            positionalTotal += positional;
            total += prompt.Greedy.Length;
        }
        output.WriteLine($"{model.Precision} {activations}: mean agreeing prefix {(double)prefixTotal / reference.Prompts.Count:F1} of 32; {positionalTotal} of {total} positions equal");
        Assert.True(prefixTotal * 2 > total, $"agreeing prefixes sum to {prefixTotal} of {total} tokens");
    }
}
