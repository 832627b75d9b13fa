namespace LlmCpu.Engine.Models;

/// <summary>The one entry point for loading a model from disk: picks the reader by what the path is.</summary>
public static class ModelLoader
{
    public static LanguageModel Load(string path, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        if (Directory.Exists(path)) return HuggingFaceModelLoader.Load(path, options);
        if (File.Exists(path))
        {
            if (path.EndsWith(Formats.Llmc.LlmcLayout.Extension, StringComparison.OrdinalIgnoreCase) || HasLlmcMagic(path))
                return LlmcModelLoader.Load(path, options);
            // A file inside a Hugging Face folder (config.json or a safetensors file) names its folder.
            string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
            if (folder != null && File.Exists(System.IO.Path.Combine(folder, "config.json"))
                && (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)))
                return HuggingFaceModelLoader.Load(folder, options);
            throw new ModelNotSupportedException(path, "file type", "is not a model this engine reads (a Hugging Face folder with config.json and safetensors, or an LlmCpu INT4 .llmc file)");
        }
        throw new FileNotFoundException($"Model path '{path}' does not exist.", path);
    }

    private static bool HasLlmcMagic(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[8];
        return stream.ReadAtLeast(magic, 8, throwOnEndOfStream: false) == 8 && magic.SequenceEqual(Formats.Llmc.LlmcLayout.Magic);
    }
}
