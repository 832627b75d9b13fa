using System.Text.Json.Nodes;
using LlmCpu.Engine.Formats.Gguf;
using LlmCpu.Engine.Models;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// Named chat templates as models publish them: a tokenizer_config.json whose chat_template is a list of
/// {"name", "template"} objects (NousResearch/Hermes-2-Pro-Llama-3-8B's "default" and "tool_use"), and GGUF files with
/// llama.cpp's tokenizer.chat_template.NAME keys beside tokenizer.chat_template.
/// </summary>
public sealed class ChatTemplateFilesTests : IDisposable
{
    // Hermes-2-Pro's "default" template as published; its "tool_use" one shortened to its ChatML frame and tool block.
    public const string HermesDefault = "{{bos_token}}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    public const string HermesToolUse = "{{- bos_token }}{{- '<|im_start|>system\\nYou are a function calling AI model. <tools> ' }}{% for tool in tools %}{{ tool | tojson }}{% endfor %}{{- ' </tools><|im_end|>\\n' }}{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-chat-templates-").FullName;

    private int _folders;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Config(JsonNode? chatTemplate)
    {
        string folder = Directory.CreateDirectory(Path.Combine(_dir, "hf-" + ++_folders)).FullName;
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), new JsonObject { ["chat_template"] = chatTemplate }.ToJsonString());
        return folder;
    }

    private static JsonArray Named(params (string Name, string Template)[] templates) =>
        [.. templates.Select(t => (JsonNode)new JsonObject { ["name"] = t.Name, ["template"] = t.Template })];

    [Fact]
    public void AListGivesItsDefaultAndKeepsTheOthersByName()
    {
        var (chosen, named) = ChatTemplateFiles.ReadHuggingFace(Config(Named(("default", HermesDefault), ("tool_use", HermesToolUse))));
        Assert.Equal(HermesDefault, chosen);
        var only = Assert.Single(named);
        Assert.Equal("tool_use", only.Key);
        Assert.Equal(HermesToolUse, only.Value);
    }

    [Fact]
    public void AListWithoutDefaultHasNoDefault()
    {
        // transformers refuses to pick one then; so does LlmCpu, and the templates stay available by name.
        var (chosen, named) = ChatTemplateFiles.ReadHuggingFace(Config(Named(("tool_use", HermesToolUse), ("rag", "{{ 'rag' }}"))));
        Assert.Null(chosen);
        Assert.Equal(["rag", "tool_use"], named.Keys.Order());
    }

    [Fact]
    public void OneTemplateIsTheDefaultAndMalformedEntriesAreSkipped()
    {
        var (single, none) = ChatTemplateFiles.ReadHuggingFace(Config(HermesDefault));
        Assert.Equal(HermesDefault, single);
        Assert.Empty(none);

        var entries = new JsonArray(
            new JsonObject { ["name"] = "default" },                       // no template
            new JsonObject { ["template"] = "x" },                         // no name
            new JsonObject { ["name"] = 3, ["template"] = "x" },           // a name that is no string
            (JsonNode)"not an object",
            new JsonObject { ["name"] = "default", ["template"] = HermesDefault });
        var (chosen, named) = ChatTemplateFiles.ReadHuggingFace(Config(entries));
        Assert.Equal(HermesDefault, chosen);
        Assert.Empty(named);

        var (fromObject, _) = ChatTemplateFiles.ReadHuggingFace(Config(new JsonObject { ["default"] = HermesDefault }));
        Assert.Null(fromObject);
        var (withoutFile, nothing) = ChatTemplateFiles.ReadHuggingFace(_dir);
        Assert.Null(withoutFile);
        Assert.Empty(nothing);
    }

    [Fact]
    public void GgufNamedKeysAreTheNamedTemplates()
    {
        string path = new TestGgufWriter()
            .Add("general.architecture", "llama")
            .Add("tokenizer.chat_template", HermesDefault)
            .Add("tokenizer.chat_template.tool_use", HermesToolUse)
            .Add("tokenizer.chat_template.rag", "{{ 'rag' }}")
            .Add("tokenizer.chat_template.count", 3)                      // not a string: not a template
            .Add("tokenizer.chat_templates", "x")                          // another key that only starts alike
            .Write(Path.Combine(_dir, "named.gguf"));
        using var file = GgufFile.Open(path);
        var (chosen, named) = ChatTemplateFiles.ReadGguf(file.Metadata);
        Assert.Equal(HermesDefault, chosen);
        Assert.Equal(["rag", "tool_use"], named.Keys.Order());
        Assert.Equal(HermesToolUse, named["tool_use"]);
    }
}
