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
            if (IsGguf(path)) return GgufModelLoader.Load(path, options);
            // A file inside a Hugging Face folder (config.json or a safetensors file) names its folder.
            string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
            if (folder != null && File.Exists(System.IO.Path.Combine(folder, "config.json"))
                && (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)))
                return HuggingFaceModelLoader.Load(folder, options);
            throw new ModelNotSupportedException(path, "file type", "is not a model this engine reads (a GGUF file, or a Hugging Face folder with config.json and safetensors)");
        }
        throw new FileNotFoundException($"Model path '{path}' does not exist.", path);
    }

    /// <summary>A .gguf file, or any file that starts with the GGUF magic (downloads often lose their extension).</summary>
    private static bool IsGguf(string path)
    {
        if (path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)) return true;
        Span<byte> magic = stackalloc byte[4];
        using var stream = File.OpenRead(path);
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8);
    }
}
