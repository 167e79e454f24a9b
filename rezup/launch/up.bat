@echo off
rem rezup: started by `cmd /K` for an interactive rezup session; prefix the prompt.
if not defined PROMPT set "PROMPT=$P$G"
set "PROMPT=%REZUP_PROMPT%%PROMPT%"
