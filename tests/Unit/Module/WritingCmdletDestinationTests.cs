using System.Management.Automation;
using LlmCpu.Tests.Support;

namespace LlmCpu.Tests.Module;

/// <summary>
/// Every cmdlet that writes a file reports a destination it cannot write as WriteFailed (WriteError) naming the
/// destination, never as a missing model naming a temporary file, and leaves nothing behind.
/// </summary>
public sealed class WritingCmdletDestinationTests : IDisposable
{
    private readonly PowerShellSession _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("llmcpu-destinations-").FullName;

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    public static IEnumerable<object[]> Cases() =>
        from command in new[]
        {
            ("ConvertToInt4ModelCommand", "Import-Model | ConvertTo-Int4Model -Destination $dest"),
            ("ConvertToInt4ModelCommand", "ConvertTo-Int4Model -Path (Import-Model).Path -Destination $dest"),
            ("ConvertToGgufCommand", "Import-Model | ConvertTo-Gguf -Destination $dest"),
            ("NewSyntheticModelCommand", "New-SyntheticModel -Shape TinyLlama-1.1B -Destination $dest"),
        }
        from destination in new[] { "missing-folder", "a-folder" }
        select new object[] { command.Item1, command.Item2, destination };

    [Theory]
    [MemberData(nameof(Cases))]
    public void AnUnwritableDestinationIsWriteFailedNamingIt(string commandClass, string script, string destinationKind)
    {
        Directory.CreateDirectory(Path.Combine(_dir, "a-folder"));
        string destination = destinationKind == "a-folder" ? Path.Combine(_dir, "a-folder") : Path.Combine(_dir, "no", "such", "model.out");
        var result = _ps.Run(script, new Dictionary<string, object?> { ["dest"] = destination });
        Assert.Empty(result.Output);
        var error = Assert.Single(result.Errors);
        Assert.Equal($"WriteFailed,LlmCpu.Module.Commands.{commandClass}", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.WriteError, error.CategoryInfo.Category);
        Assert.Equal(destination, error.TargetObject);
        Assert.Contains(destination, error.Exception.Message);
        Assert.DoesNotContain(".partial", error.Exception.Message);
        Assert.Equal([Path.Combine(_dir, "a-folder")], Directory.GetFileSystemEntries(_dir));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(_dir, "a-folder")));
    }
}
