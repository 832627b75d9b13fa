using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlmCpu.Kernels.Quantization;

/// <summary>
/// A tile's eight FP16 values of one K-quant super-block (its d, or its dmin), converted to FP32 once for all the groups
/// of that super-block: a kernel walks a tile's groups in order, and eight groups of 32 share a super-block's values.
/// </summary>
internal unsafe struct SuperBlockHalves
{
    private Vector256<float> _values;

    // The super-block the values are for, plus one; 0, the default, for none yet.
    private long _key;

    /// <summary>The values of super-block line <paramref name="superBlock"/> ([tile][super-block] order) of <paramref name="table"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Get(ushort* table, long superBlock)
    {
        if (superBlock + 1 != _key)
        {
            _values = Ops.HalfConversion.ToSingle8(table + superBlock * Int4Matrix.TileRows);
            _key = superBlock + 1;
        }
        return _values;
    }
}
