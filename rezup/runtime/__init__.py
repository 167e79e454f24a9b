"""Runtime: the environment of a session and launching its command, script or shell."""
