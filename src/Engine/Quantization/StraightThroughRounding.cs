namespace LlmCpu.Engine.Quantization;

/// <summary>
/// Round-to-nearest quantization of one group with trainable knobs, and its gradient with the straight-through
/// estimator (round treated as the identity when differentiating), for the recipes that train through the rounding
/// (<see cref="SignRoundQuantizer"/>, <see cref="TeqScaleTraining"/>).
/// <para>The knobs: an offset v per weight added before rounding, and clipping factors that shrink the group's range
/// (symmetric: the largest magnitude times α; asymmetric: the minimum times α and the maximum times β). With every
/// offset 0 and the factors 1 it is exactly <see cref="Kernels.Quantization.Int4Quantizer"/>'s round-to-nearest (ggml's
/// Q4_0 rule when symmetric), codes and stored FP16 scale alike, so training starts from round-to-nearest.</para>
/// <para>Differentiating through the scale follows what automatic differentiation of the reference's formulas gives:
/// the scale depends on the group's extreme values and on the factors; a weight clamped to the end of the code range
/// depends on the scale alone; the asymmetric zero point, -lo / scale rounded, is differentiated straight through.</para>
/// </summary>
internal static class StraightThroughRounding
{
    /// <summary>What <see cref="Forward"/> chose for a group, kept for <see cref="Backward"/>.</summary>
    public struct Group
    {
        /// <summary>The stored (FP16-rounded) scale; 0 for a group of zeros.</summary>
        public float Scale;
        public byte Zero;
        /// <summary>Symmetric: the signed value of largest magnitude. Asymmetric: min(0, min x).</summary>
        public float Low;
        /// <summary>Asymmetric: max(0, max x).</summary>
        public float High;
        public int LowIndex, HighIndex;
    }

    /// <summary>
    /// Quantizes <paramref name="x"/>: writes its codes and the dequantized values <paramref name="fq"/> (code - zero) · scale.
    /// </summary>
    /// <param name="offsets">The per-weight offsets added before rounding, or empty for none.</param>
    public static Group Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> offsets, float alpha, float beta, bool asymmetric,
        Span<byte> codes, Span<float> fq)
    {
        var g = new Group { LowIndex = -1, HighIndex = -1 };
        bool offset = !offsets.IsEmpty;
        if (!asymmetric)
        {
            float absMax = 0;
            for (int k = 0; k < x.Length; k++)
                if (MathF.Abs(x[k]) > absMax) { absMax = MathF.Abs(x[k]); g.Low = x[k]; g.LowIndex = k; }
            float d = g.Low * alpha / -8f;
            float inverse = d != 0 ? 1f / d : 0;
            g.Scale = (float)(Half)d;
            g.Zero = 8;
            for (int k = 0; k < x.Length; k++)
            {
                // ggml's trunc(x / d + 8.5) is floor for every value that is not clamped to 0 anyway.
                codes[k] = (byte)Math.Clamp((int)MathF.Floor(x[k] * inverse + (offset ? offsets[k] : 0) + 8.5f), 0, 15);
                fq[k] = (codes[k] - 8) * g.Scale;
            }
            return g;
        }
        float min = 0, max = 0;
        for (int k = 0; k < x.Length; k++)
        {
            if (x[k] < min) { min = x[k]; g.LowIndex = k; }
            if (x[k] > max) { max = x[k]; g.HighIndex = k; }
        }
        (g.Low, g.High) = (min, max);
        float lo = min * alpha, hi = max * beta;
        g.Scale = (float)(Half)((hi - lo) / 15f);
        if (g.Scale == 0)
        {
            g.Zero = 8;
            codes.Slice(0, x.Length).Fill(8);
            fq.Slice(0, x.Length).Clear();
            return g;
        }
        g.Zero = (byte)Math.Clamp((int)MathF.Round(-lo / g.Scale), 0, 15);
        float inv = 1f / g.Scale;
        for (int k = 0; k < x.Length; k++)
        {
            codes[k] = (byte)Math.Clamp((int)MathF.Round(x[k] * inv + (offset ? offsets[k] : 0)) + g.Zero, 0, 15);
            fq[k] = (codes[k] - g.Zero) * g.Scale;
        }
        return g;
    }

    /// <summary>
    /// From <paramref name="gradFq"/>, the loss's gradient with respect to the dequantized values, the gradient with
    /// respect to the offsets (written to <paramref name="gradOffsets"/> unless empty), to the inputs x (to
    /// <paramref name="gradX"/> unless empty), and to α and β.
    /// </summary>
    public static (double Alpha, double Beta) Backward(in Group g, ReadOnlySpan<float> x, ReadOnlySpan<float> offsets, float alpha, float beta,
        bool asymmetric, ReadOnlySpan<byte> codes, ReadOnlySpan<float> gradFq, Span<float> gradOffsets, Span<float> gradX)
    {
        bool wantOffsets = !gradOffsets.IsEmpty, wantX = !gradX.IsEmpty;
        if (g.Scale == 0)
        {
            if (wantOffsets) gradOffsets.Slice(0, x.Length).Clear();
            if (wantX) gradX.Slice(0, x.Length).Clear();
            return (0, 0);
        }
        float s = g.Scale;
        bool offset = !offsets.IsEmpty;
        // d fq / d scale per weight, summed against the incoming gradient; clamped weights also move with lo directly.
        double gradScale = 0, gradLowDirect = 0;
        for (int k = 0; k < x.Length; k++)
        {
            // The value before rounding, in codes (symmetric scales keep the sign of max / -8, so one formula serves both).
            float ratio = x[k] / s;
            float unrounded = ratio + (offset ? offsets[k] : 0) + g.Zero;
            bool clamped = unrounded < -0.5f || unrounded >= 15.5f;
            float level = codes[k] - g.Zero;
            float dScale;
            if (clamped)
            {
                // A clamped weight is (end - zero) · scale; the asymmetric zero, -lo / scale, moves with scale and lo.
                dScale = asymmetric ? level - g.Low * alpha / s : level;
                if (asymmetric) gradLowDirect += gradFq[k];
                if (wantOffsets) gradOffsets[k] = 0;
                if (wantX) gradX[k] = 0;
            }
            else
            {
                dScale = level - ratio;
                if (wantOffsets) gradOffsets[k] = gradFq[k] * s;
                if (wantX) gradX[k] = gradFq[k];
            }
            gradScale += gradFq[k] * (double)dScale;
        }
        if (!asymmetric)
        {
            // d = α · m / -8, m the signed value of largest magnitude.
            if (wantX && g.LowIndex >= 0) gradX[g.LowIndex] += (float)(gradScale * alpha / -8);
            return (gradScale * g.Low / -8, 0);
        }
        // scale = (hi - lo) / 15 with lo = α · min, hi = β · max.
        double gradHigh = gradScale / 15, gradLow = -gradScale / 15 + gradLowDirect;
        if (wantX)
        {
            if (g.LowIndex >= 0) gradX[g.LowIndex] += (float)(gradLow * alpha);
            if (g.HighIndex >= 0) gradX[g.HighIndex] += (float)(gradHigh * beta);
        }
        return (gradLow * g.Low, gradHigh * g.High);
    }
}
