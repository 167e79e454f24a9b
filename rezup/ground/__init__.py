"""Ground: names and paths, roots, ``revision.json``, the use rule, safe writes, errors.

The lowest layer: it imports nothing else of rezup. ``paths``, ``root_settings``,
``revision_json``, ``newest`` and ``upgrade_check`` are on the ``rezup use`` start-up path:
they import only ``os`` at module level and work with ``str`` paths.
"""
