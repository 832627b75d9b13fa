using System.Runtime.InteropServices;
using LlmCpu.Engine.Formats;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;

namespace LlmCpu.Tests.Support;

/// <summary>
/// The fixture model (fixtures/austen-llama) converted to GGUF the way llama.cpp's converter does it: tensors renamed,
/// the rows of Q and K reordered within each head for interleaved rotary pairs, the tokenizer's pieces, scores and
/// types copied into tokenizer.ggml.* metadata.
/// </summary>
public static class FixtureGguf
{
    /// <summary>
    /// Layer matrices as <paramref name="layers"/> (F16 as stored, or Q4_0); the output projection as
    /// <paramref name="output"/>; the token embedding like the layers; norms F32.
    /// </summary>
    public static TestGgufWriter Create(GgmlType layers = GgmlType.F16, GgmlType output = GgmlType.F16)
    {
        var config = HuggingFaceConfig.Read(RepoPaths.FixtureModel);
        var spm = SentencePieceModelReader.Read(Path.Combine(RepoPaths.FixtureModel, "tokenizer.model"));
        var writer = new TestGgufWriter()
            .Add("general.architecture", "llama")
            .Add("general.name", "austen-llama")
            .Add("llama.context_length", (uint)config.ContextLength)
            .Add("llama.embedding_length", (uint)config.EmbeddingLength)
            .Add("llama.block_count", (uint)config.LayerCount)
            .Add("llama.feed_forward_length", (uint)config.FeedForwardLength)
            .Add("llama.attention.head_count", (uint)config.HeadCount)
            .Add("llama.attention.head_count_kv", (uint)config.KvHeadCount)
            .Add("llama.attention.layer_norm_rms_epsilon", config.NormEpsilon)
            .Add("llama.rope.freq_base", config.RopeTheta)
            .Add("llama.rope.dimension_count", (uint)config.HeadDim)
            .Add("llama.vocab_size", (uint)config.VocabularySize)
            .Add("tokenizer.ggml.model", "llama")
            .Add("tokenizer.ggml.tokens", spm.Pieces.ToArray())
            .Add("tokenizer.ggml.scores", spm.Scores.ToArray())
            .Add("tokenizer.ggml.token_type", spm.Types.ToArray())
            .Add("tokenizer.ggml.unknown_token_id", (uint)spm.UnknownId)
            .Add("tokenizer.ggml.bos_token_id", (uint)spm.BosId)
            .Add("tokenizer.ggml.eos_token_id", (uint)spm.EosId)
            .Add("tokenizer.ggml.add_bos_token", true)
            .Add("tokenizer.ggml.add_space_prefix", spm.AddDummyPrefix);

        using var tensors = SafeTensorsFile.Open(Path.Combine(RepoPaths.FixtureModel, "model.safetensors"));
        var t = tensors.Tensors;
        writer.AddTensor("token_embd.weight", layers, Dims(t["model.embed_tokens.weight"]), Encode(t["model.embed_tokens.weight"], layers, 0));
        for (int i = 0; i < config.LayerCount; i++)
        {
            string hf = $"model.layers.{i}.", gg = $"blk.{i}.";
            AddMatrix(writer, gg + "attn_q.weight", t[hf + "self_attn.q_proj.weight"], layers, config.HeadDim);
            AddMatrix(writer, gg + "attn_k.weight", t[hf + "self_attn.k_proj.weight"], layers, config.HeadDim);
            AddMatrix(writer, gg + "attn_v.weight", t[hf + "self_attn.v_proj.weight"], layers, 0);
            AddMatrix(writer, gg + "attn_output.weight", t[hf + "self_attn.o_proj.weight"], layers, 0);
            AddMatrix(writer, gg + "ffn_gate.weight", t[hf + "mlp.gate_proj.weight"], layers, 0);
            AddMatrix(writer, gg + "ffn_up.weight", t[hf + "mlp.up_proj.weight"], layers, 0);
            AddMatrix(writer, gg + "ffn_down.weight", t[hf + "mlp.down_proj.weight"], layers, 0);
            AddMatrix(writer, gg + "attn_norm.weight", t[hf + "input_layernorm.weight"], GgmlType.F32, 0);
            AddMatrix(writer, gg + "ffn_norm.weight", t[hf + "post_attention_layernorm.weight"], GgmlType.F32, 0);
        }
        AddMatrix(writer, "output_norm.weight", t["model.norm.weight"], GgmlType.F32, 0);
        AddMatrix(writer, "output.weight", t["lm_head.weight"], output, 0);
        return writer;
    }

    /// <summary>
    /// Which Hugging Face row llama.cpp's converter puts at row <paramref name="ggufRow"/> of Q or K: it views the
    /// rows as (heads, 2, d/2) and swaps the last two axes, so GGUF row h*d + 2i + s comes from row h*d + s*d/2 + i.
    /// </summary>
    public static int HuggingFaceRow(int ggufRow, int headDim)
    {
        int head = ggufRow / headDim, within = ggufRow % headDim;
        int i = within / 2, s = within % 2;
        return head * headDim + s * (headDim / 2) + i;
    }

    /// <summary>Row <paramref name="row"/> of a Hugging Face tensor as FP32.</summary>
    public static float[] Row(TensorData tensor, int row)
    {
        int columns = (int)tensor.Shape[^1];
        var values = new float[columns];
        tensor.ReadAsFloat32((long)row * columns, values);
        return values;
    }

    private static void AddMatrix(TestGgufWriter writer, string name, TensorData tensor, GgmlType type, int permuteHeadDim) =>
        writer.AddTensor(name, type, Dims(tensor), Encode(tensor, type, permuteHeadDim));

    // ggml lists dimensions innermost first.
    private static ulong[] Dims(TensorData tensor) => tensor.Shape.Reverse().Select(d => (ulong)d).ToArray();

    private static byte[] Encode(TensorData tensor, GgmlType type, int permuteHeadDim)
    {
        int columns = (int)tensor.Shape[^1];
        int rows = (int)(tensor.ElementCount / columns);
        using var stream = new MemoryStream();
        for (int g = 0; g < rows; g++)
        {
            var values = Row(tensor, permuteHeadDim > 0 ? HuggingFaceRow(g, permuteHeadDim) : g);
            byte[] encoded = type switch
            {
                GgmlType.F32 => MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
                GgmlType.F16 => MemoryMarshal.AsBytes(Array.ConvertAll(values, v => (Half)v).AsSpan()).ToArray(),
                GgmlType.Q4_0 => GgmlReferenceQuantizer.QuantizeQ4_0(values),
                GgmlType.Q8_0 => GgmlReferenceQuantizer.QuantizeQ8_0(values),
                _ => throw new ArgumentOutOfRangeException(nameof(type)),
            };
            stream.Write(encoded);
        }
        return stream.ToArray();
    }
}
