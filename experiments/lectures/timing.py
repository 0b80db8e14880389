"""The timed workloads behind F35 and F37, shared by ``sgd`` and the benchmarks.

F35 (deck 002 "Speed"): the steady-state time of an epoch of SGD against the batch size,
:func:`epoch_times`.  F37 (deck 004 "Mini-batches"): the time of one gradient against
the number of examples in it, :func:`gradient_times`.  The scripts
``python -m experiments.bench.batch_size_time`` and ``... .gradient_cost`` print them as
tables; ``docs/benchmarks.md`` has what they measured.  Timings are shown, never asserted.
"""

from __future__ import annotations

import statistics
import time
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jopt


def gaussian_classes(rng: np.random.Generator, n: int, in_dim: int, classes: int):
    """``n`` Gaussian inputs and one-hot labels of ``classes`` random classes (float32, NumPy)."""
    x = rng.standard_normal((n, in_dim), dtype=np.float32)
    return x, np.eye(classes, dtype=np.float32)[rng.integers(0, classes, n)]


def he_weights(model: jopt.Model, seed: int = 0):
    """``model``'s parameters with He weights ``N(0, 2 / fan_in)`` and zero biases, drawn
    by NumPy (the shapes from ``jax.eval_shape``: nothing compiles but the timed program)."""
    rng = np.random.default_rng(seed)

    def draw(leaf):
        if leaf.ndim == 1:
            return jnp.zeros(leaf.shape, leaf.dtype)
        return jnp.asarray(rng.normal(0.0, np.sqrt(2 / leaf.shape[0]), leaf.shape), leaf.dtype)
    return jax.tree_util.tree_map(draw, jax.eval_shape(model.init, jax.random.PRNGKey(0)))


def median_seconds(call, repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``call()`` (each waited for)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# ----------------------------------------------------------------------------
# F35: the time of an epoch of SGD against the batch size
# ----------------------------------------------------------------------------


class EpochTime(NamedTuple):
    """One batch size: updates per epoch, seconds per epoch and per update, compile time."""

    batch_size: int
    updates: int
    epoch_seconds: float
    update_seconds: float
    compile_seconds: float


def epoch_batches(rng: np.random.Generator, n: int, batch_size: int) -> np.ndarray:
    """One epoch's batches: a permutation cut into ``n // batch_size`` rows (the rest left out)."""
    per_epoch = n // batch_size
    return rng.permutation(n)[:per_epoch * batch_size].reshape(per_epoch, batch_size)


def epoch_program(model: jopt.Model, opt: jopt.GradientTransformation):
    """``epoch(params, state, x, y, batches) -> (params, state)``: one ``lax.scan`` of SGD
    steps on mean softmax cross-entropy, jitted with the parameters and state donated."""

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


def epoch_times(n: int = 50_000, in_dim: int = 784, hidden: Sequence[int] = (500, 500),
                classes: int = 10, batch_sizes: Sequence[int] = (1, 10, 100, 1000),
                learning_rate: float = 0.01, repeats: int = 1, seed: int = 0) -> list[EpochTime]:
    """Steady-state seconds per epoch of SGD for each batch size.

    The workload (FIGURES.md F35): ``n`` Gaussian inputs, ``classes`` random classes, an
    MLP ``in_dim-hidden-classes`` with ReLU and He weights, ``jopt.sgd(learning_rate)``,
    float32.  The batches are drawn by NumPy and passed in, so that only the updates are
    timed; each batch size's program is compiled ahead of time, run once to warm up,
    then timed (the median of ``repeats`` epochs).
    """
    x, y = (jnp.asarray(a) for a in gaussian_classes(np.random.default_rng(seed), n, in_dim,
                                                      classes))
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
        for batches in epochs[1:]:  # each epoch continues from the last (its input is donated)
            started = time.perf_counter()
            params, state = jax.block_until_ready(epoch(params, state, x, y, batches))
            times.append(time.perf_counter() - started)
        seconds = statistics.median(times)
        updates = n // batch_size
        rows.append(EpochTime(batch_size, updates, seconds, seconds / updates, compile_seconds))
    return rows


# ----------------------------------------------------------------------------
# F37: the cost of one gradient against the number of examples in it
# ----------------------------------------------------------------------------


class GradientTime(NamedTuple):
    """One batch: ``examples`` (m) and the median ``seconds`` of a gradient on them."""

    examples: int
    seconds: float


def softmax_regression_gradient(in_dim: int, classes: int):
    """``(model, grad)``: a softmax regression and the jitted gradient
    ``grad(params, x, y)`` of its mean softmax cross-entropy."""
    model = jopt.models.logistic(in_dim, classes)

    def loss(params, x, y):
        return jnp.mean(jopt.losses.softmax_cross_entropy(model.apply(params, x), y))
    return model, jax.jit(jax.grad(loss))


def gradient_times(sizes: Sequence[int] = (10, 100, 1000, 10_000, 60_000), in_dim: int = 784,
                   classes: int = 10, repeats: int = 20, seed: int = 0) -> list[GradientTime]:
    """The median seconds of one gradient on ``m`` examples, for each ``m`` in ``sizes``.

    The workload (FIGURES.md F37): a softmax regression of MNIST's shape (784 inputs, 10
    classes, weights and a bias) on ``m`` Gaussian examples drawn by NumPy; each size's
    gradient is compiled and run once before it is timed.
    """
    model, grad = softmax_regression_gradient(in_dim, classes)
    params = model.init(jax.random.PRNGKey(seed))
    rng = np.random.default_rng(seed)
    rows = []
    for m in sizes:
        x, y = (jnp.asarray(a) for a in gaussian_classes(rng, m, in_dim, classes))
        compiled = grad.lower(params, x, y).compile()
        jax.block_until_ready(compiled(params, x, y))
        rows.append(GradientTime(m, median_seconds(lambda: compiled(params, x, y), repeats)))
    return rows
