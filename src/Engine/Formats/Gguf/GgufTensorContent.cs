namespace LlmCpu.Engine.Formats.Gguf;

/// <summary>
/// Writes exactly <see cref="GgufTensorLayout.ByteSize"/> bytes of a tensor's data to <paramref name="destination"/>,
/// typically a row at a time, so that no tensor has to be held in memory whole. Long writers should check
/// <paramref name="cancellation"/> between rows.
/// </summary>
public delegate void GgufTensorContent(GgufTensorLayout tensor, Stream destination, CancellationToken cancellation);
