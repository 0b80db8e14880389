"""The time of one optimizer update step: jopt against optax and torch.optim, on CPU.

    python -m experiments.bench.update_speed            # 10M parameters
    python -m experiments.bench.update_speed --quick    # a small smoke run
    python -m experiments.bench.update_speed --optimizers aliases --no-variants
                                          # optax's other optimizers, jopt against optax

One step is ``update`` + ``apply_updates`` under ``jax.jit`` with the parameters and the
optimizer state donated (so XLA updates them in place), or ``optimizer.step()`` for torch
(default implementation, ``foreach=True`` and ``fused=True``), on an MLP-like pytree of
float32 matrices and vectors with a fixed gradient.  All cases run in one process,
interleaved in rounds, and the table gives the median time per step.  A triad
``a = b + s*c`` on arrays as large as the parameters, measured in the same run, is the
bandwidth limit: "GB/s" counts the bytes an update must move at least (sgd-momentum reads
p, g, m and writes p, m: 5 arrays; adam and adamw read p, g, m, v and write p, m, v: 7;
the triad 3), and "% triad" is that rate over the best triad's.  The triad's store to a
fresh ``a`` also costs a hidden read of ``a`` (write-allocate), which in-place updates do
not pay, so the in-place ``a = a + s*c`` is shown too: it is the real ceiling for an
optimizer step.  Timings are printed, never asserted.  After the timings, a second table
compares jopt's compiled step with optax's by XLA's cost analysis (bytes accessed and
flops of the donated, jitted step): a property of the two programs, unaffected by the
machine's load, for the issue's "the same or a better XLA program".

What it measured: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

import jopt

try:
    import optax
except ImportError:  # optax and torch come with the test extra: pip install -e '.[test]'
    optax = None
# torch's OpenMP threads spin-wait by default; on a machine shared with other jobs a
# spinning barrier stalls for whole scheduler ticks (measured: fused Adam 48 ms instead
# of 12-15 ms).  Set before torch starts its threads; export OMP_WAIT_POLICY to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
try:
    import torch
except ImportError:
    torch = None

# optax's other optimizers, each built alike in jopt and optax: (arguments, the arrays an
# update must move at least: read p, g and the state, write p and the state).
ALIASES = {
    "nadam": (dict(), 7), "nadamw": (dict(), 7), "adamax": (dict(), 7), "adamaxw": (dict(), 7),
    "amsgrad": (dict(), 9), "radam": (dict(), 7), "adabelief": (dict(), 7), "yogi": (dict(), 7),
    "adan": (dict(), 11), "lion": (dict(), 5), "lamb": (dict(), 7), "lars": (dict(), 5),
    "fromage": (dict(), 3), "sign_sgd": (dict(), 3), "signum": (dict(), 5),
    "novograd": (dict(), 5), "noisy_sgd": (dict(key=0), 3), "rprop": (dict(), 7),
    "sm3": (dict(), 5), "adafactor": (dict(), 3), "adadelta": (dict(), 7),
    "optimistic_gradient_descent": (dict(), 5), "optimistic_adam_v2": (dict(), 9),
    "polyak_sgd": (dict(), 3),
}
NEEDS_VALUE = ("polyak_sgd",)  # its update takes value=f(x): the bench passes a constant
OPTIMIZERS = ("sgd-momentum", "adam", "adamw", *ALIASES)
TRIAD, IN_PLACE = "triad", "in-place"  # a = b + s*c, and a = a + s*c
ARRAYS_MOVED = {"sgd-momentum": 5, "adam": 7, "adamw": 7, TRIAD: 3, IN_PLACE: 3,
                **{name: arrays for name, (_, arrays) in ALIASES.items()}}
LEARNING_RATE = 1e-3
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-2
TRIAD_SCALE = 3.0
TORCH_IMPLS = {"torch": {}, "torch foreach": {"foreach": True}, "torch fused": {"fused": True}}
REFERENCES = ("optax", "torch", "torch foreach", "torch fused")


@dataclass
class Case:
    """One timed thing: ``run()`` does one step and returns when its results are ready."""

    group: str          # an optimizer name, TRIAD or IN_PLACE
    name: str           # the implementation
    run: Callable[[], None]
    n_elements: int
    times: list = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)

    @property
    def gigabytes_per_second(self) -> float:
        return ARRAYS_MOVED[self.group] * 4 * self.n_elements / self.seconds / 1e9


# ----------------------------------------------------------------------------
# The parameters: a float32 MLP-like pytree
# ----------------------------------------------------------------------------


def mlp_shapes(n_params: int) -> dict[str, tuple[int, ...]]:
    """Three square weight matrices and their biases, about ``n_params`` elements in all."""
    width = max(2, math.isqrt(n_params // 3))
    shapes = {}
    for layer in range(3):
        shapes[f"w{layer}"] = (width, width)
        shapes[f"b{layer}"] = (width,)
    return shapes


def random_tree(shapes: dict, seed: int, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: (scale * rng.standard_normal(shape)).astype(np.float32)
            for name, shape in shapes.items()}


# ----------------------------------------------------------------------------
# The cases
# ----------------------------------------------------------------------------


def jax_optimizer(library, optimizer: str):
    if optimizer in ALIASES:
        kwargs = ALIASES[optimizer][0]
        if optimizer == "polyak_sgd":
            return getattr(library, optimizer)(**kwargs)
        return getattr(library, optimizer)(LEARNING_RATE, **kwargs)
    if optimizer == "sgd-momentum":
        return library.sgd(LEARNING_RATE, momentum=MOMENTUM)
    if optimizer == "adam":
        return library.adam(LEARNING_RATE)
    return library.adamw(LEARNING_RATE, weight_decay=WEIGHT_DECAY)


def step_function(opt, apply_updates, extra: Optional[dict] = None) -> Callable:
    """``(params, state, grads) -> (params, state)``: one update and its application."""

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params, **(extra or {}))
        return apply_updates(params, updates), state
    return step


def xla_cost(opt, apply_updates, params, grads, extra: Optional[dict] = None) -> dict:
    """XLA's cost analysis of the compiled, donated step: its "bytes accessed" and "flops"."""
    params = jax.tree_util.tree_map(jnp.asarray, params)
    grads = jax.tree_util.tree_map(jnp.asarray, grads)
    compiled = jax.jit(step_function(opt, apply_updates, extra), donate_argnums=(0, 1)).lower(
        params, opt.init(params), grads).compile()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return {key: float(analysis.get(key, math.nan)) for key in ("bytes accessed", "flops")}


