using System.Text.Json;

namespace LlmCpu.Engine.Formats;

/// <summary>
/// The tensors of a Hugging Face checkpoint: one <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c>. Owns the open files.
/// </summary>
public sealed class TensorCollection : IDisposable
{
    private readonly List<SafeTensorsFile> _files = [];
    private readonly Dictionary<string, TensorData> _tensors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SafeTensorsFile> _owners = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, TensorData> Tensors => _tensors;

    public long TotalFileBytes => _files.Sum(f => f.FileLength);

    public IEnumerable<string> FilePaths => _files.Select(f => f.Path);

    public static TensorCollection OpenFolder(string folder)
    {
        var collection = new TensorCollection();
        try
        {
            string single = Path.Combine(folder, "model.safetensors");
            string index = Path.Combine(folder, "model.safetensors.index.json");
            if (File.Exists(single))
            {
                collection.Add(SafeTensorsFile.Open(single));
            }
            else if (File.Exists(index))
            {
                foreach (string shard in ReadShardNames(index)) collection.Add(SafeTensorsFile.Open(Path.Combine(folder, shard)));
            }
            else
            {
                throw new FileNotFoundException($"No model.safetensors or model.safetensors.index.json in '{folder}'.", single);
            }
            return collection;
        }
        catch
        {
            collection.Dispose();
            throw;
        }
    }

    private static IEnumerable<string> ReadShardNames(string indexPath)
    {
        using var document = ParseJson(indexPath);
        if (document.RootElement.ValueKind != JsonValueKind.Object) throw new ModelFormatException(indexPath, "index", "is not a JSON object");
        if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException(indexPath, "weight_map", "is missing");
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var entry in map.EnumerateObject())
        {
            string shard = JsonText.RequireString(entry.Value, indexPath, $"weight_map.{entry.Name}");
            // A plain name of a file beside the index: no folders, nothing the file system refuses or reads as a path.
            if (shard.Length is 0 or > 255 || shard.Contains('/') || shard.Contains('\\') || shard.Contains("..") || shard.Any(char.IsControl))
                throw new ModelFormatException(indexPath, $"weight_map.{entry.Name}", $"'{shard}' is not a file name in the model folder");
            names.Add(shard);
        }
        if (names.Count == 0) throw new ModelFormatException(indexPath, "weight_map", "lists no tensors");
        return names;
    }

    internal static JsonDocument ParseJson(string path)
    {
        return JsonText.Parse(File.ReadAllBytes(path), path, "JSON", new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
    }

    private void Add(SafeTensorsFile file)
    {
        _files.Add(file);
        foreach (var (name, tensor) in file.Tensors)
        {
            if (!_tensors.TryAdd(name, tensor)) throw new ModelFormatException(file.Path, $"tensor '{name}'", "appears in more than one shard");
            _owners.Add(name, file);
        }
    }

    /// <summary>A tensor of weights (F32, F16 or BF16) of exactly <paramref name="shape"/>.</summary>
    public TensorData Require(string name, params long[] shape)
    {
        var tensor = RequireShape(name, shape);
        if (tensor.Type == TensorType.I32)
            throw new ModelFormatException(MessagePath, $"tensor '{name}' dtype", "is I32 (integers); weights must be F32, F16 or BF16");
        return tensor;
    }

    /// <summary>A tensor of 32-bit integers (packed codes, zero points, group indices) of exactly <paramref name="shape"/>.</summary>
    public TensorData RequireInt32(string name, params long[] shape)
    {
        var tensor = RequireShape(name, shape);
        if (tensor.Type != TensorType.I32)
            throw new ModelFormatException(MessagePath, $"tensor '{name}' dtype", $"is {tensor.Type}; packed 4-bit codes are I32");
        return tensor;
    }

    /// <summary>The file errors about a tensor name: the first shard (tensors do not record which shard holds them).</summary>
    public string MessagePath => _files.Count > 0 ? _files[0].Path : "model.safetensors";

    private TensorData RequireShape(string name, long[] shape)
    {
        if (!_tensors.TryGetValue(name, out var tensor))
            throw new ModelFormatException(MessagePath, $"tensor '{name}'", "is missing");
        if (!tensor.Shape.SequenceEqual(shape))
            throw new ModelFormatException(MessagePath, $"tensor '{name}' shape", $"is [{string.Join(", ", tensor.Shape)}], expected [{string.Join(", ", shape)}]");
        return tensor;
    }

    /// <summary>Drops the pages of tensor <paramref name="name"/> from the resident set (see <see cref="SafeTensorsFile.ReleaseTensorPages"/>); unknown names are ignored.</summary>
    public void ReleaseTensorPages(string name)
    {
        if (_owners.TryGetValue(name, out var file)) file.ReleaseTensorPages(name);
    }

    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
        _files.Clear();
    }
}
