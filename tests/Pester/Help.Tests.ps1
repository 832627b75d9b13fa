# Help: the shipped help files are what docs/ generates, docs describe every parameter as the cmdlets declare it, and
# Get-Help shows the docs (after Pester's own Help.Tests.ps1).
BeforeDiscovery {
    $script:cmdletNames = (Import-PowerShellDataFile (Join-Path $PSScriptRoot '../../LlmCpu.psd1')).CmdletsToExport
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    . (Join-Path $repoRoot 'build/Help/MarkdownHelp.ps1')
    $script:module = Get-Module LlmCpu
    $script:commonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters

    function script:Get-DocPage([string] $name) { ConvertFrom-MarkdownHelp (Join-Path $repoRoot "docs/$name.md") }

    # What a page's yaml block should say about a parameter, from the cmdlet's own metadata.
    function script:Get-DeclaredParameter($command, $parameter) {
        $type = $parameter.ParameterType
        if ([Nullable]::GetUnderlyingType($type)) { $type = [Nullable]::GetUnderlyingType($type) }
        $sets = $parameter.ParameterSets
        $setNames = if ($sets.ContainsKey('__AllParameterSets')) { $command.ParameterSets.Name } else { $sets.Keys }
        $positions = @($sets.Values | ForEach-Object Position | Sort-Object -Unique)
        $validateSet = $parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] }
        [pscustomobject]@{
            Type          = $type.Name
            Sets          = ($setNames | Sort-Object) -join ', '
            Required      = [bool]($sets.Values | Where-Object IsMandatory)
            Position      = $(if ($positions.Count -eq 1 -and $positions[0] -ge 0) { [string]$positions[0] } else { 'Named' })
            Aliases       = ($parameter.Aliases | Sort-Object) -join ', '
            Accepted      = $(if ($validateSet) { $validateSet.ValidValues } elseif ($type.IsEnum) { [enum]::GetNames($type) } else { @() }) -join ', '
            ByValue       = [bool]($sets.Values | Where-Object ValueFromPipeline)
            ByPropertyName = [bool]($sets.Values | Where-Object ValueFromPipelineByPropertyName)
        }
    }
}

Describe 'Generated help files' {
    BeforeAll {
        $script:generated = Join-Path $TestDrive 'en-US'
        $null = & (Join-Path $repoRoot 'build/Help/Build-Help.ps1') -OutputPath $generated
    }

    It '<_> is what build.ps1 -Task Docs generates from docs/ (run it after editing docs)' -ForEach 'LlmCpu.Module.dll-Help.xml', 'about_LlmCpu.help.txt' {
        $committed = Join-Path $repoRoot "src/Module/en-US/$_"
        Get-Content -Raw (Join-Path $generated $_) | Should -BeExactly (Get-Content -Raw $committed)
    }

    It '<_> ships in the module under test' -ForEach 'LlmCpu.Module.dll-Help.xml', 'about_LlmCpu.help.txt' {
        Get-Content -Raw (Join-Path $module.ModuleBase "en-US/$_") | Should -BeExactly (Get-Content -Raw (Join-Path $generated $_))
    }

    It 'is valid MAML with one command per cmdlet' {
        $xml = [xml](Get-Content -Raw (Join-Path $generated 'LlmCpu.Module.dll-Help.xml'))
        $names = $xml.helpItems.command | ForEach-Object { $_.details.name }
        $names | Sort-Object | Should -Be ((Get-Command -Module LlmCpu -CommandType Cmdlet).Name | Sort-Object)
    }
}

