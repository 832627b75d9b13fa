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
}
