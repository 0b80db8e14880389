"""Search beyond grids: jopt.sweep's grid, quasi-random, halving and PBT against Optuna.

A grid, quasi-random search, successive halving and PBT through ``jopt.sweep``, against
Optuna (TPE with its median pruner) on the same model, data and search space.

    python -m experiments.bench.search                 # 64 and 256 configurations, minutes
    python -m experiments.bench.search --quick         # a smoke run: 16 configs, 200 steps
    python -m experiments.bench.search --n 256 --methods halving,optuna

Optuna is not a dependency of jopt: ``pip install -e '.[bench]'`` (without it the script
says so and exits 2, unless ``--methods`` leaves ``optuna`` out; ``--quick`` of every
method runs jopt's alone, so that ``python -m experiments.bench --quick`` runs without it).

The setup, the same for every method: the MLP 64-128-10 (He init, ReLU) on scikit-learn's
digits with the splits of ``jopt.sweep.builtin_task`` (``jopt.data.load`` with the
built-in task's defaults: standardized, 15 % validation), softmax cross-entropy, AdamW
(jopt's, also on Optuna's side), batch 32 drawn by epoch permutations, ``--steps`` steps
(500), the validation loss every ``--eval-every`` steps (100).  Every configuration
starts from the same parameters and sees the same batches (the sweep's key of a grid
without a seed axis, ``PRNGKey(0)``, split into the init and batch keys).  The space:
learning rate log-uniform on [1e-4, 1e-1], b1 uniform on [0.8, 0.99], b2 uniform on
[0.9, 0.9999], weight decay log-uniform on [1e-6, 1e-1].  With ``n`` configurations:

- grid: ``sqrt(n/4)`` values of the learning rate and of the weight decay (log-spaced),
  2 of b1 and of b2 (Adam is least sensitive to them), ends of the box included;
- quasi-random: ``n`` scrambled Sobol points (``sweep.QuasiRandom``, seed 0);
- successive halving: the same Sobol points with ``sweep.Halving(min_budget, eta)``,
  default 100 and 4: the first rung at the first evaluation, where Optuna's pruner
  first prunes too, and with n a power of 4 the survivors (n/4, n/16) fill the
  power-of-two programs that compaction builds, so no slot trains padding (with
  ``compact="auto"``, the default, a rung whose compile would cost more than it saves
  keeps its slice: at 256, the last rung);
- PBT: the same Sobol points as the population, ``sweep.PBT`` with an exploit every
  evaluation;
- Optuna: ``n`` trials, one at a time, ``TPESampler(seed=0)`` and ``MedianPruner()``
  (defaults: 5 startup trials, no warm-up steps); each trial calls one jitted program
  ``(params, state), hparams, batch indices -> (params, state), validation loss`` (a
  ``lax.scan`` of ``--eval-every`` steps) ``steps / eval_every`` times, reporting the
  validation loss after each call and stopping when the pruner says so.  The
  hyperparameters are traced arguments, so it compiles once; AdamW's initial state,
  which holds no hyperparameter, is built once for all trials.

Compared: the best validation loss over every evaluation at steps ``eval_every, 2
eval_every, ..., steps`` of every configuration (and, beside it, the best at the last
step), the wall time, the configuration-steps trained (jopt: its manifest's count, which
includes the padding slots of a program) and the programs compiled (jopt: chunk
programs; Optuna: traces of its jitted program).  jopt's task skips the pass over the
training set at each evaluation (``eval_train=False``), which Optuna's trials do not make
either; it still evaluates the test set beside the validation set.

Wall times: "first" is a first call, compilation included, each method in a fresh
process (in one process the later methods would find JAX's tracing caches warm), after
a tiny warm-up compile that pays the process's one-time start-up and with each side's
libraries imported (Optuna; pandas, which jopt's result tables use); it counts from
before the data are loaded to the results, with an empty compilation cache
(:func:`jopt.devices.use_compilation_cache`, in a temporary folder).  "cached" is
the same in another fresh process with that cache as the first one left it: a rerun
of the same search, its programs loaded instead of compiled (Optuna's jitted program
too: the cache is JAX's).  "steady" is the same search again in the first process,
its programs compiled (jopt's runner reuses them; Optuna's jitted program is cached).
``--quick`` runs everything in this process, without cached or steady times.  With
``--repeats K`` every method is measured K times, in rounds (each round every method once,
one after the other): the table gives each time's median, and the goal the median of the
rounds' halving-to-Optuna ratios (each ratio of two runs minutes apart at most, so a
change in the machine's load moves both).  jopt's
configurations are sharded over one host device per core (set before JAX starts,
unless ``XLA_FLAGS`` is set); Optuna's trials run on one device.  Times and the goal are
printed, never asserted; the load average is printed at the start and the end.
Measurements: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import os

from jopt.devices import usable_cores, use_compilation_cache, use_every_core  # imports no JAX

_SET_XLA_FLAGS = use_every_core()

import argparse  # noqa: E402  (JAX must start after XLA_FLAGS is set)
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable, NamedTuple, Optional, Sequence  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jopt  # noqa: E402
import jopt.sweep as sweep  # noqa: E402
from jopt import data as jdata  # noqa: E402
from jopt import losses as jlosses  # noqa: E402
from jopt import models as jmodels  # noqa: E402
from jopt.sweep.schema import TASK_DEFAULTS  # noqa: E402

PROG = "python -m experiments.bench.search"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = ("grid", "quasirandom", "halving", "pbt", "optuna")
HIDDEN, BATCH, SEED = 128, 32, 0
SPACE = {  # name: (low, high, log scale)
    "learning_rate": (1e-4, 1e-1, True),
    "b1": (0.8, 0.99, False),
    "b2": (0.9, 0.9999, False),
    "weight_decay": (1e-6, 1e-1, True),
}
PBT_SETTINGS = {"metric": "val_loss", "mode": "min", "quantile": 0.25,
                "resample_probability": 0.25, "factors": (1.2, 0.8), "burn_in": 0, "seed": SEED}
GOAL_RATIO = 0.5  # the goal: halving's wall time at most this times Optuna's
INSTALL = "pip install -e '.[bench]'"


# ----------------------------------------------------------------------------
# The search spaces
# ----------------------------------------------------------------------------


def grid_levels(n: int) -> dict:
    """Values per axis of the ``n``-point grid: ``sqrt(n/4)`` for the learning rate and
    the weight decay, 2 for b1 and b2."""
    side = math.isqrt(n // 4)
    if 4 * side * side != n:
        raise ValueError(f"a grid of n = {n} points: n must be 4 k^2 (16, 64, 256, ...)")
    return {"learning_rate": side, "b1": 2, "b2": 2, "weight_decay": side}


def grid_space(n: int) -> "sweep.Grid":
    levels = grid_levels(n)
    axes = {name: (sweep.logspace if log else sweep.linspace)(low, high, levels[name])
            for name, (low, high, log) in SPACE.items()}
    return sweep.Grid(**axes, batch_size=[BATCH])


def sobol_space(n: int) -> "sweep.QuasiRandom":
    axes = {name: (sweep.loguniform if log else sweep.uniform)(low, high)
            for name, (low, high, log) in SPACE.items()}
    return sweep.QuasiRandom(n=n, seed=SEED, method="sobol", batch_size=[BATCH], **axes)


def jopt_search(method: str, n: int, args: argparse.Namespace) -> tuple:
    """``(space, options of sweep.run)`` of a jopt method."""
    if method == "grid":
        return grid_space(n), {}
    if method == "halving":
        return sobol_space(n), {"halving": sweep.Halving(min_budget=args.min_budget, eta=args.eta)}
    if method == "pbt":
        return sobol_space(n), {"pbt": sweep.PBT(interval=args.eval_every, **PBT_SETTINGS)}
    return sobol_space(n), {}


def label(method: str, n: int, args: argparse.Namespace) -> str:
    if method == "grid":
        return "grid " + "x".join(str(v) for v in grid_levels(n).values())
    return {"quasirandom": "quasi-random (Sobol)",
            "halving": f"halving (min {args.min_budget}, eta {args.eta:g})",
            "pbt": "PBT (Sobol population)",
            "optuna": "Optuna TPE + median pruner"}[method]


# ----------------------------------------------------------------------------
# Measuring one method
# ----------------------------------------------------------------------------


def timed(fn: Callable) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def best_losses(steps: np.ndarray, losses: np.ndarray, last_step: int) -> tuple[float, float]:
    """``(best over the evaluations after step 0, best at last_step)`` of ``losses``
    (configurations x evaluations at ``steps``; NaN where a configuration was not
    evaluated)."""
    steps = np.asarray(steps)
    losses = np.asarray(losses, np.float64)
    nanmin = lambda v: float(np.nanmin(v)) if np.isfinite(v).any() else math.nan
    return nanmin(losses[:, steps > 0]), nanmin(losses[:, steps == last_step])


def outcome(method: str, n: int, best: tuple, first: float, steady: float,
            config_steps: int, compiles: int, note: str = "") -> dict:
    return {"method": method, "n": n, "best": best[0], "best_at_end": best[1], "first": first,
            "cached": math.nan, "steady": steady, "config_steps": int(config_steps),
            "compiles": int(compiles), "note": note}


def run_jopt(method: str, n: int, args: argparse.Namespace) -> dict:
    """One jopt method: a first ``sweep.run`` with a fresh program cache, then (with
    ``args.steady``) the same call again."""
    budget = sweep.Budget(steps=args.steps, eval_every=args.eval_every)

    def search():
        task = sweep.builtin_task(model="mlp", hidden=[HIDDEN], dataset="digits",
                                  optimizer="adamw", eval_train=False)
        space, options = jopt_search(method, n, args)
        return sweep.run(task, space, budget=budget, quiet=True, **options)

    # the library of jopt's result tables, imported before the clock as Optuna is
    importlib.import_module("pandas")
    sweep.clear_cache()
    first, result = timed(search)
    steady = timed(search)[0] if args.steady else math.nan
    curves = result.curves("val_loss")
    best = best_losses(curves.index.to_numpy(), curves.to_numpy().T, args.steps)
    statuses = result.to_pandas().status.value_counts().to_dict()
    note = ", ".join(f"{count} {status}" for status, count in statuses.items())
    if "halving" in result.manifest:
        rungs = list(result.manifest["halving"]["rungs"].values())[0]
        note += f"; rungs at steps {rungs}"
    timings = result.timings
    note += "; first call: " + " + ".join(
        f"{part} {timings[f'{part}_seconds']:.1f}" for part in ("init", "compile", "run", "final")) + " s"
    return outcome(method, n, best, first, steady, timings["config_steps"],
                   timings["chunk_compiles"], note)


def digits_splits() -> "jdata.Splits":
    """The digits as ``sweep.builtin_task`` splits them (its defaults)."""
    settings = {k: TASK_DEFAULTS[k] for k in ("val_fraction", "test_fraction", "standardize")}
    return jdata.load("digits", seed=TASK_DEFAULTS["data_seed"], **settings)


def batch_indices(batch_key: jax.Array, n: int, steps: int) -> np.ndarray:
    """The batch indices of steps ``0 .. steps-1`` (``(steps, BATCH)``): epoch
    permutations cut into batches, as the sweep's epoch sampling draws them."""
    epochs = math.ceil(steps / jdata.steps_per_epoch(n, BATCH))
    batches = jax.vmap(lambda e: jdata.epoch_batches(batch_key, e, n, BATCH))(jnp.arange(epochs))
    return np.asarray(batches).reshape(-1, BATCH)[:steps]


