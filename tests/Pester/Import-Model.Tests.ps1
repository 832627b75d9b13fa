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

    Context 'the KV cache pool' {
        BeforeAll {
            # A block: 64 positions of every layer's keys and values, 4 bytes a number in FP32.
            $kvDimension = $config.hidden_size / $config.num_attention_heads * $config.num_key_value_heads
            $script:blockBytes = 2 * $config.num_hidden_layers * $kvDimension * 64 * 4
            $script:instructions = 'It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. ' * 4
        }

        It 'holds four contexts of the trained length by default' {
            $model.KvCacheType | Should -Be 'Float32'
            $model.KvCacheBlocks | Should -Be (4 * $config.max_position_embeddings / 64)
            $model.KvCacheMaxBytes | Should -Be ($model.KvCacheBlocks * $blockBytes)
        }

        It 'holds -MaxSessions contexts of -ContextLength positions, and allocates blocks only as they are used' {
            $m = Import-Model -ContextLength 128 -MaxSessions 3
            try {
                $m.ContextLength | Should -Be 128
                $m.KvCacheBlocks | Should -Be 6
                $m.KvCacheMaxBytes | Should -Be (6 * $blockBytes)
                $m.KvCacheBytes | Should -Be 0
                $result = $m | Invoke-Generation -Prompt 'She was not' -MaxTokens 4 -Temperature 0
                $result.TotalTokens | Should -BeLessThan 64
                $m.KvCacheBytes | Should -Be $blockBytes
                $m.KvCacheBlocksInUse | Should -Be 0 # under one block of prompt: nothing is worth keeping
            }
            finally { $m | Remove-Model }
        }

        It 'stores keys and values in half the memory with -KvCacheType Float16' {
            $m = Import-Model -ContextLength 128 -MaxSessions 3 -KvCacheType Float16
            try {
                $m.KvCacheType | Should -Be 'Float16'
                $m.KvCacheBlocks | Should -Be 6
                $m.KvCacheMaxBytes | Should -Be (6 * $blockBytes / 2)
                ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 4 -Temperature 0).GeneratedTokens | Should -Be 4
                $m.KvCacheBytes | Should -Be ($blockBytes / 2)
            }
            finally { $m | Remove-Model }
        }

        It 'sizes the pool in whole blocks from -KvCacheMemory' {
            $m = Import-Model -KvCacheMemory (3 * $blockBytes + 1000)
            $half = Import-Model -KvCacheMemory (3 * $blockBytes) -KvCacheType Float16
            try {
                $m.KvCacheBlocks | Should -Be 3
                $m.KvCacheMaxBytes | Should -Be (3 * $blockBytes)
                $m.ContextLength | Should -Be $config.max_position_embeddings
                $half.KvCacheBlocks | Should -Be 6
            }
            finally { $m, $half | Remove-Model }
        }

        It 'refuses a -KvCacheMemory smaller than one block (KvCacheArgumentInvalid)' {
            { Import-Model -KvCacheMemory ($blockBytes - 1) -ErrorAction Stop } |
                Should -Throw -ErrorId 'KvCacheArgumentInvalid,LlmCpu.Module.Commands.ImportModelCommand'
            $failed = $null
            $null = Import-Model -KvCacheMemory ($blockBytes - 1) -ErrorVariable failed -ErrorAction SilentlyContinue
            $failed[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        }

        It 'reports a pool with no free block as KvCacheExhausted, and generates again once a block is free' {
            $m = Import-Model -ContextLength 64 -MaxSessions 1
            try {
                $chat = New-ChatSession -Model $m -Template ChatML
                $null = Invoke-Generation -Session $chat -Prompt 'Mr. Darcy' -MaxTokens 4 -Temperature 0
                $m.KvCacheBlocksInUse | Should -Be 1
                $failed = $null
                $m | Invoke-Generation -Prompt 'She was not' -MaxTokens 4 -NoPromptCache -ErrorVariable failed -ErrorAction SilentlyContinue
                $failed[0].FullyQualifiedErrorId | Should -Be 'KvCacheExhausted,LlmCpu.Module.Commands.InvokeGenerationCommand'
                $failed[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
                $failed[0].Exception.Message | Should -Match '0 of 1 are free'
                Remove-ChatSession $chat
                $m.KvCacheBlocksInUse | Should -Be 0
                ($m | Invoke-Generation -Prompt 'She was not' -MaxTokens 4).GeneratedTokens | Should -Be 4
            }
            finally { $m | Remove-Model }
        }

        It 'keeps the blocks of -PromptCacheSize idle prompts, and of none with 0' {
            $two = Import-Model
            $one = Import-Model -PromptCacheSize 1
            $off = Import-Model -PromptCacheSize 0
            try {
                foreach ($m in $two, $one, $off) {
                    $null = $m | Invoke-Generation -Prompt ($instructions + 'Mr. Darcy') -MaxTokens 1 -Temperature 0
                    $null = $m | Invoke-Generation -Prompt ('Elizabeth said so. ' * 20) -MaxTokens 1 -Temperature 0
                }
                $two.PromptCache.IdleCount | Should -Be 2
                $one.PromptCache.IdleCount | Should -Be 1
                $off.PromptCache.IdleCount | Should -Be 0
                foreach ($m in $two, $one, $off) {
                    $m.PromptCacheBytes | Should -Be ($m.KvCacheBlocksInUse * $blockBytes)
                }
                $two.PromptCacheBytes | Should -BeGreaterThan $one.PromptCacheBytes
                $off.PromptCacheBytes | Should -Be 0
                # The first prompt's blocks are still there with two kept, given back with one (least recently used).
                ($two | Invoke-Generation -Prompt ($instructions + 'Mr. Darcy') -MaxTokens 1 -Temperature 0).CachedTokens | Should -BeGreaterThan 0
                ($one | Invoke-Generation -Prompt ($instructions + 'Mr. Darcy') -MaxTokens 1 -Temperature 0).CachedTokens | Should -Be 0
            }
            finally { $two, $one, $off | Remove-Model }
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

        It 'reads an INT4 file into memory with -NoMemoryMap, counting its weights as allocated, and generates the same text' {
            $file = Join-Path $TestDrive 'read.llmc'
            $null = $model | ConvertTo-Int4Model $file
            $mapped = Import-Model $file
            $read = Import-Model $file -NoMemoryMap
            $mapped.IsMemoryMapped | Should -BeTrue
            $read.IsMemoryMapped | Should -BeFalse
            $read.MappedBytes | Should -Be 0
            $read.ResidentBytes | Should -Be ($mapped.ResidentBytes + $mapped.MappedBytes)
            $a = $mapped | Invoke-Generation -Prompt 'She was not' -MaxTokens 12 -Temperature 0
            $b = $read | Invoke-Generation -Prompt 'She was not' -MaxTokens 12 -Temperature 0
            $b.Text | Should -Be $a.Text
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
