"""The speed of a whole sweep: jopt.sweep.run against the hand-written optax sweep, optax
one config at a time and PyTorch one config at a time, on CPU, all in one run.

    python -m experiments.bench.sweep_speed            # the reference workload, minutes
    python -m experiments.bench.sweep_speed --quick    # a smoke run (a few configs, 20 steps)
    python -m experiments.bench.sweep_speed --profile  # also: steady times in interleaved rounds

The reference workload (issue 5): an MLP 64-128-10 (He init, ReLU) on scikit-learn's
digits (standardized; 1257 training examples), softmax cross-entropy, adam, batch size
32 drawn by epoch permutations, 500 steps, 16 log-spaced learning rates from 1e-4 to
1e-1 x 4 seeds = 64 configurations.  Every implementation starts from the same
parameters (``model.init(split(PRNGKey(seed))[0])``) and sees the same batches (the
permutations of ``jopt.data.epoch_batches`` keyed by ``split(PRNGKey(seed))[1]``, which
are jopt's ``padded_batch`` indices), so their final training losses can be compared:

(a) ``jopt.sweep.run(builtin_task(...), grid, budget=Budget(steps, eval_every))`` with
    ``out=None, quiet=True``; the configurations are sharded over every JAX device.
(b) the sweep a JAX user writes by hand: ``optax.inject_hyperparams(optax.adam)``,
    ``jax.vmap`` over (learning rate, seed), ``lax.scan`` over the steps, all in one
    ``jax.jit``, on one device (``jit``'s default placement, ``jax.devices()[0]``).
(c) the same training function jitted once per configuration shape and called from a
    Python loop over the configurations (one device).
(d) PyTorch: ``torch.nn`` MLP with the JAX initial weights copied in, ``torch.optim.Adam``,
    the same precomputed batch indices, one configuration at a time.

On a CPU JAX sees one device unless ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
is set before it starts; this script sets it to the number of usable cores at the top,
unless ``XLA_FLAGS`` is set already (then it is left alone).

Timings: "first call" is everything from the call to the results (tracing, compiling,
running; for jopt the wall clock of ``sweep.run`` and its ``init + compile + run + final``
timings); for jopt and the optax vmap sweep it is the median over ``--fresh-rounds``
fresh processes each (alternating), because in one process the second to run finds
JAX's tracing caches warm, and the in-process figures are printed beside;
"steady" is a second call of the same thing, already compiled: for jopt a second
``sweep.run`` of the same grid, which reuses the programs the first compiled (the
runner keeps them), so it is the whole call (init, chunks, final metrics, the results'
tables), as the optax sweep's second call is its whole program.  GFLOP/s count
6 x batch x (64*128 + 128*10) per training step plus 2 x rows x (64*128 + 128*10) per
evaluated row, over the steady time, against a batched matmul
``configs x (32x64 @ 64x128)`` timed in the same run (best of several calls).
Timings are printed, never asserted; the machine's load average is printed with them.

What it measured, machine by machine and date by date: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import os

from jopt.devices import usable_cores, use_every_core  # imports no JAX

_SET_XLA_FLAGS = use_every_core()

import argparse  # noqa: E402  (JAX must start after XLA_FLAGS is set)
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any, Callable, Optional  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec  # noqa: E402

import jopt.sweep as sweep  # noqa: E402
from jopt import data as jdata  # noqa: E402
from jopt import models as jmodels  # noqa: E402

try:
    import optax
except ImportError:  # optax and torch come with the test extra: pip install -e '.[test]'
    optax = None
try:
    import torch
except ImportError:
    torch = None

IN, HIDDEN, OUT = 64, 128, 10
BATCH = 32
MACS = IN * HIDDEN + HIDDEN * OUT          # multiply-adds of one example's forward pass
TRAIN_FLOPS = 6 * BATCH * MACS             # one training step: forward 2, backward 4
AGREE_LR = 1e-2                            # losses must agree up to this learning rate
AGREE_RTOL = 1e-3                          # what "agree" means here (relative)
TARGETS = {"first": 1.0, "steady": 0.6, "torch": 20.0}  # from issue 5


def forward_flops(rows: int) -> int:
    return 2 * rows * MACS


def reference_task() -> "sweep.TaskFactory":
    """The reference workload as ``jopt.sweep``'s built-in task (MLP 64-128-10 on digits,
    adam, batch 32); the grid gives the learning rates and seeds."""
    return sweep.builtin_task(model="mlp", hidden=[HIDDEN], dataset="digits", optimizer="adam",
                              batch_size=BATCH)


def shard_configs(*arrays: np.ndarray) -> tuple[tuple, NamedSharding]:
    """``arrays`` (configurations first) padded with copies of their last row to a multiple
    of the devices and placed across every device, the way the sweep runner shards its
    configurations; and the sharding, for ``jax.jit``'s ``in_shardings``."""
    mesh = sweep.mesh_for()
    sharding = NamedSharding(mesh, PartitionSpec("configs"))
    count = len(arrays[0])
    size = math.ceil(count / mesh.devices.size) * mesh.devices.size
    padded = tuple(np.concatenate([a, np.repeat(a[-1:], size - count, axis=0)]) for a in arrays)
    return jax.device_put(padded, sharding), sharding


