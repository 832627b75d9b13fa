using LlmCpu.Engine.Models;
using LlmCpu.Engine.Runtime;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>What hostile-input tests do with a model that loaded: a short greedy generation, which reads every weight.</summary>
public static class ModelUse
{
    public static GenerationResult Generate(object model) =>
        new TextGenerator((LanguageModel)model).Generate("It is a truth", new GenerationOptions
        {
            MaxTokens = 2, ContextLength = 16, StopAtEos = false, Sampling = new SamplingOptions { Temperature = 0 },
        });
}
