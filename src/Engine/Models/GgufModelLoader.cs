using System.Diagnostics;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Tokenization;
using LlmCpu.Kernels.MatMul;

namespace LlmCpu.Engine.Models;

/// <summary>
/// Loads a GGUF file of a supported architecture: the description and tokenizer from its metadata, weights from its
/// tensors through the family's names (<see cref="ArchitectureTables"/>). A Llama file's Q and K rows are put back into
/// the rotate-half order the engine uses (see <see cref="QkvRowOrder.InterleavedRow"/>). Blocks of every quantized type
/// the engine reads are copied into the kernels' tile layouts exactly (see <see cref="MatrixBuilder.KeepsItsOwnBytes"/>);
/// nothing is requantized unless the caller asks for an INT4 format the blocks are not in, and then with a warning.
/// </summary>
public static class GgufModelLoader
{
    public static LanguageModel Load(string path, LoadOptions options)
    {
        var clock = Stopwatch.StartNew();
        var file = GgufFile.Open(path);
        // Open for the model's lifetime when float matrices are left in it (LoadOptions.DeferFloatMatrices).
        IDisposable? storage = null;
        try
        {
            var model = Load(path, file, options, clock);
            if (options.DeferFloatMatrices) storage = file;
            return model;
        }
        finally
        {
            if (storage is null) file.Dispose();
        }
    }

    private static LanguageModel Load(string path, GgufFile file, LoadOptions options, Stopwatch clock)
    {
        var config = GgufModelConfig.Read(file);
        var tokenizer = GgufTokenizerFactory.Create(file);
        if (tokenizer.VocabularySize > config.VocabularySize)
            throw new ModelFormatException(path, "vocabulary", $"{tokenizer.VocabularySize} tokens exceed the {config.VocabularySize} rows of the embedding");

        var tensors = new ModelTensorReader(new GgufModelTensors(file), ArchitectureTables.Gguf(config), config);
        var builder = new MatrixBuilder(options.Precision, options.Int4Format, options.Activations);
        ReportConversions(tensors, builder, options);
        var weights = tensors.Read(builder, options);
        string stored = string.Join("/", file.TensorList.Select(t => t.Type.ToString()).Distinct().Order(StringComparer.Ordinal));
        string precision = weights.Layers[0].QueryKeyValue.Format;
        options.Log.Verbose($"Loaded {config.LayerCount} layers from '{path}' (GGUF v{file.Version}, {stored}, {file.FileLength / 1048576.0:F1} MiB) as {precision} in {clock.Elapsed.TotalSeconds:F2} s.");
        var (chatTemplate, namedChatTemplates) = ChatTemplateFiles.ReadGguf(file.Metadata);
        return new LanguageModel(System.IO.Path.GetFileNameWithoutExtension(path), System.IO.Path.GetFullPath(path), config, weights, tokenizer,
            stored, precision, file.FileLength, clock.Elapsed, storage: options.DeferFloatMatrices ? file : null)
        {
            ChatTemplateText = chatTemplate,
            NamedChatTemplates = namedChatTemplates,
        };
    }

    /// <summary>Says, once per load, which tensor types are converted rather than kept as stored, and refuses types the engine cannot read.</summary>
    private static void ReportConversions(ModelTensorReader tensors, MatrixBuilder builder, LoadOptions options)
    {
        var matrices = tensors.Matrices().ToList();
        foreach (var source in matrices)
        {
            if (!Type(source).CanDequantize())
                throw new ModelNotSupportedException(tensors.Path, $"tensor '{source.Name}' type", $"ggml type {Type(source)} ({(uint)Type(source)}) is not supported (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K are)");
        }
        var dequantized = Types(matrices.Where(m => Type(m).IsQuantized() && !MatrixBuilder.KeepsItsOwnBytes(Type(m))));
        if (dequantized.Count > 0 && builder.Precision is ModelPrecision.AsStored or ModelPrecision.Float32)
            options.Log.Verbose($"{string.Join(", ", dequantized)} blocks have no kernel of their own yet: they are converted exactly to F32.");
        if (builder.Precision == ModelPrecision.AsStored
            && tensors.Stacks().Any(s => s.Any(m => MatrixBuilder.KeepsItsOwnBytes(Type(m))) && !s.All(m => MatrixBuilder.KeepsItsOwnBytes(Type(m)))))
            options.Log.Verbose("Where a type with a kernel of its own is stacked with one without (Q, K, V or gate, up), the stacked matrix is held in F32, exactly.");
        if (builder.Precision == ModelPrecision.Int4)
        {
            bool exact = builder.Int4Format == MatrixBuilder.StoredInt4Format;
            var requantized = Types(matrices.Skip(tensors.Edges().Count()).Where(m => Type(m).IsQuantized() && !(Type(m) == GgmlType.Q4_0 && exact)));
            if (requantized.Count > 0)
                options.Log.Warning($"{string.Join(", ", requantized)} blocks are quantized again to {builder.Int4Format} as asked, which adds error to error; " +
                                    $"loading as stored keeps Q4_0 exactly (as {MatrixBuilder.StoredInt4Format}) and converts other types exactly to F32.");
            var edges = Types(tensors.Edges().Where(m => Type(m).IsQuantized() && Type(m) != GgmlType.Q4_0));
            if (edges.Count > 0)
                options.Log.Verbose($"The token embedding and output projection ({string.Join(", ", edges)}) are converted to F16, as INT4 models keep those two in F16.");
        }
        else if (builder.Precision == ModelPrecision.Float16 && matrices.Any(m => Type(m).IsQuantized() || Type(m) is GgmlType.F32 or GgmlType.BF16))
        {
            options.Log.Verbose("Weights are converted to F16 as asked; values F16 cannot hold are rounded.");
        }
    }

    private static List<GgmlType> Types(IEnumerable<IMatrixSource> sources) => sources.Select(Type).Distinct().Order().ToList();

    // Every matrix a GGUF file gives is in ggml blocks (F32 and F16 included).
    private static GgmlType Type(IMatrixSource source) => source.BlockType!.Value;
}
