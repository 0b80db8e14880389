"""A grid larger than memory: 100,000 configurations of the reference MLP run in slices.

    python -m experiments.bench.sweep_memory          # 100,000 configs, 10 steps each
    python -m experiments.bench.sweep_memory --quick  # 2,000 configs, a smoke run

The reference workload of ``sweep_speed.py`` (MLP 64-128-10 on digits, adam, batch 32)
with 100 log-spaced learning rates from 1e-4 to 1e-1 times 1000 seeds and a budget of
``--steps`` steps, evaluated at the start and the end.  ``jopt.sweep.run`` compiles the
chunk program for every configuration at once, reads XLA's memory estimate of it, and,
when that exceeds ``MEMORY_FRACTION`` of the free memory (or ``--memory-limit``), runs
the grid in slices of the size that fits, one program shared by all slices.

Printed: the estimate per configuration against the configuration's parameters, adam's
two moments and the gradient (4 copies of the parameters), what all the configurations
at once would need against the free memory, the slices chosen, the wall time, the
statuses and the best configurations.  Nothing is asserted; the per-configuration ratio
is also checked, on a small grid, by ``tests/test_sweep_runner.py``.  What it measured:
``docs/benchmarks.md``.
"""

from __future__ import annotations

from jopt.devices import use_every_core  # imports no JAX

use_every_core()

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from typing import Optional  # noqa: E402

import jax  # noqa: E402

import jopt.sweep as sweep  # noqa: E402
from experiments.bench.sweep_speed import BATCH, HIDDEN, IN, OUT, reference_task  # noqa: E402
from jopt.sweep import engine  # noqa: E402

PARAMETERS = IN * HIDDEN + HIDDEN + HIDDEN * OUT + OUT


def gib(n_bytes: float) -> str:
    return f"{n_bytes / 2 ** 30:.2f} GiB"


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", type=int, default=100_000,
                        help="configurations: 100 learning rates x configs/100 seeds")
    parser.add_argument("--steps", type=int, default=10, help="training steps per config")
    parser.add_argument("--memory-limit", type=float, default=None,
                        help="bytes a slice may take (default: the runner's, a share of free memory)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2,000 configs")
    args = parser.parse_args(argv)
    if args.quick:
        args.configs = 2000
    return args


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    rates = 100 if args.configs >= 100 else args.configs
    seeds = math.ceil(args.configs / rates)
    grid = sweep.Grid(learning_rate=sweep.logspace(1e-4, 1e-1, rates), seed=sweep.seeds(seeds))
    task = reference_task()
    budget = sweep.Budget(steps=args.steps, eval_every=args.steps)
    devices = jax.devices()
    free = engine.free_memory(devices)
    print(f"sweep_memory: MLP {IN}-{HIDDEN}-{OUT} on digits, adam, batch {BATCH}, {args.steps} steps, "
          f"{rates} learning rates x {seeds} seeds = {len(grid)} configs")
    print(f"devices: {len(devices)} x {devices[0].platform}; free memory {gib(free or 0)}; "
          f"limit {gib(args.memory_limit) if args.memory_limit else f'{engine.MEMORY_FRACTION:.0%} of free'}")
    started = time.perf_counter()
    result = sweep.run(task, grid, budget=budget, quiet=False, memory_limit=args.memory_limit)
    wall = time.perf_counter() - started
    plan = result.slices["0"]
    per_config = plan["bytes_per_config"]
    state = 4 * PARAMETERS * 4
    print(f"estimate per config: {per_config / 1e3:.1f} kB; parameters + 2 moments + gradient: "
          f"{state / 1e3:.1f} kB; ratio {per_config / state:.2f}x")
    print(f"all {len(grid)} configs at once: {gib(per_config * len(grid))}; "
          f"ran in {plan['count']} slice{'s' if plan['count'] != 1 else ''} of {plan['size']} ({gib(per_config * plan['size'])} each)")
    summary = result.to_pandas()
    timings = ", ".join(f"{k.removesuffix('_seconds')} {v:.1f} s" for k, v in result.timings.items())
    print(f"wall {wall:.1f} s ({timings}); status {summary.status.value_counts().to_dict()}")
    print(result.best("val_loss", n=3)[["learning_rate", "seed", "final_val_loss"]].to_string())
    return {"wall": wall, "plan": plan, "configs": len(grid)}


if __name__ == "__main__":
    main()