# ----------------------------------------------------------------------------
# The workload
# ----------------------------------------------------------------------------


@dataclass
class Workload:
    """The data, the model and the configurations (in ``sweep.Grid`` order)."""

    steps: int
    learning_rates: list
    seeds: int
    eval_every: int
    splits: Any = None
    model: Any = None
    configs: list = field(default_factory=list)

    def __post_init__(self):
        self.splits = jdata.load("digits")  # standardized on the training split
        self.model = jmodels.mlp([IN, HIDDEN, OUT])
        self.configs = self.grid().configs()

    def grid(self) -> "sweep.Grid":
        return sweep.Grid(learning_rate=self.learning_rates, seed=sweep.seeds(self.seeds))

    @property
    def lr(self) -> np.ndarray:
        return np.array([c["learning_rate"] for c in self.configs], np.float32)

    @property
    def seed(self) -> np.ndarray:
        return np.array([c["seed"] for c in self.configs], np.int32)

    @property
    def n_train(self) -> int:
        return len(self.splits.train.x)


def scaling_configs(count: int, learning_rates: list) -> tuple[np.ndarray, np.ndarray]:
    """``count`` configs: the learning rates cycled, the seed counting the cycles."""
    index = np.arange(count)
    lrs = np.asarray(learning_rates, np.float32)[index % len(learning_rates)]
    return lrs, (index // len(learning_rates)).astype(np.int32)


def keys_of(seed: Any) -> tuple:
    """``(init_key, batch_key)`` of a seed: as ``jopt.sweep.builtin_task``."""
    init_key, batch_key = jax.random.split(jax.random.PRNGKey(seed))
    return init_key, batch_key


def step_indices(batch_key: Any, steps: int, n: int) -> jax.Array:
    """The batch indices of steps ``0 .. steps-1``, shape ``(steps, BATCH)``: epoch
    permutations cut into batches (``jopt.data.epoch_batches``), one per epoch."""
    per_epoch = jdata.steps_per_epoch(n, BATCH)
    epochs = math.ceil(steps / per_epoch)
    batches = jax.vmap(lambda e: jdata.epoch_batches(batch_key, e, n, BATCH))(jnp.arange(epochs))
    return batches.reshape(-1, BATCH)[:steps]


def make_train(model: Any, x: jax.Array, y: jax.Array, steps: int) -> Callable:
    """The hand-written training run of one config: ``(lr, seed) -> final training loss``."""
    n = x.shape[0]

    def loss_fn(params, xb, yb):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply(params, xb), yb).mean()

    def train(lr, seed):
        init_key, batch_key = keys_of(seed)
        params = model.init(init_key)
        opt = optax.inject_hyperparams(optax.adam)(learning_rate=lr)

        def step(carry, idx):
            params, state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, x[idx], y[idx])
            updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), loss

        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)),
                                      step_indices(batch_key, steps, n))
        return loss_fn(params, x, y)
    return train


# ----------------------------------------------------------------------------
# The four implementations
# ----------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    short: str                   # a column header
    first: float                 # seconds: the first call (compile and run)
    steady: float                # seconds: an already compiled run
    losses: np.ndarray           # final training loss per config (NaN where not run)
    steady_flops: float = 0.0    # flops done in the steady time
    configs_timed: int = 0       # how many configs the times are for (torch: extrapolated)
    notes: list = field(default_factory=list)

    @property
    def gflops(self) -> float:
        return self.steady_flops / self.steady / 1e9 if self.steady > 0 else math.nan


