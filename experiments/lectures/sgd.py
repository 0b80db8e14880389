"""SGD, mini-batches, averaging and batch size: FIGURES.md section 6, F30-F37.

Gradient descent against SGD per epoch on a 20-point line fit (F30); a mini-batch
gradient is an unbiased estimate of the full one, with the variance of sampling without
replacement (F31), and each batch has its own loss landscape and minimizer (F32); with a
constant step SGD settles at a noise floor proportional to the step, which Polyak
averaging removes (F33); random reshuffling against sampling with replacement, and the
"unlearning" of never-shuffled sorted data (F34); the time of an epoch against the batch
size (F35, a benchmark); the batch size against the loss reached (F36, a sweep with a
static batch-size axis); and the cost table of GD against SGD (F37, with a benchmark of
the gradient's cost against the number of examples).

Decks followed: 001 "Stochastic Gradient Descent" (unbiasedness, "permute instances",
"unlearning", mini-batch size, rates, iterate averaging, "converge to a ball around the
optimum"); 002 "Stochastic gradient decent", "Mini-batch", "Speed" (Run "3.3.
Mini_Batch_Training"); 003 "Batch Size: How much data?", "Different data, different
loss", "How much data to use in each step?"; 004 "Mini-batches", "Stochastic gradient
descent", "Asymptotic upper bounds".

Every run is :func:`train_epochs`: a ``lax.scan`` over epochs of a ``lax.scan`` over
given mini-batches, keeping the iterates that the figures draw (:func:`jopt.fit` keeps
losses).  The batches are drawn on the host by NumPy in the catalogue's draw order
(:func:`numpy_batches`), so that FIGURES.md's [seeded] numbers reproduce.  Sweeps over
the learning rate and the seed are one ``jax.vmap`` over a function that builds
``jopt.sgd`` from the traced values; the batch size, a shape, is a static axis of
``jopt.sweep.run`` (F36).  The two timing figures measure the workloads of
:mod:`experiments.lectures.timing` (F35, F37), which the benchmarks
``batch_size_time`` and ``gradient_cost`` print as tables; timings are shown, never
asserted.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

import jopt
from experiments.lectures import problems
from experiments.lectures.common import (contour, draw_paths, first_index, float64, pick,
                                         subplots, trajectory)
from experiments.lectures.timing import epoch_times, gradient_times, he_weights

# ----------------------------------------------------------------------------
# Shared pieces: mini-batches drawn on the host, an epoch-by-epoch training loop
# ----------------------------------------------------------------------------

def numpy_batches(seed: int, n: int, batch_size: int, epochs: int,
                  sampling: str = "epoch") -> np.ndarray:
    """The indices of every mini-batch of ``epochs`` epochs: ``(epochs, n // batch_size, batch_size)``.

    Drawn with NumPy's ``default_rng(seed)`` in the order FIGURES.md's measurements drew
    them, so that its [seeded] numbers reproduce: ``"epoch"`` (random reshuffling:
    ``rng.permutation(n)`` each epoch, cut into batches, the last ``n % batch_size``
    left out), ``"replacement"`` (``rng.integers(0, n, ...)``) and ``"sequential"``
    (the data's order, never shuffled).  jopt's samplers
    (:func:`jopt.data.epoch_batches`, :func:`jopt.data.batch_indices`, what
    :func:`jopt.fit` uses) draw the same kinds of batches from a JAX key inside
    ``jit``, with other digits.  Drawn on the host, the batches are data for the
    compiled runs, which then hold no random-number code to compile.
    """
    per_epoch = jopt.data.steps_per_epoch(n, batch_size)
    rng = np.random.default_rng(seed)
    if sampling == "epoch":
        orders = np.stack([rng.permutation(n) for _ in range(epochs)])
        return orders[:, :per_epoch * batch_size].reshape(epochs, per_epoch, batch_size)
    if sampling == "replacement":
        return rng.integers(0, n, size=(epochs, per_epoch, batch_size))
    if sampling == "sequential":
        return np.broadcast_to(np.arange(per_epoch * batch_size).reshape(per_epoch, batch_size),
                               (epochs, per_epoch, batch_size))
    raise ValueError(f"unknown sampling {sampling!r}; known: epoch, replacement, sequential")


def seeded_batches(seeds, n: int, batch_size: int, epochs: int, sampling: str = "epoch") -> np.ndarray:
    """:func:`numpy_batches` for each seed, stacked: ``(seeds, epochs, n // B, B)``."""
    return np.stack([numpy_batches(seed, n, batch_size, epochs, sampling) for seed in seeds])


class Training(NamedTuple):
    """:func:`train_epochs`'s result: the last ``params`` and optimizer ``state``; what
    ``record`` kept at the start and after each epoch (leading axis ``epochs + 1``), and
    after each step (``(epochs, steps, ...)``, with ``every_step``)."""

    params: Any
    state: Any
    epochs: Any
    steps: Any


def train_epochs(loss: Callable, params: Any, opt: jopt.GradientTransformation, data: Any,
                 batches: jax.Array, record: Optional[Callable] = None,
                 every_step: bool = False) -> Training:
    """Mini-batch training, epoch by epoch: step ``s`` of epoch ``e`` uses ``batches[e, s]``.

    Each step takes the gradient of ``loss(params, x[batch], y[batch])`` (a mean over
    the batch) and applies ``opt``.  ``record(params, state)`` is kept at the start and
    at each epoch's end (and after every step with ``every_step``).  Pure and
    jittable: vmap it over hyperparameters and seeds.  (:func:`jopt.fit` does the same
    with validation, early stopping and averages, and keeps losses, not iterates.)
    """
    x, y = (jnp.asarray(a) for a in data)
    record = record or (lambda params, state: ())

    def step(carry, batch):
        params, state = carry
        grads = jax.grad(loss)(params, x[batch], y[batch])
        updates, state = opt.update(grads, state, params)
        params = jopt.apply_updates(params, updates)
        return (params, state), (record(params, state) if every_step else ())

    def epoch(carry, epoch_batches):
        carry, steps = jax.lax.scan(step, carry, epoch_batches)
        return carry, (record(*carry), steps)

    start = (params, opt.init(params))
    (params, state), (at_epochs, at_steps) = jax.lax.scan(epoch, start, batches)
    at_epochs = jax.tree_util.tree_map(lambda first, rest: jnp.concatenate([first[None], rest]),
                                       record(*start), at_epochs)
    return Training(params, state, at_epochs, at_steps)


def excess_quadratic(w: jax.Array, w_min: jax.Array, hessian: jax.Array) -> jax.Array:
    """``L(w) - L* = 1/2 (w - w*)' H (w - w*)`` for a least-squares loss: no cancellation."""
    delta = w - w_min
    return 0.5 * delta @ (hessian @ delta)


# ----------------------------------------------------------------------------
# F30: GD against SGD per epoch on 20 examples
# ----------------------------------------------------------------------------


def with_intercept(x1: np.ndarray) -> np.ndarray:
    """Rows ``(1, x1)``: a line ``b + w x1`` is then ``x'theta`` with ``theta = (b, w)``,
    and its loss ``1/2 mean (y - b - w x1)^2`` is :func:`problems.linreg_loss`."""
    return np.column_stack([np.ones_like(x1), x1])


def line_data(n: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """F30's data: ``x1 = linspace(-1, 1, 20)``, ``y = 2 + 3 x1 + 0.3 default_rng(0).normal(20)``;
    rows ``(1, x1)``."""
    x1 = np.linspace(-1.0, 1.0, n)
    return with_intercept(x1), 2 + 3 * x1 + 0.3 * np.random.default_rng(seed).normal(size=n)


def line_fit(x: jax.Array, y: jax.Array) -> jax.Array:
    """The least-squares line ``(intercept, slope)`` through rows ``x = (1, x1)``:
    slope = cov(x1, y) / var(x1)."""
    x1 = x[:, 1]
    slope = jnp.mean((x1 - x1.mean()) * (y - y.mean())) / jnp.var(x1)
    return jnp.stack([y.mean() - slope * x1.mean(), slope])


class GdVsSgd(NamedTuple):
    """F30: for each learning rate, the full loss after each epoch (``gd_loss``,
    ``sgd_loss``: ``(rates, epochs + 1)``), the epochs to an excess below ``tol`` (-1:
    never), and the iterates (``gd_path``: one per epoch; ``sgd_path``: one per step)."""

    learning_rates: np.ndarray
    gd_loss: np.ndarray
    sgd_loss: np.ndarray
    gd_epochs: np.ndarray
    sgd_epochs: np.ndarray
    gd_path: np.ndarray
    sgd_path: np.ndarray
    loss0: np.ndarray
    loss_star: np.ndarray
    tol: np.ndarray
    x: np.ndarray
    y: np.ndarray


@jax.jit
def gd_and_sgd(x, y, theta0, learning_rates, gd_batches, sgd_batches, tol) -> GdVsSgd:
    """:func:`f30`'s computation: both methods for every rate in one vmap each."""
    loss = lambda theta: problems.linreg_loss(theta, x, y)
    loss_star = loss(line_fit(x, y))

    def run(learning_rate, batches):
        run_ = train_epochs(problems.linreg_loss, theta0, jopt.sgd(learning_rate), (x, y), batches,
                            record=lambda theta, state: theta, every_step=True)
        return run_.epochs, run_.steps.reshape(-1, 2)

    gd_path, _ = jax.vmap(run, (0, None))(learning_rates, gd_batches)
    sgd_ends, sgd_steps = jax.vmap(run, (0, None))(learning_rates, sgd_batches)
    gd_loss, sgd_loss = (jax.vmap(jax.vmap(loss))(path) for path in (gd_path, sgd_ends))
    to_tol = jax.vmap(lambda losses: first_index(losses - loss_star < tol))
    start = jnp.broadcast_to(theta0, (len(learning_rates), 1, 2))
    return GdVsSgd(learning_rates, gd_loss, sgd_loss, to_tol(gd_loss), to_tol(sgd_loss), gd_path,
                   jnp.concatenate([start, sgd_steps], axis=1), loss(theta0), loss_star, tol, x, y)


@float64
def f30(learning_rates=(0.1, 0.3), epochs: int = 100, seed: int = 1, tol: float = 1e-2) -> GdVsSgd:
    """F30: GD (one update per epoch) against SGD (20 per epoch, reshuffled), from (-2, -2).

    Deck 002 "Stochastic gradient decent" ("If there are 20 examples, 20 times faster");
    deck 003 "How much data to use in each step?".  GD is the same loop with a single
    batch of all 20 examples; SGD's epochs are ``default_rng(seed)`` permutations.
    """
    x, y = (jnp.asarray(a) for a in line_data())
    n = len(x)
    return gd_and_sgd(x, y, jnp.array([-2.0, -2.0]), jnp.asarray(learning_rates),
                      numpy_batches(seed, n, n, epochs, "sequential"),
                      numpy_batches(seed, n, 1, epochs, "epoch"), jnp.asarray(tol))


def plot_f30(data: GdVsSgd):
    """Contours of L(b, w) with GD's path (a point per epoch) and SGD's (20 per epoch);
    the excess loss against the epoch (log y)."""
    fig, ((paths, curves),) = subplots(2)
    loss = jax.jit(functools.partial(problems.linreg_loss, x=jnp.asarray(data.x), y=jnp.asarray(data.y)))
    contour(paths, loss, (-3, 5), (-3, 5), levels=20)
    rate = float(data.learning_rates[0])
    gd_epochs, sgd_epochs = 30, 3
    draw_paths(paths, {f"GD, {gd_epochs} epochs (1 update each)": data.gd_path[0, :gd_epochs + 1],
                       f"SGD, {sgd_epochs} epochs (20 updates each)":
                           data.sgd_path[0, :20 * sgd_epochs + 1]}, markersize=2)
    paths.set(xlabel="intercept b", ylabel="slope w",
              title=f"F30 · GD against SGD on 20 examples, η = {rate:g}")
    epochs = np.arange(data.gd_loss.shape[1])
    for i, rate in enumerate(data.learning_rates):
        curves.semilogy(epochs, data.gd_loss[i] - data.loss_star, "--", label=f"GD, η = {rate:g}")
        curves.semilogy(epochs, data.sgd_loss[i] - data.loss_star, label=f"SGD, η = {rate:g}")
    curves.axhline(float(data.tol), color="0.5", linewidth=0.8)
    curves.set(xlabel="epoch", ylabel="L(b, w) − L*", title="F30 · excess loss per epoch")
    curves.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F31, F32: mini-batch gradients and mini-batch losses on one data set
# ----------------------------------------------------------------------------


def intercept_slope_data(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """F31's data: rows ``x = (1, x1)``, ``x1 ~ N(0, 1)``, ``y = 1 + 2 x1 + N(0, 1)`` (in that order)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    return with_intercept(x1), 1 + 2 * x1 + rng.normal(size=n)


def batches_without_replacement(seed: int, n: int, size: int, draws: int) -> np.ndarray:
    """``draws`` independent draws of ``size`` of ``range(n)`` without replacement, each in
    a random order (``default_rng(seed).choice``), so that the first B columns are a
    uniform draw of B for every B up to ``size``: ``(draws, size)``."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(n, size, replace=False) for _ in range(draws)])


class BatchGradients(NamedTuple):
    """F31: ``partition_error`` (max |mean of one epoch's batch gradients - full gradient|,
    one per ``partition_sizes``); for each of ``batch_sizes``, the empirical variance of
    the batch-mean gradient over the draws (about the full gradient) and the formula
    ``(S^2 / B)(n - B) / n``; ``samples``: a few batch gradients per size, for the plot."""

    full_gradient: np.ndarray
    partition_sizes: np.ndarray
    partition_error: np.ndarray
    batch_sizes: np.ndarray
    variance: np.ndarray
    formula: np.ndarray
    mean_of_draws: np.ndarray
    samples: np.ndarray


@functools.partial(jax.jit, static_argnames=("partition_sizes", "batch_sizes", "samples"))
def batch_gradients(x, y, permutation, draws, *, partition_sizes, batch_sizes,
                    samples) -> BatchGradients:
    """:func:`f31`'s computation: ``permutation`` is cut into each partition; the first B
    columns of ``draws`` are the batches of size B."""
    n = len(y)
    w0 = jnp.zeros(2, x.dtype)
    grad = jax.grad(problems.linreg_loss)
    full = grad(w0, x, y)

    def partition_error(size):
        epoch = permutation.reshape(-1, size)
        batch_grads = jax.vmap(grad, (None, 0, 0))(w0, x[epoch], y[epoch])
        return jnp.max(jnp.abs(batch_grads.mean(axis=0) - full))

    per_example = jax.vmap(grad, (None, 0, 0))(w0, x[:, None], y[:, None])
    sums = jnp.cumsum(per_example[draws], axis=1)
    means = jnp.stack([sums[:, size - 1] / size for size in batch_sizes])
    sizes = jnp.asarray(batch_sizes, x.dtype)[:, None]
    formula = per_example.var(axis=0, ddof=1) / sizes * (n - sizes) / n
    return BatchGradients(full, jnp.asarray(partition_sizes),
                          jnp.stack([partition_error(size) for size in partition_sizes]),
                          jnp.asarray(batch_sizes), jnp.mean((means - full) ** 2, axis=1),
                          formula, means.mean(axis=1), means[:, :samples])


@float64
def f31(partition_sizes=(1, 10, 100), batch_sizes=(1, 2, 5, 10, 20, 50, 100),
        draws: int = pick(20_000, 5_000), seed: int = 0, samples: int = 400) -> BatchGradients:
    """F31: mini-batch gradients at w = 0 are unbiased; their variance (S^2/B)(n - B)/n.

    Deck 001 "Stochastic Gradient Descent" ("E grad R(S_K) = grad R(S_N)"); deck 004
    "Mini-batches" ("drawn uniformly").  An epoch is a ``default_rng(seed)`` permutation
    cut into n/B batches; the variance draws are :func:`batches_without_replacement`
    (``default_rng(seed + 1)``); the batch gradients are ``jax.grad`` of the batch loss.
    ``partition_sizes`` must divide n = 1000.
    """
    x, y = (jnp.asarray(a) for a in intercept_slope_data())
    n = len(y)
    return batch_gradients(x, y, np.random.default_rng(seed).permutation(n),
                           batches_without_replacement(seed + 1, n, max(batch_sizes), draws),
                           partition_sizes=tuple(partition_sizes), batch_sizes=tuple(batch_sizes),
                           samples=samples)


def plot_f31(data: BatchGradients):
    """Batch gradients scattered about the full gradient; their variance against B (log-log)."""
    fig, ((cloud, variance),) = subplots(2)
    for size in (1, 10, 100):
        if size in data.batch_sizes:
            points = data.samples[list(data.batch_sizes).index(size)]
            cloud.plot(points[:, 0], points[:, 1], ".", markersize=3, alpha=0.5, label=f"B = {size}")
    cloud.plot(*data.full_gradient, "k*", markersize=12, label="full gradient")
    cloud.set(xlabel="∂L/∂(intercept)", ylabel="∂L/∂(slope)",
              title="F31 · batch gradients at w = 0")
    cloud.legend(fontsize="small")
    for i, name in enumerate(("intercept", "slope")):
        line, = variance.loglog(data.batch_sizes, data.formula[:, i], label=f"(S²/B)(n−B)/n, {name}")
        variance.loglog(data.batch_sizes, data.variance[:, i], "o", color=line.get_color(),
                        label=f"empirical, {name}")
    variance.set(xlabel="batch size B", ylabel="variance of the batch gradient",
                 title="F31 · variance ∝ 1/B")
    variance.legend(fontsize="small")
    return fig


class BatchMinimizers(NamedTuple):
    """F32: the least-squares line of each drawn batch (``(sizes, draws, 2)``: intercept,
    slope), their standard deviation per size, the full data's line; and, for the plot,
    the loss along the slope (intercept at the full line's) for a few of the first
    size's batches."""

    batch_sizes: np.ndarray
    minimizers: np.ndarray
    std: np.ndarray
    full_minimizer: np.ndarray
    slopes: np.ndarray
    batch_curves: np.ndarray
    full_curve: np.ndarray


@functools.partial(jax.jit, static_argnames=("batch_sizes", "curves"))
def batch_minimizers(x, y, draws, *, batch_sizes, curves) -> BatchMinimizers:
    """:func:`f32`'s computation: the first B columns of ``draws`` are the batches of size B."""
    n = len(y)
    batches = [draws[:, :size] for size in batch_sizes]
    minimizers = jnp.stack([jax.vmap(lambda rows: line_fit(x[rows], y[rows]))(rows)
                            for rows in batches])
    full = line_fit(x, y)
    slopes = jnp.linspace(full[1] - 1.5, full[1] + 1.5, 121)
    loss_at = lambda rows, slope: problems.linreg_loss(jnp.stack([full[0], slope]), x[rows], y[rows])
    along = lambda rows: jax.vmap(functools.partial(loss_at, rows))(slopes)
    return BatchMinimizers(jnp.asarray(batch_sizes), minimizers, minimizers.std(axis=1, ddof=1),
                           full, slopes, jax.vmap(along)(batches[0][:curves]),
                           along(jnp.arange(n)))


@float64
def f32(batch_sizes=(10, 40, 160), draws: int = pick(5_000, 2_000), seed: int = 1,
        curves: int = 6) -> BatchMinimizers:
    """F32: each batch has its own loss and its own minimizer; they scatter as 1/sqrt(B).

    Deck 003 "Different data, different loss"; deck 002 "Mini-batches" ("We do not
    really minimize total loss!").  F31's data, batches drawn without replacement
    (:func:`batches_without_replacement`); each batch's minimizer is its least-squares line.
    """
    x, y = intercept_slope_data()
    chosen = batches_without_replacement(seed, len(y), max(batch_sizes), draws)
    return batch_minimizers(jnp.asarray(x), jnp.asarray(y), chosen,
                            batch_sizes=tuple(batch_sizes), curves=curves)


def plot_f32(data: BatchMinimizers):
    """The loss along the slope for a few batches and for all the data; the batch minimizers."""
    fig, ((landscape, scatter),) = subplots(2)
    size = int(data.batch_sizes[0])
    for i, curve in enumerate(data.batch_curves):
        landscape.plot(data.slopes, curve, linewidth=1, alpha=0.7,
                       label=f"batches of B = {size}" if i == 0 else None)
    landscape.plot(data.slopes, data.full_curve, "k", linewidth=2.5, label="all 1000 examples")
    landscape.set(xlabel="slope (intercept at the full minimizer)", ylabel="loss",
                  title="F32 · different data, different loss")
    landscape.legend(fontsize="small")
    for size, points, std in zip(data.batch_sizes, data.minimizers, data.std):
        scatter.plot(points[:1000, 0], points[:1000, 1], ".", markersize=3, alpha=0.5,
                     label=f"B = {size}: std ({std[0]:.3f}, {std[1]:.3f})")
    scatter.plot(*data.full_minimizer, "k*", markersize=12, label="full minimizer")
    scatter.set(xlabel="intercept", ylabel="slope", title="F32 · minimizers of batch losses")
    scatter.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F33, F34, F37: SGD with batch 1 on LINREG
# ----------------------------------------------------------------------------

LINREG_NOISE = 0.5  # sigma in LINREG's y = X w* + 0.5 e
LINREG_RATES = (0.0025, 0.005, 0.01, 0.02)  # F33, F34
LINREG_SEEDS = pick(tuple(range(5)), (0, 1))
LINREG_EPOCHS = pick(30, 12)
LINREG_AVERAGE_FROM = pick(10, 4)  # epochs before the floor is read and the average starts
ONE_OVER_T = (0.01, 0.01)  # F37: eta_t = 0.01 / (1 + 0.01 t) = 1 / (100 + t), as in F29


class Linreg(NamedTuple):
    """LINREG (float32) with its least-squares minimizer and ``H = X'X / n``."""

    x: jax.Array
    y: jax.Array
    w_min: jax.Array
    hessian: jax.Array


def linreg_arrays() -> Linreg:
    """LINREG (:func:`problems.linreg`) as float32 :class:`Linreg` arrays."""
    data = problems.linreg()
    w_min, _ = problems.linreg_minimum(data.x, data.y)
    hessian = data.x.T @ data.x / len(data.y)
    return Linreg(*(jnp.asarray(a, jnp.float32) for a in (data.x, data.y, w_min, hessian)))


def linreg_sgd(data: Linreg, learning_rate: Any, decay_rate: Any, batches: jax.Array,
               average_from: Any):
    """One SGD run on LINREG from w = 0 with step ``lr / (1 + decay t)`` over ``batches``.

    A constant step for ``decay_rate = 0`` (F33, F34); ``1 / (100 + t)`` for
    ``lr = decay = 0.01`` (F37).  Returns the excess loss ``L(w) - L*`` at each epoch's
    end (``epochs + 1``) and that of the Polyak average of the iterates from epoch
    ``average_from`` on (:func:`jopt.average_iterates`).  Every number may be traced.
    """
    n, d = data.x.shape
    opt = jopt.chain(jopt.sgd(jopt.inverse_time_decay(learning_rate, decay_rate)),
                     jopt.average_iterates(start=average_from * n))
    excess = lambda w: excess_quadratic(w, data.w_min, data.hessian)
    run = train_epochs(problems.linreg_loss, jnp.zeros(d), opt, (data.x, data.y), batches,
                       record=lambda w, state: excess(w))
    return run.epochs, excess(jopt.find_state(run.state, jopt.AverageState).average)


@jax.jit
def linreg_sweep(data: Linreg, learning_rates, decay_rates, batches, average_from):
    """:func:`linreg_sgd` for every sampling x (rate, decay) pair x seed, one program.

    ``batches``: ``(samplings, seeds, epochs, steps, 1)``.  One vmap over samplings,
    configurations and seeds; returns the excess at epoch ends ``(samplings, configs,
    seeds, epochs + 1)`` and the Polyak average's ``(samplings, configs, seeds)``.
    """
    run = lambda lr, decay, b: linreg_sgd(data, lr, decay, b, average_from)
    per_seed = jax.vmap(run, (None, None, 0))
    per_config = jax.vmap(per_seed, (0, 0, None))
    return jax.vmap(per_config, (None, None, 0))(learning_rates, decay_rates, batches)


@functools.lru_cache(maxsize=8)
def linreg_runs(learning_rates=LINREG_RATES, seeds=LINREG_SEEDS, epochs=LINREG_EPOCHS,
                average_from=LINREG_AVERAGE_FROM) -> dict:
    """LINREG's runs for F33, F34 and F37, one compiled program run once (and cached).

    Configurations: each constant rate of ``learning_rates``, then F37's ``1/(100 + t)``
    (:data:`ONE_OVER_T`); samplings: ``"epoch"`` (random reshuffling) and
    ``"replacement"``, with batch 1 (:func:`numpy_batches` of each seed).  Returns
    ``{sampling: (excess (configs, seeds, epochs + 1), polyak (configs, seeds))}``.
    """
    data = linreg_arrays()
    rates = jnp.asarray(learning_rates + (ONE_OVER_T[0],), jnp.float32)
    decays = jnp.asarray((0.0,) * len(learning_rates) + (ONE_OVER_T[1],), jnp.float32)
    samplings = ("epoch", "replacement")
    batches = np.stack([seeded_batches(seeds, len(data.y), 1, epochs, s) for s in samplings])
    excess, polyak = linreg_sweep(data, rates, decays, batches, average_from)
    return {s: (np.asarray(excess[i]), np.asarray(polyak[i])) for i, s in enumerate(samplings)}


def noise_floor(excess: np.ndarray, average_from: int) -> np.ndarray:
    """The mean excess at the ends of epochs ``average_from + 1 .. end`` (the span the
    Polyak average covers) and over seeds: ``(configs,)``."""
    return excess[:, :, average_from + 1:].mean(axis=(1, 2))


def stationary_excess(learning_rate: float) -> float:
    """The exact mean excess of SGD's stationary distribution on LINREG (batch 1, with replacement).

    With ``delta = w - w*`` and ``r_i`` the residuals at ``w*``, its covariance C solves
    ``H C + C H - eta E[x x' C x x'] = eta E[r^2 x x']``, and the excess is
    ``1/2 tr(H C)``; to first order in eta, ``eta sigma^2 tr(H) / 4``.  Not in the
    decks: it says how much of F33's gap to that formula is the O(eta^2) term.
    """
    data = problems.linreg()
    x, y = data.x, data.y
    n, d = x.shape
    w_min, _ = problems.linreg_minimum(x, y)
    residual = y - x @ w_min
    hessian = x.T @ x / n
    noise = (x * residual[:, None] ** 2).T @ x / n
    outer = np.einsum("ni,nj->nij", x, x).reshape(n, -1)
    eye = np.eye(d)
    system = np.kron(hessian, eye) + np.kron(eye, hessian) - learning_rate * outer.T @ outer / n
    covariance = np.linalg.solve(system, learning_rate * noise.ravel()).reshape(d, d)
    return 0.5 * float(np.trace(hessian @ covariance))


class NoiseFloor(NamedTuple):
    """F33: the excess loss at epoch ends (``(rates, seeds, epochs + 1)``), its mean after
    epoch ``average_from`` and over seeds (``floor``, :func:`noise_floor`), the
    first-order theory ``eta sigma^2 tr(H) / 4`` and the exact stationary value
    (:func:`stationary_excess`); the Polyak average's excess
    (``(rates, seeds)``) against ``sigma^2 d / (2T)``; and a 2-parameter run for the
    contour plot (iterates and running average)."""

    learning_rates: np.ndarray
    excess: np.ndarray
    floor: np.ndarray
    theory: np.ndarray
    stationary: np.ndarray
    polyak: np.ndarray
    polyak_theory: np.ndarray
    average_from: int
    path: np.ndarray
    path_average: np.ndarray
    path_minimizer: np.ndarray
    path_x: np.ndarray
    path_y: np.ndarray


@functools.partial(jax.jit, static_argnames=("average_from",))
def wandering_path(x, y, learning_rate, batches, *, average_from: int):
    """SGD over ``batches`` from 0 and the running Polyak average of its iterates from
    step ``average_from``: both ``(steps, d)``."""
    opt = jopt.chain(jopt.sgd(learning_rate), jopt.average_iterates(start=average_from))
    keep = lambda w, state: (w, jopt.find_state(state, jopt.AverageState).average)
    run = train_epochs(problems.linreg_loss, jnp.zeros(x.shape[1]), opt, (x, y), batches,
                       record=keep, every_step=True)
    return tuple(a.reshape(-1, x.shape[1]) for a in run.steps)


def f33(learning_rates=LINREG_RATES, seeds=LINREG_SEEDS, epochs: int = LINREG_EPOCHS,
        average_from: int = LINREG_AVERAGE_FROM, picture_rate: float = 0.05) -> NoiseFloor:
    """F33: with a constant step SGD wanders in a ball whose size grows with eta;
    Polyak averaging goes inside it.

    Deck 004 "Stochastic gradient descent" ("SGD does not stop at the minimum"); deck
    001 "converge to a ball around the optimum", "iterate (Polyak) averaging".  LINREG,
    batch 1 with replacement (:func:`linreg_runs`); the picture is a 2-parameter LINREG
    (``d = 2``, the same noise) for 2 epochs at ``picture_rate``.
    """
    data = problems.linreg()
    n, d = data.x.shape
    rates = np.asarray(learning_rates)
    excess, polyak = (a[:len(rates)] for a in
                      linreg_runs(tuple(learning_rates), tuple(seeds), epochs, average_from)["replacement"])
    small = jopt.data.linear_regression(n=n, d=2, noise=LINREG_NOISE, seed=0)
    path, running = wandering_path(*(jnp.asarray(a, jnp.float32) for a in small[:2]), picture_rate,
                                   numpy_batches(0, n, 1, 2, "replacement"), average_from=n // 2)
    sigma2 = LINREG_NOISE ** 2
    return NoiseFloor(rates, excess, noise_floor(excess, average_from),
                      rates * sigma2 * np.trace(data.x.T @ data.x / n) / 4,
                      np.array([stationary_excess(rate) for rate in rates]), polyak,
                      np.asarray(sigma2 * d / (2 * (epochs - average_from) * n)), average_from,
                      np.asarray(path), np.asarray(running),
                      problems.linreg_minimum(small.x, small.y)[0], small.x, small.y)


def plot_f33(data: NoiseFloor):
    """The wandering iterates and their running average on contours; excess loss per epoch."""
    fig, ((picture, curves),) = subplots(2)
    loss = jax.jit(functools.partial(problems.linreg_loss, x=jnp.asarray(data.path_x, jnp.float32),
                                     y=jnp.asarray(data.path_y, jnp.float32)))
    center = data.path_minimizer
    contour(picture, loss, (center[0] - 0.4, center[0] + 0.4), (center[1] - 0.4, center[1] + 0.4),
            levels=15)
    burn_in = 200
    picture.plot(data.path[burn_in:, 0], data.path[burn_in:, 1], ".", markersize=2, alpha=0.4,
                 label=f"SGD iterates, steps {burn_in}–{len(data.path)}")
    average_from = len(data.path) // 4
    picture.plot(data.path_average[average_from:, 0], data.path_average[average_from:, 1], "-",
                 linewidth=2, label="running Polyak average")
    picture.plot(*center, "k*", markersize=12, label="minimizer")
    picture.set(xlabel="w₁", ylabel="w₂", title="F33 · SGD does not stop at the minimum (d = 2)")
    picture.legend(fontsize="small")
    epochs = np.arange(data.excess.shape[2])
    for i, rate in enumerate(data.learning_rates):
        line, = curves.semilogy(epochs, data.excess[i].mean(axis=0), label=f"η = {rate:g}")
        curves.axhline(data.theory[i], color=line.get_color(), linestyle=":", linewidth=1)
        curves.plot(epochs[-1], data.polyak[i].mean(), "o", color=line.get_color())
    curves.axhline(float(data.polyak_theory), color="k", linestyle="--", linewidth=1,
                   label="σ²d/(2T); dots: Polyak averages")
    curves.axvline(data.average_from, color="0.6", linewidth=0.8)
    curves.set(xlabel="epoch", ylabel="L(w) − L* (mean over seeds)",
               title="F33 · noise floor; dotted: ησ²tr(H)/4")
    curves.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F34: sampling schemes and "unlearning"
# ----------------------------------------------------------------------------

SAMPLINGS = {"epoch": "reshuffled each epoch (RR)", "replacement": "with replacement",
             "sequential": "sorted by label, never shuffled"}


def digits_sorted() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DIGITS (pixels / 16, one-hot) sorted by label (stable): ``(x, y, labels)``, float32."""
    data = problems.digits()
    labels = np.argmax(data.y, axis=1)
    order = np.argsort(labels, kind="stable")
    return data.x[order].astype(np.float32), data.y[order].astype(np.float32), labels[order]


def softmax_regression() -> jopt.Model:
    """F34's model: linear logits ``x W + b`` for DIGITS' 64 pixels and 10 classes, W = 0."""
    return jopt.models.logistic(64, 10)


@jax.jit
def unlearning_runs(x, y, labels, learning_rate, batches):
    """Softmax regression on ``x`` (sorted by label), SGD from W = 0, for each sampling's
    ``batches`` (stacked): training accuracy and share of predictions "9" at each
    epoch's end."""
    model = softmax_regression()
    loss = lambda params, xb, yb: jnp.mean(jopt.losses.softmax_cross_entropy(model.apply(params, xb), yb))

    def scores(params, state):
        predicted = jnp.argmax(model.apply(params, x), axis=1)
        return jnp.mean(predicted == labels), jnp.mean(predicted == 9)

    run = lambda b: train_epochs(loss, model.init(jax.random.PRNGKey(0)), jopt.sgd(learning_rate), (x, y), b,
                                 record=scores).epochs
    return jax.vmap(run)(batches)


class Sampling(NamedTuple):
    """F34: LINREG epoch-end excess (``(samplings, rates, seeds, epochs + 1)``), floors and
    Polyak excess (``(samplings, rates)``, seed means), for RR and with replacement;
    DIGITS accuracy and share of "9" predictions per epoch for each of ``digits_samplings``."""

    linreg_samplings: tuple
    learning_rates: np.ndarray
    excess: np.ndarray
    floor: np.ndarray
    polyak: np.ndarray
    digits_samplings: tuple
    accuracy: np.ndarray
    share_of_nines: np.ndarray


def f34(learning_rates=LINREG_RATES, seeds=LINREG_SEEDS, epochs: int = LINREG_EPOCHS,
        average_from: int = LINREG_AVERAGE_FROM, digits_rate: float = 0.05,
        digits_epochs: int = 10, digits_seed: int = 0) -> Sampling:
    """F34: random reshuffling beats sampling with replacement at small steps; never
    shuffling sorted data "unlearns" (the last class seen dominates).

    Deck 001 "permute instances and break-up into mini-batches ... no permutation =>
    danger of "unlearning""; deck 003 "Random shuffling is important".  LINREG as F33
    (:func:`linreg_runs`, shared); DIGITS softmax regression (pixels/16 and a bias,
    W = 0), batch 1, eta = 0.05, 10 epochs.
    """
    runs = linreg_runs(tuple(learning_rates), tuple(seeds), epochs, average_from)
    k = len(learning_rates)
    linreg_samplings = tuple(runs)
    excess = np.stack([runs[s][0][:k] for s in linreg_samplings])
    digits_samplings = tuple(SAMPLINGS)
    x, y, labels = digits_sorted()
    batches = np.stack([numpy_batches(digits_seed, len(y), 1, digits_epochs, s)
                        for s in digits_samplings])
    accuracy, nines = unlearning_runs(x, y, labels, digits_rate, batches)
    return Sampling(linreg_samplings, np.asarray(learning_rates), excess,
                    np.stack([noise_floor(e, average_from) for e in excess]),
                    np.stack([runs[s][1][:k].mean(axis=1) for s in linreg_samplings]),
                    digits_samplings, np.asarray(accuracy), np.asarray(nines))


def plot_f34(data: Sampling):
    """LINREG: excess per epoch, RR against with replacement; DIGITS: accuracy per epoch."""
    fig, ((linreg, digits),) = subplots(2)
    epochs = np.arange(data.excess.shape[-1])
    for s, sampling in enumerate(data.linreg_samplings):
        for i in (0, len(data.learning_rates) - 1):
            rate = data.learning_rates[i]
            line, = linreg.semilogy(epochs, data.excess[s, i].mean(axis=0), "-" if s == 0 else "--",
                                    label=f"{SAMPLINGS[sampling]}, η = {rate:g}")
            linreg.plot(epochs[-1], data.polyak[s, i], "o", color=line.get_color())
    linreg.set(xlabel="epoch", ylabel="L(w) − L* (dots: Polyak averages)",
               title="F34 · LINREG: reshuffling against replacement")
    linreg.legend(fontsize="small")
    epochs = np.arange(data.accuracy.shape[-1])
    for s, sampling in enumerate(data.digits_samplings):
        line, = digits.plot(epochs, data.accuracy[s], "o-", label=f"accuracy, {SAMPLINGS[sampling]}")
        if sampling == "sequential":
            digits.plot(epochs, data.share_of_nines[s], ":", color=line.get_color(),
                        label="share of predictions “9”, sorted")
    digits.set(xlabel="epoch", ylabel="training accuracy", ylim=(0, 1.02),
               title="F34 · DIGITS softmax regression: unlearning")
    digits.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F35: batch size and the time of an epoch (benchmark)
# ----------------------------------------------------------------------------

SLIDE_EPOCH_SECONDS = {1: 166.0, 10: 17.0}  # deck 002 "Speed": 50 000 examples
MEASURED_EPOCH_SECONDS = {  # FIGURES.md F35: 50 000 x 784, MLP 784-500-500-10, float32
    "2-core CPU": {1: 15.28, 10: 3.35, 100: 0.97, 1000: 0.70},
    "H100 GPU": {1: 1.227, 10: 0.166, 100: 0.027, 1000: 0.007},
}


def f35(n: int = pick(50_000, 2_000), hidden=pick((500, 500), (64, 64)),
        batch_sizes=pick((1, 10, 100, 1000), (1, 10)), repeats: int = pick(1, 3)) -> dict:
    """F35: seconds per epoch and per update against the batch size, measured here by
    :func:`experiments.lectures.timing.epoch_times` (steady state: compiled and warmed up
    first; also ``python -m experiments.bench.batch_size_time``).

    Deck 002 "Speed" (batch 1: 166 s, batch 10: 17 s per epoch of 50 000); deck 001
    "larger k better for utilizing concurrency".  Fast mode shrinks the workload.
    """
    rows = epoch_times(n=n, hidden=hidden, batch_sizes=batch_sizes, repeats=repeats)
    return {"n": n, "hidden": tuple(hidden), "device": jax.devices()[0].device_kind,
            "batch_sizes": np.array([r.batch_size for r in rows]),
            "epoch_seconds": np.array([r.epoch_seconds for r in rows]),
            "update_seconds": np.array([r.update_seconds for r in rows])}


def plot_f35(data: dict):
    """Seconds per epoch and per update against the batch size (log-log), with the slide's
    and FIGURES.md's measurements on 50 000 examples."""
    fig, ((epoch, update),) = subplots(2)
    label = f"here: {data['device']}, n = {data['n']:,}, hidden {data['hidden']}"
    epoch.loglog(data["batch_sizes"], data["epoch_seconds"], "o-", label=label)
    update.loglog(data["batch_sizes"], data["update_seconds"] * 1e6, "o-", label=label)
    references = {f"FIGURES.md, {name}": seconds for name, seconds in MEASURED_EPOCH_SECONDS.items()}
    references["deck 002"] = SLIDE_EPOCH_SECONDS
    for name, seconds in references.items():
        sizes, times = np.array(list(seconds)), np.array(list(seconds.values()))
        style = "k*" if name == "deck 002" else "s--"
        epoch.loglog(sizes, times, style, alpha=0.7, label=f"{name}, n = 50,000")
        update.loglog(sizes, times / (50_000 // sizes) * 1e6, style, alpha=0.7, label=name)
    epoch.set(xlabel="batch size", ylabel="seconds per epoch", title="F35 · time per epoch")
    update.set(xlabel="batch size", ylabel="µs per update", title="F35 · time per update")
    epoch.legend(fontsize="x-small")
    update.legend(fontsize="x-small")
    return fig


# ----------------------------------------------------------------------------
# F36: batch size against the loss reached (a sweep with a static batch-size axis)
# ----------------------------------------------------------------------------


def digits_mlp_task(seeds, batch_sizes, epochs: int, train_size: int = 1500) -> Callable:
    """A ``jopt.sweep`` task ``(hparams, key) -> metrics``: DIGITS-MLP trained by SGD at
    ``hparams["learning_rate"]`` with batch ``hparams["batch_size"]`` (a static axis)
    for ``epochs`` reshuffled epochs on the first ``train_size`` examples; its training
    loss and its accuracy on the other examples.

    Each seed's initial weights (He, drawn by NumPy: :func:`he_weights`) and epoch
    permutations are drawn once, here, and shared by every batch size
    (:func:`numpy_batches` cuts the same permutations into batches of each size), so
    that only the batch size differs between buckets.
    """
    x, y = (np.asarray(a, np.float32) for a in problems.digits())
    train = (jnp.asarray(x[:train_size]), jnp.asarray(y[:train_size]))
    test = (jnp.asarray(x[train_size:]), jnp.asarray(y[train_size:]))
    model = problems.digits_mlp()
    loss = problems.digits_loss(model)
    weights = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves),
                                     *(he_weights(model, seed) for seed in seeds))
    batches = {size: jnp.asarray(seeded_batches(seeds, train_size, size, epochs))
               for size in batch_sizes}
    seeds = jnp.asarray(seeds)

    def task(hparams, key):
        index = jnp.argmax(seeds == hparams["seed"])
        params0 = jax.tree_util.tree_map(lambda a: a[index], weights)
        params = train_epochs(loss, params0, jopt.sgd(hparams["learning_rate"]), train,
                              batches[hparams["batch_size"]][index]).params
        correct = jnp.argmax(model.apply(params, test[0]), 1) == jnp.argmax(test[1], 1)
        return {"train_loss": loss(params, *train), "test_accuracy": jnp.mean(correct)}
    return task


class BatchSizeSweep(NamedTuple):
    """F36: final training loss and test accuracy, ``(rates, batch sizes, seeds)``."""

    learning_rates: np.ndarray
    batch_sizes: np.ndarray
    seeds: np.ndarray
    train_loss: np.ndarray
    test_accuracy: np.ndarray


def f36(batch_sizes=pick((1, 10, 100, 1500), (10, 1500)), learning_rates=(0.2, 0.05),
        seeds=pick((0, 1, 2), (0,)), epochs: int = pick(20, 5)) -> BatchSizeSweep:
    """F36: one ``jopt.sweep.run`` over batch size (static: one program per size) x
    learning rate x seed (traced: vmapped in each program).

    Deck 002 "Batch size influences both speed and performance", "Very large batch size
    can yield worse performance"; deck 001 ""standard SGD": k = 1"; deck 003 "as large
    as possible for your machine".  DIGITS-MLP, train on the first 1500 examples, test
    on the last 297; SGD, shuffled epochs.
    """
    grid = jopt.sweep.Grid(batch_size=list(batch_sizes), learning_rate=list(learning_rates),
                           seed=list(seeds))
    result = jopt.sweep.run(digits_mlp_task(seeds, batch_sizes, epochs), grid, static=("batch_size",),
                            budget=jopt.sweep.Budget(epochs=epochs), quiet=True)
    table = result.to_pandas().set_index(["learning_rate", "batch_size", "seed"])

    def cube(metric):
        return np.array([[[table.loc[(lr, b, s), metric] for s in seeds] for b in batch_sizes]
                         for lr in grid.axes["learning_rate"]])
    return BatchSizeSweep(np.asarray(learning_rates), np.asarray(batch_sizes), np.asarray(seeds),
                          cube("train_loss"), cube("test_accuracy"))


def plot_f36(data: BatchSizeSweep):
    """Training loss and test accuracy against the batch size, per learning rate (seed range)."""
    fig, ((loss, accuracy),) = subplots(2)
    for i, rate in enumerate(data.learning_rates):
        for ax, values in ((loss, data.train_loss[i]), (accuracy, data.test_accuracy[i])):
            line, = ax.plot(data.batch_sizes, values.mean(axis=1), "o-", label=f"lr = {rate:g}")
            ax.fill_between(data.batch_sizes, values.min(axis=1), values.max(axis=1),
                            color=line.get_color(), alpha=0.2)
    loss.set(xscale="log", yscale="log", xlabel="batch size", ylabel="final training loss",
             title="F36 · batch size and training loss")
    accuracy.set(xscale="log", xlabel="batch size", ylabel="test accuracy",
                 title="F36 · batch size and test accuracy")
    loss.legend(fontsize="small")
    accuracy.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F37: the GD-against-SGD cost table
# ----------------------------------------------------------------------------

GRADIENT_SECONDS = {10: 26.6e-6, 100: 165e-6, 1000: 1.10e-3, 10_000: 12.6e-3,
                    60_000: 78.9e-3}  # FIGURES.md F37, 2-core CPU


@float64
def gd_on_q100(steps: int = 1100) -> np.ndarray:
    """``f(x_t)`` of GD at eta = 1/L on Q100, t = 0 .. steps (F3)."""
    q100 = problems.q100()
    run = jax.jit(lambda x0: trajectory(q100.fun, x0, jopt.sgd(1 / q100.L), steps).values)
    return run(jnp.asarray(q100.x0))


def steps_to(values: np.ndarray, tolerances, every: int = 1) -> np.ndarray:
    """For each tolerance, the first index where ``values`` is below it, times ``every``
    (the steps between two values); -1 where it is never below."""
    below = [np.asarray(values) < rho for rho in tolerances]
    return np.array([int(np.argmax(b)) * every if b.any() else -1 for b in below])


class CostTable(NamedTuple):
    """F37: GD's ``f_t`` on Q100 and its steps to each ``gd_tolerances``; SGD's mean excess
    on LINREG at epoch ends (every 1000 steps) at ``1/(100 + t)`` and its steps to each
    ``sgd_tolerances`` (-1: not reached); the measured time of one
    softmax-regression gradient on m examples."""

    gd_values: np.ndarray
    gd_tolerances: np.ndarray
    gd_steps: np.ndarray
    sgd_excess: np.ndarray
    sgd_tolerances: np.ndarray
    sgd_steps: np.ndarray
    examples: np.ndarray
    gradient_seconds: np.ndarray


def f37(gd_tolerances=(1e-3, 1e-6, 1e-9), sgd_tolerances=(1e-2, 1e-3), seeds=LINREG_SEEDS,
        epochs: int = LINREG_EPOCHS, average_from: int = LINREG_AVERAGE_FROM,
        examples=pick((10, 100, 1000, 10_000, 60_000), (10, 1000))) -> CostTable:
    """F37: GD needs O(kappa log 1/rho) iterations of cost O(nd), SGD O(1/rho) of cost O(d).

    Deck 004 "Asymptotic upper bounds", "6,000x speedup", "The update cost is constant
    regardless of the size of T"; deck 001 "Large Scale Learning".  GD on Q100 at
    eta = 1/L (F3); SGD with batch 1 on LINREG at eta_t = 1/(100 + t) (from
    :func:`linreg_runs`, shared with F33 and F34, whence ``average_from``, which F37
    does not use); the gradient timing is :func:`experiments.lectures.timing.gradient_times`.
    """
    gd_values = gd_on_q100()
    excess, _ = linreg_runs(LINREG_RATES, tuple(seeds), epochs, average_from)["replacement"]
    sgd_excess = excess[-1].mean(axis=0)
    rows = gradient_times(sizes=examples)
    return CostTable(gd_values, np.asarray(gd_tolerances), steps_to(gd_values, gd_tolerances),
                     sgd_excess, np.asarray(sgd_tolerances),
                     steps_to(sgd_excess, sgd_tolerances, every=linreg_arrays().x.shape[0]),
                     np.array([r.examples for r in rows]), np.array([r.seconds for r in rows]))


def plot_f37(data: CostTable):
    """f - f* against iterations for GD (linear rate) and SGD (1/t); gradient time against m."""
    fig, ((rates, cost),) = subplots(2)
    steps = np.arange(1, len(data.gd_values))
    rates.loglog(steps, data.gd_values[1:], label="GD on Q100, η = 1/L: O(κ log 1/ρ)")
    sgd_steps = 1000 * np.arange(1, len(data.sgd_excess))
    rates.loglog(sgd_steps, data.sgd_excess[1:], "o-", label="SGD on LINREG, η = 1/(100 + t)")
    rates.loglog(sgd_steps, data.sgd_excess[-1] * sgd_steps[-1] / sgd_steps, "k:", label="∝ 1/t")
    for rho, t in list(zip(data.gd_tolerances, data.gd_steps)) + \
            list(zip(data.sgd_tolerances, data.sgd_steps)):
        if t > 0:
            rates.plot(t, rho, "kx", markersize=8)
    rates.set(xlabel="iterations t", ylabel="f − f*", ylim=(1e-10, None),
              title="F37 · iterations to reach ρ (x)")
    rates.legend(fontsize="small")
    cost.loglog(data.examples, data.gradient_seconds * 1e3, "o-", label="measured here")
    reference = np.array(list(GRADIENT_SECONDS.items()))
    cost.loglog(reference[:, 0], reference[:, 1] * 1e3, "s--", alpha=0.6,
                label="FIGURES.md (2-core CPU)")
    cost.loglog(reference[:, 0], reference[0, 1] * 1e3 * reference[:, 0] / reference[0, 0], "k:",
                label="∝ m (flops)")
    cost.set(xlabel="examples m in the gradient", ylabel="ms per gradient (784 × 10 softmax)",
             title="F37 · the cost of a gradient is O(m d)")
    cost.legend(fontsize="small")
    return fig


FIGURES = {
    "F30": (f30, plot_f30),
    "F31": (f31, plot_f31),
    "F32": (f32, plot_f32),
    "F33": (f33, plot_f33),
    "F34": (f34, plot_f34),
    "F35": (f35, plot_f35),
    "F36": (f36, plot_f36),
    "F37": (f37, plot_f37),
}
