"""Linear networks and implicit regularization: FIGURES.md section 8, F45-F49.

A single-layer linear network on whitened inputs converges geometrically to the
teacher, ``A_t - Gamma = (1 - 2 eta)^t (A_0 - Gamma)`` (F45).  A two-layer linear
network ``y = Q W x`` learns the teacher's singular modes one by one, the strongest
first, on the sigmoid that Saxe et al. solve in closed form; a tanh network follows the
same order, a little later (F46).  On frozen random ReLU features, gradient descent
from zero converges to the minimum-norm solution ``pinv(H) y``, and from elsewhere to
another interpolant with a larger norm (F47); the minimum-norm solution's test error
peaks where the number of features equals the number of examples and falls again
beyond it (double descent, F48); and along the way the deck's stopping rules (a
gradient tolerance, a step budget, a validation set with patience) stop at very
different places (F49).

Decks followed: 001 "Least Squares: Single Layer Linear Network", "Least Squares:
Two-Layer Linear Network" (Saxe, McClelland & Ganguli), "Learning as Optimization"
("monitoring on validation set, early stopping"); 000 "Implicit gradient
regularization"; 003 "Convergence criterion: when to stop" and the GD pseudocode.

Every run is gradient descent with ``jopt.sgd``.  :func:`observed_descent` runs it
inside one ``lax.scan`` and keeps what a figure draws (the mode strengths, the errors)
every ``every`` steps instead of every iterate.  Sweeps over the learning rate (F45) and
the starting point (F46's seeds, F47's two starts) are one ``jax.vmap``.  The feature
count is a shape: F47 compiles one program per count, F48 pads the counts with zero
features to a few widths and vmaps over counts, feature draws and data seeds.  F49's
stopping rules are jopt's own: ``jopt.minimize``'s gradient tolerance and step budget,
``jopt.fit``'s early stopping.  F47's step counts also follow from GD's closed form on a
quadratic (:class:`ErrorSpectrum`), and the runs are checked against it.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jopt
from experiments.lectures import common, problems
from experiments.lectures.common import (as_numpy, first_index, float64, increases, pick, slide,
                                         subplots, trajectory)

# ----------------------------------------------------------------------------
# Shared pieces
# ----------------------------------------------------------------------------

# Short programs that run once: XLA's backend optimizations cost more compile time than
# they save.  The long GD runs (F47, F49) keep them.


def one_blas_thread(fn: Callable) -> Callable:
    """Run ``fn`` with OpenBLAS (NumPy's and jaxlib's LAPACK: SVD, pinv) on one thread.

    On small matrices and busy cores OpenBLAS's threads wait on each other: F48's
    pinvs ran 10x slower with two threads than with one on a shared 2-core machine.
    Uses ``threadpoolctl`` (a scikit-learn dependency) when it is installed; it limits
    the libraries already loaded, hence the SciPy import (jaxlib's LAPACK is SciPy's).
    """
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            import scipy.linalg  # noqa: F401  loads the OpenBLAS that jaxlib's LAPACK calls
            from threadpoolctl import threadpool_limits
        except ImportError:
            limits = contextlib.nullcontext()
        else:
            limits = threadpool_limits(1, user_api="blas")
        with limits:
            return fn(*args, **kwargs)
    return wrapped


def risk(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Deck 001's ``R = E ||y - y_hat||^2`` over the examples (no 1/2): twice ``squared_loss``."""
    return 2.0 * jopt.losses.squared_loss(pred, target)


