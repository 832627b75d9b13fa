BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:model = Import-Model
}

Describe 'Invoke-Generation' {
    Context 'greedy text' {
        It 'continues "<text>" with the reference implementation''s greedy tokens' -ForEach @(
            @{ index = 0; text = 'It is a truth universally acknowledged' }
            @{ index = 1; text = 'Mr. Darcy' }
            @{ index = 2; text = 'She was not' }
            @{ index = 3; text = 'The evening passed' }
        ) {
            $prompt = $reference.prompts[$index]
            $prompt.text | Should -Be $text
            $result = $model | Invoke-Generation -Prompt $prompt.text -Temperature 0 -MaxTokens 32
            $expected = @(Get-ReferenceGreedy $prompt)
            $result.TokenIds | Should -Be $expected
            $result.PromptTokens | Should -Be $prompt.ids.Count
            $result.GeneratedTokens | Should -Be $expected.Count
            $result.StopReason | Should -Be $(if ($expected.Count -lt 32) { 'EndOfSequence' } else { 'MaxTokens' })
        }

        It 'gives the reference text, not only its tokens' {
            $prompt = $reference.prompts[2]
            ($model | Invoke-Generation -Prompt $prompt.text -Temperature 0 -MaxTokens 32).Text.Trim() |
                Should -BeExactly $prompt.greedy_text.Trim()
        }
    }

    Context 'sampling' {
        It 'gives the same text for the same seed and reports the seed' {
            $a = $model | Invoke-Generation -Prompt 'Mr. Darcy' -MaxTokens 24 -Seed 11
            $b = $model | Invoke-Generation -Prompt 'Mr. Darcy' -MaxTokens 24 -Seed 11
            $a.Seed | Should -Be 11
            $a.TokenIds | Should -Be $b.TokenIds
        }

        It 'draws different text for different seeds at temperature 1' {
            $texts = 1..4 | ForEach-Object { ($model | Invoke-Generation -Prompt 'Mr. Darcy' -MaxTokens 24 -Temperature 1 -Seed $_).Text }
            @($texts | Sort-Object -Unique).Count | Should -BeGreaterThan 1
        }

        It 'is greedy with -TopK 1 whatever the seed' {
            $greedy = Get-GreedyTokens $model 'She was not' 16
            ($model | Invoke-Generation -Prompt 'She was not' -MaxTokens 16 -TopK 1 -Temperature 1 -Seed 5).TokenIds | Should -Be $greedy
        }

        It 'runs only the prompt with -MaxTokens 0' {
            $result = $model | Invoke-Generation -Prompt 'She was not' -MaxTokens 0
            $result.GeneratedTokens | Should -Be 0
            $result.Text | Should -BeExactly ''
        }
    }

    Context 'binding' {
        It 'never takes the model as the prompt' {
            { Import-Model | Invoke-Generation -ErrorAction Stop } |
                Should -Throw -ErrorId 'InputObjectMissingMandatory,LlmCpu.Module.Commands.InvokeGenerationCommand'
        }

        It 'takes prompt strings from the pipeline with -Model' {
            $results = 'She was not', 'Mr. Darcy' | Invoke-Generation -Model $model -Temperature 0 -MaxTokens 8
            $results.Prompt | Should -Be @('She was not', 'Mr. Darcy')
            $results[0].TokenIds | Should -Be (Get-GreedyTokens $model 'She was not' 8)
        }

        It 'binds Prompt and Model by property name' {
            $results = @(
                [pscustomobject]@{ Prompt = 'She was not'; Model = $model }
                [pscustomobject]@{ Prompt = 'The evening passed'; Model = $model }
            ) | Invoke-Generation -MaxTokens 4 -Seed 2
            $results.Prompt | Should -Be @('She was not', 'The evening passed')
            $results.Model | Should -Be @('austen-llama', 'austen-llama')
        }
    }

    Context 'streaming' {
        It 'writes the same text to the information stream as the result holds' {
            $result = $model | Invoke-Generation -Prompt 'The evening passed' -Temperature 0 -MaxTokens 20 -Stream -InformationVariable pieces 6>$null
            ($pieces.MessageData.Message) -join '' | Should -BeExactly $result.Text
        }
    }

    Context 'errors' {
        It 'refuses a prompt longer than the context, naming a short preview' {
            $prompt = 'word ' * 2000
            $model | Invoke-Generation -Prompt $prompt -ErrorVariable failed -ErrorAction SilentlyContinue
            $failed.FullyQualifiedErrorId | Should -Be 'GenerationArgumentInvalid,LlmCpu.Module.Commands.InvokeGenerationCommand'
            $failed.TargetObject.Length | Should -BeLessThan 100
        }

        It 'caps -Threads at the logical processor count with a warning' {
            $result = $model | Invoke-Generation -Prompt 'She' -MaxTokens 2 -Threads 999 -WarningVariable warned -WarningAction SilentlyContinue
            $result.GeneratedTokens | Should -Be 2
            "$warned" | Should -BeLike "*-Threads 999*$([Environment]::ProcessorCount)*"
        }

        It 'refuses a negative temperature' {
            { $model | Invoke-Generation -Prompt 'x' -Temperature -1 } |
                Should -Throw -ErrorId 'ParameterArgumentValidationError,LlmCpu.Module.Commands.InvokeGenerationCommand'
        }
    }
}
