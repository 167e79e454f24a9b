# rezup: interactive zsh in a rezup session: put ZDOTDIR back, run the user's .zshrc, set the prompt.
if [ -n "${REZUP_ORIG_ZDOTDIR+x}" ]; then
    ZDOTDIR="$REZUP_ORIG_ZDOTDIR"
    unset REZUP_ORIG_ZDOTDIR
else
    unset ZDOTDIR
fi
if [ -f "${ZDOTDIR:-$HOME}/.zshrc" ]; then
    . "${ZDOTDIR:-$HOME}/.zshrc"
fi
PROMPT="${REZUP_PROMPT-}${PROMPT}"
