using System.Buffers.Binary;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Formats.Gguf;

/// <summary>Q8_0, Q4_0 and F16 rows as ggml's reference quantizers write them: scales, rounding, nibble order, edges.</summary>
public sealed class GgmlQuantizerTests
{
    private static byte[] Encode(GgmlType type, float[] row)
    {
        var bytes = new byte[GgmlQuantizer.RowBytes(type, row.Length)];
        GgmlQuantizer.Encode(type, row, bytes);
        return bytes;
    }

    private static float Scale(byte[] block, int offset = 0) => (float)BinaryPrimitives.ReadHalfLittleEndian(block.AsSpan(offset));

    [Theory]
    [InlineData(GgmlType.F32, 64, 256)]
    [InlineData(GgmlType.F16, 64, 128)]
    [InlineData(GgmlType.Q8_0, 64, 68)]
    [InlineData(GgmlType.Q4_0, 64, 36)]
    public void RowBytesFollowGgmlBlockSizes(GgmlType type, int columns, int bytes) =>
        Assert.Equal(bytes, GgmlQuantizer.RowBytes(type, columns));

    [Fact]
    public void Q8_0ScaleIsAmaxOver127AndHalvesRoundAwayFromZero()
    {
        // amax 127 gives d = 1 exactly, so each code is the value rounded: ties go away from zero, as C's roundf.
        var row = new float[32];
        row[0] = -127; row[1] = 0.5f; row[2] = -0.5f; row[3] = 2.5f; row[4] = -2.5f; row[5] = 1.49f; row[6] = 126.6f;
        var block = Encode(GgmlType.Q8_0, row);
        Assert.Equal(34, block.Length);
        Assert.Equal(1f, Scale(block));
        Assert.Equal(new sbyte[] { -127, 1, -1, 3, -3, 1, 127, 0 }, block.Skip(2).Take(8).Select(b => (sbyte)b));
    }

    [Fact]
    public void Q8_0ScaleIsStoredAsFp16OfTheFp32Scale()
    {
        var row = Enumerable.Range(0, 32).Select(i => (i - 16) * 0.013f).ToArray();
        var block = Encode(GgmlType.Q8_0, row);
        float d = 16 * 0.013f / 127f;
        Assert.Equal((float)(Half)d, Scale(block));
        // Codes come from the FP32 scale, not the rounded one.
        for (int j = 0; j < 32; j++) Assert.Equal((sbyte)MathF.Round(row[j] * (1f / d), MidpointRounding.AwayFromZero), (sbyte)block[2 + j]);
    }

    [Fact]
    public void Q4_0UsesTheSignedMaxOverMinus8AndRoundsHalfUp()
    {
        // The value of largest magnitude is -8, so d = 1 and codes are trunc(x + 8.5): ties round up, 16 clamps to 15.
        var row = new float[32];
        row[0] = -8; row[1] = 0.5f; row[2] = -0.5f; row[3] = 7.6f; row[4] = 1.5f; row[5] = -1.5f;
        var block = Encode(GgmlType.Q4_0, row);
        Assert.Equal(18, block.Length);
        Assert.Equal(1f, Scale(block));
        int[] low = block.Skip(2).Take(6).Select(b => b & 0x0F).ToArray();
        Assert.Equal(new[] { 0, 9, 8, 15, 10, 7 }, low);
    }

    [Fact]
    public void Q4_0WithAPositiveMaxHasANegativeScale()
    {
        var row = new float[32];
        row[0] = 8; row[1] = -8;
        var block = Encode(GgmlType.Q4_0, row);
        Assert.Equal(-1f, Scale(block));
        Assert.Equal(0, block[2] & 0x0F);   // 8 / -1 + 8.5 = 0.5 -> 0
        Assert.Equal(15, block[3] & 0x0F);  // -8 / -1 + 8.5 = 16.5 -> 16 -> 15
        Assert.Equal(8, block[4] & 0x0F);   // zeros sit on the zero point
    }

    [Fact]
    public void Q4_0PutsElementJInTheLowNibbleAndElementJPlus16InTheHighNibble()
    {
        var row = new float[32];
        row[0] = -8;          // code 0, low nibble of byte 0
        row[16] = 7;          // code 15, high nibble of byte 0
        row[5] = -3;          // code 5, low nibble of byte 5
        row[21] = 2;          // code 10, high nibble of byte 5
        var block = Encode(GgmlType.Q4_0, row);
        Assert.Equal(0xF0, block[2]);
        Assert.Equal(0xA5, block[2 + 5]);
        Assert.Equal(row, GgmlBlockDecoder.DecodeQ4_0(block));
    }

    [Fact]
    public void ZeroBlocksHaveZeroScaleAndZeroValues()
    {
        var zeros = new float[64];
        var q8 = Encode(GgmlType.Q8_0, zeros);
        var q4 = Encode(GgmlType.Q4_0, zeros);
        Assert.Equal(0f, Scale(q8));
        Assert.All(q8.Skip(2).Take(32), b => Assert.Equal(0, b));
        Assert.Equal(0f, Scale(q4));
        Assert.All(q4.Skip(2).Take(16), b => Assert.Equal(0x88, b));
        Assert.Equal(zeros, GgmlBlockDecoder.DecodeQ4_0(q4));
    }

