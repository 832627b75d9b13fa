using System.Numerics.Tensors;
using LlmCpu.Engine.Runtime.Sampling;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Picks the next token from logits with llama.cpp's sampler chain, in its order (common/sampling.cpp):
/// <list type="number">
/// <item>logit bias (<see cref="SamplingOptions.LogitBias"/>; negative infinity bans a token),</item>
/// <item>penalties: repeat, frequency and presence over the last <see cref="SamplingOptions.RepeatLastN"/> accepted tokens,</item>
/// <item>top-k,</item>
/// <item>typical-p,</item>
/// <item>top-p,</item>
/// <item>min-p (these four on the logits before temperature),</item>
/// <item>temperature (0: the largest remaining logit),</item>
/// <item>one seeded draw from the softmax of what is left.</item>
/// </list>
/// With a <see cref="TokenConstraint"/>, the drawn token is checked; if it is refused, every refused token is banned and
/// the chain runs again (llama.cpp's grammar sampling). All working arrays are allocated once per sampler, so sampling
/// a token allocates nothing.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private readonly float[] _work;
    private readonly Candidates _candidates;
    private readonly int[] _biasIds;
    private readonly float[] _biasValues;
    private readonly RepetitionPenalty? _penalty;
    private readonly TokenConstraint? _constraint;

    /// <exception cref="GenerationArgumentException">An option is out of range; names it.</exception>
    public Sampler(SamplingOptions options, int vocabularySize, TokenConstraint? constraint = null)
    {
        Validate(options, vocabularySize);
        _options = options;
        _constraint = constraint;
        _random = new Random(options.Seed);
        _work = new float[vocabularySize];
        _candidates = new Candidates(vocabularySize);
        _biasIds = options.LogitBias?.Keys.ToArray() ?? [];
        _biasValues = _biasIds.Select(id => options.LogitBias![id]).ToArray();
        if (!RepetitionPenalty.IsDisabled(options))
            _penalty = new RepetitionPenalty(vocabularySize, options.RepeatLastN, options.RepeatPenalty, options.FrequencyPenalty, options.PresencePenalty);
    }

    public TokenConstraint? Constraint => _constraint;

    /// <summary>Records the prompt's tokens in the penalty window (llama.cpp accepts them too; the constraint does not see them).</summary>
    public void AcceptPrompt(ReadOnlySpan<int> tokens)
    {
        if (_penalty is null) return;
        foreach (int token in tokens) _penalty.Accept(token);
    }

    /// <summary>Records a generated token: it enters the penalty window and moves the constraint on.</summary>
    public void Accept(int token)
    {
        _penalty?.Accept(token);
        _constraint?.Accept(token);
    }

    /// <summary>Draws the next token. Does not record it: call <see cref="Accept"/> with the token that is kept.</summary>
    /// <exception cref="ModelNumericException">A logit is NaN or +infinity, or every logit is -infinity: there is no distribution to draw from.</exception>
    /// <exception cref="GenerationArgumentException">The logit bias bans every token.</exception>
    public int Sample(ReadOnlySpan<float> logits)
    {
        // IndexOfMax reports the first NaN if there is one, so one pass both finds the best token and checks the logits.
        int best = TensorPrimitives.IndexOfMax(logits);
        float top = best >= 0 ? logits[best] : float.NaN;
        if (float.IsNaN(top) || float.IsInfinity(top))
            throw new ModelNumericException($"The logits hold {(float.IsNegativeInfinity(top) ? "no finite value" : top.ToString(System.Globalization.CultureInfo.InvariantCulture))}; no token can be sampled.");
        bool plainGreedy = _options.Temperature == 0 && _biasIds.Length == 0 && _penalty is null && _options.TypicalP >= 1;
        if (plainGreedy && (_constraint is null || _constraint.Allows(best))) return best;

        int token = RunChain(logits, constrained: false);
        if (_constraint is not null && !_constraint.Allows(token)) token = RunChain(logits, constrained: true);
        return token;
    }

    private int RunChain(ReadOnlySpan<float> logits, bool constrained)
    {
        var work = _work.AsSpan(0, logits.Length);
        logits.CopyTo(work);
        if (constrained)
        {
            for (int id = 0; id < work.Length; id++)
                if (!_constraint!.Allows(id)) work[id] = float.NegativeInfinity;
        }
        for (int i = 0; i < _biasIds.Length; i++) work[_biasIds[i]] += _biasValues[i];
        _penalty?.Apply(work);

        var c = _candidates;
        // Greedy without typical-p: every filter keeps the largest logit, so the chain's answer is the argmax.
        if (_options.Temperature == 0 && _options.TypicalP >= 1)
        {
            int best = TensorPrimitives.IndexOfMax(work);
            if (float.IsNegativeInfinity(work[best])) throw NothingLeft(constrained);
            return best;
        }
        c.FillFrom(work);
        if (c.Count == 0) throw NothingLeft(constrained);
        SamplerStages.TopK(c, _options.TopK);
        SamplerStages.Typical(c, _options.TypicalP);
        SamplerStages.TopP(c, _options.TopP);
        SamplerStages.MinP(c, _options.MinP);
        SamplerStages.Temperature(c, _options.Temperature);
        // One uniform number per draw, whatever is left, as llama.cpp's dist sampler does: the sequence of draws
        // depends only on the seed and the number of tokens sampled.
        return SamplerStages.Draw(c, _random.NextDouble());
    }

    private static Exception NothingLeft(bool constrained) => constrained
        ? new GenerationArgumentException("Format", "No token can continue the constrained output: the logit bias bans every token the format allows.")
        : new GenerationArgumentException("LogitBias", "The logit bias bans every token; there is nothing left to sample.");

    private static void Validate(SamplingOptions o, int vocabularySize)
    {
        if (!(o.Temperature >= 0) || float.IsInfinity(o.Temperature)) throw new GenerationArgumentException(nameof(o.Temperature), "Temperature must be 0 or more.");
        if (o.TopK < 0) throw new GenerationArgumentException(nameof(o.TopK), "TopK must be 0 or more.");
        if (!(o.TopP >= 0 && o.TopP <= 1)) throw new GenerationArgumentException(nameof(o.TopP), "TopP must be in [0, 1].");
        if (!(o.MinP >= 0 && o.MinP <= 1)) throw new GenerationArgumentException(nameof(o.MinP), "MinP must be in [0, 1].");
        if (!(o.TypicalP >= 0 && o.TypicalP <= 1)) throw new GenerationArgumentException(nameof(o.TypicalP), "TypicalP must be in [0, 1].");
        if (!(o.RepeatPenalty > 0) || !float.IsFinite(o.RepeatPenalty)) throw new GenerationArgumentException(nameof(o.RepeatPenalty), "RepeatPenalty must be finite and above 0.");
        if (o.RepeatLastN < -1) throw new GenerationArgumentException(nameof(o.RepeatLastN), "RepeatLastN must be -1 (all tokens), 0 (off) or more.");
        if (!float.IsFinite(o.PresencePenalty)) throw new GenerationArgumentException(nameof(o.PresencePenalty), "PresencePenalty must be finite.");
        if (!float.IsFinite(o.FrequencyPenalty)) throw new GenerationArgumentException(nameof(o.FrequencyPenalty), "FrequencyPenalty must be finite.");
        foreach (var (id, bias) in o.LogitBias ?? new Dictionary<int, float>())
        {
            if ((uint)id >= (uint)vocabularySize)
                throw new GenerationArgumentException(nameof(o.LogitBias), $"LogitBias names token {id}; the vocabulary has ids 0 to {vocabularySize - 1}.");
            // +infinity would turn a banned (-infinity) logit into NaN and make every other token impossible.
            if (float.IsNaN(bias) || float.IsPositiveInfinity(bias))
                throw new GenerationArgumentException(nameof(o.LogitBias), $"The bias of token {id} is {bias}; a bias must be finite or negative infinity.");
        }
    }
}
