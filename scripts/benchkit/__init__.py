"""The parts of ``scripts/bench.py``, rezup's benchmark harness (standard library only).

* ``util``: small helpers shared by the others (paths, quiet commands, error lines).
* ``workspace``: the temporary folder, the commands measured (rezup, uv, GNU time) and the
  environment every run starts from.
* ``cases``: what is measured: recipes, the untimed setup of homes, roots and fake revisions,
  the command builders of each case (rezup, the bare-uv floor, the original rezup 2.x).
* ``runner``: how it is measured: the timing wrapper, one run with a timeout, warm-ups and
  the interleaved rounds.
* ``report``: rows, goals and verdicts, the text and Markdown reports, machine details.

Named ``benchkit``, not ``bench``: running ``scripts/bench.py`` puts ``scripts/`` first on
``sys.path``, where a package named ``bench`` would be shadowed by the script itself.
"""
