# rezup: started by PowerShell -NoExit for an interactive rezup session; prefix the prompt.
$global:_RezupOriginalPrompt = $function:prompt
function global:prompt {
    Write-Host -NoNewline $env:REZUP_PROMPT
    & $global:_RezupOriginalPrompt
}
