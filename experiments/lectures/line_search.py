"""Line search (FIGURES.md section 2, F13-F14): choosing the step along -grad f at each step.

Deck 004 "Gradient descent: Learning rate" ends its list of step-size advice with
"Optimal values can be found via line search algorithms: argmin_alpha f(x - alpha
grad f(x))", and deck 001 names line search as the alternative to a fixed learning
rate.  F13 takes the slide literally on a quadratic, where the minimizing step has the
closed form ``alpha* = g'g / g'Ag`` (``jopt.scale_by_exact_quadratic_step``): the path
zig-zags with orthogonal consecutive gradients, at the Kantorovich rate from the worst
start.  F14 takes the practical route, backtracking until the Armijo condition holds
(``jopt.scale_by_backtracking_linesearch``), and compares it with fixed steps on the
Rosenbrock function.

Both line searches rescale a direction, so each optimizer is ``jopt.chain(jopt.sgd(1.0),
line_search)``: ``sgd(1.0)`` makes the direction ``-g``, the line search picks ``alpha``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jopt

from . import common, problems
from .common import pick, slide

# ----------------------------------------------------------------------------
# Helpers: the gradients along a run, and the step sizes it took
# ----------------------------------------------------------------------------


def gradients(fun: Callable, xs: jax.Array) -> jax.Array:
    """``grad f`` at each iterate of ``xs`` (leading axis: the iterates)."""
    return jax.vmap(jax.grad(fun))(xs)


def step_sizes(xs: jax.Array, grads: jax.Array) -> jax.Array:
    """The step ``alpha_t`` of each update ``x_{t+1} = x_t - alpha_t g_t`` of a run.

    ``alpha_t = (x_t - x_{t+1})'g_t / g_t'g_t``, read off the iterates, so it is the
    step the line search accepted whatever transform chose it.
    """
    moves = xs[:-1] - xs[1:]
    return jnp.sum(moves * grads[:-1], axis=-1) / jnp.sum(grads[:-1] ** 2, axis=-1)


def steepest_descent(line_search: jopt.GradientTransformation) -> jopt.GradientTransformation:
    """Direction ``-g`` (``sgd(1.0)``), scaled by the step the ``line_search`` picks."""
    return jopt.chain(jopt.sgd(1.0), line_search)


# ----------------------------------------------------------------------------
# F13: exact line search on a quadratic
# ----------------------------------------------------------------------------

F13_STARTS = ((10.0, 1.0), (-8.0, 2.0), (1.0, 1.0))
"""Q10 starts: ``(lambda_2, lambda_1)``, the worst (Kantorovich) start; Q10's x0; (1, 1)."""


class ExactLineSearch(NamedTuple):
    """F13's runs, one row per start: iterates, values, steps and the derived numbers."""

    starts: np.ndarray          # (S, 2)
    xs: np.ndarray              # (S, T + 1, 2) iterates
    values: np.ndarray          # (S, T + 1) f(x_t)
    step_sizes: np.ndarray      # (S, T) the exact steps g'g / g'Ag
    gradient_cosines: np.ndarray  # (S, T - 1) cos(g_t, g_{t+1})
    ratios: np.ndarray          # (S, T) f_{t+1} / f_t
    steps_to_tol: np.ndarray    # (S,) first t with f_t < tol (-1: never)
    kantorovich: np.ndarray     # ((kappa - 1) / (kappa + 1))^2
    fixed_values: np.ndarray    # (T + 1,) GD with eta = 2/(mu + L) from starts[0]
    fixed_steps_to_tol: np.ndarray
    mu: float
    L: float
    tol: float


