using System.Management.Automation;
using System.Text.Json;
using LlmCpu.Engine.Runtime;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>Invoke-Generation's sampling, stopping, format, token and streaming parameters, through a real runspace.</summary>
public sealed class InvokeGenerationSamplingCommandTests : IDisposable
{
    private readonly PowerShellSession _ps = new();

    public void Dispose() => _ps.Dispose();

    private static T Base<T>(PSObject o) => Assert.IsType<T>(o.BaseObject);

    private PowerShellSession.Result Run(string script)
    {
        var result = _ps.Run("$m = Import-Model\n" + script);
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        return result;
    }

    [Fact]
    public void StreamWritesPiecesOnlyAndPassThruAddsTheResult()
    {
        var result = Run("""
            $m | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -MaxTokens 24 -Seed 4 -Stream
            '--'
            $m | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -MaxTokens 24 -Seed 4 -Stream -PassThru
            """);
        int separator = result.Output.Select(o => o.BaseObject).ToList().IndexOf("--");
        var alone = result.Output.Take(separator).Select(Base<GenerationPiece>).ToArray();
        var withResult = result.Output.Skip(separator + 1).ToArray();
        var generation = Base<GenerationResult>(withResult[^1]);
        var pieces = withResult[..^1].Select(Base<GenerationPiece>).ToArray();
        Assert.Equal(generation.Text, string.Concat(pieces.Select(p => p.Text)));
        Assert.Equal(pieces, alone);
        Assert.All(pieces, p => Assert.NotEqual("", p.Text)); // tokens that release no text write nothing
        Assert.Equal(pieces.Select(p => p.Index).Order(), pieces.Select(p => p.Index));
    }

    [Fact]
    public void PiecesPipeStraightIntoWriteHost()
    {
        // A piece is its text as a string, so Write-Host -NoNewline shows the answer as it comes.
        var result = Run("""
            $r = $m | Invoke-Generation -Prompt 'The evening passed' -MaxTokens 16 -Temperature 0
            $m | Invoke-Generation -Prompt 'The evening passed' -MaxTokens 16 -Temperature 0 -Stream | Write-Host -NoNewline -InformationVariable shown
            ($shown.MessageData.Message -join '') -eq $r.Text
            """);
        Assert.True((bool)result.Output.Single().BaseObject);
    }

    [Fact]
    public void ShowTextWritesToTheHostAndStillReturnsTheResult()
    {
        var result = Run("""
            $r = $m | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -ShowText -MaxTokens 24 -Seed 4 -InformationVariable pieces 6>$null
            $r.GetType().Name
            $r.Text -eq (($pieces | ForEach-Object { $_.MessageData.Message }) -join '')
            """);
        Assert.Equal("GenerationResult", result.Output[0].BaseObject);
        Assert.True((bool)result.Output[1].BaseObject);
    }

