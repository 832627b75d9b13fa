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
        It 'writes pieces to the pipeline that make up the text, and the result only with -PassThru' {
            $alone = @($model | Invoke-Generation -Prompt 'The evening passed' -Temperature 0 -MaxTokens 20 -Stream)
            $all = @($model | Invoke-Generation -Prompt 'The evening passed' -Temperature 0 -MaxTokens 20 -Stream -PassThru)
            $result = $all[-1]
            $result | Should -BeOfType ([LlmCpu.Engine.Runtime.GenerationResult])
            $alone | Should -BeOfType ([LlmCpu.Engine.Runtime.GenerationPiece])
            $alone.Count | Should -Be ($all.Count - 1)
            ($alone.Text -join '') | Should -BeExactly $result.Text
            ($alone -join '') | Should -BeExactly $result.Text
        }

        It 'shows the text on the host with -ShowText and returns the result' {
            $result = $model | Invoke-Generation -Prompt 'The evening passed' -Temperature 0 -MaxTokens 20 -ShowText -InformationVariable shown 6>$null
            ($shown.MessageData.Message) -join '' | Should -BeExactly $result.Text
        }

        It 'never writes any part of a stop string' {
            $free = $model | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -Temperature 0 -MaxTokens 40
            $stop = $free.Text.Substring(20, 5)
            $pieces = @($model | Invoke-Generation -Prompt 'It is a truth universally acknowledged' -Temperature 0 -MaxTokens 40 -Stop $stop -Stream)
            $streamed = $pieces.Text -join ''
            $streamed | Should -BeExactly $free.Text.Substring(0, $free.Text.IndexOf($stop))
        }
    }

    Context 'sampling and stopping' {
        It 'gives the same text for the same seed with every stage on, on one thread and on all' {
            $options = @{
                Prompt = 'She was not'; MaxTokens = 48; Seed = 77; Temperature = 0.9; TopK = 60; TopP = 0.9; MinP = 0.02
                TypicalP = 0.95; RepeatPenalty = 1.1; RepeatLastN = 32; PresencePenalty = 0.1; FrequencyPenalty = 0.1
            }
            $a = $model | Invoke-Generation @options -Threads 1
            $b = $model | Invoke-Generation @options
            $b.TokenIds | Should -Be $a.TokenIds
            (($model | Invoke-Generation @options -Seed 78).TokenIds -join ',') | Should -Not -Be ($a.TokenIds -join ',')
        }

        It 'ends the text before a stop string' {
            $free = $model | Invoke-Generation -Prompt 'Mr. Darcy' -Temperature 0 -MaxTokens 40
            $stop = $free.Text.Substring(15, 3)
            $stopped = $model | Invoke-Generation -Prompt 'Mr. Darcy' -Temperature 0 -MaxTokens 40 -Stop $stop
            $stopped.StopReason | Should -Be 'StopSequence'
            $stopped.StopSequence | Should -BeExactly $stop
            $stopped.Text | Should -BeExactly $free.Text.Substring(0, $free.Text.IndexOf($stop))
        }

        It 'answers in JSON that ConvertFrom-Json reads, for every seed whose value closed' {
            $results = 1..8 | ForEach-Object { $model | Invoke-Generation -Prompt 'She said' -Format Json -MaxTokens 250 -Seed $_ }
            $closed = @($results | Where-Object StopReason -EQ 'EndOfSequence')
            $closed.Count | Should -BeGreaterThan 1
            foreach ($result in $closed) { { $result.Text | ConvertFrom-Json -ErrorAction Stop } | Should -Not -Throw }
            $results | Where-Object StopReason -NE 'EndOfSequence' | ForEach-Object { $_.StopReason | Should -BeIn 'MaxTokens', 'ContextFull' }
        }

        It 'never samples a token banned by id or by text' {
            $free = $model | Invoke-Generation -Prompt 'She was not' -Temperature 0 -MaxTokens 30
            $first = $free.TokenIds[0]
            $byId = $model | Invoke-Generation -Prompt 'She was not' -Temperature 0 -MaxTokens 30 -LogitBias @{ $first = [double]::NegativeInfinity }
            $text = $model.Tokenizer.TokenTable.Text($first)
            $byText = $model | Invoke-Generation -Prompt 'She was not' -Temperature 0 -MaxTokens 30 -LogitBias @{ $text = '-Infinity' }
            $byId.TokenIds | Should -Not -Contain $first
            $byText.TokenIds | Should -Not -Contain $first
        }

        It 'reports token probabilities and the top alternatives, and keeps them through serialization' {
            $result = $model | Invoke-Generation -Prompt 'Mr. Darcy' -Temperature 0 -MaxTokens 8 -TopProbabilities 4
            $result.Tokens.Id | Should -Be $result.TokenIds
            foreach ($token in $result.Tokens) {
                $token.TopTokens.Count | Should -Be 4
                $token.TopTokens[0].Id | Should -Be $token.Id
                $token.Probability | Should -BeGreaterThan 0
            }
            $copy = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($result))
            $copy.Tokens[2].TopTokens[1].Probability | Should -Be $result.Tokens[2].TopTokens[1].Probability
            $copy.Tokens[2].Text | Should -BeExactly $result.Tokens[2].Text
        }

        It 'refuses <Parameter> <Value>' -ForEach @(
            @{ Parameter = 'MinP'; Value = 1.5 }
            @{ Parameter = 'TypicalP'; Value = -0.5 }
            @{ Parameter = 'RepeatPenalty'; Value = 0 }
            @{ Parameter = 'RepeatLastN'; Value = -2 }
            @{ Parameter = 'TopProbabilities'; Value = 1000 }
        ) {
            $arguments = @{ Prompt = 'x'; $Parameter = $Value }
            { $model | Invoke-Generation @arguments } |
                Should -Throw -ErrorId 'ParameterArgumentValidationError,LlmCpu.Module.Commands.InvokeGenerationCommand'
        }

        It 'refuses a logit bias key that is neither a token id nor a text' {
            $model | Invoke-Generation -Prompt 'x' -MaxTokens 1 -LogitBias @{ 2.5 = 1 } -ErrorVariable failed -ErrorAction SilentlyContinue
            $failed.FullyQualifiedErrorId | Should -Be 'GenerationArgumentInvalid,LlmCpu.Module.Commands.InvokeGenerationCommand'
        }
    }

    Context 'context shift and the prompt cache' {
        BeforeAll {
            $script:short = Import-Model -ContextLength 128
            $script:noEos = @{ 2 = [double]::NegativeInfinity }
        }

        AfterAll { $short | Remove-Model }

        It 'goes on past a full context with -ContextShift, keeping -KeepTokens tokens at the start' {
            $full = $short | Invoke-Generation -Prompt 'She was not' -MaxTokens 150 -Temperature 0 -LogitBias $noEos
            $full.StopReason | Should -Be 'ContextFull'
            # The last token sampled is never run, so it takes no position.
            $full.TotalTokens - 1 | Should -Be $short.ContextLength
            $keepOne = $short | Invoke-Generation -Prompt 'She was not' -MaxTokens 150 -Temperature 0 -LogitBias $noEos -ContextShift -KeepTokens 1
            $keepMore = $short | Invoke-Generation -Prompt 'She was not' -MaxTokens 150 -Temperature 0 -LogitBias $noEos -ContextShift -KeepTokens 40
            foreach ($shifted in $keepOne, $keepMore) {
                $shifted.StopReason | Should -Be 'MaxTokens'
                $shifted.GeneratedTokens | Should -Be 150
                $shifted.ContextShifts | Should -BeGreaterThan 0
                # Until the context filled, the same tokens as without the shift.
                @($shifted.TokenIds)[0..($full.GeneratedTokens - 1)] | Should -Be @($full.TokenIds)
            }
            # After the shift the kept tokens differ, and so does what follows.
            (@($keepOne.TokenIds)[$full.GeneratedTokens..149] -join ',') | Should -Not -Be (@($keepMore.TokenIds)[$full.GeneratedTokens..149] -join ',')
        }

        It 'warns that -KeepTokens means nothing without -ContextShift' {
            $null = $short | Invoke-Generation -Prompt 'She was not' -MaxTokens 1 -KeepTokens 4 -WarningVariable warned -WarningAction SilentlyContinue
            "$warned" | Should -BeLike '*-KeepTokens*ignored*'
        }

        It 'runs the whole prompt with -NoPromptCache, keeps none of it, and gives the same tokens' {
            $m = Import-Model
            try {
                $prompt = ('It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. ' * 4) + 'Mr. Darcy'
                $uncached = $m | Invoke-Generation -Prompt $prompt -MaxTokens 8 -Temperature 0 -NoPromptCache
                $m.PromptCache.IdleCount | Should -Be 0
                $first = $m | Invoke-Generation -Prompt $prompt -MaxTokens 8 -Temperature 0
                $m.PromptCache.IdleCount | Should -Be 1
                $cached = $m | Invoke-Generation -Prompt $prompt -MaxTokens 8 -Temperature 0
                $again = $m | Invoke-Generation -Prompt $prompt -MaxTokens 8 -Temperature 0 -NoPromptCache
                $uncached.CachedTokens, $first.CachedTokens, $again.CachedTokens | Should -Be @(0, 0, 0)
                $cached.CachedTokens | Should -BeGreaterThan 0
                $again.PromptTokens | Should -Be $uncached.PromptTokens
                foreach ($result in $first, $cached, $again) { $result.TokenIds | Should -Be $uncached.TokenIds }
            }
            finally { $m | Remove-Model }
        }
    }

    Context 'several prompts at once' {
        BeforeAll {
            $script:prompts = 'She was not', 'Mr. Darcy', 'The evening passed', 'It is a truth', 'Elizabeth'
        }

        It 'gives each prompt of a batch the tokens it gets alone, in input order, with -BatchSize <BatchSize>' -ForEach @(
            @{ BatchSize = 2 }
            @{ BatchSize = 8 }
        ) {
            $alone = $prompts | Invoke-Generation -Model $model -MaxTokens 12 -Seed 7 -Temperature 0.9 -BatchSize 1
            $batch = $prompts | Invoke-Generation -Model $model -MaxTokens 12 -Seed 7 -Temperature 0.9 -BatchSize $BatchSize
            $batch.Prompt | Should -Be $prompts
            for ($i = 0; $i -lt $prompts.Count; $i++) { $batch[$i].TokenIds | Should -Be $alone[$i].TokenIds -Because $prompts[$i] }
        }

        It 'writes each result as its prompt finishes with -Unordered' {
            # A stop string that only the second prompt's text holds, early on, ends that prompt first.
            $first = $model | Invoke-Generation -Prompt 'She was not' -MaxTokens 30 -Temperature 0
            $second = $model | Invoke-Generation -Prompt 'Mr. Darcy' -MaxTokens 30 -Temperature 0
            $stop = 0..15 | ForEach-Object { $second.Text.Substring($_, 5) } | Where-Object { -not $first.Text.Contains($_) } | Select-Object -First 1
            $stop | Should -Not -BeNullOrEmpty
            $inOrder = 'She was not', 'Mr. Darcy' | Invoke-Generation -Model $model -MaxTokens 30 -Temperature 0 -Stop $stop
            $unordered = 'She was not', 'Mr. Darcy' | Invoke-Generation -Model $model -MaxTokens 30 -Temperature 0 -Stop $stop -Unordered
            $inOrder.Prompt | Should -Be @('She was not', 'Mr. Darcy')
            $unordered.Prompt | Should -Be @('Mr. Darcy', 'She was not')
            $unordered[0].StopReason | Should -Be 'StopSequence'
            $unordered[1].TokenIds | Should -Be $first.TokenIds
        }

        It 'puts an error in its prompt''s place, or first with -Unordered, and runs the others' {
            $sequence = {
                param($unordered)
                # -ErrorAction Continue: the errors are to come out in their places, whatever preference the run inherits.
                'She was not', ('word ' * 2000), 'Mr. Darcy' | Invoke-Generation -Model $model -MaxTokens 4 -Temperature 0 -Unordered:$unordered -ErrorAction Continue 2>&1 |
                    ForEach-Object { if ($_ -is [System.Management.Automation.ErrorRecord]) { $_.FullyQualifiedErrorId } else { $_.Prompt } }
            }
            $failure = 'GenerationArgumentInvalid,LlmCpu.Module.Commands.InvokeGenerationCommand'
            & $sequence $false | Should -Be @('She was not', $failure, 'Mr. Darcy')
            $unordered = @(& $sequence $true)
            $unordered[0] | Should -Be $failure
            $unordered[1..2] | Sort-Object | Should -Be @('Mr. Darcy', 'She was not')
        }

        It 'marks each streamed piece with the index of its prompt' {
            $all = $prompts | Invoke-Generation -Model $model -MaxTokens 10 -Seed 3 -Stream -PassThru
            $pieces = @($all | Where-Object { $_ -is [LlmCpu.Engine.Runtime.GenerationPiece] })
            $results = @($all | Where-Object { $_ -is [LlmCpu.Engine.Runtime.GenerationResult] })
            $results.Prompt | Should -Be $prompts
            $pieces.PromptIndex | Sort-Object -Unique | Should -Be @(0..4)
            for ($i = 0; $i -lt $results.Count; $i++) {
                (@($pieces | Where-Object PromptIndex -EQ $i).Text -join '') | Should -BeExactly $results[$i].Text
            }
        }

        It 'refuses -BatchSize <Value>' -ForEach @(
            @{ Value = 0 }
            @{ Value = 65 }
        ) {
            { 'a', 'b' | Invoke-Generation -Model $model -MaxTokens 1 -BatchSize $Value } |
                Should -Throw -ErrorId 'ParameterArgumentValidationError,LlmCpu.Module.Commands.InvokeGenerationCommand'
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

    Context 'the result object' {
        BeforeAll {
            $script:long = $model | Invoke-Generation -Prompt $reference.prompts[3].text -Temperature 0 -MaxTokens 64
            # The width the list view wraps Text to: the console's, or 120 where there is none.
            $script:width = try { $Host.UI.RawUI.BufferSize.Width } catch { 0 }
            if ($width -lt 40) { $width = 120 }
        }

        It 'wraps Text in the list view at word boundaries, never mid-word' {
            $long.Text.Length | Should -BeGreaterThan $width
            $lines = (($long | Format-List | Out-String -Width $width) -split "`r?`n")
            $first = [array]::FindIndex($lines, [Predicate[string]] { $args[0] -match '^Text\s+: ' })
            $last = [array]::FindIndex($lines, [Predicate[string]] { $args[0] -match '^Tokens\s+: ' }) - 1
            $shown = $lines[$first..$last] | ForEach-Object { $_.Substring(13).Trim() }
            $shown | ForEach-Object { $_.Length + 13 | Should -BeLessOrEqual $width }
            # Joined with spaces, the lines give back the text's words: no word was split across two lines.
            $shown -join ' ' | Should -BeExactly (($long.Text -split '\s+' | Where-Object { $_ }) -join ' ')
        }

        It 'has a table view with prompt and text previews that fits 80 columns' {
            $lines = ($long, $long | Format-Table | Out-String -Width 80).Split("`n") | Where-Object { $_.Trim() }
            $lines[0] | Should -Match '^Prompt\s+Text\s+Tokens\s+t/s\s+StopReason\s*$'
            $lines | ForEach-Object { $_.TrimEnd().Length | Should -BeLessOrEqual 79 }
            $lines[2] | Should -BeLike "The evening passed*$($long.Text.Trim().Substring(0, 20))*…*64*MaxTokens*"
        }

        It 'has the total token count' {
            $long.TotalTokens | Should -Be ($long.PromptTokens + $long.GeneratedTokens)
        }

        It 'survives serialization with its text and tokens, and looks the same afterwards' -ForEach @(
            @{ Via = 'PSSerializer' }
            @{ Via = 'Export-Clixml' }
        ) {
            $copy = if ($Via -eq 'PSSerializer') {
                [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($long))
            }
            else {
                $long | Export-Clixml (Join-Path $TestDrive 'result.xml'); Import-Clixml (Join-Path $TestDrive 'result.xml')
            }
            $copy.PSTypeNames[0] | Should -Be 'Deserialized.LlmCpu.Engine.Runtime.GenerationResult'
            foreach ($name in 'Prompt', 'Text', 'PromptTokens', 'GeneratedTokens', 'TotalTokens', 'Seed', 'Model', 'PromptTime', 'GenerationTime', 'TokensPerSecond') {
                $copy.$name | Should -Be $long.$name -Because $name
            }
            "$($copy.StopReason)" | Should -Be "$($long.StopReason)"
            @($copy.TokenIds) | Should -Be @($long.TokenIds)
            $copy | Format-List | Out-String -Width 120 | Should -Be ($long | Format-List | Out-String -Width 120)
        }
    }

    Context 'one model, many runspaces' {
        It 'gives every ForEach-Object -Parallel runspace the reference tokens from one shared model' {
            $prompt = $reference.prompts[0]
            $text = $prompt.text
            $expected = @(Get-ReferenceGreedy $prompt)[0..15] -join ','
            $results = 1..4 | ForEach-Object -ThrottleLimit 4 -Parallel {
                # pwsh finds the module by path here (it is not installed); the assembly, and so the model's type, is the one already loaded.
                Import-Module $using:moduleManifest
                ($using:model | Invoke-Generation -Prompt $using:text -Temperature 0 -MaxTokens 16).TokenIds -join ','
            }
            $results | Should -Be @($expected, $expected, $expected, $expected)
            $model.IsDisposed | Should -BeFalse
        }
    }
}

Describe 'Invoke-Generation prompt prefix cache' {
    It 'reuses the blocks a repeated start shares, generates the same tokens, and reports the hit rate' {
        $m = Import-Model
        try {
            $instructions = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. ' * 4
            $first = $m | Invoke-Generation -Prompt ($instructions + 'Mr. Darcy') -MaxTokens 8 -Temperature 0
            $verbose = $m | Invoke-Generation -Prompt ($instructions + 'Mr. Darcy') -MaxTokens 8 -Temperature 0 -Verbose 4>&1
            $second = $verbose | Where-Object { $_ -is [LlmCpu.Engine.Runtime.GenerationResult] }
            $first.CachedTokens | Should -Be 0
            $second.CachedTokens | Should -BeGreaterThan 0
            $second.CachedTokens + $second.PromptTokens | Should -Be $first.PromptTokens
            $second.TokenIds | Should -Be $first.TokenIds
            $messages = @(($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message)
            @($messages -like "Prompt prefix cache: $($second.CachedTokens) of $($first.PromptTokens) prompt tokens reused*so far 1 of 2 prompts hit (50*").Count | Should -Be 1
            $m.PromptCache.Statistics.Hits | Should -Be 1
        }
        finally { $m | Remove-Model }
        $m.PromptCache.IdleCount | Should -Be 0
    }
}
