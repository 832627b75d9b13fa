BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
}

Describe 'Remove-Model' {
    It 'frees a model; using it afterwards is ModelDisposed' {
        $m = Import-Model
        $m | Remove-Model
        $m.IsDisposed | Should -BeTrue
        { $m | Invoke-Generation -Prompt 'x' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ModelDisposed,LlmCpu.Module.Commands.InvokeGenerationCommand'
        { $m | ConvertTo-Gguf (Join-Path $TestDrive 'x.gguf') -ErrorAction Stop } |
            Should -Throw -ErrorId 'ModelDisposed,LlmCpu.Module.Commands.ConvertToGgufCommand'
    }

    It 'does nothing the second time' {
        $m = Import-Model
        Remove-Model $m
        { Remove-Model $m -ErrorAction Stop } | Should -Not -Throw
        $m.IsDisposed | Should -BeTrue
    }

    It 'removes every model given and leaves others alone' {
        $a, $b, $keep = (Import-Model), (Import-Model), (Import-Model)
        $a, $b | Remove-Model
        $a.IsDisposed, $b.IsDisposed, $keep.IsDisposed | Should -Be @($true, $true, $false)
        (Get-GreedyTokens $keep 'She was not' 8) | Should -Be (Get-ReferenceGreedy $reference.prompts[2])[0..7]
    }

    It 'keeps the model with -WhatIf' {
        $m = Import-Model
        $m | Remove-Model -WhatIf
        $m.IsDisposed | Should -BeFalse
    }

    It 'refuses a null model' {
        { Remove-Model -Model $null } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,LlmCpu.Module.Commands.RemoveModelCommand'
    }
}