    [Fact]
    public void StopStringsEndTheTextAndAreLeftOut()
    {
        var result = Run("""
            $free = $m | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -MaxTokens 40 -Temperature 0
            $stop = $free.Text.Substring(12, 4)
            $stopped = $m | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -MaxTokens 40 -Temperature 0 -Stop 'never-there', $stop
            $free, $stopped, $stop
            """);
        var free = Base<GenerationResult>(result.Output[0]);
        var stopped = Base<GenerationResult>(result.Output[1]);
        string stop = (string)result.Output[2].BaseObject;
        Assert.Equal(StopReason.StopSequence, stopped.StopReason);
        Assert.Equal(stop, stopped.StopSequence);
        Assert.Equal(free.Text[..free.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
    }

    [Fact]
    public void JsonFormatGivesParsableJson()
    {
        var result = Run("1..6 | ForEach-Object { $m | Invoke-Generation -Prompt 'She said' -Format Json -MaxTokens 250 -Seed $_ }");
        var done = result.Output.Select(Base<GenerationResult>).Where(r => r.StopReason == StopReason.EndOfSequence).ToArray();
        Assert.NotEmpty(done);
        foreach (var r in done)
        {
            using var document = JsonDocument.Parse(r.Text);
            Assert.True(document.RootElement.ValueKind is JsonValueKind.Object or JsonValueKind.Array);
        }
    }

    [Fact]
    public void LogitBiasTakesIdsAndTexts()
    {
        var result = Run("""
            $free = $m | Invoke-Generation -Prompt 'She was not' -MaxTokens 30 -Temperature 0
            $first = $free.TokenIds[0]
            $text = $m.Tokenizer.TokenTable.Text($first)
            ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 30 -Temperature 0 -LogitBias @{ $first = [double]::NegativeInfinity }).TokenIds
            '--'
            ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 30 -Temperature 0 -LogitBias @{ $text = '-Infinity' }).TokenIds
            '--'
            $first
            """);
        var outputs = result.Output.Select(o => o.BaseObject).ToList();
        int first = (int)outputs[^1];
        int mid = outputs.IndexOf("--");
        var byId = outputs.Take(mid).Cast<int>().ToArray();
        var byText = outputs.Skip(mid + 1).Take(outputs.Count - mid - 3).Cast<int>().ToArray();
        Assert.DoesNotContain(first, byId);
        Assert.DoesNotContain(first, byText);
        Assert.Equal(byId, byText);
    }

    [Theory]
    [InlineData("@{ 99999 = 1 }", "token 99999")]
    [InlineData("@{ 1.5 = 1 }", "Double")]
    [InlineData("@{ 'x' = 'lots' }", "not a number")]
    public void ABadLogitBiasIsAGenerationArgumentError(string table, string message)
    {
        var result = _ps.Run($"Import-Model | Invoke-Generation -Prompt 'x' -MaxTokens 2 -LogitBias {table}");
        var error = Assert.Single(result.Errors);
        Assert.Equal("GenerationArgumentInvalid,LlmCpu.Module.Commands.InvokeGenerationCommand", error.FullyQualifiedErrorId);
        Assert.Contains(message, error.Exception.Message);
        Assert.Empty(result.Output);
    }

    [Fact]
    public void IncludeTokensReportsProbabilitiesAndTopProbabilitiesTheAlternatives()
    {
        var result = Run("""
            $m | Invoke-Generation -Prompt 'Mr. Darcy' -MaxTokens 6 -Temperature 0
            $m | Invoke-Generation -Prompt 'Mr. Darcy' -MaxTokens 6 -Temperature 0 -IncludeTokens
            $m | Invoke-Generation -Prompt 'Mr. Darcy' -MaxTokens 6 -Temperature 0 -TopProbabilities 3
            """);
        var generations = result.Output.Select(Base<GenerationResult>).ToArray();
        Assert.Null(generations[0].Tokens);
        Assert.Equal(generations[0].TokenIds, generations[1].Tokens!.Select(t => t.Id));
        Assert.All(generations[1].Tokens!, t => Assert.Empty(t.TopTokens));
        Assert.All(generations[2].Tokens!, t =>
        {
            Assert.Equal(3, t.TopTokens.Count);
            Assert.Equal(t.Id, t.TopTokens[0].Id);
            Assert.InRange(t.Probability, 0f, 1f);
        });
    }

    [Fact]
    public void PenaltiesReachTheSampler()
    {
        var result = Run("""
            ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 60 -Temperature 0).TokenIds -join ','
            ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 60 -Temperature 0 -PresencePenalty 100 -RepeatLastN -1).TokenIds -join ','
            """);
        var plain = ((string)result.Output[0].BaseObject).Split(',');
        var penalized = ((string)result.Output[1].BaseObject).Split(',');
        Assert.True(plain.Distinct().Count() < plain.Length);
        Assert.Equal(penalized.Length, penalized.Distinct().Count());
    }

    [Fact]
    public void VerboseOutputNamesTheChainInOrder()
    {
        var result = _ps.Run("Import-Model | Invoke-Generation -Prompt 'x' -MaxTokens 1 -Verbose 4>&1");
        string verbose = Assert.IsType<VerboseRecord>(result.Output.First(o => o.BaseObject is VerboseRecord).BaseObject).Message;
        string[] order = ["logit bias", "penalties", "top-k 40", "typical-p 1", "top-p 0.95", "min-p 0.05", "temperature 0.8", "draw"];
        var positions = order.Select(name => verbose.IndexOf(name, StringComparison.Ordinal)).ToArray();
        Assert.All(positions, p => Assert.True(p >= 0, verbose));
        Assert.Equal(positions.Order(), positions);
    }

    [Theory]
    [InlineData("-MinP 1.5")]
    [InlineData("-TypicalP -0.1")]
    [InlineData("-RepeatPenalty 0")]
    [InlineData("-RepeatLastN -2")]
    [InlineData("-PresencePenalty 101")]
    [InlineData("-FrequencyPenalty -101")]
    [InlineData("-TopProbabilities 101")]
    [InlineData("-Stop ''")]
    [InlineData("-Format Xml")]
    public void OutOfRangeParametersAreRefusedByBinding(string parameter)
    {
        var result = _ps.Run($"Import-Model | Invoke-Generation -Prompt 'x' -MaxTokens 1 {parameter}");
        var error = Assert.Single(result.Errors);
        // Validation attributes (ParameterArgumentValidationError) and the enum's conversion (CannotConvertArgument...).
        Assert.Matches("^(ParameterArgumentValidationError|CannotConvertArgument)", error.FullyQualifiedErrorId);
        Assert.Empty(result.Output);
    }
}
