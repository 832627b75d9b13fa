using System.Runtime.Intrinsics.X86;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// How the AVX-512 kernels turn a pair of registers' 16-bit octet sums (four per row, in the row's 64-bit lane: two
/// tokens of prefill, or two blocks of one decode token) into one register of 32-bit row sums. Both give the same
/// integers; they differ in which operations a processor runs quickly.
/// </summary>
internal enum PairReduction
{
    /// <summary>
    /// Two vpermt2w gather each output's four words, one vpaddw and one vpmaddwd add them: four operations. Faster
    /// on AMD's Zen 4 (tile-l2 group size 32: 166 -> 173-174 GOPS against <see cref="Dwords"/>, see Int4MatMul.Avx512.cs).
    /// </summary>
    Words,

    /// <summary>
    /// One vpmaddwd per register, then two vpermt2d and a vpaddd: five operations, but no two-source word permute,
    /// which Intel's cores split into several micro-operations. Measured on an Intel Xeon (family 6 model 207,
    /// Emerald Rapids), one thread, three alternated runs of tile-l2 (group size 32, best of 300 rounds): the build
    /// before this choice existed 146.5-147.1 GOPS, <see cref="Words"/> 147.0-147.2, <see cref="Dwords"/> 155.6-159.4.
    /// </summary>
    Dwords,
}

/// <summary>
/// The reduction this process uses, decided once: <see cref="PairReduction.Dwords"/> on Intel processors.
/// LLMCPU_PAIR_REDUCTION (Words or Dwords) overrides the choice, so the tests check both on any machine.
/// </summary>
/// <remarks>
/// The kernels read <see cref="WidensFirst"/>, a static readonly field: the JIT compiles it as a constant, and drops
/// the other reduction, only if this class is initialized before a kernel is compiled, which
/// <see cref="KernelDispatch"/> sees to before its start-up check runs the first kernel. Read from a class not yet
/// initialized, the field cost a class-initialization helper call inside the kernels' loops, and the eight-token
/// chunk kernel kept its weights and accumulators on the stack around it (seen in the JIT's listing).
/// </remarks>
internal static class PairReductionChoice
{
    internal static readonly PairReduction Current = Choose(Environment.GetEnvironmentVariable("LLMCPU_PAIR_REDUCTION"), IsIntel());

    /// <summary>Whether the kernels widen each register before gathering (<see cref="PairReduction.Dwords"/>).</summary>
    internal static readonly bool WidensFirst = Current == PairReduction.Dwords;

    internal static PairReduction Choose(string? requested, bool intel) =>
        Enum.TryParse<PairReduction>(requested, ignoreCase: true, out var reduction) && Enum.IsDefined(reduction)
            ? reduction
            : intel ? PairReduction.Dwords : PairReduction.Words;

    /// <summary>Whether CPUID's vendor string is "GenuineIntel" (ebx, edx, ecx of leaf 0).</summary>
    private static bool IsIntel()
    {
        if (!X86Base.IsSupported) return false;
        var (_, ebx, ecx, edx) = X86Base.CpuId(0, 0);
        return ebx == 0x756E6547 && edx == 0x49656E69 && ecx == 0x6C65746E;
    }
}
