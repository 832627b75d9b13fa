using System.Management.Automation;
using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>New-ChatSession, Invoke-Generation -Session and Remove-ChatSession through a hosted runspace.</summary>
public sealed class ChatSessionCommandTests : IDisposable
{
    private readonly PowerShellSession _ps = new();

    public void Dispose() => _ps.Dispose();

    [Fact]
    public void TurnsReuseTheCacheAndMatchTheEngine()
    {
        var result = _ps.Run("""
            $s = Import-Model | New-ChatSession -Template Llama2 -SystemPrompt 'Be brief.'
            'It is a truth universally acknowledged', 'Mr. Darcy' | Invoke-Generation -Session $s -MaxTokens 6 -Temperature 0
            $s
            """);
        Assert.Empty(result.Errors);
        var first = Assert.IsType<GenerationResult>(result.Output[0].BaseObject);
        var second = Assert.IsType<GenerationResult>(result.Output[1].BaseObject);
        var session = Assert.IsType<ChatSession>(result.Output[2].BaseObject);
        Assert.Equal(0, first.CachedTokens);
        Assert.Equal(first.PromptTokens + first.GeneratedTokens - 1, second.CachedTokens); // the reply's last token was never run
        Assert.Equal(2, session.Turns);
        Assert.Equal(session.TokenCount, second.CachedTokens + second.PromptTokens + second.GeneratedTokens);

        // The same turns through the Engine alone give the same tokens.
        using var model = LlmCpu.Engine.Models.ModelLoader.Load(RepoPaths.FixtureModel);
        using var chat = new ChatSession(model, ChatTemplateKind.Llama2, "Be brief.");
        var options = new GenerationOptions { MaxTokens = 6, Sampling = new SamplingOptions { Temperature = 0 } };
        chat.Send("It is a truth universally acknowledged", options);
        chat.Send("Mr. Darcy", options);
        Assert.Equal(chat.TokenIds, session.TokenIds);
        session.Dispose();
    }

    [Fact]
    public void VerboseOutputReportsTheTokensReused()
    {
        var result = _ps.Run("""
            $s = Import-Model | New-ChatSession -Template ChatML
            $null = Invoke-Generation -Session $s 'She was not' -MaxTokens 4 -Temperature 0
            Invoke-Generation -Session $s 'Mr. Darcy' -MaxTokens 4 -Temperature 0 -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message
            Remove-ChatSession $s
            """);
        Assert.Empty(result.Errors);
        var messages = result.Output.Select(o => o.BaseObject.ToString()!).ToArray();
        Assert.Contains(messages, m => m.StartsWith("Chat turn 2 on austen-llama (ChatML)", StringComparison.Ordinal));
        Assert.Contains(messages, m => System.Text.RegularExpressions.Regex.IsMatch(m, @"^Prefilled \d+ new tokens in [\d.]+ ms and reused \d+ from the cache"));
    }

    [Fact]
    public void ErrorsHaveStableIdsAndCategories()
    {
        var result = _ps.Run("""
            $m = Import-Model
            $m | New-ChatSession
            $s = $m | New-ChatSession -Template Zephyr
            Invoke-Generation -Session $s ('word ' * 400) -MaxTokens 1
            $s | Remove-ChatSession
            Invoke-Generation -Session $s 'x' -MaxTokens 1
            """);
        Assert.Equal(3, result.Errors.Count);
        Assert.Equal("ChatTemplateUnknown,LlmCpu.Module.Commands.NewChatSessionCommand", result.Errors[0].FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, result.Errors[0].CategoryInfo.Category);
        Assert.Equal("ChatContextFull,LlmCpu.Module.Commands.InvokeGenerationCommand", result.Errors[1].FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.LimitsExceeded, result.Errors[1].CategoryInfo.Category);
        Assert.Matches(@"holds 0 tokens and this message needs \d+ more, but its capacity is 256", result.Errors[1].Exception.Message);
        Assert.Equal("ChatSessionDisposed,LlmCpu.Module.Commands.InvokeGenerationCommand", result.Errors[2].FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidOperation, result.Errors[2].CategoryInfo.Category);
    }