def block_program(model: Any, splits: "jdata.Splits") -> tuple[Callable, list]:
    """The jitted ``(carry, hparams, indices) -> (carry, val_loss)``: a ``lax.scan`` of
    AdamW steps over the batches ``indices``, then the validation loss; and a list
    holding how many times it was traced (compiled)."""
    x, y = map(jnp.asarray, splits.train)
    x_val, y_val = map(jnp.asarray, splits.val)
    traces = [0]

    def loss(params, xb, yb):
        return jlosses.softmax_cross_entropy_with_integer_labels(model.apply(params, xb), yb).mean()

    def block(carry, hparams, indices):
        traces[0] += 1  # runs when traced, not when called
        opt = jopt.adamw(**hparams)

        def step(carry, idx):
            params, state = carry
            updates, state = opt.update(jax.grad(loss)(params, x[idx], y[idx]), state, params)
            return (jopt.apply_updates(params, updates), state), None

        carry, _ = jax.lax.scan(step, carry, indices)
        return carry, loss(carry[0], x_val, y_val)
    return jax.jit(block), traces


class Trials(NamedTuple):
    """What every Optuna trial starts from: the jitted block ``program`` (and its count of
    ``traces``), the initial ``(params, AdamW state)`` and the batch indices of each block."""

    program: Callable
    traces: list
    start: tuple
    blocks: list


