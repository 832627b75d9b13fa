using LlmCpu.Engine;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Fuzz;

/// <summary>
/// One fuzz target per reader: the input bytes become one file of a model (the others valid, from the target's seed
/// folder), the model or tokenizer is loaded and, if it loads, used. Refusals of bad input (the exception types the
/// module maps to ModelFormatInvalid, ModelNotSupported, ModelNotFound or InsufficientMemory) are normal outcomes;
/// anything else escapes, which the fuzzer records as a crash.
/// </summary>
public static class FuzzTargets
{
    /// <summary>Target name to the file the input replaces inside the case folder.</summary>
    public static readonly IReadOnlyDictionary<string, string> FileOf = new Dictionary<string, string>
    {
        ["gguf"] = "model.gguf",
        ["safetensors"] = "model.safetensors",
        ["config"] = "config.json",
        ["index"] = "model.safetensors.index.json",
        ["spm"] = "tokenizer.model",
        ["tokenizer-json"] = "tokenizer.json",
        ["llmc"] = "model.llmc",
    };

    /// <summary>Target name to its folder under tests/Fuzz/corpus: a valid model whose one file the input replaces.</summary>
    public static readonly IReadOnlyDictionary<string, string> CorpusOf = new Dictionary<string, string>
    {
        ["gguf"] = "gguf",
        ["safetensors"] = "huggingface",
        ["config"] = "huggingface",
        ["index"] = "sharded",
        ["spm"] = "huggingface",
        ["tokenizer-json"] = "tokenizer-json",
        ["llmc"] = "llmc",
    };

    /// <summary>
    /// Runs <paramref name="target"/> on <paramref name="input"/> inside <paramref name="caseFolder"/>, which holds the
    /// target's other valid files (the folder is the target's "context" folder copied once).
    /// </summary>
    public static void Run(string target, byte[] input, string caseFolder)
    {
        string path = Path.Combine(caseFolder, FileOf[target]);
        File.WriteAllBytes(path, input);
        try
        {
            switch (target)
            {
                case "spm":
                    Use(SentencePieceTextTokenizer.Load(path));
                    _ = SentencePieceVocabulary.Load(path);
                    break;
                case "tokenizer-json":
                    Use(ByteLevelBpeTextTokenizer.FromTokenizerJson(path));
                    break;
                case "gguf" or "llmc":
                    using (var model = ModelLoader.Load(path)) Use(model);
                    break;
                default:
                    using (var model = ModelLoader.Load(caseFolder)) Use(model);
                    break;
            }
        }
        catch (Exception ex) when (IsRefusal(ex))
        {
        }
    }

    /// <summary>Exceptions a reader may end in: bad input, reported to the user with a stable ErrorId.</summary>
    public static bool IsRefusal(Exception ex) =>
        ex is ModelFormatException or ModelTooLargeException or FileNotFoundException or DirectoryNotFoundException
            or ModelNumericException or GenerationArgumentException;

    private static void Use(TextTokenizer tokenizer)
    {
        var ids = tokenizer.Encode("Hello world, it is a truth <s></s> ñ 漢字 \U0001F600 12345", addBos: true);
        _ = tokenizer.Decode(ids);
        _ = tokenizer.Decode(Enumerable.Range(0, tokenizer.VocabularySize));
    }

    private static void Use(LanguageModel model) =>
        new TextGenerator(model).Generate("It is a truth", new GenerationOptions { MaxTokens = 2, ContextLength = 16, StopAtEos = false, Sampling = SamplingOptions.Greedy });
}
