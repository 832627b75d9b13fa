# What the doc examples need beyond the bundled model, keyed '<page>/<example title up to the colon>'.
#   Setup: PowerShell run first in the example's empty working folder (the module is imported; $bundled is the
#          bundled model's folder). Skip: the reason the example cannot run in CI.
@{
    'Import-Model/Example 2'        = @{ Skip = 'needs a Hugging Face TinyLlama-1.1B-Chat folder (2.2 GB download)' }
    'Import-Model/Example 4'        = @{ Setup = 'foreach ($name in ''first'', ''second'') { Copy-Item -Recurse $bundled (Join-Path ./models $name) }' }
    # A random-weight file with the exact shapes and types of the named llama.cpp file stands in for it.
    'Import-Model/Example 5'        = @{ Setup = 'New-SyntheticModel TinyLlama-1.1B ./tinyllama-1.1b-chat.Q4_0.gguf -Format GgufQ4_0 | Out-Null' }
    'Invoke-Generation/Example 3'   = @{ Setup = '''Prompt'', ''She was not'', ''Mr. Darcy'' | Set-Content prompts.csv' }
    'ConvertTo-Int4Model/Example 2' = @{ Skip = 'needs a Hugging Face TinyLlama-1.1B folder (2.2 GB download) and held-out text' }
    'ConvertTo-Int4Model/Example 3' = @{ Setup = 'Copy-Item -Recurse $bundled ./model' }
    'New-SyntheticModel/Example 3'  = @{ Skip = 'writes a 3.9 GB Llama-2-7B-shaped file' }
}
