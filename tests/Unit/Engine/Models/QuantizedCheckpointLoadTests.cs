using System.Text.Json.Nodes;
using LlmCpu.Engine;
using LlmCpu.Engine.Formats;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// GPTQ and AWQ checkpoints of the bundled model, written in the published layouts from the engine's own
/// round-to-nearest codes: each loads into the INT4 kernels exactly (the same logits, bit for bit, as the engine's own
/// quantization of the same weights in the same format), and what cannot be held exactly is refused by name.
/// </summary>
public sealed class QuantizedCheckpointLoadTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("llmcpu-quantized-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(QuantizedCheckpointWriter.Layout layout, int groupSize, bool asymmetric, Action<JsonObject>? editConfig = null)
    {
        string destination = Path.Combine(_folder, $"{layout}-{groupSize}-{asymmetric}-{Guid.NewGuid():N}");
        QuantizedCheckpointWriter.Write(RepoPaths.FixtureModel, destination, layout, groupSize, asymmetric, editConfig);
        return destination;
    }

    private static float[] Logits(LanguageModel model)
    {
        using var session = new InferenceSession(model, WorkerPool.Shared, contextLength: 64);
        return session.Prefill(model.Tokenizer.Encode("It is a truth universally acknowledged", addBos: true)).ToArray();
    }

    [Theory]
    [InlineData(QuantizedCheckpointWriter.Layout.GptqV1, 128, false)]
    [InlineData(QuantizedCheckpointWriter.Layout.GptqV2, 32, true)]
    [InlineData(QuantizedCheckpointWriter.Layout.Awq, 64, true)]
    public void LoadsExactlyAsTheEnginesOwnQuantizationOfTheSameWeights(QuantizedCheckpointWriter.Layout layout, int groupSize, bool asymmetric)
    {
        string checkpoint = Write(layout, groupSize, asymmetric);
        var format = new Int4Format(groupSize, asymmetric);
        using var packed = ModelLoader.Load(checkpoint);
        using var own = ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = format });

        Assert.Equal(format.ToString(), packed.Precision);
        var layer = Assert.IsType<Int4Matrix>(packed.Weights.Layers[3].GateUp);
        Assert.Equal(format, layer.Int4Format);
        Assert.Equal(Logits(own), Logits(packed));
    }

    [Fact]
    public void AskingForTheStoredFormatCopiesAndAnotherFormatQuantizesTheDequantizedWeights()
    {
        string checkpoint = Write(QuantizedCheckpointWriter.Layout.Awq, 64, true);
        using var same = ModelLoader.Load(checkpoint, new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(64, true) });
        using var asStored = ModelLoader.Load(checkpoint);
        Assert.Equal(Logits(asStored), Logits(same));

        using var other = ModelLoader.Load(checkpoint, new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(128, false) });
        Assert.Equal("Q4 g128 sym", other.Precision);
        using var f32 = ModelLoader.Load(checkpoint, new LoadOptions { Precision = ModelPrecision.Float32 });
        // Dequantized exactly: scale * (code - zero) in FP32 equals what the INT4 matrix holds.
        var row = new float[f32.Weights.Layers[0].Down.Columns];
        var dequantized = new float[row.Length];
        f32.Weights.Layers[0].Down.DequantizeRow(5, row);
        asStored.Weights.Layers[0].Down.DequantizeRow(5, dequantized);
        Assert.Equal(dequantized, row);
    }

    [Fact]
    public void TheNibbleOrdersAreThePublishedOnes()
    {
        // One word each, written by hand from the tools' rules: GPTQ packs input columns 0..7 of a row lowest nibble
        // first; AWQ packs output rows 0..7 of a column in the order 0, 2, 4, 6, 1, 3, 5, 7.
        const int word = 0x76543210;
        string folder = Path.Combine(_folder, "hand");
        Directory.CreateDirectory(folder);
        foreach (var (method, qweightShape, expected) in new[]
        {
            ("gptq", new long[] { 1, 8 }, new[] { 0, 1, 2, 3, 4, 5, 6, 7 }),   // row 0: columns 0..7 are codes 0..7
            ("awq", new long[] { 8, 1 }, new[] { 0, 4, 1, 5, 2, 6, 3, 7 }),    // column 0: rows 0..7
        })
        {
            var builder = new LlmCpu.Tests.Support.Hostile.SafeTensorsBuilder();
            var codes = method == "gptq" ? new[] { word, 0, 0, 0, 0, 0, 0, 0 } : [word, 0, 0, 0, 0, 0, 0, 0];
            builder.Add("l.qweight", "I32", qweightShape, QuantizedCheckpointWriter.Ints(codes))
                .Add("l.qzeros", "I32", [1, 1], QuantizedCheckpointWriter.Ints([0]))
                .Add("l.scales", "F16", [1, 8], Enumerable.Range(0, 8).SelectMany(_ => BitConverter.GetBytes((Half)1)).ToArray());
            File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), builder.ToBytes());
            using var tensors = TensorCollection.OpenFolder(folder);
            var source = new PackedInt4Source(tensors, "l", rows: 8, columns: 8,
                new QuantizedCheckpoint(method == "gptq" ? QuantizedCheckpointMethod.Gptq : QuantizedCheckpointMethod.Awq, -1, ZeroOffset: 0, "config.json"));
            var values = new float[8];
            if (method == "gptq")
            {
                source.ReadRow(0, values);
                Assert.Equal(expected.Select(v => (float)v), values);
            }
            else
            {
                for (int r = 0; r < 8; r++)
                {
                    source.ReadRow(r, values);
                    Assert.Equal(expected[r], values[0]);
                }
            }
        }
    }

    public static TheoryData<string, Action<JsonObject>, string> RefusedConfigs() => new()
    {
        { "8-bit", c => c["quantization_config"]!["bits"] = 8, "quantization_config.bits" },
        { "group of 256", c => c["quantization_config"]!["group_size"] = 256, "quantization_config.group_size" },
        { "another method", c => c["quantization_config"]!["quant_method"] = "bitsandbytes", "quantization_config.quant_method" },
        { "AWQ's GEMV layout", c => c["quantization_config"]!["version"] = "gemv", "quantization_config.version" },
        { "GPTQ's Marlin format", c => c["quantization_config"]!["checkpoint_format"] = "marlin", "quantization_config.checkpoint_format" },
    };

    [Theory]
    [MemberData(nameof(RefusedConfigs))]
    public void WhatCannotBeReadExactlyIsRefusedByField(string name, Action<JsonObject> edit, string field)
    {
        var layout = name.Contains("AWQ") ? QuantizedCheckpointWriter.Layout.Awq : QuantizedCheckpointWriter.Layout.GptqV2;
        string checkpoint = Write(layout, 64, true, edit);
        var ex = Assert.Throws<ModelNotSupportedException>(() => ModelLoader.Load(checkpoint));
        Assert.Equal(field, ex.Field);
    }

    [Fact]
    public void PermutedGroupsOfActivationOrderAreRefusedNamingTheTensor()
    {
        string checkpoint = Write(QuantizedCheckpointWriter.Layout.GptqV2, 64, true, c => c["quantization_config"]!["desc_act"] = true);
        // Swap two columns' groups in one layer's g_idx, as activation order without static groups does.
        EditTensorBytes(checkpoint, "model.layers.2.mlp.up_proj.g_idx", data =>
        {
            BitConverter.TryWriteBytes(data, 1);
            BitConverter.TryWriteBytes(data[(64 * 4)..], 0);
        });
        var ex = Assert.Throws<ModelNotSupportedException>(() => ModelLoader.Load(checkpoint));
        Assert.Equal("tensor 'model.layers.2.mlp.up_proj.g_idx'", ex.Field);
    }

    [Fact]
    public void AZeroPointThatGptqsOriginalFormatCannotHoldIsRefused()
    {
        // An asymmetric group whose zero point is 0 is stored as 15 (zero - 1, masked to 4 bits) in the original format
        // and reads back as 16: not a 4-bit zero point. One such nibble is written into a layer's qzeros.
        string checkpoint = Write(QuantizedCheckpointWriter.Layout.GptqV1, 128, false);
        EditTensorBytes(checkpoint, "model.layers.1.self_attn.o_proj.qzeros", data => data[5] |= 0xF0);
        var ex = Assert.Throws<ModelNotSupportedException>(() => ModelLoader.Load(checkpoint));
        Assert.Equal("tensor 'model.layers.1.self_attn.o_proj.qzeros'", ex.Field);
        Assert.Contains("zero point 16", ex.Message);
    }

    [Fact]
    public void WithoutItsQuantizationConfigAPackedCheckpointLacksItsWeights()
    {
        string checkpoint = Write(QuantizedCheckpointWriter.Layout.Awq, 64, true, c => c.Remove("quantization_config"));
        // Without the quantization config the layers' .weight tensors are missing.
        var missing = Assert.Throws<ModelFormatException>(() => ModelLoader.Load(checkpoint));
        Assert.Contains(".weight'", missing.Field);
    }

    private delegate void ByteEdit(Span<byte> data);

    /// <summary>Changes the bytes of tensor <paramref name="name"/> in a checkpoint's model.safetensors, in place.</summary>
    private static void EditTensorBytes(string checkpoint, string name, ByteEdit edit)
    {
        string file = Path.Combine(checkpoint, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(file);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        var header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))!;
        int at = (int)(8 + headerLength + (long)header[name]!["data_offsets"]![0]!);
        edit(bytes.AsSpan(at));
        File.WriteAllBytes(file, bytes);
    }
}
