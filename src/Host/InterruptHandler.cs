using System.Management.Automation;

namespace LlmCpu.Host;

/// <summary>
/// What Ctrl+C (SIGINT) does in llmcpu, whichever moment it comes. Until the interactive session begins (a script run
/// with -Command or -File, and the host's own start), the first Ctrl+C stops the script for good: the running pipeline
/// is stopped, and a pipeline that has not started yet never runs, so the host exits 130. In the interactive session a
/// Ctrl+C stops the command running at that moment and the session goes on; at the prompt it does nothing. A second
/// Ctrl+C while the first is still being handled ends the process.
/// </summary>
/// <remarks>
/// A stop asked of a PowerShell instance before Invoke has made it Running is lost: BeginStop moves a NotStarted
/// instance to Stopped, and Invoke then runs it anyway (or throws, while it is still Stopping). So a pipeline is only
/// stopped once it is Running, and the request is remembered: under one lock, either <see cref="Interrupt"/> sees the
/// pipeline Running, or the pipeline's Running event, raised before any of the script runs, sees the request.
/// </remarks>
public sealed class InterruptHandler
{
    private readonly object _gate = new();
    private bool _interactive;
    private bool _requested;
    private PowerShell? _running;

    /// <summary>Ctrl+C. False for a second one while the first is still being handled: the process should then end.</summary>
    public bool Interrupt()
    {
        PowerShell? toStop;
        lock (_gate)
        {
            if (_interactive && _running is null) return true; // at the prompt: nothing to stop
            if (_requested) return false;
            _requested = true;
            toStop = _running?.InvocationStateInfo.State == PSInvocationState.Running ? _running : null;
        }
        toStop?.BeginStop(null, null);
        return true;
    }

    /// <summary>Whether a Ctrl+C came that the host has still to act on.</summary>
    public bool StopRequested
    {
        get { lock (_gate) return _requested; }
    }

    /// <summary>The interactive session begins: from now on a Ctrl+C belongs to the command running when it comes.</summary>
    public void BeginInteractive()
    {
        lock (_gate)
        {
            _interactive = true;
            _requested = false;
        }
    }

    /// <summary>
    /// Makes <paramref name="pipeline"/> the one a Ctrl+C stops; call before invoking it. False when a Ctrl+C already
    /// stopped the script: the pipeline must not run.
    /// </summary>
    public bool Enter(PowerShell pipeline)
    {
        pipeline.InvocationStateChanged += StopIfRequested;
        lock (_gate)
        {
            if (_requested)
            {
                pipeline.InvocationStateChanged -= StopIfRequested;
                return false;
            }
            _running = pipeline;
            return true;
        }
    }

    /// <summary>
    /// The pipeline has returned. True when a Ctrl+C came while it ran: it was stopped, or it ended just before the stop
    /// reached it; either way the person asked for a stop and the exit code says so.
    /// </summary>
    public bool Leave(PowerShell pipeline)
    {
        pipeline.InvocationStateChanged -= StopIfRequested;
        lock (_gate)
        {
            _running = null;
            bool stopped = _requested;
            if (_interactive) _requested = false;
            return stopped;
        }
    }

    private void StopIfRequested(object? sender, PSInvocationStateChangedEventArgs e)
    {
        if (e.InvocationStateInfo.State != PSInvocationState.Running) return;
        bool requested;
        lock (_gate) requested = _requested;
        if (requested) ((PowerShell)sender!).BeginStop(null, null);
    }
}
