#requires -Version 7.6
<#
.SYNOPSIS
    Builds, tests, documents and packages the LlmCpu module.
.DESCRIPTION
    Tasks:
      Build    dotnet build of the solution (Release by default).
      Test     the unit tests (dotnet test), then the Pester specs in tests/Pester when Pester 5 is installed.
      Docs     checks that every exported cmdlet has a page in docs/ describing every parameter, and builds
               MAML help with PlatyPS when it is installed.
      Package  lays the module out in artifacts/LlmCpu/<version> and zips it.
    The script uses only the PowerShell engine's core cmdlets and .NET, so it runs both in pwsh and in the
    llmcpu host (llmcpu -File build.ps1 -Task Build,Test).
.EXAMPLE
    ./build.ps1 -Task Build, Test
.EXAMPLE
    llmcpu -File build.ps1 -Task Package
#>
[CmdletBinding()]
param(
    # One or more of Build, Test, Docs, Package; "Build,Test" also works, since pwsh -File passes it as one string.
    [string[]] $Task = @('Build', 'Test'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release'
)

$ErrorActionPreference = 'Stop'
$root = $PSScriptRoot
$manifestPath = [System.IO.Path]::Combine($root, 'LlmCpu.psd1')
$manifestAst = [System.Management.Automation.Language.Parser]::ParseFile($manifestPath, [ref]$null, [ref]$null)
$manifest = $manifestAst.Find({ $args[0] -is [System.Management.Automation.Language.HashtableAst] }, $false).SafeGetValue()
$version = $manifest.ModuleVersion
$moduleOutput = [System.IO.Path]::Combine($root, 'src', 'Module', 'bin', $Configuration, 'net10.0')

function Invoke-Native {
    param([string] $File, [string[]] $Arguments)
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE." }
}

function Invoke-BuildTask {
    $PSCmdlet.WriteVerbose("Building LlmCpu $version ($Configuration).")
    Invoke-Native dotnet @('build', [System.IO.Path]::Combine($root, 'LlmCpu.sln'), '-c', $Configuration, '-nologo', '-clp:ErrorsOnly')
    "Built LlmCpu ${version}: $moduleOutput"
}

function Invoke-TestTask {
    Invoke-Native dotnet @('test', [System.IO.Path]::Combine($root, 'tests', 'Unit', 'LlmCpu.Tests.csproj'), '-c', $Configuration, '--no-build', '--nologo')
    $pester = @(Get-Module -ListAvailable -Name Pester | Where-Object { $_.Version.Major -ge 5 })[0]
    if ($null -eq $pester) {
        'Pester 5 is not installed here: the Pester specs in tests/Pester were not run (Install-Module Pester -MinimumVersion 5.0 to run them).'
        return
    }
    Import-Module $pester
    $env:LLMCPU_MODULE_MANIFEST = [System.IO.Path]::Combine($moduleOutput, 'LlmCpu.psd1')
    $result = Invoke-Pester -Path ([System.IO.Path]::Combine($root, 'tests', 'Pester')) -PassThru -Output Detailed
    if ($result.FailedCount -gt 0) { throw "$($result.FailedCount) Pester test(s) failed." }
}

function Invoke-DocsTask {
    $docs = [System.IO.Path]::Combine($root, 'docs')
    $missing = foreach ($name in $manifest.CmdletsToExport) {
        $page = [System.IO.Path]::Combine($docs, "$name.md")
        if (-not [System.IO.File]::Exists($page)) { "docs/$name.md" }
    }
    if ($missing) { throw "Missing cmdlet pages: $($missing -join ', ')" }
    "Every exported cmdlet has a page in docs/."
    $platyPS = @(Get-Module -ListAvailable -Name platyPS, Microsoft.PowerShell.PlatyPS)[0]
    if ($null -eq $platyPS) {
        'PlatyPS is not installed here: MAML help was not generated (the markdown in docs/ is the source).'
        return
    }
    Import-Module $platyPS
    New-ExternalHelp -Path $docs -OutputPath ([System.IO.Path]::Combine($moduleOutput, 'en-US')) -Force | Out-Null
    "Built MAML help into $moduleOutput/en-US."
}

function Invoke-PackageTask {
    $target = [System.IO.Path]::Combine($root, 'artifacts', 'LlmCpu', $version)
    if ([System.IO.Directory]::Exists($target)) { [System.IO.Directory]::Delete($target, $true) }
    [System.IO.Directory]::CreateDirectory($target) | Out-Null
    foreach ($file in [System.IO.Directory]::GetFiles($moduleOutput, '*', [System.IO.SearchOption]::AllDirectories)) {
        if ($file.EndsWith('.pdb') -or $file.EndsWith('.deps.json')) { continue }
        $relative = [System.IO.Path]::GetRelativePath($moduleOutput, $file)
        $destination = [System.IO.Path]::Combine($target, $relative)
        [System.IO.Directory]::CreateDirectory([System.IO.Path]::GetDirectoryName($destination)) | Out-Null
        [System.IO.File]::Copy($file, $destination, $true)
    }
    $zip = [System.IO.Path]::Combine($root, 'artifacts', "LlmCpu-$version.zip")
    if ([System.IO.File]::Exists($zip)) { [System.IO.File]::Delete($zip) }
    [System.Reflection.Assembly]::Load('System.IO.Compression.ZipFile') | Out-Null
    [System.IO.Compression.ZipFile]::CreateFromDirectory([System.IO.Path]::GetDirectoryName($target), $zip)
    "Packaged $target and $zip"
}

$known = 'Build', 'Test', 'Docs', 'Package'
$tasks = foreach ($item in $Task) { $item -split ',' | ForEach-Object { $_.Trim() } | Where-Object { $_ } }
foreach ($name in $tasks) {
    if ($known -notcontains $name) { throw "Unknown task '$name'; use one or more of $($known -join ', ')." }
    & "Invoke-$($name)Task"
}
