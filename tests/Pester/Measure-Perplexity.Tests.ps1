BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    # Held-out text: the opening of Persuasion, which the bundled model never saw (about 1,550 tokens).
    $script:heldOut = Join-Path $repoRoot 'tests/Unit/TestData/persuasion-opening.txt'
    $script:model = Import-Model
}

Describe 'Measure-Perplexity' {
    It 'scores the second half of each window, llama-perplexity''s way' {
        $r = $model | Measure-Perplexity -Path $heldOut -ContextLength 128
        $r.ContextLength | Should -Be 128
        $r.Windows | Should -Be ([math]::Floor($r.TextTokens / 128))
        $r.Tokens | Should -Be ($r.Windows * 63)
        $r.Source | Should -Be $heldOut
        $r.StandardError | Should -BeGreaterThan 0
        $r.StandardError | Should -BeLessThan ($r.Perplexity / 4)
        $r.KLDivergence | Should -BeNullOrEmpty
    }

    It 'measures file items from the pipeline one by one' {
        $lines = Get-Content $heldOut
        Set-Content (Join-Path $TestDrive 'a.txt') -Value $lines[0..7]
        Set-Content (Join-Path $TestDrive 'b.txt') -Value $lines[8..15]
        $results = Get-ChildItem $TestDrive -Filter *.txt | Sort-Object Name | Measure-Perplexity -Model $model -ContextLength 64
        $results.Source | Should -Be @((Join-Path $TestDrive 'a.txt'), (Join-Path $TestDrive 'b.txt'))
    }

    It 'gives the KL-divergence figures against a reference' {
        $r = Import-Model -Precision Int4 -GroupSize 32 | Measure-Perplexity -Path $heldOut -Reference $model -ContextLength 128
        $r.Reference | Should -Be $model.Name
        $r.PerplexityRatio | Should -BeGreaterThan 0.97
        $r.PerplexityRatio | Should -BeLessThan 1.03
        $r.KLDivergence | Should -BeGreaterThan 0
        $r.KLDivergenceP99 | Should -BeGreaterThan $r.KLDivergence
        $r.SameTopTokenRate | Should -BeGreaterThan 0.85
        $r.RmsProbabilityDelta | Should -BeGreaterThan 0
    }

    It 'shows one table row with the perplexity and its standard error, and the same after serialization' {
        $r = $model | Measure-Perplexity -Path $heldOut -ContextLength 128
        $shown = $r | Out-String -Width 120
        $shown | Should -Match ('austen-llama\s+{0}\s+{1:N2} ± {2:N2}' -f $r.Tokens, $r.Perplexity, $r.StandardError)
        $copy = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($r))
        $copy.PSObject.TypeNames[0] | Should -Be 'Deserialized.LlmCpu.Engine.Runtime.PerplexityResult'
        ($copy | Out-String -Width 120) | Should -Be $shown
    }

    It 'names the minimum when the text is shorter than one window' {
        { $model | Measure-Perplexity -Text 'It is a truth universally acknowledged.' -ErrorAction Stop } |
            Should -Throw -ErrorId 'GenerationArgumentInvalid,LlmCpu.Module.Commands.MeasurePerplexityCommand' -ExpectedMessage '*256 tokens*'
    }

    It 'refuses a window longer than the model''s context' {
        { $model | Measure-Perplexity -Path $heldOut -ContextLength 512 -ErrorAction Stop } |
            Should -Throw -ErrorId 'GenerationArgumentInvalid,LlmCpu.Module.Commands.MeasurePerplexityCommand'
    }

    It 'reports a missing text file as TextNotFound' {
        { $model | Measure-Perplexity -Path (Join-Path $TestDrive 'none.txt') -ErrorAction Stop } |
            Should -Throw -ErrorId 'TextNotFound,LlmCpu.Module.Commands.MeasurePerplexityCommand'
    }

    It 'has its Llm-prefixed alias' {
        (Get-Command Measure-LlmPerplexity).ResolvedCommandName | Should -Be 'Measure-Perplexity'
    }
}
