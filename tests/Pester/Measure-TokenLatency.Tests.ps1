BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
}

Describe 'Measure-TokenLatency' {
    It 'names its tests as llama-bench does and reports consistent figures' {
        $results = Import-Model | Measure-TokenLatency -PromptTokens 32 -GenerateTokens 8 -Repetitions 2 -WarmUp 0
        $results.Test | Should -Be @('pp32', 'tg8')
        foreach ($r in $results) {
            $r.TokensPerSecond | Should -BeGreaterThan 0
            $r.P50Milliseconds | Should -BeLessOrEqual $r.P99Milliseconds
            $r.Repetitions | Should -Be 2
        }
        $results[1].FractionOfBandwidth | Should -BeGreaterThan 0
    }

    It 'sets a decode repetition against the read bandwidth measured beside it' {
        # One repetition: the median of the repetitions' ratios is that repetition's ratio of the two bandwidths (each
        # shown rounded to 0.01 GB/s).
        $tg = Import-Model | Measure-TokenLatency -PromptTokens 0 -GenerateTokens 8 -Repetitions 1 -WarmUp 0
        $tg.Test | Should -Be 'tg8'
        [math]::Abs($tg.FractionOfBandwidth - $tg.BandwidthGBps / $tg.ReadBandwidthGBps) | Should -BeLessThan 0.01
    }

    It 'gives one summary object with -Summary, and measures a path' {
        $summary = Measure-TokenLatency -Path (Import-Model).Path -PromptTokens 16 -GenerateTokens 4 -Repetitions 1 -Summary
        @($summary).Count | Should -Be 1
        $summary.PromptTokensPerSecond | Should -Be $summary.Tests[0].TokensPerSecond
        $summary.GenerateTokensPerSecond | Should -Be $summary.Tests[1].TokensPerSecond
    }

    It 'refuses a prompt longer than the context' {
        { Import-Model | Measure-TokenLatency -PromptTokens 5000 -ErrorAction Stop } |
            Should -Throw -ErrorId 'GenerationArgumentInvalid,LlmCpu.Module.Commands.MeasureTokenLatencyCommand'
    }

    It 'is a removed model''s error, not a reload from its path' {
        $m = Import-Model
        $m | Remove-Model
        { $m | Measure-TokenLatency -PromptTokens 8 -GenerateTokens 2 -Repetitions 1 -ErrorAction Stop } |
            Should -Throw -ErrorId 'ModelDisposed,LlmCpu.Module.Commands.MeasureTokenLatencyCommand'
    }

    It 'has its Llm-prefixed alias' {
        (Get-Command Measure-LlmTokenLatency).ResolvedCommandName | Should -Be 'Measure-TokenLatency'
    }
}