def cost_table(params, grads, optimizers) -> str:
    """jopt's compiled step against optax's, by XLA's own count of bytes and flops: a
    property of the programs, not of the machine's load (1.00 = as much as optax's)."""
    lines = [f"{'optimizer':<28} {'MB jopt':>8} {'MB optax':>9} {'bytes x optax':>14} "
             f"{'flops x optax':>14}"]
    for optimizer in optimizers:
        extra = dict(value=jnp.float32(1.0)) if optimizer in NEEDS_VALUE else None
        mine = xla_cost(jax_optimizer(jopt, optimizer), jopt.apply_updates, params, grads, extra)
        theirs = xla_cost(jax_optimizer(optax, optimizer), optax.apply_updates, params, grads,
                          extra)
        lines.append(f"{optimizer:<28} {mine['bytes accessed'] / 1e6:8.1f} "
                     f"{theirs['bytes accessed'] / 1e6:9.1f} "
                     f"{mine['bytes accessed'] / theirs['bytes accessed']:14.2f} "
                     f"{mine['flops'] / theirs['flops']:14.2f}")
    return "\n".join(lines)


def jax_step(opt, apply_updates, params, grads, donate: bool = True,
             extra: Optional[dict] = None) -> Callable[[], None]:
    """One jitted update + apply, carrying (params, state) from call to call."""
    step = jax.jit(step_function(opt, apply_updates, extra),
                   donate_argnums=(0, 1) if donate else ())
    params = jax.tree_util.tree_map(jnp.array, params)  # fresh device buffers
    grads = jax.tree_util.tree_map(jnp.array, grads)
    carry = [params, opt.init(params)]

    def run():
        carry[:] = step(carry[0], carry[1], grads)
        jax.block_until_ready(carry)
    return run


def torch_step(optimizer: str, params, grads, **impl) -> Callable[[], None]:
    tensors = []
    for name in params:
        tensor = torch.tensor(params[name])
        tensor.grad = torch.tensor(grads[name])
        tensors.append(tensor)
    if optimizer == "sgd-momentum":
        opt = torch.optim.SGD(tensors, lr=LEARNING_RATE, momentum=MOMENTUM, **impl)
    elif optimizer == "adam":
        opt = torch.optim.Adam(tensors, lr=LEARNING_RATE, **impl)
    else:
        opt = torch.optim.AdamW(tensors, lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY, **impl)
    opt.step()  # raises here if this implementation is not supported on CPU
    return opt.step


