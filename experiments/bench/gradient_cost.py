"""The cost of one gradient against the number of examples in it (FIGURES.md F37).

    python -m experiments.bench.gradient_cost            # m = 10 ... 60 000
    python -m experiments.bench.gradient_cost --quick    # m = 10, 100, 1000

Deck 004 "Mini-batches": "n = 60,000, m = 10 => 6,000x speedup" and "The update cost is
constant regardless of the size of T".  The workload: the gradient of the mean softmax
cross-entropy of a softmax regression (MNIST's shape: 784 inputs, 10 classes, weights
and a bias) on m Gaussian examples (drawn by NumPy: nothing but the gradient compiles), jitted and compiled first; the time is the median
of ``--repeats`` calls.  Timings are printed, never asserted.

Findings (FIGURES.md F37, 2-core CPU): 26.6 us (m = 10), 165 us (100), 1.10 ms (1000),
12.6 ms (10 000) and 78.9 ms (60 000).  The full/mini ratio is 2970x against the flop
ratio of 6000x: a small gradient pays a fixed overhead, and the time is linear in m
above m ~ 1000.
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
