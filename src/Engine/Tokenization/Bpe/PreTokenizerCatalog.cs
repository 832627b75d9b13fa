namespace LlmCpu.Engine.Tokenization.Bpe;

/// <summary>How one family of models cuts text into words before BPE.</summary>
/// <param name="Patterns">Regular expressions applied in turn (see <see cref="RegexWordSplitter"/>).</param>
/// <param name="IgnoreMerges">A word that is itself a vocabulary entry becomes that token without running the merges (Llama 3's tokenizer.json sets <c>ignore_merges</c>).</param>
/// <param name="AddsBosByDefault">Whether the family expects BOS when the file does not say.</param>
internal sealed record PreTokenizerRecipe(IReadOnlyList<string> Patterns, bool IgnoreMerges, bool AddsBosByDefault);

/// <summary>
/// The pre-tokenizers named by GGUF's <c>tokenizer.ggml.pre</c> that this engine knows. The expressions are
/// those of the models' own tokenizer.json files, with <c>(?i:'s|...)</c> spelled out case by case.
/// </summary>
internal static class PreTokenizerCatalog
{
    /// <summary>GPT-2's expression (as GGUF tokenizers use it, without the trailing <c>|\s+</c>: a lone whitespace
    /// before a word is left unmatched, and unmatched text becomes a word of its own anyway).</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    /// <summary>GPT-2's expression as Hugging Face's ByteLevel pre-tokenizer writes it.</summary>
    public const string Gpt2WithTrailingSpace = Gpt2 + @"|\s+";

    /// <summary>Llama 3: up to three digits per word, a letter run may take one leading non-letter.</summary>
    public const string Llama3 =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2: Llama 3's expression with every digit a word of its own.</summary>
    public const string Qwen2 =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Falcon: punctuation runs first, then GPT-2's expression, then digits in threes.</summary>
    public static readonly string[] Falcon = [@"[\p{P}\$\+<=>\^~\|`]+", Gpt2, "[0-9][0-9][0-9]"];

    /// <summary>StarCoder and kin: every digit a word of its own, then GPT-2's expression.</summary>
    public static readonly string[] DigitsThenGpt2 = [@"\p{N}", Gpt2];

    private static readonly PreTokenizerRecipe Gpt2Recipe = new([Gpt2], IgnoreMerges: false, AddsBosByDefault: false);
    private static readonly PreTokenizerRecipe Llama3Recipe = new([Llama3], IgnoreMerges: true, AddsBosByDefault: true);
    private static readonly PreTokenizerRecipe Qwen2Recipe = new([Qwen2], IgnoreMerges: false, AddsBosByDefault: false);

    private static readonly Dictionary<string, PreTokenizerRecipe> Recipes = new(StringComparer.Ordinal)
    {
        ["gpt-2"] = Gpt2Recipe,
        ["mpt"] = Gpt2Recipe,
        ["falcon"] = new(Falcon, IgnoreMerges: false, AddsBosByDefault: false),
        ["starcoder"] = new(DigitsThenGpt2, IgnoreMerges: false, AddsBosByDefault: false),
        ["refact"] = new(DigitsThenGpt2, IgnoreMerges: false, AddsBosByDefault: false),
        ["command-r"] = new(DigitsThenGpt2, IgnoreMerges: false, AddsBosByDefault: false),
        ["llama-bpe"] = Llama3Recipe,
        ["llama3"] = Llama3Recipe,
        ["llama-v3"] = Llama3Recipe,
        ["qwen2"] = Qwen2Recipe,
        ["deepseek-r1-qwen"] = Qwen2Recipe,
        ["stablelm2"] = Qwen2Recipe,
    };

    public static IReadOnlyCollection<string> Names => Recipes.Keys;

    public static bool TryGet(string name, out PreTokenizerRecipe recipe) => Recipes.TryGetValue(name, out recipe!);
}
