using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmCpu.Tests.Support.Hostile;

/// <summary>
/// Structure-aware damage to a JSON document, seeded: a value replaced by a boundary number, a number too large for any
/// integer type, a value of the wrong kind, a lone surrogate, a very long string or deep nesting; a property removed,
/// renamed or given twice; a value copied from elsewhere in the document (which makes overlapping offsets and repeated
/// ids); an array grown. Sometimes the serialized text is then damaged byte by byte as well (invalid UTF-8, truncation).
/// </summary>
public static class HostileJson
{
    private static readonly string[] RawNumbers =
    [
        "0", "-1", "1", "2", "2147483647", "2147483648", "-2147483649", "4294967296", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "1e400", "-1e400", "1e308", "0.5", "-0.0", "1e-45", "3.4e38", "1.5e9",
    ];

    private static readonly string[] Strings =
    [
        "", "x", " ", "F64", "I8", "U8", "BOOL", "F8_E4M3", "int4", "f16", "f32", "llama", "gpt2", "BPE", "WordPiece", "Unigram",
        "\ud800", "\udfff\ud800", "a\u0000b", "../x", "/etc/passwd", "model.safetensors", "model-00001-of-00002.safetensors", "\u0120", "\U0001F600",
        "LlamaForCausalLM", "gelu", "SentencePiece",
    ];

    // Deep nesting is one of the damages, so the writer must allow more than the default 64 levels.
    private static readonly JsonSerializerOptions Deep = new() { MaxDepth = 1000 };

    public static (byte[] Bytes, string Damage) Mutate(JsonNode seed, Random random)
    {
        var root = seed.DeepClone();
        var slots = new List<Slot>();
        Collect(root, "$", slots);
        string damage;
        byte[] bytes;
        if (slots.Count == 0 || random.Next(12) == 0)
        {
            int objects = CountObjects(root);
            int target = random.Next(Math.Max(1, objects));
            bytes = WriteWithDuplicateKey(root, target);
            damage = $"first key of object #{target} given twice";
        }
        else
        {
            var slot = slots[random.Next(slots.Count)];
            damage = random.Next(10) switch
            {
                < 5 => Replace(slot, HostileValue(random, slots, out string what), what),
                5 => Remove(slot),
                6 when slot.Parent is JsonObject => Rename(slot, random),
                7 when slot.Node is JsonArray array => Grow(array, slot.Path, random, slots),
                _ => Replace(slot, slots[random.Next(slots.Count)].Node?.DeepClone(), "a copy of another value"),
            };
            bytes = JsonSerializer.SerializeToUtf8Bytes(root, Deep);
        }
        if (random.Next(5) == 0)
        {
            var (damaged, how) = HostileBytes.Havoc(bytes, random);
            return (damaged, damage + "; then " + how);
        }
        return (bytes, damage);
    }

    private sealed record Slot(JsonNode? Parent, string? Key, int Index, JsonNode? Node, string Path);

