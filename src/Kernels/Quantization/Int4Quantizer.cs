namespace LlmCpu.Kernels.Quantization;

/// <summary>Round-to-nearest quantization of one group of weights to 4 bits.</summary>
public static class Int4Quantizer
{
    /// <summary>
    /// Symmetric, exactly as ggml's Q4_0 reference quantizer: the value of largest magnitude maps to -8 (using the
    /// full range -8..7), q = min(15, trunc(x / d + 8.5)) with the FP32 d = max / -8, and d is stored as FP16. A model
    /// quantized here with group size 32 therefore holds the same codes and scales as llama.cpp's Q4_0 of the same
    /// weights. Returns the stored (FP16-rounded) scale.
    /// </summary>
    public static float QuantizeSymmetric(ReadOnlySpan<float> group, Span<byte> quants) => QuantizeSymmetric(group, quants, 1f);

    private static float QuantizeSymmetric(ReadOnlySpan<float> group, Span<byte> quants, float shrink)
    {
        float max = 0, absMax = 0;
        foreach (float v in group)
        {
            if (MathF.Abs(v) > absMax) { absMax = MathF.Abs(v); max = v; }
        }
        float d = max * shrink / -8f;
        float inverse = d != 0 ? 1f / d : 0;
        for (int i = 0; i < group.Length; i++) quants[i] = (byte)Math.Clamp((int)(group[i] * inverse + 8.5f), 0, 15);
        return (float)(Half)d;
    }

    /// <summary>Candidate shrink factors of the round-to-nearest scale tried by <see cref="Int4Recipe.MinimizeError"/>.</summary>
    private static readonly float[] Shrinks = [1f, 0.97f, 0.94f, 0.91f, 0.88f, 0.85f, 0.82f, 0.79f, 0.76f, 0.73f, 0.70f];

    /// <summary>Quantizes a group with the given recipe; returns scale and zero point (8 when symmetric).</summary>
    /// <exception cref="ArgumentException">The recipe does not work group by group from the weights alone (it needs calibration).</exception>
    public static (float Scale, byte Zero) Quantize(ReadOnlySpan<float> group, Span<byte> quants, bool asymmetric, Int4Recipe recipe)
    {
        if (!recipe.IsWeightOnly())
            throw new ArgumentException($"{recipe} does not quantize a group from its weights alone; it runs over a whole layer with calibration inputs.", nameof(recipe));
        if (recipe == Int4Recipe.RoundToNearest)
            return asymmetric ? QuantizeAsymmetric(group, quants) : (QuantizeSymmetric(group, quants), (byte)8);
        Span<byte> trial = stackalloc byte[group.Length <= 1024 ? group.Length : 0];
        byte[]? rented = group.Length > 1024 ? new byte[group.Length] : null;
        if (rented != null) trial = rented;
        var best = asymmetric ? QuantizeAsymmetric(group, quants) : (QuantizeSymmetric(group, quants), (byte)8);
        double bestError = SquaredError(group, quants, best.Item1, best.Item2);
        foreach (float shrink in Shrinks.AsSpan(1))
        {
            var candidate = asymmetric ? QuantizeAsymmetric(group, trial, shrink) : (QuantizeSymmetric(group, trial, shrink), (byte)8);
            double error = SquaredError(group, trial, candidate.Item1, candidate.Item2);
            if (error < bestError)
            {
                bestError = error;
                best = candidate;
                trial.Slice(0, group.Length).CopyTo(quants);
            }
        }
        return best;
    }

    private static double SquaredError(ReadOnlySpan<float> group, ReadOnlySpan<byte> quants, float scale, byte zero)
    {
        double sum = 0;
        for (int i = 0; i < group.Length; i++)
        {
            double e = group[i] - (quants[i] - zero) * (double)scale;
            sum += e * e;
        }
        return sum;
    }

    /// <summary>Asymmetric: min..max spread over 0..15 with an integer zero point. Returns scale and zero point.</summary>
    public static (float Scale, byte Zero) QuantizeAsymmetric(ReadOnlySpan<float> group, Span<byte> quants) => QuantizeAsymmetric(group, quants, 1f);

    private static (float Scale, byte Zero) QuantizeAsymmetric(ReadOnlySpan<float> group, Span<byte> quants, float shrink)
    {
        if (group.IsEmpty) return (0, 8);
        float min = MathF.Min(0, Min(group)) * shrink, max = MathF.Max(0, Max(group)) * shrink;
        // The range always includes 0, so that 0 (and padding) is represented exactly by the zero point.
        float scale = (float)(Half)((max - min) / 15f);
        if (scale == 0) { quants.Slice(0, group.Length).Fill(8); return (0, 8); }
        int zero = Math.Clamp((int)MathF.Round(-min / scale), 0, 15);
        float inverse = 1f / scale;
        for (int i = 0; i < group.Length; i++) quants[i] = (byte)Math.Clamp((int)MathF.Round(group[i] * inverse) + zero, 0, 15);
        return (scale, (byte)zero);
    }

    private static float Min(ReadOnlySpan<float> values)
    {
        float m = float.MaxValue;
        foreach (float v in values) m = MathF.Min(m, v);
        return m;
    }

    private static float Max(ReadOnlySpan<float> values)
    {
        float m = float.MinValue;
        foreach (float v in values) m = MathF.Max(m, v);
        return m;
    }
}
