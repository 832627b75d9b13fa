using LlmCpu.Engine.Models;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>Where the engine's stacked Q, K, V rows come from in each fused layout, spelled out on small heads.</summary>
public sealed class QkvRowOrderTests
{
    private static int[] Sources(FusedQkvLayout layout, int heads, int kvHeads, int headDim) =>
        Enumerable.Range(0, (heads + 2 * kvHeads) * headDim).Select(r => QkvRowOrder.FusedRow(layout, r, heads, kvHeads, headDim)).ToArray();

    [Fact]
    public void PerHeadTakesEachHeadsQueryKeyAndValueInTurn()
    {
        // File: q0 q0 k0 k0 v0 v0 q1 q1 k1 k1 v1 v1 (heads of 2 rows). Engine: q0 q1, k0 k1, v0 v1.
        Assert.Equal([0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11], Sources(FusedQkvLayout.PerHead, heads: 2, kvHeads: 2, headDim: 2));
    }

    [Fact]
    public void PerKeyValueGroupTakesEachGroupsQueriesThenItsKeyAndValue()
    {
        // File: q0 q1 k0 v0 q2 q3 k1 v1 (two groups of two query heads, heads of 1 row).
        Assert.Equal([0, 1, 4, 5, 2, 6, 3, 7], Sources(FusedQkvLayout.PerKeyValueGroup, heads: 4, kvHeads: 2, headDim: 1));
        // Multi-query: one group, so the file is already queries, key, value.
        Assert.Equal(Enumerable.Range(0, 12), Sources(FusedQkvLayout.PerKeyValueGroup, heads: 4, kvHeads: 1, headDim: 2));
    }

    [Fact]
    public void InterleavedRowsGoBackToRotateHalf()
    {
        // llama.cpp stores a head of 4 as the Hugging Face rows 0, 2, 1, 3: rotate-half row 1 is the file's row 2.
        Assert.Equal([0, 2, 1, 3, 4, 6, 5, 7], Enumerable.Range(0, 8).Select(r => QkvRowOrder.InterleavedRow(r, 4)));
    }
}
