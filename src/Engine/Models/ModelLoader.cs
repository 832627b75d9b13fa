namespace LlmCpu.Engine.Models;

/// <summary>The one entry point for loading a model from disk: picks the reader by what the path is.</summary>
public static class ModelLoader
{
    public static LanguageModel Load(string path, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        var model = LoadFormat(path, options);
        try
        {
            model.ConfigureKvCache(options.KvCache);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    private static LanguageModel LoadFormat(string path, LoadOptions options)
    {
        if (options.Precision == ModelPrecision.Int4) Quantization.LoadTimeRecipes.Ensure(options.Int4Format.Recipe);
        // Float matrices left in the file take no memory at load; what is built is at least an INT4 model's share.
        LoadMemoryCheck.Ensure(path, options.DeferFloatMatrices ? ModelPrecision.Int4 : options.Precision, options.MemoryMap);
        if (Directory.Exists(path)) return HuggingFaceModelLoader.Load(path, options);
        if (File.Exists(path))
        {
            // By extension first, then by magic bytes: downloads often lose their extension.
            if (HasExtensionOrMagic(path, Formats.Llmc.LlmcLayout.Extension, Formats.Llmc.LlmcLayout.Magic)) return LlmcModelLoader.Load(path, options);
            if (HasExtensionOrMagic(path, ".gguf", "GGUF"u8)) return GgufModelLoader.Load(path, options);
            // A file inside a Hugging Face folder (config.json or a safetensors file) names its folder.
            string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
            if (folder != null && File.Exists(System.IO.Path.Combine(folder, "config.json"))
                && (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)))
                return HuggingFaceModelLoader.Load(folder, options);
            throw new ModelNotSupportedException(path, "file type",
                "is not a model this engine reads (a GGUF file, an LlmCpu INT4 .llmc file, or a Hugging Face folder with config.json and safetensors)");
        }
        throw new FileNotFoundException($"Model path '{path}' does not exist.", path);
    }

    private static bool HasExtensionOrMagic(string path, string extension, ReadOnlySpan<byte> magic)
    {
        if (path.EndsWith(extension, StringComparison.OrdinalIgnoreCase)) return true;
        Span<byte> start = stackalloc byte[magic.Length];
        using var stream = File.OpenRead(path);
        return stream.ReadAtLeast(start, magic.Length, throwOnEndOfStream: false) == magic.Length && start.SequenceEqual(magic);
    }
}
