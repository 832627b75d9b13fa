namespace LlmCpu.Engine.Runtime.Sampling;

/// <summary>
/// The stages of the sampler chain, each narrowing or reshaping <see cref="Candidates"/> as llama.cpp's sampler of
/// the same name does (src/llama-sampler.cpp at de3ff815; min_keep is always 0). The filters run on the logits as
/// they are before the temperature, which comes last: top-p, min-p and typical-p see the model's own distribution.
/// </summary>
internal static class SamplerStages
{
    /// <summary>Keeps the k largest logits, sorted descending; k of 0 keeps all (and leaves the order alone).</summary>
    public static void TopK(Candidates c, int k)
    {
        if (k <= 0 || c.Count == 0) return;
        if (k < c.Count)
        {
            int kept = TopSelection.Select(c.LogitSpan, k, c.ScratchLogits, c.ScratchIds);
            // The selection holds positions in the candidate list; turn them into ids.
            for (int i = 0; i < kept; i++) c.ScratchIds[i] = c.Ids[c.ScratchIds[i]];
            c.ScratchIds.AsSpan(0, kept).CopyTo(c.Ids);
            c.ScratchLogits.AsSpan(0, kept).CopyTo(c.Logits);
            c.Count = kept;
            c.Sorted = false;
        }
        c.SortDescending();
    }

    /// <summary>
    /// Locally typical sampling: keeps the tokens whose surprise (-log p) is closest to the distribution's entropy,
    /// most typical first, until their probabilities sum to more than p. Leaves the candidates in that order, unsorted.
    /// </summary>
    public static void Typical(Candidates c, float p)
    {
        if (p >= 1 || c.Count == 0) return;
        c.SortDescending();
        var probabilities = c.Softmax();
        float entropy = 0;
        foreach (float q in probabilities)
            if (q > 0) entropy -= q * MathF.Log(q);
        var keys = c.Keys.AsSpan(0, c.Count);
        var order = c.Order.AsSpan(0, c.Count);
        for (int i = 0; i < keys.Length; i++)
        {
            // A probability that underflowed to 0 is infinitely surprising: least typical of all.
            keys[i] = probabilities[i] > 0 ? MathF.Abs(-MathF.Log(probabilities[i]) - entropy) : float.PositiveInfinity;
            order[i] = i;
        }
        keys.Sort(order);
        float cumulative = 0;
        int kept = order.Length;
        for (int i = 0; i < order.Length; i++)
        {
            cumulative += probabilities[order[i]];
            if (cumulative > p) { kept = i + 1; break; }
        }
        c.KeepInOrder(order[..kept]);
        c.Sorted = false;
    }

    /// <summary>Nucleus sampling: the most likely tokens whose probabilities first reach p; 0 keeps the most likely one.</summary>
    public static void TopP(Candidates c, float p)
    {
        if (p >= 1 || c.Count == 0) return;
        c.SortDescending();
        var probabilities = c.Softmax();
        float cumulative = 0;
        int kept = c.Count;
        for (int i = 0; i < probabilities.Length; i++)
        {
            cumulative += probabilities[i];
            if (cumulative >= p) { kept = i + 1; break; }
        }
        c.Count = kept;
    }

    /// <summary>Keeps the tokens at least p times as likely as the most likely one (logit at least max + ln p), in their order.</summary>
    public static void MinP(Candidates c, float p)
    {
        if (p <= 0 || c.Count == 0) return;
        float threshold = c.MaxLogit() + MathF.Log(p);
        int kept = 0;
        for (int i = 0; i < c.Count; i++)
        {
            if (c.Logits[i] < threshold) continue;
            c.Ids[kept] = c.Ids[i];
            c.Logits[kept++] = c.Logits[i];
        }
        c.Count = kept;
    }

    /// <summary>Divides the logits by t; t of 0 keeps only the first largest (greedy).</summary>
    public static void Temperature(Candidates c, float t)
    {
        if (c.Count == 0) return;
        if (t <= 0)
        {
            int best = 0;
            for (int i = 1; i < c.Count; i++)
                if (c.Logits[i] > c.Logits[best]) best = i;
            c.Ids[0] = c.Ids[best];
            c.Logits[0] = c.Logits[best];
            c.Count = 1;
            c.Sorted = true;
            return;
        }
        System.Numerics.Tensors.TensorPrimitives.Divide(c.LogitSpan, t, c.LogitSpan);
    }

    /// <summary>
    /// Draws one candidate with probability softmax(logits), walking the candidates in their current order until the
    /// running sum reaches <paramref name="uniform"/> times the total. The shift by the maximum keeps exp in range at
    /// any temperature (a logit of 100 at temperature 0.001 is 1e5) and makes the draw independent of a constant added
    /// to every logit.
    /// </summary>
    public static int Draw(Candidates c, double uniform)
    {
        if (c.Count == 1) return c.Ids[0];
        var weights = c.Scratch.AsSpan(0, c.Count);
        System.Numerics.Tensors.TensorPrimitives.Subtract(c.LogitSpan, c.MaxLogit(), weights);
        System.Numerics.Tensors.TensorPrimitives.Exp(weights, weights);
        double total = 0;
        foreach (float w in weights) total += w;
        double target = total * uniform, running = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            running += weights[i];
            // A weight that underflowed to 0 is never drawn, even by a uniform draw of exactly 0.
            if (running >= target && weights[i] > 0) return c.Ids[i];
        }
        return c.Ids[c.Count - 1];
    }
}
