using System.Runtime.Intrinsics.X86;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>
/// INT8 KV cache storage: what is read back against the numbers written (within half a step of their head's scale, the
/// largest exactly), its size per position, the vector conversions attention uses against their scalar reference,
/// non-finite input kept visible, positions written from several threads, and the context shift's requantized keys.
/// </summary>
public sealed unsafe class Int8KvCacheTests
{
    private const int KeyBlock = KvCachePool.BlockPositions;

    /// <summary>Position p's keys (value = false) or values: heads of different magnitudes, one all zero, one with an outlier.</summary>
    private static float[] Vector(int kvDim, int headDim, int position, int layer, bool value)
    {
        var random = new Random(position * 31 + layer * 7 + (value ? 1 : 0));
        var x = new float[kvDim];
        for (int j = 0; j < kvDim; j++)
        {
            int head = j / headDim;
            double magnitude = head switch { 0 => 1e-3, 1 => 0, 2 => 3, _ => 40 };
            x[j] = (float)((random.NextDouble() * 2 - 1) * magnitude);
        }
        x[2 * headDim + position % headDim] = 250; // an outlier in head 2 at a moving dimension
        return x;
    }

    [Fact]
    public void WhatIsReadBackIsWithinHalfAStepOfTheWrittenNumbers()
    {
        const int headDim = 10, kvDim = 4 * headDim, layers = 2, positions = 3 * KeyBlock + 5;
        using var pool = new KvCachePool("test", layers, kvDim, KvCachePool.BlocksFor(positions), positions, KvCacheType.Int8, headDim);
        using var cache = new KvCache(pool, positions);
        cache.Reserve(0, positions);
        for (int l = 0; l < layers; l++)
            for (int p = 0; p < positions; p++)
                cache.Write(l, p, Vector(kvDim, headDim, p, l, value: false), Vector(kvDim, headDim, p, l, value: true));

        var key = new float[kvDim];
        var value = new float[kvDim];
        for (int l = 0; l < layers; l++)
        {
            for (int p = 0; p < positions; p++)
            {
                cache.Read(l, p, key, value);
                Check(Vector(kvDim, headDim, p, l, value: false), key, $"layer {l} position {p} keys");
                Check(Vector(kvDim, headDim, p, l, value: true), value, $"layer {l} position {p} values");
            }
        }

        static void Check(float[] expected, float[] actual, string what)
        {
            for (int h = 0; h < kvDim / headDim; h++)
            {
                var x = expected.AsSpan(h * headDim, headDim);
                var y = actual.AsSpan(h * headDim, headDim);
                float max = 0;
                foreach (float v in x) max = Math.Max(max, Math.Abs(v));
                double halfStep = max / 127.0 / 2;
                for (int i = 0; i < headDim; i++)
                {
                    Assert.True(Math.Abs(y[i] - x[i]) <= halfStep * (1 + 1e-5), $"{what}, head {h} dim {i}: {y[i]} for {x[i]} (half a step {halfStep})");
                    // The largest magnitude is 127 steps: stored exactly, up to the float rounding of its scale.
                    if (Math.Abs(x[i]) == max) Assert.True(Math.Abs(y[i] - x[i]) <= 1e-6 * max, $"{what}, head {h}: the largest {x[i]} reads {y[i]}");
                }
            }
        }
    }

    [Fact]
    public void APositionTakesAboutHalfTheBytesOfFloat16()
    {
        // The 1.1B Llama shape (TinyLlama): 22 layers, 4 key/value heads of 64.
        const int layers = 22, kvDim = 256, headDim = 64;
        long PerPosition(KvCacheType type)
        {
            using var pool = new KvCachePool("shape", layers, kvDim, 1, KeyBlock, type, headDim);
            return pool.BlockBytes / KeyBlock;
        }
        Assert.Equal(layers * 2 * kvDim * 4, PerPosition(KvCacheType.Float32));   // 45,056
        Assert.Equal(layers * 2 * kvDim * 2, PerPosition(KvCacheType.Float16));   // 22,528
        Assert.Equal(layers * (2 * kvDim + 2 * 4 * 4), PerPosition(KvCacheType.Int8)); // 11,968: 0.531 of FP16
        Assert.InRange(PerPosition(KvCacheType.Int8) / (double)PerPosition(KvCacheType.Float16), 0.5, 0.54);
    }

