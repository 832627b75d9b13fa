# Reads a cmdlet page written in PlatyPS's markdown schema (schema 2.0.0: SYNOPSIS, SYNTAX, DESCRIPTION, EXAMPLES,
# PARAMETERS with a yaml block each, INPUTS, OUTPUTS, NOTES, RELATED LINKS) into a plain object for MamlHelp.ps1.
# PlatyPS itself is not available from any registry this project can use; keeping the schema means it can take over
# wherever it is installed. Uses only the PowerShell language and .NET, so it runs in the llmcpu host as in pwsh.

# Splits markdown into (Heading, Level, Lines) sections at headings of the given level, ignoring '#' lines inside
# fenced code (a PowerShell comment is not a heading).
function Split-MarkdownSection {
    param([string[]] $Lines, [int] $Level)
    $prefix = ('#' * $Level) + ' '
    $sections = [System.Collections.Generic.List[object]]::new()
    $current = [pscustomobject]@{ Heading = $null; Lines = [System.Collections.Generic.List[string]]::new() }
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line.StartsWith('```')) { $inFence = -not $inFence }
        if (-not $inFence -and $line.StartsWith($prefix)) {
            $sections.Add($current)
            $current = [pscustomobject]@{ Heading = $line.Substring($prefix.Length).Trim(); Lines = [System.Collections.Generic.List[string]]::new() }
            continue
        }
        $current.Lines.Add($line)
    }
    $sections.Add($current)
    $sections
}

# Splits markdown body text into blocks of one kind each: prose, table, list (one line per item, wrapped lines
# joined) and fence (code, verbatim).
function Get-MarkdownBlock {
    param([string[]] $Lines)
    $blocks = [System.Collections.Generic.List[object]]::new()
    $block = $null
    foreach ($line in $Lines) {
        if ($block -and $block.Kind -eq 'fence') {
            if ($line.StartsWith('```')) { $block = $null } else { $block.Lines.Add($line) }
            continue
        }
        if ($line.StartsWith('```')) {
            $block = [pscustomobject]@{ Kind = 'fence'; Lines = [System.Collections.Generic.List[string]]::new() }
            $blocks.Add($block)
            continue
        }
        if ($line.Trim().Length -eq 0) { $block = $null; continue }
        $kind = if ($line.StartsWith('|')) { 'table' } elseif ($line -match '^\s*([-*]|\d+\.)\s') { 'list' } else { 'prose' }
        if ($block -and $block.Kind -eq 'list' -and $kind -eq 'prose') {
            # A list item's wrapped continuation line belongs to the item.
            $block.Lines[$block.Lines.Count - 1] += ' ' + $line.Trim()
            continue
        }
        if (-not $block -or $block.Kind -ne $kind) {
            $block = [pscustomobject]@{ Kind = $kind; Lines = [System.Collections.Generic.List[string]]::new() }
            $blocks.Add($block)
        }
        $block.Lines.Add($(if ($kind -eq 'table') { $line } else { $line.Trim() }))
    }
    $blocks
}

# Turns markdown body text into help paragraphs: prose lines are joined into one line (markdown's soft line breaks),
# while tables, lists and code keep their line breaks, since Get-Help shows each paragraph as it is.
function ConvertTo-HelpParagraph {
    param([string[]] $Lines)
    $paragraphs = foreach ($block in @(Get-MarkdownBlock $Lines)) {
        if ($block.Kind -eq 'prose') { $block.Lines -join ' ' } else { $block.Lines -join "`n" }
    }
    , @($paragraphs)
}

# The first fenced block of a section, as lines, with its language tag.
function Get-FencedBlock {
    param([string[]] $Lines)
    $inside = $false
    $language = ''
    $content = [System.Collections.Generic.List[string]]::new()
    $before = [System.Collections.Generic.List[string]]::new()
    $after = [System.Collections.Generic.List[string]]::new()
    $done = $false
    foreach ($line in $Lines) {
        if ($done) { $after.Add($line); continue }
        if ($line.StartsWith('```')) {
            if ($inside) { $done = $true } else { $inside = $true; $language = $line.Substring(3).Trim() }
            continue
        }
        if ($inside) { $content.Add($line) } else { $before.Add($line) }
    }
    [pscustomobject]@{ Found = $done; Language = $language; Lines = $content.ToArray(); Before = $before.ToArray(); After = $after.ToArray() }
}