@common.float64
def f13(starts=F13_STARTS, steps: int = 60, tol: float = 1e-6) -> ExactLineSearch:
    """F13: exact line search ``alpha* = g'g / g'Ag`` on Q10 from several starts (deck 004).

    One ``vmap`` over the starts; beside it, GD with the best fixed step ``2/(mu + L)``
    from the first start.  Slides: 004 "Gradient descent: Learning rate" (line search).
    """
    q10 = problems.q10()
    exact = steepest_descent(jopt.scale_by_exact_quadratic_step())

    def run(x0):
        path = common.trajectory(q10.fun, x0, exact, steps)
        grads = gradients(q10.fun, path.xs)
        unit = grads / jnp.linalg.norm(grads, axis=-1, keepdims=True)
        return dict(xs=path.xs, values=path.values, step_sizes=step_sizes(path.xs, grads),
                    gradient_cosines=jnp.sum(unit[:-1] * unit[1:], axis=-1),
                    ratios=path.values[1:] / path.values[:-1],
                    steps_to_tol=common.first_index(path.values < tol))

    @jax.jit
    def compute(starts):
        fixed = common.trajectory(q10.fun, starts[0], jopt.sgd(2 / (q10.mu + q10.L)), steps)
        return dict(jax.vmap(run)(starts), fixed_values=fixed.values,
                    fixed_steps_to_tol=common.first_index(fixed.values < tol))

    starts = jnp.asarray(starts, dtype=float)
    return ExactLineSearch(starts=starts, **compute(starts),
                           kantorovich=((q10.kappa - 1) / (q10.kappa + 1)) ** 2,
                           mu=q10.mu, L=q10.L, tol=tol)


def steps_label(steps: int, budget: int) -> str:
    """``"N steps"``, or ``"not within <budget> steps"`` for ``first_index``'s -1."""
    return f"not within {budget} steps" if int(steps) < 0 else f"{int(steps)} steps"


@slide("F13", "004", "Gradient descent: Learning rate")
def plot_f13(data: ExactLineSearch):
    """The zig-zag paths on Q10's contours, and f_t (log) against the Kantorovich rate."""
    fig, axes = common.subplots(2, width=5.5)
    paths_ax, values_ax = axes[0]
    common.contour(paths_ax, problems.q10().fun, (-9, 11), (-2.5, 2.5))
    common.draw_paths(paths_ax, {f"x0 = ({x:g}, {y:g})": xs[:16]
                                 for (x, y), xs in zip(data.starts, data.xs)})
    paths_ax.set(xlabel="$x_1$", ylabel="$x_2$",
                 title="F13 · exact line search on Q10: orthogonal zig-zag")
    t = np.arange(data.values.shape[1])
    budget = len(t) - 1
    for (x, y), values, steps in zip(data.starts, data.values, data.steps_to_tol):
        values_ax.semilogy(t, values,
                           label=f"exact, x0 = ({x:g}, {y:g}): {steps_label(steps, budget)}")
    x, y = data.starts[0]
    values_ax.semilogy(t, data.fixed_values, "k--", linewidth=1,
                       label=f"fixed η = 2/(μ+L), x0 = ({x:g}, {y:g}): "
                             f"{steps_label(data.fixed_steps_to_tol, budget)}")
    values_ax.semilogy(t, data.values[0, 0] * data.kantorovich ** t, ":", color="0.4",
                       label=f"Kantorovich rate ((κ-1)/(κ+1))² = {float(data.kantorovich):.6f}")
    values_ax.axhline(data.tol, color="0.7", linewidth=0.8)
    values_ax.set(xlabel="step t", ylabel="f(x_t)", ylim=(1e-20, None),
                  title="F13 · f_t falls by a constant factor per step")
    values_ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F14: backtracking (Armijo) line search
# ----------------------------------------------------------------------------

F14_FIXED_ETAS = (0.001, 0.002, 0.003, 0.004)


class Backtracking(NamedTuple):
    """F14: backtracking on Q10 and on ROSEN, and fixed steps on ROSEN (one row per eta)."""

    q10_xs: np.ndarray              # (Tq + 1, 2)
    q10_values: np.ndarray
    q10_grad_norms: np.ndarray
    q10_step_sizes: np.ndarray      # (Tq,) accepted steps
    q10_steps_to_gtol: np.ndarray   # first t with ||g|| < q10_gtol
    rosen_xs: np.ndarray            # (T + 1, 2)
    rosen_values: np.ndarray
    rosen_grad_norms: np.ndarray
    rosen_step_sizes: np.ndarray    # (T,)
    rosen_steps_to_gtol: np.ndarray  # (len(gtols),) first t with ||g|| < each gtol
    fixed_etas: np.ndarray          # (E,)
    fixed_xs: np.ndarray            # (E, T + 1, 2)
    fixed_grad_norms: np.ndarray    # (E, T + 1)
    fixed_steps_to_gtol: np.ndarray  # (E,) first t with ||g|| < gtols[-1] (-1: never)
    gtols: np.ndarray               # ROSEN tolerances, e.g. (1e-3, 1e-4)
    rosen_max_curvature: np.ndarray  # largest Hessian eigenvalue at ROSEN's minimum (1, 1)
    q10_gtol: float
    slope_rtol: float
    decrease_factor: float
    q10_L: float


