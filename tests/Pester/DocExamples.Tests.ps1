# Every example in docs/ runs against the bundled model, each in an empty folder of its own: in docs/<cmdlet>.md the
# examples, in docs/about_LlmCpu.md every code block. In a PowerShell block the lines after "PS> " (and their ">> "
# continuations) are the script and the other lines the output it shows; a plain block is llmcpu command lines, run
# through the host built beside the module. What an example needs (a file, a folder) or why it cannot run is in
# DocExamples.psd1.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot '../../build/Help/MarkdownHelp.ps1')
    $needs = Import-PowerShellDataFile (Join-Path $PSScriptRoot 'DocExamples.psd1')
    # The commands of an example as shown at a prompt: "PS> " lines and their ">> " continuations.
    function Get-PromptScript([string] $code) {
        $lines = foreach ($line in $code -split "`n") {
            if ($line.StartsWith('PS> ')) { $line.Substring(4) } elseif ($line.StartsWith('>> ')) { $line.Substring(3) }
        }
        $lines -join "`n"
    }
    $pages = (Import-PowerShellDataFile (Join-Path $PSScriptRoot '../../LlmCpu.psd1')).CmdletsToExport
    $script:examples = foreach ($page in $pages) {
        foreach ($example in (ConvertFrom-MarkdownHelp (Join-Path $PSScriptRoot "../../docs/$page.md")).Examples) {
            $key = "$page/$(($example.Title -split ':')[0])"
            @{ Key = $key; Page = $page; Title = $example.Title; Script = Get-PromptScript $example.Code; Setup = $needs[$key].Setup; Skip = $needs[$key].Skip }
        }
    }
    # about_LlmCpu's code blocks are keyed by the section they are in: "about_LlmCpu/Objects 2" is its second block.
    $about = [System.IO.File]::ReadAllText((Join-Path $PSScriptRoot '../../docs/about_LlmCpu.md'))
    $counts = @{}
    $script:examples += foreach ($block in [regex]::Matches($about, '(?ms)^```(?<language>\w*)\n(?<code>.*?)^```')) {
        $section = [regex]::Matches($about.Substring(0, $block.Index), '(?m)^###? (.+)$')[-1].Groups[1].Value.Trim()
        $counts[$section] = 1 + [int]$counts[$section]
        $key = "about_LlmCpu/$section $($counts[$section])"
        $code = $block.Groups['code'].Value.TrimEnd()
        $script = if ($block.Groups['language'].Value -eq 'powershell') { Get-PromptScript $code } else { $code }
        @{ Key = $key; Page = 'about_LlmCpu'; Title = "$section $($counts[$section])"; Script = $script; Setup = $needs[$key].Setup; Skip = $needs[$key].Skip }
    }
    $script:unknownKeys = @($needs.Keys | Where-Object { $_ -notin $examples.Key })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:bundled = Join-Path (Get-Module LlmCpu).ModuleBase 'models/austen-llama'
    # The llmcpu command of the about page's examples: the host built beside the module.
    function script:llmcpu {
        & dotnet $hostAssembly @args
        if ($LASTEXITCODE -ne 0) { throw "llmcpu $args exited with $LASTEXITCODE." }
    }
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
        $modulePath = $env:PSModulePath
        try {
            $ErrorActionPreference = 'Stop'
            if ($Setup) { . ([scriptblock]::Create($Setup)) }
            # Any error, terminating or not, fails the example (ErrorAction Stop); output and other streams are not checked.
            $null = . ([scriptblock]::Create($Script)) *>&1
        }
        finally {
            Pop-Location
            $env:PSModulePath = $modulePath
        }
    }
}
