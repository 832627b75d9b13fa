using System.Collections;
using System.Management.Automation;
using System.Text.Json;

namespace LlmCpu.Host;

/// <summary>
/// Writes a pipeline object as one line of JSON: its public properties (as PowerShell sees them, so
/// added note properties count), nested objects to a fixed depth, enums as names, TimeSpans as seconds. A file or
/// folder (what ConvertTo-Gguf and New-SyntheticModel return) is its path, name, size and time, not the object graph
/// behind a FileInfo (its Directory, its provider, its drive: kilobytes for one file).
/// </summary>
public static class JsonLines
{
    public const int MaxDepth = 3;

    public static string Serialize(object? value)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            Write(writer, value, 0);
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Write(Utf8JsonWriter writer, object? value, int depth)
    {
        if (((value as PSObject)?.BaseObject ?? value) is FileSystemInfo fileItem)
        {
            WriteFileSystemItem(writer, fileItem);
            return;
        }
        if (value is PSObject ps)
        {
            if (ps.BaseObject is not PSCustomObject && IsScalar(ps.BaseObject))
            {
                Write(writer, ps.BaseObject, depth);
                return;
            }
            WriteObject(writer, ps, depth);
            return;
        }
        switch (value)
        {
            case null: writer.WriteNullValue(); return;
            case string s: writer.WriteStringValue(s); return;
            case bool b: writer.WriteBooleanValue(b); return;
            case Enum e: writer.WriteStringValue(e.ToString()); return;
            case TimeSpan t: writer.WriteNumberValue(Math.Round(t.TotalSeconds, 6)); return;
            case DateTime d: writer.WriteStringValue(d.ToString("O")); return;
            case DateTimeOffset o: writer.WriteStringValue(o.ToString("O")); return;
            case float f: WriteFloat(writer, f); return;
            case double dd: WriteFloat(writer, dd); return;
            case decimal m: writer.WriteNumberValue(m); return;
            case char c: writer.WriteStringValue(c.ToString()); return;
            case Guid g: writer.WriteStringValue(g.ToString()); return;
            case sbyte or byte or short or ushort or int or uint or long or ulong:
                writer.WriteNumberValue(Convert.ToDecimal(value)); return;
        }
        if (depth >= MaxDepth)
        {
            writer.WriteStringValue(value.ToString());
            return;
        }
        if (value is IDictionary dictionary)
        {
            writer.WriteStartObject();
            foreach (DictionaryEntry entry in dictionary)
            {
                writer.WritePropertyName(entry.Key.ToString() ?? "");
                Write(writer, entry.Value, depth + 1);
            }
            writer.WriteEndObject();
            return;
        }
        if (value is IEnumerable sequence)
        {
            writer.WriteStartArray();
            foreach (object? item in sequence) Write(writer, item, depth + 1);
            writer.WriteEndArray();
            return;
        }
        WriteObject(writer, PSObject.AsPSObject(value), depth);
    }

    private static void WriteObject(Utf8JsonWriter writer, PSObject ps, int depth)
    {
        if (depth >= MaxDepth)
        {
            writer.WriteStringValue(ps.ToString());
            return;
        }
        writer.WriteStartObject();
        foreach (var property in ps.Properties)
        {
            if (!property.IsGettable) continue;
            object? propertyValue;
            try { propertyValue = property.Value; }
            catch (GetValueException) { continue; }
            writer.WritePropertyName(property.Name);
            Write(writer, propertyValue, depth + 1);
        }
        writer.WriteEndObject();
    }

    private static void WriteFileSystemItem(Utf8JsonWriter writer, FileSystemInfo item)
    {
        writer.WriteStartObject();
        writer.WriteString("FullName", item.FullName);
        writer.WriteString("Name", item.Name);
        if (item is FileInfo file) writer.WriteNumber("Length", file.Exists ? file.Length : 0);
        writer.WriteString("LastWriteTimeUtc", item.LastWriteTimeUtc.ToString("O"));
        writer.WriteEndObject();
    }

    private static void WriteFloat(Utf8JsonWriter writer, double value)
    {
        if (double.IsFinite(value)) writer.WriteNumberValue(value); else writer.WriteStringValue(value.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static bool IsScalar(object value) => value is string or bool or Enum or TimeSpan or DateTime or DateTimeOffset or char or Guid
        or float or double or decimal or sbyte or byte or short or ushort or int or uint or long or ulong;
}
