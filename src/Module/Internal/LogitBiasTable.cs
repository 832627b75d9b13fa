using System.Collections;
using System.Management.Automation;
using LlmCpu.Engine;
using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Tokenization;

namespace LlmCpu.Module.Internal;

/// <summary>
/// Reads -LogitBias: a hashtable whose keys are token ids (integers) or token texts (strings) and whose values are
/// biases, numbers or anything PowerShell converts to one ('-Infinity', [double]::NegativeInfinity).
/// </summary>
internal static class LogitBiasTable
{
    /// <exception cref="GenerationArgumentException">A key is neither an integer nor a string, or a value is not a number.</exception>
    public static IReadOnlyDictionary<int, float>? Read(Hashtable? table, TextTokenizer tokenizer)
    {
        if (table is null || table.Count == 0) return null;
        var builder = new LogitBiasBuilder(tokenizer);
        foreach (DictionaryEntry entry in table)
        {
            object key = entry.Key is PSObject wrapped ? wrapped.BaseObject : entry.Key;
            float bias = Bias(key, entry.Value);
            switch (key)
            {
                case string text:
                    builder.Add(text, bias);
                    break;
                case int or long or short or sbyte or byte or ushort or uint or ulong:
                    long id = Convert.ToInt64(key, System.Globalization.CultureInfo.InvariantCulture);
                    if (id is < 0 or > int.MaxValue)
                        throw new GenerationArgumentException("LogitBias", $"LogitBias names token {id}; token ids are 0 or more.");
                    builder.Add((int)id, bias);
                    break;
                default:
                    throw new GenerationArgumentException("LogitBias", $"A LogitBias key is a {key.GetType().Name}; use a token id (an integer) or a token's text (a string).");
            }
        }
        return builder.Build();
    }

    private static float Bias(object key, object? value)
    {
        try
        {
            return LanguagePrimitives.ConvertTo<float>(value);
        }
        catch (PSInvalidCastException)
        {
            throw new GenerationArgumentException("LogitBias", $"The bias for '{key}' is '{value}', not a number.");
        }
    }
}
