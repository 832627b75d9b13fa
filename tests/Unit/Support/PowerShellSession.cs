using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace LlmCpu.Tests.Support;

/// <summary>A real PowerShell 7.6 runspace with the built module imported, for driving the cmdlets as users do.</summary>
public sealed class PowerShellSession : IDisposable
{
    private readonly Runspace _runspace;

    public PowerShellSession()
    {
        _runspace = RunspaceFactory.CreateRunspace(InitialSessionState.CreateDefault2());
        _runspace.Open();
        Run($"Import-Module '{RepoPaths.ModuleManifest}' -ErrorAction Stop");
    }

    public sealed record Result(IReadOnlyList<PSObject> Output, IReadOnlyList<ErrorRecord> Errors);

    /// <summary>Runs a script; terminating errors surface as exceptions, non-terminating ones in <see cref="Result.Errors"/>.</summary>
    public Result Run(string script, IDictionary<string, object?>? variables = null)
    {
        using var ps = PowerShell.Create();
        ps.Runspace = _runspace;
        foreach (var (name, value) in variables ?? new Dictionary<string, object?>()) _runspace.SessionStateProxy.SetVariable(name, value);
        ps.AddScript(script);
        var output = ps.Invoke();
        return new Result(output, ps.Streams.Error.ToArray());
    }

    public object? GetVariable(string name) => _runspace.SessionStateProxy.GetVariable(name);

    public void Dispose() => _runspace.Dispose();
}
