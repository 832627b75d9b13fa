#requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# Pester 5 specs for users' machines with pwsh 7.6: ./build.ps1 -Task Build, Test runs them, or
#   $env:LLMCPU_MODULE_MANIFEST = './src/Module/bin/Release/net10.0/LlmCpu.psd1'; Invoke-Pester ./tests/Pester

BeforeAll {
    $manifest = if ($env:LLMCPU_MODULE_MANIFEST) { $env:LLMCPU_MODULE_MANIFEST } else {
        Join-Path $PSScriptRoot '../../src/Module/bin/Release/net10.0/LlmCpu.psd1'
    }
    Import-Module $manifest -Force
    $script:model = Import-Model
    # Outputs of the PyTorch reference implementation for the bundled model.
    $script:reference = Get-Content -Raw (Join-Path $PSScriptRoot '../../fixtures/austen-llama/reference.json') | ConvertFrom-Json
    # Greedy token ids of a model, for comparing two models that must compute the same thing.
    function script:Get-GreedyTokens($m, [string]$prompt) {
        ($m | Invoke-Generation -Prompt $prompt -Temperature 0 -MaxTokens 24).TokenIds
    }
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
    It 'takes the model from the pipeline and continues greedily as the reference implementation does' {
        $prompt = $reference.prompts[0]
        $result = $model | Invoke-Generation -Prompt $prompt.text -Temperature 0 -MaxTokens 32
        # The reference's 32 greedy tokens, up to the end-of-sequence token (id 2), which ends the text.
        $expected = foreach ($token in $prompt.greedy) { if ($token -eq 2) { break }; $token }
        $result.TokenIds | Should -Be $expected
        $result.PromptTokens | Should -Be $prompt.ids.Count
        $result.TokensPerSecond | Should -BeGreaterThan 0
    }

    It 'never takes the model as the prompt' {
        { Import-Model | Invoke-Generation -ErrorAction Stop } | Should -Throw -ErrorId 'InputObjectMissingMandatory,LlmCpu.Module.Commands.InvokeGenerationCommand'
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

Describe 'ConvertTo-Int4Model' {
    It 'writes an INT4 file that Import-Model maps' {
        $file = Join-Path $TestDrive 'austen-q4.llmc'
        $result = $model | ConvertTo-Int4Model -Destination $file -GroupSize 32
        $result.Format | Should -Be 'Q4 g32 sym'
        $loaded = Import-Model $file
        $loaded.Precision | Should -Be 'Q4 g32 sym'
        # The file computes what the same quantization computes in memory.
        $inMemory = Import-Model -Precision Int4 -GroupSize 32
        Get-GreedyTokens $loaded 'Mr. Darcy' | Should -Be (Get-GreedyTokens $inMemory 'Mr. Darcy')
    }

    It 'reports an unwritable destination as WriteFailed naming it' {
        $file = Join-Path $TestDrive 'no/such/folder/x.llmc'
        { $model | ConvertTo-Int4Model $file -ErrorAction Stop } |
            Should -Throw -ErrorId 'WriteFailed,LlmCpu.Module.Commands.ConvertToInt4ModelCommand'
    }

    It 'keeps an existing file unless -Force is given' {
        $file = Join-Path $TestDrive 'exists.llmc'
        Set-Content $file 'old'
        { ConvertTo-Int4Model -Path $model.Path -Destination $file -ErrorAction Stop } |
            Should -Throw -ErrorId 'DestinationExists,LlmCpu.Module.Commands.ConvertToInt4ModelCommand'
        Get-Content $file | Should -Be 'old'
    }

    It 'writes nothing with -WhatIf' {
        $file = Join-Path $TestDrive 'whatif.llmc'
        ConvertTo-Int4Model -Path $model.Path -Destination $file -WhatIf
        $file | Should -Not -Exist
    }
}

Describe 'New-SyntheticModel' {
    It 'writes a TinyLlama-shaped model that loads' {
        $file = Join-Path $TestDrive 'tiny.llmc'
        $synthetic = New-SyntheticModel -Shape TinyLlama-1.1B -Destination $file | Import-Model
        $synthetic.Parameters | Should -Be 1100048384
        $synthetic.LayerCount | Should -Be 22
    }
}

Describe 'ConvertTo-Gguf' {
    It 'writes a Q4_0 GGUF that Import-Model reads back' {
        $file = Join-Path $TestDrive 'austen-q4_0.gguf'
        Import-Model -Precision Int4 -GroupSize 32 | ConvertTo-Gguf $file -Type Q4_0 | Should -Exist
        $back = Import-Model $file
        $back.Precision | Should -Be 'Q4 g32 sym'
        # INT4 g32 to Q4_0 is exact: the same tokens as the model it was written from.
        Get-GreedyTokens $back 'She was not' | Should -Be (Get-GreedyTokens (Import-Model -Precision Int4 -GroupSize 32) 'She was not')
    }
}

Describe 'Remove-Model' {
    It 'frees a model; using it afterwards is ModelDisposed' {
        $m = Import-Model
        $m | Remove-Model
        $m.IsDisposed | Should -BeTrue
        { $m | Invoke-Generation -Prompt 'x' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ModelDisposed,LlmCpu.Module.Commands.InvokeGenerationCommand'
    }
}
