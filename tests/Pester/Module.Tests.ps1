# The module as a whole: what the manifest promises is what an import gives.
BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:manifestData = Import-PowerShellDataFile (Join-Path $repoRoot 'LlmCpu.psd1')
    $script:module = Get-Module LlmCpu
}

Describe 'LlmCpu module' {
    It 'is the module imported from the manifest under test' {
        $module.ModuleBase | Should -Be (Split-Path -Parent (Resolve-Path $moduleManifest).Path)
        $module.Version | Should -Be ([version] $manifestData.ModuleVersion)
        $module.ModuleType | Should -Be 'Binary'
    }

    It 'exports exactly the cmdlets the manifest lists' {
        (Get-Command -Module LlmCpu -CommandType Cmdlet).Name | Sort-Object |
            Should -Be ($manifestData.CmdletsToExport | Sort-Object)
    }

    It 'declares PowerShell 7.6 and the Core edition' {
        $manifestData.PowerShellVersion | Should -Be '7.6'
        $manifestData.CompatiblePSEditions | Should -Be @('Core')
    }

    It 'ships the bundled model without the reference data the tests use' {
        Join-Path $module.ModuleBase 'models/austen-llama/model.safetensors' | Should -Exist
        Get-ChildItem -Recurse $module.ModuleBase -Filter 'reference*.json' | Should -BeNullOrEmpty
    }

    It 'has a docs page for every cmdlet' {
        foreach ($name in (Get-Command -Module LlmCpu -CommandType Cmdlet).Name) {
            Join-Path $repoRoot "docs/$name.md" | Should -Exist
        }
    }

    It 'has an Llm-prefixed alias for every cmdlet, exported as the manifest lists' {
        $aliases = Get-Command -Module LlmCpu -CommandType Alias
        $aliases.Name | Sort-Object | Should -Be ($manifestData.AliasesToExport | Sort-Object)
        foreach ($cmdlet in $manifestData.CmdletsToExport) {
            $verb, $noun = $cmdlet -split '-', 2
            (Get-Alias "$verb-Llm$noun").ResolvedCommand.Name | Should -Be $cmdlet
        }
    }

    It 'runs a generation under the prefixed names' {
        $prompt = $reference.prompts[1]
        (Import-LlmModel | Invoke-LlmGeneration -Prompt $prompt.text -Temperature 0 -MaxTokens 32).TokenIds |
            Should -Be @(Get-ReferenceGreedy $prompt)
    }

    It 'has format views for every type its cmdlets return, and for their deserialized twins' -ForEach @(
        'LlmCpu.Engine.Models.LanguageModel'
        'LlmCpu.Engine.Runtime.GenerationResult'
        'LlmCpu.Engine.Models.Int4ConversionResult'
        'LlmCpu.Engine.Formats.Llmc.QuantizationReport'
        'LlmCpu.Engine.Formats.Llmc.AccuracyReport'
        'LlmCpu.Engine.Runtime.PerplexityResult'
    ) {
        Get-FormatData -TypeName $_ | Should -Not -BeNullOrEmpty
        Get-FormatData -TypeName "Deserialized.$_" | Should -Not -BeNullOrEmpty
    }
}
