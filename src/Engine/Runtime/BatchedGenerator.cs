using System.Diagnostics;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Many prompts at once: up to <see cref="MaxBatch"/> sequences decode side by side, and each decode step of all of
/// them is one forward pass over the weights (a product of as many token rows as sequences, not one product per
/// sequence), so the weights are read once for all. Continuous batching: when a sequence finishes, its slot takes the
/// next waiting prompt at once; that prompt's tokens ride in the next steps beside the other sequences' decode tokens
/// (as many as the pass has rows left, up to <see cref="InferenceSession.MaxChunk"/> in all), so the weights are read
/// once for both, and then it joins the decode steps. Every row of a product is computed as it is alone, so how a
/// prompt is cut into chunks and what shares its steps does not change its tokens. Each sequence keeps its own cache,
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

    /// <summary>The passes of the last <see cref="Generate(IReadOnlyList{GenerationRequest}, Action{BatchedOutcome}, CancellationToken, Action{GenerationPiece}?)"/> call.</summary>
    public BatchStepCounts StepCounts { get; } = new();

    /// <summary>Stage timings of every forward pass of the batches run while set (for profiling); null, the default, costs nothing.</summary>
    public ForwardTimings? Timings { get; set; }

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
        StepCounts.Reset();
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

    /// <summary>
    /// One call's sequences: the slots, their caches and the step buffers, allocated once for the whole call. A step is
    /// one forward pass holding, in this order, one token of every decoding sequence and then chunks of the prompts that
    /// have just taken a place, as many prompt tokens as the pass has rows left (<see cref="InferenceSession.MaxChunk"/>
    /// in all): a new prompt runs while the others keep decoding, instead of in passes of its own while they wait.
    /// KV cache blocks come from the model's pool, which other sequences and sessions share: a prompt takes a place only
    /// when the pool holds its whole prompt (it waits while the batch's sequences hold the blocks it needs); a sequence
    /// whose next token finds no free block ends alone, as at a full context (<see cref="StopReason.ContextFull"/>,
    /// reported in <see cref="BatchedOutcome.CacheShortage"/>), and the others go on.
    /// </summary>
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
        private readonly float[] _logits;                // (slots, vocab) logits of each step's segments that want them
        private readonly int[] _stepTokens;              // (MaxChunk) the tokens of a step, segment after segment
        private readonly ForwardSegment[] _stepSegments; // (slots) at most one segment per sequence in a step
        private readonly int[] _stepSlots;               // (slots) which slot each segment of a step is
        private int _decodeRows;                         // rows of the planned step that are decode tokens (the first ones)

        public Batch(BatchedGenerator owner, IReadOnlyList<GenerationRequest> requests, (int[] PromptIds, int Context)[] prepared, Queue<int> waiting,
            int capacity, int slots, Action<BatchedOutcome> onFinished, Action<GenerationPiece>? onPiece)
        {
            _owner = owner;
            _requests = requests;
            _prepared = prepared;
            _waiting = waiting;
            _onFinished = onFinished;
            _onPiece = onPiece;
            _session = new InferenceSession(owner.Model, owner._pool, capacity) { Timings = owner.Timings };
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
            _stepTokens = new int[InferenceSession.MaxChunk];
            _stepSegments = new ForwardSegment[slots];
            _stepSlots = new int[slots];
        }

        public void Run(CancellationToken cancellation)
        {
            while (true)
            {
                Admit(cancellation);
                int segments = Plan(out int rows);
                if (segments > 0)
                {
                    Step(segments, rows, cancellation);
                    continue;
                }
                // Every sequence in a place has a segment unless it just ended, so no step means no place is taken;
                // then Admit starts the next waiting prompt or fails it, and the queue shrinks every round.
                if (_waiting.Count == 0) return;
            }
        }

        /// <summary>Whether the pool has <paramref name="blocks"/> free blocks, after asking idle prompt caches to give theirs back.</summary>
        private static bool PoolHolds(KvCachePool pool, int blocks)
        {
            while (pool.BlocksFree < blocks)
            {
                if (pool.Reclaim?.Invoke() != true) return false;
            }
            return true;
        }

        private bool AnyRunning()
        {
            foreach (var slot in _slots) if (slot.Run != null) return true;
            return false;
        }

        /// <summary>Continuous batching: every free slot takes the next waiting request the pool has room for, in order.</summary>
        private void Admit(CancellationToken cancellation)
        {
            for (int s = 0; s < _slots.Length && _waiting.Count > 0; s++)
            {
                // A request that ends at once (cancelled, or failed) leaves the slot free for the next.
                while (_slots[s].Run == null && _waiting.Count > 0)
                {
                    if (!TryStart(s, cancellation)) return;
                }
            }
        }

        /// <summary>
        /// Puts the next waiting request in slot <paramref name="s"/>, with blocks for its whole prompt. False when the
        /// pool lacks them while sequences of the batch still hold blocks: the request waits for those to be given back
        /// (and the ones behind it wait too, so requests start in their order). With no sequence running, nothing will
        /// be given back: the request ends with the <see cref="KvCacheExhaustedException"/>.
        /// </summary>
        private bool TryStart(int s, CancellationToken cancellation)
        {
            int index = _waiting.Peek();
            var slot = _slots[s];
            var request = _requests[index];
            var (promptIds, context) = _prepared[index];
            if (!cancellation.IsCancellationRequested)
            {
                int positions = Math.Min(promptIds.Length, slot.Cache.Capacity);
                // While sequences of the batch run, a prompt that does not fit waits without an exception per step;
                // idle prompt caches are let go for it first, as a reservation would.
                if (AnyRunning() && !PoolHolds(slot.Cache.Pool, KvCachePool.BlocksFor(positions))) return false;
                try
                {
                    slot.Cache.Reserve(0, positions);
                }
                catch (KvCacheExhaustedException ex)
                {
                    if (AnyRunning()) return false;
                    _waiting.Dequeue();
                    _onFinished(new BatchedOutcome(index, request, null, ex));
                    return true;
                }
            }
            _waiting.Dequeue();
            var run = new SequenceGeneration(_owner.Model, promptIds, 0, request.Prompt, request.Options, _onPiece,
                Math.Min(_session.Capacity, context), index);
            slot.Begin(index, run);
            if (cancellation.IsCancellationRequested) Cancel(s);
            return true;
        }

        /// <summary>
        /// Lays out the next step: a segment of one token for every decoding sequence whose cache gets a block for it
        /// (one that does not ends here, as at a full context), then prompt chunks in the rows left. Returns the
        /// segments; <paramref name="rows"/> is their tokens.
        /// </summary>
        private int Plan(out int rows)
        {
            int segments = 0;
            rows = 0;
            _decodeRows = 0;
            for (int s = 0; s < _slots.Length; s++)
            {
                var slot = _slots[s];
                if (slot.Run == null || !slot.IsPrefilled) continue;
                var segment = new ForwardSegment(slot.Cache, slot.Position, 1);
                try
                {
                    _session.Reserve(segment);
                }
                catch (KvCacheExhaustedException ex)
                {
                    slot.Run.OutOfCache();
                    Finish(s, ex);
                    continue;
                }
                _stepTokens[rows++] = slot.Run.NextToken;
                _decodeRows++;
                _stepSlots[segments] = s;
                _stepSegments[segments++] = segment;
            }
            for (int s = 0; s < _slots.Length && rows < _stepTokens.Length; s++)
            {
                var slot = _slots[s];
                if (slot.Run == null || slot.IsPrefilled) continue;
                var prompt = slot.Run.PromptToRun;
                int count = Math.Min(prompt.Length - slot.Position, _stepTokens.Length - rows);
                // Only the chunk that ends the prompt needs logits: they give the first token.
                var segment = new ForwardSegment(slot.Cache, slot.Position, count) { WantsLogits = slot.Position + count == prompt.Length };
                try
                {
                    // The prompt's blocks were taken when it started; with a sliding window this also lets go of the
                    // blocks the chunk no longer sees.
                    _session.Reserve(segment);
                }
                catch (KvCacheExhaustedException ex)
                {
                    Fail(s, ex);
                    continue;
                }
                prompt.Slice(slot.Position, count).CopyTo(_stepTokens.AsSpan(rows));
                rows += count;
                _stepSlots[segments] = s;
                _stepSegments[segments++] = segment;
            }
            return segments;
        }

        /// <summary>
        /// One step: the planned segments in one pass; then each sequence whose segment gave logits (every decoding
        /// one, and a prompt whose last chunk ran) samples its next token or ends.
        /// </summary>
        private void Step(int segments, int rows, CancellationToken cancellation)
        {
            try
            {
                _owner.StepCounts.Add(_decodeRows, rows - _decodeRows);
                _session.Forward(_stepTokens.AsSpan(0, rows), _stepSegments.AsSpan(0, segments), _logits, cancellation);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                for (int i = 0; i < segments; i++) Cancel(_stepSlots[i]);
                return;
            }
            catch (ModelNumericException ex)
            {
                // The step's rows share every product, so which sequence went wrong is not known: all of them end.
                for (int i = 0; i < segments; i++) Fail(_stepSlots[i], ex);
                return;
            }
            int logitsRow = 0;
            for (int i = 0; i < segments; i++)
            {
                int s = _stepSlots[i];
                var slot = _slots[s];
                var segment = _stepSegments[i];
                slot.Position += segment.Count;
                if (!segment.WantsLogits) continue;
                var logits = _logits.AsSpan(logitsRow++ * _vocab, _vocab);
                if (!slot.IsPrefilled)
                {
                    // The prompt has run: its first token comes from these logits, as it does alone.
                    slot.Prefilled();
                    if (!slot.Run!.WantsToken || !slot.Run.Step(logits, slot.Position)) Finish(s);
                }
                else if (cancellation.IsCancellationRequested) Cancel(s);
                else if (!slot.Run!.Step(logits, slot.Position)) Finish(s);
            }
        }

        private void Cancel(int s)
        {
            _slots[s].Stopped();
            _slots[s].Run!.Cancel();
            Finish(s);
        }

        private void Finish(int s, KvCacheExhaustedException? shortage = null)
        {
            var slot = _slots[s];
            var result = slot.Run!.Finish(slot.PromptTime, slot.GenerationTime, slot.IsPrefilled);
            int index = slot.End();
            _onFinished(new BatchedOutcome(index, _requests[index], result, null) { CacheShortage = shortage });
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

        /// <summary>Tokens the cache holds for the request in the slot (while its prompt runs, the prompt tokens run so far).</summary>
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

        /// <summary>Frees the slot, its cache blocks back to the model's pool for other sequences; returns the index of the request that was in it.</summary>
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