# Reads the "Key: Value" lines of a parameter's yaml block (PlatyPS writes nothing more nested than that).
function ConvertFrom-ParameterYaml {
    param([string[]] $Lines)
    $values = [ordered]@{}
    foreach ($line in $Lines) {
        $colon = $line.IndexOf(':')
        if ($colon -gt 0) { $values[$line.Substring(0, $colon).Trim()] = $line.Substring($colon + 1).Trim() }
    }
    $values
}

function ConvertFrom-MarkdownHelp {
    param([Parameter(Mandatory)] [string] $Path)
    $lines = [System.IO.File]::ReadAllLines($Path)
    # YAML front matter (external help file, Module Name, schema) precedes the title.
    if ($lines.Count -gt 0 -and $lines[0] -eq '---') {
        $end = [array]::IndexOf($lines, '---', 1)
        $lines = $lines[($end + 1)..($lines.Count - 1)]
    }
    $top = @(Split-MarkdownSection $lines 1)
    $name = $top[1].Heading
    $sections = @{}
    foreach ($section in @(Split-MarkdownSection $top[1].Lines 2)) {
        if ($section.Heading) { $sections[$section.Heading.ToUpperInvariant()] = $section }
    }
    foreach ($required in 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS') {
        if (-not $sections.ContainsKey($required)) { throw "$Path has no '## $required' section." }
    }

    # Parameter sets in the order SYNTAX lists them; a page with one syntax block and no set heading has one set.
    $sets = foreach ($set in @(Split-MarkdownSection $sections['SYNTAX'].Lines 3)) {
        if (-not $set.Heading) { continue }
        [pscustomobject]@{ Name = ($set.Heading -replace '\s*\(Default\)\s*$', ''); IsDefault = $set.Heading -match '\(Default\)\s*$' }
    }
    if (-not $sets) { $sets = , [pscustomobject]@{ Name = '__AllParameterSets'; IsDefault = $true } }

    $examples = foreach ($example in @(Split-MarkdownSection $sections['EXAMPLES'].Lines 3)) {
        if (-not $example.Heading) { continue }
        $code = Get-FencedBlock $example.Lines
        if (-not $code.Found) { throw "$Path, '$($example.Heading)': no code block." }
        [pscustomobject]@{
            Title        = $example.Heading
            Introduction = ConvertTo-HelpParagraph $code.Before
            Code         = $code.Lines -join "`n"
            Remarks      = ConvertTo-HelpParagraph $code.After
        }
    }

    $parameters = foreach ($parameter in @(Split-MarkdownSection $sections['PARAMETERS'].Lines 3)) {
        if (-not $parameter.Heading -or -not $parameter.Heading.StartsWith('-')) { continue } # CommonParameters
        $yaml = Get-FencedBlock $parameter.Lines
        if (-not $yaml.Found -or $yaml.Language -ne 'yaml') { throw "$Path, '$($parameter.Heading)': no yaml block." }
        [pscustomobject]@{
            Name        = $parameter.Heading.Substring(1)
            Description = ConvertTo-HelpParagraph $yaml.Before
            Values      = ConvertFrom-ParameterYaml $yaml.Lines
        }
    }

    # INPUTS and OUTPUTS: one '### Type' heading each, followed by its description.
    $typeSection = {
        param($section)
        if (-not $section) { return }
        foreach ($type in @(Split-MarkdownSection $section.Lines 3)) {
            if ($type.Heading) { [pscustomobject]@{ Name = $type.Heading; Description = ConvertTo-HelpParagraph $type.Lines } }
        }
    }

    $links = foreach ($line in $(if ($sections['RELATED LINKS']) { $sections['RELATED LINKS'].Lines })) {
        if ($line -match '^\s*\[(?<text>[^\]]+)\]\((?<uri>[^)]*)\)') {
            # Only web addresses are URIs to Get-Help -Online; links to sibling pages are named topics.
            [pscustomobject]@{ Text = $Matches.text; Uri = $(if ($Matches.uri -match '^https?://') { $Matches.uri } else { '' }) }
        }
    }

    [pscustomobject]@{
        Name          = $name
        Synopsis      = (ConvertTo-HelpParagraph $sections['SYNOPSIS'].Lines) -join ' '
        Description   = ConvertTo-HelpParagraph $sections['DESCRIPTION'].Lines
        ParameterSets = @($sets)
        Examples      = @($examples)
        Parameters    = @($parameters)
        Inputs        = @(& $typeSection $sections['INPUTS'])
        Outputs       = @(& $typeSection $sections['OUTPUTS'])
        Notes         = $(if ($sections['NOTES']) { ConvertTo-HelpParagraph $sections['NOTES'].Lines } else { @() })
        Links         = @($links)
    }
}
