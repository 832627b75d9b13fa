namespace LlmCpu.Bench;

/// <summary>
/// Reads the file llama-perplexity writes with --kl-divergence-base: "_logits_", the window length (uint32), the
/// vocabulary (int32) and the window count (int32), the windows' tokens (int32, window length x windows), then per
/// window one row per scored position (window length - 1 - window length / 2 of them) of the reference's
/// log-probabilities in 16 bits: (vocabulary + 1) / 2 * 2 + 4 uint16, the first four holding two floats, the step and
/// the lowest log-probability (the top logit less 16 nats, or higher), the rest step * q + lowest for each token.
/// </summary>
public sealed class LlamaLogitsFile : IDisposable
{
    private readonly BinaryReader _reader;
    private readonly ushort[] _row;

    private LlamaLogitsFile(BinaryReader reader, int context, int vocabulary, int windows, int[] tokens)
    {
        _reader = reader;
        Context = context;
        Vocabulary = vocabulary;
        Windows = windows;
        Tokens = tokens;
        _row = new ushort[(vocabulary + 1) / 2 * 2 + 4];
    }

    public int Context { get; }

    public int Vocabulary { get; }

    public int Windows { get; }

    /// <summary>The windows' tokens as the file stores them: the text's own tokens (BOS put in at run time).</summary>
    public int[] Tokens { get; }

    /// <summary>Scored positions in each window.</summary>
    public int RowsPerWindow => Context - 1 - Context / 2;

    public static LlamaLogitsFile Open(string path)
    {
        var reader = new BinaryReader(File.OpenRead(path));
        if (new string(reader.ReadChars(8)) != "_logits_") throw new InvalidDataException($"{path} is not a llama-perplexity logits file.");
        int context = checked((int)reader.ReadUInt32());
        int vocabulary = reader.ReadInt32();
        int windows = reader.ReadInt32();
        var tokens = new int[context * windows];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = reader.ReadInt32();
        return new LlamaLogitsFile(reader, context, vocabulary, windows, tokens);
    }

    /// <summary>Reads the next scored position's log-probabilities into <paramref name="logProbabilities"/> (vocabulary).</summary>
    public void ReadRow(Span<float> logProbabilities)
    {
        for (int i = 0; i < _row.Length; i++) _row[i] = _reader.ReadUInt16();
        float step = BitConverter.UInt32BitsToSingle(_row[0] | (uint)_row[1] << 16);
        float lowest = BitConverter.UInt32BitsToSingle(_row[2] | (uint)_row[3] << 16);
        for (int v = 0; v < Vocabulary; v++) logProbabilities[v] = step * _row[4 + v] + lowest;
    }

    public void Dispose() => _reader.Dispose();
}
