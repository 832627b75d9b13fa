using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Runtime;

/// <summary>
/// Collects logit biases by token id or by text into the map <see cref="SamplingOptions.LogitBias"/> takes. Biases
/// given twice for one token add up.
/// </summary>
public sealed class LogitBiasBuilder(TextTokenizer tokenizer)
{
    private readonly Dictionary<int, float> _biases = [];

    public LogitBiasBuilder Add(int tokenId, float bias)
    {
        _biases[tokenId] = _biases.GetValueOrDefault(tokenId) + bias;
        return this;
    }

    /// <summary>
    /// Biases every token whose text is exactly <paramref name="text"/> (" the", "{"); when no token is, each token of
    /// the text's encoding without BOS, as llama-server treats a string in <c>logit_bias</c>.
    /// </summary>
    /// <exception cref="GenerationArgumentException">The text is empty.</exception>
    public LogitBiasBuilder Add(string text, float bias)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0) throw new GenerationArgumentException("LogitBias", "A logit bias names an empty text; give a token's text or id.");
        var exact = tokenizer.TokenTable.IdsWithText(text);
        IEnumerable<int> ids = exact.Count > 0 ? exact : tokenizer.Encode(text, addBos: false).Distinct();
        foreach (int id in ids) Add(id, bias);
        return this;
    }

    public IReadOnlyDictionary<int, float> Build() => new Dictionary<int, float>(_biases);
}
