using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>
/// A conversation with a model that keeps its KV cache between turns: each <see cref="Send"/> runs only what is new
/// (the markers closing the last reply, the new user message and the prompt for the reply), and the reply's tokens
/// stay in the cache as they were generated. The conversation's tokens are kept beside the cache, so a turn that is
/// stopped (cancellation) or fails leaves the session as it was before the turn. Dispose releases the cache.
/// Thread-safe: turns from several threads run one at a time.
/// </summary>
public sealed class ChatSession : IDisposable
{
    private readonly LanguageModel _model;
    private readonly ChatTemplate _template;
    private readonly ChatPromptEncoder _encoder;
    private readonly TextGenerator _generator;
    private readonly IDisposable? _poolLease;
    private readonly object _gate = new();
    private readonly List<int> _tokens = [];            // the conversation; the first _session.Position are in the cache
    private readonly List<ChatMessage> _messages = [];
    private InferenceSession? _session;
    private int _openingTokens;                         // tokens of the opening (BOS, system prompt) at the conversation's start
    private bool _afterSpecial = true;                  // the conversation so far is empty or ends with a special token
    private bool _replyOpen;                            // the last reply's closing markers are not in _tokens yet
    private bool _disposed;

    /// <param name="template">The chat format; null recognises the model's own template (<see cref="LanguageModel.ChatTemplateText"/>).</param>
    /// <param name="contextLength">Positions the conversation may fill, rounded up to <see cref="InferenceSession.CapacityGrain"/>
    /// and capped at the model's context; null takes the model's whole context.</param>
    /// <param name="pool">Worker threads for every turn; the shared pool by default.</param>
    /// <param name="poolLease">Disposed with the session (whoever lent <paramref name="pool"/>).</param>
    /// <param name="templateName">Which of the model's own templates to recognise, when no <paramref name="template"/> is
    /// given: "default" (the default) or one of <see cref="LanguageModel.NamedChatTemplates"/> ("tool_use", "rag").</param>
    /// <exception cref="ChatTemplateUnknownException">No template was given and the model's is none of <see cref="ChatTemplateKind"/>.</exception>
    /// <exception cref="ChatTemplateNotFoundException">The model has no template named <paramref name="templateName"/>.</exception>
    /// <exception cref="ArgumentException">Both a template and a template name were given.</exception>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public ChatSession(LanguageModel model, ChatTemplateKind? template = null, string? systemPrompt = null, int? contextLength = null,
        WorkerPool? pool = null, IDisposable? poolLease = null, string? templateName = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (template != null && templateName != null)
            throw new ArgumentException("Give a chat format or the name of one of the model's chat templates, not both.", nameof(templateName));
        _model = model;
        string? ownTemplate = template == null ? ModelChatTemplate.Text(model, templateName) : null;
        var kind = template ?? ChatTemplateDetector.Detect(ownTemplate)
            ?? throw new ChatTemplateUnknownException(model.Name, ownTemplate != null, ModelChatTemplate.Names(model));
        TemplateFromModel = template == null;
        TemplateName = template == null ? templateName ?? ChatTemplateFiles.DefaultName : null;
        _template = ChatTemplate.For(kind);
        // A template recognised from the model that writes a default system message (Qwen2's) gets it, as the model
        // would see it under its own template; a given template or system prompt is taken as it is.
        SystemPrompt = systemPrompt ?? (template == null ? ChatTemplateDetector.DefaultSystemPrompt(ownTemplate) : null);
        _encoder = ChatPromptEncoder.For(model);
        _generator = new TextGenerator(model, pool);
        // The session (its block table, and a reference to the weights) is made now, so a disposed model fails here, not
        // at the first turn; cache blocks come from the model's pool as the conversation reaches them.
        _session = new InferenceSession(model, pool ?? WorkerPool.Shared, contextLength);
        Capacity = _session.Capacity;
        _poolLease = poolLease;
    }

    public string ModelName => _model.Name;

    /// <summary>The model (a method, not a property, so that piping a session never binds it where a model is asked for).</summary>
    public LanguageModel GetModel() => _model;

    public ChatTemplateKind Template => _template.Kind;

    /// <summary>
    /// When a message does not fit in what is left of the context, keep the first <see cref="KeepTokens"/> tokens, drop
    /// the older half of the rest from the cache (<see cref="InferenceSession.ShiftContext"/>) and go on, instead of
    /// throwing <see cref="ChatContextFullException"/>; a reply that fills the context shifts it the same way and goes
    /// on (models without a sliding window). <see cref="Messages"/> keeps every message.
    /// </summary>
    public bool ContextShift { get; init; }

    /// <summary>Tokens a context shift keeps; null keeps the conversation's opening (BOS and the system prompt).</summary>
    public int? KeepTokens { get; init; }

    /// <summary>Context shifts so far.</summary>
    public int Shifts { get; private set; }

    /// <summary>Whether <see cref="Template"/> was recognised from the model's own chat template rather than given.</summary>
    public bool TemplateFromModel { get; }

    /// <summary>The name of the model's own template <see cref="Template"/> was recognised from ("default", "tool_use"); null when the format was given.</summary>
    public string? TemplateName { get; }

    public string? SystemPrompt { get; }

    /// <summary>The conversation so far: the system prompt (if any), then user messages and replies in turn.</summary>
    public IReadOnlyList<ChatMessage> Messages
    {
        get
        {
            // An array, not a collection expression's read-only wrapper: PowerShell indexes arrays ($s.Messages[0]).
            lock (_gate)
                return SystemPrompt == null ? _messages.ToArray() : [new ChatMessage(ChatRole.System, SystemPrompt), .. _messages];
        }
    }

    /// <summary>Exchanges completed: user messages answered.</summary>
    public int Turns { get { lock (_gate) return _messages.Count / 2; } }

    /// <summary>Tokens of the conversation so far (context used); the next turn adds its own to these.</summary>
    public int TokenCount { get { lock (_gate) return _tokens.Count; } }

    /// <summary>Positions the conversation may fill.</summary>
    public int Capacity { get; }

    /// <summary>The conversation's token ids, as run through the model.</summary>
    public IReadOnlyList<int> TokenIds { get { lock (_gate) return _tokens.ToArray(); } }

    public bool IsDisposed => Volatile.Read(ref _disposed);

    /// <summary>
    /// Sends <paramref name="message"/> as the user's next message and generates the reply. Only the tokens the cache
    /// does not hold yet are run: <see cref="GenerationResult.PromptTokens"/> counts them, <see cref="GenerationResult.CachedTokens"/>
    /// the ones reused. Cancelled (the result's <see cref="StopReason.Cancelled"/>) or failed, the turn leaves no trace.
    /// </summary>
    /// <exception cref="ChatContextFullException">The message does not fit in what is left of the context.</exception>
    /// <exception cref="ChatSessionDisposedException">The session was disposed.</exception>
    /// <exception cref="ObjectDisposedException">The model was disposed; the session releases its cache.</exception>
    public GenerationResult Send(string message, GenerationOptions options, CancellationToken cancellation = default,
        Action<GenerationPiece>? onPiece = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(options);
        lock (_gate)
        {
            if (_disposed) throw new ChatSessionDisposedException();
            if (_model.IsDisposed)
            {
                ReleaseCache();
                throw new ObjectDisposedException(_model.Name, $"The model {_model.Name} was removed; its chat session cannot go on. Load the model again and start a new session.");
            }
            var session = _session ?? throw new ChatSessionDisposedException();

            var turn = new List<int>();
            bool after = _afterSpecial;
            if (_replyOpen) after = _encoder.Encode(_template.ReplyEnd(), turn, after);
            bool first = _messages.Count == 0;
            if (first)
            {
                after = _encoder.Encode(_template.Opening(SystemPrompt), turn, after);
                _openingTokens = turn.Count;
            }
            after = _encoder.Encode(_template.UserMessage(message, first, SystemPrompt), turn, after);
            after = _encoder.Encode(_template.GenerationPrompt(), turn, after);
            // At least one position must be left for the reply.
            if (_tokens.Count + turn.Count >= Capacity && !TryShift(session, turn.Count))
                throw new ChatContextFullException(_tokens.Count, turn.Count, Capacity);

            int before = session.Position;
            // A reply that fills the context shifts it as a turn that does not fit does; the shifts are replayed on the
            // tokens kept beside the cache, which must match it.
            bool shiftInReply = ContextShift && _model.Config.SlidingWindow == null;
            var replyOptions = shiftInReply ? options with { ContextShift = true, KeepTokens = KeepTokens ?? _openingTokens } : options with { ContextShift = false };
            var replyShifts = new List<(int Keep, int Discard)>();
            GenerationResult result;
            try
            {
                result = _generator.Continue(session, [.. _tokens, .. turn], message, replyOptions, cancellation, onPiece,
                    onShift: (keep, discard) => replyShifts.Add((keep, discard)));
            }
            catch
            {
                RollBack(session, before, replyShifts.Count > 0);
                throw;
            }
            if (result.StopReason == StopReason.Cancelled)
            {
                RollBack(session, before, replyShifts.Count > 0);
                return result;
            }

            _tokens.AddRange(turn);
            _tokens.AddRange(result.TokenIds);
            // Each shift dropped positions of the conversation as it stood then; later tokens only came after them.
            foreach (var (keep, discard) in replyShifts) _tokens.RemoveRange(keep, discard);
            Shifts += replyShifts.Count;
            _afterSpecial = result.TokenIds.Count > 0 ? _model.Tokenizer.TokenTable.IsSpecial(result.TokenIds[^1]) : after;
            _replyOpen = true;
            string reply = _template.ReplyMessage(result.Text);
            _messages.Add(new ChatMessage(ChatRole.User, message));
            _messages.Add(new ChatMessage(ChatRole.Assistant, reply));
            return result;
        }
    }

    /// <summary>
    /// With <see cref="ContextShift"/>, drops the older half of the conversation after the kept tokens, from the cache
    /// and from the tokens beside it, if that makes room for a turn of <paramref name="turnTokens"/>.
    /// </summary>
    private bool TryShift(InferenceSession session, int turnTokens)
    {
        if (!ContextShift || _model.Config.SlidingWindow != null) return false;
        // An empty cache beside a conversation (a reply stopped after it had shifted the cache): the tokens alone are
        // shifted, and the turn runs what is kept again.
        bool cached = session.Position > 0 || _tokens.Count == 0;
        int held = cached ? session.Position : _tokens.Count;
        int keep = Math.Min(KeepTokens ?? _openingTokens, held);
        int discard = (held - keep) / 2;
        if (discard < 1 || _tokens.Count - discard + turnTokens >= Capacity) return false;
        if (cached) session.ShiftContext(keep, discard);
        _tokens.RemoveRange(keep, discard);
        Shifts++;
        return true;
    }

    /// <summary>
    /// Puts the cache back where the turn began. A sliding-window cache gives the blocks that fall out of the window
    /// back to the pool: when the turn wrote few enough positions that the window before its start is still held, it is
    /// rewound like any other. When the turn's positions pushed blocks of that window out, the cache starts again
    /// empty and the next turn runs the kept conversation into it. Running less would not be exact: a position's keys
    /// in layer l depend on the l - 1 windows of positions before it, so computing the lost window again takes about
    /// layers x window positions before it, run with nothing earlier in view (which the cache cannot do); for the
    /// models that use a window (Mistral 7B v0.1: 32 layers, a window of 4,096) that reaches back past the start of
    /// any conversation their context of 32,768 holds.
    /// </summary>
    private static void RollBack(InferenceSession session, int position, bool shifted)
    {
        // After a shift the cache's positions no longer match the conversation's before the turn: it is let go, and the
        // next turn runs the conversation again.
        if (shifted || session.Position < position || !session.TryRewind(position)) session.Reset();
    }

    private void ReleaseCache()
    {
        _session?.Dispose();
        _session = null;
    }

    /// <summary>Releases the cache (and the worker pool lease); the conversation can no longer go on. A second call does nothing.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            Volatile.Write(ref _disposed, true);
            ReleaseCache();
            _poolLease?.Dispose();
        }
    }

    public override string ToString() => $"{ModelName} chat ({Template}, {Turns} turns, {TokenCount}/{Capacity} tokens)";
}
