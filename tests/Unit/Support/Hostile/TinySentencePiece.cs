using Google.Protobuf;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// A small but real SentencePiece model: the bundled tokenizer.model cut down to its special and byte pieces and the
/// first few ordinary ones, its trainer and normalizer specs copied as they are. Small files make thousands of
/// damaged copies cheap to load; a real file keeps them meaningful.
/// </summary>
public static class TinySentencePiece
{
    /// <summary>Pieces kept: unk, BOS, EOS, 256 bytes, then ordinary pieces up to this count.</summary>
    public const int PieceCount = 320;

    private static readonly Lazy<byte[]> Bytes = new(Build);

    /// <summary>The serialized ModelProto (a fresh copy each time).</summary>
    public static byte[] ModelBytes() => (byte[])Bytes.Value.Clone();

    /// <summary>
    /// The model with <paramref name="trainerOverride"/> appended to its TrainerSpec: protobuf keeps the last value of a
    /// repeated scalar field, so appending field 40 sets unk_id, 41 bos_id and so on without rewriting the message.
    /// </summary>
    public static byte[] WithTrainerFields(Action<CodedOutputStream> trainerOverride) => Rebuild(trainerOverride, pieceEdit: null);

    /// <summary>The model with piece <paramref name="index"/> rewritten by <paramref name="edit"/> (its serialized bytes in, new bytes out).</summary>
    public static byte[] WithPiece(int index, Func<byte[], byte[]> edit) => Rebuild(null, (index, edit));

    private static byte[] Build() => Rebuild(null, null);

    private static byte[] Rebuild(Action<CodedOutputStream>? trainerOverride, (int Index, Func<byte[], byte[]> Edit)? pieceEdit)
    {
        var input = new CodedInputStream(File.ReadAllBytes(Path.Combine(RepoPaths.FixtureModel, "tokenizer.model")));
        using var result = new MemoryStream();
        var output = new CodedOutputStream(result);
        int pieces = 0;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            int field = WireFormat.GetTagFieldNumber(tag);
            if (WireFormat.GetTagWireType(tag) != WireFormat.WireType.LengthDelimited)
            {
                input.SkipLastField();
                continue;
            }
            byte[] body = input.ReadBytes().ToByteArray();
            if (field == 1)
            {
                if (pieces >= PieceCount) continue;
                if (pieceEdit is { } e && e.Index == pieces) body = e.Edit(body);
                pieces++;
            }
            else if (field == 2 && trainerOverride != null)
            {
                using var extended = new MemoryStream();
                extended.Write(body);
                var extra = new CodedOutputStream(extended);
                trainerOverride(extra);
                extra.Flush();
                body = extended.ToArray();
            }
            output.WriteTag(tag);
            output.WriteBytes(ByteString.CopyFrom(body));
        }
        output.Flush();
        return result.ToArray();
    }
}
