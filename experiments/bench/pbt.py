"""Population-based training against the same sweep without it, and a replay of the
schedule PBT discovered.

    python -m experiments.bench.pbt                     # 64 configurations, about a minute
    python -m experiments.bench.pbt --plot docs/pbt.png # also draw the population and schedule
    python -m experiments.bench.pbt --quick             # a smoke run (16 configurations, 100 steps)

The MLP 64-128-10 on the digits with AdamW; a scrambled Sobol sample (``--n``) of the
learning rate, b1, b2 and weight decay; batch 32, ``--steps`` steps, the validation
loss every 50 steps.  Three runs, each with a fresh program cache (compilation
included): the plain sweep, PBT (``--interval`` steps, quantile 0.25, resample
probability 0.25, factors 1.2 and 0.8, perturbing all four), and the replay of the best
PBT member's schedule (one configuration trained from scratch).  Printed: wall times,
the best final validation losses, the member's schedule and lineage, and the replay's
final losses beside the member's.  Nothing is asserted.
"""

from __future__ import annotations

from jopt.devices import use_every_core  # imports no JAX

use_every_core()

import argparse  # noqa: E402  (JAX must start after XLA_FLAGS is set)
import os  # noqa: E402
import time  # noqa: E402

import jopt.sweep as sweep  # noqa: E402
from jopt.sweep.search import QuasiRandom, loguniform, uniform  # noqa: E402


def space(n: int) -> QuasiRandom:
    return QuasiRandom(n=n, seed=0, method="sobol", learning_rate=loguniform(1e-4, 1e-1),
                       b1=uniform(0.8, 0.99), b2=uniform(0.9, 0.9999),
                       weight_decay=loguniform(1e-6, 1e-1), batch_size=[32])


def timed(run):
    sweep.clear_cache()
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--interval", type=int, default=100)
    parser.add_argument("--plot", help="write the PBT plot (population, best schedule) here")
    parser.add_argument("--quick", action="store_true", help="16 configurations, 100 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.steps, args.interval = 16, 100, 50
    task = sweep.builtin_task(model="mlp", hidden=[128], dataset="digits", optimizer="adamw")
    budget = sweep.Budget(steps=args.steps, eval_every=50)
    policy = sweep.PBT(interval=args.interval, metric="val_loss", quantile=0.25, seed=0)
    print(f"{args.n} configurations, {args.steps} steps, {policy}; load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")

    plain, plain_seconds = timed(lambda: sweep.run(task, space(args.n), budget=budget, quiet=True))
    pbt, pbt_seconds = timed(lambda: sweep.run(task, space(args.n), budget=budget, pbt=policy,
                                               quiet=True))
    for name, result, seconds in (("plain", plain, plain_seconds), ("pbt", pbt, pbt_seconds)):
        summary = result.to_pandas()
        print(f"{name:6s} {seconds:6.2f} s  chunk compiles {result.timings['chunk_compiles']}  "
              f"best final val loss {summary.final_val_loss.min():.4f}  best val loss seen "
              f"{summary.best_val_loss.min():.4f}  statuses {summary.status.value_counts().to_dict()}")
    events = pbt.manifest["pbt"]["events"]
    print(f"pbt: {len(events)} exploits at steps {pbt.manifest['pbt']['steps']['0']}")

    member = int(pbt.best("val_loss")["config"].iloc[0])
    pieces = pbt.schedule(member)
    print(f"the best member, config {member}: its schedule (step, whose training, values)")
    print(pieces.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    replayed, replay_seconds = timed(lambda: sweep.replay(task, pbt, member))
    mine = pbt.to_pandas().set_index("config").loc[member]
    again = replayed.to_pandas().iloc[0]
    for column in ("final_val_loss", "final_train_loss", "final_val_accuracy"):
        print(f"{column:20s} member {float(mine[column]):.6f}  replay {float(again[column]):.6f}")
    print(f"replay: {replay_seconds:.2f} s (one configuration, compiled afresh)")
    if args.plot:
        from jopt.plot import plot_pbt
        print(f"plot: {plot_pbt(pbt, args.plot)}")


if __name__ == "__main__":
    main()
