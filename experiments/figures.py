"""Render the lectures' figures to PNG files, without Jupyter.

    python -m experiments.figures                          # every figure, as figures/Fn.png
    python -m experiments.figures --only F1,F16 --fast     # some, with small step counts and grids
    python -m experiments.figures --out docs --dpi 60      # elsewhere, at another resolution

Run from the repository's root (the figures' code is ``experiments/lectures``, which the
installed ``jopt`` package does not contain).  ``--fast`` is ``JOPT_FAST=1``, the mode
the test suite and the notebooks' CI use.  Bad options: one line on stderr, exit status 2,
nothing written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from experiments.lectures import figures  # imports no lecture module yet: --fast comes first

PROG = "python -m experiments.figures"


def parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(prog=PROG, description="Render the lectures' figures "
                                      "(docs/FIGURES.md, ids F1-F49) to PNG files.")
    options.add_argument("--out", default="figures", metavar="DIR",
                         help="folder for the PNG files, one per id (default: figures)")
    options.add_argument("--only", metavar="IDS",
                         help="comma-separated figure ids, e.g. F1,F16 (default: all)")
    options.add_argument("--fast", action="store_true",
                         help="small step counts and grids (as JOPT_FAST=1)")
    options.add_argument("--dpi", type=int, default=110, help="resolution (default: 110)")
    return options


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Render the figures asked for by ``argv`` (default ``sys.argv[1:]``); the exit status."""
    args = parser().parse_args(argv)
    if args.dpi <= 0:
        return error(f"--dpi must be positive, got {args.dpi}")
    if args.fast:
        os.environ["JOPT_FAST"] = "1"  # read when the lecture modules are imported
    try:
        ids = figures.parse_ids(args.only, figures.registry())
    except ValueError as problem:
        return error(problem)
    figures.render(ids, Path(args.out), dpi=args.dpi)
    return 0


def error(message) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