def run_jopt(work: Workload, *, devices: Optional[list] = None,
             label: str = "jopt sweep", steady: bool = True) -> Timing:
    """``sweep.run`` twice on the same grid: the first call compiles, the second (unless
    not ``steady``) reuses the compiled programs, as a second call of a jitted function does."""
    task = reference_task()
    budget = sweep.Budget(steps=work.steps, eval_every=work.eval_every)
    first, result = timed(lambda: sweep.run(task, work.grid(), budget=budget, out=None,
                                            quiet=True, devices=devices))
    t = result.timings
    steady, again = timed(lambda: sweep.run(task, work.grid(), budget=budget, out=None,
                                            quiet=True, devices=devices)) if steady else (math.nan, result)
    summary = result.to_pandas().sort_values("config")
    evaluations = math.ceil(work.steps / work.eval_every)  # inside the chunks (run_seconds)
    n_val = len(work.splits.val.x)
    flops = len(work.configs) * (work.steps * TRAIN_FLOPS
                                 + evaluations * forward_flops(work.n_train + n_val))
    timing = Timing(label, "jopt", first, steady, summary["final_train_loss"].to_numpy(),
                    flops, len(work.configs))
    timing.timings = dict(t)
    timing.steady_timings = dict(again.timings)
    timing.status = summary["status"].value_counts().to_dict()
    timing.summary = summary
    return timing


def run_vmap(work: Workload, *, sharded: bool = False, label: str = "optax vmap sweep") -> Timing:
    x, y = map(jnp.asarray, work.splits.train)
    train = jax.vmap(make_train(work.model, x, y, work.steps))
    lr, seed = work.lr, work.seed
    if sharded:  # what-if: the hand-written sweep sharded over every device
        (lr, seed), sharding = shard_configs(lr, seed)
        program = jax.jit(train, in_shardings=sharding, out_shardings=sharding)
    else:
        program = jax.jit(train)
    first, losses = timed(lambda: program(lr, seed))
    steady, _ = timed(lambda: program(lr, seed))
    flops = len(work.configs) * (work.steps * TRAIN_FLOPS + forward_flops(work.n_train))
    return Timing(label, "optax-vmap", first, steady, np.asarray(losses)[:len(work.configs)], flops,
                  len(work.configs))


def run_loop(work: Workload) -> Timing:
    x, y = map(jnp.asarray, work.splits.train)
    program = jax.jit(make_train(work.model, x, y, work.steps))

    def all_configs():
        return [program(lr, seed) for lr, seed in zip(work.lr, work.seed)]
    first, losses = timed(all_configs)
    steady, _ = timed(all_configs)
    flops = len(work.configs) * (work.steps * TRAIN_FLOPS + forward_flops(work.n_train))
    return Timing("optax loop over configs", "optax-loop", first, steady,
                  np.array(losses, np.float32), flops, len(work.configs))


def timed(fn: Callable) -> tuple[float, Any]:
    started = time.perf_counter()
    out = jax.block_until_ready(fn())  # a SweepResult (host arrays) passes through
    return time.perf_counter() - started, out


def torch_config(work: Workload, lr: float, seed: int, indices: np.ndarray, x, y,
                 steps: Optional[int] = None) -> float:
    """One configuration trained by PyTorch: the final training loss."""
    params = work.model.init(keys_of(seed)[0])
    net = torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(),
                              torch.nn.Linear(HIDDEN, OUT))
    with torch.no_grad():
        for layer, p in zip((net[0], net[2]), params):
            layer.weight.copy_(torch.from_numpy(np.array(p["w"]).T.copy()))
            layer.bias.copy_(torch.from_numpy(np.array(p["b"])))
    opt = torch.optim.Adam(net.parameters(), lr=float(lr))
    cross_entropy = torch.nn.functional.cross_entropy
    for idx in indices[:steps]:
        opt.zero_grad(set_to_none=True)
        cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    with torch.no_grad():
        return float(cross_entropy(net(x), y))