Describe '<_> page' -ForEach $cmdletNames {
    BeforeAll {
        $script:command = Get-Command $_
        $script:page = Get-DocPage $_
        $script:documented = @{}
        foreach ($parameter in $page.Parameters) { $documented[$parameter.Name] = $parameter }
        $script:declared = $command.Parameters.Values | Where-Object { $commonParameters -notcontains $_.Name }
    }

    It 'describes every parameter the cmdlet declares' {
        $missing = $declared.Name | Where-Object { -not $documented.ContainsKey($_) }
        $missing | Should -BeNullOrEmpty
    }

    It 'describes no parameter the cmdlet lacks' {
        $stale = $documented.Keys | Where-Object { -not $command.Parameters.ContainsKey($_) }
        $stale | Should -BeNullOrEmpty
    }

    It 'gives each parameter a description and the type, sets, position, aliases and values it has' {
        foreach ($parameter in $declared) {
            $doc = $documented[$parameter.Name]
            $expected = Get-DeclaredParameter $command $parameter
            $because = "docs/$($command.Name).md describes -$($parameter.Name)"
            $doc.Description | Should -Not -BeNullOrEmpty -Because $because
            $doc.Values['Type'] | Should -Be $expected.Type -Because $because
            # "(All)" and a list of every set say the same.
            $docSets = if ($doc.Values['Parameter Sets'] -eq '(All)') { $command.ParameterSets.Name } else { $doc.Values['Parameter Sets'] -split ',\s*' }
            ($docSets | Sort-Object) -join ', ' | Should -Be $expected.Sets -Because $because
            $doc.Values['Required'] | Should -Be ([string]$expected.Required) -Because $because
            $doc.Values['Position'] | Should -Be $expected.Position -Because $because
            ($doc.Values['Aliases'] -split ',\s*' | Where-Object { $_ } | Sort-Object) -join ', ' | Should -Be $expected.Aliases -Because $because
            [string]$doc.Values['Accepted values'] | Should -Be $expected.Accepted -Because $because
            $pipeline = [string]$doc.Values['Accept pipeline input']
            $pipeline -match 'ByValue' | Should -Be $expected.ByValue -Because "$because (ByValue)"
            $pipeline -match 'ByPropertyName' | Should -Be $expected.ByPropertyName -Because "$because (ByPropertyName)"
        }
    }

    It 'names the parameter sets the cmdlet has, and its default' {
        if ($command.ParameterSets.Count -gt 1) {
            $page.ParameterSets.Name | Sort-Object | Should -Be ($command.ParameterSets.Name | Sort-Object)
            ($page.ParameterSets | Where-Object IsDefault).Name | Should -Be $command.DefaultParameterSet
        }
        else {
            $page.ParameterSets.Name | Should -Be '__AllParameterSets'
        }
    }

    It 'has a synopsis, a description, examples, inputs and outputs' {
        $page.Synopsis | Should -Not -BeNullOrEmpty
        $page.Description | Should -Not -BeNullOrEmpty
        $page.Examples.Count | Should -BeGreaterThan 0
        $page.Inputs | Should -Not -BeNullOrEmpty
        $page.Outputs.Name | Should -Be ($command.OutputType.Name | ForEach-Object { if ($_ -eq 'System.Void') { 'None' } else { $_ } })
    }
}

Describe 'Get-Help <_>' -ForEach $cmdletNames {
    BeforeAll {
        $script:page = Get-DocPage $_
        $script:help = Get-Help $_ -Full
    }

    It 'shows the synopsis and description from docs/' {
        $help.Synopsis | Should -BeExactly $page.Synopsis
        # Get-Help ends each paragraph with a line break.
        $help.description.Text.TrimEnd() | Should -Be $page.Description
    }

    It 'shows every example with -Examples' {
        $examples = (Get-Help $_ -Examples).examples.example
        $examples.code | Should -Be $page.Examples.Code
        Get-Help $_ -Examples | Out-String | Should -BeLike "*$($page.Examples[0].Title)*"
    }

    It 'shows each parameter with -Parameter' {
        foreach ($parameter in $page.Parameters) {
            (Get-Help $_ -Parameter $parameter.Name).description.Text.TrimEnd() | Should -Be $parameter.Description
        }
    }

    It 'lists related links and notes in -Full' {
        $text = $help | Out-String -Width 200
        $text | Should -BeLike '*RELATED LINKS*'
        foreach ($link in $page.Links) { $text | Should -BeLike "*$($link.Text)*" }
        $help.relatedLinks.navigationLink.linkText | Should -Be $page.Links.Text
    }
}

Describe 'Get-Help about_LlmCpu' {
    It 'shows the topic generated from docs/about_LlmCpu.md' {
        $text = Get-Help about_LlmCpu | Out-String
        $text | Should -BeLike '*SHORT DESCRIPTION*Runs large language models on ordinary CPUs from PowerShell.*'
        $text | Should -BeLike '*LONG DESCRIPTION*'
    }
}
