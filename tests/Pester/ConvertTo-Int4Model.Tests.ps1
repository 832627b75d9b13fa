BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:model = Import-Model
}

Describe 'ConvertTo-Int4Model' {
    It 'writes an INT4 file that computes what the same quantization computes in memory' {
        $file = Join-Path $TestDrive 'austen-q4.llmc'
        # The output projection kept FP16, as the in-memory INT4 model keeps it, so both compute the same.
        $result = $model | ConvertTo-Int4Model $file -GroupSize 32 -OutputProjection Float16
        $result.Format | Should -Be 'Q4 g32 sym'
        $result.Destination | Should -Be $file
        $result.FileSizeBytes | Should -Be (Get-Item $file).Length
        $loaded = Import-Model $file
        $loaded.Precision | Should -Be 'Q4 g32 sym'
        $loaded.MappedBytes | Should -BeGreaterThan 0
        $inMemory = Import-Model -Precision Int4 -GroupSize 32
        Get-GreedyTokens $loaded 'Mr. Darcy' | Should -Be (Get-GreedyTokens $inMemory 'Mr. Darcy')
    }

    It 'converts a folder given as a file-system item (the Path set, by property name)' {
        $file = Join-Path $TestDrive 'from-item.llmc'
        $result = Get-Item $model.Path | ConvertTo-Int4Model $file -GroupSize 64 -Asymmetric
        $result.Source | Should -Be $model.Path
        (Import-Model $file).Precision | Should -Be 'Q4 g64 asym'
    }

    It 'embeds the accuracy it measured on -EvaluationText in the file' {
        $file = Join-Path $TestDrive 'evaluated.llmc'
        $text = ($reference.prompts | ForEach-Object { $_.text + ' ' + $_.greedy_text }) -join ' '
        $result = $model | ConvertTo-Int4Model $file -GroupSize 32 -EvaluationText $text
        # Shorter than the context: one window as long as the text, its second half scored (Measure-Perplexity's way).
        $result.Accuracy.Windows | Should -Be 1
        $result.Accuracy.Tokens | Should -Be ($result.Accuracy.ContextLength - 1 - [math]::Floor($result.Accuracy.ContextLength / 2))
        $result.Accuracy.Tokens | Should -BeGreaterThan 50
        # Mostly the float model's own greedy text, so it finds it likely (held-out Austen scores about 100; 10.0 measured).
        $result.Accuracy.FloatPerplexity | Should -BeLessThan 20
        # g32 INT4 on this model, 74 positions: perplexity -0.7% measured, KL 0.008 nats, 88% same top token.
        [math]::Abs($result.Accuracy.PerplexityIncrease) | Should -BeLessThan 0.05
        $result.Accuracy.MeanKlDivergence | Should -BeLessThan 0.05
        $result.Accuracy.TopTokenAgreement | Should -BeGreaterThan 0.8
        $result.Accuracy.KlDivergenceP99 | Should -BeGreaterThan $result.Accuracy.MeanKlDivergence
        (Import-Model $file).Quantization.Accuracy.QuantizedPerplexity | Should -Be $result.Accuracy.QuantizedPerplexity
    }

    It 'warns when it quantizes INT4 weights again' {
        $g32 = Join-Path $TestDrive 'g32.llmc'
        $null = $model | ConvertTo-Int4Model $g32 -GroupSize 32
        $null = Import-Model $g32 | ConvertTo-Int4Model (Join-Path $TestDrive 'g128.llmc') -GroupSize 128 -WarningVariable warned -WarningAction SilentlyContinue
        $warned | Should -Not -BeNullOrEmpty
    }

    It 'reports an unwritable destination as WriteFailed naming it' {
        $file = Join-Path $TestDrive 'no/such/folder/x.llmc'
        $model | ConvertTo-Int4Model $file -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.FullyQualifiedErrorId | Should -Be 'WriteFailed,LlmCpu.Module.Commands.ConvertToInt4ModelCommand'
        $failed.TargetObject | Should -Be $file
    }

    It 'keeps an existing file unless -Force is given' {
        $file = Join-Path $TestDrive 'exists.llmc'
        Set-Content $file 'old'
        { ConvertTo-Int4Model -Path $model.Path -Destination $file -ErrorAction Stop } |
            Should -Throw -ErrorId 'DestinationExists,LlmCpu.Module.Commands.ConvertToInt4ModelCommand'
        Get-Content $file | Should -Be 'old'
        $null = ConvertTo-Int4Model -Path $model.Path -Destination $file -Force
        (Import-Model $file).Precision | Should -Be 'Q4 g128 sym'
    }

    It 'writes nothing with -WhatIf' {
        $file = Join-Path $TestDrive 'whatif.llmc'
        ConvertTo-Int4Model -Path $model.Path -Destination $file -WhatIf
        $file | Should -Not -Exist
    }

    It 'reports a missing source as ModelNotFound' {
        { ConvertTo-Int4Model -Path (Join-Path $TestDrive 'none') -Destination (Join-Path $TestDrive 'y.llmc') -ErrorAction Stop } |
            Should -Throw -ErrorId 'ModelNotFound,LlmCpu.Module.Commands.ConvertToInt4ModelCommand'
    }

    Context 'the conversion report' {
        BeforeAll {
            $text = ($reference.prompts | ForEach-Object { $_.text + ' ' + $_.greedy_text }) -join ' '
            $script:report = $model | ConvertTo-Int4Model (Join-Path $TestDrive 'report.llmc') -GroupSize 32 -EvaluationText $text
        }

        It 'shows where the file went, its size against the source, and the accuracy measured' {
            $shown = $report | Format-List | Out-String -Width 200
            $shown | Should -Match "Destination\s+: $([regex]::Escape($report.Destination))"
            $shown | Should -Match "Size\s+: $($report.FileSizeMiB) MiB, \d+ ?% of the source's $($report.SourceFileSizeMiB) MiB"
            $shown | Should -Match ('Accuracy\s+: perplexity {0:N2} -> {1:N2}' -f $report.Accuracy.FloatPerplexity, $report.Accuracy.QuantizedPerplexity)
            $report.FileSizeMiB | Should -Be ([math]::Round($report.FileSizeBytes / 1MB, 1))
        }

        It 'survives serialization with its accuracy as numbers, and looks the same afterwards' -ForEach @(
            @{ Via = 'PSSerializer' }
            @{ Via = 'Export-Clixml' }
        ) {
            $copy = if ($Via -eq 'PSSerializer') {
                [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($report))
            }
            else {
                $report | Export-Clixml (Join-Path $TestDrive 'report.xml'); Import-Clixml (Join-Path $TestDrive 'report.xml')
            }
            $copy.PSTypeNames[0] | Should -Be 'Deserialized.LlmCpu.Engine.Models.Int4ConversionResult'
            foreach ($name in 'Source', 'Destination', 'Format', 'FileSizeBytes', 'SourceFileSizeBytes', 'FileSizeMiB', 'Duration') {
                $copy.$name | Should -Be $report.$name -Because $name
            }
            foreach ($name in 'Tokens', 'FloatPerplexity', 'QuantizedPerplexity', 'MeanKlDivergence', 'TopTokenAgreement') {
                $copy.Accuracy.$name | Should -Be $report.Accuracy.$name -Because "Accuracy.$name"
            }
            $copy | Format-List | Out-String -Width 200 | Should -Be ($report | Format-List | Out-String -Width 200)
        }

        It 'is embedded in the file, where a loaded model shows it' {
            $loaded = Import-Model $report.Destination
            $shown = $loaded.Quantization | Format-List | Out-String -Width 200
            $shown | Should -Match 'Format\s+: Q4 g32 sym'
            $shown | Should -Match ('Accuracy\s+: perplexity {0:N2} -> {1:N2}' -f $report.Accuracy.FloatPerplexity, $report.Accuracy.QuantizedPerplexity)
        }
    }
    Context 'calibrated recipes' {
        BeforeAll {
            # Calibration: part of the built-in sample's book (Pride and Prejudice); evaluation: the reference prompts' text.
            $script:calibration = Join-Path $TestDrive 'calibration.txt'
            $script:text = ($reference.prompts | ForEach-Object { $_.text + ' ' + $_.greedy_text }) -join ' '
            $sample = [LlmCpu.Engine.Quantization.CalibrationText]::BuiltIn.Text
            Set-Content -LiteralPath $calibration -Value $sample.Substring(0, 6000)
        }

        It 'runs <Recipe> on -CalibrationPath and records it in the result and the file' -ForEach @(
            @{ Recipe = 'Gptq'; Name = 'GPTQ' }
            @{ Recipe = 'Awq'; Name = 'AWQ' }
        ) {
            $file = Join-Path $TestDrive "$Recipe.llmc"
            $result = $model | ConvertTo-Int4Model $file -GroupSize 128 -Recipe $Recipe -CalibrationPath $calibration -EvaluationText $text
            $result.Recipe | Should -Be $Recipe
            $result.CalibrationText | Should -Be 'calibration.txt'
            $result.BitsPerWeight | Should -Be 4.125
            [math]::Abs($result.Accuracy.PerplexityIncrease) | Should -BeLessThan 0.05
            $loaded = Import-Model $file
            $loaded.Quantization.Recipe | Should -Be $Name
            $loaded.Quantization.CalibrationText | Should -Be 'calibration.txt'
            ($loaded.Quantization | Format-List | Out-String -Width 200) | Should -Match 'Calibration\s+: calibration.txt'
        }

        It 'uses the built-in sample when no -CalibrationPath is given' {
            # 1,024 of its tokens keep the test quick; the default count is checked by the unit tests.
            $result = $model | ConvertTo-Int4Model (Join-Path $TestDrive 'builtin.llmc') -GroupSize 128 -Recipe Gptq -CalibrationTokens 1024
            $result.CalibrationText | Should -BeLike 'built-in sample*'
            $result.CalibrationTokens | Should -Be 1024
        }

        It 'refuses calibration text shorter than the minimum, naming the file and the minimum' {
            $short = Join-Path $TestDrive 'short.txt'
            Set-Content -LiteralPath $short -Value 'It is a truth universally acknowledged.'
            $model | ConvertTo-Int4Model (Join-Path $TestDrive 'short.llmc') -Recipe Awq -CalibrationPath $short -ErrorVariable failed -ErrorAction SilentlyContinue
            $failed.FullyQualifiedErrorId | Should -Be 'CalibrationTextTooShort,LlmCpu.Module.Commands.ConvertToInt4ModelCommand'
            $failed.CategoryInfo.Category | Should -Be 'InvalidArgument'
            $failed.TargetObject | Should -Be $short
            $failed.Exception.Message | Should -Match 'at least 512 tokens'
            Join-Path $TestDrive 'short.llmc' | Should -Not -Exist
        }

        It 'refuses an unknown recipe at parameter binding' {
            { $model | ConvertTo-Int4Model (Join-Path $TestDrive 'x.llmc') -Recipe Gptx -ErrorAction Stop } | Should -Throw -ErrorId 'CannotConvertArgumentNoMessage*'
        }

        It 'writes the group sizes -MatrixGroupSize asks for, per kind of matrix' {
            $file = Join-Path $TestDrive 'mix.llmc'
            $result = $model | ConvertTo-Int4Model $file -GroupSize 128 -MatrixGroupSize @{ Down = 32; Attention = 64 } -OutputProjection Int8
            $result.MatrixGroupSizes.Down | Should -Be 32
            $result.MatrixGroupSizes.QueryKeyValue | Should -Be 64
            $result.MatrixGroupSizes.AttentionOutput | Should -Be 64
            $result.MatrixGroupSizes.GateUp | Should -Be 128
            $result.BitsPerWeight | Should -Be 4.25
            $result.Format | Should -Be 'Q4 g128 sym (QueryKeyValue g64, AttentionOutput g64, GateUp g128, Down g32)'
            $loaded = Import-Model $file
            $loaded.Quantization.MatrixGroupSizes.Down | Should -Be 32
            $loaded.Quantization.MatrixGroupSizes.GateUp | Should -Be 128
            $loaded.Quantization.Format | Should -Be $result.Format
        }

        It 'refuses an unknown kind of matrix in -MatrixGroupSize, naming the kinds' {
            $model | ConvertTo-Int4Model (Join-Path $TestDrive 'bad-mix.llmc') -MatrixGroupSize @{ Up = 32 } -ErrorVariable failed -ErrorAction SilentlyContinue
            $failed.FullyQualifiedErrorId | Should -Be 'InvalidMatrixGroupSize,LlmCpu.Module.Commands.ConvertToInt4ModelCommand'
            $failed.Exception.Message | Should -Match 'QueryKeyValue, AttentionOutput, GateUp, Down'
            Join-Path $TestDrive 'bad-mix.llmc' | Should -Not -Exist
        }

        It 'calibrates on the number of tokens -CalibrationTokens asks for and records it' {
            $file = Join-Path $TestDrive 'tokens.llmc'
            $result = $model | ConvertTo-Int4Model $file -Recipe Gptq -CalibrationPath $calibration -CalibrationTokens 512
            $result.CalibrationTokens | Should -Be 512
            (Import-Model $file).Quantization.CalibrationTokens | Should -Be 512
        }

        It 'refuses -CalibrationTokens outside 512 to 65536 at parameter binding' -ForEach @(
            @{ Tokens = 100 }
            @{ Tokens = 100000 }
        ) {
            { $model | ConvertTo-Int4Model (Join-Path $TestDrive 'x.llmc') -Recipe Gptq -CalibrationTokens $Tokens -ErrorAction Stop } |
                Should -Throw -ErrorId 'ParameterArgumentValidationError*'
        }

        It 'tells Import-Model that a calibrated recipe needs the converter' {
            { Import-Model -Precision Int4 -Recipe Awq -ErrorAction Stop } | Should -Throw -ErrorId 'RecipeNeedsCalibration,LlmCpu.Module.Commands.ImportModelCommand'
        }

        It 'with Auto keeps the fewest bits within -MaxAccuracyLoss and lists every candidate' {
            $file = Join-Path $TestDrive 'auto.llmc'
            $result = $model | ConvertTo-Int4Model $file -Recipe Auto -GroupSize 128 -UniformGroupSize -MaxAccuracyLoss 0.05 -CalibrationPath $calibration -EvaluationText $text
            # The four recipes at g128, each with the 8-bit output projection Auto keeps unless told otherwise; at equal bits
            # per weight the lowest KL divergence is written.
            $result.Candidates.Count | Should -Be 4
            @($result.Candidates | Where-Object { "$($_.OutputProjection)" -eq 'Int8' }).Count | Should -Be 4
            $chosen = @($result.Candidates | Where-Object Chosen)
            $chosen.Count | Should -Be 1
            $chosen[0].KlDivergence | Should -Be ($result.Candidates | Measure-Object KlDivergence -Minimum).Minimum
            $result.Recipe | Should -Be $chosen[0].Recipe
            $result.OutputFormat | Should -Be 'Q8_0'
            ($result | Format-List | Out-String -Width 300) | Should -Match 'Candidates\s+: .*\*'
            (Import-Model $file).Quantization.Candidates.Count | Should -Be 4
        }
    }
}