def run_torch(work: Workload, configs: int, probe_steps: int) -> Timing:
    """PyTorch one config at a time, on ``configs`` of the configurations (the first seed
    of every learning rate first); the time for all of them is extrapolated."""
    x = torch.from_numpy(np.asarray(work.splits.train.x))
    y = torch.from_numpy(np.asarray(work.splits.train.y).astype(np.int64))
    n = work.n_train
    indices = {s: torch.from_numpy(np.asarray(step_indices(keys_of(s)[1], work.steps, n))
                                   .astype(np.int64)) for s in sorted(set(work.seed.tolist()))}
    notes = []
    # torch's default is one intra-op thread per core; on a loaded machine its spinning
    # OpenMP threads can slow tiny ops down many times over, so probe both settings and
    # keep the faster (the choice in torch's favour: it only makes jopt's ratio harder)
    default_threads = torch.get_num_threads()
    per_step = {}
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        torch_config(work, work.lr[0], int(work.seed[0]), indices[int(work.seed[0])], x, y, 2)
        started = time.perf_counter()
        torch_config(work, work.lr[0], int(work.seed[0]), indices[int(work.seed[0])], x, y,
                     probe_steps)
        per_step[threads] = (time.perf_counter() - started) / probe_steps
    threads = min(per_step, key=per_step.get)
    torch.set_num_threads(threads)
    notes.append("probe: " + ", ".join(f"{t} thread{'s' if t > 1 else ''} {s * 1e3:.2f} ms/step"
                                       for t, s in per_step.items())
                 + f" (default {default_threads}); ran with {threads}")
    order = sorted(range(len(work.configs)), key=lambda i: (work.seed[i], work.lr[i]))[:configs]
    losses = np.full(len(work.configs), np.nan, np.float32)
    started = time.perf_counter()
    for i in order:
        seed = int(work.seed[i])
        losses[i] = torch_config(work, work.lr[i], seed, indices[seed], x, y)
    seconds = (time.perf_counter() - started) * len(work.configs) / len(order)
    torch.set_num_threads(default_threads)
    if len(order) < len(work.configs):
        notes.append(f"ran {len(order)} of {len(work.configs)} configs; times extrapolated x "
                     f"{len(work.configs) / len(order):g}")
    flops = len(work.configs) * (work.steps * TRAIN_FLOPS + forward_flops(n))
    return Timing("pytorch one config at a time", "torch", seconds, seconds, losses, flops,
                  len(order), notes)


