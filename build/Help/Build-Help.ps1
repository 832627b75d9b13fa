<#
.SYNOPSIS
    Generates the module's help files from docs/: MAML for the cmdlets and the about_ topics as text.
.DESCRIPTION
    Writes <OutputPath>/LlmCpu.Module.dll-Help.xml from every docs/<Verb>-<Noun>.md page and
    <OutputPath>/about_<Name>.help.txt from every docs/about_<Name>.md, and returns the files written.
    build.ps1 -Task Docs runs it into src/Module/en-US, where the generated files are committed: a plain
    `dotnet build` (no PowerShell at build time) then ships them. tests/Pester/Help.Tests.ps1 runs it into a temporary
    folder and fails when the result differs from the committed files.
#>
param(
    [string] $DocsPath = [System.IO.Path]::Combine($PSScriptRoot, '..', '..', 'docs'),
    [Parameter(Mandatory)] [string] $OutputPath
)

$ErrorActionPreference = 'Stop'
. ([System.IO.Path]::Combine($PSScriptRoot, 'MarkdownHelp.ps1'))
. ([System.IO.Path]::Combine($PSScriptRoot, 'MamlHelp.ps1'))
. ([System.IO.Path]::Combine($PSScriptRoot, 'AboutHelp.ps1'))

$utf8 = [System.Text.UTF8Encoding]::new($false)
[System.IO.Directory]::CreateDirectory($OutputPath) | Out-Null
# Cmdlet pages are named Verb-Noun.md, capitalized; other pages (file-format.md, about_*.md) are not cmdlet help.
# Ordinal order, the same on every machine and culture, so the generated file is too.
function Get-SortedFile([string] $Filter) {
    $files = [System.IO.Directory]::GetFiles($DocsPath, $Filter)
    [Array]::Sort($files, [StringComparer]::Ordinal)
    $files
}
$pages = Get-SortedFile '*.md' |
    Where-Object { [System.IO.Path]::GetFileName($_) -cmatch '^[A-Z][A-Za-z]+-[A-Z][A-Za-z0-9]*\.md$' }
$help = foreach ($page in $pages) { ConvertFrom-MarkdownHelp $page }
$maml = [System.IO.Path]::Combine($OutputPath, 'LlmCpu.Module.dll-Help.xml')
[System.IO.File]::WriteAllText($maml, (ConvertTo-MamlHelp $help), $utf8)
[System.IO.FileInfo]::new($maml)

foreach ($about in Get-SortedFile 'about_*.md') {
    $name = [System.IO.Path]::GetFileNameWithoutExtension($about)
    $text = [System.IO.Path]::Combine($OutputPath, "$name.help.txt")
    [System.IO.File]::WriteAllText($text, (ConvertTo-AboutHelpText $about), $utf8)
    [System.IO.FileInfo]::new($text)
}
