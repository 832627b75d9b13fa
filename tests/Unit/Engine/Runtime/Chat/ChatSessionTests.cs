using LlmCpu.Engine.Runtime;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Kernels.Threading;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime.Chat;

/// <summary>
/// Chat sessions on the bundled model (a SentencePiece Llama with BOS and EOS; its template is named, it carries none):
/// later turns run only their new tokens, and what they generate equals running the whole conversation afresh.
/// </summary>
public sealed class ChatSessionTests(FixtureModel fixture) : IClassFixture<FixtureModel>
{
    private static readonly GenerationOptions Greedy = new() { MaxTokens = 8, StopAtEos = false, Sampling = new SamplingOptions { Temperature = 0 } };

    [Theory]
    [InlineData(ChatTemplateKind.Llama2)]
    [InlineData(ChatTemplateKind.ChatML)]
    public void SecondTurnRunsOnlyItsNewTokensAndAgreesWithAFreshRun(ChatTemplateKind kind)
    {
        using var chat = new ChatSession(fixture.Model, kind, "You are Miss Bennet.");
        var first = chat.Send("It is a truth universally acknowledged", Greedy);
        Assert.Equal(0, first.CachedTokens);
        Assert.Equal(chat.TokenCount - first.GeneratedTokens, first.PromptTokens);
        int afterFirst = chat.TokenCount;

        var second = chat.Send("Mr. Darcy", Greedy);
        int newTokens = chat.TokenCount - afterFirst - second.GeneratedTokens; // reply end, user message, generation prompt
        // The first reply stopped at its token limit, so its last token was sampled but never run: it is run now.
        Assert.Equal(StopReason.MaxTokens, first.StopReason);
        Assert.Equal(newTokens + 1, second.PromptTokens);
        Assert.Equal(afterFirst - 1, second.CachedTokens);

        // The same conversation run from scratch in one prompt gives the same reply: the kept cache is the right cache.
        var all = chat.TokenIds;
        var sequence = all.Take(all.Count - second.GeneratedTokens).ToArray();
        using var fresh = new InferenceSession(fixture.Model, WorkerPool.Shared, sequence.Length + Greedy.MaxTokens);
        var reference = new TextGenerator(fixture.Model).Continue(fresh, sequence, "", Greedy);
        Assert.Equal(sequence.Length, reference.PromptTokens);
        Assert.Equal(reference.TokenIds, second.TokenIds);
    }

    [Fact]
    public void MessagesAreTheConversation()
    {
        using var chat = new ChatSession(fixture.Model, ChatTemplateKind.Llama2, "Be brief.");
        var reply = chat.Send("She was not", Greedy);
        Assert.Equal(1, chat.Turns);
        Assert.Equal([ChatRole.System, ChatRole.User, ChatRole.Assistant], chat.Messages.Select(m => m.Role));
        Assert.Equal("Be brief.", chat.Messages[0].Content);
        Assert.Equal("She was not", chat.Messages[1].Content);
        // Llama 2's template strips a reply (and writes a space before it, which the model generates with the first word).
        Assert.Equal(reply.Text.Trim(), chat.Messages[2].Content);
        Assert.Equal(ChatTemplateKind.Llama2, chat.Template);
        Assert.False(chat.TemplateFromModel);
    }

    [Fact]
    public void AStoppedTurnLeavesTheSessionAsBeforeIt()
    {
        using var chat = new ChatSession(fixture.Model, ChatTemplateKind.Zephyr);
        chat.Send("It is a truth", Greedy);
        var tokens = chat.TokenIds;
        var messages = chat.Messages;

        using var cancel = new CancellationTokenSource();
        var stopped = chat.Send("Mr. Darcy", Greedy with { MaxTokens = 50 }, cancel.Token, piece => { if (piece.Index == 3) cancel.Cancel(); });
        Assert.Equal(StopReason.Cancelled, stopped.StopReason);
        Assert.Equal(tokens, chat.TokenIds);
        Assert.Equal(messages, chat.Messages);

        // Going on gives what a session that was never stopped gives.
        var resumed = chat.Send("Mr. Darcy", Greedy);
        using var unstopped = new ChatSession(fixture.Model, ChatTemplateKind.Zephyr);
        unstopped.Send("It is a truth", Greedy);
        var expected = unstopped.Send("Mr. Darcy", Greedy);
        Assert.Equal(expected.TokenIds, resumed.TokenIds);
        Assert.Equal(expected.PromptTokens, resumed.PromptTokens);
    }

