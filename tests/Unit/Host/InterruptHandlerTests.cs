using System.Diagnostics;
using System.Management.Automation;
using LlmCpu.Host;

namespace LlmCpu.Tests.Host;

/// <summary>One llmcpu session in this process, shared by the tests of a class: opening it imports the module.</summary>
public sealed class HostSessionFixture : IDisposable
{
    public HostSessionFixture()
    {
        Session = HostSession.Open(TextWriter.Null, Errors, interactive: false)
            ?? throw new InvalidOperationException("the host session did not open: " + Errors);
    }

    public HostSession Session { get; }

    public StringWriter Errors { get; } = new();

    public void Dispose() => Session.Dispose();
}

/// <summary>
/// Ctrl+C in llmcpu's host, driven in this process against real PowerShell pipelines: the handler is called as the
/// signal would call it, at chosen moments and at random ones, including those between two pipelines and while one
/// starts, where a stop once went missing.
/// </summary>
public sealed class InterruptHandlerTests(HostSessionFixture fixture) : IClassFixture<HostSessionFixture>
{
    private const int Stopped = 130;

    private ScriptRunner Runner(InterruptHandler interrupts) => new(fixture.Session, TextWriter.Null, OutputFormat.Text, interrupts);

    [Fact]
    public void InAScriptACtrlCBeforeThePipelineStartsStopsItBeforeItRuns()
    {
        var interrupts = new InterruptHandler();
        fixture.Session.Runspace.SessionStateProxy.SetVariable("ran", false);
        Assert.True(interrupts.Interrupt());
        Assert.Equal(Stopped, Runner(interrupts).Run("$global:ran = $true"));
        Assert.Equal(false, fixture.Session.Runspace.SessionStateProxy.GetVariable("ran"));
        // The stop holds for the rest of the script: no later pipeline runs either.
        Assert.Equal(Stopped, Runner(interrupts).Run("$global:ran = $true"));
        Assert.Equal(false, fixture.Session.Runspace.SessionStateProxy.GetVariable("ran"));
    }

    [Fact]
    public void ACtrlCAfterThePipelineIsMadeButBeforeItRunsStopsItAsItStarts()
    {
        // PowerShell loses a stop asked of an instance not yet Running: it runs the script anyway (or Invoke throws).
        var interrupts = new InterruptHandler();
        fixture.Session.Runspace.SessionStateProxy.SetVariable("ran", false);
        using var ps = PowerShell.Create();
        ps.Runspace = fixture.Session.Runspace;
        ps.AddScript("$global:ran = $true");
        Assert.True(interrupts.Enter(ps));
        Assert.True(interrupts.Interrupt());
        try
        {
            ps.Invoke();
        }
        catch (PipelineStoppedException)
        {
            // as when a stop reaches a running script
        }
        Assert.True(interrupts.Leave(ps));
        Assert.Equal(false, fixture.Session.Runspace.SessionStateProxy.GetVariable("ran"));
    }

    [Fact]
    public void InAScriptACtrlCWhileThePipelineRunsStopsIt()
    {
        var interrupts = new InterruptHandler();
        using var started = new ManualResetEventSlim();
        fixture.Session.Runspace.SessionStateProxy.SetVariable("started", started);
        var run = Run(Runner(interrupts), "$started.Set(); while ($true) { $null = 1 }");
        Assert.True(started.Wait(TimeSpan.FromSeconds(30)), "the script did not start");
        Assert.True(interrupts.Interrupt());
        Assert.Equal(Stopped, run.ExitCode());
    }

    [Fact]
    public void ASecondCtrlCWhileTheFirstIsStillHandledIsLeftToEndTheProcess()
    {
        var interrupts = new InterruptHandler();
        Assert.True(interrupts.Interrupt());
        Assert.False(interrupts.Interrupt());
    }

    [Fact]
    public void InTheInteractiveSessionCtrlCStopsOnlyTheCommandRunningWhenItComes()
    {
        var interrupts = new InterruptHandler();
        interrupts.BeginInteractive();
        var runner = Runner(interrupts);
        // At the prompt: nothing to stop, and nothing carried over to the next command.
        Assert.True(interrupts.Interrupt());
        Assert.True(interrupts.Interrupt());
        Assert.Equal(0, runner.Run("$null = 1"));

        using var started = new ManualResetEventSlim();
        fixture.Session.Runspace.SessionStateProxy.SetVariable("started", started);
        var run = Run(runner, "$started.Set(); while ($true) { $null = 1 }");
        Assert.True(started.Wait(TimeSpan.FromSeconds(30)), "the command did not start");
        Assert.True(interrupts.Interrupt());
        Assert.Equal(Stopped, run.ExitCode());
        Assert.False(interrupts.StopRequested);
        Assert.Equal(0, runner.Run("$null = 1"));
    }

    [Fact]
    public void InAScriptACtrlCAtAnyMomentStopsIt()
    {
        // Each trial sends Ctrl+C after a random delay that falls before the pipeline exists, while PowerShell makes
        // it Running, or while it runs; the script would finish by itself well after the longest delay, so a lost
        // stop shows as exit code 0 and $done set.
        var random = new Random(20261130);
        var outcomes = new List<string>();
        for (int trial = 0; trial < 300; trial++)
        {
            var interrupts = new InterruptHandler();
            var runner = Runner(interrupts);
            fixture.Session.Runspace.SessionStateProxy.SetVariable("done", false);
            // Dense near zero, where the pipeline is being made (tens of microseconds), and reaching into the run.
            double delayMs = Math.Pow(random.NextDouble(), 4);
            using var go = new Barrier(2);
            var ctrlC = new Thread(() =>
            {
                go.SignalAndWait();
                var clock = Stopwatch.StartNew();
                while (clock.Elapsed.TotalMilliseconds < delayMs) Thread.SpinWait(20);
                interrupts.Interrupt();
            });
            ctrlC.Start();
            go.SignalAndWait();
            int code = runner.Run("Start-Sleep -Milliseconds 200; $global:done = $true");
            ctrlC.Join();
            object? done = fixture.Session.Runspace.SessionStateProxy.GetVariable("done");
            if (code != Stopped || !Equals(done, false)) outcomes.Add($"trial {trial} (Ctrl+C after {delayMs:F3} ms): exit code {code}, $done {done}");
        }
        Assert.True(outcomes.Count == 0, string.Join("\n", outcomes));
    }

    /// <summary>A script run on its own thread, as the host's main thread runs it while the signal comes on another.</summary>
    private sealed class Running
    {
        private readonly Thread _thread;
        private int _exitCode;

        public Running(ScriptRunner runner, string script)
        {
            _thread = new Thread(() => _exitCode = runner.Run(script)) { IsBackground = true };
            _thread.Start();
        }

        public int ExitCode()
        {
            Assert.True(_thread.Join(TimeSpan.FromSeconds(30)), "the script did not stop within 30 s of Ctrl+C");
            return _exitCode;
        }
    }

    private static Running Run(ScriptRunner runner, string script) => new(runner, script);
}
