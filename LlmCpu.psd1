@{
    RootModule           = 'LlmCpu.Module.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '5d0c9a3e-8f4b-4f7e-9c61-2b7f3f0a8e14'
    Author               = 'LlmCpu contributors'
    CompanyName          = 'LlmCpu'
    Copyright            = '(c) LlmCpu contributors. MIT License.'
    Description          = 'Runs large language models fast on ordinary CPUs: INT4 weights, higher-precision activations, kernels per instruction set.'
    PowerShellVersion    = '7.6'
    CompatiblePSEditions = @('Core')
    CmdletsToExport      = @(
        'Import-Model'
        'Invoke-Generation'
        'ConvertTo-Int4Model'
        'New-SyntheticModel'
        'ConvertTo-Gguf'
        'Remove-Model'
        'Measure-TokenLatency'
        'Measure-Perplexity'
        'New-ChatSession'
        'Remove-ChatSession'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    # Llm-prefixed names for every cmdlet, for sessions where another module also has an Import-Model
    # (about_LlmCpu, "Names").
    AliasesToExport      = @(
        'Import-LlmModel'
        'Invoke-LlmGeneration'
        'ConvertTo-LlmInt4Model'
        'New-LlmSyntheticModel'
        'ConvertTo-LlmGguf'
        'Remove-LlmModel'
        'Measure-LlmTokenLatency'
        'Measure-LlmPerplexity'
        'New-LlmChatSession'
        'Remove-LlmChatSession'
    )
    FormatsToProcess     = @('LlmCpu.Format.ps1xml')
    TypesToProcess       = @('LlmCpu.Types.ps1xml')
    PrivateData          = @{
        PSData = @{
            Tags       = @('LLM', 'Inference', 'INT4', 'Quantization', 'CPU', 'Llama')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
