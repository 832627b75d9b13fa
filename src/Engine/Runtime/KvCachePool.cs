namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Keeps returned KV caches for reuse by later sessions of the same shape, so a script that generates
/// many times allocates the cache once. Bounded: at most <see cref="MaxIdle"/> idle caches are kept.
/// </summary>
public sealed class KvCachePool : IDisposable
{
    private readonly object _lock = new();
    private readonly List<KvCache> _idle = [];

    public int MaxIdle { get; init; } = 4;

    public static KvCachePool Shared { get; } = new();

    public KvCache Rent(int layers, int capacity, int kvDim)
    {
        lock (_lock)
        {
            int index = _idle.FindIndex(c => c.Layers == layers && c.Capacity == capacity && c.KvDim == kvDim);
            if (index >= 0)
            {
                var cache = _idle[index];
                _idle.RemoveAt(index);
                return cache;
            }
        }
        return new KvCache(layers, capacity, kvDim);
    }

    /// <exception cref="InvalidOperationException">The cache is already in the pool: two sessions would share it.</exception>
    public void Return(KvCache cache)
    {
        lock (_lock)
        {
            if (_idle.Contains(cache)) throw new InvalidOperationException("This KV cache was returned to the pool twice.");
            if (_idle.Count < MaxIdle)
            {
                _idle.Add(cache);
                return;
            }
        }
        cache.Dispose();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var cache in _idle) cache.Dispose();
            _idle.Clear();
        }
    }
}
