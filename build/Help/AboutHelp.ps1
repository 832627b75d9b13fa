# Turns an about_ topic written in markdown (docs/about_LlmCpu.md) into the plain text Get-Help shows for
# about_ topics (<module>/en-US/about_<Name>.help.txt), laid out as PowerShell's own about files are: section names
# in capitals at the margin, subsections indented two spaces, text indented four and wrapped at 80 columns, code
# indented eight and never wrapped. Needs Get-MarkdownBlock from MarkdownHelp.ps1.

$script:AboutWidth = 80

# Markdown that reads as noise in plain text: inline code ticks, bold, links (their text stays).
function ConvertTo-PlainText {
    param([string] $Text)
    $Text = [regex]::Replace($Text, '\[([^\]]+)\]\([^)]*\)', '$1')
    $Text.Replace('**', '').Replace('`', '')
}

function Format-Wrapped {
    param([string] $Text, [int] $Indent, [int] $HangingIndent = $Indent)
    $lines = [System.Collections.Generic.List[string]]::new()
    $line = ' ' * $Indent
    $empty = $true
    foreach ($word in $Text -split '\s+' | Where-Object { $_ }) {
        if (-not $empty -and $line.Length + 1 + $word.Length -gt $AboutWidth) {
            $lines.Add($line)
            $line = ' ' * $HangingIndent
            $empty = $true
        }
        $line += $(if ($empty) { $word } else { ' ' + $word })
        $empty = $false
    }
    if (-not $empty) { $lines.Add($line) }
    $lines
}

function ConvertTo-AboutHelpText {
    param([Parameter(Mandatory)] [string] $Path)
    $out = [System.Collections.Generic.List[string]]::new()
    $sections = @(Split-MarkdownSection ([System.IO.File]::ReadAllLines($Path)) 1)
    $topic = $sections[1].Heading
    $out.Add('TOPIC')
    $out.Add("    $topic")
    foreach ($section in @(Split-MarkdownSection $sections[1].Lines 2)) {
        if (-not $section.Heading) { continue }
        $out.Add('')
        $out.Add($section.Heading.ToUpperInvariant())
        foreach ($subsection in @(Split-MarkdownSection $section.Lines 3)) {
            if ($subsection.Heading) {
                $out.Add('')
                $out.Add("  $(ConvertTo-PlainText $subsection.Heading)")
            }
            $first = $true
            foreach ($block in @(Get-MarkdownBlock $subsection.Lines)) {
                if (-not $first) { $out.Add('') }
                $first = $false
                switch ($block.Kind) {
                    'prose' { $out.AddRange([string[]] @(Format-Wrapped (ConvertTo-PlainText ($block.Lines -join ' ')) 4)) }
                    'list' {
                        foreach ($item in $block.Lines) {
                            $out.AddRange([string[]] @(Format-Wrapped (ConvertTo-PlainText $item) 4 6))
                        }
                    }
                    'table' { foreach ($row in $block.Lines) { $out.Add('    ' + (ConvertTo-PlainText $row)) } }
                    'fence' { foreach ($code in $block.Lines) { $out.Add(('        ' + $code).TrimEnd()) } }
                }
            }
        }
    }
    ($out -join "`n") + "`n"
}
