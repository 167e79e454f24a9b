# rezup: read through $ENV by an interactive POSIX sh (dash, ksh, ...) in a rezup session.
if [ -n "${REZUP_ORIG_ENV-}" ]; then
    ENV="$REZUP_ORIG_ENV"
    unset REZUP_ORIG_ENV
    if [ -f "$ENV" ]; then
        . "$ENV"
    fi
else
    unset ENV
fi
PS1="${REZUP_PROMPT-}${PS1-\$ }"
