using System.Text.Json;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// Scores predictions against those llama-perplexity stored with --kl-divergence-base, with the engine's own scoring
/// (the code Measure-Perplexity runs), window by window on the file's tokens:
/// <list type="bullet">
/// <item>against a second such file (llama.cpp's predictions for another model): the KL-mode figures computed from
/// llama.cpp's own numbers, to set beside what llama-perplexity --kl-divergence prints for the same pair: a check of
/// the formulas alone;</item>
/// <item>against a model file run by this engine: how far the two engines' predictions for the same file lie apart,
/// and with a text file whether this engine's tokens of the text are the file's. A window cut or a position off by
/// one would show as a KL divergence of whole nats. Here this engine's predictions are the reference, KL(LlmCpu ||
/// llama.cpp): the file keeps log-probabilities only down to 16 nats below the top one and gives every token further
/// down that floor, which as the reference's probabilities would add thousands of tokens of about e^-16 each to the
/// sum, and which as the other side's change next to nothing.</item>
/// </list>
/// One JSON line with the figures.
/// </summary>
public static class LlamaLogitsComparison
{
    public static void Run(string baseLogitsPath, string candidatePath, string? textPath, int threads)
    {
        using var reference = LlamaLogitsFile.Open(baseLogitsPath);
        int context = reference.Context, first = context / 2, rows = reference.RowsPerWindow, vocabulary = reference.Vocabulary;
        var window = new int[context];
        var stored = new float[vocabulary];        // (vocab) one position's log-probabilities from a file
        var logits = new float[rows * vocabulary]; // (rows, vocab) one window's predictions of the other side
        var scorer = new TokenScorer(vocabulary);
        var statistics = new PerplexityStatistics(reference.Windows * rows, withReference: true);
        string referenceName, candidateName;
        bool? tokensEqual = null;

        if (candidatePath.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) || Directory.Exists(candidatePath) || candidatePath.EndsWith(".llmc", StringComparison.OrdinalIgnoreCase))
        {
            using var model = BenchModels.Load(candidatePath);
            if (model.VocabularySize != vocabulary) throw new InvalidDataException($"{baseLogitsPath} has a vocabulary of {vocabulary}; {model.Name} has {model.VocabularySize}.");
            referenceName = $"{model.Name} ({model.Precision}, LlmCpu)";
            candidateName = $"{Path.GetFileName(baseLogitsPath)} (llama.cpp)";
            if (textPath != null) tokensEqual = SameTokens(model, textPath, reference.Tokens);
            using var pool = new WorkerPool(threads);
            using var session = new InferenceSession(model, pool, context);
            for (int w = 0; w < reference.Windows; w++)
            {
                reference.Tokens.AsSpan(w * context, context).CopyTo(window);
                if (model.Tokenizer.AddBosByDefault) window[0] = model.Tokenizer.BosTokenId;
                session.Reset();
                session.Prefill(window.AsSpan(0, context - 1), first, logits);
                for (int i = 0; i < rows; i++)
                {
                    reference.ReadRow(stored);
                    Add(logits.AsSpan(i * vocabulary, vocabulary), stored, w, i);
                }
            }
        }
        else
        {
            using var candidate = LlamaLogitsFile.Open(candidatePath);
            if (candidate.Context != context || candidate.Vocabulary != vocabulary || !candidate.Tokens.AsSpan().SequenceEqual(reference.Tokens))
                throw new InvalidDataException($"{candidatePath} and {baseLogitsPath} hold different windows.");
            referenceName = $"{Path.GetFileName(baseLogitsPath)} (llama.cpp)";
            candidateName = $"{Path.GetFileName(candidatePath)} (llama.cpp)";
            var row = logits.AsSpan(0, vocabulary);
            for (int w = 0; w < reference.Windows; w++)
            {
                for (int i = 0; i < rows; i++)
                {
                    reference.ReadRow(row);
                    candidate.ReadRow(stored);
                    Add(row, stored, w, i);
                }
            }
        }

        void Add(ReadOnlySpan<float> referenceRow, ReadOnlySpan<float> candidateRow, int w, int i) =>
            statistics.Add(scorer.Score(candidateRow, referenceRow, reference.Tokens[w * context + first + 1 + i]));

        var (median, p99, maximum) = statistics.KlDivergenceQuantiles();
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            reference = referenceName, candidate = candidateName, tokensEqual, windows = reference.Windows, positions = statistics.Count,
            perplexity = statistics.Perplexity, referencePerplexity = statistics.ReferencePerplexity, perplexityRatio = statistics.PerplexityRatio,
            klDivergence = statistics.KlDivergence, klDivergenceMedian = median, klDivergenceP99 = p99, klDivergenceMaximum = maximum,
            sameTopTokenRate = statistics.SameTopTokenRate, rmsProbabilityDelta = statistics.RmsProbabilityDelta,
        }));
    }

    /// <summary>Whether the model's tokens of the text, read as llama-perplexity reads -f (less one final line feed), begin with the file's.</summary>
    private static bool SameTokens(LanguageModel model, string textPath, int[] stored)
    {
        string text = File.ReadAllText(textPath);
        if (text.EndsWith('\n')) text = text[..^1];
        int[] ours = model.Tokenizer.Encode(text, model.Tokenizer.AddBosByDefault);
        return ours.Length >= stored.Length && ours.AsSpan(0, stored.Length).SequenceEqual(stored);
    }
}
