<#
.SYNOPSIS
    Converts the bundled model with each INT4 recipe, group size and symmetry, measures each file against the
    unquantized model on held-out text, and prints the Markdown table docs/quantization.md shows.
.EXAMPLE
    tools/fixture-model/prepare_data.sh /tmp/fixture-work
    dotnet pwsh -File tools/recipe-table.ps1 -Text /tmp/fixture-work/book_Persuasion_para.txt
#>
param(
    # Held-out text: Persuasion, one paragraph per line (tools/fixture-model/prepare_data.sh writes it).
    [string] $Text = '/tmp/fixture-work/book_Persuasion_para.txt',
    # Bytes measured from the start of the text, cut back to the last whole paragraph (as docs/quantization.md's first table).
    [int] $Bytes = 32768,
    [int] $ContextLength = 256,
    [int] $Threads = 2,
    [string[]] $Recipe = @('RoundToNearest', 'MinimizeError', 'Gptq', 'Awq'),
    [string[]] $GroupSize = @('32', '64', '128'),
    # The output projection's precision for every conversion: Int4 (the converter's default), Int8 or Float16.
    [ValidateSet('Int4', 'Int8', 'Float16')] [string] $OutputProjection = 'Int4',
    # Which rows of each group size: without zero points, with them, or both.
    [ValidateSet('Both', 'Symmetric', 'Asymmetric')]
    [string] $Symmetry = 'Both',
    # GPTQ in activation order (ConvertTo-Int4Model -ActivationOrder); the other recipes ignore it.
    [switch] $ActivationOrder,
    [string] $Module = "$PSScriptRoot/../tests/Unit/bin/Release/net10.0/Modules/LlmCpu/LlmCpu.psd1",
    [string] $WorkFolder = (Join-Path ([IO.Path]::GetTempPath()) 'llmcpu-recipe-table')
)
$ErrorActionPreference = 'Stop'
# pwsh -File passes a list as one string.
$Recipe = $Recipe -split ','
$GroupSize = [int[]]($GroupSize -split ',')
Import-Module $Module
New-Item -ItemType Directory -Force $WorkFolder | Out-Null
$raw = [IO.File]::ReadAllText($Text)
$cut = $raw.Substring(0, [Math]::Min($Bytes, $raw.Length))
$cut = $cut.Substring(0, $cut.LastIndexOf("`n") + 1)
$heldOut = Join-Path $WorkFolder 'heldout.txt'
[IO.File]::WriteAllText($heldOut, $cut)
$fixture = "$PSScriptRoot/../fixtures/austen-llama"
$f16 = Import-Model $fixture
$base = $f16 | Measure-Perplexity -Path $heldOut -ContextLength $ContextLength -Threads $Threads
"Held-out: $($cut.Length) bytes, $($base.TextTokens) tokens, $($base.Windows) windows of $ContextLength; F16 perplexity $($base.Perplexity.ToString('F4'))"
''
'| recipe | group | zero point | bits per weight | perplexity | vs F16 | KLD | same top | conversion (s) |'
'| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |'
foreach ($g in $GroupSize) {
    foreach ($asym in @{ Both = @($false, $true); Symmetric = @($false); Asymmetric = @($true) }[$Symmetry]) {
        foreach ($r in $Recipe) {
            $file = Join-Path $WorkFolder "$r-g$g-$(if ($asym) { 'asym' } else { 'sym' })$(if ($ActivationOrder) { '-actorder' }).llmc"
            $c = ConvertTo-Int4Model -Path $fixture -Destination $file -GroupSize $g -Asymmetric:$asym -Recipe $r -OutputProjection $OutputProjection -ActivationOrder:$ActivationOrder -Force
            $m = Import-Model $file
            $p = $m | Measure-Perplexity -Path $heldOut -ContextLength $ContextLength -Reference $f16 -Threads $Threads
            $name = if ($ActivationOrder -and $r -eq 'Gptq') { 'Gptq, activation order' } else { $r }
            '| {0} | {1} | {2} | {3:F3} | {4:F4} | {5:+0.00%;-0.00%} | {6:F6} | {7:0.00%} | {8:F1} |' -f $name, $g, $(if ($asym) { 'yes' } else { 'no' }),
                $c.BitsPerWeight, $p.Perplexity, ($p.Perplexity / $base.Perplexity - 1), $p.KLDivergence, $p.SameTopTokenRate, $c.Duration.TotalSeconds
            $m.Dispose()
        }
    }
}