@common.float64
def f14(q10_steps: int = 100, rosen_steps: int = pick(25_000, 12_000),
        fixed_etas=F14_FIXED_ETAS, gtols=(1e-3, 1e-4), q10_gtol: float = 1e-6,
        slope_rtol: float = 1e-4, decrease_factor: float = 0.5) -> Backtracking:
    """F14: backtracking from alpha = 1 (Armijo, c = 1e-4, beta = 0.5) on Q10 and ROSEN.

    Fixed steps on ROSEN run in one ``vmap`` over eta.  Slides: 004 "Gradient descent:
    Learning rate" ("Optimal values can be found via line search algorithms"); the rule
    itself is the catalogue's choice (alpha <- 1; while not Armijo: alpha <- beta alpha).
    """
    backtracking = steepest_descent(jopt.scale_by_backtracking_linesearch(
        slope_rtol=slope_rtol, decrease_factor=decrease_factor, max_learning_rate=1.0))
    q10 = problems.q10()
    rosen_x0 = jnp.asarray(problems.ROSEN_X0)

    def described(fun, x0, steps):
        path = common.trajectory(fun, x0, backtracking, steps)
        grads = gradients(fun, path.xs)
        return path, jnp.linalg.norm(grads, axis=-1), step_sizes(path.xs, grads)

    def fixed_run(eta):
        path = common.trajectory(problems.rosen, rosen_x0, jopt.sgd(eta), rosen_steps)
        return path.xs, jnp.linalg.norm(gradients(problems.rosen, path.xs), axis=-1)

    @jax.jit
    def compute(etas, gtols):
        q10_path, q10_norms, q10_alphas = described(q10.fun, jnp.asarray(q10.x0), q10_steps)
        rosen_path, rosen_norms, rosen_alphas = described(problems.rosen, rosen_x0, rosen_steps)
        fixed_xs, fixed_norms = jax.vmap(fixed_run)(etas)
        return dict(
            q10_xs=q10_path.xs, q10_values=q10_path.values, q10_grad_norms=q10_norms,
            q10_step_sizes=q10_alphas, q10_steps_to_gtol=common.first_index(q10_norms < q10_gtol),
            rosen_xs=rosen_path.xs, rosen_values=rosen_path.values, rosen_grad_norms=rosen_norms,
            rosen_step_sizes=rosen_alphas,
            rosen_steps_to_gtol=jax.vmap(lambda g: common.first_index(rosen_norms < g))(gtols),
            fixed_etas=etas, fixed_xs=fixed_xs, fixed_grad_norms=fixed_norms,
            fixed_steps_to_gtol=jax.vmap(lambda n: common.first_index(n < gtols[-1]))(fixed_norms),
            rosen_max_curvature=jnp.linalg.eigvalsh(jax.hessian(problems.rosen)(jnp.ones(2)))[-1])

    gtols = np.asarray(gtols, dtype=float)
    return Backtracking(**compute(jnp.asarray(fixed_etas, dtype=float), jnp.asarray(gtols)),
                        gtols=gtols, q10_gtol=q10_gtol, slope_rtol=slope_rtol,
                        decrease_factor=decrease_factor, q10_L=q10.L)


def armijo_holds(values: np.ndarray, grad_norms: np.ndarray, step_sizes: np.ndarray,
                 slope_rtol: float) -> np.ndarray:
    """``f(x_{t+1}) <= f(x_t) - c alpha_t ||g_t||^2`` for each step of a run (F14)."""
    return values[1:] <= values[:-1] - slope_rtol * step_sizes * grad_norms[:-1] ** 2


