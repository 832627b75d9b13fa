using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LlmCpu.Kernels;

namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// Converts ggml tensor data to FP32 exactly as ggml's reference <c>dequantize_row_*</c> functions define it: the same
/// integer unpacking, the same FP16-to-FP32 scale conversion and the same order of float operations (multiplications
/// and subtractions are not fused), so each element is the value ggml's scalar code computes.
/// </summary>
public static class GgmlDequantizer
{
    // Tensor data is little-endian, as is every platform this engine runs on, so F32, F16 and BF16 are reinterpreted
    // in place rather than decoded element by element.

    /// <summary>
    /// Converts <paramref name="destination"/>.Length elements (a whole number of blocks) of <paramref name="type"/>
    /// from the start of <paramref name="source"/>.
    /// </summary>
    [MethodImpl(LoadLoops.Compile)]
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (!type.CanDequantize()) throw new NotSupportedException($"ggml type {type} cannot be converted to FP32 by this engine.");
        int blockSize = type.BlockSize();
        if (destination.Length % blockSize != 0)
            throw new ArgumentException($"{destination.Length} elements are not a whole number of {type} blocks of {blockSize}.", nameof(destination));
        long bytes = type.ByteCount(destination.Length);
        if (source.Length < bytes) throw new ArgumentException($"{destination.Length} {type} elements need {bytes} bytes; {source.Length} were given.", nameof(source));
        source = source.Slice(0, (int)bytes);
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case GgmlType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case GgmlType.BF16:
                // BF16 is the upper half of an FP32: widening is a shift.
                var bf16 = MemoryMarshal.Cast<byte, ushort>(source);
                for (int i = 0; i < destination.Length; i++) destination[i] = BitConverter.Int32BitsToSingle(bf16[i] << 16);
                break;
            case GgmlType.Q4_0: GgmlLegacyQuants.DequantizeQ4_0(source, destination); break;
            case GgmlType.Q4_1: GgmlLegacyQuants.DequantizeQ4_1(source, destination); break;
            case GgmlType.Q5_0: GgmlLegacyQuants.DequantizeQ5_0(source, destination); break;
            case GgmlType.Q5_1: GgmlLegacyQuants.DequantizeQ5_1(source, destination); break;
            case GgmlType.Q8_0: GgmlLegacyQuants.DequantizeQ8_0(source, destination); break;
            case GgmlType.Q4_K: GgmlKQuants.DequantizeQ4_K(source, destination); break;
            case GgmlType.Q5_K: GgmlKQuants.DequantizeQ5_K(source, destination); break;
            case GgmlType.Q6_K: GgmlKQuants.DequantizeQ6_K(source, destination); break;
        }
    }

    /// <summary>An FP16 stored little-endian at <paramref name="offset"/>, widened to FP32 (exact).</summary>
    internal static float ReadHalf(ReadOnlySpan<byte> bytes, int offset) =>
        (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(offset, 2)));
}
