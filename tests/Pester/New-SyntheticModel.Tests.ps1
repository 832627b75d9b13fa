BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
}

Describe 'New-SyntheticModel' {
    It 'writes a TinyLlama-shaped INT4 model that loads with finite, varied output' {
        $file = Join-Path $TestDrive 'tiny.llmc'
        $written = New-SyntheticModel -Shape TinyLlama-1.1B -Destination $file
        $written | Should -BeOfType System.IO.FileInfo
        $synthetic = $written | Import-Model
        $synthetic.Parameters | Should -Be 1100048384
        $synthetic.LayerCount | Should -Be 22
        $synthetic.Precision | Should -Be 'Q4 g128 sym'
        # Random weights give noise, but not a constant token (which is what NaN logits once gave).
        $result = $synthetic | Invoke-Generation -Prompt 'She was not' -Temperature 0 -MaxTokens 8
        $result.GeneratedTokens | Should -Be 8
        @($result.TokenIds | Sort-Object -Unique).Count | Should -BeGreaterThan 1
    }

    It 'writes the same bytes for the same seed and others for another seed' {
        $a = New-SyntheticModel TinyLlama-1.1B (Join-Path $TestDrive 'a.gguf') -Format GgufQ4_0 -Seed 3
        $b = New-SyntheticModel TinyLlama-1.1B (Join-Path $TestDrive 'b.gguf') -Format GgufQ4_0 -Seed 3
        $c = New-SyntheticModel TinyLlama-1.1B (Join-Path $TestDrive 'c.gguf') -Format GgufQ4_0 -Seed 4
        (Get-FileHash $a).Hash | Should -Be (Get-FileHash $b).Hash
        (Get-FileHash $a).Hash | Should -Not -Be (Get-FileHash $c).Hash
        (Import-Model $a).Precision | Should -Be 'Q4 g32 sym'
        Remove-Item $a, $b, $c
    }

    It 'keeps an existing file unless -Force is given' {
        $file = Join-Path $TestDrive 'exists.llmc'
        Set-Content $file 'old'
        { New-SyntheticModel TinyLlama-1.1B $file -ErrorAction Stop } |
            Should -Throw -ErrorId 'DestinationExists,LlmCpu.Module.Commands.NewSyntheticModelCommand'
        Get-Content $file | Should -Be 'old'
    }

    It 'writes nothing with -WhatIf' {
        $file = Join-Path $TestDrive 'whatif.llmc'
        New-SyntheticModel Llama-2-7B $file -WhatIf
        $file | Should -Not -Exist
    }

    It 'writes another family as a GGUF that loads as that family, and refuses it as an .llmc file' {
        New-SyntheticModel Pythia-1.4B (Join-Path $TestDrive 'p.llmc') -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed[0].FullyQualifiedErrorId | Should -Be 'SyntheticShapeNeedsGguf,LlmCpu.Module.Commands.NewSyntheticModelCommand'
        $failed[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        Join-Path $TestDrive 'p.llmc' | Should -Not -Exist
    }

    It 'refuses a shape it does not know' {
        { New-SyntheticModel Falcon-180B (Join-Path $TestDrive 'x.llmc') } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,LlmCpu.Module.Commands.NewSyntheticModelCommand'
    }

    Context 'the file it returns' {
        BeforeAll {
            $script:written = New-SyntheticModel TinyLlama-1.1B (Join-Path $TestDrive 'served.gguf') -Format GgufQ4_0
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
