using System.Text.Json.Nodes;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Engine.Models;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Runtime.Chat;

/// <summary>
/// A model that publishes a list of named chat templates: a session recognises the "default" one, as transformers
/// applies it, and another one when it is named; the names travel into .llmc and GGUF files made from the model.
/// The model is the bundled fixture with a tokenizer_config.json written beside it.
/// </summary>
public sealed class NamedChatTemplateTests : IDisposable
{
    // meta-llama/Llama-2-7b-chat-hf's template, under a name of its own beside Hermes-2-Pro's ChatML "default".
    private const string Llama2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-named-templates-").FullName;

    private int _folders;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Folder(params (string Name, string Template)[] templates)
    {
        string folder = Directory.CreateDirectory(Path.Combine(_dir, "model-" + ++_folders)).FullName;
        foreach (string file in Directory.EnumerateFiles(RepoPaths.FixtureModel)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        var list = new JsonArray([.. templates.Select(t => (JsonNode)new JsonObject { ["name"] = t.Name, ["template"] = t.Template })]);
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new JsonObject { ["chat_template"] = list }.ToJsonString());
        return folder;
    }

    [Fact]
    public void TheDefaultIsRecognisedAndANamedOneWhenNamed()
    {
        using var model = ModelLoader.Load(Folder(("default", ChatTemplateFilesTests.HermesDefault), ("llama2", Llama2), ("tool_use", ChatTemplateFilesTests.HermesToolUse)));
        Assert.Equal(ChatTemplateFilesTests.HermesDefault, model.ChatTemplateText);

        using (var recognised = new ChatSession(model))
        {
            Assert.Equal(ChatTemplateKind.ChatML, recognised.Template);
            Assert.True(recognised.TemplateFromModel);
            Assert.Equal("default", recognised.TemplateName);
        }
        using (var named = new ChatSession(model, templateName: "llama2"))
        {
            Assert.Equal(ChatTemplateKind.Llama2, named.Template);
            Assert.Equal("llama2", named.TemplateName);
        }
        using (var tools = new ChatSession(model, templateName: "tool_use")) Assert.Equal(ChatTemplateKind.ChatML, tools.Template);
        using (var given = new ChatSession(model, ChatTemplateKind.Zephyr)) Assert.Null(given.TemplateName);

        var missing = Assert.Throws<ChatTemplateNotFoundException>(() => new ChatSession(model, templateName: "rag"));
        Assert.Contains("'default', 'llama2', 'tool_use'", missing.Message);
        Assert.Throws<ArgumentException>(() => new ChatSession(model, ChatTemplateKind.ChatML, templateName: "llama2"));
    }

    [Fact]
    public void WithoutADefaultTheSessionAsksForAName()
    {
        using var model = ModelLoader.Load(Folder(("tool_use", ChatTemplateFilesTests.HermesToolUse)));
        Assert.Null(model.ChatTemplateText);
        var ex = Assert.Throws<ChatTemplateUnknownException>(() => new ChatSession(model));
        Assert.Contains("no default chat template; name one of its templates ('tool_use')", ex.Message);
        using var named = new ChatSession(model, templateName: "tool_use");
        Assert.Equal(ChatTemplateKind.ChatML, named.Template);
        Assert.Throws<ChatTemplateNotFoundException>(() => new ChatSession(model, templateName: "default"));
    }

    [Fact]
    public void NamedTemplatesTravelIntoLlmcAndGgufFiles()
    {
        string source = Folder(("default", ChatTemplateFilesTests.HermesDefault), ("llama2", Llama2));
        string llmc = Path.Combine(_dir, "named.llmc");
        Int4ModelConverter.Convert(source, llmc, new Int4Format(128, false), new Int4ConversionOptions());
        using (var fromLlmc = ModelLoader.Load(llmc))
        {
            Assert.Equal(ChatTemplateFilesTests.HermesDefault, fromLlmc.ChatTemplateText);
            Assert.Equal(Llama2, Assert.Single(fromLlmc.NamedChatTemplates).Value);
        }

        using var model = ModelLoader.Load(source);
        string gguf = Path.Combine(_dir, "named.gguf");
        GgufModelExporter.Export(model, gguf, new GgufExportOptions { Type = GgmlType.F32 });
        using (var file = GgufFile.Open(gguf)) Assert.Equal(Llama2, file.Metadata.GetString("tokenizer.chat_template.llama2"));
        using var fromGguf = ModelLoader.Load(gguf);
        using var chat = new ChatSession(fromGguf, templateName: "llama2");
        Assert.Equal(ChatTemplateKind.Llama2, chat.Template);
    }
}
