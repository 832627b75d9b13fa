namespace LlmCpu.Engine;

/// <summary>A model file is damaged, truncated or not what it claims to be. Names the file and the field at fault.</summary>
public class ModelFormatException(string path, string field, string message, Exception? inner = null)
    : Exception($"{System.IO.Path.GetFileName(path)}: {field}: {message}", inner)
{
    public string FilePath { get; } = path;

    public string Field { get; } = field;
}

/// <summary>A well-formed model that this engine cannot run (an unknown architecture or tensor type).</summary>
public class ModelNotSupportedException(string path, string field, string message)
    : ModelFormatException(path, field, message);

/// <summary>Generation was asked for something the model cannot do (a prompt longer than its context, say).</summary>
public class GenerationArgumentException(string parameter, string message) : ArgumentException(message, parameter);

/// <summary>
/// A forward pass produced values that are not finite (NaN or infinity): the weights are broken or the model's
/// activations overflow. Names the layer where the values first stopped being finite, when known.
/// </summary>
public class ModelNumericException(string message, int? layer = null) : Exception(message)
{
    /// <summary>The decoder layer (0-based) whose output was first found not finite; null when the logits were checked alone.</summary>
    public int? Layer { get; } = layer;
}

/// <summary>
/// Two models that are compared token by token (a model and its reference) do not share a vocabulary: their logits
/// have different lengths, or their tokenizers cut the same text differently.
/// </summary>
public class VocabularyMismatchException(string parameter, string message) : GenerationArgumentException(parameter, message);