def optuna_trials(args: argparse.Namespace) -> Trials:
    """The digits, the MLP's initial parameters and the batches as the sweep draws them for
    a configuration without a seed (``PRNGKey(0)`` split into the init and batch keys)."""
    splits = digits_splits()
    model = jmodels.mlp([splits.train.x.shape[1], HIDDEN, int(splits.train.y.max()) + 1])
    init_key, batch_key = jax.random.split(jax.random.PRNGKey(SEED))
    params = model.init(init_key)
    indices = batch_indices(batch_key, len(splits.train.x), args.steps)
    program, traces = block_program(model, splits)
    return Trials(program, traces, (params, jopt.adamw(1e-3).init(params)),
                  [jax.device_put(b) for b in indices.reshape(-1, args.eval_every, BATCH)])


def optuna_study(n: int, args: argparse.Namespace, trials: Trials) -> Any:
    """``n`` trials of TPE with the median pruner, one at a time, over ``trials.program``."""
    import optuna

    def objective(trial):
        hparams = {name: np.float32(trial.suggest_float(name, low, high, log=log))
                   for name, (low, high, log) in SPACE.items()}
        carry = trials.start
        for index, indices in enumerate(trials.blocks):
            carry, val_loss = trials.program(carry, hparams, indices)
            val_loss = float(val_loss)
            trial.report(val_loss, step=(index + 1) * args.eval_every)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return val_loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=SEED),
                                pruner=optuna.pruners.MedianPruner())
    study.optimize(objective, n_trials=n)
    return study


