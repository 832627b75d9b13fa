using System.Text.Json.Nodes;
using LlmCpu.Engine.Formats.Llmc;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// Re-seals a damaged .llmc file: recomputes the checksums (blobs, directory, header) that would otherwise refuse it at
/// once, so damage reaches the checks behind them. Layout (docs/file-format.md): a 64-byte header (magic, version,
/// directory offset at 16, length at 24, checksum at 32, file length at 40, header checksum at 48), blobs, then the
/// directory's JSON at the end.
/// </summary>
public static class LlmcSeal
{
    public static byte[] Directory(byte[] file)
    {
        long offset = BitConverter.ToInt64(file, 16), length = BitConverter.ToInt64(file, 24);
        return file[(int)offset..(int)(offset + length)];
    }

    /// <summary>The file with its directory replaced by <paramref name="directory"/> (any bytes), every length and checksum updated.</summary>
    public static byte[] WithDirectory(byte[] file, byte[] directory)
    {
        long offset = BitConverter.ToInt64(file, 16);
        byte[] result = [.. file[..(int)offset], .. directory];
        BitConverter.TryWriteBytes(result.AsSpan(24), (long)directory.Length);
        BitConverter.TryWriteBytes(result.AsSpan(32), XxHash64.Hash(directory));
        BitConverter.TryWriteBytes(result.AsSpan(40), (long)result.Length);
        return Header(result);
    }

    /// <summary>The header checksum recomputed over the (possibly damaged) first 48 bytes.</summary>
    public static byte[] Header(byte[] file)
    {
        var copy = (byte[])file.Clone();
        BitConverter.TryWriteBytes(copy.AsSpan(48), XxHash64.Hash(copy.AsSpan(0, 48)));
        return copy;
    }

    public static LlmcBlob TokenizerBlob(byte[] file)
    {
        var blob = JsonNode.Parse(Directory(file))!["tokenizer"]!;
        return new LlmcBlob((long)blob["offset"]!, (long)blob["length"]!, (string)blob["xxh64"]!);
    }

    /// <summary>
    /// The file with its tokenizer blob replaced by <paramref name="tokenizer"/>, appended as a new blob before a new
    /// directory that points at it with its length and checksum.
    /// </summary>
    public static byte[] WithTokenizer(byte[] file, byte[] tokenizer)
    {
        long directoryOffset = BitConverter.ToInt64(file, 16);
        long blobOffset = LlmcLayout.Align(directoryOffset);
        var directory = JsonNode.Parse(Directory(file))!;
        directory["tokenizer"] = new JsonObject { ["offset"] = blobOffset, ["length"] = tokenizer.Length, ["xxh64"] = XxHash64.Hash(tokenizer).ToString("x16") };
        long newDirectoryOffset = LlmcLayout.Align(blobOffset + tokenizer.Length);
        var body = new byte[newDirectoryOffset];
        file.AsSpan(0, (int)directoryOffset).CopyTo(body);
        tokenizer.CopyTo(body.AsSpan((int)blobOffset));
        BitConverter.TryWriteBytes(body.AsSpan(16), newDirectoryOffset);
        return WithDirectory(body, TinyModel.Utf8(directory.ToJsonString()));
    }

    /// <summary>Every blob's checksum recomputed from its (possibly damaged) bytes, then the directory and header sealed.</summary>
    public static byte[] Blobs(byte[] file)
    {
        var directory = JsonNode.Parse(Directory(file))!;
        var blobs = directory["tensors"]!.AsArray().SelectMany(t => t!["blobs"]!.AsObject().Select(b => b.Value!)).Append(directory["tokenizer"]!);
        foreach (var blob in blobs)
            blob["xxh64"] = XxHash64.Hash(file.AsSpan((int)(long)blob["offset"]!, (int)(long)blob["length"]!)).ToString("x16");
        return WithDirectory(file, TinyModel.Utf8(directory.ToJsonString()));
    }
}
