using LlmCpu.Tests.Engine.Tokenization;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// The tiny model with a tokenizer.json whose pre-tokenization expression backtracks catastrophically on
/// <see cref="Trap"/>: nested quantifiers over one letter, then a letter the text lacks (2^n ways to fail).
/// </summary>
public static class BacktrackingTokenizerModel
{
    public const string Pattern = "(a+)+!";

    public static readonly string Trap = new string('a', 40) + "?";

    /// <summary>Writes the model folder; the caller deletes it.</summary>
    public static string Write()
    {
        var tokenizer = TokenizerJsonBuilder.Small();
        tokenizer["pre_tokenizer"] = TokenizerJsonBuilder.SplitThenByteLevel(Pattern);
        var folder = TinyModel.HuggingFaceFolder();
        folder.Remove("tokenizer.model");
        folder["tokenizer.json"] = System.Text.Encoding.UTF8.GetBytes(tokenizer.ToJsonString());
        string path = Directory.CreateTempSubdirectory("llmcpu-backtracking-").FullName;
        foreach (var (name, bytes) in folder) File.WriteAllBytes(Path.Combine(path, name), bytes);
        return path;
    }
}
