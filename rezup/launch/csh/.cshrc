# rezup: csh/tcsh in a rezup session start with HOME pointing here. Put HOME back, run the
# user's own rc file, then prefix the prompt.
setenv HOME "$REZUP_ORIG_HOME"
set home="$REZUP_ORIG_HOME"
unsetenv REZUP_ORIG_HOME
if ( -f "$home/.tcshrc" ) then
    source "$home/.tcshrc"
else if ( -f "$home/.cshrc" ) then
    source "$home/.cshrc"
endif
if ( ! $?prompt ) set prompt="% "
if ( $?REZUP_PROMPT ) then
    set prompt="${REZUP_PROMPT}${prompt}"
endif
