using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Tests.Support;

/// <summary>
/// Strong checks on a model's outputs without a stored reference: logits are finite, and a candidate model picks the
/// same next token as a reference model at every step where the reference's choice is clear.
/// </summary>
public static class GreedyAgreement
{
    /// <summary>A lead of the reference's top logit over its second below which rounding may pick either token.</summary>
    public const float DefaultMargin = 0.3f;

    /// <summary>
    /// Runs <paramref name="reference"/> greedily from <paramref name="prompt"/> for <paramref name="steps"/> tokens and
    /// feeds the same tokens to <paramref name="candidate"/> (teacher forcing, so one near tie does not derail the rest);
    /// at every step where the reference's top logit leads by at least <paramref name="margin"/>, both must choose the
    /// same token. Returns how many steps were compared.
    /// </summary>
    public static int AssertAgrees(LanguageModel reference, LanguageModel candidate, int[] prompt, int steps, float margin = DefaultMargin)
    {
        using var a = new InferenceSession(reference, WorkerPool.Shared, prompt.Length + steps);
        using var b = new InferenceSession(candidate, WorkerPool.Shared, prompt.Length + steps);
        var expected = a.Prefill(prompt).ToArray();
        var actual = b.Prefill(prompt).ToArray();
        int compared = 0;
        for (int step = 0; step < steps; step++)
        {
            AssertFinite(actual);
            var (top, lead) = TopAndLead(expected);
            if (lead >= margin)
            {
                Assert.True(top == TopAndLead(actual).Top, $"step {step}: the candidate chose {TopAndLead(actual).Top}, the reference {top} by a lead of {lead:F3}");
                compared++;
            }
            if (step + 1 == steps) break;
            expected = a.Decode(top).ToArray();
            actual = b.Decode(top).ToArray();
        }
        Assert.True(compared >= steps / 2, $"only {compared} of {steps} steps had a clear choice");
        return compared;
    }

    public static void AssertFinite(ReadOnlySpan<float> logits)
    {
        for (int i = 0; i < logits.Length; i++) Assert.True(float.IsFinite(logits[i]), $"logit {i} is {logits[i]}");
    }

    private static (int Top, float Lead) TopAndLead(float[] logits)
    {
        int top = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[top]) top = i;
        float second = float.NegativeInfinity;
        for (int i = 0; i < logits.Length; i++) if (i != top && logits[i] > second) second = logits[i];
        return (top, logits[top] - second);
    }
}
