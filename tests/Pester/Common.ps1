# Dot-sourced by every spec's BeforeAll. Imports the built module by its manifest (build.ps1 -Task Pester sets
# LLMCPU_MODULE_MANIFEST; by hand: dotnet build src/Module -c Release, then Invoke-Pester ./tests/Pester) and loads
# the reference data the specs compare with.
$script:repoRoot = [System.IO.Path]::GetFullPath((Join-Path $PSScriptRoot '../..'))
$script:moduleManifest = if ($env:LLMCPU_MODULE_MANIFEST) { $env:LLMCPU_MODULE_MANIFEST } else {
    Join-Path $repoRoot 'out/LlmCpu/LlmCpu.psd1'
}
# The llmcpu host built from the same sources (build.ps1 -Task Pester sets LLMCPU_HOST).
$script:hostAssembly = if ($env:LLMCPU_HOST) { $env:LLMCPU_HOST } else { Join-Path $repoRoot 'src/Host/bin/Release/net10.0/llmcpu.dll' }
$loaded = Get-Module LlmCpu
if (-not $loaded -or $loaded.ModuleBase -ne (Split-Path -Parent (Resolve-Path $moduleManifest).Path)) {
    Import-Module $moduleManifest -Force -ErrorAction Stop
}

# Outputs of the PyTorch reference implementation for the bundled model (tools/fixture-model).
$script:reference = Get-Content -Raw (Join-Path $repoRoot 'fixtures/austen-llama/reference.json') | ConvertFrom-Json

# The reference's greedy tokens for a prompt, up to the end-of-sequence token (id 2), which ends a generation.
function script:Get-ReferenceGreedy($prompt) {
    foreach ($token in $prompt.greedy) { if ($token -eq 2) { break }; $token }
}

# Greedy token ids of a model, for comparing two models that must compute the same thing.
function script:Get-GreedyTokens($model, [string] $prompt, [int] $count = 24) {
    ($model | Invoke-Generation -Prompt $prompt -Temperature 0 -MaxTokens $count).TokenIds
}
