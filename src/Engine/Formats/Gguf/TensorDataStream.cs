namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// The write-only window a <see cref="GgufTensorContent"/> writes one tensor through: it passes bytes on to the
/// file and refuses any beyond the tensor's size, so a writer that miscounts fails at once, naming the tensor,
/// instead of shifting every tensor after it.
/// </summary>
internal sealed class TensorDataStream(Stream inner, GgufTensorLayout tensor) : Stream
{
    public long Written { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => Written;

    public override long Position
    {
        get => Written;
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (Written + buffer.Length > tensor.ByteSize)
            throw new InvalidOperationException($"Tensor '{tensor.Name}': more than its {tensor.ByteSize} bytes were written.");
        inner.Write(buffer);
        Written += buffer.Length;
    }

    public override void WriteByte(byte value) => Write([value]);

    public override void Flush() { }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