def observed_descent(loss: Callable, x0: Any, opt: jopt.GradientTransformation, steps: int,
                     observe: Callable, every: int = 1) -> tuple[Any, Any]:
    """``steps`` updates of ``opt`` on ``loss`` from ``x0``, keeping ``observe(x)`` only.

    Returns ``(x_steps, observed)``, ``observed`` stacked over ``x_0, x_every, x_2every,
    ..., x_steps`` (leading axis ``steps // every + 1``).  A ``lax.scan`` over blocks of
    ``every`` steps: a long run keeps a few numbers per evaluation instead of every
    iterate (``common.trajectory``).  ``steps`` must be a multiple of ``every``.
    """
    if steps % every:
        raise ValueError(f"steps ({steps}) must be a multiple of every ({every})")
    grad = jax.grad(loss)

    def step(_, carry):
        x, state = carry
        updates, state = opt.update(grad(x), state, x)
        return jopt.apply_updates(x, updates), state

    def block(carry, _):
        carry = jax.lax.fori_loop(0, every, step, carry)
        return carry, observe(carry[0])

    (last, _), observed = jax.lax.scan(block, (x0, opt.init(x0)), length=steps // every)
    observed = jax.tree_util.tree_map(lambda head, tail: jnp.concatenate([head[None], tail]),
                                      observe(x0), observed)
    return last, observed


def mse(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Deck 000's ``L(beta) = 1/n sum_i (y_i - h(x_i)' beta)^2`` (no 1/2)."""
    return jopt.losses.mean_squared_error(pred, target)


def least_squares(features: Any, targets: Any) -> Callable:
    """``beta -> 1/n ||y - H beta||^2`` on the feature matrix ``H``."""
    features, targets = jnp.asarray(features), jnp.asarray(targets)
    return lambda beta: mse(features @ beta, targets)


# ----------------------------------------------------------------------------
# F45: single-layer linear network, A -> Gamma
# ----------------------------------------------------------------------------


class SingleLayer(NamedTuple):
    """F45: ``errors[i, t] = A_t - Gamma`` for ``learning_rates[i]``, the closed form
    ``predicted[i, t] = (1 - 2 eta)^t (A_0 - Gamma)``, and their Frobenius ratios
    ``||A_t - Gamma|| / ||A_0 - Gamma||`` (measured) and ``|1 - 2 eta|^t``."""

    learning_rates: np.ndarray
    steps: np.ndarray
    errors: np.ndarray
    predicted: np.ndarray
    ratios: np.ndarray
    predicted_ratios: np.ndarray


@functools.partial(jax.jit, static_argnames=("steps",), compiler_options=common.QUICK_COMPILE)
def single_layer_maps(x, y, a0, learning_rates, *, steps: int) -> jax.Array:
    """``A_0 .. A_steps`` of GD on ``R(A) = E ||y - A x||^2``, one ``vmap`` over the rates."""
    def maps(learning_rate):
        return trajectory(lambda a: risk(x @ a.T, y), a0, jopt.sgd(learning_rate), steps).xs
    return jax.vmap(maps)(learning_rates)


@float64
def f45(learning_rates=(0.05, 0.1, 0.25, 0.8, 1.05), steps: int = 30,
        seed: int = 0) -> SingleLayer:
    """F45 (deck 001 "Least Squares: Single Layer Linear Network"): GD on
    ``R(A) = E ||y - A x||^2`` with whitened inputs, ``grad R = 2 (A - Gamma)``.

    The teacher is F46's (``jopt.data.saxe_linear``), ``A_0`` has N(0, 1) entries
    (``default_rng(seed)``).
    """
    teacher = jopt.data.saxe_linear()
    gamma = teacher.gamma
    a0 = np.random.default_rng(seed).normal(size=gamma.shape)
    learning_rates = np.asarray(learning_rates, np.float64)
    maps = single_layer_maps(teacher.x, teacher.y, a0, learning_rates, steps=steps)
    errors = np.asarray(maps) - gamma
    t = np.arange(steps + 1)
    factors = (1 - 2 * learning_rates)[:, None] ** t
    predicted = factors[..., None, None] * (a0 - gamma)
    ratios = np.linalg.norm(errors, axis=(-2, -1)) / np.linalg.norm(a0 - gamma)
    return SingleLayer(learning_rates, t, errors, predicted, ratios, np.abs(factors))


@slide("F45", "001", "Least Squares: Single Layer Linear Network")
def plot_f45(data: SingleLayer):
    fig, ax = subplots(width=6.0)
    for lr, ratios, predicted in zip(data.learning_rates, data.ratios, data.predicted_ratios):
        line, = ax.semilogy(data.steps, ratios, "o", markersize=3, label=f"GD, η = {lr:g}")
        ax.semilogy(data.steps, predicted, "-", color=line.get_color(), linewidth=1)
    ax.plot([], [], "k-", linewidth=1, label="|1 − 2η|^t (closed form)")
    ax.set_xlabel("step t")
    ax.set_ylabel("‖A_t − Γ‖ / ‖A_0 − Γ‖")
    ax.set_title("F45 · single-layer linear network: A_t → Γ")
    ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F46: Saxe et al.'s two-layer linear network
# ----------------------------------------------------------------------------

ACTIVATIONS = ("identity", "tanh")


def mode_strengths(model: jopt.Model, teacher: jopt.data.SaxeTeacher) -> Callable:
    """``params -> u``: ``u_r = U_r' M V_r``, ``M = 1/N sum_i y_hat_i x_i'`` (``QW`` if linear)."""
    x, u, v = teacher.x, teacher.u, teacher.v

    def strengths(params):
        m = model.apply(params, x).T @ x / x.shape[0]
        return jnp.einsum("ir,ij,jr->r", u, m, v)
    return strengths


def balanced_start(teacher: jopt.data.SaxeTeacher, hidden: int, u0: float, seed: int = 0) -> dict:
    """F46's decoupled start ``Q0 = U sqrt(u0) R'``, ``W0 = R sqrt(u0) V'``, ``R`` a
    ``hidden x r`` orthonormal matrix (QR of ``default_rng(seed)`` normals): ``Q0 W0 = u0 U V'``."""
    r = np.linalg.qr(np.random.default_rng(seed).normal(size=(hidden, len(teacher.sigmas))))[0]
    return {"W": np.sqrt(u0) * r @ teacher.v.T, "Q": np.sqrt(u0) * teacher.u @ r.T}


def saxe_sigmoid(sigmas: Any, u0: Any, t: Any) -> np.ndarray:
    """Gradient flow of ``(sigma - ab)^2`` with ``a = b``: ``du/dt = 4u(sigma - u)``, so
    ``u(t) = sigma u0 e^{4 sigma t} / (sigma - u0 + u0 e^{4 sigma t})``; shape ``(T, r)``."""
    sigmas, growth = np.asarray(sigmas), np.exp(4 * np.outer(t, sigmas))
    return sigmas * u0 * growth / (sigmas - u0 + u0 * growth)


def saxe_half_time(sigmas: Any, u0: Any) -> np.ndarray:
    """The time the sigmoid takes to reach ``sigma / 2``: ``ln((sigma - u0) / u0) / (4 sigma)``."""
    sigmas = np.asarray(sigmas)
    return np.log((sigmas - u0) / u0) / (4 * sigmas)


class Saxe(NamedTuple):
    """F46: ``modes[a, s, k, r]``: ``u_r`` at time ``times[k]`` (``t = eta x step``) for
    activation ``activations[a]`` and start ``s`` (0: balanced, then one per seed);
    ``half_times[a, s, r]``: the first time ``u_r >= sigma_r / 2`` (NaN if never);
    ``analytic``: the sigmoid from the balanced start, and its ``analytic_half_times``."""

    activations: tuple
    seeds: np.ndarray
    sigmas: np.ndarray
    u0: float
    times: np.ndarray
    modes: np.ndarray
    half_times: np.ndarray
    analytic: np.ndarray
    analytic_half_times: np.ndarray


def small_start(seed: int, hidden: int, in_dim: int, out_dim: int, scale: float) -> dict:
    """F46's small random start: entries ``N(0, scale^2)`` from ``default_rng(seed)``,
    ``W`` then ``Q`` (the init of ``jopt.models.two_layer_linear``, drawn with NumPy as
    FIGURES.md's [seeded] numbers are)."""
    rng = np.random.default_rng(seed)
    return {"W": scale * rng.normal(size=(hidden, in_dim)),
            "Q": scale * rng.normal(size=(out_dim, hidden))}


@functools.partial(jax.jit, static_argnames=("steps",), compiler_options=common.QUICK_COMPILE)
def saxe_modes(teacher, starts, learning_rate, *, steps: int) -> jax.Array:
    """Mode strengths ``[activation, start, step, r]`` of GD on
    ``R = 1/N sum ||y - Q f(W x)||^2`` from each of ``starts`` (leading axis): one
    ``vmap`` over the starts for each activation (a static choice)."""
    out_dim, in_dim = teacher.gamma.shape
    hidden = starts["W"].shape[1]

    def modes(activation):
        model = jopt.models.two_layer_linear(in_dim, hidden, out_dim, activation=activation)
        loss = lambda params: risk(model.apply(params, teacher.x), teacher.y)
        run = lambda params: observed_descent(loss, params, jopt.sgd(learning_rate), steps,
                                              mode_strengths(model, teacher))[1]
        return jax.vmap(run)(starts)

    return jnp.stack([modes(activation) for activation in ACTIVATIONS])


@float64
def f46(seeds=(0, 1, 2), steps: int = 4000, learning_rate: float = 1e-3, hidden: int = 16,
        u0: float = 1e-3, init_scale: float = 0.01) -> Saxe:
    """F46 (deck 001 "Least Squares: Two-Layer Linear Network", "red: analytic, blue =
    linear, green = tanh"): GD on ``R = 1/N sum ||y - Q f(W x)||^2`` for the linear and
    the tanh network, from the balanced start and from small random starts
    (:func:`small_start`, one per seed): one ``vmap`` over the starts.
    """
    teacher = jopt.data.saxe_linear()
    out_dim, in_dim = teacher.gamma.shape
    starts = [balanced_start(teacher, hidden, u0)]
    starts += [small_start(seed, hidden, in_dim, out_dim, init_scale) for seed in seeds]
    starts = jax.tree_util.tree_map(lambda *arrays: np.stack(arrays), *starts)
    modes = np.asarray(saxe_modes(teacher, starts, learning_rate, steps=steps))
    times = learning_rate * np.arange(steps + 1)
    half = np.asarray(first_index(modes >= teacher.sigmas / 2, axis=-2))
    half_times = np.where(half >= 0, learning_rate * half, np.nan)
    return Saxe(ACTIVATIONS, np.asarray(seeds), teacher.sigmas, u0, times, modes, half_times,
                saxe_sigmoid(teacher.sigmas, u0, times), saxe_half_time(teacher.sigmas, u0))


@slide("F46", "001", "Least Squares: Two-Layer Linear Network")
def plot_f46(data: Saxe):
    fig, axes = subplots(2, width=5.5)
    axes = axes.ravel()
    colors = {"identity": "C0", "tanh": "C2"}
    names = {"identity": "linear", "tanh": "tanh"}
    for ax, starts, title in ((axes[0], [0], f"balanced start, u₀ = {data.u0:g}"),
                              (axes[1], range(1, len(data.seeds) + 1),
                               f"small random start, {len(data.seeds)} seeds")):
        if title.startswith("balanced"):
            # a wide band: the linear run is drawn on it
            ax.plot(data.times, data.analytic, color="C3", linewidth=5, alpha=0.4)
            ax.plot([], [], color="C3", linewidth=5, alpha=0.4, label="analytic")
        for a, activation in enumerate(data.activations):
            for s in starts:
                ax.plot(data.times, data.modes[a, s], color=colors[activation], linewidth=1)
            ax.plot([], [], color=colors[activation], label=names[activation])
        for sigma in data.sigmas:
            ax.axhline(sigma, color="0.8", linestyle=":", linewidth=1)
        ax.set_xlabel("t = η × step")
        ax.set_ylabel("mode strength u_r(t)")
        ax.set_title(f"F46 · {title}", fontsize="medium")
        ax.legend(fontsize="small", loc="center right")
    return fig


# ----------------------------------------------------------------------------
# F47: GD from zero finds the minimum-norm solution
# ----------------------------------------------------------------------------


class ErrorSpectrum(NamedTuple):
    """GD's error on ``1/n ||y - H beta||^2`` with ``eta = 1/L``, in the right singular
    vectors ``v_i`` of ``H``: ``beta_t - limit = sum_i contraction_i^t coefficients_i v_i``,
    ``contraction_i = 1 - eta lambda_i = 1 - s_i^2 / s_max^2``; ``scale = ||limit||``."""

    contraction: np.ndarray
    coefficients: np.ndarray
    scale: float

    def distance(self, steps: Any) -> np.ndarray:
        """``||beta_t - limit|| / ||limit||`` at each of ``steps`` (GD's closed form)."""
        powers = self.contraction ** np.asarray(steps)[..., None]
        return np.linalg.norm(powers * self.coefficients, axis=-1) / self.scale


@one_blas_thread
def gd_limits(features: Any, targets: Any, starts: np.ndarray) -> tuple[np.ndarray, list, float]:
    """Where GD with ``eta = 1/L`` converges on ``1/n ||y - H beta||^2`` from each of
    ``starts``, its :class:`ErrorSpectrum` on the way, and ``L = 2 s_max^2 / n``: all from
    one SVD ``H = U S V'``.

    The limit is ``pinv(H) y + (I - P) start``, ``P = V V'`` the projection on the row
    space of ``H`` (the slide's proof: every gradient ``2/n H'(H beta - y)`` lies in that
    row space, so the start's component outside it stays): ``pinv(H) y`` from 0.
    """
    features = np.asarray(features)
    u, s, vt = np.linalg.svd(features, full_matrices=False)
    kept = s > s[0] * max(features.shape) * np.finfo(s.dtype).eps  # the numerical rank
    u, s, vt = u[:, kept], s[kept], vt[kept]
    pinv_y = vt.T @ (u.T @ np.asarray(targets) / s)
    limits = np.stack([pinv_y + start - vt.T @ (vt @ start) for start in starts])
    contraction = 1 - (s / s[0]) ** 2
    spectra = [ErrorSpectrum(contraction, vt @ (start - limit), float(np.linalg.norm(limit)))
               for start, limit in zip(starts, limits)]
    return limits, spectra, 2 * s[0] ** 2 / features.shape[0]


def predicted_steps(spectrum: ErrorSpectrum, rtol: float, max_steps: int = 10 ** 8) -> int:
    """The first step at which GD is within ``rtol`` of its limit, by bisection on the
    closed form (the distance never increases); -1 if not within ``max_steps``."""
    if spectrum.distance(max_steps) > rtol:
        return -1
    low, high = -1, max_steps
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if spectrum.distance(middle) <= rtol else (middle, high)
    return high


class MinimumNorm(NamedTuple):
    """F47, per feature count ``d`` (rows) and start (columns: 0 = zero, 1 = random):
    ``steps``: GD steps to ``rtol`` of the start's limit (measured; -1 if not within
    the run), ``predicted``: the closed form's count; ``limit_norms``: ``||pinv y||`` and
    ``||pinv y + (I - P) beta_0||``; ``null_norms``: ``||(I - P) beta_0||``;
    ``limit_train_mse``; ``distance_to_pinv``: ``||beta_T - pinv y|| / ||pinv y||`` at
    the run's last step ``T``; ``curves[d, start, k]``: the relative distance to the
    limit at step ``curve_steps[k]`` (NaN past the run) and ``closed_form`` the same
    from :class:`ErrorSpectrum`."""

    feature_counts: np.ndarray
    rtol: float
    steps: np.ndarray
    predicted: np.ndarray
    limit_norms: np.ndarray
    null_norms: np.ndarray
    limit_train_mse: np.ndarray
    distance_to_pinv: np.ndarray
    curve_steps: np.ndarray
    curves: np.ndarray
    closed_form: np.ndarray


def f47_data(seed: int = 0) -> jopt.data.DoubleDescent:
    """F47's training set: RF's draws without the test set (``n_test=0``).

    FIGURES.md's F47 numbers (83 815 steps, norms 1.494 and 1.085) come from
    ``default_rng(0)`` drawing ``w*``, ``X_tr`` and the training noise only; RF's full
    draw order puts the 2000 test inputs before the noise, which changes ``y_tr``.
    """
    return jopt.data.double_descent(n=100, p=10, noise=0.1, n_test=0, seed=seed)


@functools.partial(jax.jit, static_argnames=("steps",))
def distances_to_limits(features, targets, starts, limits, learning_rate, *, steps: int):
    """GD with ``jopt.sgd(learning_rate)`` from each start (one ``vmap``): the relative
    distance to its limit at every step, and the last iterates."""
    loss = least_squares(features, targets)

    def run(start, limit):
        distance = lambda beta: jnp.linalg.norm(beta - limit) / jnp.linalg.norm(limit)
        last, distances = observed_descent(loss, start, jopt.sgd(learning_rate), steps, distance)
        return distances, last

    return jax.vmap(run)(starts, limits)


def min_norm_runs(features: np.ndarray, targets: np.ndarray, starts: np.ndarray, rtol: float,
                  max_steps: Any = None):
    """F47 at one feature count: GD's limits from ``starts`` and their error spectra
    (:func:`gd_limits`), then GD itself for 5 % more steps than the closed form's larger
    count (at most ``max_steps``).  Returns ``(limits, spectra, distances [start, step],
    last iterates)``."""
    limits, spectra, smoothness = gd_limits(features, targets, starts)
    length = int(1.05 * max(predicted_steps(spectrum, rtol) for spectrum in spectra)) + 10
    length = length if max_steps is None else min(length, max_steps)
    distances, last = distances_to_limits(features, targets, starts, limits, 1 / smoothness,
                                          steps=length)
    return limits, spectra, np.asarray(distances), np.asarray(last)


def subsample(curves: list, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Curves of different lengths (``[..., step]``) on one grid of about ``points`` steps,
    NaN-padded: ``(steps, stacked curves)``."""
    longest = max(curve.shape[-1] for curve in curves)
    steps = np.arange(0, longest, max(1, longest // points))
    padded = [np.where(steps < curve.shape[-1], curve[..., np.minimum(steps, curve.shape[-1] - 1)],
                       np.nan) for curve in curves]
    return steps, np.stack(padded)


@float64
def f47(feature_counts=(50, 200, 1000), rtol: float = 1e-6, seed: int = 0,
        draw: int = 0, start_seed: int = 5, start_scale: float = 0.1,
        max_steps: Any = pick(None, 4_000), curve_points: int = 1000) -> MinimumNorm:
    """F47 (deck 000 "Implicit gradient regularization": "Gradient descent will converge
    to one such beta with minimal l2 norm"): GD with ``eta = 1/L`` on
    ``1/n ||y - H beta||^2`` from ``beta_0 = 0`` and from ``beta_0 ~ N(0, start_scale^2)``
    (``default_rng(start_seed)``), on RF features (feature draw ``draw``) of
    :func:`f47_data`.

    Each run lasts 5 % more than the closed form's step count (:func:`predicted_steps`),
    or ``max_steps``; the measured count is the first step within ``rtol``.  One
    program per feature count (a shape), vmapped over the two starts.
    """
    x, y = f47_data(seed).train
    rows = []
    for d in feature_counts:  # feature counts are shapes: one program each
        features = problems.rf_features(x, d, draw)
        random_start = start_scale * np.random.default_rng(start_seed).normal(size=d)
        starts = np.stack([np.zeros(d), random_start])
        limits, spectra, distances, last = min_norm_runs(features, y, starts, rtol, max_steps)
        rows.append((np.asarray(first_index(distances <= rtol)),
                     [predicted_steps(spectrum, rtol) for spectrum in spectra],
                     np.linalg.norm(limits, axis=1), np.linalg.norm(limits[1] - limits[0]),
                     np.mean((limits @ features.T - y) ** 2, axis=1),
                     np.linalg.norm(last - limits[0], axis=1) / np.linalg.norm(limits[0]),
                     distances, spectra))
    steps, predicted, norms, null_norms, train_mse, to_pinv, curves, spectra = zip(*rows)
    curve_steps, curves = subsample(curves, curve_points)
    closed_form = np.stack([[spectrum.distance(curve_steps) for spectrum in pair]
                            for pair in spectra])
    return MinimumNorm(np.asarray(feature_counts), rtol, np.stack(steps), np.asarray(predicted),
                       np.stack(norms), np.asarray(null_norms), np.stack(train_mse),
                       np.stack(to_pinv), curve_steps, curves, closed_form)


@slide("F47", "000", "Implicit gradient regularization")
def plot_f47(data: MinimumNorm):
    fig, axes = subplots(2, width=5.5)
    axes = axes.ravel()
    ax = axes[0]
    for d, curves, closed_form in zip(data.feature_counts, data.curves, data.closed_form):
        line, = ax.semilogy(data.curve_steps, curves[0], label=f"d = {d}, from 0")
        ax.semilogy(data.curve_steps, curves[1], "--", color=line.get_color(),
                    label=f"d = {d}, from random β₀")
        ax.semilogy(data.curve_steps, np.where(np.isfinite(curves), closed_form, np.nan).T, ":",
                    color="k", linewidth=0.8)
    ax.plot([], [], ":", color="k", linewidth=0.8, label="closed form")
    ax.axhline(data.rtol, color="0.5", linewidth=0.8, label=f"rtol = {data.rtol:g}")
    ax.set_xlabel("step")
    ax.set_ylabel("‖β_t − β_∞‖ / ‖β_∞‖")
    ax.set_title("F47 · GD → β_∞ = pinv(H) y + (I − H⁺H) β₀", fontsize="medium")
    ax.legend(fontsize="x-small")
    ax = axes[1]
    positions = np.arange(len(data.feature_counts))
    ax.bar(positions - 0.2, data.limit_norms[:, 0], 0.4, label="from 0: pinv(H) y")
    ax.bar(positions + 0.2, data.limit_norms[:, 1], 0.4, label="from random β₀")
    ax.set_xticks(positions, [f"d = {d}" for d in data.feature_counts])
    ax.set_ylabel("‖β_∞‖, the norm of GD's limit")
    ax.set_title("F47 · from 0, the minimum norm (n = 100)", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F48: double descent with frozen random ReLU features
# ----------------------------------------------------------------------------

FEATURE_COUNTS = (10, 20, 40, 60, 80, 90, 95, 100, 105, 110, 120, 150, 200, 300, 500, 1000, 2000)
BUCKETS = (1, 2, 5, 20)  # feature counts are padded to the smallest bucket x n that holds them
MEMORY = 2 ** 23  # bytes of test features in one vmapped chunk of F48 (cache-sized: faster on CPU)


def min_norm_errors(alpha: jax.Array, data: Any) -> jax.Array:
    """``(test MSE, ||beta||, training MSE)`` of ``beta = pinv(H) y`` on the features of
    ``alpha``.  Zero columns of ``alpha`` (padding) give zero features, and
    ``pinv([H, 0]) = [pinv(H); 0]``: the same fit."""
    (x, y), (x_test, y_test) = data
    features = jopt.models.relu_features(alpha, x)
    beta = jnp.linalg.pinv(features) @ y
    return jnp.stack([mse(jopt.models.relu_features(alpha, x_test) @ beta, y_test),
                      jnp.linalg.norm(beta), mse(features @ beta, y)])


@functools.partial(jax.jit, static_argnames=("chunk",), compiler_options=common.QUICK_COMPILE)
def min_norm_sweep(alphas: jax.Array, data: Any, *, chunk: int) -> jax.Array:
    """:func:`min_norm_errors` for each feature draw in ``alphas`` (leading axis) and
    each data seed (``data``'s leading axis): ``(draws, seeds, 3)``.  The draws are
    vmapped in chunks of ``chunk`` (``lax.map``'s ``batch_size``), which bounds the
    memory of the test features."""
    per_draw = lambda alpha: jax.vmap(min_norm_errors, (None, 0))(alpha, data)
    return jax.lax.map(per_draw, alphas, batch_size=chunk)


def padded_weights(in_dim: int, feature_counts, draws: int, width: int) -> np.ndarray:
    """RF's frozen weights for every ``(d, draw)``, zero-padded to ``width`` columns:
    ``(len(feature_counts) * draws, in_dim, width)``."""
    return np.stack([np.pad(jopt.models.random_feature_weights(in_dim, d, 1000 + r),
                            ((0, 0), (0, width - d)))
                     for d in feature_counts for r in range(draws)])


def slide_feature_ranks(n: int = 20, d: int = 20, draws: int = 20) -> np.ndarray:
    """The rank of the slide's 1-D features ``max(0, a_k x + b_k)`` on ``n`` grid points of
    [-1, 1], ``a, b ~ N(0, 1)`` (draw ``r``: ``default_rng(1000 + r)``), one per draw.

    A feature whose kink falls outside [-1, 1] is linear there, and two grid points
    between the same kinks see the same piece: the rank stays below ``n`` at ``d = n``."""
    x = np.linspace(-1, 1, n)
    ab = np.stack([np.random.default_rng(1000 + r).normal(size=(2, d)) for r in range(draws)])
    features = np.maximum(0, ab[:, 0, None, :] * x[:, None] + ab[:, 1, None, :])
    return np.linalg.matrix_rank(features)


class DoubleDescent(NamedTuple):
    """F48: medians over the feature draws, ``[seed, d]``: ``test_mse``, ``norms``
    (``||beta||``) and ``train_mse`` of the minimum-norm solution; ``n`` examples;
    ``slide_ranks``: the rank of the slide's 1-D features at ``d = n = 20``, per draw."""

    feature_counts: np.ndarray
    seeds: np.ndarray
    n: int
    test_mse: np.ndarray
    norms: np.ndarray
    train_mse: np.ndarray
    slide_ranks: np.ndarray


@float64
@one_blas_thread
def f48(feature_counts=pick(FEATURE_COUNTS, (10, 20, 40, 60, 80, 95, 100, 105, 120, 150, 200)),
        draws: int = pick(20, 5), seeds=pick((0, 1, 2, 3), (0,))) -> DoubleDescent:
    """F48 (deck 000 "Implicit gradient regularization", Belkin et al.): the minimum-norm
    least-squares fit (``pinv``, the limit of GD from 0: F47) on ``d`` frozen random ReLU
    features of RF's data, median over ``draws`` feature draws, for each data seed.

    The feature count is a shape: counts are padded with zero features to a few bucket
    widths (``BUCKETS`` x n, exact), one program per bucket, vmapped over the counts,
    the feature draws and the data seeds.
    """
    splits = [problems.rf_data(seed) for seed in seeds]
    data = jax.tree_util.tree_map(lambda *arrays: np.stack(arrays),
                                  *[(tuple(s.train), tuple(s.test)) for s in splits])
    n, in_dim = splits[0].train.x.shape
    n_test = splits[0].test.x.shape[0]
    widths = [min([b * n for b in BUCKETS if b * n >= d], default=d) for d in feature_counts]
    results = {}
    for width in sorted(set(widths)):  # one program per bucket
        counts = [d for d, w in zip(feature_counts, widths) if w == width]
        chunk = int(np.clip(MEMORY // (8 * len(seeds) * n_test * width), 1, len(counts) * draws))
        errors = min_norm_sweep(padded_weights(in_dim, counts, draws, width), data, chunk=chunk)
        medians = np.median(np.asarray(errors).reshape(len(counts), draws, len(seeds), 3), axis=1)
        results.update(zip(counts, medians))
    medians = np.stack([results[d] for d in feature_counts], axis=1)  # (seeds, counts, 3)
    test_mse, norms, train_mse = np.moveaxis(medians, -1, 0)
    return DoubleDescent(np.asarray(feature_counts), np.asarray(seeds), n, test_mse, norms,
                         train_mse, slide_feature_ranks())


@slide("F48", "000", "Implicit gradient regularization")
def plot_f48(data: DoubleDescent):
    fig, axes = subplots(3, width=4.5)
    axes = axes.ravel()
    panels = ((data.test_mse, "median test MSE"), (data.norms, "median ‖β‖"),
              (np.maximum(data.train_mse, 1e-32), "median training MSE"))
    for ax, (values, label) in zip(axes, panels):
        for s, seed in enumerate(data.seeds):
            ax.loglog(data.feature_counts, values[s], "o-" if s == 0 else "-",
                      markersize=3, linewidth=1.5 if s == 0 else 0.8, alpha=1 if s == 0 else 0.5,
                      label=f"data seed {seed}")
        ax.axvline(data.n, color="0.5", linestyle="--", linewidth=1)
        ax.set_xlabel(f"number of features d (dashed: d = n = {data.n})")
        ax.set_ylabel(label)
    axes[0].legend(fontsize="small")
    axes[0].set_title("F48 · double descent: test error", fontsize="medium")
    axes[1].set_title("F48 · norm of the minimum-norm fit", fontsize="medium")
    axes[2].set_title("F48 · training error (0 for d ≥ n)", fontsize="medium")
    return fig


# ----------------------------------------------------------------------------
# F49: stopping criteria and early stopping
# ----------------------------------------------------------------------------


class Stopping(NamedTuple):
    """F49.  Curves every ``every`` steps (at ``steps``): ``train``, ``val``, ``test`` MSE
    and ``grad_norm``.  For each of ``gtols``: ``jopt.minimize``'s ``gtol_steps`` and
    ``gtol_reasons``; ``gtol_evaluated``, the first evaluation (a multiple of ``every``)
    below it (-1 if none), and ``gtol_test``, the test MSE there.  ``train_increases``:
    steps that raised the training loss over the whole budget (every step, from
    minimize's history).  ``jopt.fit`` with ``patience``: ``best_step`` (the validation
    minimum, restored), ``stop_step``, ``early_test`` (the restored parameters' test MSE).
    ``interpolant_test``: the test MSE of ``pinv(H) y``."""

    every: int
    budget: int
    steps: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    grad_norm: np.ndarray
    gtols: np.ndarray
    gtol_steps: np.ndarray
    gtol_reasons: tuple
    gtol_evaluated: np.ndarray
    gtol_test: np.ndarray
    train_increases: int
    patience: int
    best_step: int
    stop_step: int
    early_test: float
    interpolant_test: float


@functools.partial(jax.jit, static_argnames=("budget", "every"))
def stopping_runs(features: dict, targets: dict, learning_rate, gtols, *, budget: int,
                  every: int):
    """GD from 0 on the training features: the curves (:func:`observed_descent`, every
    ``every`` steps), and ``jopt.minimize`` for each of ``gtols`` with the step budget
    (``lax.map``: under ``vmap`` a ``while_loop`` selects its whole carry, minimize's
    ``budget``-long history included, at every step).  Returns ``(curves, minimize's
    steps, reasons, the first evaluation below each tolerance, training-loss increases)``."""
    loss = least_squares(features["train"], targets["train"])
    opt = jopt.sgd(learning_rate)
    zero = jnp.zeros(features["train"].shape[1])

    def metrics(beta):
        errors = [mse(features[k] @ beta, targets[k]) for k in ("train", "val", "test")]
        return jnp.stack([*errors, jnp.linalg.norm(jax.grad(loss)(beta))])

    _, curves = observed_descent(loss, zero, opt, budget, metrics, every)
    runs = jax.lax.map(lambda gtol: jopt.minimize(loss, zero, opt, max_steps=budget, gtol=gtol),
                       gtols)
    evaluated = jax.vmap(lambda gtol: first_index(curves[:, 3] <= gtol))(gtols)
    return curves, runs.steps, runs.reason, evaluated, increases(runs.history["value"][-1])


def early_stopping(features: dict, targets: dict, learning_rate: float, *, steps: int,
                   every: int, patience: int) -> jopt.FitResult:
    """``jopt.fit``: full-batch GD with validation patience (deck 003: "Stop when the loss
    on a validation set stops decreasing"; "Return ... the set of parameters that did
    best").  A linear model on the frozen features, from 0.

    Runs in float32: under ``jax_enable_x64``, ``jopt.fit`` fails (its int32
    ``stop_step`` meets an int64 step index in the scan carry).
    """
    with jax.enable_x64(False):
        splits = tuple((np.float32(features[k]), np.float32(targets[k]))
                       for k in ("train", "val", "test"))
        n, d = splits[0][0].shape
        model = jopt.models.linear(d, bias=False)
        return as_numpy(jopt.fit(model, jopt.sgd(np.float32(learning_rate)), splits,
                                 loss="mean_squared_error", batch_size=n, sampling="sequential",
                                 key=jax.random.PRNGKey(0), steps=steps, eval_every=every,
                                 patience=patience))


@float64
def f49(budget: int = pick(200_000, 30_000), every: int = 100, patience: int = 10,
        gtols=(1e-2, 1e-3, 1e-4), num_features: int = 100, seed: int = 0, draw: int = 0,
        n_val: int = 200) -> Stopping:
    """F49 (deck 003 "Convergence criterion: when to stop"; deck 001 "monitoring on
    validation set, early stopping"): GD from 0 with ``eta = 1/L`` on RF features at
    ``d = n``, with ``n_val`` noisy validation points drawn after the test set.

    Three rules, each from jopt: the gradient tolerances and the step budget are
    ``jopt.minimize``'s stop reasons, the validation patience is ``jopt.fit``'s early
    stopping; the curves are the same GD, evaluated every ``every`` steps.
    """
    data = problems.rf_data(seed, n_val=n_val)
    sets = {"train": data.train, "val": data.val, "test": data.test}
    features = {k: problems.rf_features(s.x, num_features, draw) for k, s in sets.items()}
    targets = {k: s.y for k, s in sets.items()}
    (pinv_y,), _, smoothness = gd_limits(features["train"], targets["train"],
                                         np.zeros((1, num_features)))
    learning_rate = 1 / smoothness
    curves, steps, reasons, evaluated, train_increases = as_numpy(stopping_runs(
        features, targets, learning_rate, np.asarray(gtols), budget=budget, every=every))
    fit = early_stopping(features, targets, learning_rate, steps=budget, every=every,
                         patience=patience)
    train, val, test, grad_norm = curves.T
    return Stopping(every, budget, every * np.arange(len(train)), train, val, test, grad_norm,
                    np.asarray(gtols), steps, tuple(jopt.reason_name(int(r)) for r in reasons),
                    np.where(evaluated >= 0, every * evaluated, -1),
                    np.where(evaluated >= 0, test[evaluated], np.nan), int(train_increases),
                    patience, int(fit.best_step), int(fit.stop_step),
                    float(fit.metrics["test_loss/best"]),
                    float(np.mean((features["test"] @ pinv_y - targets["test"]) ** 2)))


@slide("F49", "003", "Convergence criterion: when to stop")
def plot_f49(data: Stopping):
    fig, axes = subplots(2, width=5.5)
    axes = axes.ravel()
    ax = axes[0]
    for values, label in ((data.train, "training"), (data.val, "validation"), (data.test, "test")):
        ax.loglog(data.steps[1:], values[1:], label=f"{label} MSE")
    ax.axhline(data.interpolant_test, color="k", linestyle=":", linewidth=1,
               label=f"test MSE of pinv(H) y ({data.interpolant_test:.2f})")
    marks = [(data.best_step, f"validation minimum, restored ({data.best_step})", "C1"),
             (data.stop_step, f"patience {data.patience} stops ({data.stop_step})", "C3")]
    marks += [(step, f"‖∇‖ < {tol:g} ({step})", color) for tol, step, color
              in zip(data.gtols, data.gtol_evaluated, ("C4", "C5", "C6"))
              if step > 0]
    for step, label, color in marks:
        ax.axvline(step, color=color, linestyle="--", linewidth=1, label=label)
    ax.set_ylim(top=100)  # room for the legend above the curves
    ax.set_xlabel("step")
    ax.set_ylabel("MSE")
    ax.set_title(f"F49 · when to stop (d = n = 100, budget {data.budget})", fontsize="medium")
    ax.legend(fontsize="x-small", loc="upper left")
    ax = axes[1]
    ax.loglog(data.steps[1:], data.grad_norm[1:], color="k", label="‖∇L(β_t)‖")
    for tol, reason, steps in zip(data.gtols, data.gtol_reasons, data.gtol_steps):
        ax.axhline(tol, color="C4", linestyle=":", linewidth=1)
        ax.annotate(f"gtol {tol:g}: minimize stops at {steps} ({reason})", (data.steps[1], tol),
                    fontsize="x-small", va="bottom")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient norm")
    ax.set_title("F49 · jopt.minimize's stop reasons", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


FIGURES = {
    "F45": (f45, plot_f45),
    "F46": (f46, plot_f46),
    "F47": (f47, plot_f47),
    "F48": (f48, plot_f48),
    "F49": (f49, plot_f49),
}
