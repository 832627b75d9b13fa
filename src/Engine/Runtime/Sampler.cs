using System.Numerics.Tensors;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Picks the next token from logits: greedy, or temperature with top-k and top-p, drawn from a seeded generator.
/// All working arrays are allocated once per sampler, so sampling a token allocates nothing.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private readonly float[] _values;
    private readonly int[] _indices;

    public Sampler(SamplingOptions options, int vocabularySize)
    {
        if (options.Temperature < 0 || float.IsNaN(options.Temperature)) throw new GenerationArgumentException(nameof(options.Temperature), "Temperature must be 0 or more.");
        if (options.TopK < 0) throw new GenerationArgumentException(nameof(options.TopK), "TopK must be 0 or more.");
        if (!(options.TopP >= 0 && options.TopP <= 1)) throw new GenerationArgumentException(nameof(options.TopP), "TopP must be in [0, 1].");
        _options = options;
        _random = new Random(options.Seed);
        _values = new float[vocabularySize];
        _indices = new int[vocabularySize];
    }

    /// <exception cref="ModelNumericException">A logit is NaN or +infinity, or every logit is -infinity: there is no distribution to draw from.</exception>
    public int Sample(ReadOnlySpan<float> logits)
    {
        // IndexOfMax reports the first NaN if there is one, so one pass both finds the best token and checks the logits.
        int best = TensorPrimitives.IndexOfMax(logits);
        float top = best >= 0 ? logits[best] : float.NaN;
        if (float.IsNaN(top) || float.IsInfinity(top))
            throw new ModelNumericException($"The logits hold {(float.IsNegativeInfinity(top) ? "no finite value" : top.ToString(System.Globalization.CultureInfo.InvariantCulture))}; no token can be sampled.");
        if (_options.Temperature == 0) return best;

        int count = logits.Length;
        int k = _options.TopK > 0 ? Math.Min(_options.TopK, count) : count;
        // Candidates sorted by logit, descending: the top k by a partial selection, or all when k is the vocabulary.
        if (k < count)
        {
            SelectTopK(logits, k);
        }
        else
        {
            logits.CopyTo(_values);
            for (int i = 0; i < count; i++) _indices[i] = i;
        }
        var values = _values.AsSpan(0, k);
        var indices = _indices.AsSpan(0, k);
        // Descending by sorting the negated logits ascending: the default comparer sorts without allocating,
        // where a Comparison delegate would be wrapped in a new comparer object on every call.
        TensorPrimitives.Negate(values, values);
        values.Sort(indices);
        TensorPrimitives.Negate(values, values);

        // Probabilities of (logit - max) / temperature. Subtracting the maximum first keeps exp in range at any
        // temperature (a logit of 30 at temperature 0.01 is 3000, far past exp's float range) and makes the draw
        // independent of a constant added to every logit.
        TensorPrimitives.Subtract(values, values[0], values);
        TensorPrimitives.Divide(values, _options.Temperature, values);
        TensorPrimitives.Exp(values, values);

        int kept = k;
        float total = TensorPrimitives.Sum(values);
        if (_options.TopP < 1)
        {
            float threshold = _options.TopP * total;
            float cumulative = 0;
            for (int i = 0; i < k; i++)
            {
                cumulative += values[i];
                if (cumulative >= threshold) { kept = i + 1; break; }
            }
            total = TensorPrimitives.Sum(values.Slice(0, kept));
        }
        float draw = (float)_random.NextDouble() * total;
        for (int i = 0; i < kept; i++)
        {
            draw -= values[i];
            if (draw <= 0) return indices[i];
        }
        return indices[kept - 1];
    }

    /// <summary>Puts the k largest logits (unordered) and their ids in the first k slots, with a min-heap.</summary>
    private void SelectTopK(ReadOnlySpan<float> logits, int k)
    {
        var heapValues = _values.AsSpan(0, k);
        var heapIndices = _indices.AsSpan(0, k);
        for (int i = 0; i < k; i++)
        {
            heapValues[i] = logits[i];
            heapIndices[i] = i;
            SiftUp(heapValues, heapIndices, i);
        }
        for (int i = k; i < logits.Length; i++)
        {
            if (logits[i] <= heapValues[0]) continue;
            heapValues[0] = logits[i];
            heapIndices[0] = i;
            SiftDown(heapValues, heapIndices, k);
        }
    }

    private static void SiftUp(Span<float> v, Span<int> ix, int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (v[parent] <= v[i]) break;
            (v[parent], v[i]) = (v[i], v[parent]);
            (ix[parent], ix[i]) = (ix[i], ix[parent]);
            i = parent;
        }
    }

    private static void SiftDown(Span<float> v, Span<int> ix, int count)
    {
        int i = 0;
        while (true)
        {
            int left = 2 * i + 1, smallest = i;
            if (left < count && v[left] < v[smallest]) smallest = left;
            if (left + 1 < count && v[left + 1] < v[smallest]) smallest = left + 1;
            if (smallest == i) return;
            (v[smallest], v[i]) = (v[i], v[smallest]);
            (ix[smallest], ix[i]) = (ix[i], ix[smallest]);
            i = smallest;
        }
    }
}
