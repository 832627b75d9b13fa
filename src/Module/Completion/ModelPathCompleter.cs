using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace LlmCpu.Module.Completion;

/// <summary>
/// Tab completion for parameters that take a model: folders (a Hugging Face model is a folder, and folders lead to
/// files) and the files the engine loads by name, <c>.gguf</c> and <c>.llmc</c>. PowerShell's own file-name completion
/// does the work (current location, provider paths, quoting); this only drops files that are not models.
/// </summary>
public sealed class ModelPathCompleter : IArgumentCompleter
{
    private static readonly string[] ModelExtensions = [".gguf", ".llmc"];

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        CompletionCompleters.CompleteFilename(wordToComplete ?? "").Where(IsFolderOrModelFile);

    private static bool IsFolderOrModelFile(CompletionResult result) =>
        result.ResultType == CompletionResultType.ProviderContainer
        || ModelExtensions.Any(e => result.ListItemText.EndsWith(e, StringComparison.OrdinalIgnoreCase));
}
