using LlmCpu.KernelCheck;
using LlmCpu.Kernels;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// A token's outputs do not depend on how many tokens share the multiplication: on every path this processor has, a
/// prompt of 37 tokens (16-, 8-, 4-, 2-token and single calls of the register tiles, in blocks) gives each token the
/// same bits as multiplying that token alone (the one-token kernel). Every kernel the token count selects must add a
/// row's sums in the same order, which the comparisons with the scalar reference also require; this states it
/// directly, for groups of 32 (the token-pair kernel) and of 128. Paths are named, not taken from the dispatcher,
/// which would quietly fall back to a lower path whose start-up self-check had failed.
/// </summary>
public sealed class TokenGroupInvarianceTests
{
    public static IEnumerable<object[]> Cases() =>
        from path in Enum.GetValues<KernelPath>()
        from c in new (int GroupSize, bool Asymmetric, string Input)[]
        {
            (32, false, "random"), (32, true, "random"), (32, false, "max-magnitude"), (32, true, "alternating-extremes"), (128, false, "random"),
        }
        select new object[] { path, c.GroupSize, c.Asymmetric, c.Input };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void EachTokenGetsTheBitsItGetsAlone(KernelPath path, int groupSize, bool asymmetric, string input)
    {
        Skip.IfNot(KernelDispatch.IsSupported(path), $"{path} is not supported by this processor or runtime; its kernels were not run.");
        const int rows = 40, columns = 320, tokens = 37;
        var (weights, activations) = KernelConformance.MakeInputs(input, rows, columns, tokens, seed: 11);
        using var matrix = Int4Matrix.Quantize(weights, rows, columns, new Int4Format(groupSize, asymmetric));
        matrix.Activations = ActivationMode.Int8;
        var together = KernelConformance.Multiply(matrix, activations, tokens, path);
        for (int t = 0; t < tokens; t++)
        {
            var alone = KernelConformance.Multiply(matrix, activations.AsSpan(t * columns, columns).ToArray(), 1, path);
            for (int r = 0; r < rows; r++)
                Assert.True(BitConverter.SingleToInt32Bits(alone[r]) == BitConverter.SingleToInt32Bits(together[t * rows + r]),
                    $"token {t} row {r}: {together[t * rows + r]} in a pass of {tokens}, {alone[r]} alone ({path})");
        }
    }
}
