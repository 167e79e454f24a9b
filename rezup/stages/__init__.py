"""Stages of the pipeline: Recipe -> Plan -> Build -> Revision, and what is on disk.

``recipe_model`` -> ``plan`` -> ``wheelhouse`` -> ``build``: each knows only the stages before
it. ``disk_state`` reads what is on disk; ``cleanup`` removes safely.
"""
