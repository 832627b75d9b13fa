using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using LlmCpu.Kernels.MatMul;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Kernels.Threading;

namespace LlmCpu.Bench;

/// <summary>
/// INT4 GEMV under BenchmarkDotNet, one job per instruction-set path (higher sets switched off through
/// DOTNET_Enable* in each job's process), with the scalar path as the baseline.
/// </summary>
[Config(typeof(PerIsaConfig))]
public unsafe class Int4GemvBenchmarks
{
    private Int4Matrix _matrix = null!;
    private WorkerPool _pool = null!;
    private MatMulRunner _runner = null!;
    private float[] _x = null!;
    private float[] _y = null!;

    [Params(32, 128)]
    public int GroupSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _matrix = BenchMatrices.RandomInt4(BenchMatrices.Outputs, BenchMatrices.Inputs, new Int4Format(GroupSize, false));
        _x = BenchMatrices.RandomActivations(1, BenchMatrices.Inputs);
        _y = new float[BenchMatrices.Outputs];
        _pool = new WorkerPool(Environment.ProcessorCount);
        _runner = new MatMulRunner(_pool);
    }

    [Benchmark]
    public void Gemv()
    {
        fixed (float* x = _x)
        fixed (float* y = _y) _runner.Multiply(_matrix, x, y, 1);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _runner.Dispose();
        _pool.Dispose();
        _matrix.Dispose();
    }

    private sealed class PerIsaConfig : ManualConfig
    {
        public PerIsaConfig()
        {
            AddJob(Job.ShortRun.WithId("Scalar").WithEnvironmentVariable("LLMCPU_KERNEL_PATH", "Scalar").AsBaseline());
            AddJob(Job.ShortRun.WithId("Vector128").WithEnvironmentVariable("DOTNET_EnableAVX2", "0"));
            AddJob(Job.ShortRun.WithId("Avx2").WithEnvironmentVariables(
                new EnvironmentVariable("DOTNET_EnableAVX512", "0"), new EnvironmentVariable("DOTNET_EnableAVXVNNI", "0")));
            AddJob(Job.ShortRun.WithId("Avx2Vnni").WithEnvironmentVariable("DOTNET_EnableAVX512", "0"));
            AddJob(Job.ShortRun.WithId("Best"));
        }
    }
}