    [Fact]
    public void AStopBeforeAnyTokenIsRolledBackToo()
    {
        using var chat = new ChatSession(fixture.Model, ChatTemplateKind.ChatML);
        chat.Send("It is a truth", Greedy);
        var tokens = chat.TokenIds;
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.Equal(StopReason.Cancelled, chat.Send("Mr. Darcy", Greedy, cancel.Token).StopReason);
        Assert.Equal(tokens, chat.TokenIds);
        Assert.Equal(1, chat.Turns);
    }

    [Fact]
    public void AFullContextIsAClearErrorNamingTheFigures()
    {
        using var chat = new ChatSession(fixture.Model, ChatTemplateKind.ChatML, contextLength: 64);
        Assert.Equal(fixture.Model.ContextLength, chat.Capacity); // rounded up to whole steps of 256, capped at the model's 256
        string longMessage = string.Join(" ", Enumerable.Repeat("It is a truth universally acknowledged", 40));
        var ex = Assert.Throws<ChatContextFullException>(() => chat.Send(longMessage, Greedy));
        Assert.Equal(0, ex.TokensUsed);
        Assert.Equal(chat.Capacity, ex.Capacity);
        Assert.True(ex.TurnTokens > chat.Capacity);
        Assert.Contains($"capacity is {chat.Capacity}", ex.Message);
        Assert.Equal(0, chat.TokenCount);
        // The session is still usable.
        Assert.True(chat.Send("Mr. Darcy", Greedy).GeneratedTokens > 0);
    }

    [Fact]
    public void ADisposedSessionOrModelIsAClearError()
    {
        var chat = new ChatSession(fixture.Model, ChatTemplateKind.ChatML);
        chat.Dispose();
        chat.Dispose();
        Assert.True(chat.IsDisposed);
        Assert.Throws<ChatSessionDisposedException>(() => chat.Send("x", Greedy));

        using var model = LlmCpu.Engine.Models.ModelLoader.Load(RepoPaths.FixtureModel);
        using var orphan = new ChatSession(model, ChatTemplateKind.ChatML);
        orphan.Send("She was not", Greedy);
        model.Dispose();
        var ex = Assert.Throws<ObjectDisposedException>(() => orphan.Send("x", Greedy));
        Assert.IsNotType<ChatSessionDisposedException>(ex);
        Assert.Contains("was removed", ex.Message);
        Assert.Throws<ObjectDisposedException>(() => new ChatSession(model, ChatTemplateKind.ChatML));
    }

    [Fact]
    public void WithoutATemplateTheModelsOwnIsNeeded()
    {
        var ex = Assert.Throws<ChatTemplateUnknownException>(() => new ChatSession(fixture.Model));
        Assert.Contains("carries no chat template", ex.Message);
    }

    [Fact]
    public void AModelsOwnQwenTemplateStartsTheConversationWithItsDefaultSystemMessage()
    {
        string folder = Directory.CreateTempSubdirectory("llmcpu-qwen-template-").FullName;
        try
        {
            foreach (string file in Directory.EnumerateFiles(LlmCpu.Tests.Support.RepoPaths.FixtureModel)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            string qwen = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new System.Text.Json.Nodes.JsonObject { ["chat_template"] = qwen }.ToJsonString());
            using var model = LlmCpu.Engine.Models.ModelLoader.Load(folder);
            using (var recognised = new ChatSession(model))
            {
                Assert.Equal(ChatTemplateKind.ChatML, recognised.Template);
                Assert.Equal("You are a helpful assistant.", recognised.SystemPrompt);
                Assert.Equal(ChatRole.System, recognised.Messages[0].Role);
            }
            // A system prompt given, or a template named, is taken as it is.
            using (var given = new ChatSession(model, systemPrompt: "Be brief.")) Assert.Equal("Be brief.", given.SystemPrompt);
            using (var named = new ChatSession(model, ChatTemplateKind.ChatML)) Assert.Null(named.SystemPrompt);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
