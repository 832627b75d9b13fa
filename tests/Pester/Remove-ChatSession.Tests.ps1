BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    $script:model = Import-Model
}

AfterAll {
    $model | Remove-Model
}

Describe 'Remove-ChatSession' {
    It 'releases a session; a later turn is ChatSessionDisposed and the messages stay readable' {
        $s = $model | New-ChatSession -Template Zephyr
        $null = Invoke-Generation -Session $s -Prompt 'Mr. Darcy' -MaxTokens 3
        $s | Remove-ChatSession
        $s.IsDisposed | Should -BeTrue
        $s.Messages.Count | Should -Be 2
        { Invoke-Generation -Session $s -Prompt 'x' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChatSessionDisposed,LlmCpu.Module.Commands.InvokeGenerationCommand'
        ($s | Out-String) | Should -Match 'Removed'
    }

    It 'does nothing the second time' {
        $s = $model | New-ChatSession -Template ChatML
        Remove-ChatSession $s
        { Remove-ChatSession $s -ErrorAction Stop } | Should -Not -Throw
        $s.IsDisposed | Should -BeTrue
    }

    It 'removes every session given and leaves others alone' {
        $a, $b, $keep = 1..3 | ForEach-Object { $model | New-ChatSession -Template ChatML }
        $a, $b | Remove-ChatSession
        $a.IsDisposed, $b.IsDisposed, $keep.IsDisposed | Should -Be @($true, $true, $false)
        (Invoke-Generation -Session $keep -Prompt 'She was not' -MaxTokens 2).GeneratedTokens | Should -BeGreaterThan 0
        $keep.Dispose()
        $keep.IsDisposed | Should -BeTrue
    }

    It 'keeps the session with -WhatIf' {
        $s = $model | New-ChatSession -Template ChatML
        $s | Remove-ChatSession -WhatIf
        $s.IsDisposed | Should -BeFalse
        $s.Dispose()
    }

    It 'refuses a null session' {
        { Remove-ChatSession -Session $null } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,LlmCpu.Module.Commands.RemoveChatSessionCommand'
    }

    It 'answers to Remove-LlmChatSession' {
        (Get-Alias Remove-LlmChatSession).ResolvedCommandName | Should -Be 'Remove-ChatSession'
    }
}
