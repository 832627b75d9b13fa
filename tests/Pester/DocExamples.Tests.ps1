# Every example in docs/<cmdlet>.md runs against the bundled model, each in an empty folder of its own: the lines after
# "PS> " (and their ">> " continuations) are the script; the other lines are the output it shows. What an example
# needs (a file, a folder) or why it cannot run is in DocExamples.psd1.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot '../../build/Help/MarkdownHelp.ps1')
    $needs = Import-PowerShellDataFile (Join-Path $PSScriptRoot 'DocExamples.psd1')
    $pages = (Import-PowerShellDataFile (Join-Path $PSScriptRoot '../../LlmCpu.psd1')).CmdletsToExport
    $script:examples = foreach ($page in $pages) {
        foreach ($example in (ConvertFrom-MarkdownHelp (Join-Path $PSScriptRoot "../../docs/$page.md")).Examples) {
            $key = "$page/$(($example.Title -split ':')[0])"
            $lines = foreach ($line in $example.Code -split "`n") {
                if ($line.StartsWith('PS> ')) { $line.Substring(4) } elseif ($line.StartsWith('>> ')) { $line.Substring(3) }
            }
            @{ Key = $key; Page = $page; Title = $example.Title; Script = $lines -join "`n"; Setup = $needs[$key].Setup; Skip = $needs[$key].Skip }
        }
    }
    $script:unknownKeys = @($needs.Keys | Where-Object { $_ -notin $examples.Key })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:bundled = Join-Path (Get-Module LlmCpu).ModuleBase 'models/austen-llama'
}

Describe 'Doc examples' {
    It 'DocExamples.psd1 names only examples that exist' -TestCases @{ Unknown = $unknownKeys } {
        $Unknown | Should -BeNullOrEmpty
    }

    It '<Page>, <Title>' -ForEach $examples {
        if ($Skip) { Set-ItResult -Skipped -Because $Skip; return }
        $Script | Should -Not -BeNullOrEmpty
        $folder = New-Item -ItemType Directory (Join-Path $TestDrive ($Key -replace '[^A-Za-z0-9-]', '_'))
        Push-Location $folder
        try {
            $ErrorActionPreference = 'Stop'
            if ($Setup) { . ([scriptblock]::Create($Setup)) }
            # Any error, terminating or not, fails the example (ErrorAction Stop); output and other streams are not checked.
            $null = . ([scriptblock]::Create($Script)) *>&1
        }
        finally {
            Pop-Location
        }
    }
}
