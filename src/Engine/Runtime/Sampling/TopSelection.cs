namespace LlmCpu.Engine.Runtime.Sampling;

/// <summary>The k largest values of a span with their positions, by a min-heap of size k: O(n log k), no allocation.</summary>
internal static class TopSelection
{
    /// <summary>
    /// Writes the k largest finite-or-infinite values (NaN is never passed here) of <paramref name="values"/> and
    /// their indices, unordered, to the first k slots of <paramref name="topValues"/> and <paramref name="topIds"/>;
    /// values at -infinity are skipped. Returns how many were written (less than k when fewer values are above -infinity).
    /// </summary>
    public static int Select(ReadOnlySpan<float> values, int k, Span<float> topValues, Span<int> topIds)
    {
        int size = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (float.IsNegativeInfinity(v)) continue;
            if (size < k)
            {
                topValues[size] = v;
                topIds[size] = i;
                SiftUp(topValues, topIds, size++);
            }
            else if (v > topValues[0])
            {
                topValues[0] = v;
                topIds[0] = i;
                SiftDown(topValues, topIds, size);
            }
        }
        return size;
    }

    /// <summary>Sorts values descending, carrying their ids, without allocating.</summary>
    public static void SortDescending(Span<float> values, Span<int> ids)
    {
        // Sorting the negated values ascending with the default comparer allocates nothing, where a Comparison
        // delegate would be wrapped in a new comparer object on every call. Negation is exact, so no value changes.
        System.Numerics.Tensors.TensorPrimitives.Negate(values, values);
        values.Sort(ids);
        System.Numerics.Tensors.TensorPrimitives.Negate(values, values);
    }

    private static void SiftUp(Span<float> v, Span<int> ix, int i)
    {
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (v[parent] <= v[i]) break;
            (v[parent], v[i]) = (v[i], v[parent]);
            (ix[parent], ix[i]) = (ix[i], ix[parent]);
            i = parent;
        }
    }

    private static void SiftDown(Span<float> v, Span<int> ix, int count)
    {
        int i = 0;
        while (true)
        {
            int left = 2 * i + 1, smallest = i;
            if (left < count && v[left] < v[smallest]) smallest = left;
            if (left + 1 < count && v[left + 1] < v[smallest]) smallest = left + 1;
            if (smallest == i) return;
            (v[smallest], v[i]) = (v[i], v[smallest]);
            (ix[smallest], ix[i]) = (ix[i], ix[smallest]);
            i = smallest;
        }
    }
}
