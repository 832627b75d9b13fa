using LlmCpu.Fuzz;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Fuzz;

/// <summary>
/// Replays, through the fuzz targets themselves, every input the fuzzer starts from (tests/Fuzz/corpus) and every input
/// that once broke a reader (tests/Fuzz/findings/&lt;target&gt;): none may end in an exception other than a refusal of bad
/// input. The corpus must also load without refusal, or the fuzzer would start from a file that is already rejected.
/// </summary>
public sealed class FuzzInputReplayTests
{
    private static string FuzzFolder => Path.Combine(RepoPaths.Root, "tests", "Fuzz");

    public static TheoryData<string> Targets() => new(FuzzTargets.FileOf.Keys);

    [Theory]
    [MemberData(nameof(Targets))]
    public void TheCorpusLoadsAndEveryFindingEndsInALoadOrARefusal(string target)
    {
        string corpus = Path.Combine(FuzzFolder, "corpus", FuzzTargets.CorpusOf[target]);
        string work = Directory.CreateTempSubdirectory("llmcpu-replay-").FullName;
        try
        {
            foreach (string file in Directory.GetFiles(corpus)) File.Copy(file, Path.Combine(work, Path.GetFileName(file)));
            byte[] seed = File.ReadAllBytes(Path.Combine(corpus, FuzzTargets.FileOf[target]));
            // The seed itself: no exception at all, refusal included.
            var refused = Record.Exception(() => RunWithoutCatching(target, seed, work));
            Assert.Null(refused);

            string findings = Path.Combine(FuzzFolder, "findings", target);
            foreach (string finding in Directory.Exists(findings) ? Directory.GetFiles(findings) : [])
            {
                var ex = Record.Exception(() => FuzzTargets.Run(target, File.ReadAllBytes(finding), work));
                Assert.True(ex is null, $"{target} finding {Path.GetFileName(finding)}: {ex}");
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Loads the seed the plain way, where a refusal escapes (the target would swallow it), then runs the target on it.</summary>
    private static void RunWithoutCatching(string target, byte[] input, string work)
    {
        string path = Path.Combine(work, FuzzTargets.FileOf[target]);
        File.WriteAllBytes(path, input);
        switch (target)
        {
            case "spm": _ = LlmCpu.Engine.Tokenization.SentencePieceTextTokenizer.Load(path); break;
            case "tokenizer-json": _ = LlmCpu.Engine.Tokenization.ByteLevelBpeTextTokenizer.FromTokenizerJson(path); break;
            case "gguf" or "llmc": LlmCpu.Engine.Models.ModelLoader.Load(path).Dispose(); break;
            default: LlmCpu.Engine.Models.ModelLoader.Load(work).Dispose(); break;
        }
        FuzzTargets.Run(target, input, work);
    }
}