    [Fact]
    public void F16RoundsToNearestEven()
    {
        // 1 + 2^-11 lies halfway between 1 and the next FP16 value, 1 + 2^-10: the even one (1) wins.
        var bytes = Encode(GgmlType.F16, [1f + MathF.Pow(2, -11), 1f + 3 * MathF.Pow(2, -11), -2.5f]);
        Assert.Equal(1f, (float)BinaryPrimitives.ReadHalfLittleEndian(bytes));
        Assert.Equal(1f + MathF.Pow(2, -9), (float)BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(2)));
        Assert.Equal(-2.5f, (float)BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(4)));
    }

    [Fact]
    public void QuantizedErrorStaysWithinHalfAStepExceptWhereQ4_0Clips()
    {
        var random = new Random(7);
        var row = Enumerable.Range(0, 1024).Select(_ => (float)(random.NextDouble() * 2 - 1) * 0.1f).ToArray();
        var q8 = GgmlBlockDecoder.DecodeQ8_0(Encode(GgmlType.Q8_0, row));
        var q4 = GgmlBlockDecoder.DecodeQ4_0(Encode(GgmlType.Q4_0, row));
        for (int b = 0; b < row.Length / 32; b++)
        {
            var block = row.AsSpan(b * 32, 32);
            float amax = block.ToArray().Max(MathF.Abs);
            for (int j = 0; j < 32; j++)
            {
                int i = b * 32 + j;
                // Half a step, plus the FP16 rounding of the scale (relative 2^-11) times the largest code. Q4_0 reaches
                // -8 steps on the side of the largest magnitude but only 7 on the other, so values there may lose a whole step.
                float q4Step = amax / 8;
                float q4Bound = MathF.Abs(row[i]) > 7.5f * q4Step ? q4Step : q4Step * 0.5f;
                Assert.True(MathF.Abs(q8[i] - row[i]) <= amax / 127 * 0.5f + amax * 1e-3f, $"Q8_0 element {i}");
                Assert.True(MathF.Abs(q4[i] - row[i]) <= q4Bound + amax * 1e-3f, $"Q4_0 element {i}");
            }
        }
    }

    [Fact]
    public void RowsThatAreNotWholeBlocksOrDestinationsOfTheWrongSizeAreRefused()
    {
        Assert.Throws<ArgumentException>(() => GgmlQuantizer.RowBytes(GgmlType.Q4_0, 33));
        Assert.Throws<ArgumentException>(() => GgmlQuantizer.Encode(GgmlType.Q8_0, new float[32], new byte[33]));
        Assert.Throws<ArgumentOutOfRangeException>(() => GgmlQuantizer.Encode(GgmlType.Q4_K, new float[256], new byte[144]));
    }

    /// <summary>
    /// INT4 g32 symmetric values lie on the Q4_0 grid: the group's largest magnitude is code 0 (-8 x scale), so ggml's
    /// quantizer finds the same scale and maps every value back to its code. Exporting such a model to Q4_0 is lossless.
    /// </summary>
    [Fact]
    public void Int4G32SymmetricRowsSurviveQ4_0Exactly()
    {
        var random = new Random(11);
        const int rows = 16, columns = 256;
        var weights = Enumerable.Range(0, rows * columns).Select(_ => (float)(random.NextDouble() * 2 - 1) * 0.05f).ToArray();
        using var matrix = Int4Matrix.Quantize(weights, rows, columns, new Int4Format(32, false));
        var row = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            matrix.DequantizeRow(r, row);
            Assert.Equal(row, GgmlBlockDecoder.DecodeQ4_0(Encode(GgmlType.Q4_0, row)));
        }
    }

    /// <summary>
    /// The engine's INT4 symmetric quantizer follows ggml's Q4_0 rule (FP32 d = max / -8, trunc(x / d + 8.5), d stored
    /// as FP16), so with group size 32 it produces the same codes and scales as llama.cpp.
    /// </summary>
    [Fact]
    public void EngineInt4AndGgmlQ4_0GiveTheSameCodes()
    {
        var random = new Random(3);
        const int groups = 20_000;
        int differing = 0;
        var quants = new byte[32];
        for (int g = 0; g < groups; g++)
        {
            var group = Enumerable.Range(0, 32).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            float scale = Int4Quantizer.QuantizeSymmetric(group, quants);
            var block = Encode(GgmlType.Q4_0, group);
            Assert.Equal(scale, Scale(block));
            for (int j = 0; j < 32; j++)
            {
                int ggml = j < 16 ? block[2 + j] & 0x0F : block[2 + j - 16] >> 4;
                Assert.InRange(quants[j] - ggml, -1, 1);
                if (quants[j] != ggml) differing++;
            }
        }
        Assert.Equal(0, differing);
    }

    [Fact]
    public void FixtureImportedAsInt4G32EqualsItsQ4_0()
    {
        using var original = ModelLoader.Load(RepoPaths.FixtureModel);
        using var int4 = ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { Precision = ModelPrecision.Int4, Int4Format = new Int4Format(32, false) });
        long differing = 0, total = 0;
        foreach (var (source, imported) in original.Weights.Layers.SelectMany(l => l.Matrices).Zip(int4.Weights.Layers.SelectMany(l => l.Matrices)))
        {
            var row = new float[source.Columns];
            var engine = new float[source.Columns];
            for (int r = 0; r < source.Rows; r++)
            {
                source.DequantizeRow(r, row);
                imported.DequantizeRow(r, engine);
                var ggml = GgmlBlockDecoder.DecodeQ4_0(Encode(GgmlType.Q4_0, row));
                for (int k = 0; k < row.Length; k++) if (ggml[k] != engine[k]) differing++;
                total += row.Length;
            }
        }
        Assert.Equal(0, differing);
        Assert.True(total > 6_000_000);
    }
}
