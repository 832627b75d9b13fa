using System.Diagnostics;
using LlmCpu.Engine.Formats;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Loads a Hugging Face folder: config.json (any family <see cref="HuggingFaceConfig"/> reads), safetensors (single or
/// sharded) read through the family's tensor names, tokenizer.model or tokenizer.json.
/// </summary>
public static class HuggingFaceModelLoader
{
    public static LanguageModel Load(string folder, LoadOptions options)
    {
        var clock = Stopwatch.StartNew();
        var config = HuggingFaceConfig.ReadCheckpoint(folder);
        var (tokenizer, tokenizerPath) = LoadTokenizer(folder);
        if (tokenizer.VocabularySize > config.Model.VocabularySize)
            throw new ModelFormatException(tokenizerPath, "vocabulary", $"{tokenizer.VocabularySize} pieces exceed vocab_size {config.Model.VocabularySize}");

        var tensors = TensorCollection.OpenFolder(folder);
        // Open for the model's lifetime when float matrices are left in it (LoadOptions.DeferFloatMatrices).
        IDisposable? storage = null;
        try
        {
            var builder = new MatrixBuilder(options.Precision, options.Int4Format, options.Activations);
            string stored = string.Join("/", tensors.Tensors.Values.Select(t => t.Type.ToString()).Distinct().Order());
            var reader = new ModelTensorReader(new SafeTensorsModelTensors(tensors, folder, config.Quantization), ArchitectureTables.HuggingFace(config.Model, config.FalconPerHeadQkv), config.Model);
            var weights = reader.Read(builder, options);
            // The layer matrices as built: a GPTQ or AWQ checkpoint's are INT4 in its own group size, whatever it stored them as.
            string precision = weights.Layers[0].QueryKeyValue.Format;
            long fileBytes = tensors.TotalFileBytes;
            options.Log.Verbose($"Loaded {config.Model.LayerCount} layers from '{folder}' ({stored}) as {precision}{(options.DeferFloatMatrices ? " (float matrices left in the file until read)" : "")} in {clock.Elapsed.TotalSeconds:F2} s.");
            var (chatTemplate, namedChatTemplates) = ChatTemplateFiles.ReadHuggingFace(folder);
            var model = new LanguageModel(Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)), Path.GetFullPath(folder), config.Model, weights, tokenizer,
                stored, precision, fileBytes, clock.Elapsed, storage: options.DeferFloatMatrices ? tensors : null)
            {
                ChatTemplateText = chatTemplate,
                NamedChatTemplates = namedChatTemplates,
            };
            if (options.DeferFloatMatrices) storage = tensors;
            return model;
        }
        finally
        {
            if (storage is null) tensors.Dispose();
        }
    }

    /// <summary>tokenizer.model (SentencePiece) when present, else tokenizer.json (byte-level BPE).</summary>
    private static (TextTokenizer Tokenizer, string Path) LoadTokenizer(string folder)
    {
        string sentencePiece = Path.Combine(folder, "tokenizer.model");
        if (File.Exists(sentencePiece)) return (SentencePieceTextTokenizer.Load(sentencePiece), sentencePiece);
        string json = Path.Combine(folder, "tokenizer.json");
        if (File.Exists(json)) return (ByteLevelBpeTextTokenizer.FromTokenizerJson(json), json);
        throw new FileNotFoundException($"No tokenizer.model or tokenizer.json in '{folder}'.", sentencePiece);
    }

}
