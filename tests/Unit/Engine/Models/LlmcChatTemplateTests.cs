using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime.Chat;
using LlmCpu.Kernels.Quantization;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Engine.Models;

/// <summary>
/// A model's chat template survives conversion to .llmc: a chat session on the file recognises the model's format as
/// it does on the source folder. Without one in the source, the file has none either.
/// </summary>
public sealed class LlmcChatTemplateTests : IDisposable
{
    // Qwen/Qwen2-7B-Instruct's template, as its tokenizer_config.json carries it.
    private const string ChatMl = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-llmc-chat-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TheSourcesChatTemplateIsInTheFileAndRecognised()
    {
        string source = Path.Combine(_dir, "source");
        Directory.CreateDirectory(source);
        foreach (string file in Directory.EnumerateFiles(RepoPaths.FixtureModel)) File.Copy(file, Path.Combine(source, Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(source, "tokenizer_config.json"),
            new System.Text.Json.Nodes.JsonObject { ["chat_template"] = ChatMl }.ToJsonString());

        string llmc = Path.Combine(_dir, "chat.llmc");
        Int4ModelConverter.Convert(source, llmc, new Int4Format(128, false), new Int4ConversionOptions());
        using var model = ModelLoader.Load(llmc);
        Assert.Equal(ChatMl, model.ChatTemplateText);
        Assert.Equal(ChatTemplateKind.ChatML, ChatTemplateDetector.Detect(model.ChatTemplateText));

        string plain = Path.Combine(_dir, "plain.llmc");
        Int4ModelConverter.Convert(RepoPaths.FixtureModel, plain, new Int4Format(128, false), new Int4ConversionOptions());
        using var without = ModelLoader.Load(plain);
        Assert.Null(without.ChatTemplateText);
    }
}
