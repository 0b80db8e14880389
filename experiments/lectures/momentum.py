"""Momentum and Nesterov: FIGURES.md section 3, F15-F22.

Heavy-ball (HB) momentum and Nesterov's accelerated gradient (NAG) against plain
gradient descent on the ill-conditioned quadratic Q100 (F15), Goh's optimal step size
and momentum with the stability regions (F16), a momentum sweep (F17), momentum's
effective step ``alpha ||grad f|| / (1 - lambda)`` (F18), the unrolled iterates (F19),
the decks' conventions for the update (F20: the rate inside or outside the buffer, deck
001's EMA with bias correction, torch's dampening; F21: Nesterov's look-ahead points)
and escaping a local minimum of the quartic QUART (F22).

Decks followed: 000 "Momentum"; 001 "Momentum" / "Nesterov Momentum"; 002 "Momentum";
003 "Add Momentum"; 004 "Decay and momentum", "Momentum" (Goh, Distill 2017) and
"First-order acceleration methods".

Every run is ``jopt.sgd`` (``momentum``, ``nesterov``, ``momentum_form``,
``dampening``); every sweep over a hyperparameter is one ``jax.vmap`` over a function
that builds the optimizer from the traced value (:func:`vmapped_trajectories`).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jopt
from experiments.lectures import common, problems
from experiments.lectures.common import (Trajectory, as_numpy, contour, draw_paths, first_index,
                                         float64, pick, slide, subplots, trajectory)

TOLERANCE = 1e-6  # F15, F17: steps to f < TOLERANCE * f0 (f0 = 1 on Q100)


# ----------------------------------------------------------------------------
# Shared pieces: vmapped runs, step counts, rates of heavy ball
# ----------------------------------------------------------------------------


# A figure's programs are small and run once: compiling them dominates, and XLA's
# backend optimizations (LLVM's on CPU) would cost more time than they save.


def compiled(fn: Callable) -> Callable:
    """Run ``fn(*args, **kwargs)`` as one jit-compiled program, its arguments baked in.

    A figure's whole setup (runs, step counts, closed forms) then compiles once, with
    :data:`common.QUICK_COMPILE`, instead of dispatching (and compiling) each small operation
    on its own.
    """
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        return jax.jit(lambda: fn(*args, **kwargs), compiler_options=common.QUICK_COMPILE)()
    return wrapped


def vmapped_trajectories(problem: problems.Problem, make_optimizer: Callable, *hyperparameters,
                         steps: int):
    """One trajectory of ``make_optimizer(*h)`` from ``problem.x0`` per row ``h``.

    ``hyperparameters`` are equal-length vectors; ``jax.vmap`` traces them, so the whole
    sweep is one compiled program (jopt's hyperparameters are data).  Returns a
    :class:`~experiments.lectures.common.Trajectory` with a leading config axis.
    """
    x0 = jnp.asarray(problem.x0)

    def run(*h):
        return trajectory(problem.fun, x0, make_optimizer(*h), steps)
    return jax.jit(jax.vmap(run))(*(jnp.asarray(h, dtype=x0.dtype) for h in hyperparameters))


def momentum_runs(problem: problems.Problem, rates, momenta, *, nesterov: bool = False,
                  steps: int):
    """``jopt.sgd(rate, momentum=beta, nesterov=nesterov)`` for each (rate, beta) pair."""
    return vmapped_trajectories(
        problem, lambda rate, beta: jopt.sgd(rate, momentum=beta, nesterov=nesterov),
        rates, momenta, steps=steps)


def steps_to(values, tol):
    """Per config (rows of ``values``), the first step with ``f < tol``; -1 if never."""
    return jax.vmap(first_index)(jnp.asarray(values) < tol)


def rises_before(values, steps):
    """Per config, how many steps raise f before step ``steps`` (all of them if -1)."""
    values = jnp.asarray(values)
    rising = values[:, 1:] > values[:, :-1]
    limit = jnp.where(steps < 0, rising.shape[1], steps)
    return jnp.sum(rising & (jnp.arange(rising.shape[1]) < limit[:, None]), axis=1)


def goh_optimum(mu: float, L: float) -> tuple[float, float]:
    """Goh's optimal heavy-ball parameters: ``alpha* = (2 / (sqrt mu + sqrt L))^2`` and
    ``beta* = ((sqrt kappa - 1) / (sqrt kappa + 1))^2``."""
    root_kappa = np.sqrt(L / mu)
    return (2 / (np.sqrt(mu) + np.sqrt(L))) ** 2, ((root_kappa - 1) / (root_kappa + 1)) ** 2


def nesterov_momentum(kappa: float) -> float:
    """The strongly convex NAG momentum ``(sqrt kappa - 1) / (sqrt kappa + 1)``."""
    return (np.sqrt(kappa) - 1) / (np.sqrt(kappa) + 1)


def heavy_ball_rate(alpha, beta, lam):
    """Spectral radius of HB's iteration matrix ``[[1 + beta - alpha lam, -beta], [1, 0]]``.

    Its eigenvalues are the roots of ``z^2 - (1 + beta - alpha lam) z + beta``.
    """
    trace = 1 + beta - alpha * lam
    root = jnp.sqrt(trace ** 2 - 4 * beta + 0j)
    return jnp.maximum(jnp.abs(trace + root), jnp.abs(trace - root)) / 2


def quadratic_rate(alpha, beta, mu, L):
    """``rho(alpha, beta)``: the slower of the two extreme modes ``lam in {mu, L}``."""
    return jnp.maximum(heavy_ball_rate(alpha, beta, mu), heavy_ball_rate(alpha, beta, L))


def hb_edge(beta, L):
    """HB is stable for ``0 < alpha L < 2 (1 + beta)``: the largest stable step."""
    return 2 * (1 + beta) / L


def nag_edge(beta, L):
    """NAG is stable for ``0 < alpha L < (2 + 2 beta) / (1 + 2 beta)``: the largest step."""
    return (2 + 2 * beta) / ((1 + 2 * beta) * L)


def quart_problem(x0: float = 2.5) -> problems.Problem:
    """QUART ``x^4 - 4x^2 + x`` from ``x0`` (a 1-vector)."""
    return problems.Problem(problems.quart, np.array([x0]))


# ----------------------------------------------------------------------------
# F15: GD, heavy ball and Nesterov on an ill-conditioned quadratic
# ----------------------------------------------------------------------------


class Race(NamedTuple):
    """One row per method (``labels``): iterates, values, steps to tolerance, rises."""

    labels: np.ndarray
    xs: np.ndarray       # (methods, T + 1, d)
    values: np.ndarray   # (methods, T + 1)
    steps: np.ndarray    # steps to f < TOLERANCE * f0; -1: not within the budget
    rises: np.ndarray    # steps that raise f before the tolerance is reached


class F15Data(NamedTuple):
    q100: Race
    q100d: Race  # the 100-D variant: lambda = linspace(0.01, 1, 100), x0 = 1


RACE_LABELS = ("GD η=1/L", "GD η=2/(μ+L)", "HB β=0.9", "HB Goh (α*, β*)", "NAG β=0.9",
               "NAG β=(√κ−1)/(√κ+1)")


def race(problem: problems.Problem, steps: int) -> Race:
    """The methods of :data:`RACE_LABELS` on ``problem`` at eta = 1/L: 2 vmapped runs."""
    return Race(np.array(RACE_LABELS), *race_runs(problem, steps))


@compiled
def race_runs(problem: problems.Problem, steps: int):
    """GD (1/L and 2/(mu+L)), HB (0.9 and Goh's optimum), NAG (0.9 and 9/11)."""
    mu, L = problem.mu, problem.L
    alpha, beta = goh_optimum(mu, L)
    heavy = momentum_runs(problem, [1 / L, 2 / (mu + L), 1 / L, alpha], [0.0, 0.0, 0.9, beta],
                          steps=steps)
    nesterov = momentum_runs(problem, [1 / L, 1 / L], [0.9, nesterov_momentum(problem.kappa)],
                             nesterov=True, steps=steps)
    xs = jnp.concatenate([heavy.xs, nesterov.xs])
    values = jnp.concatenate([heavy.values, nesterov.values])
    needed = steps_to(values, TOLERANCE * values[0, 0])
    return xs, values, needed, rises_before(values, needed)


def q100d() -> problems.Problem:
    """F15's 100-D variant: ``lambda = linspace(0.01, 1, 100)``, ``x0 = 1``."""
    return problems.diagonal_quadratic(np.linspace(0.01, 1, 100), np.ones(100))


@float64
def f15(steps: int = pick(1000, 700)) -> F15Data:
    """F15 (000 "Gradient descent may not be the best direction", 004 "Decay and
    momentum"): GD, HB and NAG on Q100 at eta = 1/L, and on the 100-D variant."""
    return F15Data(race(problems.q100(), steps), race(q100d(), steps))


@slide("F15", "000", "Gradient descent may not be the best direction")
def plot_f15(data: F15Data):
    """Paths of GD, HB and NAG (beta = 0.9) on Q100's contours; f_t for both problems."""
    figure, axes = subplots(3, width=5.0, height=4.0)
    paths, curves, curves100 = axes.flat
    contour(paths, problems.q100().fun, (-11, 3), (-1.2, 1.2), levels=20)
    for i, size in ((0, 4.0), (2, 2.0), (4, 2.0)):  # GD, HB and NAG at beta = 0.9
        draw_paths(paths, {str(data.q100.labels[i]): data.q100.xs[i, :100]}, markersize=size)
    paths.set(xlabel="$x_1$", ylabel="$x_2$", title="F15 · Q100, first 100 iterates")
    for ax, race_, title in ((curves, data.q100, "F15 · Q100 (κ = 100)"),
                             (curves100, data.q100d, "F15 · 100-D, λ = linspace(0.01, 1)")):
        f0 = race_.values[0, 0]
        for label, values, steps in zip(race_.labels, race_.values, race_.steps):
            ax.semilogy(values / f0, label=f"{label}: {steps} steps", linewidth=1)
        ax.axhline(TOLERANCE, color="k", linestyle=":", linewidth=0.8)
        ax.set(xlabel="step t", ylabel="$f(x_t) / f_0$", title=title, ylim=(1e-12, 10),
               xlim=(0, 700))
        ax.legend(fontsize="x-small")
    return figure


# ----------------------------------------------------------------------------
# F16: Goh's optimal step size and momentum; stability
# ----------------------------------------------------------------------------


class RateMap(NamedTuple):
    """``rates[i, j] = rho(alphas[i], betas[j])`` on Q100, the optimum and the edges."""

    alphas: np.ndarray
    betas: np.ndarray
    rates: np.ndarray
    optimum: np.ndarray       # (alpha*, beta*, rho(alpha*, beta*))
    gd_optimum: np.ndarray    # (2/(mu+L), rho(2/(mu+L), 0))
    grid_optimum: np.ndarray  # (alpha, beta, rho) at the grid's minimum
    hb_alphas: np.ndarray     # steps tried at beta = 0.9 around HB's edge 2(1+beta)/L
    hb_ratio: np.ndarray      # f_T / f_0 of jopt.sgd(alpha, momentum=0.9)
    nag_alphas: np.ndarray    # ... around NAG's edge (2+2beta)/((1+2beta) L)
    nag_ratio: np.ndarray     # f_T / f_0 of jopt.sgd(alpha, momentum=0.9, nesterov=True)
    edges: np.ndarray         # (HB edge, NAG edge) at beta = 0.9, closed forms


def rate_grid(alphas, betas, mu, L):
    """``rho`` on the grid ``alphas x betas``: two nested vmaps."""
    over_betas = jax.vmap(quadratic_rate, in_axes=(None, 0, None, None))
    return jax.vmap(over_betas, in_axes=(0, None, None, None))(
        jnp.asarray(alphas), jnp.asarray(betas), mu, L)


def edge_runs(problem, alphas, *, nesterov: bool, beta: float, steps: int):
    """``f_T / f_0`` of ``jopt.sgd(alpha, momentum=beta)`` for each alpha (one vmap)."""
    values = momentum_runs(problem, alphas, np.full(len(alphas), beta), nesterov=nesterov,
                           steps=steps).values
    return values[:, -1] / values[:, 0]


@float64
@compiled
def f16(grid: tuple[int, int] = (400, 100), steps: int = pick(1000, 600),
        beta: float = 0.9) -> RateMap:
    """F16 (004 "Momentum — Goh, Why momentum really works"): rho(alpha, beta) on Q100."""
    problem = problems.q100()
    mu, L = problem.mu, problem.L
    alphas, betas = jnp.linspace(0.05, 4, grid[0]), jnp.linspace(0, 0.99, grid[1])
    rates = rate_grid(alphas, betas, mu, L)
    best = jnp.unravel_index(jnp.argmin(rates), rates.shape)
    alpha, beta_star = goh_optimum(mu, L)
    gd_alpha = 2 / (mu + L)
    hb_alphas = np.round(np.arange(3.70, 3.905, 0.01), 2)
    nag_alphas = np.round(np.arange(1.30, 1.405, 0.01), 2)
    return RateMap(
        alphas, betas, rates,
        jnp.stack([alpha, beta_star, quadratic_rate(alpha, beta_star, mu, L)]),
        jnp.stack([gd_alpha, quadratic_rate(gd_alpha, 0.0, mu, L)]),
        jnp.stack([alphas[best[0]], betas[best[1]], rates[best]]),
        hb_alphas, edge_runs(problem, hb_alphas, nesterov=False, beta=beta, steps=steps),
        nag_alphas, edge_runs(problem, nag_alphas, nesterov=True, beta=beta, steps=steps),
        jnp.array([hb_edge(beta, L), nag_edge(beta, L)]))


@slide("F16", "004", "Momentum — Goh, Why momentum really works")
def plot_f16(data: RateMap):
    """Heatmap of rho with the optimum and the stability edges; f_T/f_0 across the edges."""
    import matplotlib.pyplot as plt
    figure, axes = subplots(2, width=5.5, height=4.2)
    heat, edges = axes.flat
    cmap = plt.get_cmap("viridis").with_extremes(over="0.85")
    mesh = heat.pcolormesh(data.alphas, data.betas, data.rates.T, cmap=cmap, vmin=0.8,
                           vmax=1.0, shading="auto")
    figure.colorbar(mesh, ax=heat, label="ρ(α, β)  (grey: ρ > 1, diverges)", extend="max")
    heat.contour(data.alphas, data.betas, data.rates.T, levels=[0.85, 0.9, 0.95, 0.99],
                 colors="w", linewidths=0.6)
    betas = data.betas
    heat.plot(hb_edge(betas, 1.0), betas, "-", color="C3", label="HB edge $\\alpha L = 2(1+\\beta)$")
    heat.plot(nag_edge(betas, 1.0), betas, "--", color="C4",
              label="NAG edge $\\alpha L = (2+2\\beta)/(1+2\\beta)$")
    heat.plot(*data.optimum[:2], "*", markersize=18, markerfacecolor="none", markeredgewidth=1.5,
              color="C3", label=f"Goh (α*, β*) = ({data.optimum[0]:.3f}, {data.optimum[1]:.3f})")
    heat.plot(*data.grid_optimum[:2], "x", color="w", markersize=7, markeredgewidth=2, zorder=5,
              label="grid minimum (inside the star)")
    heat.plot(data.gd_optimum[0], 0, "ko", label="GD's best α = 2/(μ+L)")
    heat.set(xlabel="step size α", ylabel="momentum β", xlim=(data.alphas[0], data.alphas[-1]),
             title="F16 · HB rate ρ(α, β) on Q100")
    heat.legend(fontsize="x-small", loc="lower left")
    for alphas, ratio, edge, label in ((data.hb_alphas, data.hb_ratio, data.edges[0], "HB"),
                                       (data.nag_alphas, data.nag_ratio, data.edges[1], "NAG")):
        shifted = alphas - edge
        edges.semilogy(shifted, np.clip(np.nan_to_num(ratio, nan=np.inf), 1e-30, 1e30), "o-",
                       label=f"{label} (edge α = {edge:.4f})")
    edges.axvline(0, color="k", linewidth=0.8)
    edges.axhline(1, color="k", linestyle=":", linewidth=0.8)
    edges.set(xlabel="α − edge", ylabel="$f_T / f_0$ (jopt.sgd, β = 0.9; clipped to 1e±30)",
              title="F16 · stability edges at β = 0.9")
    edges.legend(fontsize="small")
    return figure


# ----------------------------------------------------------------------------
# F17: momentum sweep
# ----------------------------------------------------------------------------


class MomentumSweep(NamedTuple):
    """Steps to f < 1e-6 on Q100 at eta = 1 against beta; ``rates`` = rho(1, beta)."""

    momenta: np.ndarray
    steps: np.ndarray
    rates: np.ndarray
    best_beta: np.ndarray  # (1 - sqrt(alpha mu))^2: the rate-optimal beta at alpha = 1


@float64
@compiled
def f17(momenta=None, steps: int = pick(2000, 800)) -> MomentumSweep:
    """F17 (004 "Acceleration effect for big lambda", 000 "gamma is usually set at .9"):
    ``jax.vmap`` over beta of ``jopt.sgd(1.0, momentum=beta)`` on Q100."""
    problem = problems.q100()
    momenta = np.arange(100) / 100 if momenta is None else np.asarray(momenta, dtype=float)
    runs = vmapped_trajectories(problem, lambda beta: jopt.sgd(1.0, momentum=beta), momenta,
                                steps=steps)
    return MomentumSweep(momenta, steps_to(runs.values, TOLERANCE),
                         quadratic_rate(1.0, momenta, problem.mu, problem.L),
                         np.asarray((1 - np.sqrt(1.0 * problem.mu)) ** 2))


@slide("F17", "004", "Acceleration effect for big λ")
def plot_f17(data: MomentumSweep):
    """Steps against beta (log y), with the count the rate predicts, ln(1e-6)/(2 ln rho)."""
    figure, ax = subplots(1, width=6.0, height=4.0)
    converged = data.steps >= 0
    ax.semilogy(data.momenta[converged], data.steps[converged], "o-", markersize=3,
                label="jopt.sgd(1.0, momentum=β), one vmap")
    ax.semilogy(data.momenta, np.log(TOLERANCE) / (2 * np.log(data.rates)), "--",
                label="ln(1e-6) / (2 ln ρ(1, β))")
    ax.axvline(data.best_beta, color="k", linestyle=":",
               label=f"rate-optimal β = (1 − √(αμ))² = {float(data.best_beta):.2f}")
    ax.set(xlabel="momentum β", ylabel="steps to f < 1e-6",
           title="F17 · momentum sweep on Q100, η = 1")
    ax.legend(fontsize="small")
    return figure


# ----------------------------------------------------------------------------
# F18: momentum's effective step
# ----------------------------------------------------------------------------


class EffectiveStep(NamedTuple):
    """Step lengths ``||x_t - x_{t-1}||`` in units of ``alpha ||g||`` on f = g'x."""

    momenta: np.ndarray
    t: np.ndarray             # 1 .. T
    heavy_ball: np.ndarray    # (momenta, T): jopt.sgd(alpha, momentum=lambda)
    ema: np.ndarray           # (momenta, T): jopt.sgd(alpha, momentum=lambda, momentum_form="ema")
    closed_form: np.ndarray   # (1 - lambda^t) / (1 - lambda)


def step_lengths(problem, make_optimizer, momenta, steps, unit):
    """``||x_t - x_{t-1}|| / unit`` for t = 1..steps, one row per momentum (one vmap)."""
    xs = vmapped_trajectories(problem, make_optimizer, momenta, steps=steps).xs
    return jnp.linalg.norm(jnp.diff(xs, axis=1), axis=-1) / unit


@float64
@compiled
def f18(gradient=(3.0, 4.0), alpha: float = 0.01, momenta=(0.0, 0.5, 0.9),
        steps: int = 100) -> EffectiveStep:
    """F18 (004 "Decay and momentum": step length ``alpha ||grad f|| / (1 - lambda)``)."""
    g = np.asarray(gradient)
    linear = problems.Problem(lambda x: jnp.dot(g, x), np.zeros_like(g))
    unit = alpha * np.linalg.norm(g)
    momenta = np.asarray(momenta, dtype=float)
    t = np.arange(1, steps + 1)
    return EffectiveStep(
        momenta, t,
        step_lengths(linear, lambda lam: jopt.sgd(alpha, momentum=lam), momenta, steps, unit),
        step_lengths(linear, lambda lam: jopt.sgd(alpha, momentum=lam, momentum_form="ema"),
                     momenta, steps, unit),
        (1 - momenta[:, None] ** t) / (1 - momenta[:, None]))


@slide("F18", "004", "Decay and momentum")
def plot_f18(data: EffectiveStep):
    """Step length against t for each lambda: heavy ball, its closed form, 001's EMA form."""
    figure, ax = subplots(1, width=6.0, height=4.0)
    for lam, hb, ema, closed in zip(data.momenta, data.heavy_ball, data.ema, data.closed_form):
        line, = ax.plot(data.t, hb, "o", markersize=2.5, label=f"HB λ = {lam:g}")
        ax.plot(data.t, closed, "-", color=line.get_color(), linewidth=0.8)
        ax.plot(data.t, ema, "x", color=line.get_color(), markersize=3,
                label=f"EMA form (001) λ = {lam:g}")
        ax.axhline(1 / (1 - lam), color=line.get_color(), linestyle=":", linewidth=0.8)
    ax.set(xlabel="step t", ylabel="step length / (α‖g‖)",
           title="F18 · effective step on f = gᵀx: → 1/(1 − λ)")
    ax.legend(fontsize="x-small", ncol=2)
    return figure


# ----------------------------------------------------------------------------
# F19: unrolled momentum
# ----------------------------------------------------------------------------


class Unrolled(NamedTuple):
    """``errors[k, s, t] = ||x^(t+1) - unrolled||`` with the sum from i = s (0 or 1)."""

    momenta: np.ndarray      # 0 (GD) and lambda
    errors: np.ndarray       # (momenta, 2, T)
    predicted_slip: np.ndarray  # (momenta, T): alpha (1 - lam^(t+1)) / (1 - lam) ||grad f(x0)||


def random_spd_quadratic(d: int = 5, seed: int = 0) -> problems.Problem:
    """``f = 1/2 x'Ax``, ``A = M M'/d + I`` with ``M`` and then ``x0`` standard normal."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(d, d))
    a = m @ m.T / d + np.eye(d)
    x0 = rng.normal(size=d)
    return problems.Problem(jopt.data.Quadratic(a, np.zeros(d), np.array(0.0)), x0)


def unrolled_weights(lam, steps: int):
    """``W[t, i] = (1 - lam^(t+1-i)) / (1 - lam)`` for ``i <= t``, else 0 (lam = 0: GD)."""
    t, i = np.arange(steps)[:, None], np.arange(steps)[None, :]
    power = jnp.where(i <= t, t + 1 - i, 1)
    return jnp.where(i <= t, (1 - lam ** power) / (1 - lam), 0.0)


def unrolling_errors(xs, grads, lam, alpha):
    """``||x^(t+1) - (x^(0) - alpha sum_i W[t, i] grad f(x^(i)))||`` from i = 0 and i = 1."""
    weights = unrolled_weights(lam, grads.shape[0])
    from_zero = xs[0] - alpha * weights @ grads
    from_one = xs[0] - alpha * weights[:, 1:] @ grads[1:]
    return jnp.stack([jnp.linalg.norm(xs[1:] - from_zero, axis=-1),
                      jnp.linalg.norm(xs[1:] - from_one, axis=-1)])


@float64
@compiled
def f19(alpha: float = 0.05, lam: float = 0.8, steps: int = 31) -> Unrolled:
    """F19 (004 "First-order acceleration methods"): the unrolled GD and momentum iterates.

    ``steps = 31`` reaches ``t = 30`` (``x^(31)``).
    """
    problem = random_spd_quadratic()
    momenta = np.array([0.0, lam])
    runs = vmapped_trajectories(problem, lambda m: jopt.sgd(alpha, momentum=m), momenta,
                                steps=steps)
    grads = jax.vmap(jax.vmap(jax.grad(problem.fun)))(runs.xs[:, :-1])
    errors = jax.vmap(unrolling_errors, in_axes=(0, 0, 0, None))(runs.xs, grads, momenta, alpha)
    first_grad = jnp.linalg.norm(jax.grad(problem.fun)(jnp.asarray(problem.x0)))
    slip = alpha * jax.vmap(lambda m: unrolled_weights(m, steps)[:, 0])(momenta) * first_grad
    return Unrolled(momenta, errors, slip)


@slide("F19", "004", "First-order acceleration methods")
def plot_f19(data: Unrolled):
    """Error of each unrolling against t (log y): the sum from i = 0 and the slides' i = 1."""
    figure, ax = subplots(1, width=6.0, height=4.0)
    t = np.arange(data.errors.shape[-1])
    for lam, errors, slip in zip(data.momenta, data.errors, data.predicted_slip):
        name = "GD" if lam == 0 else f"momentum λ = {lam:g}"
        line, = ax.semilogy(t, np.maximum(errors[0], 1e-18), "o-", markersize=3,
                            label=f"{name}, sum from i = 0")
        ax.semilogy(t, errors[1], "s--", color=line.get_color(), markersize=3,
                    label=f"{name}, sum from i = 1 (slides)")
        ax.semilogy(t, slip, ":", color="k", linewidth=0.8)
    ax.set(xlabel="t", ylabel="‖x⁽ᵗ⁺¹⁾ − unrolled‖ (floor 1e-18)",
           title="F19 · unrolled iterates (dotted: α w_t0 ‖∇f(x⁽⁰⁾)‖)")
    ax.legend(fontsize="x-small")
    return figure


# ----------------------------------------------------------------------------
# F20: momentum conventions
# ----------------------------------------------------------------------------


class Conventions(NamedTuple):
    """Q100, beta = 0.9: each convention of the decks, selected by a jopt.sgd option.

    Each field but ``later_rates`` and ``dampenings`` is a
    :class:`~experiments.lectures.common.Trajectory` (``xs``, ``values``) with a leading
    config axis.
    """

    later_rates: np.ndarray  # eta from step 50 on (eta = 1 before): 1 (constant) and 0.1
    outside: Trajectory      # jopt.sgd(rate_drop(eta, r), momentum=beta) (the default form)
    inside: Trajectory       # ... momentum_form="inside"
    ema: Trajectory          # jopt.sgd(eta, momentum=beta, momentum_form="ema") (one row)
    dampenings: np.ndarray
    damped: Trajectory       # jopt.sgd(eta, momentum=beta, dampening=d), one row per d


def rate_drop(rate: float, later_rate, boundary: int = 50):
    """``eta_t = rate`` for ``t < boundary``, then ``later_rate`` (traceable)."""
    return jopt.piecewise_constant_schedule(rate, boundaries=[boundary],
                                            scales=[later_rate / rate])


def form_runs(problem, form: str, rate: float, later_rates, dampenings, beta: float,
              steps: int):
    """``jopt.sgd(rate_drop(rate, r), momentum=beta, momentum_form=form, dampening=d)``
    for each pair (r, d): one vmap."""
    return vmapped_trajectories(
        problem, lambda r, d: jopt.sgd(rate_drop(rate, r), momentum=beta, momentum_form=form,
                                       dampening=d),
        later_rates, dampenings, steps=steps)


def rows(runs: Trajectory, start: int, stop=None) -> Trajectory:
    """The configs ``start:stop`` of vmapped runs."""
    return jax.tree_util.tree_map(lambda leaf: leaf[start:stop], runs)


@float64
@compiled
def f20(steps: int = 200, beta: float = 0.9, rate: float = 1.0,
        dampenings=(0.0, 0.5, 0.9)) -> Conventions:
    """F20 (000 "Momentum", 002-004 "v <- lambda v - eta grad", 001 "Momentum"): the rate
    inside or outside the buffer, 001's EMA with bias correction, torch's dampening."""
    problem = problems.q100()
    later = np.array([rate, 0.1 * rate])
    dampenings = np.asarray(dampenings, dtype=float)
    # The outside form's runs: the two rate schedules undamped, then each dampening.
    outside = form_runs(problem, "outside", rate,
                        np.concatenate([later, np.full(len(dampenings), rate)]),
                        np.concatenate([[0.0, 0.0], dampenings]), beta, steps)
    return Conventions(
        later, rows(outside, 0, 2),
        form_runs(problem, "inside", rate, later, [0.0, 0.0], beta, steps),
        vmapped_trajectories(problem, lambda b: jopt.sgd(rate, momentum=b, momentum_form="ema"),
                             [beta], steps=steps),
        dampenings, rows(outside, 2))


def form_gap(data: Conventions) -> np.ndarray:
    """``max_i |x_outside - x_inside|`` at each step, per later rate: (2, T + 1)."""
    return np.max(np.abs(data.outside.xs - data.inside.xs), axis=-1)


@slide("F20", "000", "Momentum")
def plot_f20(data: Conventions):
    """f_t: rate inside vs outside (constant, then dropped at 50); EMA form; dampening."""
    figure, axes = subplots(3, width=4.8, height=3.8)
    forms, ema, damped = axes.flat
    for outside, inside, later in zip(data.outside.values, data.inside.values, data.later_rates):
        what = "η = 1" if later == data.later_rates[0] else f"η = 1 → {later:g} at t = 50"
        forms.semilogy(outside, "-", label=f"outside (default), {what}")
        forms.semilogy(inside, "--", label=f'momentum_form="inside", {what}')
    forms.axvline(50, color="k", linestyle=":", linewidth=0.8)
    forms.set(xlabel="step t", ylabel="f(x_t)", title="F20 · rate inside vs outside, β = 0.9")
    forms.legend(fontsize="x-small")
    ema.semilogy(data.outside.values[0], label="outside: m = βm + g, x −= ηm")
    ema.semilogy(data.ema.values[0], label='momentum_form="ema" (001)')
    ema.set(xlabel="step t", ylabel="f(x_t)", title="F20 · 001's EMA + bias correction, η = 1")
    ema.legend(fontsize="x-small")
    for d, values in zip(data.dampenings, data.damped.values):
        damped.semilogy(values, label=f"dampening = {d:g}")
    damped.set(xlabel="step t", ylabel="f(x_t)", title="F20 · torch's dampening, β = 0.9")
    damped.legend(fontsize="x-small")
    return figure


# ----------------------------------------------------------------------------
# F21: Nesterov's look-ahead points
# ----------------------------------------------------------------------------


class Lookahead(NamedTuple):
    """Classic NAG by hand against ``jopt.sgd(nesterov=True)`` on Q100; HB vs NAG."""

    classic_xs: np.ndarray   # x_t of v <- mu v - eta grad f(x + mu v); x <- x + v
    lookahead: np.ndarray    # x_t + mu v_t
    jopt_xs: np.ndarray      # the iterates of jopt.sgd(eta, momentum=mu, nesterov=True)
    gap: np.ndarray          # max |lookahead - jopt_xs| over the first `compare` steps
    values: np.ndarray       # (2, T + 1): f_t of HB and NAG (jopt), beta = mu
    steps: np.ndarray        # steps to f < 1e-6: HB, NAG (jopt), classic NAG x_t
    rises: np.ndarray        # rises before the tolerance: HB, NAG (jopt), classic NAG x_t


def classic_nesterov(problem: problems.Problem, rate: float, momentum: float, steps: int):
    """Classic NAG (Sutskever et al. 2013, deck 001): ``v <- mu v - eta grad f(x + mu v)``,
    ``x <- x + v``, ``v_0 = 0``.  Returns ``x_0..x_T`` and ``v_0..v_T``."""
    grad = jax.grad(problem.fun)

    def step(carry, _):
        x, v = carry
        v = momentum * v - rate * grad(x + momentum * v)
        return (x + v, v), (x + v, v)
    x0 = jnp.asarray(problem.x0)
    _, (xs, vs) = jax.lax.scan(step, (x0, jnp.zeros_like(x0)), length=steps)
    return jnp.concatenate([x0[None], xs]), jnp.concatenate([jnp.zeros_like(x0)[None], vs])


@float64
@compiled
def f21(steps: int = pick(1000, 300), rate: float = 1.0, momentum: float = 0.9,
        compare: int = 50) -> Lookahead:
    """F21 (001 "Nesterov Momentum": "compute the gradient where momentum pushes you")."""
    problem = problems.q100()
    classic_xs, classic_vs = classic_nesterov(problem, rate, momentum, steps)
    heavy = momentum_runs(problem, [rate], [momentum], steps=steps)
    nesterov = momentum_runs(problem, [rate], [momentum], nesterov=True, steps=steps)
    lookahead = classic_xs + momentum * classic_vs
    values = jnp.stack([heavy.values[0], nesterov.values[0], jax.vmap(problem.fun)(classic_xs)])
    needed = steps_to(values, TOLERANCE)
    return Lookahead(classic_xs, lookahead, nesterov.xs[0],
                     jnp.max(jnp.abs(lookahead - nesterov.xs[0])[:compare + 1]),
                     values[:2], needed, rises_before(values, needed))


@slide("F21", "001", "Nesterov Momentum")
def plot_f21(data: Lookahead):
    """Classic x_t, look-ahead x_t + mu v_t and jopt's iterates; f_t of HB and NAG."""
    figure, axes = subplots(2, width=5.5, height=4.0)
    paths, curves = axes.flat
    contour(paths, problems.q100().fun, (-10.4, -5), (-1.1, 1.1), levels=15)
    n = 15
    paths.plot(*data.classic_xs[:n].T, "o-", markersize=3, linewidth=0.8,
               label="classic x_t (v ← μv − η∇f(x + μv))")
    paths.plot(*data.lookahead[:n].T, "s", markersize=7, mfc="none",
               label="look-ahead x_t + μv_t")
    paths.plot(*data.jopt_xs[:n].T, "k.", markersize=4,
               label="jopt.sgd(1, momentum=0.9, nesterov=True)")
    paths.set(xlabel="$x_1$", ylabel="$x_2$", title=f"F21 · first {n} points on Q100")
    paths.legend(fontsize="x-small")
    for label, values, steps, rises in zip(("HB β = 0.9", "NAG β = 0.9"), data.values,
                                           data.steps, data.rises):
        curves.semilogy(values, label=f"{label}: {steps} steps, {rises} rises")
    curves.axhline(TOLERANCE, color="k", linestyle=":", linewidth=0.8)
    curves.set(xlabel="step t", ylabel="f(x_t)", xlim=(0, 200), ylim=(1e-10, 10),
               title="F21 · HB vs NAG on Q100, η = 1")
    curves.legend(fontsize="small")
    return figure


# ----------------------------------------------------------------------------
# F22: escaping a local minimum
# ----------------------------------------------------------------------------


class Escape(NamedTuple):
    """QUART from x0 = 2.5: where HB and NAG end, in float64 and float32."""

    hb_rates: np.ndarray
    hb_momenta: np.ndarray
    hb_xs: np.ndarray        # (configs, T + 1) float64 iterates
    hb_final32: np.ndarray   # (configs,) the last iterate in float32
    hb_settle: np.ndarray    # first step with |f'(x_t)| < 1e-6 (-1: never)
    nag_momenta: np.ndarray  # NAG at eta = 0.01 (float64)
    nag_xs: np.ndarray
    nag_settle: np.ndarray


@compiled
def quart_runs(rates, momenta, *, nesterov: bool, steps: int, dtype):
    """Iterates ``x_0..x_T`` of jopt.sgd on QUART per (rate, momentum), and the first
    step with ``|f'(x_t)| < 1e-6`` (-1: never)."""
    problem = quart_problem()
    problem = problem._replace(x0=np.asarray(problem.x0, dtype=dtype))
    xs = momentum_runs(problem, rates, momenta, nesterov=nesterov, steps=steps).xs[..., 0]
    slopes = jax.vmap(jax.vmap(jax.grad(problems.quart)))(xs)
    return xs, jax.vmap(first_index)(jnp.abs(slopes) < 1e-6)


def f22(steps: int = pick(2000, 1000), rate: float = 0.01,
        hb_momenta=(0.0, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.92, 0.95),
        nag_momenta=(0.5, 0.8, 0.85, 0.9), extra=((0.03, 0.9),)) -> Escape:
    """F22 (004 "escape from local minima", 002 "Still not guarantee reaching global
    minima"): HB and NAG on QUART from 2.5; ``extra`` adds (rate, momentum) pairs."""
    hb_rates = np.array([rate] * len(hb_momenta) + [r for r, _ in extra])
    hb_momenta = np.array(list(hb_momenta) + [b for _, b in extra])
    nag_momenta = np.asarray(nag_momenta, dtype=float)
    nag_rates = np.full(len(nag_momenta), rate)
    run64 = float64(quart_runs)
    hb_xs, hb_settle = run64(hb_rates, hb_momenta, nesterov=False, steps=steps, dtype=np.float64)
    nag_xs, nag_settle = run64(nag_rates, nag_momenta, nesterov=True, steps=steps,
                               dtype=np.float64)
    hb32, _ = quart_runs(hb_rates, hb_momenta, nesterov=False, steps=steps, dtype=np.float32)
    return as_numpy(Escape(hb_rates, hb_momenta, hb_xs, hb32[:, -1], hb_settle,
                           nag_momenta, nag_xs, nag_settle))


@slide("F22", "004", "Acceleration effect for big λ + escape from local minima")
def plot_f22(data: Escape):
    """QUART with the GD and HB paths; x_t against t; where each beta ends."""
    import matplotlib.pyplot as plt
    figure, axes = subplots(3, width=4.8, height=3.8)
    curve, paths, ends = axes.flat
    grid = np.linspace(-2.2, 2.7, 400)
    curve.plot(grid, grid ** 4 - 4 * grid ** 2 + grid, "k-", linewidth=1)
    shown = [i for i, (r, b) in enumerate(zip(data.hb_rates, data.hb_momenta))
             if r == data.hb_rates[0] and b in (0.0, 0.9)]
    for i in shown:
        xs = data.hb_xs[i, :400]
        label = "GD" if data.hb_momenta[i] == 0 else f"HB β = {data.hb_momenta[i]:g}"
        curve.plot(xs, xs ** 4 - 4 * xs ** 2 + xs, "o", markersize=2, label=label)
    curve.set(xlabel="x", ylabel="f(x) = x⁴ − 4x² + x", ylim=(-7, 25),
              title="F22 · QUART, η = 0.01, first 400 iterates")
    curve.legend(fontsize="small")
    base = data.hb_rates == data.hb_rates[0]  # eta = 0.01; the others are the extra pairs
    colors = plt.get_cmap("turbo")(np.linspace(0.05, 0.95, len(data.hb_momenta)))
    for xs, rate, beta, color, main in zip(data.hb_xs, data.hb_rates, data.hb_momenta, colors,
                                           base):
        paths.plot(xs, "-" if main else "--", color=color, linewidth=0.9,
                   label=f"β = {beta:g}" + ("" if main else f", η = {rate:g}"))
    for level in (problems.QUART_GLOBAL_MIN, problems.QUART_LOCAL_MIN):
        paths.axhline(level, color="k", linestyle=":", linewidth=0.8)
    paths.set(xlim=(0, 300), xlabel="step t", ylabel="$x_t$", title="F22 · HB iterates")
    paths.legend(fontsize="xx-small", ncol=2)
    ends.plot(data.hb_momenta[base], data.hb_xs[base, -1], "o", label="HB, float64")
    ends.plot(data.hb_momenta[base], data.hb_final32[base], "k+", markersize=10,
              label="HB, float32")
    ends.plot(data.hb_momenta[~base], data.hb_xs[~base, -1], "v", markersize=8,
              label=f"HB, η = {', '.join(f'{r:g}' for r in data.hb_rates[~base])}")
    ends.plot(data.nag_momenta, data.nag_xs[:, -1], "s", mfc="none", markersize=8,
              label="NAG, float64")
    for level in (problems.QUART_GLOBAL_MIN, problems.QUART_LOCAL_MIN):
        ends.axhline(level, color="k", linestyle=":", linewidth=0.8)
    ends.set(xlabel="momentum β", ylabel="$x_T$", title="F22 · where each run ends")
    ends.legend(fontsize="x-small")
    return figure


FIGURES = {
    "F15": (f15, plot_f15),
    "F16": (f16, plot_f16),
    "F17": (f17, plot_f17),
    "F18": (f18, plot_f18),
    "F19": (f19, plot_f19),
    "F20": (f20, plot_f20),
    "F21": (f21, plot_f21),
    "F22": (f22, plot_f22),
}