def optimizer_cases(params, grads, n: int, optimizers=OPTIMIZERS) -> list[Case]:
    cases = []
    for optimizer in optimizers:
        extra = dict(value=jnp.float32(1.0)) if optimizer in NEEDS_VALUE else None
        cases.append(Case(optimizer, "jopt", jax_step(jax_optimizer(jopt, optimizer),
                                                      jopt.apply_updates, params, grads,
                                                      extra=extra), n))
        if optax is not None:
            cases.append(Case(optimizer, "optax", jax_step(jax_optimizer(optax, optimizer),
                                                           optax.apply_updates, params, grads,
                                                           extra=extra), n))
        if torch is not None and optimizer not in ALIASES:
            for name, impl in TORCH_IMPLS.items():
                try:
                    cases.append(Case(optimizer, name, torch_step(optimizer, params, grads,
                                                                  **impl), n))
                except (RuntimeError, ValueError, TypeError) as error:
                    print(f"# skipped {optimizer} {name}: {error}", file=sys.stderr)
    return cases


def variant_cases(params, grads, n: int) -> list[Case]:
    """jopt set up otherwise: what the gap to torch's fused kernels depends on."""
    flat_params = {"flat": np.concatenate([x.ravel() for x in params.values()])}
    flat_grads = {"flat": np.concatenate([x.ravel() for x in grads.values()])}
    cases = []
    for optimizer in ("sgd-momentum", "adam"):
        opt = jax_optimizer(jopt, optimizer)
        cases.append(Case(optimizer, "jopt, no donation",
                          jax_step(opt, jopt.apply_updates, params, grads, donate=False), n))
        cases.append(Case(optimizer, "jopt, one flat buffer",
                          jax_step(opt, jopt.apply_updates, flat_params, flat_grads), n))
    return cases


def triad_cases(n: int) -> list[Case]:
    """``a = b + s*c`` in NumPy, jitted JAX and torch, and the in-place ``a = a + s*c``."""
    rng = np.random.default_rng(2)
    a, b, c = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    s = np.float32(TRIAD_SCALE)

    def numpy_triad():  # two passes (NumPy has no fused multiply-add into out)
        np.multiply(c, s, out=a)
        np.add(a, b, out=a)

    cases = [Case(TRIAD, "numpy (2 passes: no fused out=)", numpy_triad, n)]

    # keep_unused: else jit drops the unused donated ``a`` and allocates a new output
    # every call, and the triad measures page faults instead of bandwidth.
    triad = jax.jit(lambda a, b, c: b + s * c, donate_argnums=0, keep_unused=True)
    in_place = jax.jit(lambda a, c: a + s * c, donate_argnums=0)
    ja, jb, jc = jnp.array(a), jnp.array(b), jnp.array(c)
    carry = [ja, jnp.array(a)]

    def jax_triad():
        carry[0] = triad(carry[0], jb, jc)
        carry[0].block_until_ready()

    def jax_in_place():
        carry[1] = in_place(carry[1], jc)
        carry[1].block_until_ready()

    cases += [Case(TRIAD, "jax (jit, donated a)", jax_triad, n),
              Case(IN_PLACE, "jax (jit, donated a)", jax_in_place, n)]
    if torch is not None:
        ta, tb, tc, td = (torch.tensor(x) for x in (a, b, c, a))
        cases += [Case(TRIAD, "torch (add, out=a)",
                       lambda: torch.add(tb, tc, alpha=TRIAD_SCALE, out=ta), n),
                  Case(IN_PLACE, "torch (add_)", lambda: td.add_(tc, alpha=TRIAD_SCALE), n)]
    return cases


# ----------------------------------------------------------------------------
# Timing and the table
# ----------------------------------------------------------------------------


def measure(cases: list[Case], repeats: int, rounds: int, warmup: int) -> None:
    """Time every case ``repeats`` times, interleaved in ``rounds`` so drift hits all alike.

    Each case's block in a round starts with one untimed step (so a case never pays for
    the one before it, e.g. torch's worker threads still spinning).
    """
    for case in cases:
        for _ in range(warmup):  # compile, allocate, fault pages in
            case.run()
    per_round = max(1, math.ceil(repeats / rounds))
    for _ in range(rounds):
        for case in cases:
            case.run()
            for _ in range(per_round):
                start = time.perf_counter()
                case.run()
                case.times.append(time.perf_counter() - start)


def ratio(case: Case, reference: Optional[Case]) -> str:
    return "-" if reference is None else f"{case.seconds / reference.seconds:.2f}"


