using System.Runtime.InteropServices;
using LlmCpu.Engine.Formats.Llmc;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Keeps the KV caches (their blocks of the model's <see cref="KvCachePool"/>) of a model's few most recent prompts, so a prompt that starts as an earlier one did (the same
/// long instructions sent again and again) runs only what follows the shared start. Prompts are cut into blocks of
/// <see cref="BlockTokens"/> tokens, each hashed with the blocks before it; a prompt reuses the longest run of leading
/// blocks an idle cache holds (checked token by token, so a hash collision can never reuse the wrong tokens).
/// </summary>
/// <remarks>
/// A block is exactly one prefill chunk (<see cref="InferenceSession.MaxChunk"/>), and only blocks that the earlier
/// prompt ran as whole chunks are kept: the reused keys and values are the very numbers a fresh prefill computes, so
/// generation with the cache gives the same tokens as without it, bit for bit. At least one token of every prompt is
/// run, for its logits. Idle caches hold a reference to the model's weights; disposing the model empties the cache.
/// Idle caches hold pool blocks only while the pool can spare them: a session that finds too few free blocks makes the
/// pool evict the least recently used idle cache (<see cref="EvictLeastRecent"/>) before it reports the pool exhausted.
/// </remarks>
public sealed class PromptPrefixCache
{
    /// <summary>Tokens per hashed block: one prefill chunk.</summary>
    public const int BlockTokens = InferenceSession.MaxChunk;

    private readonly object _lock = new();
    private readonly List<Entry> _idle = [];
    private long _clock;
    private long _lookups, _hits, _tokensLookedUp, _tokensReused;

    /// <summary>Idle caches kept at most (each holds the blocks its prompt filled); the least recently used goes first. 0 keeps none.</summary>
    public int MaxEntries { get; set; } = KvCacheOptions.DefaultPromptCacheSize;

    private sealed record Entry(InferenceSession Session, int[] Tokens, ulong[] Hashes, long LastUsed);

    /// <summary>Idle caches held now.</summary>
    public int IdleCount { get { lock (_lock) return _idle.Count; } }

    /// <summary>Bytes of KV cache blocks the idle caches hold.</summary>
    public long IdleBytes { get { lock (_lock) return _idle.Sum(e => e.Session.CacheBytes); } }

    /// <summary>Prompts looked up, prompts that reused at least one block, and their tokens.</summary>
    public PromptCacheStatistics Statistics
    {
        get { lock (_lock) return new PromptCacheStatistics(_lookups, _hits, _tokensLookedUp, _tokensReused); }
    }

    /// <summary>
    /// A session for <paramref name="prompt"/>: an idle one whose cache already holds the prompt's longest shared run of
    /// leading blocks (positioned after it), or a new one. The caller owns it until <see cref="Return"/> (or Dispose).
    /// </summary>
    /// <param name="positions">Positions the request needs (prompt plus answer); a kept cache with fewer is not used.</param>
    public InferenceSession Rent(LanguageModel model, WorkerPool pool, IReadOnlyList<int> prompt, int positions)
    {
        var hashes = BlockHashes(prompt, (prompt.Count - 1) / BlockTokens); // the last token is always run
        Entry? best = null;
        int bestBlocks = 0;
        lock (_lock)
        {
            _lookups++;
            _tokensLookedUp += prompt.Count;
            foreach (var entry in _idle)
            {
                if (entry.Session.Pool != pool || entry.Session.Capacity < positions) continue;
                int blocks = SharedBlocks(entry, prompt, hashes);
                if (blocks > bestBlocks) (best, bestBlocks) = (entry, blocks);
            }
            if (best != null)
            {
                _idle.Remove(best);
                _hits++;
                _tokensReused += bestBlocks * BlockTokens;
            }
        }
        if (best == null) return new InferenceSession(model, pool, positions);
        if (!best.Session.TryRewind(bestBlocks * BlockTokens))
        {
            best.Session.Dispose();
            return new InferenceSession(model, pool, positions);
        }
        return best.Session;
    }

    /// <summary>
    /// Keeps <paramref name="session"/> (after a request for <paramref name="prompt"/>) for later prompts, with the
    /// prompt's whole blocks that its cache holds, or disposes it when there are none. The least recently used idle
    /// cache is let go when more than <see cref="MaxEntries"/> would be kept.
    /// </summary>
    public void Return(InferenceSession session, IReadOnlyList<int> prompt)
    {
        int blocks = Math.Min(prompt.Count, session.Position) / BlockTokens;
        // Only the prompt's whole blocks can be reused; the answer's blocks go back to the pool now.
        if (blocks == 0 || MaxEntries <= 0 || session.Model.IsDisposed || !session.TryRewind(blocks * BlockTokens))
        {
            session.Dispose();
            return;
        }
        int[] tokens = [.. prompt.Take(blocks * BlockTokens)];
        var entry = new Entry(session, tokens, BlockHashes(tokens, blocks), 0);
        Entry? evicted = null;
        lock (_lock)
        {
            _idle.Add(entry with { LastUsed = ++_clock });
            if (_idle.Count > MaxEntries)
            {
                evicted = _idle.MinBy(e => e.LastUsed);
                _idle.Remove(evicted!);
            }
        }
        evicted?.Session.Dispose();
    }

    /// <summary>Lets the least recently used idle cache go, giving its blocks back to the pool; false when none is idle.</summary>
    public bool EvictLeastRecent()
    {
        Entry? evicted;
        lock (_lock)
        {
            evicted = _idle.MinBy(e => e.LastUsed);
            if (evicted == null) return false;
            _idle.Remove(evicted);
        }
        evicted.Session.Dispose();
        return true;
    }

    /// <summary>Lets every idle cache go (a disposed model calls this, so its weights can be freed).</summary>
    public void Clear()
    {
        Entry[] idle;
        lock (_lock)
        {
            idle = [.. _idle];
            _idle.Clear();
        }
        foreach (var entry in idle) entry.Session.Dispose();
    }

    private static int SharedBlocks(Entry entry, IReadOnlyList<int> prompt, ulong[] hashes)
    {
        int blocks = 0;
        while (blocks < hashes.Length && blocks < entry.Hashes.Length && hashes[blocks] == entry.Hashes[blocks]) blocks++;
        // The hashes chain every earlier block into each one; still, compare the tokens themselves.
        for (int i = 0; i < blocks * BlockTokens; i++)
            if (entry.Tokens[i] != prompt[i]) return i / BlockTokens;
        return blocks;
    }

    /// <summary>Hash of each of the first <paramref name="blocks"/> blocks, chained: block k's hash covers blocks 0..k.</summary>
    private static ulong[] BlockHashes(IReadOnlyList<int> tokens, int blocks)
    {
        var hashes = new ulong[blocks];
        Span<int> block = stackalloc int[BlockTokens + 2];
        ulong previous = 0;
        for (int b = 0; b < blocks; b++)
        {
            block[0] = (int)previous;
            block[1] = (int)(previous >> 32);
            for (int i = 0; i < BlockTokens; i++) block[i + 2] = tokens[b * BlockTokens + i];
            previous = hashes[b] = XxHash64.Hash(MemoryMarshal.AsBytes(block));
        }
        return hashes;
    }
}

/// <summary>How a model's prompt prefix cache has done: prompts looked up and hit, and prompt tokens looked up and reused.</summary>
public readonly record struct PromptCacheStatistics(long Lookups, long Hits, long TokensLookedUp, long TokensReused)
{
    /// <summary>Share of prompts that reused at least one block.</summary>
    public double HitRate => Lookups > 0 ? (double)Hits / Lookups : 0;

    /// <summary>Share of prompt tokens that were not run again.</summary>
    public double TokenReuseRate => TokensLookedUp > 0 ? (double)TokensReused / TokensLookedUp : 0;
}
