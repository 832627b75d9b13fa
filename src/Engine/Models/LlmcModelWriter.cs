using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Models;

/// <summary>Writes a loaded model as an LlmCpu INT4 model file, tensors in their kernel layout.</summary>
public static class LlmcModelWriter
{
    public static void Write(LanguageModel model, string destination, QuantizationReport report, bool overwrite,
        IEngineLog? log = null, CancellationToken cancellation = default)
    {
        log ??= NullEngineLog.Instance;
        // SentencePiece as its model file; byte-level BPE as the definition it is built from.
        (string Kind, byte[] Bytes) tokenizer = model.Tokenizer switch
        {
            SentencePieceTextTokenizer sentencePiece => (sentencePiece.Kind, sentencePiece.ModelBytes.ToArray()),
            ByteLevelBpeTextTokenizer bpe => (ByteLevelBpeTextTokenizer.StoredKind, bpe.ToStoredJson()),
            _ => throw new ModelNotSupportedException(model.Path, "tokenizer", $"a {model.Tokenizer.Kind} tokenizer cannot be embedded in an INT4 model file"),
        };
        model.Use(weights => { Write(model, weights, tokenizer, destination, report, overwrite, log, cancellation); return 0; });
    }

    private static void Write(LanguageModel model, ModelWeights w, (string Kind, byte[] Bytes) tokenizer, string destination,
        QuantizationReport report, bool overwrite, IEngineLog log, CancellationToken cancellation)
    {
        using var writer = new LlmcWriter(destination, overwrite);
        void Vector(string name, float[]? values)
        {
            if (values != null) writer.AddVector(name, values);
        }
        writer.AddMatrix(LlmcTensorNames.TokenEmbedding, w.TokenEmbedding);
        for (int i = 0; i < w.Layers.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            log.Progress("Writing INT4 model", $"layer {i + 1} of {w.Layers.Count}", 100 * i / w.Layers.Count);
            var layer = w.Layers[i];
            writer.AddVector(LlmcTensorNames.AttentionNorm(i), layer.AttentionNorm);
            Vector(LlmcTensorNames.Bias(LlmcTensorNames.AttentionNorm(i)), layer.AttentionNormBias);
            writer.AddMatrix(LlmcTensorNames.QueryKeyValue(i), layer.QueryKeyValue);
            Vector(LlmcTensorNames.Bias(LlmcTensorNames.QueryKeyValue(i)), layer.QueryKeyValueBias);
            writer.AddMatrix(LlmcTensorNames.AttentionOutput(i), layer.AttentionOutput);
            Vector(LlmcTensorNames.Bias(LlmcTensorNames.AttentionOutput(i)), layer.AttentionOutputBias);
            Vector(LlmcTensorNames.FeedForwardNorm(i), layer.FeedForwardNorm);
            Vector(LlmcTensorNames.Bias(LlmcTensorNames.FeedForwardNorm(i)), layer.FeedForwardNormBias);
            writer.AddMatrix(LlmcTensorNames.GateUp(i), layer.GateUp);
            Vector(LlmcTensorNames.Bias(LlmcTensorNames.GateUp(i)), layer.GateUpBias);
            writer.AddMatrix(LlmcTensorNames.Down(i), layer.Down);
            Vector(LlmcTensorNames.Bias(LlmcTensorNames.Down(i)), layer.DownBias);
        }
        writer.AddVector(LlmcTensorNames.OutputNorm, w.OutputNorm);
        Vector(LlmcTensorNames.Bias(LlmcTensorNames.OutputNorm), w.OutputNormBias);
        if (!ReferenceEquals(w.Output, w.TokenEmbedding)) writer.AddMatrix(LlmcTensorNames.Output, w.Output);
        Vector(LlmcTensorNames.Bias(LlmcTensorNames.Output), w.OutputBias);
        cancellation.ThrowIfCancellationRequested();
        var config = model.Config with { TiedEmbeddings = ReferenceEquals(w.Output, w.TokenEmbedding) };
        writer.Complete(model.Name, config, tokenizer.Kind, tokenizer.Bytes, report, model.ChatTemplateText, model.NamedChatTemplates);
        log.Progress("Writing INT4 model", "done", 100);
    }
}

/// <summary>Tensor names inside an LlmCpu INT4 model file: the engine's own stacked matrices, one name each.</summary>
public static class LlmcTensorNames
{
    public const string TokenEmbedding = "token_embedding";
    public const string Output = "output";
    public const string OutputNorm = "output_norm";

    public static string AttentionNorm(int layer) => $"layers.{layer}.attn_norm";

    public static string QueryKeyValue(int layer) => $"layers.{layer}.qkv";

    public static string AttentionOutput(int layer) => $"layers.{layer}.attn_output";

    public static string FeedForwardNorm(int layer) => $"layers.{layer}.ffn_norm";

    public static string GateUp(int layer) => $"layers.{layer}.gate_up";

    public static string Down(int layer) => $"layers.{layer}.down";

    /// <summary>The bias of the norm or projection named <paramref name="tensor"/>.</summary>
    public static string Bias(string tensor) => tensor + ".bias";
}
