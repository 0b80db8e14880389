"""The cost of one gradient against the number of examples in it (FIGURES.md F37).

    python -m experiments.bench.gradient_cost            # m = 10 ... 60 000
    python -m experiments.bench.gradient_cost --quick    # m = 10, 100, 1000

Deck 004 "Mini-batches": "n = 60,000, m = 10 => 6,000x speedup" and "The update cost is
constant regardless of the size of T".  The workload (FIGURES.md F37) is
:func:`experiments.lectures.timing.gradient_times`, which figure F37 also draws: the
jitted gradient of a softmax regression of MNIST's shape on m examples, the median of
``--repeats`` calls after a compile.  This script prints it as a table.  What it
measured: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse

import jax

from experiments.lectures.timing import GradientTime as Row
from experiments.lectures.timing import gradient_times as measure


def format_table(rows: list[Row]) -> str:
    smallest = rows[0]
    header = f"{'m':>8} {'ms':>10} {'x time of m=' + str(smallest.examples):>16} {'x flops':>9}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row.examples:8d} {row.seconds * 1e3:10.4f} "
                     f"{row.seconds / smallest.seconds:16.1f} {row.examples / smallest.examples:9.0f}")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10_000, 60_000],
                        help="numbers of examples m")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per size")
    parser.add_argument("--quick", action="store_true", help="a smoke run: m = 10, 100, 1000")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = [10, 100, 1000], 5
    if args.repeats < 1 or any(m < 1 for m in args.sizes):
        parser.error("--repeats and every size must be >= 1")
    return args


def main(argv=None) -> list[Row]:
    args = parse_args(argv)
    rows = measure(sizes=args.sizes, repeats=args.repeats)
    print(f"softmax-regression gradient (784 x 10 and a bias), float32, jax {jax.__version__} "
          f"({jax.devices()[0].platform}); median of {args.repeats} calls after compile\n")
    print(format_table(rows))
    print("\ndeck 004: n = 60,000, m = 10 => 6,000x (the flop ratio); FIGURES.md measured 2970x")
    return rows


if __name__ == "__main__":
    main()
