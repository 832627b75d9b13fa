namespace LlmCpu.Engine.Models;

/// <summary>How rotary frequencies are stretched for contexts longer than the model was first trained on.</summary>
public enum RopeScalingType
{
    None,

    /// <summary>Every frequency divided by <see cref="RopeScaling.Factor"/> (positions interpolated).</summary>
    Linear,

    /// <summary>
    /// Llama 3.1's: low frequencies divided by <see cref="RopeScaling.Factor"/>, high ones kept, a smooth blend between.
    /// GGUF files store the resulting divisor of each frequency (<see cref="RopeScaling.FrequencyFactors"/>).
    /// </summary>
    Llama3,
}

/// <summary>Rotary scaling parameters, as Hugging Face's <c>rope_scaling</c> names them.</summary>
public sealed record RopeScaling
{
    public static RopeScaling None { get; } = new();

    public RopeScalingType Type { get; init; }

    public float Factor { get; init; } = 1f;

    public float LowFrequencyFactor { get; init; } = 1f;

    public float HighFrequencyFactor { get; init; } = 4f;

    public int OriginalContextLength { get; init; } = 8192;

    /// <summary>
    /// The divisor of each rotated pair's frequency, when a file gives them directly (GGUF's <c>rope_freqs.weight</c>);
    /// null to compute them from the parameters above.
    /// </summary>
    public float[]? FrequencyFactors { get; init; }

    /// <summary>
    /// The angle per position of each of the <paramref name="rotaryDimensions"/> / 2 rotated pairs:
    /// theta^(-2i / rotaryDimensions) divided by the pair's scaling factor.
    /// </summary>
    public float[] InverseFrequencies(int rotaryDimensions, float theta)
    {
        int pairs = rotaryDimensions / 2;
        var result = new float[pairs];
        for (int i = 0; i < pairs; i++)
        {
            // In float32, as the reference implementations compute it.
            float baseFrequency = 1f / MathF.Pow(theta, 2f * i / rotaryDimensions);
            result[i] = baseFrequency / Divisor(i, baseFrequency);
        }
        return result;
    }

    /// <summary>What each rotated pair's frequency is divided by (GGUF's <c>rope_freqs.weight</c>): 1 without scaling.</summary>
    public float[] FrequencyDivisors(int rotaryDimensions, float theta)
    {
        var result = new float[rotaryDimensions / 2];
        for (int i = 0; i < result.Length; i++) result[i] = Divisor(i, 1f / MathF.Pow(theta, 2f * i / rotaryDimensions));
        return result;
    }

    private float Divisor(int pair, float baseFrequency)
    {
        if (FrequencyFactors != null) return FrequencyFactors[pair];
        switch (Type)
        {
            case RopeScalingType.Linear:
                return Factor;
            case RopeScalingType.Llama3:
            {
                double wavelength = 2 * Math.PI / baseFrequency;
                double lowFrequencyWavelength = OriginalContextLength / LowFrequencyFactor;
                double highFrequencyWavelength = OriginalContextLength / HighFrequencyFactor;
                if (wavelength < highFrequencyWavelength) return 1f;
                if (wavelength > lowFrequencyWavelength) return Factor;
                double smooth = (OriginalContextLength / wavelength - LowFrequencyFactor) / (HighFrequencyFactor - LowFrequencyFactor);
                return (float)(1 / ((1 - smooth) / Factor + smooth));
            }
            default:
                return 1f;
        }
    }
}
