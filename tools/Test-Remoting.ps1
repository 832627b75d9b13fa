#requires -Version 7.6
<#
.SYNOPSIS
    Runs a generation on this machine through PowerShell SSH remoting and checks the deserialized result.
.DESCRIPTION
    An opt-in check of the scale-out path about_LlmCpu describes (Invoke-Command -HostName). It starts a private sshd
    on 127.0.0.1 (its own port, host key, authorized key and config in a temporary folder; the system's sshd
    configuration is not read or changed) whose "powershell" subsystem is the pwsh running this script, then runs
    Import-Module LlmCpu; Import-Model | Invoke-Generation through Invoke-Command -HostName localhost, and checks that
    the result comes back as a deserialized GenerationResult with the reference implementation's greedy tokens and its
    text. sshd is stopped and the folder removed at the end.

    Needs OpenSSH: Debian's openssh-server (/usr/sbin/sshd) and openssh-client (ssh, ssh-keygen), and a built module
    (dotnet build src/Module -c Release). sshd needs its privilege-separation folder (/run/sshd); the script creates
    it when missing, which needs root, as starting sshd does.
.EXAMPLE
    dotnet tool restore; dotnet pwsh -File tools/Test-Remoting.ps1
#>
[CmdletBinding()]
param(
    [string] $ModuleManifest = (Join-Path $PSScriptRoot '../out/LlmCpu/LlmCpu.psd1'),
    [int] $Port = 0,
    [string] $Sshd = '/usr/sbin/sshd'
)

$ErrorActionPreference = 'Stop'
$root = Split-Path -Parent $PSScriptRoot
$ModuleManifest = (Resolve-Path $ModuleManifest).Path
# Here too, as a user fanning out would have it: the results coming back are shown with the module's views.
Import-Module $ModuleManifest
if (-not (Test-Path $Sshd)) { throw "No sshd at ${Sshd}: install Debian's openssh-server (apt-get install openssh-server)." }
foreach ($tool in 'ssh', 'ssh-keygen') {
    if (-not (Get-Command $tool -CommandType Application -ErrorAction Ignore)) { throw "No ${tool} on PATH: install Debian's openssh-client." }
}

# A free loopback port, unless one was given.
if ($Port -eq 0) {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start(); $Port = $listener.LocalEndpoint.Port; $listener.Stop()
}

$folder = Join-Path ([System.IO.Path]::GetTempPath()) "llmcpu-remoting-$([guid]::NewGuid().ToString('n').Substring(0, 8))"
$null = New-Item -ItemType Directory $folder
$sshdProcess = $null
try {
    & ssh-keygen -q -t ed25519 -N '' -f (Join-Path $folder 'host_ed25519')
    & ssh-keygen -q -t ed25519 -N '' -f (Join-Path $folder 'client_ed25519')
    Copy-Item (Join-Path $folder 'client_ed25519.pub') (Join-Path $folder 'authorized_keys')

    # The subsystem is this very pwsh: the .NET tool (dotnet + pwsh.dll) or an installed pwsh.
    $process = [Environment]::ProcessPath
    $server = if ([System.IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') {
        "exec '$process' '$(Join-Path $PSHOME 'pwsh.dll')' -sshs -NoLogo -NoProfile"
    } else {
        "exec '$process' -sshs -NoLogo -NoProfile"
    }
    $subsystem = Join-Path $folder 'pwsh-subsystem.sh'
    Set-Content $subsystem "#!/bin/sh`n$server"
    & chmod 755 $subsystem

    $config = Join-Path $folder 'sshd_config'
    Set-Content $config @"
Port $Port
ListenAddress 127.0.0.1
HostKey $(Join-Path $folder 'host_ed25519')
PidFile $(Join-Path $folder 'sshd.pid')
AuthorizedKeysFile $(Join-Path $folder 'authorized_keys')
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem powershell $subsystem
"@
    if (-not (Test-Path /run/sshd)) { $null = New-Item -ItemType Directory /run/sshd }

    $start = [System.Diagnostics.ProcessStartInfo]::new($Sshd)
    foreach ($argument in '-D', '-e', '-f', $config) { $start.ArgumentList.Add($argument) }
    $start.RedirectStandardError = $true
    $sshdProcess = [System.Diagnostics.Process]::Start($start)
    $sshdLog = $sshdProcess.StandardError.ReadToEndAsync()
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ($true) {
        try { $client = [System.Net.Sockets.TcpClient]::new('127.0.0.1', $Port); $client.Dispose(); break }
        catch {
            if ($sshdProcess.HasExited -or [DateTime]::UtcNow -gt $deadline) { throw "sshd did not start on port ${Port}: $($sshdLog.Result)" }
            Start-Sleep -Milliseconds 100
        }
    }
    "sshd listening on 127.0.0.1:$Port (pid $($sshdProcess.Id)); subsystem: $server"

    $reference = (Get-Content -Raw (Join-Path $root 'fixtures/austen-llama/reference.json') | ConvertFrom-Json).prompts[0]
    $expected = @(foreach ($token in $reference.greedy) { if ($token -eq 2) { break }; $token })[0..15]
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $result = Invoke-Command -HostName localhost -Port $Port -UserName ([Environment]::UserName) -KeyFilePath (Join-Path $folder 'client_ed25519') `
        -Options @{ StrictHostKeyChecking = 'no'; UserKnownHostsFile = '/dev/null'; LogLevel = 'ERROR' } `
        -ArgumentList $ModuleManifest, $reference.text -ScriptBlock {
            param($manifest, $prompt)
            Import-Module $manifest
            Import-Model | Invoke-Generation -Prompt $prompt -Temperature 0 -MaxTokens 16
        }
    "Invoke-Command -HostName localhost returned in $([math]::Round($clock.Elapsed.TotalSeconds, 1)) s:"
    $result | Format-List | Out-String -Width 120
    $result | Format-List PSComputerName, @{ Name = 'PSTypeNames'; Expression = { $_.PSTypeNames -join ', ' } }, @{ Name = 'TokenIds'; Expression = { $_.TokenIds -join ',' } } |
        Out-String -Width 120

    if ($result.PSTypeNames[0] -ne 'Deserialized.LlmCpu.Engine.Runtime.GenerationResult') { throw "The result is a $($result.PSTypeNames[0]), not a deserialized GenerationResult." }
    if ($result.PSComputerName -ne 'localhost') { throw "The result came from '$($result.PSComputerName)', not localhost." }
    if ((@($result.TokenIds) -join ',') -ne ($expected -join ',')) { throw "Remote greedy tokens $(@($result.TokenIds) -join ',') differ from the reference's $($expected -join ',')." }
    if ([string]::IsNullOrWhiteSpace($result.Text)) { throw 'The deserialized result has no text.' }
    'Remoting check passed: a deserialized GenerationResult with the reference greedy tokens and its text.'
}
finally {
    if ($sshdProcess -and -not $sshdProcess.HasExited) { $sshdProcess.Kill(); $sshdProcess.WaitForExit() }
    Remove-Item -Recurse -Force $folder -ErrorAction Ignore
}
