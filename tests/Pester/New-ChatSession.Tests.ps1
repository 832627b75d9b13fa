BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:model = Import-Model
    $script:greedy = @{ MaxTokens = 6; Temperature = 0 }
}

AfterAll {
    $model | Remove-Model
}

Describe 'New-ChatSession' {
    It 'starts a session that runs only each turn''s new tokens' {
        $s = $model | New-ChatSession -Template ChatML -SystemPrompt 'You are Miss Bennet.'
        try {
            $first = Invoke-Generation -Session $s -Prompt 'It is a truth universally acknowledged' @greedy
            $second = Invoke-Generation -Session $s -Prompt 'Mr. Darcy' @greedy
            $first.CachedTokens | Should -Be 0
            # The first reply's last token was sampled at the token limit and not run yet: it is run in the second turn.
            $second.CachedTokens | Should -Be ($first.PromptTokens + $first.GeneratedTokens - 1)
            $second.PromptTokens | Should -BeLessThan $first.PromptTokens
            $s.Turns | Should -Be 2
            $s.TokenCount | Should -Be ($second.CachedTokens + $second.PromptTokens + $second.GeneratedTokens)
            $s.Messages.Role | Should -Be @('System', 'User', 'Assistant', 'User', 'Assistant')
            $s.Messages[3].Content | Should -BeExactly 'Mr. Darcy'
        }
        finally { $s | Remove-ChatSession }
    }

    It 'is shown as a row with the model, format, turns and context used' {
        $s = New-ChatSession $model -Template Llama3
        try {
            $text = $s | Out-String
            $text | Should -Match 'austen-llama\s+Llama3\s+0\s+0 / 256 tokens'
            $text | Should -Match 'Open'
        }
        finally { Remove-ChatSession $s }
    }

    It 'recognises the template a Hugging Face folder and its GGUF carry' {
        $folder = Join-Path $TestDrive 'zephyr'
        Copy-Item -Recurse $model.Path $folder
        $zephyr = "{% for message in messages %}`n{% if message['role'] == 'user' %}`n{{ '<|user|>`n' + message['content'] + eos_token }}`n{% elif message['role'] == 'assistant' %}`n{{ '<|assistant|>`n'  + message['content'] + eos_token }}`n{% endif %}`n{% if loop.last and add_generation_prompt %}`n{{ '<|assistant|>' }}`n{% endif %}`n{% endfor %}"
        @{ chat_template = $zephyr } | ConvertTo-Json | Set-Content (Join-Path $folder 'tokenizer_config.json')
        $m = Import-Model $folder
        $gguf = $m | ConvertTo-Gguf (Join-Path $TestDrive 'zephyr.gguf') -Type F16
        $g = Import-Model $gguf.FullName
        try {
            foreach ($source in $m, $g) {
                $s = $source | New-ChatSession
                $s.Template | Should -Be 'Zephyr'
                $s.TemplateFromModel | Should -BeTrue
                Remove-ChatSession $s
            }
        }
        finally { $m, $g | Remove-Model }
    }

    It 'keeps a conversation''s record through Export-Clixml' {
        $s = $model | New-ChatSession -Template Mistral
        try {
            $null = Invoke-Generation -Session $s -Prompt 'She was not' @greedy
            $path = Join-Path $TestDrive 'chat.xml'
            $s | Export-Clixml $path
            $back = Import-Clixml $path
            $back.Template | Should -Be 'Mistral'
            $back.Turns | Should -Be 1
            $back.Messages[0].Role | Should -Be 'User'
            $back.Messages[0].Content | Should -BeExactly 'She was not'
            ($back | Out-String) | Should -Match 'Mistral'
        }
        finally { Remove-ChatSession $s }
    }

    Context 'a model with named chat templates' {
        BeforeAll {
            # A Hugging Face folder whose tokenizer_config.json lists its templates by name, as Hermes models do.
            $script:named = Join-Path $TestDrive 'hermes'
            Copy-Item -Recurse $model.Path $named
            $chatML = "{{bos_token}}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
            $toolUse = "{{- bos_token }}{{- '<|im_start|>system\nYou call functions. <tools> ' }}{% for tool in tools %}{{ tool | tojson }}{% endfor %}{{- ' </tools><|im_end|>\n' }}{%- for message in messages %}{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
            @{ chat_template = @(@{ name = 'default'; template = $chatML }, @{ name = 'tool_use'; template = $toolUse }) } |
                ConvertTo-Json -Depth 3 | Set-Content (Join-Path $named 'tokenizer_config.json')
            $script:hermes = Import-Model $named
        }

        AfterAll { $hermes | Remove-Model }

        It 'recognises the template -TemplateName <Name> names' -ForEach @(
            @{ Name = 'default' }
            @{ Name = 'tool_use' }
        ) {
            $s = $hermes | New-ChatSession -TemplateName $Name
            try {
                $s.TemplateName | Should -Be $Name
                $s.Template | Should -Be 'ChatML'
                $s.TemplateFromModel | Should -BeTrue
                (Invoke-Generation -Session $s -Prompt 'Mr. Darcy' @greedy).GeneratedTokens | Should -Be 6
            }
            finally { Remove-ChatSession $s }
        }

        It 'reports a name the model does not carry as ChatTemplateNotFound, naming the ones it does' {
            { $hermes | New-ChatSession -TemplateName rag -ErrorAction Stop } |
                Should -Throw -ErrorId 'ChatTemplateNotFound,LlmCpu.Module.Commands.NewChatSessionCommand'
            $err = $null
            $hermes | New-ChatSession -TemplateName rag -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $err[0].Exception.Message | Should -Match "'default', 'tool_use'"
        }

        It 'does not take -TemplateName with -Template' {
            { $hermes | New-ChatSession -TemplateName tool_use -Template ChatML } |
                Should -Throw -ErrorId 'AmbiguousParameterSet,LlmCpu.Module.Commands.NewChatSessionCommand'
        }
    }

    It 'completes -Template with the format names' {
        $line = 'New-ChatSession -Template '
        (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Sort-Object |
            Should -Be @('ChatML', 'Llama2', 'Llama3', 'Mistral', 'Zephyr')
    }

    It 'asks for -Template when the model carries none (ChatTemplateUnknown)' {
        { $model | New-ChatSession -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChatTemplateUnknown,LlmCpu.Module.Commands.NewChatSessionCommand'
        $err = $null
        $model | New-ChatSession -ErrorAction SilentlyContinue -ErrorVariable err
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'refuses a template name it does not know' {
        { $model | New-ChatSession -Template Gemma } |
            Should -Throw -ErrorId 'CannotConvertArgumentNoMessage,LlmCpu.Module.Commands.NewChatSessionCommand'
    }

    It 'refuses a removed model (ModelDisposed)' {
        $m = Import-Model
        $m | Remove-Model
        { $m | New-ChatSession -Template ChatML -ErrorAction Stop } |
            Should -Throw -ErrorId 'ModelDisposed,LlmCpu.Module.Commands.NewChatSessionCommand'
    }

    It 'reports a message that does not fit (ChatContextFull) and stays usable' {
        $s = $model | New-ChatSession -Template ChatML
        try {
            $err = $null
            Invoke-Generation -Session $s -Prompt ('word ' * 400) -MaxTokens 1 -ErrorAction SilentlyContinue -ErrorVariable err
            $err[0].FullyQualifiedErrorId | Should -Be 'ChatContextFull,LlmCpu.Module.Commands.InvokeGenerationCommand'
            $err[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
            $err[0].Exception.Message | Should -Match 'holds 0 tokens and this message needs \d+ more, but its capacity is 256'
            (Invoke-Generation -Session $s -Prompt 'Mr. Darcy' @greedy).GeneratedTokens | Should -Be 6
        }
        finally { Remove-ChatSession $s }
    }

    It 'answers to New-LlmChatSession' {
        (Get-Alias New-LlmChatSession).ResolvedCommandName | Should -Be 'New-ChatSession'
    }
}
