BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:model = Import-Model
}

Describe 'ConvertTo-Gguf' {
    It 'writes a Q4_0 GGUF that computes exactly what the INT4 g32 model computes' {
        $file = Join-Path $TestDrive 'austen-q4_0.gguf'
        $int4 = Import-Model -Precision Int4 -GroupSize 32
        $written = $int4 | ConvertTo-Gguf $file -Type Q4_0
        $written | Should -BeOfType System.IO.FileInfo
        $written.FullName | Should -Be $file
        $back = Import-Model $file
        $back.Precision | Should -Be 'Q4 g32 sym'
        Get-GreedyTokens $back 'She was not' | Should -Be (Get-GreedyTokens $int4 'She was not')
    }

    It 'writes an F16 GGUF that gives the reference greedy tokens' {
        $file = Join-Path $TestDrive 'austen-f16.gguf'
        $back = $model | ConvertTo-Gguf $file | Import-Model
        $back.Precision | Should -Be 'F16'
        $prompt = $reference.prompts[0]
        Get-GreedyTokens $back $prompt.text 32 | Should -Be (Get-ReferenceGreedy $prompt)
    }

    It 'exports a model loaded from GGUF again, with its tokenizer' {
        $first = Join-Path $TestDrive 'first.gguf'
        $second = Join-Path $TestDrive 'second.gguf'
        $null = $model | ConvertTo-Gguf $first
        $null = Import-Model $first | ConvertTo-Gguf $second
        Get-GreedyTokens (Import-Model $second) 'Mr. Darcy' | Should -Be (Get-GreedyTokens $model 'Mr. Darcy')
    }

    It 'keeps an existing file unless -Force is given' {
        $file = Join-Path $TestDrive 'exists.gguf'
        Set-Content $file 'old'
        { $model | ConvertTo-Gguf $file -ErrorAction Stop } |
            Should -Throw -ErrorId 'DestinationExists,LlmCpu.Module.Commands.ConvertToGgufCommand'
        Get-Content $file | Should -Be 'old'
        ($model | ConvertTo-Gguf $file -Force).Length | Should -BeGreaterThan 1MB
    }

    It 'reports a destination that is a folder as WriteFailed naming it' {
        $folder = New-Item -ItemType Directory (Join-Path $TestDrive 'a-folder.gguf')
        $model | ConvertTo-Gguf $folder.FullName -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed.FullyQualifiedErrorId | Should -Be 'WriteFailed,LlmCpu.Module.Commands.ConvertToGgufCommand'
        $failed.TargetObject | Should -Be $folder.FullName
    }

    It 'writes nothing with -WhatIf' {
        $file = Join-Path $TestDrive 'whatif.gguf'
        $model | ConvertTo-Gguf $file -WhatIf
        $file | Should -Not -Exist
    }

    It 'refuses a type it does not write' {
        { $model | ConvertTo-Gguf (Join-Path $TestDrive 'x.gguf') -Type Q5_K } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,LlmCpu.Module.Commands.ConvertToGgufCommand'
    }

    Context 'the file it returns' {
        BeforeAll {
            $script:written = $model | ConvertTo-Gguf (Join-Path $TestDrive 'served.gguf') -Type Q8_0
        }

        It 'is the file system provider''s item, shown in the file-system view as Get-Item shows it' {
            $written.PSPath | Should -Be (Get-Item -LiteralPath $written.FullName).PSPath
            $written | Format-Table | Out-String -Width 200 | Should -Be (Get-Item -LiteralPath $written.FullName | Format-Table | Out-String -Width 200)
            if (-not $IsWindows) { $written.UnixMode | Should -Match '^-r' }
        }

        It 'survives serialization with its path and size' -ForEach @(
            @{ Via = 'PSSerializer' }
            @{ Via = 'Export-Clixml' }
        ) {
            $copy = if ($Via -eq 'PSSerializer') {
                [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($written))
            }
            else {
                $written | Export-Clixml (Join-Path $TestDrive 'file.xml'); Import-Clixml (Join-Path $TestDrive 'file.xml')
            }
            $copy.PSTypeNames[0] | Should -Be 'Deserialized.System.IO.FileInfo'
            $copy.FullName | Should -Be $written.FullName
            $copy.Length | Should -Be $written.Length
            $copy.Name | Should -Be $written.Name
        }
    }
}
