#requires -Version 7.6
<#
.SYNOPSIS
    Builds, tests, documents and packages the LlmCpu module.
.DESCRIPTION
    Tasks:
      Build     dotnet build of the solution (Release by default); the module is laid out in out/LlmCpu.
      Test      UnitTest, then Pester.
      UnitTest  bash tools/test.sh (the README's test command: build, xunit, a summary with every skip), or
                dotnet build + dotnet test where there is no bash.
      Pester    every spec in tests/Pester against the built module, imported by its manifest (out/LlmCpu/LlmCpu.psd1),
                with Pester restored from NuGet by build/Pester/RestorePester.csproj. Fails on any failed test or file.
      Docs      regenerates the help the module ships (src/Module/en-US: MAML from docs/<cmdlet>.md, about_LlmCpu.help.txt
                from docs/about_LlmCpu.md) and checks that every exported cmdlet has a page.
      Package   lays the module out in artifacts/LlmCpu/<version> and zips it.
    The script uses only the PowerShell engine's core cmdlets and .NET, so it runs both in pwsh
    (dotnet pwsh -File build.ps1, after dotnet tool restore) and in the llmcpu host (llmcpu -File build.ps1).
.EXAMPLE
    dotnet tool restore; dotnet pwsh -File build.ps1 -Task Build, Test
.EXAMPLE
    llmcpu -File build.ps1 -Task Package
#>
[CmdletBinding()]
param(
    # One or more of Build, Test, UnitTest, Pester, Docs, Package; "Build,Test" also works, since pwsh -File passes it as one string.
    [string[]] $Task = @('Build', 'Test'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Where the Docs task writes the help files; the committed ones by default. Tests write elsewhere and compare.
    [string] $HelpPath = [System.IO.Path]::Combine($PSScriptRoot, 'src', 'Module', 'en-US')
)

$ErrorActionPreference = 'Stop'
$root = $PSScriptRoot
$manifestPath = [System.IO.Path]::Combine($root, 'LlmCpu.psd1')
$manifestAst = [System.Management.Automation.Language.Parser]::ParseFile($manifestPath, [ref]$null, [ref]$null)
$manifest = $manifestAst.Find({ $args[0] -is [System.Management.Automation.Language.HashtableAst] }, $false).SafeGetValue()
$version = $manifest.ModuleVersion
# The module as the build lays it out (src/Module/LlmCpu.Module.csproj, target LayOutModule).
$moduleOutput = [System.IO.Path]::Combine($root, 'out', 'LlmCpu')

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
    Invoke-UnitTestTask
    Invoke-PesterTask
}

function Invoke-UnitTestTask {
    $bash = Get-Command bash -CommandType Application -ErrorAction Ignore
    if ($bash -and $Configuration -eq 'Release') {
        Invoke-Native bash @([System.IO.Path]::Combine($root, 'tools', 'test.sh'))
        return
    }
    Invoke-Native dotnet @('build', [System.IO.Path]::Combine($root, 'LlmCpu.sln'), '-c', $Configuration, '-nologo', '-clp:ErrorsOnly')
    Invoke-Native dotnet @('test', [System.IO.Path]::Combine($root, 'tests', 'Unit', 'LlmCpu.Tests.csproj'), '-c', $Configuration, '--no-build', '--nologo')
}

# Restores Pester from NuGet (build/Pester/RestorePester.csproj pins the version) and returns its manifest's path.
function Get-PesterManifest {
    $project = [System.IO.Path]::Combine($root, 'build', 'Pester', 'RestorePester.csproj')
    Invoke-Native dotnet @('restore', $project, '--nologo', '-v', 'quiet')
    $projectXml = [xml][System.IO.File]::ReadAllText($project)
    $pesterVersion = @($projectXml.Project.PropertyGroup.PesterVersion | Where-Object { $_ })[0]
    $assets = [System.IO.Path]::Combine($root, 'build', 'Pester', 'obj', 'project.assets.json')
    $json = [System.Text.Json.JsonDocument]::Parse([System.IO.File]::ReadAllText($assets))
    try {
        foreach ($folder in $json.RootElement.GetProperty('packageFolders').EnumerateObject()) {
            $candidate = [System.IO.Path]::Combine($folder.Name, 'pester', $pesterVersion, 'tools', 'Pester.psd1')
            if ([System.IO.File]::Exists($candidate)) { return $candidate }
        }
    }
    finally {
        $json.Dispose()
    }
    throw "Pester $pesterVersion was restored but its manifest is in none of the NuGet package folders listed in $assets."
}

function Invoke-PesterTask {
    $moduleManifest = [System.IO.Path]::Combine($moduleOutput, 'LlmCpu.psd1')
    if (-not [System.IO.File]::Exists($moduleManifest)) { throw "No built module at $moduleManifest; run the Build task first." }
    Import-Module (Get-PesterManifest) -Force
    # The specs import the module from here, and run the host from here (tests/Pester/Common.ps1).
    $env:LLMCPU_MODULE_MANIFEST = $moduleManifest
    $env:LLMCPU_HOST = [System.IO.Path]::Combine($root, 'src', 'Host', 'bin', $Configuration, 'net10.0', 'llmcpu.dll')
    $configuration = New-PesterConfiguration
    $configuration.Run.Path = [System.IO.Path]::Combine($root, 'tests', 'Pester')
    $configuration.Run.PassThru = $true
    $configuration.Output.Verbosity = 'Detailed'
    $configuration.TestResult.Enabled = $true
    $configuration.TestResult.OutputPath = [System.IO.Path]::Combine($root, 'artifacts', 'pester-results.xml')
    $result = Invoke-Pester -Configuration $configuration
    # Result is 'Failed' for a failed test and also for a spec file that failed outside its tests (a BeforeAll).
    if ($result.Result -ne 'Passed') {
        throw "Pester: $($result.FailedCount) test(s) and $($result.FailedContainersCount) spec file(s) failed."
    }
    "Pester: $($result.PassedCount) passed, $($result.SkippedCount) skipped."
}

function Invoke-DocsTask {
    $docs = [System.IO.Path]::Combine($root, 'docs')
    $missing = foreach ($name in $manifest.CmdletsToExport) {
        $page = [System.IO.Path]::Combine($docs, "$name.md")
        if (-not [System.IO.File]::Exists($page)) { "docs/$name.md" }
    }
    if ($missing) { throw "Missing cmdlet pages: $($missing -join ', ')" }
    "Every exported cmdlet has a page in docs/."
    foreach ($file in & ([System.IO.Path]::Combine($root, 'build', 'Help', 'Build-Help.ps1')) -DocsPath $docs -OutputPath $HelpPath) {
        "Generated $($file.FullName)"
    }
}

function Invoke-PackageTask {
    $target = [System.IO.Path]::Combine($root, 'artifacts', 'LlmCpu', $version)
    if ([System.IO.Directory]::Exists($target)) { [System.IO.Directory]::Delete($target, $true) }
    [System.IO.Directory]::CreateDirectory($target) | Out-Null
    foreach ($file in [System.IO.Directory]::GetFiles($moduleOutput, '*', [System.IO.SearchOption]::AllDirectories)) {
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

$known = 'Build', 'Test', 'UnitTest', 'Pester', 'Docs', 'Package'
$tasks = foreach ($item in $Task) { $item -split ',' | ForEach-Object { $_.Trim() } | Where-Object { $_ } }
foreach ($name in $tasks) {
    if ($known -notcontains $name) { throw "Unknown task '$name'; use one or more of $($known -join ', ')." }
    & "Invoke-$($name)Task"
}
