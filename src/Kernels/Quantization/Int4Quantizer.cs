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
    public static float QuantizeSymmetric(ReadOnlySpan<float> group, Span<byte> quants)
    {
        float max = 0, absMax = 0;
        foreach (float v in group)
        {
            if (MathF.Abs(v) > absMax) { absMax = MathF.Abs(v); max = v; }
        }
        float d = max / -8f;
        float inverse = d != 0 ? 1f / d : 0;
        for (int i = 0; i < group.Length; i++) quants[i] = (byte)Math.Min(15, (int)(group[i] * inverse + 8.5f));
        return (float)(Half)d;
    }

    /// <summary>Asymmetric: min..max spread over 0..15 with an integer zero point. Returns scale and zero point.</summary>
    public static (float Scale, byte Zero) QuantizeAsymmetric(ReadOnlySpan<float> group, Span<byte> quants)
    {
        if (group.IsEmpty) return (0, 8);
        float min = MathF.Min(0, Min(group)), max = MathF.Max(0, Max(group));
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
