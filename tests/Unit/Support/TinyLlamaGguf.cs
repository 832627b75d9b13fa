using System.Runtime.InteropServices;
using LlmCpu.Engine.Formats.Gguf;

namespace LlmCpu.Tests.Support;

/// <summary>
/// A complete but tiny Llama GGUF with random weights (2 layers, width 64, 4 heads, 2 KV heads, a 264-token
/// SentencePiece vocabulary with byte fallback), for loader tests that damage one thing at a time.
/// </summary>
public static class TinyLlamaGguf
{
    public const int Embedding = 64, Layers = 2, Heads = 4, KvHeads = 2, FeedForward = 96;
    public const int KvDim = Embedding / Heads * KvHeads;

    public static string[] Tokens { get; } =
        ["<unk>", "<s>", "</s>", .. Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"), "▁", "a", "b", "▁a", "ab"];

    public static int Vocabulary => Tokens.Length;

    /// <param name="matrices">The type of every weight matrix, except those named in <paramref name="overrides"/>.</param>
    /// <param name="width">Embedding and feed-forward width; K-quants need multiples of 256.</param>
    public static TestGgufWriter Create(GgmlType matrices = GgmlType.F32, bool tied = false, IReadOnlyDictionary<string, GgmlType>? overrides = null,
        int width = 0)
    {
        int Embedding = width > 0 ? width : TinyLlamaGguf.Embedding, FeedForward = width > 0 ? width : TinyLlamaGguf.FeedForward;
        int KvDim = Embedding / Heads * KvHeads;
        var random = new Random(42);
        var types = Tokens.Select((t, i) => i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1).ToArray();
        var scores = Tokens.Select((t, i) => i < 259 ? 0f : -(i - 258f)).ToArray();
        var writer = new TestGgufWriter()
            .Add("general.architecture", "llama")
            .Add("llama.context_length", 128u)
            .Add("llama.embedding_length", (uint)Embedding)
            .Add("llama.block_count", (uint)Layers)
            .Add("llama.feed_forward_length", (uint)FeedForward)
            .Add("llama.attention.head_count", (uint)Heads)
            .Add("llama.attention.head_count_kv", (uint)KvHeads)
            .Add("llama.attention.layer_norm_rms_epsilon", 1e-5f)
            .Add("llama.rope.freq_base", 10000f)
            .Add("tokenizer.ggml.model", "llama")
            .Add("tokenizer.ggml.tokens", Tokens)
            .Add("tokenizer.ggml.scores", scores)
            .Add("tokenizer.ggml.token_type", types)
            .Add("tokenizer.ggml.bos_token_id", 1u)
            .Add("tokenizer.ggml.eos_token_id", 2u);
        void Add(string name, int rows, int columns) => Matrix(writer, random, name, rows, columns, overrides?.GetValueOrDefault(name, matrices) ?? matrices);
        Add("token_embd.weight", Vocabulary, Embedding);
        for (int i = 0; i < Layers; i++)
        {
            Vector(writer, random, $"blk.{i}.attn_norm.weight", Embedding);
            Add($"blk.{i}.attn_q.weight", Embedding, Embedding);
            Add($"blk.{i}.attn_k.weight", KvDim, Embedding);
            Add($"blk.{i}.attn_v.weight", KvDim, Embedding);
            Add($"blk.{i}.attn_output.weight", Embedding, Embedding);
            Vector(writer, random, $"blk.{i}.ffn_norm.weight", Embedding);
            Add($"blk.{i}.ffn_gate.weight", FeedForward, Embedding);
            Add($"blk.{i}.ffn_up.weight", FeedForward, Embedding);
            Add($"blk.{i}.ffn_down.weight", Embedding, FeedForward);
        }
        Vector(writer, random, "output_norm.weight", Embedding);
        if (!tied) Add("output.weight", Vocabulary, Embedding);
        return writer;
    }

    private static float[] Values(Random random, int count) => Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() - 0.5) * 0.2f).ToArray();

    private static void Vector(TestGgufWriter writer, Random random, string name, int length) =>
        writer.AddTensor(name, GgmlType.F32, [(ulong)length], MemoryMarshal.AsBytes(Values(random, length).Select(v => v + 1).ToArray().AsSpan()).ToArray());

    private static void Matrix(TestGgufWriter writer, Random random, string name, int rows, int columns, GgmlType type)
    {
        var values = Values(random, rows * columns);
        byte[] data = type switch
        {
            GgmlType.F32 => MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
            GgmlType.F16 => MemoryMarshal.AsBytes(Array.ConvertAll(values, v => (Half)v).AsSpan()).ToArray(),
            GgmlType.Q4_0 => GgmlReferenceQuantizer.QuantizeQ4_0(values),
            GgmlType.Q8_0 => GgmlReferenceQuantizer.QuantizeQ8_0(values),
            _ => RandomGgmlBlocks.Create(type, rows, columns, random),
        };
        writer.AddTensor(name, type, [(ulong)columns, (ulong)rows], data);
    }
}
