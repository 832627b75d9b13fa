using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime.Sampling;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// What one generation keeps between tokens (its sampler, streaming text, stop rules and the tokens so far) and the
/// step from one token's logits to the next token or a stop. <see cref="TextGenerator"/> runs one on a session;
/// <see cref="BatchedGenerator"/> runs many side by side, one per sequence of a batch, so both stop and sample alike.
/// </summary>
internal sealed class SequenceGeneration
{
    private readonly LanguageModel _model;
    private readonly GenerationOptions _options;
    private readonly int[] _promptIds;
    private readonly int _cached;
    private readonly string _prompt;
    private readonly Action<GenerationPiece>? _onPiece;
    private readonly int _contextLimit;
    private readonly int _promptIndex;
    private readonly JsonConstraint? _constraint;
    private readonly Sampler _sampler;
    private readonly StreamingDecoder _decoder;
    private readonly StopSequenceMatcher _stops;
    private readonly bool _textPerToken;
    private readonly TokenProbabilities? _probabilities;
    private readonly List<SampledToken>? _sampled;
    private readonly List<int> _generated;
    private int _released;        // characters of the text handed to the listener
    private int _stopAt = -1;     // where a stop string starts in the text
    private string? _stopString;

    /// <param name="promptIds">The whole sequence so far; the sampler's penalties and the decoder's text see all of it.</param>
    /// <param name="cached">Tokens of <paramref name="promptIds"/> already in the cache (not run again).</param>
    /// <param name="contextLimit">Positions the sequence may fill; the step before the cache would hold more stops with <see cref="StopReason.ContextFull"/>.</param>
    /// <param name="promptIndex">The request's place in a batch, carried by its pieces.</param>
    public SequenceGeneration(LanguageModel model, int[] promptIds, int cached, string prompt, GenerationOptions options,
        Action<GenerationPiece>? onPiece, int contextLimit, int promptIndex = 0)
    {
        _promptIndex = promptIndex;
        _model = model;
        _options = options;
        _promptIds = promptIds;
        _cached = cached;
        _prompt = prompt;
        _onPiece = onPiece;
        _contextLimit = contextLimit;
        _constraint = options.Format == GenerationFormat.Json ? new JsonConstraint(model.Tokenizer.TokenTable) : null;
        _sampler = new Sampler(options.Sampling, model.VocabularySize, _constraint);
        _sampler.AcceptPrompt(promptIds);
        _decoder = new StreamingDecoder(model.Tokenizer, promptIds, options.MaxTokens);
        _stops = new StopSequenceMatcher(options.StopSequences);
        // Text is decoded per token only when someone reads it (a listener, stop strings); otherwise once at the end,
        // keeping the loop allocation-free. Stop strings are matched without allocating either.
        _textPerToken = onPiece != null || !_stops.IsEmpty;
        bool describe = options.IncludeTokens || options.TopProbabilities > 0;
        _probabilities = describe ? new TokenProbabilities(model.VocabularySize, options.TopProbabilities, model.Tokenizer.TokenTable) : null;
        _sampled = describe ? new List<SampledToken>(options.MaxTokens) : null;
        _generated = new List<int>(options.MaxTokens);
    }

    /// <summary>The tokens to run before the first sample: the sequence past what the cache holds.</summary>
    public ReadOnlySpan<int> PromptToRun => _promptIds.AsSpan(_cached);

    /// <summary>Whether another token may be sampled (the token limit is not reached).</summary>
    public bool WantsToken => _generated.Count < _options.MaxTokens;

    /// <summary>The token sampled by the last <see cref="Step"/> that returned true: the next one to run.</summary>
    public int NextToken { get; private set; }

    public StopReason Reason { get; private set; } = StopReason.MaxTokens;

    /// <summary>
    /// Called when the cache is full before the next token: true if it made room (a context shift), false to stop with
    /// <see cref="StopReason.ContextFull"/>. Null: always stop.
    /// </summary>
    public Func<bool>? MakeRoom { get; init; }

    /// <summary>Times <see cref="MakeRoom"/> made room.</summary>
    public int ContextShifts { get; private set; }

    public void Cancel() => Reason = StopReason.Cancelled;

    /// <summary>
    /// The cache cannot take the next token (a batch's pool has no free block for it): the sequence ends as it does
    /// when it reaches its context, keeping what it generated.
    /// </summary>
    public void OutOfCache() => Reason = StopReason.ContextFull;

    /// <summary>
    /// Samples a token from <paramref name="logits"/> and applies every stop rule. True: the token is kept and is to be
    /// run next (<see cref="NextToken"/>); false: the generation is over (<see cref="Reason"/> says why).
    /// </summary>
    /// <param name="position">Tokens the sequence's cache holds now.</param>
    public bool Step(ReadOnlySpan<float> logits, int position)
    {
        int next = _sampler.Sample(logits);
        if (_options.StopAtEos && _model.Config.EosTokenIds.Contains(next)) { Reason = StopReason.EndOfSequence; return false; }
        _sampled?.Add(_probabilities!.Describe(logits, next));
        _generated.Add(next);
        _sampler.Accept(next);
        if (_textPerToken)
        {
            int searched = _decoder.Completed.Length;
            _decoder.AppendToken(next);
            var text = _decoder.Completed;
            int safe = text.Length;
            if (!_stops.IsEmpty)
            {
                (_stopAt, _stopString) = _stops.Find(text, searched);
                safe = _stopAt >= 0 ? _stopAt : text.Length - _stops.HeldBack(text);
            }
            if (_onPiece != null)
            {
                safe = Math.Max(safe, _released);
                _onPiece(new GenerationPiece(new string(text[_released..safe]), next, _generated.Count - 1) { PromptIndex = _promptIndex });
                _released = safe;
            }
            if (_stopAt >= 0) { Reason = StopReason.StopSequence; return false; }
        }
        if (_constraint?.IsComplete == true) { Reason = StopReason.EndOfSequence; return false; }
        if (_generated.Count == _options.MaxTokens) return false;
        if (position >= _contextLimit)
        {
            if (MakeRoom?.Invoke() != true) { Reason = StopReason.ContextFull; return false; }
            ContextShifts++;
        }
        NextToken = next;
        return true;
    }

    /// <summary>The result; releases text still held back to the listener first.</summary>
    /// <param name="prefilled">Whether the prompt was run; if not, nothing was generated and the generation time is zero.</param>
    public GenerationResult Finish(TimeSpan promptTime, TimeSpan generationTime, bool prefilled)
    {
        if (!_textPerToken) _decoder.AppendRange(_generated);
        string answer = _stopAt >= 0 ? new string(_decoder.Completed[.._stopAt]) : _decoder.Text;
        // Text held back as the possible start of a stop string (or an unfinished character) belongs to the answer after all.
        if (_onPiece != null && answer.Length > _released) _onPiece(new GenerationPiece(answer[_released..], -1, _generated.Count) { PromptIndex = _promptIndex });
        return new GenerationResult
        {
            Prompt = _prompt,
            Text = answer,
            PromptTokens = _promptIds.Length - _cached,
            CachedTokens = _cached,
            GeneratedTokens = _generated.Count,
            StopReason = Reason,
            ContextShifts = ContextShifts,
            StopSequence = _stopString,
            PromptTime = promptTime,
            GenerationTime = prefilled ? generationTime : TimeSpan.Zero,
            Seed = _options.Sampling.Seed,
            Model = _model.Name,
            TokenIds = _generated,
            Tokens = _sampled,
        };
    }
}
