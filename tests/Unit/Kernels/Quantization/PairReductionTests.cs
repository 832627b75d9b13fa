using LlmCpu.Kernels.Quantization;

namespace LlmCpu.Tests.Kernels.Quantization;

/// <summary>
/// Which order the AVX-512 kernels reduce pairs of 16-bit sums in (both are compared with the scalar reference in
/// child processes by IsaChildProcessTests): by vendor, unless LLMCPU_PAIR_REDUCTION names one.
/// </summary>
public sealed class PairReductionTests
{
    [Theory]
    [InlineData(null, true, "Dwords")]
    [InlineData(null, false, "Words")]
    [InlineData("Words", true, "Words")]
    [InlineData("dwords", false, "Dwords")]
    [InlineData("", true, "Dwords")]
    [InlineData("bytes", false, "Words")]
    [InlineData("7", true, "Dwords")]
    public void TheVendorChoosesUnlessTheVariableNamesAReduction(string? requested, bool intel, string expected) =>
        Assert.Equal(expected, PairReductionChoice.Choose(requested, intel).ToString());

    [SkippableFact]
    public void ThisProcessFollowsTheVendorThatProcCpuinfoNames()
    {
        Skip.IfNot(File.Exists("/proc/cpuinfo") && OperatingSystem.IsLinux(), "no /proc/cpuinfo to read the vendor from independently of CPUID");
        string? vendor = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("vendor_id", StringComparison.Ordinal))?.Split(':')[1].Trim();
        Skip.If(vendor == null, "/proc/cpuinfo names no vendor_id (not an x86 processor)");
        var expected = PairReductionChoice.Choose(Environment.GetEnvironmentVariable("LLMCPU_PAIR_REDUCTION"), vendor == "GenuineIntel");
        Assert.Equal(expected, PairReductionChoice.Current);
    }
}
