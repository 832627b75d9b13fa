using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Memory;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// One model's KV cache memory: a bounded set of fixed-size blocks that sequences (<see cref="KvCache"/>) hold through
/// their block tables. A block is <see cref="BlockPositions"/> positions of every layer, the attention's key block;
/// per layer it stores keys transposed, (kvDim, BlockPositions), then values, (BlockPositions, kvDim), and with INT8
/// storage the scales of both after them (<see cref="Int8KvBlock"/>). Blocks are
/// allocated the first time they are needed, in whole blocks and never per token, up to <see cref="BlocksTotal"/>; a
/// block a sequence gives back (it ended, was rewound, or slid out of a window) goes to the free list for the next.
/// Thread-safe: sessions on several threads share their model's pool.
/// </summary>
public sealed unsafe class KvCachePool : IDisposable
{
    /// <summary>Positions of one block: the attention's key block.</summary>
    public const int BlockPositions = 64;

    private readonly object _lock = new();
    private readonly NativeAllocation[] _blocks; // block id -> memory, none until first allocated
    private readonly int[] _free;       // ids of allocated blocks no sequence holds
    private int _freeCount;
    private int _allocated;             // blocks [0, _allocated) have memory
    private bool _disposed;

    /// <summary>A pool of <paramref name="blocks"/> blocks for sequences of <paramref name="sequenceLength"/> positions.</summary>
    /// <param name="headDim">
    /// Dimensions of one key/value head; INT8 storage keeps one scale per position and head, so it needs this (a divisor
    /// of <paramref name="kvDim"/>). Null for one head of all <paramref name="kvDim"/> dimensions; the float types ignore it.
    /// </param>
    public KvCachePool(string modelName, int layers, int kvDim, int blocks, int sequenceLength, KvCacheType type = KvCacheType.Float32, int? headDim = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(layers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(kvDim, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blocks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(sequenceLength, 1);
        if (!Enum.IsDefined(type)) throw new ArgumentOutOfRangeException(nameof(type), type, "Not a KV cache type.");
        int head = headDim ?? kvDim;
        if (head < 1 || kvDim % head != 0) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, $"The head dimension must divide the key/value dimension {kvDim}.");
        ModelName = modelName;
        Layers = layers;
        KvDim = kvDim;
        HeadDim = head;
        Type = type;
        ElementSize = ElementBytes(type);
        LayerBytes = LayerBytesFor(kvDim, head, type);
        BlockBytes = layers * LayerBytes;
        BlocksTotal = blocks;
        SequenceLength = sequenceLength;
        _blocks = new NativeAllocation[blocks];
        _free = new int[blocks];
    }

    private static int ElementBytes(KvCacheType type) => type switch
    {
        KvCacheType.Float16 => sizeof(ushort),
        KvCacheType.Int8 => sizeof(sbyte),
        _ => sizeof(float),
    };

    /// <summary>
    /// Bytes of one layer's keys and values within a block: the elements and, for INT8, the FP32 scales of keys and of
    /// values, one per position and key/value head (<see cref="Int8KvBlock"/>).
    /// </summary>
    private static long LayerBytesFor(int kvDim, int headDim, KvCacheType type)
    {
        long bytes = 2L * kvDim * BlockPositions * ElementBytes(type);
        if (type == KvCacheType.Int8) bytes += 2L * (kvDim / headDim) * BlockPositions * sizeof(float);
        return bytes;
    }

    /// <summary>The pool <paramref name="options"/> describe for <paramref name="config"/>.</summary>
    /// <exception cref="KvCacheArgumentException">The memory holds no block, or a count is not positive.</exception>
    public static KvCachePool For(string modelName, ModelConfig config, KvCacheOptions options)
    {
        if (options.ContextLength is <= 0) throw new KvCacheArgumentException("ContextLength", options.ContextLength, "The context length must be at least 1.");
        if (options.MaxSessions is <= 0) throw new KvCacheArgumentException("MaxSessions", options.MaxSessions, "The KV cache pool must hold at least one session.");
        if (options.PromptCacheSize < 0) throw new KvCacheArgumentException("PromptCacheSize", options.PromptCacheSize, "The prompt cache size must be 0 or more.");
        if (!Enum.IsDefined(options.Type)) throw new KvCacheArgumentException("KvCacheType", options.Type, "Not a KV cache type.");
        int sequence = Math.Min(options.ContextLength ?? config.ContextLength, config.ContextLength);
        long blockBytes = config.LayerCount * LayerBytesFor(config.KvDim, config.HeadDim, options.Type);
        long blocks;
        if (options.MemoryBytes is { } bytes)
        {
            blocks = bytes / blockBytes;
            if (blocks < 1)
                throw new KvCacheArgumentException("KvCacheMemory", bytes, $"{bytes} bytes of KV cache hold no block; one block ({BlockPositions} positions of every layer) of this model is {blockBytes} bytes.");
        }
        else
        {
            blocks = (long)(options.MaxSessions ?? KvCacheOptions.DefaultMaxSessions) * BlocksFor(sequence);
        }
        return new KvCachePool(modelName, config.LayerCount, config.KvDim, (int)Math.Min(blocks, Array.MaxLength), sequence, options.Type, config.HeadDim);
    }

    /// <summary>Blocks that hold <paramref name="positions"/> positions.</summary>
    public static int BlocksFor(int positions) => (positions + BlockPositions - 1) / BlockPositions;

    public string ModelName { get; }

    public int Layers { get; }

    public int KvDim { get; }

    /// <summary>Dimensions of one key/value head: INT8 storage keeps a scale per position and head.</summary>
    public int HeadDim { get; }

    public KvCacheType Type { get; }

    /// <summary>Bytes of one stored key or value element (INT8's scales come on top, see <see cref="LayerBytes"/>).</summary>
    public int ElementSize { get; }

    /// <summary>Bytes of one layer's keys and values within a block (with INT8, their scales too).</summary>
    public long LayerBytes { get; }

    /// <summary>Bytes of one block: <see cref="BlockPositions"/> positions of every layer's keys and values.</summary>
    public long BlockBytes { get; }

    /// <summary>Blocks the pool may hold.</summary>
    public int BlocksTotal { get; }

    /// <summary>Positions of a session's context when none is asked for.</summary>
    public int SequenceLength { get; }

    /// <summary>Blocks some sequence holds now (idle prompt caches included).</summary>
    public int BlocksInUse { get { lock (_lock) return _allocated - _freeCount; } }

    /// <summary>Blocks not held: allocated and free, or not allocated yet.</summary>
    public int BlocksFree { get { lock (_lock) return BlocksTotal - _allocated + _freeCount; } }

    /// <summary>Blocks whose memory has been allocated so far.</summary>
    public int BlocksAllocated { get { lock (_lock) return _allocated; } }

    /// <summary>Bytes the pool may reach.</summary>
    public long BytesTotal => BlocksTotal * BlockBytes;

    /// <summary>Bytes of memory the pool holds now.</summary>
    public long AllocatedBytes => BlocksAllocated * BlockBytes;

    /// <summary>Bytes of the blocks sequences hold now.</summary>
    public long BytesInUse => BlocksInUse * BlockBytes;

    /// <summary>
    /// Asked, outside the pool's lock, to let go of idle blocks when a request finds too few free (the prompt prefix
    /// cache evicts its least recently used entry); returns whether it let any go.
    /// </summary>
    internal Func<bool>? Reclaim { get; set; }

    /// <summary>Memory of block <paramref name="id"/>.</summary>
    internal byte* Address(int id) => (byte*)_blocks[id].Pointer;

    /// <summary>Fills <paramref name="ids"/> with blocks, all or none.</summary>
    /// <exception cref="KvCacheExhaustedException">Fewer blocks are free, even after idle ones were reclaimed.</exception>
    internal void Rent(Span<int> ids)
    {
        while (true)
        {
            int free;
            lock (_lock)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                free = BlocksTotal - _allocated + _freeCount;
                if (free >= ids.Length)
                {
                    for (int i = 0; i < ids.Length; i++) ids[i] = _freeCount > 0 ? _free[--_freeCount] : AllocateBlock();
                    return;
                }
            }
            if (Reclaim?.Invoke() != true) throw new KvCacheExhaustedException(ModelName, ids.Length, free, BlocksTotal, BlockPositions);
        }
    }

    /// <summary>Takes block <paramref name="id"/> back for the next sequence that needs one.</summary>
    internal void Return(int id)
    {
        lock (_lock)
        {
            if (_disposed) return;
            _free[_freeCount++] = id;
        }
    }

    private int AllocateBlock()
    {
        // Zeroed, so the padding of a block's last key vector reads finite numbers before it is written. A block of
        // every layer's 64 positions is megabytes: the system's zero-filled pages, with large pages asked for, so
        // nothing clears it and attention's reads walk fewer pages.
        _blocks[_allocated] = NativeAllocation.Allocate(BlockBytes, 64, zero: true);
        return _allocated++;
    }

    /// <summary>Frees every block's memory; the model calls this once no session runs on it.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            for (int i = 0; i < _allocated; i++)
            {
                _blocks[i].Free();
                _blocks[i] = default;
            }
            _allocated = _freeCount = 0;
        }
    }
}