    public static IEnumerable<object[]> Shapes() =>
        from headDim in new[] { 6, 10, 16, 24, 64, 72, 128 }
        from width in new[] { 1, 37, 64 }
        select new object[] { headDim, width };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void TheVectorConversionsEqualTheScalarReference(int headDim, int width)
    {
        int stride = 2 * headDim + 3; // values of one head inside a wider row, at an odd offset
        var random = new Random(headDim * 100 + width);
        var keys = new sbyte[headDim * KeyBlock];
        var values = new sbyte[width * stride + 3];
        var scales = new float[KeyBlock];
        random.NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(keys.AsSpan()));
        random.NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        keys[0] = values[3] = -127;
        keys[1] = values[4] = 127;
        for (int s = 0; s < KeyBlock; s++) scales[s] = (float)(random.NextDouble() * Math.Pow(10, random.Next(-4, 3)));
        var expectedKeys = new float[headDim * KeyBlock];
        var expectedValues = new float[width * headDim];
        fixed (sbyte* k = keys)
        fixed (sbyte* v = values)
        fixed (float* sc = scales)
        fixed (float* ek = expectedKeys)
        fixed (float* ev = expectedValues)
        {
            Int8KvBlock.DequantizeKeysScalar(k, sc, headDim, ek);
            Int8KvBlock.DequantizeValuesScalar(v + 3, stride, sc, width, headDim, ev);
            for (int s = 0; s < KeyBlock; s++) Assert.Equal(keys[s] * scales[s], expectedKeys[s]); // the reference itself
            Assert.Equal(values[3 + (width - 1) * stride] * scales[width - 1], expectedValues[(width - 1) * headDim]);

            var paths = new List<string> { "dispatch" };
            if (Avx512F.IsSupported) paths.Add("AVX-512");
            if (Avx2.IsSupported) paths.Add("AVX2");
            foreach (string path in paths)
            {
                var actualKeys = new float[headDim * KeyBlock];
                var actualValues = new float[width * headDim + 1];
                actualValues[^1] = 12345; // past the last position: left alone
                fixed (float* ak = actualKeys)
                fixed (float* av = actualValues)
                {
                    switch (path)
                    {
                        case "AVX-512":
                            Int8KvBlock.DequantizeKeysAvx512(k, sc, headDim, ak);
                            Int8KvBlock.DequantizeValuesAvx512(v + 3, stride, sc, width, headDim, av);
                            break;
                        case "AVX2":
                            Int8KvBlock.DequantizeKeysAvx2(k, sc, headDim, ak);
                            Int8KvBlock.DequantizeValuesAvx2(v + 3, stride, sc, width, headDim, av);
                            break;
                        default:
                            Int8KvBlock.DequantizeKeys(k, sc, headDim, ak);
                            Int8KvBlock.DequantizeValues(v + 3, stride, sc, width, headDim, av);
                            break;
                    }
                }
                Assert.True(expectedKeys.AsSpan().SequenceEqual(actualKeys), $"{path}: keys differ from the scalar reference");
                Assert.True(expectedValues.AsSpan().SequenceEqual(actualValues.AsSpan(0, width * headDim)), $"{path}: values differ from the scalar reference");
                Assert.Equal(12345, actualValues[^1]);
            }
        }
    }

    [Fact]
    public void NonFiniteInputReadsBackNonFiniteInItsHeadOnly()
    {
        // The forward pass's numeric check looks at layer outputs; a NaN or infinity quantized to finite bytes would hide.
        const int headDim = 8, kvDim = 3 * headDim;
        using var pool = new KvCachePool("test", 1, kvDim, 1, KeyBlock, KvCacheType.Int8, headDim);
        using var cache = new KvCache(pool, KeyBlock);
        cache.Reserve(0, 1);
        var key = Enumerable.Range(0, kvDim).Select(i => i * 0.1f).ToArray();
        var value = Enumerable.Range(0, kvDim).Select(i => -i * 0.1f).ToArray();
        key[headDim + 3] = float.NaN;
        value[2] = float.PositiveInfinity;
        cache.Write(0, 0, key, value);
        var k = new float[kvDim];
        var v = new float[kvDim];
        cache.Read(0, 0, k, v);
        Assert.All(k.AsSpan(headDim, headDim).ToArray(), x => Assert.True(float.IsNaN(x)));
        Assert.All(v.AsSpan(0, headDim).ToArray(), x => Assert.False(float.IsFinite(x)));
        Assert.All(k.AsSpan(0, headDim).ToArray().Concat(k.AsSpan(2 * headDim).ToArray()).Concat(v.AsSpan(headDim).ToArray()), x => Assert.True(float.IsFinite(x)));
        Assert.Equal(0.1f * (3 * headDim - 1), k[3 * headDim - 1], 1e-6f * (3 * headDim)); // a finite head's largest, exact
    }

    [Fact]
    public void PositionsOfOneBlockWrittenFromSeveralThreadsStoreWhatOneThreadStores()
    {
        // A chunk's tokens are written by different workers; each position keeps its own scales, so none disturbs another.
        const int headDim = 16, kvDim = 4 * headDim, positions = 2 * KeyBlock;
        using var pool = new KvCachePool("test", 1, kvDim, 4, positions, KvCacheType.Int8, headDim);
        using var serial = new KvCache(pool, positions);
        using var parallel = new KvCache(pool, positions);
        serial.Reserve(0, positions);
        parallel.Reserve(0, positions);
        for (int p = 0; p < positions; p++) serial.Write(0, p, Vector(kvDim, headDim, p, 0, false), Vector(kvDim, headDim, p, 0, true));
        var vectors = Enumerable.Range(0, positions).Select(p => (Key: Vector(kvDim, headDim, p, 0, false), Value: Vector(kvDim, headDim, p, 0, true))).ToArray();
        Parallel.For(0, positions, new ParallelOptions { MaxDegreeOfParallelism = 4 }, p => parallel.Write(0, p, vectors[p].Key, vectors[p].Value));
        for (int b = 0; b < 2; b++)
        {
            var a = new ReadOnlySpan<byte>(serial.Keys(0, b), (int)pool.LayerBytes);
            var c = new ReadOnlySpan<byte>(parallel.Keys(0, b), (int)pool.LayerBytes);
            Assert.True(a.SequenceEqual(c), $"block {b} differs");
        }
    }

    [Fact]
    public void AContextShiftRequantizesTheKeptKeysAtTheirNewPositions()
    {
        // The first layer's keys depend only on their token and position, so after a shift they must be what a fresh
        // prefill of the kept tokens stores, up to the roundings: the original and the fresh quantization (half a step
        // each) and the requantization after the rotation (half a step, and the rotation turns the original's error
        // by up to sqrt 2): under 2 steps of the head's scale. Keys moved without the rotation are far outside that.
        using var model = ModelLoader.Load(RepoPaths.FixtureModel, new LoadOptions { KvCache = new KvCacheOptions { Type = KvCacheType.Int8 } });
        int[] tokens = [1, .. Enumerable.Range(0, 179).Select(i => 3 + i * 13 % 500)];
        const int keep = 5, discard = 70;
        using var shifted = new InferenceSession(model, WorkerPool.Shared);
        shifted.Prefill(tokens);
        using var moved = new InferenceSession(model, WorkerPool.Shared);
        moved.Prefill(tokens);
        shifted.ShiftContext(keep, discard);
        using var fresh = new InferenceSession(model, WorkerPool.Shared);
        fresh.Prefill([.. tokens[..keep], .. tokens[(keep + discard)..]]);
        Assert.Equal(fresh.Position, shifted.Position);

        int kvDim = model.Config.KvDim, headDim = model.Config.HeadDim;
        float[] k1 = new float[kvDim], v1 = new float[kvDim], k2 = new float[kvDim], v2 = new float[kvDim], k3 = new float[kvDim], v3 = new float[kvDim];
        double worstSteps = 0, unrotatedSteps = 0;
        for (int p = keep; p < fresh.Position; p++)
        {
            shifted.Cache.Read(0, p, k1, v1);
            fresh.Cache.Read(0, p, k2, v2);
            moved.Cache.Read(0, p + discard, k3, v3);
            for (int h = 0; h < kvDim / headDim; h++)
            {
                double keyStep = 0, valueStep = 0;
                for (int i = h * headDim; i < (h + 1) * headDim; i++)
                {
                    keyStep = Math.Max(keyStep, Math.Abs(k2[i]) / 127);
                    valueStep = Math.Max(valueStep, Math.Abs(v2[i]) / 127);
                }
                for (int i = h * headDim; i < (h + 1) * headDim; i++)
                {
                    worstSteps = Math.Max(worstSteps, Math.Abs(k1[i] - k2[i]) / keyStep);
                    unrotatedSteps = Math.Max(unrotatedSteps, Math.Abs(k3[i] - k2[i]) / keyStep);
                    Assert.Equal(v2[i], v1[i], valueStep * 1.01); // values move as they are: two quantizations of one number
                }
            }
        }
        Assert.True(worstSteps < 2, $"shifted keys differ from fresh ones by {worstSteps:F2} steps of their head's scale");
        Assert.True(unrotatedSteps > 10, $"keys moved without rotation differ by only {unrotatedSteps:F2} steps");
    }
}