def stop_or_budget(steps: int, budget: int) -> int:
    """The stopping step, or the whole run when the tolerance was not reached (-1)."""
    return budget if int(steps) < 0 else int(steps)


@slide("F14", "004", "Gradient descent: Learning rate")
def plot_f14(data: Backtracking):
    """Backtracking paths on Q10 and ROSEN, gradient norms against fixed steps, and the
    accepted step sizes."""
    fig, axes = common.subplots(2, 2, width=5.5)
    (q10_ax, rosen_ax), (norms_ax, alpha_ax) = axes
    q10_stop = stop_or_budget(data.q10_steps_to_gtol, len(data.q10_step_sizes))
    common.contour(q10_ax, problems.q10().fun, (-9, 9), (-3, 3))
    q10_label = steps_label(data.q10_steps_to_gtol, len(data.q10_step_sizes))
    common.draw_paths(q10_ax, {f"backtracking: {q10_label} to ‖g‖ < {data.q10_gtol:g}":
                               data.q10_xs[:q10_stop + 1]})
    q10_ax.set(xlabel="$x_1$", ylabel="$x_2$", title="F14 · backtracking (Armijo) on Q10")

    common.contour(rosen_ax, problems.rosen, (-1.5, 1.5), (-0.5, 1.5), levels=30)
    shown = common.log_spaced(len(data.rosen_xs) - 1)
    paths = {"backtracking": data.rosen_xs[shown]}
    paths.update({f"fixed η = {eta:g}": xs[shown]
                  for eta, xs, steps in zip(data.fixed_etas, data.fixed_xs,
                                            data.fixed_steps_to_gtol) if steps >= 0})
    common.draw_paths(rosen_ax, paths, markersize=1.5)
    rosen_ax.plot(1, 1, "k*", markersize=10)
    rosen_ax.set(xlabel="x", ylabel="y", title="F14 · ROSEN from (-1.2, 1)")

    t = np.arange(len(data.rosen_grad_norms))
    budget = len(t) - 1
    stops = ", ".join(steps_label(s, budget) for s in data.rosen_steps_to_gtol)
    norms_ax.loglog(t[1:], data.rosen_grad_norms[1:], "k", linewidth=1.2,
                    label=f"backtracking ({stops} to ‖∇f‖ < "
                          f"{', '.join(f'{g:g}' for g in data.gtols)})")
    for eta, norms, steps in zip(data.fixed_etas, data.fixed_grad_norms,
                                 data.fixed_steps_to_gtol):
        norms_ax.loglog(t[1:], norms[1:], linewidth=0.9,
                        label=f"η = {eta:g}: {steps_label(steps, budget)}")
    for gtol in data.gtols:
        norms_ax.axhline(gtol, color="0.7", linewidth=0.8)
    norms_ax.set(xlabel="step t", ylabel="‖∇f(x_t)‖",
                 title=f"F14 · ROSEN: steps to ‖∇f‖ < {data.gtols[-1]:g}")
    norms_ax.legend(fontsize="small")

    rosen_stop = stop_or_budget(data.rosen_steps_to_gtol[-1], budget)
    alpha_ax.loglog(np.arange(1, rosen_stop + 1), data.rosen_step_sizes[:rosen_stop], ".",
                    markersize=1.5, label="ROSEN")
    alpha_ax.loglog(np.arange(1, q10_stop + 1), data.q10_step_sizes[:q10_stop], "o",
                    markersize=3, label="Q10")
    floor = min(1.0, 2 * data.decrease_factor * (1 - data.slope_rtol) / data.q10_L)
    alpha_ax.axhline(floor, color="0.5", linestyle=":", label=f"Q10 bound 2β(1-c)/L = {floor:.5f}")
    alpha_ax.set(xlabel="step t + 1", ylabel="accepted α_t",
                 title="F14 · accepted steps (powers of β = 0.5)")
    alpha_ax.legend(fontsize="small")
    return fig


FIGURES = {"F13": (f13, plot_f13), "F14": (f14, plot_f14)}
