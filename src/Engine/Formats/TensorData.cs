using System.Numerics.Tensors;

namespace LlmCpu.Engine.Formats;

/// <summary>A tensor inside a mapped model file: its name, type, shape and where its bytes are.</summary>
public sealed unsafe class TensorData(string name, TensorType type, long[] shape, byte* data, long byteLength)
{
    public string Name { get; } = name;

    public TensorType Type { get; } = type;

    public IReadOnlyList<long> Shape { get; } = shape;

    public long ElementCount { get; } = shape.Aggregate(1L, (a, b) => checked(a * b));

    public long ByteLength { get; } = byteLength;

    /// <summary>Start of the tensor's bytes; valid while the file that owns it is open.</summary>
    public byte* Data { get; } = data;

    /// <summary>Converts elements [offset, offset + destination.Length) to FP32.</summary>
    public void ReadAsFloat32(long offset, Span<float> destination)
    {
        if (offset < 0 || offset + destination.Length > ElementCount) throw new ArgumentOutOfRangeException(nameof(offset));
        switch (Type)
        {
            case TensorType.F32:
                new ReadOnlySpan<float>((float*)Data + offset, destination.Length).CopyTo(destination);
                break;
            case TensorType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>((Half*)Data + offset, destination.Length), destination);
                break;
            case TensorType.BF16:
                var source = new ReadOnlySpan<ushort>((ushort*)Data + offset, destination.Length);
                for (int i = 0; i < source.Length; i++) destination[i] = BitConverter.Int32BitsToSingle(source[i] << 16);
                break;
            default:
                throw new InvalidOperationException($"Tensor '{Name}' of type {Type} holds no weights.");
        }
    }
}
