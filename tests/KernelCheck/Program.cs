using System.Runtime.Intrinsics.X86;
using System.Text.Json;
using LlmCpu.Kernels;
using LlmCpu.KernelCheck;

// Prints what this process sees, then one line per failing comparison and a summary; exit code 1 on any failure.
var flags = new Dictionary<string, object>
{
    ["best"] = KernelDispatch.Best.ToString(),
    ["supported"] = KernelDispatch.Supported.Select(p => p.ToString()).ToArray(),
    ["avx512f"] = Avx512F.IsSupported,
    ["avx512bw"] = Avx512BW.IsSupported,
    ["avxvnni"] = AvxVnni.IsSupported,
    ["avx2"] = Avx2.IsSupported,
    ["pairReduction"] = LlmCpu.Kernels.Quantization.PairReductionChoice.Current.ToString(),
};
Console.WriteLine(JsonSerializer.Serialize(flags));
int cases = 0, failures = 0;
var perPath = new Dictionary<string, int>();
foreach (var result in KernelConformance.Run(KernelDispatch.Supported).Concat(GgmlBlockConformance.Run(KernelDispatch.Supported)).Concat(FloatMatrixConformance.Run()).Concat(RotaryConformance.Run()).Concat(ActivationQuantizationConformance.Run()))
{
    cases++;
    perPath[result.Path.ToString()] = perPath.GetValueOrDefault(result.Path.ToString()) + 1;
    if (result.Passed) continue;
    failures++;
    if (failures <= 20) Console.WriteLine(JsonSerializer.Serialize(result));
}
Console.WriteLine(JsonSerializer.Serialize(new { cases, failures, perPath }));
return failures == 0 ? 0 : 1;
