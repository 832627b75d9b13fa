# What the doc examples need beyond the bundled model, keyed '<page>/<example title up to the colon>', or for
# about_LlmCpu '<section> <n>' (its n-th code block in that section).
#   Setup: PowerShell run first in the example's empty working folder (the module is imported; $bundled is the
#          bundled model's folder). Skip: the reason the example cannot run in CI.
@{
    'Import-Model/Example 2'        = @{ Skip = 'needs a Hugging Face TinyLlama-1.1B-Chat folder (2.2 GB download)' }
    'Import-Model/Example 4'        = @{ Setup = 'foreach ($name in ''first'', ''second'') { Copy-Item -Recurse $bundled (Join-Path ./models $name) }' }
    'Import-Model/Example 5'        = @{ Skip = 'needs a Llama-2-7B-shaped GGUF file (about 4 GB)' }
    # A random-weight file with the exact shapes and types of the named llama.cpp file stands in for it.
    'Import-Model/Example 6'        = @{ Setup = 'New-SyntheticModel TinyLlama-1.1B ./tinyllama-1.1b-chat.Q4_0.gguf -Format GgufQ4_0 | Out-Null' }
    'Invoke-Generation/Example 3'   = @{ Setup = '''Prompt'', ''She was not'', ''Mr. Darcy'' | Set-Content prompts.csv' }
    'ConvertTo-Int4Model/Example 2' = @{ Skip = 'needs a Hugging Face TinyLlama-1.1B folder (2.2 GB download) and held-out text' }
    # Calibration: the built-in sample (Pride and Prejudice); held out: the opening of Persuasion.
    'ConvertTo-Int4Model/Example 3' = @{ Setup = 'Copy-Item -Recurse $bundled ./model; [LlmCpu.Engine.Quantization.CalibrationText]::BuiltIn.Text | Set-Content ./calibration.txt; Copy-Item (Join-Path $repoRoot ''tests/Unit/TestData/persuasion-opening.txt'') ./heldout.txt' }
    'ConvertTo-Int4Model/Example 4' = @{ Skip = 'converts and measures the model up to 24 times (minutes); tests/Pester/ConvertTo-Int4Model.Tests.ps1 runs Auto on a fixed group size' }
    # The built-in sample holds fewer than the 16,384 tokens asked for: it is used whole, with a warning.
    'ConvertTo-Int4Model/Example 5' = @{ Setup = 'Copy-Item -Recurse $bundled ./model; [LlmCpu.Engine.Quantization.CalibrationText]::BuiltIn.Text | Set-Content ./calibration.txt' }
    'ConvertTo-Int4Model/Example 6' = @{ Setup = 'Copy-Item -Recurse $bundled ./model' }
    # Held-out text: the opening of Persuasion that the unit tests measure.
    'Measure-Perplexity/Example 2'  = @{ Setup = '$null = New-Item -ItemType Directory ./heldout; $lines = Get-Content (Join-Path $repoRoot ''tests/Unit/TestData/persuasion-opening.txt''); Set-Content ./heldout/part1.txt -Value $lines[0..7]; Set-Content ./heldout/part2.txt -Value $lines[8..15]' }
    'Measure-Perplexity/Example 3'  = @{ Setup = 'Copy-Item (Join-Path $repoRoot ''tests/Unit/TestData/persuasion-opening.txt'') ./persuasion.txt' }
    'Measure-Perplexity/Example 4'  = @{ Skip = 'needs GGUF files made by llama.cpp''s converter and llama-quantize (tools/perplexity-vs-llama.sh makes them)' }
    'New-ChatSession/Example 2'     = @{ Skip = 'needs a Hugging Face folder whose tokenizer_config.json lists named chat templates (Hermes-2-Pro-Llama-3-8B, 16 GB)' }
    'New-SyntheticModel/Example 3'  = @{ Skip = 'writes a 3.9 GB Llama-2-7B-shaped file' }
    'New-SyntheticModel/Example 4'  = @{ Skip = 'writes a 0.8 GB Pythia-1.4B-shaped file and times it for a minute' }
    'about_LlmCpu/Running without pwsh 1' = @{ Setup = 'Set-Content nightly-check.ps1 -Value ''param([int] $Threshold)'', ''if ((Import-Model | Invoke-Generation -Prompt Mr. -MaxTokens 8).GeneratedTokens -lt 1) { exit 1 }''' }
    'about_LlmCpu/Objects 1'        = @{ Skip = 'needs three machines reachable over SSH with LlmCpu installed; tools/Test-Remoting.ps1 runs the same on localhost' }
    # The example assumes the module is installed: its folder goes on PSModulePath, where the runspaces look by name.
    'about_LlmCpu/Objects 2'        = @{ Setup = '$env:PSModulePath = (Split-Path (Get-Module LlmCpu).ModuleBase) + [System.IO.Path]::PathSeparator + $env:PSModulePath' }
}
