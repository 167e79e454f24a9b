# rezup: zsh reads this first because rezup pointed ZDOTDIR here; run the user's own file.
if [ -f "${REZUP_ORIG_ZDOTDIR:-$HOME}/.zshenv" ]; then
    . "${REZUP_ORIG_ZDOTDIR:-$HOME}/.zshenv"
fi
