using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Compares a quantized model with its float original on the same tokens: perplexity of each, mean KL divergence of
/// the quantized next-token distribution from the float one, and the share of positions where both rank the same
/// token first. Runs one window of at most the context length.
/// </summary>
public static class AccuracyEvaluator
{
    public static AccuracyReport Compare(LanguageModel reference, LanguageModel candidate, string text, WorkerPool? pool = null,
        CancellationToken cancellation = default)
    {
        pool ??= WorkerPool.Shared;
        int[] ids = reference.Tokenizer.Encode(text, reference.Tokenizer.AddBosByDefault);
        int count = Math.Min(ids.Length, Math.Min(reference.ContextLength, candidate.ContextLength));
        if (count < 2) throw new GenerationArgumentException(nameof(text), "The evaluation text needs at least one token after BOS.");
        using var a = new InferenceSession(reference, pool, count);
        using var b = new InferenceSession(candidate, pool, count);
        int vocab = Math.Min(reference.VocabularySize, candidate.VocabularySize);
        var logP = new double[vocab];
        var logQ = new double[vocab];
        double nllP = 0, nllQ = 0, kl = 0;
        int agree = 0;
        for (int i = 0; i < count - 1; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            LogSoftmax(a.Decode(ids[i]), logP);
            LogSoftmax(b.Decode(ids[i]), logQ);
            int next = ids[i + 1];
            nllP -= logP[next];
            nllQ -= logQ[next];
            double divergence = 0;
            int argP = 0, argQ = 0;
            for (int v = 0; v < vocab; v++)
            {
                divergence += Math.Exp(logP[v]) * (logP[v] - logQ[v]);
                if (logP[v] > logP[argP]) argP = v;
                if (logQ[v] > logQ[argQ]) argQ = v;
            }
            kl += divergence;
            if (argP == argQ) agree++;
        }
        int scored = count - 1;
        return new AccuracyReport
        {
            Tokens = scored,
            FloatPerplexity = Math.Exp(nllP / scored),
            QuantizedPerplexity = Math.Exp(nllQ / scored),
            MeanKlDivergence = kl / scored,
            TopTokenAgreement = (double)agree / scored,
        };
    }

    private static void LogSoftmax(ReadOnlySpan<float> logits, double[] destination)
    {
        double max = double.MinValue;
        for (int v = 0; v < destination.Length; v++) max = Math.Max(max, logits[v]);
        double sum = 0;
        for (int v = 0; v < destination.Length; v++) sum += Math.Exp(logits[v] - max);
        double logSum = Math.Log(sum) + max;
        for (int v = 0; v < destination.Length; v++) destination[v] = logits[v] - logSum;
    }
}
