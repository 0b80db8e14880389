"""Run the benchmarks: ``python -m experiments.bench [--quick] [NAME ...]``.

    python -m experiments.bench                      # every benchmark (tens of minutes)
    python -m experiments.bench --quick              # each as a small smoke run
    python -m experiments.bench update_speed         # one (the name of its module)
    python -m experiments.bench.update_speed --help  # one, with its own options

Each benchmark runs in its own process (``python -m experiments.bench.NAME``: some set
``XLA_FLAGS`` before JAX starts), from the repository's root.  Unknown names: one line
on stderr, exit status 2.  What the benchmarks measured is in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

PROG = "python -m experiments.bench"
FOLDER = Path(__file__).resolve().parent
ROOT = FOLDER.parents[1]


def names() -> list[str]:
    """The benchmarks: the modules of this package, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules([str(FOLDER)])
                  if not m.name.startswith("_"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmarks asked for by ``argv`` one after another; the exit status."""
    options = argparse.ArgumentParser(prog=PROG, description="Run jopt's benchmarks (each "
                                      "prints times and ratios; docs/benchmarks.md has results).")
    options.add_argument("--quick", action="store_true", help="small, fast runs")
    options.add_argument("names", nargs="*", metavar="NAME",
                         help=f"benchmarks to run (default: all): {', '.join(names())}")
    args = options.parse_args(argv)
    unknown = [name for name in args.names if name not in names()]
    if unknown:
        print(f"{PROG}: error: unknown benchmark {unknown[0]!r}; known: {', '.join(names())}",
              file=sys.stderr)
        return 2
    failed = []
    for name in args.names or names():
        print(f"== {name}{' --quick' if args.quick else ''}", flush=True)
        command = [sys.executable, "-m", f"experiments.bench.{name}",
                   *(["--quick"] if args.quick else [])]
        status = subprocess.call(command, cwd=ROOT)
        if status != 0:
            failed.append(f"{name} (exit status {status})")
    if failed:
        print(f"{PROG}: benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
