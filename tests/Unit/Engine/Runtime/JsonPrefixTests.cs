using System.Text;
using System.Text.Json;
using LlmCpu.Engine.Runtime.Sampling;

namespace LlmCpu.Tests.Engine.Runtime;

/// <summary>The JSON prefix recognizer against System.Text.Json, on generated documents, their prefixes and random strings.</summary>
public sealed class JsonPrefixTests
{
    /// <summary>How far the recognizer gets: the number of bytes taken before the first refusal, and whether it is complete.</summary>
    private static (int Taken, bool Complete) Feed(string text)
    {
        var state = new JsonPrefix();
        var bytes = Encoding.UTF8.GetBytes(text);
        for (int i = 0; i < bytes.Length; i++)
            if (!state.Advance(bytes[i])) return (i, false);
        return (bytes.Length, state.IsComplete);
    }

    /// <summary>Whether System.Text.Json, told more may follow, reads the text without error (and it starts a container).</summary>
    private static bool IsJsonPrefix(string text)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text), isFinalBlock: false, state: default);
        try
        {
            bool first = true;
            while (reader.Read())
            {
                if (first && reader.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray)) return false;
                first = false;
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool IsCompleteJson(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind is JsonValueKind.Object or JsonValueKind.Array;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static readonly string[] StringParts = ["a", "b", " ", "\u00e9", "\\n", "\\\"", "\\u00e9", "\U0001F600", "x", "/"];

    /// <summary>A random JSON object or array in the whitespace the grammar allows (none, one space, or a line break and indentation).</summary>
    private static string RandomDocument(Random random, int depth = 0)
    {
        string Ws() => random.Next(4) switch { 0 => " ", 1 => "\n" + new string(' ', random.Next(0, 8)), 2 => "\n\t\t", _ => "" };
        string Value(int d) => random.Next(d > 3 ? 6 : 8) switch
        {
            0 => "\"" + string.Concat(Enumerable.Range(0, random.Next(0, 6)).Select(_ => StringParts[random.Next(StringParts.Length)])) + "\"",
            1 => (random.Next(2) == 0 ? "-" : "") + random.Next(0, 1000) + (random.Next(2) == 0 ? ".5" : "") + (random.Next(3) == 0 ? "e+7" : ""),
            2 => "true",
            3 => "false",
            4 => "null",
            5 => "0",
            _ => RandomDocument(random, d + 1),
        };
        int count = random.Next(0, 4);
        if (count == 0) return random.Next(2) == 0 ? "{" + Ws() + "}" : "[" + Ws() + "]"; // one gap, not two in a row
        if (random.Next(2) == 0)
            return "{" + Ws() + string.Join("," + Ws(), Enumerable.Range(0, count).Select(i => $"\"k{i}\"" + Ws() + ":" + Ws() + Value(depth))) + Ws() + "}";
        return "[" + Ws() + string.Join("," + Ws(), Enumerable.Range(0, count).Select(_ => Value(depth))) + Ws() + "]";
    }

    [Fact]
    public void DocumentsAreCompleteAndTheirPrefixesAreNot()
    {
        var random = new Random(1);
        for (int trial = 0; trial < 300; trial++)
        {
            string document = random.Next(3) == 0 ? " " + RandomDocument(random) : RandomDocument(random);
            Assert.True(IsCompleteJson(document), document); // the generator itself is right
            Assert.Equal((Encoding.UTF8.GetByteCount(document), true), Feed(document));
            for (int cut = 1; cut < document.Length; cut++)
            {
                if (char.IsLowSurrogate(document[cut])) continue;
                string prefix = document[..cut];
                var (taken, complete) = Feed(prefix);
                Assert.Equal(Encoding.UTF8.GetByteCount(prefix), taken);
                Assert.False(complete && prefix.TrimEnd() != document.TrimEnd(), $"complete too early: {prefix}");
            }
        }
    }

    [Fact]
    public void RandomStringsAreTakenExactlyWhenSystemTextJsonReadsThem()
    {
        // Strings over JSON's punctuation and a few letters and digits (no whitespace, whose shape the grammar limits
        // further than JSON does): every prefix is taken exactly when System.Text.Json reads it as the start of a value.
        const string alphabet = "{}[],:\"\"\"\\atrueflsn0123456789.-+eEu";
        var random = new Random(2);
        int taken = 0, complete = 0;
        for (int trial = 0; trial < 20000; trial++)
        {
            var text = (random.Next(2) == 0 ? "{" : "[") + new string(Enumerable.Range(0, random.Next(0, 14)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            var result = Feed(text);
            bool all = result.Taken == text.Length;
            Assert.True(all == IsJsonPrefix(text), $"recognizer {(all ? "takes" : "refuses")} [{text}]");
            if (all && result.Complete) Assert.True(IsCompleteJson(text), $"complete but not JSON: [{text}]");
            if (all) taken++;
            if (all && result.Complete) complete++;
        }
        Assert.True(taken > 1000 && complete > 20, $"{taken} taken, {complete} complete: the alphabet exercises too little");
    }

    [Theory]
    [InlineData("\"x\"")]     // a string is not a container
    [InlineData("7")]
    [InlineData("{\"a\":1}}")]
    [InlineData("{\"a\" 1}")]
    [InlineData("[1,]")]
    [InlineData("[01]")]
    [InlineData("[\"\t\"]")]  // a raw control character inside a string
    [InlineData("{}  ")]      // two spaces: the grammar allows one, or a line break and indentation
    [InlineData("[\r\n]")]
    public void Refused(string text) => Assert.True(Feed(text).Taken < Encoding.UTF8.GetByteCount(text));

    [Fact]
    public void NestingDeeperThanTheLimitIsRefused()
    {
        Assert.Equal((JsonPrefix.MaxDepth, false), Feed(new string('[', JsonPrefix.MaxDepth)));
        Assert.Equal(JsonPrefix.MaxDepth, Feed(new string('[', JsonPrefix.MaxDepth + 1)).Taken);
    }
}
