using System.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Many prompts at once: up to <see cref="MaxBatch"/> sequences decode side by side, and each decode step of all of
/// them is one forward pass over the weights (a product of as many token rows as sequences, not one product per
/// sequence), so the weights are read once for all. Continuous batching: when a sequence finishes, its slot takes the
/// next waiting prompt at once; that prompt's tokens run as a step of their own (in chunks of
/// <see cref="InferenceSession.MaxChunk"/>), then it joins the decode steps. Each sequence keeps its own cache,
/// position, sampler (seeded from its own options), stop rules and token limit, so its tokens are the ones
/// <see cref="TextGenerator"/> generates for the same prompt and options alone.
/// Everything a step needs is allocated when a batch starts; a step allocates nothing beyond what a single generation
/// does per token (text only when a listener or stop strings read it). Not thread-safe; one batch at a time.
/// </summary>
public sealed class BatchedGenerator
{
    /// <summary>The most sequences one pass can hold: a pass's token rows are bounded by the session's buffers.</summary>
    public const int MaxBatchLimit = InferenceSession.MaxChunk;

    private readonly WorkerPool _pool;
    private readonly TextGenerator _single;

    /// <param name="maxBatch">Sequences decoded at once, 1 to <see cref="MaxBatchLimit"/>; 1 runs the requests one after another.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBatch"/> is outside 1 .. <see cref="MaxBatchLimit"/>.</exception>
    public BatchedGenerator(LanguageModel model, int maxBatch = 8, WorkerPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxBatch, MaxBatchLimit);
        Model = model;
        MaxBatch = maxBatch;
        _pool = pool ?? WorkerPool.Shared;
        _single = new TextGenerator(model, _pool);
    }

    public LanguageModel Model { get; }

    public int MaxBatch { get; }

    /// <summary>Runs every request and returns the outcomes in the order of the requests.</summary>
    /// <inheritdoc cref="Generate(IReadOnlyList{GenerationRequest}, Action{BatchedOutcome}, CancellationToken, Action{GenerationPiece}?)"/>
    public IReadOnlyList<BatchedOutcome> Generate(IReadOnlyList<GenerationRequest> requests, CancellationToken cancellation = default,
        Action<GenerationPiece>? onPiece = null)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var outcomes = new BatchedOutcome[requests.Count];
        Generate(requests, outcome => outcomes[outcome.Index] = outcome, cancellation, onPiece);
        return outcomes;
    }

    /// <summary>
    /// Runs every request, at most <see cref="MaxBatch"/> at once, and hands each outcome to
    /// <paramref name="onFinished"/> as soon as its request ends (on the calling thread; requests that fail their checks
    /// first). Cancellation is not an error: the sequences in flight stop within one layer's time and report what they
    /// generated, with <see cref="StopReason.Cancelled"/>; requests not yet started report it too, with no tokens.
    /// </summary>
    /// <param name="onPiece">Called on the calling thread for every generated token of every request, as
    /// <see cref="TextGenerator.Generate"/> calls it; <see cref="GenerationPiece.PromptIndex"/> names the request.</param>
    /// <exception cref="ObjectDisposedException">The model has been disposed.</exception>
    public void Generate(IReadOnlyList<GenerationRequest> requests, Action<BatchedOutcome> onFinished, CancellationToken cancellation = default,
        Action<GenerationPiece>? onPiece = null)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(onFinished);
        // Each request is checked and tokenized first; one that fails ends alone, before the others start.
        var prepared = new (int[] PromptIds, int Context)[requests.Count];
        var waiting = new Queue<int>(requests.Count);
        int capacity = 0;
        for (int i = 0; i < requests.Count; i++)
        {
            try
            {
                var request = requests[i] ?? throw new GenerationArgumentException(nameof(requests), $"Request {i} is null.");
                prepared[i] = _single.Prepare(request.Prompt, request.Options);
                waiting.Enqueue(i);
                // Every sequence's cache holds the longest request's prompt plus answer: one shape, so any slot takes any request.
                capacity = (int)Math.Max(capacity, Math.Min((long)prepared[i].PromptIds.Length + request.Options.MaxTokens, prepared[i].Context));
            }
            catch (GenerationArgumentException ex)
            {
                onFinished(new BatchedOutcome(i, requests[i], null, ex));
            }
        }
        if (waiting.Count == 0) return;
        using var batch = new Batch(this, requests, prepared, waiting, capacity, Math.Min(MaxBatch, waiting.Count), onFinished, onPiece);
        batch.Run(cancellation);
    }

    /// <summary>One call's sequences: the slots, their caches and the step buffers, allocated once for the whole call.</summary>
    private sealed class Batch : IDisposable
    {
        private readonly BatchedGenerator _owner;
        private readonly IReadOnlyList<GenerationRequest> _requests;
        private readonly (int[] PromptIds, int Context)[] _prepared;
        private readonly Queue<int> _waiting;
        private readonly Action<BatchedOutcome> _onFinished;
        private readonly Action<GenerationPiece>? _onPiece;
        private readonly InferenceSession _session;
        private readonly Slot[] _slots;
        private readonly int _vocab;
        private readonly float[] _logits;                // (slots, vocab) logits of each step's sequences
        private readonly int[] _stepTokens;              // (slots) the token each sequence runs in a step
        private readonly ForwardSegment[] _stepSegments; // (slots) one segment of one token per sequence
        private readonly int[] _stepSlots;               // (slots) which slot each row of a step is

        public Batch(BatchedGenerator owner, IReadOnlyList<GenerationRequest> requests, (int[] PromptIds, int Context)[] prepared, Queue<int> waiting,
            int capacity, int slots, Action<BatchedOutcome> onFinished, Action<GenerationPiece>? onPiece)
        {
            _owner = owner;
            _requests = requests;
            _prepared = prepared;
            _waiting = waiting;
            _onFinished = onFinished;
            _onPiece = onPiece;
            _session = new InferenceSession(owner.Model, owner._pool, capacity);
            _slots = new Slot[slots];
            try
            {
                // The session's own cache is the first slot's; the others rent caches of the same shape.
                for (int s = 0; s < slots; s++) _slots[s] = new Slot(s == 0 ? _session.Cache : _session.RentCache());
            }
            catch
            {
                Dispose();
                throw;
            }
            _vocab = owner.Model.VocabularySize;
            _logits = new float[(long)slots * _vocab];
            _stepTokens = new int[slots];
            _stepSegments = new ForwardSegment[slots];
            _stepSlots = new int[slots];
        }

        public void Run(CancellationToken cancellation)
        {
            while (true)
            {
                // Continuous batching: every free slot takes the next waiting request before the next step.
                for (int s = 0; s < _slots.Length && _waiting.Count > 0; s++)
                {
                    while (_slots[s].Run == null && _waiting.Count > 0) Start(s, _waiting.Dequeue(), cancellation);
                }
                int rows = 0;
                for (int s = 0; s < _slots.Length; s++)
                {
                    var slot = _slots[s];
                    if (slot.Run == null) continue;
                    _stepTokens[rows] = slot.Run.NextToken;
                    _stepSegments[rows] = new ForwardSegment(slot.Cache, slot.Position, 1);
                    _stepSlots[rows] = s;
                    rows++;
                }
                if (rows == 0) return;
                Step(rows, cancellation);
            }
        }

        /// <summary>One decode step: one token of each active sequence in one pass, then each samples its next token or ends.</summary>
        private void Step(int rows, CancellationToken cancellation)
        {
            try
            {
                _session.Forward(_stepTokens.AsSpan(0, rows), _stepSegments.AsSpan(0, rows), _logits, cancellation);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                for (int r = 0; r < rows; r++) Cancel(_stepSlots[r]);
                return;
            }
            catch (ModelNumericException ex)
            {
                // The step's rows share every product, so which sequence went wrong is not known: all of them end.
                for (int r = 0; r < rows; r++) Fail(_stepSlots[r], ex);
                return;
            }
            for (int r = 0; r < rows; r++)
            {
                int s = _stepSlots[r];
                var slot = _slots[s];
                slot.Position++;
                if (cancellation.IsCancellationRequested) Cancel(s);
                else if (!slot.Run!.Step(_logits.AsSpan(r * _vocab, _vocab), slot.Position)) Finish(s);
            }
        }

        /// <summary>Starts request <paramref name="index"/> in slot <paramref name="s"/>: its prompt as a step of its own, then its first token.</summary>
        private void Start(int s, int index, CancellationToken cancellation)
        {
            var slot = _slots[s];
            var request = _requests[index];
            var (promptIds, context) = _prepared[index];
            var run = new SequenceGeneration(_owner.Model, promptIds, 0, request.Prompt, request.Options, _onPiece,
                Math.Min(_session.Capacity, context), index);
            slot.Begin(index, run);
            if (cancellation.IsCancellationRequested)
            {
                Cancel(s);
                return;
            }
            try
            {
                var prompt = run.PromptToRun;
                for (int start = 0; start < prompt.Length; start += InferenceSession.MaxChunk)
                {
                    int count = Math.Min(InferenceSession.MaxChunk, prompt.Length - start);
                    bool last = start + count == prompt.Length;
                    _session.Forward(prompt.Slice(start, count), [new ForwardSegment(slot.Cache, start, count)],
                        last ? _logits.AsSpan(0, _vocab) : Span<float>.Empty, cancellation);
                }
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                Cancel(s);
                return;
            }
            catch (ModelNumericException ex)
            {
                Fail(s, ex);
                return;
            }
            slot.Position = run.PromptToRun.Length;
            slot.Prefilled();
            if (!run.WantsToken || !run.Step(_logits.AsSpan(0, _vocab), slot.Position)) Finish(s);
        }

        private void Cancel(int s)
        {
            _slots[s].Stopped();
            _slots[s].Run!.Cancel();
            Finish(s);
        }

        private void Finish(int s)
        {
            var slot = _slots[s];
            var result = slot.Run!.Finish(slot.PromptTime, slot.GenerationTime, slot.IsPrefilled);
            int index = slot.End();
            _onFinished(new BatchedOutcome(index, _requests[index], result, null));
        }

        private void Fail(int s, Exception error)
        {
            int index = _slots[s].End();
            _onFinished(new BatchedOutcome(index, _requests[index], null, error));
        }

        public void Dispose()
        {
            for (int s = 1; s < _slots.Length; s++)
            {
                if (_slots[s] != null) _session.ReturnCache(_slots[s].Cache);
            }
            _session.Dispose();
        }
    }

    /// <summary>A place for one sequence in a batch: its block table (kept across the requests it runs, its blocks given back between them), position, generation and clock.</summary>
    private sealed class Slot(KvCache cache)
    {
        private readonly Stopwatch _clock = new();
        private int _index = -1;

        public KvCache Cache { get; } = cache;

        /// <summary>Tokens the cache holds for the request in the slot.</summary>
        public int Position { get; set; }

        /// <summary>The request in the slot; null when the slot is free.</summary>
        public SequenceGeneration? Run { get; private set; }

        public bool IsPrefilled { get; private set; }

        public TimeSpan PromptTime { get; private set; }

        public TimeSpan GenerationTime => IsPrefilled ? _clock.Elapsed : TimeSpan.Zero;

        public void Begin(int index, SequenceGeneration run)
        {
            _index = index;
            Run = run;
            Position = 0;
            IsPrefilled = false;
            PromptTime = TimeSpan.Zero;
            _clock.Restart();
        }

        /// <summary>The prompt has run: its time is the prompt time, and the generation time starts.</summary>
        public void Prefilled()
        {
            PromptTime = _clock.Elapsed;
            IsPrefilled = true;
            _clock.Restart();
        }

        /// <summary>Stopped before the prompt had run: the time so far was prompt time.</summary>
        public void Stopped()
        {
            if (!IsPrefilled) PromptTime = _clock.Elapsed;
        }

        /// <summary>Frees the slot; returns the index of the request that was in it.</summary>
        /// <summary>The slot is free again; its cache blocks go back to the model's pool for other sequences.</summary>
        public int End()
        {
            int index = _index;
            Cache.ReleaseFrom(0);
            Run = null;
            _index = -1;
            return index;
        }
    }
}
