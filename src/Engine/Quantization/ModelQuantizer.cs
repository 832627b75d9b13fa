using System.Diagnostics;
using LlmCpu.Engine.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Quantization;

/// <summary>What a quantization is asked to do, beyond the layers' format.</summary>
internal sealed record QuantizeRequest(Int4Format Format, ActivationMode Activations, OutputPrecision Output, CalibrationText Calibration)
{
    /// <summary>GPTQ in activation order (<see cref="GptqOptions.ActivationOrder"/>).</summary>
    public bool GptqActivationOrder { get; init; }

    /// <summary>Each kind of layer matrix's group size, where they differ; null: <see cref="Format"/>'s for all.</summary>
    public MatrixGroupSizes? GroupSizes { get; init; }

    /// <summary>The format of each of a layer's matrices.</summary>
    public LayerFormat Layers => new(Format, GroupSizes);

    /// <summary>How the model and messages name the layers' format.</summary>
    public string FormatName => Layers.ToString();
}

/// <summary>
/// Makes the INT4 model a conversion writes: every layer matrix in the requested format, sharing (not copying) the
/// matrices that already are. Weight-only recipes quantize each matrix row by row; calibrated ones (GPTQ, AWQ, SignRound, TEQ) go
/// layer by layer: the calibration windows' hidden states are carried from layer to layer (<see cref="CalibrationActivations"/>),
/// each layer's input statistics are summed over them, and the layer, once quantized, runs on them to give the next
/// layer its inputs (so each layer is tuned on the inputs it will really see). Float matrices may still be in the
/// source file (<see cref="DeferredMatrix"/>): each is read when its layer's turn comes and let go after.
/// </summary>
internal static class ModelQuantizer
{
    /// <summary>The quantized model; dispose it before its source.</summary>
    public static LanguageModel Quantize(LanguageModel model, ModelWeights weights, QuantizeRequest request, WorkerPool pool, IEngineLog log,
        CancellationToken cancellation)
    {
        var format = request.Format;
        var layerFormat = request.Layers;
        var recipe = Recipe(format, request, pool, model.Config, log, cancellation);
        int[][]? windows = recipe is null ? null : request.Calibration.Windows(model);
        if (windows is not null && request.Calibration.RequestedTokens is { } asked && windows.Length * windows[0].Length < asked)
            log.Warning($"The calibration text '{request.Calibration.Name}' gives {windows.Length} windows of {windows[0].Length} tokens " +
                        $"({windows.Length * windows[0].Length} tokens), fewer than the {asked} asked for; calibrating on those.");
        var borrowed = new HashSet<WeightMatrix>();
        var made = new List<WeightMatrix>();
        var requantized = new HashSet<string>();
        WeightMatrix ToInt4(WeightMatrix matrix, Int4Format format)
        {
            if (matrix is Int4Matrix q && SameLayout(q.Int4Format, format))
            {
                borrowed.Add(matrix);
                return matrix;
            }
            if (matrix is Int4Matrix other) requantized.Add(other.Int4Format.ToString());
            var result = new Int4Matrix(matrix.Rows, matrix.Columns, format, request.Activations);
            made.Add(result);
            var row = new float[matrix.Columns];
            for (int r = 0; r < matrix.Rows; r++)
            {
                matrix.DequantizeRow(r, row);
                result.QuantizeRow(r, row);
            }
            return result;
        }
        WeightMatrix ToQ8(WeightMatrix matrix)
        {
            var result = new Q8Matrix(matrix.Rows, matrix.Columns);
            made.Add(result);
            var row = new float[matrix.Columns];
            for (int r = 0; r < matrix.Rows; r++)
            {
                matrix.DequantizeRow(r, row);
                if (!float.IsFinite(System.Numerics.Tensors.TensorPrimitives.Sum(row)) && row.Any(v => !float.IsFinite(v)))
                    throw new ModelNumericException($"'{model.Name}''s output projection holds a value that is not finite in row {r}; it cannot be quantized to Q8_0.");
                result.QuantizeRow(r, row);
            }
            return result;
        }
        WeightMatrix Output(WeightMatrix matrix)
        {
            switch (request.Output)
            {
                // An output already in INT4 (a Q4_0 GGUF's, say) is kept: quantizing it again would only add error.
                case OutputPrecision.Int4 when matrix is not Int4Matrix:
                    return ToInt4(matrix, Int4ModelConverter.DefaultOutputFormat);
                // Nor is an INT4 or Q8_0 output made 8-bit: that would add bytes and error, and no accuracy.
                case OutputPrecision.Int8 when matrix is not (Int4Matrix or Q8Matrix):
                    if (matrix.Columns % Int4Matrix.ChunkSize == 0) return ToQ8(matrix);
                    log.Warning($"'{model.Name}''s output projection has {matrix.Columns} columns, not whole blocks of {Int4Matrix.ChunkSize}: it cannot be Q8_0 and is kept as FP16.");
                    return Edge(matrix);
                default:
                    return Edge(matrix);
            }
        }
        WeightMatrix Edge(WeightMatrix matrix)
        {
            // FP32 becomes FP16; so does a float matrix still in the source file (F16 there is copied as it is).
            if (matrix is not (Float32Matrix or DeferredMatrix))
            {
                borrowed.Add(matrix);
                return matrix;
            }
            var result = new Float16Matrix(matrix.Rows, matrix.Columns);
            made.Add(result);
            var row = new float[matrix.Columns];
            for (int r = 0; r < matrix.Rows; r++)
            {
                matrix.DequantizeRow(r, row);
                var target = result.RowSpan(r);
                for (int i = 0; i < row.Length; i++) target[i] = (Half)row[i];
            }
            return result;
        }

        try
        {
            var embedding = Edge(weights.TokenEmbedding);
            // A tied output is the embedding table itself, kept as the embedding is.
            var output = ReferenceEquals(weights.Output, weights.TokenEmbedding) ? embedding : Output(weights.Output);
            // Converted from the source file's pages, which can go now.
            foreach (var edge in new[] { weights.TokenEmbedding, weights.Output })
                if (edge is DeferredMatrix deferred) deferred.Release();
            // Until quantized, each layer is the source's own: the calibration of layer i runs the float layers after it.
            var layers = weights.Layers.ToArray();
            foreach (var layer in layers) borrowed.UnionWith(layer.Matrices);
            var quantized = new LanguageModel(model.Name, model.Path, model.Config, new ModelWeights(embedding, layers, weights.OutputNorm, output, weights.OutputNormBias, weights.OutputBias) { Borrowed = borrowed },
                model.Tokenizer, model.StoredPrecision, request.FormatName, model.FileSizeBytes, TimeSpan.Zero, storage: null) { ChatTemplateText = model.ChatTemplateText, NamedChatTemplates = model.NamedChatTemplates };
            string activity = recipe is null ? "Quantizing" : $"Quantizing ({format.Recipe}, calibrated on {windows!.Length} windows of {windows[0].Length} tokens of {request.Calibration.Name})";
            // The windows' hidden states at the current layer's input: layer i is calibrated on what the quantized
            // layers before it produce, then run quantized to produce layer i + 1's inputs.
            using var activations = recipe is null ? null : new CalibrationActivations(quantized, windows!, pool, recipe.WantsFloatModelOutputs);
            for (int i = 0; i < layers.Length; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                log.Progress(activity, $"layer {i + 1} of {layers.Length}", 100 * i / layers.Length);
                var source = weights.Layers[i];
                if (recipe is null)
                {
                    // Row by row, from memory or straight from the source file.
                    layers[i] = source.With(ToInt4(source.QueryKeyValue, layerFormat[LinearInput.QueryKeyValue]), ToInt4(source.AttentionOutput, layerFormat[LinearInput.AttentionOutput]),
                        ToInt4(source.GateUp, layerFormat[LinearInput.GateUp]), ToInt4(source.Down, layerFormat[LinearInput.Down]));
                    ReleaseFromFile(source);
                    continue;
                }
                foreach (var matrix in source.Matrices)
                    if (matrix is Int4Matrix q) requantized.Add(q.Int4Format.ToString());
                // The layer's float weights in memory while it is calibrated, and only then where they are still in the source file.
                long start = Stopwatch.GetTimestamp();
                var (l, read) = ReadIntoMemory(source);
                try
                {
                    long loaded = Stopwatch.GetTimestamp();
                    var statistics = activations!.Observe(l, cancellation);
                    long observed = Stopwatch.GetTimestamp();
                    var result = recipe.Quantize(i, l, statistics);
                    made.AddRange(result.Matrices);
                    layers[i] = result;
                    long quantizedAt = Stopwatch.GetTimestamp();
                    activations.Advance(result, cancellation);
                    log.Verbose($"Layer {i + 1} of {layers.Length}: read in {Stopwatch.GetElapsedTime(start, loaded).TotalSeconds:F1} s, inputs summed in " +
                                $"{Stopwatch.GetElapsedTime(loaded, observed).TotalSeconds:F1} s, {format.Recipe} in {Stopwatch.GetElapsedTime(observed, quantizedAt).TotalSeconds:F1} s, " +
                                $"run quantized in {Stopwatch.GetElapsedTime(quantizedAt).TotalSeconds:F1} s.");
                }
                finally
                {
                    // ReadIntoMemory has already let the source file's pages of the layer go.
                    foreach (var matrix in read) matrix.Dispose();
                }
                // The layer's sums, Hessians and factors (about 1.5 GB of arrays for a 5,632-wide input) are garbage now;
                // collected here, before the next layer allocates its own, the process holds one layer's working set
                // rather than letting the large-object heap grow over several layers' worth.
                GC.Collect();
            }
            log.Progress(activity, "done", 100);
            if (requantized.Count > 0)
                log.Warning($"'{model.Name}' holds {string.Join(", ", requantized)} weights; they are dequantized and quantized again to {request.FormatName}, " +
                            "which adds error to error. Convert from the unquantized model where you have it.");
            return quantized;
        }
        catch
        {
            foreach (var matrix in made) matrix.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="layer"/> with every matrix still in the source file (<see cref="DeferredMatrix"/>) read into
    /// memory, and the matrices so read, which the caller disposes; the layer itself where none is.
    /// </summary>
    private static (LayerWeights Layer, List<WeightMatrix> Read) ReadIntoMemory(LayerWeights layer)
    {
        var read = new List<WeightMatrix>();
        WeightMatrix Read(WeightMatrix matrix)
        {
            if (matrix is not DeferredMatrix deferred) return matrix;
            var inMemory = deferred.Read();
            read.Add(inMemory);
            // Copied: the file's pages need not stay resident beside the copy.
            deferred.Release();
            return inMemory;
        }
        try
        {
            if (!layer.Matrices.Any(m => m is DeferredMatrix)) return (layer, read);
            return (layer.With(Read(layer.QueryKeyValue), Read(layer.AttentionOutput), Read(layer.GateUp), Read(layer.Down)), read);
        }
        catch
        {
            foreach (var matrix in read) matrix.Dispose();
            throw;
        }
    }

    /// <summary>Lets the source file's pages of a quantized layer go, where its matrices were read from a mapped file.</summary>
    private static void ReleaseFromFile(LayerWeights layer)
    {
        foreach (var matrix in layer.Matrices)
            if (matrix is DeferredMatrix deferred) deferred.Release();
    }

    /// <summary>The layer recipe of a calibrated format; null for weight-only recipes.</summary>
    private static ILayerRecipe? Recipe(Int4Format format, QuantizeRequest request, WorkerPool pool, ModelConfig config, IEngineLog log, CancellationToken cancellation) => format.Recipe switch
    {
        Int4Recipe.RoundToNearest or Int4Recipe.MinimizeError => null,
        Int4Recipe.Gptq => new GptqLayerRecipe(request.Layers, request.Activations, pool, GptqLayerRecipe.Options(request.GptqActivationOrder)),
        Int4Recipe.Awq => AwqLayerRecipe.CannotFold(config) is { } why
            ? throw new QuantizationArgumentException(QuantizationProblem.RecipeNotImplemented, "Recipe",
                $"AWQ is implemented for Llama-layout models ({config.Architecture}: {why}); use Gptq, MinimizeError or RoundToNearest.")
            : new AwqLayerRecipe(request.Layers, request.Activations, pool, config),
        Int4Recipe.Teq => AwqLayerRecipe.CannotFold(config) is { } why
            ? throw new QuantizationArgumentException(QuantizationProblem.RecipeNotImplemented, "Recipe",
                $"TEQ folds its scales as AWQ does, which is implemented for Llama-layout models ({config.Architecture}: {why}); use SignRound, Gptq, MinimizeError or RoundToNearest.")
            : new TeqLayerRecipe(request.Layers, request.Activations, pool, config, log, cancellation),
        Int4Recipe.SignRound => new SignRoundLayerRecipe(request.Layers, request.Activations, pool, config, log, cancellation),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format.Recipe, "Auto chooses among recipes; it is not one itself."),
    };

    /// <summary>Same group size and symmetry: how the scales were searched does not change what a kernel reads.</summary>
    private static bool SameLayout(Int4Format a, Int4Format b) => a.GroupSize == b.GroupSize && a.Asymmetric == b.Asymmetric;
}
