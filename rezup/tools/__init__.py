"""Tools: every uv command line, build locks, production scripts, pip settings, credentials."""
