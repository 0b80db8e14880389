"""Successive halving against the same sweep without pruning: what compaction saves.

    python -m experiments.bench.halving             # 81 configurations, ~1 min on 2 cores
    python -m experiments.bench.halving --n 256 --min-budget 60
    python -m experiments.bench.halving --quick     # a smoke run (27 configurations, 100 steps)
    python -m experiments.bench.halving --brackets 3  # HyperBand's brackets

The MLP 64-128-10 on the digits with AdamW, a scrambled Sobol sample of the learning
rate, b1, b2 and weight decay (``--n`` configurations), batch 32, ``--steps`` steps, the
validation loss every 20 steps.  Both sweeps run in this process, each first with a
fresh program cache (compilation included: ``first``) and then again (``steady``);
halving: ``min_budget`` 20, ``eta`` 3, ``--brackets`` HyperBand brackets (1: plain
successive halving).  Printed: wall times, chunk compiles, the configuration-steps run
and the best final validation loss (with brackets, also per bracket).  Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=81)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--min-budget", type=int, default=20)
    parser.add_argument("--eta", type=float, default=3)
    parser.add_argument("--brackets", type=int, default=1,
                        help="HyperBand's brackets (1: plain successive halving)")
    parser.add_argument("--quick", action="store_true", help="27 configurations, 100 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.steps = 27, 100
    sys.path.insert(0, ROOT)
    import jopt.sweep as sweep
    from jopt.sweep.search import QuasiRandom, loguniform, uniform

    task = sweep.builtin_task(model="mlp", hidden=[128], dataset="digits", optimizer="adamw")
    space = QuasiRandom(n=args.n, seed=0, method="sobol", learning_rate=loguniform(1e-4, 1e-1),
                        b1=uniform(0.8, 0.99), b2=uniform(0.9, 0.9999),
                        weight_decay=loguniform(1e-6, 1e-1), batch_size=[32])
    budget = sweep.Budget(steps=args.steps, eval_every=20)
    halving = sweep.Halving(min_budget=args.min_budget, eta=args.eta, brackets=args.brackets)
    print(f"{args.n} configurations, {args.steps} steps, halving {halving}")
    for name, options in (("plain", {}), ("halving", {"halving": halving})):
        sweep.clear_cache()
        for kind in ("first", "steady"):
            started = time.perf_counter()
            result = sweep.run(task, space, budget=budget, quiet=True, **options)
            seconds = time.perf_counter() - started
            timings = result.manifest["timings"]
            summary = result.to_pandas()
            print(f"{name:8s} {kind:6s} {seconds:7.2f} s  chunk compiles "
                  f"{timings['chunk_compiles']}  config-steps {int(timings['config_steps'])}  "
                  f"best final val loss {summary.final_val_loss.min():.4f}  "
                  f"statuses {summary.status.value_counts().to_dict()}")
        if "halving" in result.manifest:
            print(f"         rungs {result.manifest['halving']['bracket_rungs']}, configurations "
                  f"per bracket {result.manifest['halving']['bracket_configs']}")
        if args.brackets > 1 and "bracket" in summary.columns:
            for bracket, rows in summary.groupby("bracket"):
                print(f"         bracket {bracket}: best final val loss "
                      f"{rows.final_val_loss.min():.4f}  statuses "
                      f"{rows.status.value_counts().to_dict()}")


if __name__ == "__main__":
    main()
