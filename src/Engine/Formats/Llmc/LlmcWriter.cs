using System.Text.Json;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Engine.Formats.Llmc;

/// <summary>
/// Writes an LlmCpu INT4 model file one tensor at a time, so a model never has to be in memory whole. Everything
/// goes to a temporary file beside the destination, renamed into place only by <see cref="Complete"/>: a failure or
/// a cancellation before that leaves no partial output (disposing an incomplete writer deletes the temporary file).
/// </summary>
public sealed unsafe class LlmcWriter : IDisposable
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = false,
        // Enumerations by name ("Layer", "ParallelTwoNorms"), so the directory reads as the description it is.
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private readonly TemporaryOutputFile _output;
    private readonly FileStream _stream;
    private readonly List<LlmcTensor> _tensors = [];
    private readonly byte[] _copyBuffer = new byte[1 << 20];

    public LlmcWriter(string destination, bool overwrite)
    {
        _output = new TemporaryOutputFile(destination, overwrite, FileAccess.ReadWrite);
        _stream = _output.Stream;
        Write(new byte[LlmcLayout.HeaderSize]); // the header is written last, when the directory's place is known
    }

    public string Destination => _output.Destination;

    /// <summary>Writes bytes, reporting a file-system failure against the destination rather than the temporary file.</summary>
    private void Write(ReadOnlySpan<byte> bytes)
    {
        try
        {
            _stream.Write(bytes);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw _output.Describe(ex);
        }
    }

    /// <summary>Writes one weight matrix in its in-memory layout (INT4 or Q8_0 tiles, FP16 or FP32 rows).</summary>
    public void AddMatrix(string name, WeightMatrix matrix)
    {
        var blobs = new Dictionary<string, LlmcBlob>();
        switch (matrix)
        {
            case Int4Matrix q:
                var (quants, scales, zeros) = q.RawArrays;
                blobs["quants"] = WriteBlob((byte*)quants, q.QuantBytes);
                blobs["scales"] = WriteBlob((byte*)scales, q.ScaleBytes);
                if (q.Int4Format.Asymmetric) blobs["zeros"] = WriteBlob((byte*)zeros, q.ZeroBytes);
                _tensors.Add(new LlmcTensor
                {
                    Name = name, Kind = "int4", Rows = q.Rows, Columns = q.Columns, Blobs = blobs,
                    GroupSize = q.Int4Format.GroupSize, Asymmetric = q.Int4Format.Asymmetric,
                });
                return;
            case Q8Matrix q8:
                var (codes, q8Scales) = q8.RawArrays;
                blobs["codes"] = WriteBlob((byte*)codes, q8.CodeBytes);
                blobs["scales"] = WriteBlob((byte*)q8Scales, q8.ScaleBytes);
                _tensors.Add(new LlmcTensor { Name = name, Kind = "q8_0", Rows = q8.Rows, Columns = q8.Columns, Blobs = blobs });
                return;
            case Float16Matrix h:
                blobs["data"] = WriteBlob((byte*)h.RawWeights, h.ByteSize);
                _tensors.Add(new LlmcTensor { Name = name, Kind = "f16", Rows = h.Rows, Columns = h.Columns, Blobs = blobs });
                return;
            case Float32Matrix f:
                blobs["data"] = WriteBlob((byte*)f.RawWeights, f.ByteSize);
                _tensors.Add(new LlmcTensor { Name = name, Kind = "f32", Rows = f.Rows, Columns = f.Columns, Blobs = blobs });
                return;
            default:
                throw new NotSupportedException($"Matrices of format {matrix.Format} cannot be written to an INT4 model file.");
        }
    }

    /// <summary>Writes an FP32 vector (a norm's weights) as a one-row tensor.</summary>
    public void AddVector(string name, float[] values)
    {
        fixed (float* p = values)
        {
            var blob = WriteBlob((byte*)p, (long)values.Length * sizeof(float));
            _tensors.Add(new LlmcTensor { Name = name, Kind = "f32", Rows = 1, Columns = values.Length, Blobs = new() { ["data"] = blob } });
        }
    }

    private LlmcBlob WriteBlob(byte* data, long length)
    {
        long offset = _stream.Position;
        var hash = new XxHash64();
        for (long done = 0; done < length;)
        {
            int chunk = (int)Math.Min(_copyBuffer.Length, length - done);
            new ReadOnlySpan<byte>(data + done, chunk).CopyTo(_copyBuffer);
            hash.Append(_copyBuffer.AsSpan(0, chunk));
            Write(_copyBuffer.AsSpan(0, chunk));
            done += chunk;
        }
        Pad();
        return new LlmcBlob(offset, length, hash.Digest().ToString("x16"));
    }

    private void Pad()
    {
        long padding = LlmcLayout.Align(_stream.Position) - _stream.Position;
        if (padding > 0) Write(new byte[padding]);
    }

    /// <summary>Writes the tokenizer, the directory and the header, then moves the file into place.</summary>
    public void Complete(string name, Models.ModelConfig config, string tokenizerKind, ReadOnlySpan<byte> tokenizer, QuantizationReport report,
        string? chatTemplate = null, IReadOnlyDictionary<string, string>? namedChatTemplates = null)
    {
        LlmcBlob tokenizerBlob;
        fixed (byte* p = tokenizer) tokenizerBlob = WriteBlob(p, tokenizer.Length);
        var directory = new LlmcDirectory
        {
            Name = name, Config = config, TokenizerKind = tokenizerKind, Tokenizer = tokenizerBlob, Quantization = report, Tensors = _tensors,
            ChatTemplate = chatTemplate,
            NamedChatTemplates = namedChatTemplates is { Count: > 0 } ? new Dictionary<string, string>(namedChatTemplates) : null,
        };
        byte[] directoryBytes = JsonSerializer.SerializeToUtf8Bytes(directory, Json);
        long directoryOffset = _stream.Position;
        Write(directoryBytes);
        long fileLength = _stream.Position;

        var header = new byte[LlmcLayout.HeaderSize];
        LlmcLayout.Magic.CopyTo(header);
        BitConverter.TryWriteBytes(header.AsSpan(8), LlmcLayout.Version);
        BitConverter.TryWriteBytes(header.AsSpan(12), 0u);
        BitConverter.TryWriteBytes(header.AsSpan(16), directoryOffset);
        BitConverter.TryWriteBytes(header.AsSpan(24), (long)directoryBytes.Length);
        BitConverter.TryWriteBytes(header.AsSpan(32), XxHash64.Hash(directoryBytes));
        BitConverter.TryWriteBytes(header.AsSpan(40), fileLength);
        BitConverter.TryWriteBytes(header.AsSpan(48), XxHash64.Hash(header.AsSpan(0, 48)));
        _stream.Position = 0;
        Write(header);
        _output.Commit();
    }

    /// <summary>Deletes the temporary file unless <see cref="Complete"/> put it in place.</summary>
    public void Dispose() => _output.Dispose();
}