    [Fact]
    public void TemplateNamePicksOneOfTheModelsNamedTemplates()
    {
        string folder = Directory.CreateTempSubdirectory("llmcpu-named-template-cmdlet-").FullName;
        try
        {
            foreach (string file in Directory.EnumerateFiles(RepoPaths.FixtureModel)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            var list = new System.Text.Json.Nodes.JsonArray(
                new System.Text.Json.Nodes.JsonObject { ["name"] = "default", ["template"] = LlmCpu.Tests.Engine.Models.ChatTemplateFilesTests.HermesDefault },
                new System.Text.Json.Nodes.JsonObject { ["name"] = "tool_use", ["template"] = LlmCpu.Tests.Engine.Models.ChatTemplateFilesTests.HermesToolUse });
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new System.Text.Json.Nodes.JsonObject { ["chat_template"] = list }.ToJsonString());
            var result = _ps.Run("""
                $m = Import-Model $folder
                $m | New-ChatSession -TemplateName tool_use
                $m | New-ChatSession -TemplateName rag
                $m | Remove-Model
                """, new Dictionary<string, object?> { ["folder"] = folder });
            var session = Assert.IsType<ChatSession>(Assert.Single(result.Output).BaseObject);
            Assert.Equal(ChatTemplateKind.ChatML, session.Template);
            Assert.Equal("tool_use", session.TemplateName);
            session.Dispose();
            var error = Assert.Single(result.Errors);
            Assert.Equal("ChatTemplateNotFound,LlmCpu.Module.Commands.NewChatSessionCommand", error.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
            Assert.Contains("'default', 'tool_use'", error.Exception.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void ARemovedModelIsModelDisposedForItsSession()
    {
        var result = _ps.Run("""
            $m = Import-Model
            $s = $m | New-ChatSession -Template Mistral
            $m | Remove-Model
            Invoke-Generation -Session $s 'x' -MaxTokens 1
            """);
        var error = Assert.Single(result.Errors);
        Assert.Equal("ModelDisposed,LlmCpu.Module.Commands.InvokeGenerationCommand", error.FullyQualifiedErrorId);
    }

    [Fact]
    public void ASessionAndItsMessagesSerialize()
    {
        var result = _ps.Run("""
            $s = Import-Model | New-ChatSession -Template ChatML -SystemPrompt 'Be brief.'
            $null = Invoke-Generation -Session $s 'She was not' -MaxTokens 3 -Temperature 0
            $x = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($s))
            $x.PSObject.TypeNames[0]; $x.Template; $x.Turns; $x.TokenCount; $x.Capacity
            $x.Messages | ForEach-Object { '{0}|{1}' -f $_.Role, $_.Content } | Select-Object -First 2
            Remove-ChatSession $s
            """);
        Assert.Empty(result.Errors);
        var values = result.Output.Select(o => o.BaseObject.ToString()!).ToArray();
        Assert.Equal("Deserialized.LlmCpu.Engine.Runtime.Chat.ChatSession", values[0]);
        Assert.Equal("ChatML", values[1]);
        Assert.Equal("1", values[2]);
        Assert.Equal("256", values[4]);
        Assert.Equal(["System|Be brief.", "User|She was not"], values[5..7]);
    }

    [Fact]
    public void TemplateNamesTabComplete()
    {
        var result = _ps.Run("""
            (TabExpansion2 -inputScript 'New-ChatSession -Template ' -cursorColumn 26).CompletionMatches.CompletionText
            """);
        Assert.Empty(result.Errors);
        Assert.Equal(Enum.GetNames<ChatTemplateKind>().Order(), result.Output.Select(o => o.BaseObject.ToString()!).Order());
    }
}