def format_table(cases: list[Case], limit: float) -> str:
    by_key = {(c.group, c.name): c for c in cases}
    width = max(13, *(len(c.group) for c in cases))
    header = (f"{'optimizer':<{width}} {'implementation':<30} {'ms':>8} {'x optax':>8} {'x torch':>8} "
              f"{'x foreach':>9} {'x fused':>8} {'GB/s':>7} {'% triad':>8}")
    lines = [header, "-" * len(header)]
    group = None
    for case in cases:
        if group is not None and case.group != group:
            lines.append("")
        group = case.group
        refs = [by_key.get((case.group, r)) for r in REFERENCES]
        lines.append(
            f"{case.group:<{width}} {case.name:<30} {case.seconds * 1e3:8.2f} {ratio(case, refs[0]):>8} "
            f"{ratio(case, refs[1]):>8} {ratio(case, refs[2]):>9} {ratio(case, refs[3]):>8} "
            f"{case.gigabytes_per_second:7.1f} {100 * case.gigabytes_per_second / limit:7.0f}%")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=int, default=10_000_000,
                        help="number of parameters (default 10_000_000)")
    parser.add_argument("--repeats", type=int, default=40,
                        help="timed steps per case (default 40); the median is reported")
    parser.add_argument("--rounds", type=int, default=5,
                        help="the repeats are split into this many interleaved rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per case first")
    parser.add_argument("--no-variants", action="store_true",
                        help="leave out the jopt variants (no donation, one flat buffer)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 30_000 parameters, 4 repeats")
    parser.add_argument("--optimizers", default=None,
                        help="comma-separated names to time (default all: "
                             f"{', '.join(OPTIMIZERS)}); 'aliases' for optax's other optimizers")
    args = parser.parse_args(argv)
    if args.quick:
        args.params, args.repeats, args.rounds, args.warmup = 30_000, 4, 2, 1
    if args.params < 12 or args.repeats < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--params must be >= 12, --repeats and --rounds >= 1, --warmup >= 0")
    return args


def main(argv=None) -> list[Case]:
    args = parse_args(argv)
    shapes = mlp_shapes(args.params)
    params = random_tree(shapes, seed=0)
    grads = random_tree(shapes, seed=1, scale=1e-3)
    n = sum(x.size for x in params.values())

    if args.optimizers is None:
        chosen = OPTIMIZERS
    elif args.optimizers == "aliases":
        chosen = tuple(ALIASES)
    else:
        chosen = tuple(args.optimizers.split(","))
    unknown = sorted(set(chosen) - set(OPTIMIZERS))
    if unknown:
        raise SystemExit(f"unknown optimizers {unknown}; known: {', '.join(OPTIMIZERS)}")
    cases = optimizer_cases(params, grads, n, chosen)
    if not args.no_variants:
        cases += variant_cases(params, grads, n)
    cases += triad_cases(n)
    order = {name: i for i, name in enumerate(OPTIMIZERS + (TRIAD, IN_PLACE))}
    cases.sort(key=lambda c: order[c.group])  # stable: the implementations keep their order

    start = time.perf_counter()
    measure(cases, args.repeats, args.rounds, args.warmup)
    elapsed = time.perf_counter() - start

    limit = max(c.gigabytes_per_second for c in cases if c.group == TRIAD)
    print(f"update step: {n:,} float32 parameters in {len(shapes)} leaves "
          f"({', '.join('x'.join(map(str, s)) for s in list(shapes.values())[:2])}, ...); "
          f"median of {args.repeats} steps per case after {args.warmup} warm-up, "
          f"{args.rounds} interleaved rounds, {elapsed:.0f} s")
    print(f"jax {jax.__version__} ({jax.devices()[0].platform}), "
          f"optax {getattr(optax, '__version__', 'not installed')}, "
          f"torch {getattr(torch, '__version__', 'not installed')}"
          f"{f' ({torch.get_num_threads()} threads)' if torch is not None else ''}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    print("x REF: time / REF's time for the same optimizer.  GB/s: arrays an update must move "
          "(sgd-momentum 5, adam 7, triad 3) x 4 bytes x parameters / time.")
    print(f"% triad: GB/s / the best triad a = b + s*c's ({limit:.1f} GB/s); the in-place "
          f"a = a + s*c moves no write-allocate traffic.\n")
    print(format_table(cases, limit))
    if optax is not None:
        print("\nXLA's cost analysis of the compiled steps (deterministic: the same on a busy "
              "machine):\n")
        print(cost_table(params, grads, chosen))
    return cases


if __name__ == "__main__":
    main()
