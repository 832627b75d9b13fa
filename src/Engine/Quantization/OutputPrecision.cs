namespace LlmCpu.Engine.Quantization;

/// <summary>The precision a conversion gives the output projection (the vocabulary-sized matrix read whole for every token).</summary>
public enum OutputPrecision
{
    /// <summary>INT4 in groups of 32 with a zero point (<see cref="Models.Int4ModelConverter.DefaultOutputFormat"/>): 4.75 bits a weight.</summary>
    Int4,

    /// <summary>ggml's Q8_0 (8-bit codes in blocks of 32 with an FP16 scale): 8.5 bits a weight.</summary>
    Int8,

    /// <summary>FP16 (16 bits a weight); an output already quantized in the source is kept as it is.</summary>
    Float16,
}
