using LlmCpu.Engine.Models;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>
/// Turns template pieces into token ids as llama.cpp tokenizes a rendered chat with special tokens parsed, with one
/// difference that matters: only the template's markers can become control tokens. Markers the vocabulary has as
/// control or user-defined tokens become those; BOS and EOS become the model's ids; everything else (message text, and
/// markers the vocabulary lacks, such as "[INST]" in Llama 2's) is joined into stretches of text and encoded as text,
/// so "&lt;|im_start|&gt;" typed in a message stays characters.
/// </summary>
public sealed class ChatPromptEncoder(TextTokenizer tokenizer, int eosTokenId)
{
    private readonly TextTokenizer _tokenizer = tokenizer;
    private readonly int _eos = eosTokenId;
    private readonly Dictionary<string, int> _markers = new(StringComparer.Ordinal);

    /// <summary>
    /// Appends the ids of <paramref name="pieces"/> to <paramref name="ids"/>. <paramref name="afterSpecial"/> says
    /// whether the sequence so far is empty or ends with a special token (then text starts a new stretch, and a
    /// SentencePiece model gives it its dummy-prefix space); returns the same for the sequence after the pieces.
    /// </summary>
    public bool Encode(IEnumerable<TemplatePiece> pieces, List<int> ids, bool afterSpecial)
    {
        var text = new System.Text.StringBuilder();
        void Flush()
        {
            if (text.Length == 0) return;
            ids.AddRange(_tokenizer.EncodeLiteral(text.ToString(), afterSpecial));
            text.Clear();
            afterSpecial = false;
        }
        foreach (var piece in pieces)
        {
            int special = piece.Kind switch
            {
                TemplatePieceKind.Bos => _tokenizer.BosTokenId,
                TemplatePieceKind.Eos => _eos,
                TemplatePieceKind.Marker => Marker(piece.Text),
                _ => -1,
            };
            if (special >= 0)
            {
                Flush();
                ids.Add(special);
                afterSpecial = true;
            }
            else
            {
                // A model without BOS (or EOS) writes nothing for it, as its template's empty bos_token would.
                text.Append(piece.Text);
            }
        }
        Flush();
        return afterSpecial;
    }

    /// <summary>The encoder of <paramref name="model"/>'s tokenizer; EOS is the first of its end-of-sequence ids.</summary>
    public static ChatPromptEncoder For(LanguageModel model) =>
        new(model.Tokenizer, model.Config.EosTokenIds.Count > 0 ? model.Config.EosTokenIds[0] : -1);

    private int Marker(string text)
    {
        if (!_markers.TryGetValue(text, out int id)) _markers[text] = id = _tokenizer.FindSpecialToken(text);
        return id;
    }
}
