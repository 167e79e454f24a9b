"""Stages of the pipeline: Recipe -> Plan -> Build -> Revision, and what is on disk.

``recipe_loading`` -> ``resolve`` (a ``plan``) -> ``build`` (in a ``build_site``, through
``venv_install``, or as a ``clone``) -> a ready revision; ``remote_publish`` for a remote one.
Each knows only the stages before it. ``disk_state`` reads what is on disk; ``cleanup``
removes safely. docs/architecture.md has the order of the modules.
"""