def batched_matmul_gflops(configs: int, repeats: int, sharded: bool) -> float:
    """GFLOP/s of ``configs x (32x64 @ 64x128)`` (best of ``repeats`` calls)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((configs, BATCH, IN), np.float32)
    b = rng.standard_normal((configs, IN, HIDDEN), np.float32)
    matmul = lambda a, b: jnp.einsum("cij,cjk->cik", a, b)
    if sharded:
        (a, b), sharding = shard_configs(a, b)
        program = jax.jit(matmul, in_shardings=sharding, out_shardings=sharding)
    else:
        a, b = jax.device_put((a, b))
        program = jax.jit(matmul)
    jax.block_until_ready(program(a, b))
    best = math.inf
    for _ in range(repeats):
        best = min(best, timed(lambda: program(a, b))[0])
    return 2 * configs * BATCH * IN * HIDDEN / best / 1e9


def warm_up() -> float:
    """Compile and run a small program first: the first compilation in a process pays a
    one-time start-up cost that would otherwise land on whichever case runs first."""
    started = time.perf_counter()

    def program(key):
        w = jax.random.normal(key, (IN, HIDDEN))
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ w @ w.T), None), jnp.ones((BATCH, IN)),
                            None, length=3)[0].sum()
    jax.block_until_ready(jax.jit(program)(jax.random.PRNGKey(0)))
    return time.perf_counter() - started


# ----------------------------------------------------------------------------
# Printing
# ----------------------------------------------------------------------------


def relative_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-12)


def print_agreement(work: Workload, cases: list[Timing], reference: Timing) -> dict:
    """Final losses of seed 0 per learning rate, and the largest relative difference to
    ``reference`` over the seeds; returns the largest for lr <= AGREE_LR, per case."""
    others = [c for c in cases if c is not reference]
    print(f"\nfinal training loss (mean over the {work.n_train} training examples) for seed 0, and "
          f"the largest relative difference to the {reference.name} over the seeds:")
    print(f"{'lr':>9}  " + "".join(f"{c.short:>12}" for c in cases) + "  |"
          + "".join(f"{c.short:>12}" for c in others))
    worst = {c.name: [0.0, 0.0] for c in others}  # [lr <= AGREE_LR, lr > AGREE_LR]
    lrs = work.lr
    for lr in sorted(set(lrs.tolist())):
        rows = np.flatnonzero(lrs == lr)
        first = rows[np.argmin(work.seed[rows])]
        line = f"{lr:9.2e}  " + "".join(f"{c.losses[first]:12.6g}" for c in cases) + "  |"
        for c in others:
            diff = relative_difference(c.losses[rows], reference.losses[rows])
            diff = diff[np.isfinite(c.losses[rows])]
            d = float(diff.max()) if diff.size else math.nan
            slot = 0 if lr <= AGREE_LR * (1 + 1e-6) else 1
            if np.isfinite(d):
                worst[c.name][slot] = max(worst[c.name][slot], d)
            line += f"{d:12.1e}"
        print(line)
    for slot, label in ((0, f"lr <= {AGREE_LR:g}"), (1, f"lr >  {AGREE_LR:g}")):
        print(f"largest relative difference, {label}: " +
              ", ".join(f"{c.short} {worst[c.name][slot]:.1e}" for c in others))
    return {c.short: worst[c.name][0] for c in others}


def fmt_ratio(value: float) -> str:
    return "-" if not np.isfinite(value) else (f"{value:.2f}x" if value < 100 else f"{value:.0f}x")


# ----------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500, help="training steps per config")
    parser.add_argument("--learning-rates", type=int, default=16,
                        help="log-spaced learning rates from 1e-4 to 1e-1")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--eval-every", type=int, default=None,
                        help="jopt's evaluation period in steps (default: --steps, one evaluation)")
    parser.add_argument("--torch-configs", type=int, default=16,
                        help="configs PyTorch runs (the first seed of each learning rate first); "
                             "its time is extrapolated to all")
    parser.add_argument("--configs-scaling", default=None,
                        help="config counts of the cost-per-config table, default "
                             "1,4,16,64,256,1024 (--quick: 1,4); '' skips it")
    parser.add_argument("--scaling-steps", type=int, default=100,
                        help="steps per config in the cost-per-config table")
    parser.add_argument("--matmul-repeats", type=int, default=30)
    parser.add_argument("--profile", action="store_true",
                        help="also time the steady runs in interleaved rounds: jopt's chunk "
                             "program on every device and on one, the optax vmap sweep on one "
                             "and sharded over every device")
    parser.add_argument("--profile-rounds", type=int, default=3,
                        help="interleaved rounds of the steady-time profile")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 4 learning rates x 2 seeds, 20 steps, small table")
    parser.add_argument("--fresh-rounds", type=int, default=None,
                        help="fresh processes per implementation for the first-call times, "
                             "default 4 (--quick: 1; single pairs vary on a shared machine); "
                             "0: the in-process first calls only")
    parser.add_argument("--first-call", choices=("jopt", "vmap"), default=None,
                        help=argparse.SUPPRESS)  # internal: one first call, printed as JSON
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.learning_rates, args.seeds = 20, 4, 2
        args.torch_configs, args.scaling_steps, args.matmul_repeats = 4, 10, 5
    if args.fresh_rounds is None:
        args.fresh_rounds = 1 if args.quick else 4
    if args.configs_scaling is None:
        args.configs_scaling = "1,4" if args.quick else "1,4,16,64,256,1024"
    args.eval_every = args.eval_every or args.steps
    return args


def first_call_here(args: argparse.Namespace) -> None:
    """``--first-call KIND``: one first call in this (fresh) process, as a JSON line."""
    warm_up()
    work = Workload(args.steps, sweep.logspace(1e-4, 1e-1, args.learning_rates), args.seeds,
                    args.eval_every)
    timing = run_jopt(work, steady=False) if args.first_call == "jopt" else run_vmap(work)
    print(json.dumps({"first": timing.first, "timings": getattr(timing, "timings", {})}))


def fresh_first_calls(args: argparse.Namespace) -> dict:
    """First-call seconds of jopt and of the optax vmap sweep, each in fresh processes,
    alternating: in one process the second to run finds JAX's tracing and lowering
    caches warm, which favours whichever runs second."""
    command = [sys.executable, os.path.abspath(__file__), "--steps", str(args.steps),
               "--learning-rates", str(args.learning_rates), "--seeds", str(args.seeds),
               "--eval-every", str(args.eval_every)]
    times: dict = {"jopt": [], "vmap": []}
    for _ in range(args.fresh_rounds):
        for kind in times:
            done = subprocess.run(command + ["--first-call", kind], capture_output=True,
                                  text=True, check=True)
            times[kind].append(json.loads(done.stdout.strip().splitlines()[-1])["first"])
    return times


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    if optax is None:
        raise SystemExit("sweep_speed needs optax (pip install -e '.[test]')")
    if args.first_call is not None:
        first_call_here(args)
        return {}
    started_all = time.perf_counter()
    work = Workload(args.steps, sweep.logspace(1e-4, 1e-1, args.learning_rates), args.seeds,
                    args.eval_every)
    n_configs = len(work.configs)
    devices = jax.devices()
    cores = usable_cores()
    print(f"sweep_speed: MLP {IN}-{HIDDEN}-{OUT} on digits (standardized, {work.n_train} training "
          f"examples), adam, batch {BATCH}, {args.steps} steps, {args.learning_rates} learning "
          f"rates in [1e-4, 1e-1] x {args.seeds} seeds = {n_configs} configs")
    print(f"machine: {cores} cores, load average {load()} at start; jax {jax.__version__} on "
          f"{devices[0].platform}, {len(devices)} devices (XLA_FLAGS="
          f"{os.environ.get('XLA_FLAGS', '')!r}, "
          f"{'set by this script' if _SET_XLA_FLAGS else 'given'})"
          f"; optax {getattr(optax, '__version__', '?')}; torch "
          f"{torch.__version__ if torch is not None else 'not installed'}")
    print(f"jopt sweep: out=None, quiet, eval_every={args.eval_every} (evaluations on the "
          f"training and validation sets at step 0 and every {args.eval_every} steps, final "
          f"metrics once); the optax sweeps evaluate the training loss once at the end")
    print(f"warm-up compile (the process's first compilation): {warm_up():.2f} s")

    # the hand-written sweep first, then jopt: each compiles its programs from scratch
    vmap = run_vmap(work)
    jopt_run = run_jopt(work, label=f"jopt sweep ({len(devices)} devices)")
    vmap.name = "optax vmap sweep (1 device)"
    loop = run_loop(work)
    cases = [jopt_run, vmap, loop]
    torch_run = None
    if torch is not None:
        torch_run = run_torch(work, min(args.torch_configs, n_configs),
                              probe_steps=max(5, min(30, args.steps)))
        cases.append(torch_run)
    in_process = {"jopt": jopt_run.first, "vmap": vmap.first}
    fresh = fresh_first_calls(args) if args.fresh_rounds > 0 else {}
    if fresh:  # the first calls compared: medians over fresh processes
        jopt_run.first, vmap.first = (float(np.median(fresh[k])) for k in ("jopt", "vmap"))
    matmul_one = batched_matmul_gflops(n_configs, args.matmul_repeats, sharded=False)
    matmul_all = batched_matmul_gflops(n_configs, args.matmul_repeats, sharded=True)

    print(f"\n== the reference workload: {n_configs} configs x {args.steps} steps "
          f"(load average {load()}) ==")
    print(f"{'':34}{'first s':>9}{'steady s':>10}{'first/vmap':>12}{'steady/vmap':>13}"
          f"{'first/torch':>13}{'steady/torch':>14}{'GFLOP/s':>9}{'% matmul':>10}")
    torch_first = torch_run.first if torch_run is not None else math.nan
    torch_steady = torch_run.steady if torch_run is not None else math.nan
    for c in cases:
        ceiling = matmul_all if c is jopt_run else matmul_one
        print(f"{c.name:34}{c.first:9.2f}{c.steady:10.3f}{fmt_ratio(c.first / vmap.first):>12}"
              f"{fmt_ratio(c.steady / vmap.steady):>13}{fmt_ratio(c.first / torch_first):>13}"
              f"{fmt_ratio(c.steady / torch_steady):>14}{c.gflops:9.2f}"
              f"{100 * c.gflops / ceiling:9.0f}%")
    t, again = jopt_run.timings, jopt_run.steady_timings
    print(f"jopt first call: init {t['init_seconds']:.2f} + compile {t['compile_seconds']:.2f} "
          f"+ run {t['run_seconds']:.2f} + final {t['final_seconds']:.2f} = "
          f"{sum(v for k, v in t.items() if k.endswith('_seconds')):.2f} s "
          f"(wall clock of sweep.run {in_process['jopt']:.2f} s, in this process); status "
          f"{jopt_run.status}")
    print(f"jopt steady: the same sweep.run again (its compiled programs reused): wall clock "
          f"{jopt_run.steady:.3f} s = init {again['init_seconds']:.3f} + compile "
          f"{again['compile_seconds']:.3f} + run {again['run_seconds']:.3f} + final "
          f"{again['final_seconds']:.3f} + the results' tables")
    if fresh:
        print("first calls of jopt and the optax vmap sweep: medians of fresh processes, "
              "alternating (jopt " + ", ".join(f"{v:.2f}" for v in fresh["jopt"]) + " s; vmap "
              + ", ".join(f"{v:.2f}" for v in fresh["vmap"]) + " s); in this process, vmap "
              f"first then jopt: {in_process['vmap']:.2f} and {in_process['jopt']:.2f} s "
              f"({in_process['jopt'] / in_process['vmap']:.2f}x)")
    print(f"optax vmap sweep: compile ~ first - steady = {vmap.first - vmap.steady:.2f} s; "
          f"optax loop: first = compile + {n_configs} calls, steady = {n_configs} calls again")
    if torch_run is not None:
        for note in torch_run.notes:
            print(f"pytorch: {note}")
    print(f"batched matmul {n_configs} x ({BATCH}x{IN} @ {IN}x{HIDDEN}), best of "
          f"{args.matmul_repeats}: 1 device {matmul_one:.2f} GFLOP/s, {len(devices)} devices "
          f"(sharded) {matmul_all:.2f} GFLOP/s; '% matmul' is against the {len(devices)}-device "
          f"figure for jopt, the 1-device one for the others")
    print(f"flops counted: {TRAIN_FLOPS / 1e6:.2f} MFLOP per config per step "
          f"(6 x {BATCH} x {MACS}), plus 2 x {MACS} per evaluated row")

    worst = print_agreement(work, cases, vmap)

    print(f"\ntargets (issue 5; measured, not asserted; load average {load()}):")
    first_ratio, steady_ratio = jopt_run.first / vmap.first, jopt_run.steady / vmap.steady
    print(f"  jopt first call <= {TARGETS['first']}x the optax vmap sweep's: "
          f"{first_ratio:.2f}x  {verdict(first_ratio <= TARGETS['first'])}")
    print(f"  jopt steady time <= {TARGETS['steady']}x the optax vmap sweep's: "
          f"{steady_ratio:.2f}x  {verdict(steady_ratio <= TARGETS['steady'])}")
    if torch_run is not None:
        speedup = torch_run.steady / jopt_run.steady
        print(f"  jopt >= {TARGETS['torch']:g}x faster than pytorch one config at a time: "
              f"{speedup:.1f}x steady  {verdict(speedup >= TARGETS['torch'])}; "
              f"{torch_run.first / jopt_run.first:.1f}x on first calls (jopt's includes its "
              f"compilation, pytorch has none)")
    agree = all(w <= AGREE_RTOL for w in worst.values())
    print(f"  final losses agree for lr <= {AGREE_LR:g} (relative {AGREE_RTOL:g}): largest "
          + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
          + f"  {verdict(agree)}")

    profile = run_profile(work, args.profile_rounds) if args.profile else None
    scaling = run_scaling(args, work) if args.configs_scaling.strip() else []
    print(f"\ntotal {time.perf_counter() - started_all:.0f} s; load average {load()} at the end")
    return {"cases": cases, "scaling": scaling, "profile": profile,
            "matmul": (matmul_one, matmul_all)}


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


def run_profile(work: Workload, rounds: int) -> dict:
    """Steady times without the noise of one call: the chunks of jopt's sweep (on every
    device and on one: ``timings["run_seconds"]`` of a ``sweep.run`` whose programs are
    compiled already, in chunks as long as the runner allows) and the optax vmap sweep
    (on one device, and sharded by hand over every device), each compiled once, then run
    in ``rounds`` interleaved rounds (the machine's load drifts; the best round is the
    least disturbed)."""
    budget = sweep.Budget(steps=work.steps, eval_every=work.eval_every)
    blocks = math.ceil(work.steps / work.eval_every)
    every, one = jax.devices(), jax.devices()[:1]
    runs: dict = {}
    for name, devices in ((f"jopt sweep's chunks, {len(every)} devices", every),
                          ("jopt sweep's chunks, 1 device", one)):
        def call(devices=devices):
            result = sweep.run(reference_task(), work.grid(), budget=budget, out=None,
                               quiet=True, devices=devices, chunk_seconds=3600.0)
            return result.timings["run_seconds"]
        call()  # compiles the programs, which later calls reuse
        runs[name] = (len(devices), call)
    x, y = map(jnp.asarray, work.splits.train)
    hand = jax.jit(jax.vmap(make_train(work.model, x, y, work.steps)))
    sharded_args, sharding = shard_configs(work.lr, work.seed)
    hand_sharded = jax.jit(jax.vmap(make_train(work.model, x, y, work.steps)),
                           in_shardings=sharding, out_shardings=sharding)
    jax.block_until_ready((hand(work.lr, work.seed), hand_sharded(*sharded_args)))
    runs["optax vmap sweep, 1 device"] = (1, lambda: timed(lambda: hand(work.lr, work.seed))[0])
    runs[f"optax vmap sweep, {len(every)} devices"] = (
        len(every), lambda: timed(lambda: hand_sharded(*sharded_args))[0])
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (_, call) in runs.items():
            times[name].append(call())
    reference = min(times["optax vmap sweep, 1 device"])
    print(f"\n== profile: steady times, {rounds} interleaved rounds ({len(work.configs)} configs x "
          f"{work.steps} steps, {blocks + 1} evaluations in jopt's; load average {load()}) ==")
    print(f"  {'':38}{'devices':>8}{'best s':>8}{'median s':>10}{'best/vmap':>11}  rounds")
    for name, values in times.items():
        print(f"  {name:38}{runs[name][0]:8d}{min(values):8.3f}{float(np.median(values)):10.3f}"
              f"{fmt_ratio(min(values) / reference):>11}  " + " ".join(f"{v:.3f}" for v in values))
    return times


def run_scaling(args: argparse.Namespace, work: Workload) -> list:
    """Cost per config for growing config counts: jopt's sweep and the optax vmap sweep."""
    sizes = [int(s) for s in args.configs_scaling.split(",") if s.strip()]
    steps = args.scaling_steps
    x, y = map(jnp.asarray, work.splits.train)
    train = jax.vmap(make_train(work.model, x, y, steps))
    task = reference_task()
    budget = sweep.Budget(steps=steps, eval_every=steps)
    print(f"\n== cost per config: {steps} steps per config (not {args.steps}), learning rates "
          f"cycled, seed = cycle; jopt on {len(jax.devices())} devices, optax vmap on 1 ==")
    print(f"{'configs':>8} | {'jopt first s':>12}{'steady s':>9}{'ms/cfg first':>13}{'ms/cfg steady':>14}"
          f" | {'vmap first s':>12}{'steady s':>9}{'ms/cfg first':>13}{'ms/cfg steady':>14}"
          f" | {'steady/steady':>13}{'first/first':>12}  load")
    rows = []
    for size in sizes:
        lrs, seeds = scaling_configs(size, work.learning_rates)
        grid = sweep.Grid(learning_rate=lrs.tolist(), seed=seeds.tolist()).zip("learning_rate", "seed")
        jopt_first, _ = timed(lambda: sweep.run(task, grid, budget=budget, out=None, quiet=True))
        jopt_run, _ = timed(lambda: sweep.run(task, grid, budget=budget, out=None, quiet=True))
        program = jax.jit(train)
        vmap_first, _ = timed(lambda: program(lrs, seeds))
        vmap_steady, _ = timed(lambda: program(lrs, seeds))
        rows.append((size, jopt_first, jopt_run, vmap_first, vmap_steady))
        ms = 1e3 / size
        print(f"{size:8d} | {jopt_first:12.2f}{jopt_run:9.3f}{jopt_first * ms:13.3f}{jopt_run * ms:14.3f}"
              f" | {vmap_first:12.2f}{vmap_steady:9.3f}{vmap_first * ms:13.3f}{vmap_steady * ms:14.3f}"
              f" | {fmt_ratio(jopt_run / vmap_steady):>13}{fmt_ratio(jopt_first / vmap_first):>12}"
              f"  {os.getloadavg()[0]:.1f}", flush=True)
    return rows


if __name__ == "__main__":
    main()
