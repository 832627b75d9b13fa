using LlmCpu.Engine.Models;

namespace LlmCpu.Engine.Runtime.Chat;

/// <summary>Which of a model's own chat templates a session recognises: the default one, or one the user names.</summary>
public static class ModelChatTemplate
{
    /// <summary>
    /// The Jinja text of <paramref name="model"/>'s template named <paramref name="name"/>: null or "default" is the
    /// default template (null when the model has none), any other name one of <see cref="LanguageModel.NamedChatTemplates"/>.
    /// </summary>
    /// <exception cref="ChatTemplateNotFoundException">The model has no template of that name.</exception>
    public static string? Text(LanguageModel model, string? name)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (name == null) return model.ChatTemplateText;
        if (name == ChatTemplateFiles.DefaultName && model.ChatTemplateText != null) return model.ChatTemplateText;
        return model.NamedChatTemplates.TryGetValue(name, out string? text) ? text : throw new ChatTemplateNotFoundException(model.Name, name, Names(model));
    }

    /// <summary>The names of the model's templates, "default" first where it has a default one.</summary>
    public static IReadOnlyList<string> Names(LanguageModel model) =>
        [.. model.ChatTemplateText != null ? [ChatTemplateFiles.DefaultName] : Array.Empty<string>(), .. model.NamedChatTemplates.Keys.Order(StringComparer.Ordinal)];
}
