"""Batch size and the time of an epoch of SGD (FIGURES.md F35; deck 002 "Speed").

    python -m experiments.bench.batch_size_time            # 50 000 x 784, MLP 784-500-500-10
    python -m experiments.bench.batch_size_time --quick    # 2 000 examples, MLP 784-64-64-10

Deck 002 trains on 50 000 examples: "batch size = 1, 50000 updates in one epoch: 166s;
batch size = 10, 5000 updates in one epoch: 17s" (9.8x).  The workload (FIGURES.md F35)
is :func:`experiments.lectures.timing.epoch_times`, which figure F35 also draws: SGD on
an MLP 784-500-500-10, each batch size's epoch compiled ahead of time, run once to warm
up, then timed (the median of ``--repeats`` epochs).  This script prints it as a table.
What it measured: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse

import jax

from experiments.lectures.timing import EpochTime as Row
from experiments.lectures.timing import epoch_times as measure


def format_table(rows: list[Row]) -> str:
    header = f"{'batch':>6} {'updates':>8} {'s / epoch':>10} {'us / update':>12} {'compile s':>10}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row.batch_size:6d} {row.updates:8d} {row.epoch_seconds:10.3f} "
                     f"{row.update_seconds * 1e6:12.1f} {row.compile_seconds:10.2f}")
    by_size = {row.batch_size: row for row in rows}
    if 1 in by_size and 10 in by_size:
        lines.append(f"epoch time B=1 / B=10: {by_size[1].epoch_seconds / by_size[10].epoch_seconds:.1f}x"
                     f" (deck 002: 166 s / 17 s = 9.8x)")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=50_000, help="examples per epoch")
    parser.add_argument("--hidden", type=int, nargs="+", default=[500, 500], help="hidden widths")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=1, help="timed epochs per batch size")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 000 examples, hidden widths 64, 64")
    args = parser.parse_args(argv)
    if args.quick:
        args.examples, args.hidden, args.repeats = 2_000, [64, 64], 3
    if args.repeats < 1 or any(b < 1 or b > args.examples for b in args.batch_sizes):
        parser.error("--repeats must be >= 1 and every batch size in [1, --examples]")
    return args


def main(argv=None) -> list[Row]:
    args = parse_args(argv)
    rows = measure(n=args.examples, hidden=args.hidden, batch_sizes=args.batch_sizes,
                   repeats=args.repeats)
    print(f"SGD epoch time: {args.examples:,} x 784 Gaussian inputs, MLP "
          f"784-{'-'.join(map(str, args.hidden))}-10, float32, jax {jax.__version__} "
          f"({jax.devices()[0].platform}); median of {args.repeats} epoch(s) after compile "
          f"and one warm-up epoch\n")
    print(format_table(rows))
    return rows


if __name__ == "__main__":
    main()
