using System.Runtime.CompilerServices;

namespace LlmCpu.Kernels;

/// <summary>
/// How the methods that loop over a model's bytes while it loads (repacking rows, converting and checking scales) are
/// compiled. The runtime compiles a method without optimization first and replaces it with optimized code only after
/// it has been called many times and then no new method has been compiled for a while, which a load, compiling its
/// way through readers, tokenizer and matrices, never allows: the first load in a process repacked most of its rows
/// with unoptimized code, unrolled vector helpers called instead of inlined. A 1.1B Q4_0 GGUF then loaded in
/// 1.13 s, 0.17 s the second time in the same process. Methods marked with <see cref="Compile"/> are compiled
/// optimized at their first call.
/// </summary>
public static class LoadLoops
{
    /// <summary>For <c>[MethodImpl(LoadLoops.Compile)]</c> on a method that runs per row or per block during a load.</summary>
    public const MethodImplOptions Compile = MethodImplOptions.AggressiveOptimization;
}
