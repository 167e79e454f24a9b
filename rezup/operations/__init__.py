"""Operations: one module per command, on top of the stages.

Each is what the command line calls and what a Python user of the API would call too: it
takes names and options, and returns data (a revision, a plan, a status), printing nothing
but log lines.
"""
