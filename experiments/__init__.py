"""The repository's scripts on top of jopt's public API (not part of the installed package).

Run from the clone's root: ``python -m experiments.figures`` (the lecture figures, from
the setups in ``lectures/``), ``python -m experiments.bench`` (the benchmarks in
``bench/``; their results are in ``docs/benchmarks.md``) and
``python experiments/compare_optimizers.py`` (every optimizer on three test problems).
"""
