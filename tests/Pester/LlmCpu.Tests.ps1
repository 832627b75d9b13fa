#requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# Pester 5 specs for users' machines with pwsh 7.6: ./build.ps1 -Task Build, Test runs them, or
#   $env:LLMCPU_MODULE_MANIFEST = './src/Module/bin/Release/net10.0/LlmCpu.psd1'; Invoke-Pester ./tests/Pester

BeforeAll {
    $manifest = if ($env:LLMCPU_MODULE_MANIFEST) { $env:LLMCPU_MODULE_MANIFEST } else {
        Join-Path $PSScriptRoot '../../src/Module/bin/Release/net10.0/LlmCpu.psd1'
    }
    Import-Module $manifest -Force
    $script:model = Import-Model
}

Describe 'Module manifest' {
    It 'exports exactly the cmdlets the manifest lists' {
        $listed = (Import-PowerShellDataFile (Join-Path $PSScriptRoot '../../LlmCpu.psd1')).CmdletsToExport
        (Get-Command -Module LlmCpu).Name | Sort-Object | Should -Be ($listed | Sort-Object)
    }

    It 'has help for every cmdlet in docs/' {
        foreach ($name in (Get-Command -Module LlmCpu).Name) {
            Join-Path $PSScriptRoot "../../docs/$name.md" | Should -Exist
        }
    }
}

Describe 'Import-Model' {
    It 'loads the bundled model with no path' {
        $model.Name | Should -Be 'austen-llama'
        $model.Architecture | Should -Be 'llama'
        $model.Parameters | Should -BeGreaterThan 8000000
    }

    It 'reports a missing path as ModelNotFound' {
        { Import-Model -Path (Join-Path $TestDrive 'none') -ErrorAction Stop } |
            Should -Throw -ErrorId 'ModelNotFound,LlmCpu.Module.Commands.ImportModelCommand'
    }

    It 'reports a damaged weights file as ModelFormatInvalid' {
        $copy = Join-Path $TestDrive 'damaged'
        Copy-Item -Recurse $model.Path $copy
        $weights = Join-Path $copy 'model.safetensors'
        $stream = [System.IO.File]::Open($weights, 'Open')
        try { $stream.SetLength(1000) } finally { $stream.Dispose() }
        { Import-Model -Path $copy -ErrorAction Stop } |
            Should -Throw -ErrorId 'ModelFormatInvalid,LlmCpu.Module.Commands.ImportModelCommand'
    }
}

Describe 'Invoke-Generation' {
    It 'takes the model from the pipeline and returns a result object' {
        $result = $model | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -MaxTokens 16 -Seed 1
        $result.GeneratedTokens | Should -Be 16
        $result.Text | Should -Not -BeNullOrEmpty
        $result.TokensPerSecond | Should -BeGreaterThan 0
    }

    It 'is deterministic when greedy' {
        $a = $model | Invoke-Generation -Prompt 'Mr. Darcy' -Temperature 0 -MaxTokens 24
        $b = $model | Invoke-Generation -Prompt 'Mr. Darcy' -Temperature 0 -MaxTokens 24
        $a.Text | Should -BeExactly $b.Text
    }

    It 'binds prompts by property name' {
        $results = @(
            [pscustomobject]@{ Prompt = 'She was not' }
            [pscustomobject]@{ Prompt = 'The evening passed' }
        ) | Invoke-Generation -Model $model -MaxTokens 4 -Seed 2
        $results.Prompt | Should -Be @('She was not', 'The evening passed')
    }

    It 'refuses a prompt longer than the context' {
        { $model | Invoke-Generation -Prompt ('word ' * 2000) -ErrorAction Stop } |
            Should -Throw -ErrorId 'GenerationArgumentInvalid,LlmCpu.Module.Commands.InvokeGenerationCommand'
    }
}
