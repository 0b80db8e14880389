"""Batch size and the time of an epoch of SGD (FIGURES.md F35; deck 002 "Speed").

    python experiments/bench/batch_size_time.py            # 50 000 x 784, MLP 784-500-500-10
    python experiments/bench/batch_size_time.py --quick    # 2 000 examples, MLP 784-64-64-10

Deck 002 trains on 50 000 examples: "batch size = 1, 50000 updates in one epoch: 166s;
batch size = 10, 5000 updates in one epoch: 17s" (9.8x).  The workload here (chosen in
FIGURES.md): Gaussian inputs, 10 random classes, an MLP 784-500-500-10 with ReLU, mean
softmax cross-entropy, ``jopt.sgd(0.01)``, float32.  One epoch is one jitted
``lax.scan`` over the batches of a permutation (drawn by NumPy and passed in, so that
only the updates are timed), with the parameters donated; each batch size's program is
compiled ahead of time, run once to warm up, then timed (the median of ``--repeats``
epochs).  Timings are printed, never asserted.

Findings (FIGURES.md F35; jax 0.10.2, float32):

    device       B = 1              B = 10            B = 100   B = 1000   B1/B10
    2-core CPU   15.28 s (306 us)   3.35 s (669 us)   0.97 s    0.70 s     4.6x
    H100 GPU     1.227 s (24.5 us)  0.166 s (33.1 us) 0.027 s   0.007 s    7.4x

The time per update grows much more slowly than the batch size (on the GPU, 24.5 us at
B = 1 against 33.1 us at B = 10), so in the time batch 1 takes for one epoch batch 10
does several: the slide's point, if not its 9.8x.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jopt


class Row(NamedTuple):
    """One batch size: updates per epoch, seconds per epoch and per update, compile time."""

    batch_size: int
    updates: int
    epoch_seconds: float
    update_seconds: float
    compile_seconds: float


def synthetic_data(n: int, in_dim: int, classes: int, seed: int = 0):
    """``n`` Gaussian inputs and one-hot labels of ``classes`` random classes (float32, NumPy)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, in_dim), dtype=np.float32)
    return x, np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]


def he_weights(model: jopt.Model, seed: int = 0):
    """``model``'s parameters with He weights ``N(0, 2 / fan_in)`` and zero biases, drawn
    by NumPy (the shapes from ``jax.eval_shape``: nothing compiles but the epoch)."""
    rng = np.random.default_rng(seed)

    def draw(leaf):
        if leaf.ndim == 1:
            return jnp.zeros(leaf.shape, leaf.dtype)
        return jnp.asarray(rng.normal(0.0, np.sqrt(2 / leaf.shape[0]), leaf.shape), leaf.dtype)
    return jax.tree_util.tree_map(draw, jax.eval_shape(model.init, jax.random.PRNGKey(0)))


def epoch_batches(rng: np.random.Generator, n: int, batch_size: int) -> np.ndarray:
    """One epoch's batches: a permutation cut into ``n // batch_size`` rows (the rest left out)."""
    per_epoch = n // batch_size
    return rng.permutation(n)[:per_epoch * batch_size].reshape(per_epoch, batch_size)


def epoch_program(model: jopt.Model, opt: jopt.GradientTransformation):
    """``epoch(params, state, x, y, batches) -> (params, state)``: one ``lax.scan`` of SGD steps."""

    def loss(params, x, y):
        return jnp.mean(jopt.losses.softmax_cross_entropy(model.apply(params, x), y))

    def epoch(params, state, x, y, batches):
        def step(carry, batch):
            params, state = carry
            grads = jax.grad(loss)(params, x[batch], y[batch])
            updates, state = opt.update(grads, state, params)
            return (jopt.apply_updates(params, updates), state), None
        return jax.lax.scan(step, (params, state), batches)[0]

    return jax.jit(epoch, donate_argnums=(0, 1))


def measure(n: int = 50_000, in_dim: int = 784, hidden: Sequence[int] = (500, 500),
            classes: int = 10, batch_sizes: Sequence[int] = (1, 10, 100, 1000),
            learning_rate: float = 0.01, repeats: int = 1, seed: int = 0) -> list[Row]:
    """Steady-state seconds per epoch of SGD for each batch size (compiled, warmed up)."""
    x, y = (jnp.asarray(a) for a in synthetic_data(n, in_dim, classes, seed))
    model = jopt.models.mlp([in_dim, *hidden, classes], "relu")
    opt = jopt.sgd(learning_rate)
    initial = he_weights(model, seed)
    rng = np.random.default_rng(seed + 1)
    rows = []
    for batch_size in batch_sizes:
        params = jax.tree_util.tree_map(jnp.copy, initial)  # the epoch donates its input
        state = opt.init(params)
        epochs = [jnp.asarray(epoch_batches(rng, n, batch_size)) for _ in range(repeats + 1)]
        started = time.perf_counter()
        epoch = epoch_program(model, opt).lower(params, state, x, y, epochs[0]).compile()
        compile_seconds = time.perf_counter() - started
        params, state = jax.block_until_ready(epoch(params, state, x, y, epochs[0]))  # warm-up
        times = []
        for batches in epochs[1:]:
            started = time.perf_counter()
            params, state = jax.block_until_ready(epoch(params, state, x, y, batches))
            times.append(time.perf_counter() - started)
        seconds = statistics.median(times)
        updates = n // batch_size
        rows.append(Row(batch_size, updates, seconds, seconds / updates, compile_seconds))
    return rows


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
