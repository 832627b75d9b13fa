BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:model = Import-Model
    $script:config = Get-Content -Raw (Join-Path $repoRoot 'fixtures/austen-llama/config.json') | ConvertFrom-Json
}

Describe 'Import-Model' {
    Context 'the bundled model' {
        It 'loads with no path, with the shape its config.json gives' {
            $model.Name | Should -Be 'austen-llama'
            $model.Architecture | Should -Be 'llama'
            $model.LayerCount | Should -Be $config.num_hidden_layers
            $model.ContextLength | Should -Be $config.max_position_embeddings
            $model.VocabularySize | Should -Be $config.vocab_size
            $model.Precision | Should -Be 'F16'
        }

        It 'counts every weight of the Llama shape as parameters' {
            $d = $config.hidden_size; $kv = $d / $config.num_attention_heads * $config.num_key_value_heads
            $perLayer = 2 * $d * $d + 2 * $d * $kv + 3 * $d * $config.intermediate_size + 2 * $d
            $expected = 2 * $config.vocab_size * $d + $config.num_hidden_layers * $perLayer + $d
            $model.Parameters | Should -Be $expected
        }
    }

    Context 'paths' {
        BeforeAll {
            $script:copies = Join-Path $TestDrive 'models'
            foreach ($name in 'first', 'second') { Copy-Item -Recurse $model.Path (Join-Path $copies $name) }
        }

        It 'expands wildcards into one model per match' {
            $models = Import-Model (Join-Path $copies '*')
            $models.Name | Sort-Object | Should -Be @('first', 'second')
        }

        It 'binds folders from Get-ChildItem by property name' {
            $models = Get-ChildItem $copies -Directory | Import-Model
            $models.Path | Sort-Object | Should -Be @((Join-Path $copies 'first'), (Join-Path $copies 'second'))
        }

        It 'takes -LiteralPath without expanding wildcard characters' {
            $odd = Join-Path $TestDrive 'odd[1]'
            Copy-Item -Recurse -LiteralPath $model.Path -Destination $odd
            (Import-Model -LiteralPath $odd).Path | Should -Be $odd
        }

        It 'reports a missing path as ModelNotFound and still loads the others' {
            $missing = Join-Path $TestDrive 'none'
            $models = Import-Model -Path $missing, (Join-Path $copies 'first') -ErrorVariable failed -ErrorAction SilentlyContinue
            $models.Name | Should -Be 'first'
            $failed.FullyQualifiedErrorId | Should -Be 'ModelNotFound,LlmCpu.Module.Commands.ImportModelCommand'
            $failed.TargetObject | Should -Be $missing
        }

        It 'reports a damaged weights file as ModelFormatInvalid' {
            $copy = Join-Path $TestDrive 'damaged'
            Copy-Item -Recurse $model.Path $copy
            $stream = [System.IO.File]::Open((Join-Path $copy 'model.safetensors'), 'Open')
            try { $stream.SetLength(1000) } finally { $stream.Dispose() }
            { Import-Model -Path $copy -ErrorAction Stop } |
                Should -Throw -ErrorId 'ModelFormatInvalid,LlmCpu.Module.Commands.ImportModelCommand'
        }

        It 'reports an architecture it does not run as ModelNotSupported' {
            $copy = Join-Path $TestDrive 'bloom'
            Copy-Item -Recurse $model.Path $copy
            $json = Get-Content -Raw (Join-Path $copy 'config.json') | ConvertFrom-Json
            $json.architectures = @('BloomForCausalLM'); $json.model_type = 'bloom'
            $json | ConvertTo-Json | Set-Content (Join-Path $copy 'config.json')
            { Import-Model -Path $copy -ErrorAction Stop } |
                Should -Throw -ErrorId 'ModelNotSupported,LlmCpu.Module.Commands.ImportModelCommand'
        }
    }

    Context 'precision' {
        It 'quantizes to INT4 at load with the group size asked for' {
            (Import-Model -Precision Int4 -GroupSize 32).Precision | Should -Be 'Q4 g32 sym'
            (Import-Model -Precision Int4 -GroupSize 64 -Asymmetric).Precision | Should -Be 'Q4 g64 asym'
        }

        It 'warns that -GroupSize means nothing without -Precision Int4' {
            $null = Import-Model -GroupSize 32 -WarningVariable warned -WarningAction SilentlyContinue
            $warned | Should -HaveCount 1
            "$warned" | Should -BeLike '*-GroupSize*ignored*'
        }

        It 'refuses a group size outside the set' {
            { Import-Model -Precision Int4 -GroupSize 48 } |
                Should -Throw -ErrorId 'ParameterArgumentValidationError,LlmCpu.Module.Commands.ImportModelCommand'
        }

        It 'computes the reference greedy tokens in FP32' {
            $f32 = Import-Model -Precision Float32
            $prompt = $reference.prompts[1]
            Get-GreedyTokens $f32 $prompt.text 32 | Should -Be (Get-ReferenceGreedy $prompt)
        }
    }

    Context 'the model object' {
        It 'shows name, architecture, parameters, precision, memory, context and kernel path in its table' {
            $lines = ($model | Format-Table | Out-String -Width 200).Split("`n") | Where-Object { $_.Trim() }
            $lines[0] | Should -Match '^Name\s+Architecture\s+Parameters\s+Precision\s+Memory\s+Context\s+Kernels\s*$'
            $lines[2] | Should -Match ('^austen-llama\s+llama\s+8\.1M\s+F16\s+15\.5 MiB\s+256\s+' + $model.KernelPath + '\s*$')
        }

        It 'has sizes in MiB and the kernel path as properties' {
            $model.WeightMiB | Should -Be ([math]::Round($model.WeightBytes / 1MB, 1))
            $model.FileSizeMiB | Should -Be ([math]::Round($model.FileSizeBytes / 1MB, 1))
            $model.ResidentMiB | Should -Be ([math]::Round($model.ResidentBytes / 1MB, 1))
            $model.KernelPath | Should -BeIn ([enum]::GetNames([LlmCpu.Kernels.KernelPath]))
        }

        It 'says how much of an INT4 file is mapped rather than allocated' {
            $file = Join-Path $TestDrive 'mapped.llmc'
            $null = $model | ConvertTo-Int4Model $file
            $mapped = Import-Model $file
            $mapped.MappedMiB | Should -BeGreaterThan $mapped.ResidentMiB
            ($mapped | Format-List | Out-String -Width 200) |
                Should -Match ('Memory\s+: {0:N1} MiB of weights: [\d.]+ MiB allocated, {1:N1} MiB mapped from the file' -f $mapped.WeightMiB, $mapped.MappedMiB)
        }

        It 'survives serialization with its useful properties, and looks the same afterwards' -ForEach @(
            @{ Via = 'PSSerializer' }
            @{ Via = 'Export-Clixml' }
        ) {
            $copy = if ($Via -eq 'PSSerializer') {
                [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($model))
            }
            else {
                $model | Export-Clixml (Join-Path $TestDrive 'model.xml'); Import-Clixml (Join-Path $TestDrive 'model.xml')
            }
            $copy.PSTypeNames[0] | Should -Be 'Deserialized.LlmCpu.Engine.Models.LanguageModel'
            foreach ($name in 'Name', 'Architecture', 'Parameters', 'Precision', 'StoredPrecision', 'WeightBytes', 'ResidentBytes', 'FileSizeBytes',
                'ContextLength', 'VocabularySize', 'LayerCount', 'Path', 'WeightMiB', 'FileSizeMiB', 'KernelPath') {
                $copy.$name | Should -Be $model.$name -Because $name
            }
            $copy | Format-Table | Out-String -Width 200 | Should -Be ($model | Format-Table | Out-String -Width 200)
        }
    }
}