    private static void Collect(JsonNode? node, string path, List<Slot> slots)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, value) in obj.ToList())
                {
                    string child = $"{path}.{key}";
                    slots.Add(new Slot(obj, key, -1, value, child));
                    Collect(value, child, slots);
                }
                break;
            case JsonArray array:
                for (int i = 0; i < array.Count; i++)
                {
                    string child = $"{path}[{i}]";
                    slots.Add(new Slot(array, null, i, array[i], child));
                    Collect(array[i], child, slots);
                }
                break;
        }
    }

    private static JsonNode? HostileValue(Random random, List<Slot> slots, out string what)
    {
        switch (random.Next(8))
        {
            case 0:
            case 1:
            {
                string raw = RawNumbers[random.Next(RawNumbers.Length)];
                what = raw;
                return JsonNode.Parse(raw);
            }
            case 2:
            {
                // A number near one the document holds: off by one, doubled, negated.
                var numbers = slots.Where(s => s.Node is JsonValue v && v.GetValueKind() == JsonValueKind.Number).ToList();
                if (numbers.Count == 0) goto case 0;
                double n = double.Parse(numbers[random.Next(numbers.Count)].Node!.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);
                double changed = random.Next(4) switch { 0 => n + 1, 1 => n - 1, 2 => n * 2, _ => -n };
                what = changed.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
                return double.IsFinite(changed) ? JsonValue.Create(changed) : JsonNode.Parse("1e400");
            }
            case 3:
            {
                string text = Strings[random.Next(Strings.Length)];
                what = $"\"{text}\"";
                return JsonValue.Create(text);
            }
            case 4:
                what = "a 100,000-character string";
                return JsonValue.Create(new string('a', 100_000));
            case 5:
            {
                int depth = random.Next(2) == 0 ? 70 : 300;
                what = $"arrays nested {depth} deep";
                return JsonNode.Parse(new string('[', depth) + new string(']', depth), documentOptions: new JsonDocumentOptions { MaxDepth = 1000 });
            }
            case 6:
            {
                string[] kinds = ["true", "false", "null", "[]", "{}", "[1,2]", "[-1,5]", "[0,0]", "{\"a\":1}", "[\"a\",1]"];
                string raw = kinds[random.Next(kinds.Length)];
                what = raw;
                return JsonNode.Parse(raw);
            }
            default:
                what = "an array of 10,000 zeros";
                return new JsonArray(Enumerable.Repeat(0, 10_000).Select(z => (JsonNode)z).ToArray());
        }
    }

    private static string Replace(Slot slot, JsonNode? value, string what)
    {
        if (slot.Parent is JsonObject obj) obj[slot.Key!] = value;
        else if (slot.Parent is JsonArray array) array[slot.Index] = value;
        return $"{slot.Path} = {what}";
    }

    private static string Remove(Slot slot)
    {
        if (slot.Parent is JsonObject obj) obj.Remove(slot.Key!);
        else if (slot.Parent is JsonArray array) array.RemoveAt(slot.Index);
        return $"{slot.Path} removed";
    }

    private static string Rename(Slot slot, Random random)
    {
        var obj = (JsonObject)slot.Parent!;
        string name = random.Next(3) switch { 0 => "", 1 => slot.Key!.ToUpperInvariant(), _ => slot.Key + "_" };
        var value = slot.Node;
        obj.Remove(slot.Key!);
        if (!obj.ContainsKey(name)) obj[name] = value;
        return $"{slot.Path} renamed '{name}'";
    }

    private static string Grow(JsonArray array, string path, Random random, List<Slot> slots)
    {
        int extra = random.Next(1, 4);
        for (int i = 0; i < extra; i++)
            array.Add(array.Count > 0 && random.Next(2) == 0 ? array[random.Next(array.Count)]?.DeepClone() : HostileValue(random, slots, out _));
        return $"{path} grown by {extra}";
    }

    private static int CountObjects(JsonNode? node) => node switch
    {
        JsonObject obj => 1 + obj.Sum(p => CountObjects(p.Value)),
        JsonArray array => array.Sum(CountObjects),
        _ => 0,
    };

    private static byte[] WriteWithDuplicateKey(JsonNode root, int target)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { SkipValidation = true, MaxDepth = 1000 }))
        {
            int seen = 0;
            Write(root);

            void Write(JsonNode? node)
            {
                switch (node)
                {
                    case JsonObject obj:
                        bool duplicate = seen++ == target;
                        writer.WriteStartObject();
                        bool first = true;
                        foreach (var (key, value) in obj)
                        {
                            writer.WritePropertyName(key);
                            Write(value);
                            if (duplicate && first)
                            {
                                writer.WritePropertyName(key);
                                Write(value);
                            }
                            first = false;
                        }
                        writer.WriteEndObject();
                        break;
                    case JsonArray array:
                        writer.WriteStartArray();
                        foreach (var item in array) Write(item);
                        writer.WriteEndArray();
                        break;
                    case null:
                        writer.WriteNullValue();
                        break;
                    default:
                        node.WriteTo(writer);
                        break;
                }
            }
        }
        return stream.ToArray();
    }
}
