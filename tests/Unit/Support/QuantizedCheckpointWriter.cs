using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LlmCpu.Engine.Formats;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support.Hostile;

namespace LlmCpu.Tests.Support;

/// <summary>
/// Writes a Hugging Face folder's linear layers as a GPTQ or AWQ checkpoint, in the published layouts (written here
/// from the tools' packing rules, as <see cref="QuantizedCheckpointMethod"/> describes them): each row quantized by the
/// engine's own round-to-nearest rule in groups along the input, then packed. The same weights quantized by the engine
/// directly must therefore load bit for bit equal to the checkpoint read back.
/// </summary>
public static partial class QuantizedCheckpointWriter
{
    public enum Layout { GptqV1, GptqV2, Awq }

    /// <summary>AWQ's order: nibble p of a word holds output row 8w + AwqOrder[p].</summary>
    private static readonly int[] AwqOrder = [0, 2, 4, 6, 1, 3, 5, 7];

    [GeneratedRegex(@"^model\.layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.weight$")]
    private static partial Regex LinearWeight();

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/> (created), its linear layers packed.</summary>
    public static void Write(string source, string destination, Layout layout, int groupSize, bool asymmetric, Action<JsonObject>? editConfig = null)
    {
        Directory.CreateDirectory(destination);
        foreach (string file in Directory.EnumerateFiles(source))
        {
            string name = Path.GetFileName(file);
            if (name != "model.safetensors" && name != "config.json") File.Copy(file, Path.Combine(destination, name));
        }
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        config["quantization_config"] = layout == Layout.Awq
            ? new JsonObject { ["quant_method"] = "awq", ["bits"] = 4, ["group_size"] = groupSize, ["zero_point"] = true, ["version"] = "gemm" }
            : new JsonObject
            {
                ["quant_method"] = "gptq", ["bits"] = 4, ["group_size"] = groupSize, ["desc_act"] = false, ["sym"] = !asymmetric,
                ["checkpoint_format"] = layout == Layout.GptqV1 ? "gptq" : "gptq_v2",
            };
        editConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(destination, "config.json"), config.ToJsonString());

        var builder = new SafeTensorsBuilder();
        using var tensors = TensorCollection.OpenFolder(source);
        foreach (var (name, tensor) in tensors.Tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            if (!LinearWeight().IsMatch(name))
            {
                builder.Add(name, tensor.Type.ToString(), [.. tensor.Shape], Bytes(tensor));
                continue;
            }
            int rows = (int)tensor.Shape[0], columns = (int)tensor.Shape[1];
            var (codes, scales, zeros) = Quantize(tensor, rows, columns, groupSize, asymmetric);
            string prefix = name[..^".weight".Length];
            int groups = columns / groupSize;
            foreach (var (suffix, shape, data) in Pack(layout, codes, zeros, rows, columns, groups))
                builder.Add(prefix + suffix, "I32", shape, data);
            builder.Add(prefix + ".scales", "F16", [groups, rows], scales);
            if (layout != Layout.Awq)
                builder.Add(prefix + ".g_idx", "I32", [columns], Ints(Enumerable.Range(0, columns).Select(k => k / groupSize).ToArray()));
        }
        File.WriteAllBytes(Path.Combine(destination, "model.safetensors"), builder.ToBytes());
    }

    /// <summary>codes[out, in], scales (FP16 bytes) [groups, out], zeros[groups, out], by the engine's round-to-nearest.</summary>
    private static (byte[,] Codes, byte[] Scales, byte[,] Zeros) Quantize(TensorData tensor, int rows, int columns, int groupSize, bool asymmetric)
    {
        int groups = columns / groupSize;
        var codes = new byte[rows, columns];
        var scales = new Half[groups * rows];
        var zeros = new byte[groups, rows];
        var row = new float[columns];
        var q = new byte[groupSize];
        for (int r = 0; r < rows; r++)
        {
            tensor.ReadAsFloat32((long)r * columns, row);
            for (int g = 0; g < groups; g++)
            {
                var (scale, zero) = Int4Quantizer.Quantize(row.AsSpan(g * groupSize, groupSize), q, asymmetric, Int4Recipe.RoundToNearest);
                scales[g * rows + r] = (Half)scale;
                zeros[g, r] = zero;
                for (int i = 0; i < groupSize; i++) codes[r, g * groupSize + i] = q[i];
            }
        }
        var scaleBytes = new byte[scales.Length * 2];
        for (int i = 0; i < scales.Length; i++) BitConverter.TryWriteBytes(scaleBytes.AsSpan(2 * i), scales[i]);
        return (codes, scaleBytes, zeros);
    }

    private static IEnumerable<(string Suffix, long[] Shape, byte[] Data)> Pack(Layout layout, byte[,] codes, byte[,] zeros, int rows, int columns, int groups)
    {
        if (layout == Layout.Awq)
        {
            // qweight [in, out / 8] and qzeros [groups, out / 8]: eight output rows a word, in AWQ's order.
            var qweight = new int[columns * (rows / 8)];
            for (int k = 0; k < columns; k++)
                for (int w = 0; w < rows / 8; w++)
                    for (int p = 0; p < 8; p++) qweight[k * (rows / 8) + w] |= codes[8 * w + AwqOrder[p], k] << (4 * p);
            var qzeros = new int[groups * (rows / 8)];
            for (int g = 0; g < groups; g++)
                for (int w = 0; w < rows / 8; w++)
                    for (int p = 0; p < 8; p++) qzeros[g * (rows / 8) + w] |= zeros[g, 8 * w + AwqOrder[p]] << (4 * p);
            yield return (".qweight", [columns, rows / 8], Ints(qweight));
            yield return (".qzeros", [groups, rows / 8], Ints(qzeros));
            yield break;
        }
        // GPTQ: qweight [in / 8, out], eight consecutive input columns a word, lowest nibble first; qzeros [groups,
        // out / 8], eight output rows a word, stored as zero - 1 in the original format (masked to 4 bits, as the
        // tools store it).
        int offset = layout == Layout.GptqV1 ? 1 : 0;
        var gptqWeight = new int[columns / 8 * rows];
        for (int w = 0; w < columns / 8; w++)
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < 8; j++) gptqWeight[w * rows + r] |= codes[r, 8 * w + j] << (4 * j);
        var gptqZeros = new int[groups * (rows / 8)];
        for (int g = 0; g < groups; g++)
            for (int w = 0; w < rows / 8; w++)
                for (int j = 0; j < 8; j++) gptqZeros[g * (rows / 8) + w] |= ((zeros[g, 8 * w + j] - offset) & 15) << (4 * j);
        yield return (".qweight", [columns / 8, rows], Ints(gptqWeight));
        yield return (".qzeros", [groups, rows / 8], Ints(gptqZeros));
    }

    /// <summary>Little-endian bytes of 32-bit integers, as an I32 safetensors tensor holds them.</summary>
    public static byte[] Ints(int[] values)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    private static unsafe byte[] Bytes(TensorData tensor) => new ReadOnlySpan<byte>(tensor.Data, checked((int)tensor.ByteLength)).ToArray();
}
