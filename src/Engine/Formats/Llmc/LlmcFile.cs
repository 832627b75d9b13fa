using System.Text.Json;

namespace LlmCpu.Engine.Formats.Llmc;

/// <summary>
/// An LlmCpu model file (.llmc: INT4 layers), mapped and checked: header, directory and (unless told not to) the checksum of every
/// blob. Blobs are used in place; the file stays mapped until this object is disposed.
/// </summary>
public sealed unsafe class LlmcFile : IDisposable
{
    private readonly MappedFile _file;

    private LlmcFile(MappedFile file, LlmcDirectory directory)
    {
        _file = file;
        Directory = directory;
    }

    public string Path => _file.Path;

    public long Length => _file.Length;

    /// <summary>False when the file was read into the process's memory instead of mapped.</summary>
    public bool IsMapped => _file.IsMapped;

    public LlmcDirectory Directory { get; }

    /// <param name="cancellation">Checked between tensors of the checksum pass and the pieces of a read into memory.</param>
    /// <param name="readIntoMemory">Read the file into the process's memory instead of mapping it (<see cref="MappedFile"/>).</param>
    public static LlmcFile Open(string path, bool verifyChecksums = true, CancellationToken cancellation = default, bool readIntoMemory = false)
    {
        var file = new MappedFile(path, readIntoMemory, cancellation);
        try
        {
            var directory = ReadDirectory(file);
            var result = new LlmcFile(file, directory);
            result.CheckBlobs(verifyChecksums, cancellation);
            return result;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static LlmcDirectory ReadDirectory(MappedFile file)
    {
        string path = file.Path;
        if (file.Length < LlmcLayout.HeaderSize) throw new ModelFormatException(path, "header", $"file is {file.Length} bytes, shorter than the {LlmcLayout.HeaderSize}-byte header");
        var header = file.Span(0, LlmcLayout.HeaderSize);
        if (!header[..8].SequenceEqual(LlmcLayout.Magic)) throw new ModelFormatException(path, "magic", "is not LLMCINT4: not an LlmCpu INT4 model file");
        uint version = BitConverter.ToUInt32(header[8..]);
        if (version is < LlmcLayout.OldestReadableVersion or > LlmcLayout.Version)
            throw new ModelNotSupportedException(path, "version", $"{version} is not supported (this engine reads versions {LlmcLayout.OldestReadableVersion} to {LlmcLayout.Version})");
        if (BitConverter.ToUInt64(header[48..]) != XxHash64.Hash(header[..48])) throw new ModelFormatException(path, "header checksum", "does not match: the header is damaged");
        long directoryOffset = BitConverter.ToInt64(header[16..]);
        long directoryLength = BitConverter.ToInt64(header[24..]);
        long fileLength = BitConverter.ToInt64(header[40..]);
        if (fileLength != file.Length) throw new ModelFormatException(path, "file length", $"the header records {fileLength} bytes but the file has {file.Length}: it is truncated or has trailing data");
        if (directoryOffset < LlmcLayout.HeaderSize || directoryLength <= 0 || directoryLength > int.MaxValue || directoryOffset > file.Length - directoryLength)
            throw new ModelFormatException(path, "directory offset", $"[{directoryOffset}, +{directoryLength}] is outside the file");
        var directoryBytes = file.Span(directoryOffset, (int)directoryLength);
        if (BitConverter.ToUInt64(header[32..]) != XxHash64.Hash(directoryBytes)) throw new ModelFormatException(path, "directory checksum", "does not match: the directory is damaged");
        LlmcDirectory? directory;
        try
        {
            directory = JsonSerializer.Deserialize<LlmcDirectory>(directoryBytes, LlmcWriter.Json);
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException(path, "directory", ex.Message, ex);
        }
        if (directory == null) throw new ModelFormatException(path, "directory", "is empty");
        CheckPresent(directory, path);
        return directory;
    }

    /// <summary>
    /// The deserializer accepts an explicit null for any field and leaves a tensor's optional fields out: every field
    /// the loader reads must be there, and each tensor named once, before anything uses them.
    /// </summary>
    private static void CheckPresent(LlmcDirectory d, string path)
    {
        if (d.Name is null) throw new ModelFormatException(path, "name", "is missing");
        if (d.Config is null) throw new ModelFormatException(path, "config", "is missing");
        if (d.Config.Architecture is null) throw new ModelFormatException(path, "config.architecture", "is missing");
        if (d.Config.EosTokenIds is null) throw new ModelFormatException(path, "config.eosTokenIds", "is missing");
        if (d.TokenizerKind is null) throw new ModelFormatException(path, "tokenizerKind", "is missing");
        if (d.Tokenizer is null) throw new ModelFormatException(path, "tokenizer", "is missing");
        if (d.Quantization is null || d.Quantization.Format is null) throw new ModelFormatException(path, "quantization", "is missing");
        if (d.Tensors is null) throw new ModelFormatException(path, "tensors", "is missing");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < d.Tensors.Count; i++)
        {
            var t = d.Tensors[i];
            if (t is null || t.Name is null) throw new ModelFormatException(path, $"tensors[{i}]", "has no name");
            string field = $"tensor '{t.Name}'";
            if (!names.Add(t.Name)) throw new ModelFormatException(path, field, "appears more than once");
            if (t.Kind is null) throw new ModelFormatException(path, field + " kind", "is missing");
            if (t.Blobs is null) throw new ModelFormatException(path, field + " blobs", "are missing");
            string[] required = t.Kind switch
            {
                "int4" when t.GroupSize is null || t.Asymmetric is null => throw new ModelFormatException(path, field, "is int4 without groupSize and asymmetric"),
                "int4" => t.Asymmetric == true ? ["quants", "scales", "zeros"] : ["quants", "scales"],
                "q8_0" => ["codes", "scales"],
                "f16" or "f32" => ["data"],
                _ => throw new ModelFormatException(path, field + " kind", $"'{t.Kind}' is not a tensor kind this engine reads (int4, q8_0, f16, f32)"),
            };
            foreach (string blob in required)
            {
                if (!t.Blobs.TryGetValue(blob, out var value) || value is null) throw new ModelFormatException(path, $"{field} {blob}", "is missing");
            }
            foreach (var (name, blob) in t.Blobs)
            {
                if (blob is null || blob.Xxh64 is null) throw new ModelFormatException(path, $"{field} {name}", "is not a blob");
            }
        }
    }

    private void CheckBlobs(bool verifyChecksums, CancellationToken cancellation)
    {
        long limit = BitConverter.ToInt64(_file.Span(16, 8));
        CheckBlob(Directory.Tokenizer, "tokenizer", Directory.Tokenizer.Length, limit, verifyChecksums);
        foreach (var tensor in Directory.Tensors)
        {
            cancellation.ThrowIfCancellationRequested();
            if (tensor.Rows <= 0 || tensor.Columns <= 0) throw new ModelFormatException(Path, $"tensor '{tensor.Name}' shape", $"{tensor.Rows}x{tensor.Columns} is not positive");
            foreach (var (name, blob) in tensor.Blobs)
                CheckBlob(blob, $"tensor '{tensor.Name}' {name}", ExpectedLength(tensor, name), limit, verifyChecksums);
        }
    }

    /// <summary>The byte length a blob must have for its tensor's shape; computed with overflow checks.</summary>
    private long ExpectedLength(LlmcTensor tensor, string blob)
    {
        try
        {
            checked
            {
                long elements = (long)tensor.Rows * tensor.Columns;
                return (tensor.Kind, blob) switch
                {
                    ("f32", "data") => elements * 4,
                    ("f16", "data") => elements * 2,
                    ("int4", _) => Int4Lengths(tensor, blob),
                    ("q8_0", _) => Q8Lengths(tensor, blob),
                    _ => throw new ModelFormatException(Path, $"tensor '{tensor.Name}' {blob}", $"is not a blob of a '{tensor.Kind}' tensor"),
                };
            }
        }
        catch (OverflowException)
        {
            throw new ModelFormatException(Path, $"tensor '{tensor.Name}' shape", "byte size overflows");
        }
    }

    private long Int4Lengths(LlmcTensor tensor, string blob)
    {
        var format = new Kernels.Quantization.Int4Format(tensor.GroupSize ?? 0, tensor.Asymmetric ?? false);
        try { format.Validate(); }
        catch (ArgumentOutOfRangeException) { throw new ModelFormatException(Path, $"tensor '{tensor.Name}' groupSize", $"{tensor.GroupSize} is not 32, 64, 128 or -1"); }
        var geometry = Kernels.Quantization.Int4Geometry.For(tensor.Rows, tensor.Columns, format);
        return blob switch
        {
            "quants" => geometry.QuantBytes,
            "scales" => geometry.ScaleBytes,
            "zeros" when format.Asymmetric => geometry.ZeroBytes,
            _ => throw new ModelFormatException(Path, $"tensor '{tensor.Name}' {blob}", "is not a blob of this INT4 tensor"),
        };
    }

    private long Q8Lengths(LlmcTensor tensor, string blob)
    {
        if (tensor.Columns % Kernels.Quantization.Int4Matrix.ChunkSize != 0)
            throw new ModelFormatException(Path, $"tensor '{tensor.Name}' shape", $"has {tensor.Columns} columns; q8_0 rows are whole blocks of {Kernels.Quantization.Int4Matrix.ChunkSize}");
        return blob switch
        {
            "codes" => Kernels.Quantization.Q8Matrix.CodeBytesOf(tensor.Rows, tensor.Columns),
            "scales" => Kernels.Quantization.Q8Matrix.ScaleBytesOf(tensor.Rows, tensor.Columns),
            _ => throw new ModelFormatException(Path, $"tensor '{tensor.Name}' {blob}", "is not a blob of a q8_0 tensor"),
        };
    }

    private void CheckBlob(LlmcBlob blob, string field, long expectedLength, long limit, bool verifyChecksum)
    {
        if (blob.Length != expectedLength) throw new ModelFormatException(Path, field + " length", $"is {blob.Length}, expected {expectedLength}");
        if (blob.Offset < LlmcLayout.HeaderSize || blob.Offset % LlmcLayout.Alignment != 0 || blob.Offset > limit - blob.Length)
            throw new ModelFormatException(Path, field + " offset", $"{blob.Offset} is misaligned or outside the data area");
        if (verifyChecksum && XxHash64.Hash(_file.Pointer + blob.Offset, blob.Length).ToString("x16") != blob.Xxh64)
            throw new ModelFormatException(Path, field + " checksum", "does not match: the data is damaged");
    }

    /// <summary>Start of a blob's bytes in the mapping.</summary>
    public byte* Pointer(LlmcBlob blob) => _file.Pointer + blob.Offset;

    public byte[] ReadBytes(LlmcBlob blob) => _file.Span(blob.Offset, checked((int)blob.Length)).ToArray();

    public void Dispose() => _file.Dispose();
}