def run_optuna(n: int, args: argparse.Namespace) -> dict:
    """Optuna's search: a first study (loading the data and compiling included), then
    (with ``args.steady``) a second one over the compiled program."""
    import optuna
    started = time.perf_counter()
    trials = optuna_trials(args)
    study = optuna_study(n, args, trials)
    first = time.perf_counter() - started
    steady = timed(lambda: optuna_study(n, args, trials))[0] if args.steady else math.nan
    steps = np.arange(1, args.steps // args.eval_every + 1) * args.eval_every
    losses = np.array([[t.intermediate_values.get(int(s), np.nan) for s in steps]
                       for t in study.trials])
    reported = sum(len(t.intermediate_values) for t in study.trials)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    return outcome("optuna", n, best_losses(steps, losses, args.steps), first, steady,
                   reported * args.eval_every, compiles=trials.traces[0],
                   note=f"{pruned} of {len(study.trials)} trials pruned; the first trial (with "
                        f"the compile) {study.trials[0].duration.total_seconds():.1f} s")


def measure(method: str, n: int, args: argparse.Namespace) -> dict:
    return run_optuna(n, args) if method == "optuna" else run_jopt(method, n, args)


def warm_up() -> None:
    """A tiny compile: a process's first one pays JAX's start-up, which would otherwise
    land on the method measured."""
    jax.block_until_ready(jax.jit(lambda v: jnp.tanh(v @ v.T).sum())(jnp.ones((8, 8))))


def forwarded(args: argparse.Namespace) -> list[str]:
    """The options a fresh process needs to measure as this one would."""
    return ["--steps", str(args.steps), "--eval-every", str(args.eval_every),
            "--min-budget", str(args.min_budget), "--eta", str(args.eta),
            *([] if args.steady else ["--no-steady"])]


def measure_fresh(method: str, n: int, args: argparse.Namespace) -> dict:
    """``measure`` in a fresh process with an empty compilation cache, its "cached" time
    from a second fresh process over the cache the first one filled (without steady
    times)."""
    with tempfile.TemporaryDirectory(prefix="jopt-bench-cache-") as cache:
        measured = measure_in_process(method, n, args, cache)
        cached = measure_in_process(method, n, argparse.Namespace(**{**vars(args),
                                                                     "steady": False}), cache)
    return {**measured, "cached": cached["first"]}


def measure_in_process(method: str, n: int, args: argparse.Namespace, cache: str) -> dict:
    """``measure`` in a fresh process keeping programs in ``cache`` (its last line of
    output, JSON)."""
    command = [sys.executable, "-m", "experiments.bench.search", "--one", method,
               "--n", str(n), "--cache", cache, *forwarded(args)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        raise RuntimeError(f"{method} at n = {n} failed (exit status {done.returncode}): "
                           f"{lines[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------
# Printing
# ----------------------------------------------------------------------------


def load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


def print_header(args: argparse.Namespace) -> None:
    optuna_version = "not installed"
    if importlib.util.find_spec("optuna") is not None:
        import optuna
        optuna_version = optuna.__version__
    devices = jax.devices()
    print(f"search: MLP 64-{HIDDEN}-10 on digits, AdamW, batch {BATCH}, {args.steps} steps, "
          f"the validation loss every {args.eval_every} steps; learning rate, b1, b2, weight "
          f"decay in " + ", ".join(f"[{low:g}, {high:g}]{' (log)' if log else ''}"
                                   for low, high, log in SPACE.values()))
    print(f"machine: {usable_cores()} cores, load average {load()} at start; jax "
          f"{jax.__version__} on {devices[0].platform}, {len(devices)} devices for jopt "
          f"(XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
          f"{'set by this script' if _SET_XLA_FLAGS else 'given'}); optuna {optuna_version}")
    print("first: a first call with compilation, " + (
        "everything in this process (--quick)" if args.in_process else
        "each method in a fresh process, an empty compilation cache; cached: another fresh "
        "process over the cache the first filled") + "; steady: the same search again, "
        "compiled")


def median_outcome(rounds: list) -> dict:
    """One method's outcome over ``rounds`` (its outcome in each round): the median of
    each time, the rest (the same in every round: the searches are seeded) from the first."""
    times = {key: float(np.median([o[key] for o in rounds]))
             for key in ("first", "cached", "steady")}
    return {**rounds[0], **times}


def print_table(n: int, rounds: list, args: argparse.Namespace) -> None:
    """The table of ``rounds`` (each a list of outcomes, one per method, in order)."""
    outcomes = [median_outcome(list(by_method)) for by_method in zip(*rounds)]
    times = "" if len(rounds) == 1 else f"; times: medians of {len(rounds)} rounds"
    print(f"\n== {n} configurations x {args.steps} steps (load average {load()}{times}) ==")
    print(f"{'':34}{'best val':>9}{'at end':>9}{'first s':>9}{'cached s':>10}{'steady s':>10}"
          f"{'config-steps':>14}{'compiles':>10}  notes")
    for o in outcomes:
        print(f"{label(o['method'], n, args):34}{o['best']:9.4f}{o['best_at_end']:9.4f}"
              f"{o['first']:9.2f}{o['cached']:10.2f}{o['steady']:10.2f}{o['config_steps']:14,d}"
              f"{o['compiles']:10d}  {o['note']}")
    by_method = [{o["method"]: o for o in outcomes} for outcomes in rounds]
    if "halving" in by_method[0] and "optuna" in by_method[0]:
        print_goal([(r["halving"], r["optuna"]) for r in by_method])


def print_goal(pairs: list) -> None:
    """The goal's verdict from each round's ``(halving, optuna)`` outcomes: the median of
    the rounds' ratios."""
    ratio = lambda key: float(np.median([h[key] / o[key] for h, o in pairs]))
    first, cached, steady = ratio("first"), ratio("cached"), ratio("steady")
    halving, optuna = pairs[0]
    reached = halving["best"] <= optuna["best"]
    if len(pairs) > 1:
        print("halving / Optuna first-call wall time by round: "
              + ", ".join(f"{h['first'] / o['first']:.2f}x" for h, o in pairs)
              + f" (median {first:.2f}x)")
    print(f"jopt halving / Optuna wall time: {first:.2f}x first"
          + (f", {cached:.2f}x cached" if math.isfinite(cached) else "")
          + (f", {steady:.2f}x steady" if math.isfinite(steady) else "") + "; best "
          f"validation loss {halving['best']:.4f} against {optuna['best']:.4f}")
    print(f"goal (the issue's, at 256 configurations): halving reaches Optuna's best "
          f"validation loss ({'yes' if reached else 'no'}) in at most {GOAL_RATIO:g}x its wall "
          f"time, first call ({first:.2f}x): "
          f"{'met' if reached and first <= GOAL_RATIO else 'MISSED'}")


# ----------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--n", default=None,
                        help="configurations (trials), comma-separated, each 4 k^2 for the "
                             "grid; default 64,256 (--quick: 16)")
    parser.add_argument("--steps", type=int, default=None, help="steps per configuration "
                        "(default 500; --quick: 200)")
    parser.add_argument("--eval-every", type=int, default=100,
                        help="steps between validation losses, for every method")
    parser.add_argument("--min-budget", type=int, default=100, help="successive halving's "
                        "first rung (steps)")
    parser.add_argument("--eta", type=float, default=4, help="successive halving's eta")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated, of {', '.join(METHODS)} (default: all)")
    parser.add_argument("--no-steady", dest="steady", action="store_false",
                        help="skip the steady times")
    parser.add_argument("--repeats", type=int, default=1,
                        help="rounds of every method: the times' medians (default 1)")
    parser.add_argument("--in-process", action="store_true",
                        help="measure every method in this process (--quick does)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 16 configurations, 200 steps, in this process, "
                             "no steady times")
    parser.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)  # internal
    parser.add_argument("--cache", help=argparse.SUPPRESS)  # internal, with --one
    args = parser.parse_args(argv)
    if args.quick:
        args.n = args.n or "16"
        args.steps = args.steps or 200
        args.in_process, args.steady = True, False
    args.n = [int(v) for v in (args.n or "64,256").split(",")]
    args.steps = args.steps or 500
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; known: {', '.join(METHODS)}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, not {args.repeats}")
    if args.repeats > 1 and args.in_process:  # a second round would find JAX's caches warm
        parser.error("--repeats measures in fresh processes: not with --in-process or --quick")
    if args.steps % args.eval_every:
        parser.error(f"--steps {args.steps} must be a multiple of --eval-every {args.eval_every}")
    if "grid" in args.methods:
        for n in args.n:
            try:
                grid_levels(n)
            except ValueError as error:
                parser.error(str(error))
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.one:  # internal: one method in this fresh process, printed as JSON
        if args.cache:
            use_compilation_cache(args.cache)
        warm_up()
        print(json.dumps(measure(args.one, args.n[0], args)))
        return 0
    if "optuna" in args.methods and importlib.util.find_spec("optuna") is None:
        if not (args.quick and args.methods == list(METHODS)):
            print(f"{PROG}: optuna is not installed: {INSTALL} (or leave it out of --methods)",
                  file=sys.stderr)
            return 2
        # a smoke run of every method (python -m experiments.bench --quick): jopt's alone
        print(f"optuna is not installed ({INSTALL}): --quick runs jopt's methods only")
        args.methods.remove("optuna")
    started = time.perf_counter()
    print_header(args)
    if args.in_process:
        warm_up()
    methods = list(args.methods)
    for n in args.n:
        rounds = [[(measure if args.in_process else measure_fresh)(method, n, args)
                   for method in methods] for _ in range(args.repeats)]
        print_table(n, rounds, args)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average {load()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
