"""Gradient descent: step size, rates, geometry (FIGURES.md section 1, F1-F12).

Plain gradient descent ``x <- x - eta grad f(x)`` is ``jopt.sgd(eta)`` without momentum.
This module runs it on the shared problems of :mod:`experiments.lectures.problems`:

- the step size that is too small, right or too large (F1, F2);
- the rates of the classic analysis: linear ``(1 - mu/L)^t`` for strongly convex
  functions, ``O(1/t)`` for convex ones, and Nesterov's ``O(1/t^2)`` (F3, F4);
- GD as Euler's method for the gradient flow, and the Taylor view of one step (F5, F6);
- the geometry of gradients and level sets, and where gradients do not exist (F7, F8);
- stationary points, saddles, cycles at the edge of stability (F9, F10);
- gradient clipping at a cliff and feature scaling (F11, F12).

Decks: 004 (Rodolà, "Gradient descent: Learning rate", "Orthogonality",
"Differentiability", "Stationary points"), 001 (Perraudin / Hofmann, "Gradient Descent",
"Gradient Descent: Classic analysis", "Challenges: Curvature"), 002 (the practice deck:
"Gradient decent", "Learning rate", "Feature scaling", "Why gradient decent can find local
minimum?") and 003 (Pardo, "Step Size: how far should we go?").

Sweeps over a learning rate or a starting point are one ``jax.vmap`` of a function that
builds the jopt optimizer from the traced value (:func:`gd_sweep`, :func:`gd_from`).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jopt
from experiments.lectures import common, problems
from experiments.lectures.common import pick, slide, subplots

BLOWUP = 1e12
"""A value above this counts as diverged (F1)."""


# ----------------------------------------------------------------------------
# Helpers: vmapped GD runs, steps to a tolerance, gradient norms
# ----------------------------------------------------------------------------


def figure_data(*static_argnames: str) -> Callable:
    """Decorator for a figure's data function: one ``jax.jit`` (``static_argnames``: the
    step counts and other shapes), run in float64 with NumPy results (``common.float64``).

    Tracing the whole setup once is much cheaper than running its small JAX operations
    one by one, each compiled on its own.  (Other lecture modules could share this.)
    """
    def decorate(fn):
        return common.float64(jax.jit(fn, static_argnames=static_argnames))
    return decorate


def gd_sweep(fun: Callable, x0: Any, learning_rates: Any, steps: int) -> common.Trajectory:
    """Plain GD from ``x0`` for every learning rate, in one jitted ``vmap`` of a ``lax.scan``.

    The optimizer ``jopt.sgd(eta)`` is built from the traced rate (hyperparameters are
    data in jopt), so the sweep is one compiled program.  The leading axis of the
    trajectory's arrays is the rate.  (Other lecture modules could share this helper.)
    """
    def run(learning_rate):
        return common.trajectory(fun, x0, jopt.sgd(learning_rate), steps)
    return jax.jit(jax.vmap(run))(jnp.asarray(learning_rates))


def gd_from(fun: Callable, starts: Any, learning_rate: float, steps: int) -> common.Trajectory:
    """Plain GD at one learning rate from each row of ``starts``, in one jitted ``vmap``."""
    def run(x0):
        return common.trajectory(fun, x0, jopt.sgd(learning_rate), steps)
    return jax.jit(jax.vmap(run))(jnp.asarray(starts))


def steps_to(condition: jax.Array) -> jax.Array:
    """The first step where ``condition`` holds, per row (``-1``: not within the budget)."""
    return jax.vmap(common.first_index)(condition)


def grad_norms(fun: Callable, xs: jax.Array) -> jax.Array:
    """``||grad f(x)||`` at every point of ``xs`` (any leading axes, the last is x)."""
    norm = lambda x: jnp.linalg.norm(jax.grad(fun)(x))
    flat = xs.reshape(-1, xs.shape[-1])
    return jax.jit(jax.vmap(norm))(flat).reshape(xs.shape[:-1])


def loglog_slope(t: np.ndarray, values: np.ndarray, low: int, high: int) -> float:
    """The least-squares slope of ``log values`` against ``log t`` over ``low <= t <= high``."""
    keep = (t >= low) & (t <= high)
    return float(np.polyfit(np.log(t[keep]), np.log(values[keep]), 1)[0])


def thin_log_ticks(fig, max_decades: float = 5.0):
    """No minor ticks, and at most 8 labelled ones, on log axes spanning many decades
    (drawing matplotlib's 9 ticks per decade is most of the cost of such a figure)."""
    from matplotlib.ticker import LogLocator, NullLocator
    for ax in fig.axes:
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() == "log" and np.log10(max(high, low) / min(high, low)) > max_decades:
                axis.set_major_locator(LogLocator(numticks=8))
                axis.set_minor_locator(NullLocator())
    return fig


def rate_label(eta: float) -> str:
    """``eta = 0.1``, with 2/11 written as a fraction."""
    return "η = 2/11" if np.isclose(eta, 2 / 11) else f"η = {eta:g}"


def _pick_rows(rates: np.ndarray, wanted: Sequence[float]) -> list[int]:
    """The indices of ``wanted`` in ``rates`` (by ``isclose``)."""
    return [int(np.flatnonzero(np.isclose(rates, eta))[0]) for eta in wanted
            if np.any(np.isclose(rates, eta))]


# ----------------------------------------------------------------------------
# F1 · GD on a 2-D quadratic: too small, right and too large a step
# ----------------------------------------------------------------------------

F1_PATH_RATES = (0.02, 0.1, 2 / 11, 0.19, 0.21)
F1_TABLE_RATES = (0.01, 0.02, 0.05, 0.1, 2 / 11, 0.19, 0.199)
F1_EDGE_RATES = (0.2, 0.201, 0.21)
F1_RATES = tuple(sorted(set(F1_PATH_RATES + F1_TABLE_RATES + F1_EDGE_RATES)))


class StepSizeData(NamedTuple):
    """F1's data: GD on Q10 at each rate (leading axis)."""

    learning_rates: np.ndarray   # (k,)
    xs: np.ndarray               # (k, steps + 1, 2) iterates
    values: np.ndarray           # (k, steps + 1) f(x_t)
    steps_to_tol: np.ndarray     # (k,) first t with f < tol, -1 if never
    blowup_step: np.ndarray      # (k,) first t with f > 1e12, -1 if never
    tol: float


@figure_data("steps")
def f1(learning_rates: Sequence[float] = F1_RATES, steps: int = 1300,
       tol: float = 1e-6) -> StepSizeData:
    """F1 (deck 004 "Gradient descent: Learning rate"; 002 "Learning rate"; 003 "Step Size"):
    GD on Q10 with too small, right and too large a step, one vmapped run over the rates."""
    q10 = problems.q10()
    run = gd_sweep(q10.fun, q10.x0, learning_rates, steps)
    return StepSizeData(jnp.asarray(learning_rates), run.xs, run.values,
                        steps_to(run.values < tol), steps_to(run.values > BLOWUP), tol)


@slide("F1", "004", "Gradient descent: Learning rate")
def plot_f1(data: StepSizeData):
    """Q10's contours with the first 30 iterates per rate; f(x_t) on a log axis."""
    fig, axes = subplots(2, width=6.0)
    rows = _pick_rows(data.learning_rates, F1_PATH_RATES)
    paths = {rate_label(data.learning_rates[i]): data.xs[i, :31] for i in rows}
    common.contour(axes[0, 0], problems.q10().fun, (-9, 9), (-3, 3), levels=15)
    common.draw_paths(axes[0, 0], paths)
    axes[0, 0].set(xlabel="x₁", ylabel="x₂", title="F1 · GD on Q10: the first 30 iterates")
    for i in rows:
        axes[0, 1].semilogy(data.values[i, :200], label=rate_label(data.learning_rates[i]))
    axes[0, 1].axhline(data.tol, color="0.5", linestyle=":", label=f"tolerance {data.tol:g}")
    axes[0, 1].set(xlabel="step t", ylabel="f(x_t)", title="F1 · f(x_t): 2/(μ+L) = 2/11 is fastest",
                   ylim=(1e-14, 1e8))
    axes[0, 1].legend(fontsize="small")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F2 · Learning-rate sweep: steps to a tolerance against eta
# ----------------------------------------------------------------------------


class RateSweepData(NamedTuple):
    """F2's data: steps to f < tol on Q100 for each rate."""

    learning_rates: np.ndarray   # (k,)
    steps_to_tol: np.ndarray     # (k,) -1 if never within the budget
    slow_mode_steps: np.ndarray  # (k,) the closed form from the slow mode (1 - mu eta)^(2t)
    tol: float
    budget: int


@figure_data("steps")
def f2(learning_rates: Sequence[float] = tuple(np.arange(1, 21) / 10), steps: int = 7000,
       tol: float = 1e-6) -> RateSweepData:
    """F2 (deck 002 "Learning rate"; 004 "Too small ... Too big"): steps to f < 1e-6 on Q100
    against eta, one ``vmap`` over the rate of ``jopt.sgd``."""
    q100 = problems.q100()
    rates = jnp.asarray(learning_rates)
    run = gd_sweep(q100.fun, q100.x0, rates, steps)
    slow_start = 0.5 * q100.mu * q100.x0[0] ** 2
    slow_mode = jnp.log(tol / slow_start) / (2 * jnp.log(jnp.abs(1 - q100.mu * rates)))
    return RateSweepData(rates, steps_to(run.values < tol), slow_mode, tol, steps)


@slide("F2", "002", "Learning rate")
def plot_f2(data: RateSweepData):
    """Steps to the tolerance against eta (log-log), and steps times eta."""
    fig, axes = subplots(2)
    done = data.steps_to_tol >= 0
    eta = data.learning_rates
    axes[0, 0].loglog(eta[done], data.steps_to_tol[done], "o", label="GD on Q100 (vmapped sweep)")
    axes[0, 0].loglog(eta, data.slow_mode_steps, "--", color="0.4",
                      label="slow mode: ln(tol/f₁(0)) / (2 ln(1 − μη))")
    if np.any(~done):
        axes[0, 0].loglog(eta[~done], np.full((~done).sum(), data.budget), "x", color="C3",
                          markersize=9, label=f"never (budget {data.budget})")
    axes[0, 0].set(xlabel="learning rate η", ylabel=f"steps to f < {data.tol:g}",
                   title="F2 · steps against η")
    axes[0, 0].legend(fontsize="small")
    product = (data.steps_to_tol * eta)[done]
    axes[0, 1].plot(eta[done], product, "o-")
    axes[0, 1].set(xlabel="learning rate η", ylabel="steps × η",
                   ylim=(0.95 * product.min(), 1.05 * product.max()),
                   title="F2 · steps × η is almost constant (η < 2/L)")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F3 · Linear rate (1 - mu/L)^t for strongly convex objectives
# ----------------------------------------------------------------------------


class LinearRateData(NamedTuple):
    """F3's data: f_t - f* and the slide's bound on Q10 and Q100 at eta = 1/L."""

    q10_gap: np.ndarray          # (T10 + 1,)
    q10_bound: np.ndarray        # (1 - mu/L)^t (f0 - f*)
    q10_steps: int               # first t with f < 1e-6
    q10_closed_form: float       # ln(f_1-mode / 1e-6) / -ln((1 - mu/L)^2) = 82.01
    q100_gap: np.ndarray         # (T100 + 1,)
    q100_bound: np.ndarray
    q100_tolerances: np.ndarray  # rho
    q100_steps: np.ndarray       # first t with f < rho


def _gap_and_bound(problem: problems.Problem, steps: int) -> tuple[jax.Array, jax.Array]:
    """f_t - f* of GD at eta = 1/L, and ``(1 - mu/L)^t (f_0 - f*)``."""
    run = gd_sweep(problem.fun, problem.x0, [1 / problem.L], steps)
    gap = run.values[0] - problem.f_star
    return gap, (1 - problem.mu / problem.L) ** jnp.arange(steps + 1) * gap[0]


@figure_data("q10_steps", "q100_steps")
def f3(q10_steps: int = 200, q100_steps: int = 1000,
       tolerances: Sequence[float] = (1e-3, 1e-6, 1e-9)) -> LinearRateData:
    """F3 (deck 001 "Gradient Descent: Classic analysis"): the linear rate on Q10 and Q100
    at eta = 1/L against the slide's bound ``(1 - mu/L)^t (f0 - f*)``."""
    q10, q100 = problems.q10(), problems.q100()
    q10_gap, q10_bound = _gap_and_bound(q10, q10_steps)
    q100_gap, q100_bound = _gap_and_bound(q100, q100_steps)
    rho = jnp.asarray(tolerances)
    slow = 0.5 * q10.mu * q10.x0[0] ** 2   # the x1 part of f0; the x2 part vanishes at t = 1
    return LinearRateData(
        q10_gap, q10_bound, common.first_index(q10_gap < 1e-6),
        np.log(slow / 1e-6) / -np.log((1 - q10.mu / q10.L) ** 2),
        q100_gap, q100_bound, rho, steps_to(q100_gap[None, :] < rho[:, None]))


@slide("F3", "001", "Gradient Descent: Classic analysis")
def plot_f3(data: LinearRateData):
    """f_t - f* with the slide's bound (log y) for Q10 and Q100 at eta = 1/L."""
    fig, axes = subplots(2)
    for ax, name, gap, bound in ((axes[0, 0], "Q10 (κ = 10)", data.q10_gap, data.q10_bound),
                                 (axes[0, 1], "Q100 (κ = 100)", data.q100_gap, data.q100_bound)):
        ax.semilogy(gap, label="GD, $\\eta = 1/L$: $f_t - f^*$")
        ax.semilogy(bound, "--", label="slide: $(1 - \\mu/L)^t\\,(f_0 - f^*)$")
        ax.semilogy(bound ** 2 / bound[0], ":", color="0.4",
                    label="$(1 - \\mu/L)^{2t}\\,(f_0 - f^*)$")
        ax.set(xlabel="step $t$", ylabel="$f(x_t) - f^*$", title=f"F3 · linear rate on {name}")
        ax.legend(fontsize="small")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F4 · O(1/t) for convex objectives and Nesterov's O(1/t^2)
# ----------------------------------------------------------------------------


class AcceleratedState(NamedTuple):
    """``previous``: x_{k-1}; ``t``: t_{k-1} (0 before the first step, so that t_0 = 1)."""

    previous: Any
    t: jax.Array


def accelerated_gradient(learning_rate: Any) -> jopt.GradientTransformation:
    """Nesterov's accelerated gradient with the t_k sequence (F4; Beck & Teboulle's FISTA)::

        t_k = (1 + sqrt(1 + 4 t_{k-1}^2)) / 2,          t_0 = 1
        y_k = x_k + ((t_{k-1} - 1) / t_k) (x_k - x_{k-1})
        x_{k+1} = y_k - eta grad f(y_k)

    A jopt-style :class:`jopt.GradientTransformation` written here because no jopt chain
    matches it exactly: ``jopt.sgd(eta, momentum, nesterov=True)`` keeps the momentum
    constant and its iterates are the look-ahead points.  The parameters this
    transformation moves are the x_k (where f is reported); it evaluates the gradient at
    the look-ahead point y_k itself, through the ``value_fn`` extra argument that
    :func:`experiments.lectures.common.trajectory` and :func:`jopt.minimize` pass (as they
    do to line searches), so the incoming gradient (at x_k) is not used.
    """
    def init(params):
        return AcceleratedState(params, jnp.zeros([], jnp.result_type(float)))

    def update(updates, state, params=None, *, value_fn=None, **extra):
        del updates, extra
        if params is None or value_fn is None:
            raise ValueError("accelerated_gradient needs params and value_fn")
        t = (1 + jnp.sqrt(1 + 4 * state.t ** 2)) / 2
        momentum = (state.t - 1) / t
        look_ahead = jax.tree_util.tree_map(lambda x, prev: x + momentum * (x - prev),
                                            params, state.previous)
        grad = jax.grad(value_fn)(look_ahead)
        new = jax.tree_util.tree_map(lambda y, g: y - learning_rate * g, look_ahead, grad)
        steps = jax.tree_util.tree_map(lambda n, x: n - x, new, params)
        return steps, AcceleratedState(params, t)
    return jopt.GradientTransformation(init, update)


class SublinearData(NamedTuple):
    """F4's data on QH at eta = 1/L: f_t for GD and Nesterov, and the two bounds."""

    t: np.ndarray                # 0 .. T
    gd: np.ndarray               # f_t
    nesterov: np.ndarray
    distance2: float             # ||x0 - x*||^2 = sum 1/lambda_i = 7485.47
    L: float
    gd_slope: float              # log-log slope over t in [10, 100]
    nesterov_slope: float

    @property
    def bound(self) -> np.ndarray:
        """The slide's O(1/t) bound 2L ||x0 - x*||^2 / (t + 1)."""
        return 2 * self.L * self.distance2 / (self.t + 1)

    @property
    def bound_squared(self) -> np.ndarray:
        """The O(1/t^2) bound 2L ||x0 - x*||^2 / (t + 1)^2."""
        return 2 * self.L * self.distance2 / (self.t + 1) ** 2


@figure_data("steps", "d")
def qh_values(steps: int, d: int = 1000) -> tuple[jax.Array, jax.Array]:
    """F4's runs on QH at eta = 1/L: f(x_t) for GD and for :func:`accelerated_gradient`."""
    qh = problems.qh(d)
    eigenvalues = jnp.asarray(np.diag(qh.fun.A))   # QH is diagonal: skip the dense d x d product
    fun = lambda x: 0.5 * jnp.sum(eigenvalues * x ** 2)
    x0 = jnp.asarray(qh.x0)
    eta = 1 / qh.L
    return (common.trajectory(fun, x0, jopt.sgd(eta), steps).values,
            common.trajectory(fun, x0, accelerated_gradient(eta), steps).values)


def f4(steps: int = pick(1000, 300), d: int = 1000) -> SublinearData:
    """F4 (deck 001 "Gradient Descent: Classic analysis"): GD's O(1/t) and Nesterov's
    O(1/t^2) on QH at eta = 1/L = 1."""
    qh = problems.qh(d)
    gd, nesterov = qh_values(steps, d)
    t = np.arange(steps + 1)
    high = min(100, steps)
    return SublinearData(t, gd, nesterov, float(np.sum(qh.x0 ** 2)), qh.L,
                         loglog_slope(t, gd, 10, high), loglog_slope(t, nesterov, 10, high))


@slide("F4", "001", "Gradient Descent: Classic analysis")
def plot_f4(data: SublinearData):
    """f_t against t (log-log) for GD and Nesterov, with both bounds."""
    fig, ax = subplots(width=6.5)
    t = data.t[1:]
    ax.loglog(t, data.gd[1:], label=f"GD, η = 1/L (slope {data.gd_slope:.2f} on [10, 100])")
    ax.loglog(t, data.nesterov[1:],
              label=f"Nesterov, t_k sequence (slope {data.nesterov_slope:.2f})")
    ax.loglog(t, data.bound[1:], "--", color="C0", label="slide: 2L‖x₀ − x*‖² / (t + 1)")
    ax.loglog(t, data.bound_squared[1:], "--", color="C1", label="2L‖x₀ − x*‖² / (t + 1)²")
    ax.loglog(t, data.gd[0] / (2 * t + 1), ":", color="0.4", label="f₀ / (2t + 1)")
    ax.set(xlabel="step t", ylabel="f(x_t) − f*", title="F4 · O(1/t) and O(1/t²) on QH (d = 1000)")
    ax.legend(fontsize="small")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F5 · GD as the Euler discretization of gradient flow
# ----------------------------------------------------------------------------


class FlowData(NamedTuple):
    """F5's data: GD on Q10 at several rates against the exact gradient flow."""

    learning_rates: np.ndarray   # (k,)
    xs: np.ndarray               # (k, steps + 1, 2) iterates (steps = horizon / smallest rate)
    times: np.ndarray            # (k, steps + 1) t = k eta
    max_error: np.ndarray        # (k,) max ||x_k - x(k eta)|| over k eta <= horizon
    flow_times: np.ndarray       # a fine grid of [0, horizon]
    flow: np.ndarray             # x(t) = exp(-A t) x0 on it
    horizon: float


def gradient_flow(problem: problems.Problem, times: jax.Array) -> jax.Array:
    """The exact gradient flow ``x(t) = exp(-A t) x0`` of a quadratic, at each time."""
    eigenvalues, vectors = np.linalg.eigh(np.asarray(problem.fun.A))
    coefficients = vectors.T @ problem.x0
    return (jnp.exp(-jnp.asarray(times)[..., None] * eigenvalues) * coefficients) @ vectors.T


@figure_data("learning_rates", "horizon")
def f5(learning_rates: Sequence[float] = (0.08, 0.04, 0.02, 0.01, 0.005),
       horizon: float = 2.0) -> FlowData:
    """F5 (deck 001 "Gradient Descent": "gradient flow (Euler's method)"): GD iterates on Q10
    against the flow ``x' = -grad f``; the largest error over [0, 2] is first order in eta."""
    q10 = problems.q10()
    rates = jnp.asarray(learning_rates)
    steps = int(round(horizon / min(learning_rates)))
    run = gd_sweep(q10.fun, q10.x0, rates, steps)
    times = jnp.arange(steps + 1) * rates[:, None]
    errors = jnp.linalg.norm(run.xs - gradient_flow(q10, times), axis=-1)
    inside = times <= horizon * (1 + 1e-12)
    flow_times = jnp.linspace(0, horizon, 401)
    return FlowData(rates, run.xs, times, jnp.max(jnp.where(inside, errors, 0), axis=1),
                    flow_times, gradient_flow(q10, flow_times), horizon)


@slide("F5", "001", "Gradient Descent")
def plot_f5(data: FlowData):
    """The iterates over the exact flow on Q10's contours; the largest error against eta."""
    fig, axes = subplots(2, width=5.5)
    ax = axes[0, 0]
    common.contour(ax, problems.q10().fun, (-8.5, 0.5), (-0.5, 2.2), levels=15)
    for eta, xs, times in zip(data.learning_rates, data.xs, data.times):
        inside = times <= data.horizon * (1 + 1e-12)
        ax.plot(xs[inside, 0], xs[inside, 1], "o", markersize=2.5, label=rate_label(eta))
    ax.plot(data.flow[:, 0], data.flow[:, 1], "k-", linewidth=1.2, label="gradient flow x(t)")
    ax.set(xlabel="x₁", ylabel="x₂", title=f"F5 · GD iterates for t = kη ≤ {data.horizon:g}")
    ax.legend(fontsize="small")
    ax = axes[0, 1]
    ax.loglog(data.learning_rates, data.max_error, "o-", label="max ‖x_k − x(kη)‖")
    first_order = data.max_error[-1] * data.learning_rates / data.learning_rates[-1]
    ax.loglog(data.learning_rates, first_order, "--", color="0.5", label="∝ η (first order)")
    ax.set_xticks(data.learning_rates, [f"{eta:g}" for eta in data.learning_rates])
    ax.tick_params(axis="x", which="minor", bottom=False, labelbottom=False)
    ax.set(xlabel="learning rate η", ylabel="largest error on [0, 2]",
           title="F5 · Euler's method: error ∝ η")
    ax.legend(fontsize="small")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F6 · Taylor view of one step; the small-circle argument
# ----------------------------------------------------------------------------


def bumpy(x: jax.Array) -> jax.Array:
    """F6 and F7's ``f(x, y) = x^2 + 3 y^2 + sin(x y)``."""
    return x[0] ** 2 + 3 * x[1] ** 2 + jnp.sin(x[0] * x[1])


def taylor_problem(seed: int = 0, d: int = 4) -> tuple[jopt.data.Quadratic, np.ndarray]:
    """F6's quadratic ``1/2 x'Ax - b'x`` with ``A = MM' + 0.1 I`` (M, then b, then x drawn
    from NumPy's ``default_rng(seed)``), and the point x."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(d, d))
    b = rng.normal(size=d)
    x = rng.normal(size=d)
    return jopt.data.Quadratic(m @ m.T + 0.1 * np.eye(d), b, np.asarray(0.0)), x


def circle_minimizer_angle(fun: Callable, point: jax.Array, radius: jax.Array,
                           grid: int = 3600, newton_steps: int = 8) -> tuple[jax.Array, jax.Array]:
    """``(angle, theta)``: the minimizer of f on the circle of ``radius`` around ``point`` is
    in direction ``theta`` (a grid over the circle, then Newton steps on the angle), and
    ``angle`` (radians) is its angle with -grad f(point)."""
    on_circle = lambda theta: fun(point + radius * jnp.stack([jnp.cos(theta), jnp.sin(theta)]))
    thetas = jnp.linspace(-jnp.pi, jnp.pi, grid, endpoint=False)
    theta = thetas[jnp.argmin(jax.vmap(on_circle)(thetas))]
    slope, curvature = jax.grad(on_circle), jax.grad(jax.grad(on_circle))
    theta = jax.lax.fori_loop(0, newton_steps, lambda _, th: th - slope(th) / curvature(th), theta)
    descent = -jax.grad(fun)(point)
    direction = jnp.stack([jnp.cos(theta), jnp.sin(theta)])
    return jnp.arccos(jnp.clip(direction @ descent / jnp.linalg.norm(descent), -1, 1)), theta


class TaylorData(NamedTuple):
    """F6's data: the change of f along -g on a quadratic; the small-circle argument."""

    etas: np.ndarray             # a grid of step sizes
    actual: np.ndarray           # f(x - eta g) - f(x)
    taylor: np.ndarray           # -eta g'g + eta^2/2 g'Ag
    eta_star: float              # g'g / g'Ag
    one_over_L: float
    one_over_mu: float
    change_at: dict              # "eta*", "2 eta*", "2.2 eta*" -> f(x - eta g) - f(x)
    point: np.ndarray            # F6's circle: around (1, -0.7) on bumpy
    radii: np.ndarray
    angles_deg: np.ndarray       # angle between the circle's minimizer and -grad f
    minimizer_thetas: np.ndarray # the minimizer's direction on each circle (radians)
    descent: np.ndarray          # -grad f(point) / ||grad f(point)||


@figure_data("seed")
def f6(seed: int = 0, radii: Sequence[float] = (0.5, 0.1, 0.01),
       point: Sequence[float] = (1.0, -0.7)) -> TaylorData:
    """F6 (deck 001 "Challenges: Curvature"; 002 "Why gradient decent can find local minimum?"):
    the second-order formula of one step, its optimal step, and the small-circle argument."""
    quadratic, x = taylor_problem(seed)
    a = jnp.asarray(quadratic.A)
    g = quadratic.grad(jnp.asarray(x))
    gg, gag = g @ g, g @ a @ g
    eta_star = gg / gag
    change = jax.vmap(lambda eta: quadratic(x - eta * g) - quadratic(x))
    etas = jnp.linspace(0, 2.5 * eta_star, 251)
    eigenvalues = np.linalg.eigvalsh(quadratic.A)
    point = jnp.asarray(point)
    angles, thetas = jax.vmap(lambda r: circle_minimizer_angle(bumpy, point, r))(jnp.asarray(radii))
    return TaylorData(etas, change(etas), -etas * gg + etas ** 2 / 2 * gag, eta_star,
                      1 / eigenvalues[-1], 1 / eigenvalues[0],
                      dict(zip(("eta*", "2 eta*", "2.2 eta*"),
                               change(jnp.array([1.0, 2.0, 2.2]) * eta_star))),
                      point, jnp.asarray(radii), jnp.degrees(angles), thetas,
                      -jax.grad(bumpy)(point) / jnp.linalg.norm(jax.grad(bumpy)(point)))


@slide("F6", "001", "Challenges: Curvature")
def plot_f6(data: TaylorData):
    """The change of f against eta (exact and second order); the circles around (1, -0.7)."""
    fig, axes = subplots(2, width=5.5)
    ax = axes[0, 0]
    ax.plot(data.etas, data.actual, label="f(x − ηg) − f(x)")
    ax.plot(data.etas, data.taylor, "--", label="−η‖g‖² + η²/2 gᵀAg (Taylor, exact here)")
    for value, name, style in ((data.eta_star, "η*", "-"), (2 * data.eta_star, "2η*", "--"),
                               (data.one_over_L, "1/L", ":")):
        ax.axvline(value, color="0.5", linestyle=style, linewidth=0.8)
        ax.text(value, 0.97, f" {name}", transform=ax.get_xaxis_transform(), fontsize="small",
                va="top")
    ax.axhline(0, color="0.7", linewidth=0.6)
    ax.set(xlabel="step size η", ylabel="change of f",
           title=f"F6 · one step on a quadratic (1/μ = {data.one_over_mu:.2f} off the axis)")
    ax.legend(fontsize="small", loc="lower left")
    ax = axes[0, 1]
    p = data.point
    common.contour(ax, bumpy, (p[0] - 0.65, p[0] + 0.65), (p[1] - 0.65, p[1] + 0.65),
                   levels=20, log=False)
    descent = data.descent
    circle = np.linspace(0, 2 * np.pi, 200)
    for radius, theta, angle in zip(data.radii, data.minimizer_thetas, data.angles_deg):
        line, = ax.plot(p[0] + radius * np.cos(circle), p[1] + radius * np.sin(circle),
                        linewidth=1, label=f"d = {radius:g}: angle {angle:.3g}°")
        ax.plot(p[0] + radius * np.cos(theta), p[1] + radius * np.sin(theta), "o",
                color=line.get_color())
    ax.annotate("", p + 0.6 * descent, p, arrowprops=dict(arrowstyle="->", color="k"))
    ax.text(*(p + 0.6 * descent), " −∇f", fontsize="small")
    ax.set(xlabel="x", ylabel="y", aspect="equal",
           title="F6 · minimizer on the circle → −∇f as d → 0")
    ax.legend(fontsize="small", loc="lower left")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F7 · The gradient is orthogonal to level sets
# ----------------------------------------------------------------------------


class GradientFieldData(NamedTuple):
    """F7's data: -grad f on a grid; the directional derivative along level-set tangents."""

    grid_x: np.ndarray
    grid_y: np.ndarray
    descent: np.ndarray          # (n, n, 2): -grad f at the grid points
    points: np.ndarray           # (m, 2) random points
    tangent_derivatives: np.ndarray  # (m,) JVP of f along (-f_y, f_x)/||grad f||
    limits: float


def tangent_derivative(fun: Callable, point: jax.Array) -> jax.Array:
    """The directional derivative (a JVP) of ``fun`` at ``point`` along the unit tangent
    ``(-df/dy, df/dx) / ||grad f||`` of its level set."""
    grad = jax.grad(fun)(point)
    tangent = jnp.stack([-grad[1], grad[0]]) / jnp.linalg.norm(grad)
    return jax.jvp(fun, (point,), (tangent,))[1]


@figure_data("num_points", "seed", "limits", "arrows")
def f7(num_points: int = 100, seed: int = 0, limits: float = 2.0,
       arrows: int = 15) -> GradientFieldData:
    """F7 (deck 004 "Gradient descent: Orthogonality"): the gradient field of
    ``x^2 + 3y^2 + sin(xy)`` and the zero derivative along level sets at ``num_points``
    points drawn uniformly on the square by NumPy's ``default_rng(seed)``."""
    axis = jnp.linspace(-limits, limits, arrows)
    grid_x, grid_y = jnp.meshgrid(axis, axis)
    grid = jnp.stack([grid_x, grid_y], axis=-1)
    descent = -jax.vmap(jax.vmap(jax.grad(bumpy)))(grid)
    points = jnp.asarray(np.random.default_rng(seed).uniform(-limits, limits, (num_points, 2)))
    return GradientFieldData(grid_x, grid_y, descent, points,
                             jax.vmap(lambda p: tangent_derivative(bumpy, p))(points), limits)


@slide("F7", "004", "Gradient descent: Orthogonality")
def plot_f7(data: GradientFieldData):
    """Contours of f with a quiver of -grad f."""
    fig, ax = subplots(width=6.0, height=5.5)
    lim = (-data.limits, data.limits)
    common.contour(ax, bumpy, lim, lim, levels=20, log=False)
    unit = data.descent / np.linalg.norm(data.descent, axis=-1, keepdims=True)
    ax.quiver(data.grid_x, data.grid_y, unit[..., 0], unit[..., 1], color="C0", angles="xy",
              width=0.003)
    ax.set(xlabel="x", ylabel="y", aspect="equal",
           title="F7 · −∇f (unit arrows) is orthogonal to the level curves\n"
                 f"largest |JVP along the tangent| at {len(data.points)} points: "
                 f"{np.max(np.abs(data.tangent_derivatives)):.1e}")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F8 · Differentiability caveats
# ----------------------------------------------------------------------------


def partials_not_enough(x: jax.Array) -> jax.Array:
    """F8's ``f(x, y) = x^2 y / (x^2 + y^2)``, ``f(0) = 0``: both partials exist at 0 but f
    is not differentiable there.  (The double ``where`` keeps autodiff finite at 0.)"""
    r2 = x[0] ** 2 + x[1] ** 2
    at_origin = r2 == 0
    return jnp.where(at_origin, 0.0, x[0] ** 2 * x[1] / jnp.where(at_origin, 1.0, r2))


def kink_values() -> dict:
    """What JAX and jopt return at kinks: ``description -> value`` (F8).

    JAX picks one subgradient per primitive.  jopt's clipping transforms pass a zero
    gradient through unchanged, and ``clip_by_global_norm``'s Jacobian there is the
    identity (optax's is NaN, from the square root of the norm).  ``add_l1_penalty``
    adds ``weight * sign(x)``: 0 at a parameter exactly 0, where ``jax.grad(jnp.abs)``
    says 1.
    """
    zeros = jnp.zeros(3)
    clip, clip_norm = jopt.clip(1.0), jopt.clip_by_global_norm(1.0)
    clipped = lambda t, g: t.update(g, t.init(g))[0]
    clipped_at = lambda t, g, x: t.update(g, t.init(x), x)[0]
    return {
        "jax.grad(jnp.abs)(0.)": jax.grad(jnp.abs)(0.0),
        "jax.grad(jax.nn.relu)(0.)": jax.grad(jax.nn.relu)(0.0),
        "jax.grad(lambda z: jnp.maximum(z, 0.))(0.)": jax.grad(lambda z: jnp.maximum(z, 0.0))(0.0),
        "jnp.sign(0.)": jnp.sign(0.0),
        "jopt.clip(1.0) of g = 0": clipped(clip, zeros)[0],
        "d/dg of jopt.clip(1.0) at g = 1 (the bound)":
            jax.grad(lambda g: clipped(clip, g))(1.0),
        "jopt.clip_by_global_norm(1.0) of g = 0": clipped(clip_norm, zeros)[0],
        "d/dg of jopt.clip_by_global_norm(1.0) at g = 0":
            jax.jacobian(lambda g: clipped(clip_norm, g))(zeros)[0, 0],
        "jax.grad(jopt.tree_l2_norm)(0)": jax.grad(jopt.tree_l2_norm)(zeros)[0],
        "jopt.add_l1_penalty(1.0) at x = 0, g = 0":
            clipped_at(jopt.add_l1_penalty(1.0), zeros, zeros)[0],
        "jopt.add_l1_penalty(1.0) at x = -2, g = 0":
            clipped_at(jopt.add_l1_penalty(1.0), zeros, -2.0 + zeros)[0],
    }


class DifferentiabilityData(NamedTuple):
    """F8's data: directional derivatives of x^2 y / (x^2 + y^2) at 0; kinks."""

    angles: np.ndarray           # phi
    directional: np.ndarray      # (f(h u) - f(0)) / h for u = (cos phi, sin phi), h = 1e-6
    limit: np.ndarray            # the exact limit cos^2 phi sin phi
    partials: np.ndarray         # (f(h e_i) - f(0)) / h
    jax_grad: np.ndarray         # jax.grad at the origin
    jax_jvp: float               # jax.jvp at the origin along u = (1, 1)/sqrt 2
    finite_difference: float     # along u = (1, 1)/sqrt 2, h = 1e-6
    kinks: dict                  # kink_values()
    h: float
    z: np.ndarray                # a grid around 0 with 0 on it
    kink_grads: dict             # "abs", "relu" -> jax.grad of it on z


@figure_data("num_angles")
def f8(h: float = 1e-6, num_angles: int = 361) -> DifferentiabilityData:
    """F8 (deck 004 "Gradient descent: Differentiability"; 003 "differentiable*"): partial
    derivatives without differentiability, and what JAX and jopt return at kinks."""
    origin = jnp.zeros(2)
    f0 = partials_not_enough(origin)
    difference = jax.vmap(lambda u: (partials_not_enough(h * u) - f0) / h)
    angles = jnp.linspace(0, 2 * jnp.pi, num_angles)
    units = jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    diagonal = jnp.array([1.0, 1.0]) / jnp.sqrt(2.0)
    z = jnp.linspace(-1, 1, 201)
    return DifferentiabilityData(
        angles, difference(units), jnp.cos(angles) ** 2 * jnp.sin(angles),
        difference(jnp.eye(2)), jax.grad(partials_not_enough)(origin),
        jax.jvp(partials_not_enough, (origin,), (diagonal,))[1],
        difference(diagonal[None])[0], kink_values(), h, z,
        {"abs": jax.vmap(jax.grad(jnp.abs))(z), "relu": jax.vmap(jax.grad(jax.nn.relu))(z)})


@slide("F8", "004", "Gradient descent: Differentiability")
def plot_f8(data: DifferentiabilityData):
    """The function near 0; its directional derivatives at 0 against grad f(0).u; kinks."""
    fig, axes = subplots(3, width=4.6)
    ax = axes[0, 0]
    common.contour(ax, partials_not_enough, (-1, 1), (-1, 1), levels=21, log=False)
    ax.set(xlabel="x", ylabel="y", aspect="equal", title="F8 · f = x²y / (x² + y²)")
    ax = axes[0, 1]
    ax.plot(np.degrees(data.angles), data.directional, label="(f(hu) − f(0)) / h, h = 1e-6")
    along = data.jax_grad[0] * np.cos(data.angles) + data.jax_grad[1] * np.sin(data.angles)
    ax.plot(np.degrees(data.angles), along, "--", label="∇f(0)·u = 0 (both partials are 0)")
    ax.plot(45, data.finite_difference, "o", color="C3",
            label=f"u = (1, 1)/√2: {data.finite_difference:.7f}")
    ax.set(xlabel="direction of u (degrees)", ylabel="directional derivative at 0",
           title="F8 · not linear in u: not differentiable")
    ax.legend(fontsize="small")
    ax = axes[0, 2]
    at_zero = np.argmin(np.abs(data.z))
    for (name, grads), style in zip(data.kink_grads.items(),
                                    (dict(linewidth=4, alpha=0.5), dict(linestyle="--"))):
        line, = ax.plot(data.z, grads, label=f"jax.grad({name})", **style)
        ax.plot(0, grads[at_zero], "o", color=line.get_color())
    ax.plot(0, data.kinks["jax.grad(lambda z: jnp.maximum(z, 0.))(0.)"], "s", color="C2",
            label="jnp.maximum(z, 0) at 0: 0.5")
    ax.set(xlabel="z", ylabel="derivative JAX returns",
           title="F8 · JAX's choice at a kink (dots: z = 0)")
    ax.legend(fontsize="small")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F9 · Stationary points, saddles and initialization
# ----------------------------------------------------------------------------

F9_QUART_STARTS = (-2.5, -2.0, -0.5, 0.0, 0.1, 0.12, 0.13, 0.2, 1.0, 2.0, 2.5)
F9_SADDLE_STARTS = ((1.0, 0.0), (1.0, 1e-8))


def saddle(x: jax.Array) -> jax.Array:
    """``f(x, y) = x^2 - y^2``: a saddle at the origin."""
    return x[0] ** 2 - x[1] ** 2


class StationaryData(NamedTuple):
    """F9's data: GD on QUART from several starts; GD on a saddle."""

    quart_starts: np.ndarray     # (k,)
    quart_xs: np.ndarray         # (k, steps + 1)
    quart_values: np.ndarray     # (k, steps + 1) f(x_t)
    curve: np.ndarray            # (2, m): x and QUART(x) for the plot
    saddle_starts: np.ndarray    # (2, 2)
    saddle_xs: np.ndarray        # (2, saddle_steps + 1, 2)
    escape_step: np.ndarray      # (2,) first t with |y_t| > 1, -1 if never

    @property
    def quart_ends(self) -> np.ndarray:
        return self.quart_xs[:, -1]


@figure_data("quart_steps", "saddle_steps")
def f9(quart_starts: Sequence[float] = F9_QUART_STARTS, quart_steps: int = 5000,
       saddle_steps: int = 200) -> StationaryData:
    """F9 (deck 004 "Gradient descent: Stationary points"; 003 "Parameter Initialization";
    002 "Limitation of gradient decent"): which stationary point GD reaches depends on x0."""
    quart = gd_from(problems.quart, jnp.asarray(quart_starts), 0.01, quart_steps)
    starts = jnp.asarray(F9_SADDLE_STARTS)
    paths = gd_from(saddle, starts, 0.1, saddle_steps).xs
    z = jnp.linspace(-2.6, 2.6, 400)
    return StationaryData(jnp.asarray(quart_starts), quart.xs, quart.values,
                          jnp.stack([z, jax.vmap(problems.quart)(z)]), starts, paths,
                          steps_to(jnp.abs(paths[..., 1]) > 1))


@slide("F9", "004", "Gradient descent: Stationary points")
def plot_f9(data: StationaryData):
    """QUART with the GD paths; x_t against t; the saddle x^2 - y^2 with two paths."""
    fig, axes = subplots(3, width=4.8)
    ax = axes[0, 0]
    ax.plot(*data.curve, color="0.6")
    for xs, values in zip(data.quart_xs, data.quart_values):
        start, end, f_start, f_end = xs[0], xs[-1], values[0], values[-1]
        color = "C0" if end < 0 else "C3"
        ax.annotate("", (end, f_end), (start, f_start),
                    arrowprops=dict(arrowstyle="->", color=color, alpha=0.6))
        ax.plot(start, f_start, "o", color=color, markersize=4)
    ax.axvline(problems.QUART_LOCAL_MAX, color="0.5", linestyle=":", label="local max 0.126")
    ax.set(xlabel="x", ylabel="f(x) = x⁴ − 4x² + x", ylim=(-6, 18),
           title="F9 · start → end (blue: global, red: local)")
    ax.legend(fontsize="small")
    ax = axes[0, 1]
    steps = np.arange(data.quart_xs.shape[1])
    for start, xs in zip(data.quart_starts, data.quart_xs):
        ax.semilogx(steps[1:], xs[1:], color="C0" if xs[-1] < 0 else "C3", linewidth=1)
    ax.set(xlabel="step t", ylabel="x_t", title="F9 · QUART, η = 0.01: two basins")
    ax = axes[0, 2]
    common.contour(ax, saddle, (-0.2, 1.2), (-1.2, 1.2), levels=15, log=False)
    shown = data.escape_step.max() + 3  # the path from (1, 0) lies under the other until it escapes
    for start, xs, style in zip(data.saddle_starts, data.saddle_xs,
                                (dict(linewidth=4, alpha=0.5), dict(marker="o", markersize=2))):
        line, = ax.plot(xs[:shown, 0], xs[:shown, 1], label=f"$x_0$ = ({start[0]:g}, {start[1]:g})",
                        **style)
        ax.plot(*xs[0], "s", color=line.get_color(), markersize=5)
    ax.legend(fontsize="small")
    ax.set(xlabel="x", ylabel="y", title="F9 · saddle x² − y², η = 0.1")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F10 · GD may not reach a critical point of any kind
# ----------------------------------------------------------------------------


class CycleData(NamedTuple):
    """F10's ROSEN part: GD at several rates, 2e5 steps, float64."""

    learning_rates: np.ndarray   # (k,)
    logged_steps: np.ndarray     # (m,) log-spaced steps
    grad_norm: np.ndarray        # (k, m) ||grad f|| at them
    below_gtol: np.ndarray       # (k,) first t with ||grad f|| < gtol, -1 if never
    last: np.ndarray             # (k, 3, 2) x_{T-2}, x_{T-1}, x_T
    last_values: np.ndarray      # (k, 2) f(x_{T-1}), f(x_T)
    last_grad_norm: np.ndarray   # (k,) ||grad f(x_T)||
    top_curvature: np.ndarray    # (k,) largest Hessian eigenvalue at (x_{T-1} + x_T) / 2
    gtol: float

    @property
    def period2_gap(self) -> np.ndarray:
        """``max |x_T - x_{T-2}|``: 0 for a period-2 cycle (or a fixed point)."""
        return np.max(np.abs(self.last[:, 2] - self.last[:, 0]), axis=-1)

    @property
    def step_gap(self) -> np.ndarray:
        """``max |x_T - x_{T-1}|``: not 0 for a cycle."""
        return np.max(np.abs(self.last[:, 2] - self.last[:, 1]), axis=-1)


class DigitsGradNormData(NamedTuple):
    """F10's DIGITS-MLP part: the full-batch gradient norm once per epoch of SGD."""

    learning_rates: np.ndarray   # (k,)
    seeds: np.ndarray            # (k,)
    steps: np.ndarray            # (epochs + 1,) steps done at each evaluation
    grad_norm: np.ndarray        # (k, epochs + 1)


class F10Data(NamedTuple):
    rosenbrock: CycleData
    digits: DigitsGradNormData


@figure_data("steps")
def rosenbrock_cycles(learning_rates: Sequence[float] = (0.001, 0.002, 0.003, 0.004, 0.005),
                      steps: int = pick(200_000, 21_000), gtol: float = 1e-4) -> CycleData:
    """F10's ROSEN runs: GD at each rate from (-1.2, 1), all rates in one vmapped scan."""
    run = gd_sweep(problems.rosen, problems.ROSEN_X0, learning_rates, steps)
    norms = grad_norms(problems.rosen, run.xs)
    last = run.xs[:, -3:]
    midpoint = (last[:, 1] + last[:, 2]) / 2
    top = jax.vmap(lambda x: jnp.linalg.eigvalsh(jax.hessian(problems.rosen)(x))[-1])(midpoint)
    logged = common.log_spaced(steps)
    return CycleData(jnp.asarray(learning_rates), logged, norms[:, logged],
                     steps_to(norms < gtol), last, run.values[:, -2:], norms[:, -1], top, gtol)


def digits_gradient_norms(learning_rates: Sequence[float] = (0.01, 0.1),
                          seeds: Sequence[int] = pick((0, 1, 2), (0,)),
                          epochs: int = pick(54, 6), batch_size: int = 32) -> DigitsGradNormData:
    """F10's DIGITS-MLP runs: SGD (epoch permutations, batch 32) for each rate and seed, the
    full-batch gradient norm after every epoch; one ``vmap`` over (rate, seed).

    The initial parameters are drawn before the compiled program, one ``model.init`` per
    seed: that takes milliseconds, while compiling vmapped threefry draws takes seconds
    on a CPU.
    """
    data = problems.digits()
    model = problems.digits_mlp()
    loss = problems.digits_loss(model)
    x, y = jnp.asarray(data.x, jnp.float32), jnp.asarray(data.y, jnp.float32)
    n = len(data.x)
    full_grad_norm = lambda params: jopt.tree_l2_norm(jax.grad(loss)(params, x, y))
    rates, seed_grid = (a.ravel() for a in np.meshgrid(learning_rates, seeds, indexing="ij"))
    init_keys, batch_keys = zip(*(jax.random.split(jax.random.PRNGKey(int(s))) for s in seed_grid))
    params0 = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves),
                                     *(model.init(key) for key in init_keys))

    def run(learning_rate, params, batch_key):
        opt = jopt.sgd(learning_rate)

        def step(carry, batch):
            params, state = carry
            updates, state = opt.update(jax.grad(loss)(params, x[batch], y[batch]), state, params)
            return (jopt.apply_updates(params, updates), state), None

        def epoch(carry, e):
            carry, _ = jax.lax.scan(step, carry,
                                    jopt.data.epoch_batches(batch_key, e, n, batch_size))
            return carry, full_grad_norm(carry[0])

        _, norms = jax.lax.scan(epoch, (params, opt.init(params)), jnp.arange(epochs))
        return jnp.concatenate([full_grad_norm(params)[None], norms])

    norms = jax.jit(jax.vmap(run))(jnp.asarray(rates, jnp.float32), params0, jnp.stack(batch_keys))
    steps = np.arange(epochs + 1) * jopt.data.steps_per_epoch(n, batch_size)
    return common.as_numpy(DigitsGradNormData(rates, seed_grid, steps, norms))


def f10(rosen_steps: int = pick(200_000, 21_000), digits_epochs: int = pick(54, 6),
        digits_seeds: Sequence[int] = pick((0, 1, 2), (0,))) -> F10Data:
    """F10 (deck 001 "Challenges: Curvature": "Gradient descent may not arrive at a critical
    point of any kind"): period-2 cycles of GD on ROSEN; SGD's gradient norm on DIGITS-MLP."""
    return F10Data(rosenbrock_cycles(steps=rosen_steps),
                   digits_gradient_norms(seeds=digits_seeds, epochs=digits_epochs))


@slide("F10", "001", "Challenges: Curvature")
def plot_f10(data: F10Data):
    """||grad f|| along GD on ROSEN (log-log) and along SGD on DIGITS-MLP."""
    fig, axes = subplots(2, width=5.8)
    ros = data.rosenbrock
    ax = axes[0, 0]
    for eta, norms in zip(ros.learning_rates, ros.grad_norm):
        ax.loglog(ros.logged_steps[1:], norms[1:], label=rate_label(eta))
    ax.axhline(ros.gtol, color="0.5", linestyle=":", label=f"‖∇f‖ = {ros.gtol:g}")
    ax.set(xlabel="step t", ylabel="‖∇f(x_t)‖",
           title="F10 · GD on Rosenbrock: cycles with ‖∇f‖ ≈ 20")
    ax.legend(fontsize="small")
    dig = data.digits
    ax = axes[0, 1]
    for eta, seed, norms in zip(dig.learning_rates, dig.seeds, dig.grad_norm):
        ax.semilogy(dig.steps, norms, color="C0" if np.isclose(eta, dig.learning_rates[0]) else "C1",
                    label=f"lr {eta:g}, seed {seed}")
    ax.set(xlabel="SGD step (batch 32)", ylabel="full-batch ‖∇L‖",
           title="F10 · DIGITS-MLP: the gradient norm falls\n(the DL-book picture did not reproduce)")
    ax.legend(fontsize="small")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F11 · Gradient clipping at a cliff
# ----------------------------------------------------------------------------


def cliff(x: jax.Array) -> jax.Array:
    """F11's ``f(x) = 1/2 (x - 1.2)^2 + 50 sigmoid(20 (x - 1))``: a wall of height 50 at x = 1."""
    return jnp.sum(0.5 * (x - 1.2) ** 2 + 50 * jax.nn.sigmoid(20 * (x - 1)))


def newton_minimum(fun: Callable, x: Any, iterations: int = 30) -> jax.Array:
    """A stationary point of a scalar function by Newton's method from ``x``."""
    slope, curvature = jax.grad(fun), jax.grad(jax.grad(fun))
    return jax.lax.fori_loop(0, iterations, lambda _, z: z - slope(z) / curvature(z),
                             jnp.asarray(x, jnp.result_type(float)))


class ClippingData(NamedTuple):
    """F11's data: GD with and without clipping from the cliff face."""

    x_star: float
    f_star: float
    max_slope: float             # the largest f' on [0, 2]
    plain: np.ndarray            # (steps + 1,) iterates of GD
    clipped: np.ndarray          # (steps + 1,) iterates of clip then GD
    plain_values: np.ndarray     # f at them
    clipped_values: np.ndarray
    curve: np.ndarray            # (2, m): x and f(x) for the plot
    plain_steps: int             # first t with |x_t - x*| < tol
    clipped_steps: int
    tol: float


@figure_data("steps")
def f11(x0: float = 1.0, learning_rate: float = 0.1, max_delta: float = 1.0,
        steps: int = 60, tol: float = 1e-3) -> ClippingData:
    """F11 (deck 001 "Challenge : curvature": "Motivates gradient clipping"): GD and
    ``jopt.chain(jopt.clip(1.0), jopt.sgd(0.1))`` from the cliff face x0 = 1."""
    x_star = newton_minimum(cliff, 0.6)
    grid = jnp.linspace(0.0, 2.0, 200_001)
    start = jnp.asarray(x0, jnp.result_type(float))
    plain = common.trajectory(cliff, start, jopt.sgd(learning_rate), steps)
    clipped = common.trajectory(cliff, start, jopt.chain(jopt.clip(max_delta),
                                                         jopt.sgd(learning_rate)), steps)
    within = lambda run: common.first_index(jnp.abs(run.xs - x_star) < tol)
    z = jnp.linspace(-25.0, 3.0, 2000)
    return ClippingData(x_star, cliff(x_star), jnp.max(jax.vmap(jax.grad(cliff))(grid)),
                        plain.xs, clipped.xs, plain.values, clipped.values,
                        jnp.stack([z, jax.vmap(cliff)(z)]), within(plain), within(clipped), tol)


@slide("F11", "001", "Challenge : curvature")
def plot_f11(data: ClippingData):
    """The cliff with the first iterates of both runs; the distance to x* against t."""
    fig, axes = subplots(2, width=5.5)
    ax = axes[0, 0]
    ax.plot(*data.curve, color="0.6")
    for xs, values, name, color in ((data.plain, data.plain_values, "GD", "C3"),
                                    (data.clipped, data.clipped_values, "clip(1) then GD", "C0")):
        ax.plot(xs[:6], values[:6], "o-", color=color, markersize=4, linewidth=0.8,
                label=f"{name}: x₁ = {xs[1]:.2f}")
    ax.set(xlabel="x", ylabel="f(x)", yscale="log",
           title="F11 · the first steps from the cliff face x₀ = 1")
    ax.legend(fontsize="small")
    ax = axes[0, 1]
    floor = 1e-16   # |x_t - x*| reaches exactly 0 in float64
    ax.semilogy(np.maximum(np.abs(data.plain - data.x_star), floor), "o-", markersize=3,
                color="C3", label=f"GD: {data.plain_steps} steps")
    ax.semilogy(np.maximum(np.abs(data.clipped - data.x_star), floor), "o-", markersize=3,
                color="C0", label=f"clipped: {data.clipped_steps} steps")
    ax.axhline(data.tol, color="0.5", linestyle=":", label=f"|x − x*| = {data.tol:g}")
    ax.set(xlabel="step t", ylabel="|x_t − x*|", title="F11 · distance to the minimum")
    ax.legend(fontsize="small")
    return thin_log_ticks(fig)


# ----------------------------------------------------------------------------
# F12 · Feature scaling
# ----------------------------------------------------------------------------


class ScalingProblem(NamedTuple):
    """F12's regression ``y = b + w1 x1 + w2 x2``: the design matrices [1, x1, x2] (raw and
    standardized) and the targets."""

    raw: np.ndarray
    standardized: np.ndarray
    y: np.ndarray


def feature_scaling_problem(seed: int = 0, n: int = 100) -> ScalingProblem:
    """F12's data, drawn from NumPy's ``default_rng(seed)`` in the catalogue's order:
    ``x1 ~ N(0, 1)``, ``x2 ~ N(0, 100^2)``, ``y = 1 + 2 x1 + 0.03 x2 + 0.1 N(0, 1)``."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0, 1, n)
    x2 = rng.normal(0, 100, n)
    y = 1 + 2 * x1 + 0.03 * x2 + 0.1 * rng.normal(size=n)
    raw = np.c_[x1, x2]
    standardized, _ = jopt.data.standardize(raw)
    ones = np.ones((n, 1))
    return ScalingProblem(np.hstack([ones, raw]), np.hstack([ones, standardized]), y)


def least_squares_loss(w: jax.Array, design: jax.Array, y: jax.Array) -> jax.Array:
    """``1/2 mean (y - design w)^2``."""
    return 0.5 * jnp.mean((y - design @ w) ** 2)


class ScalingData(NamedTuple):
    """F12's data: GD on raw and standardized features (rows), three rates each."""

    problem: ScalingProblem
    eigenvalues: np.ndarray      # (2, 3) of the Hessian X'X/n
    learning_rates: np.ndarray   # (2, 3): 1/L, 2/(mu+L), fixed
    steps_to_tol: np.ndarray     # (2, 3) first t with excess loss < tol, -1 if never
    logged_steps: np.ndarray     # (m,)
    excess: np.ndarray           # (2, 3, m) loss - L* at the logged steps
    paths: np.ndarray            # (2, m, 3) the eta = 1/L iterates at the logged steps
    minimizers: np.ndarray       # (2, 3)
    tol: float

    @property
    def kappa(self) -> np.ndarray:
        return self.eigenvalues[:, -1] / self.eigenvalues[:, 0]


RATE_NAMES = ("η = 1/L", "η = 2/(μ+L)", "η = 0.01")


@figure_data("steps", "seed")
def f12(steps: int = pick(72_000, 8_000), tol: float = 1e-6, fixed_rate: float = 0.01,
        seed: int = 0) -> ScalingData:
    """F12 (deck 002 "Feature scaling", "Practice – Why feature scaling is important?"):
    GD on raw and standardized features, one vmapped scan over (features, rate)."""
    problem = feature_scaling_problem(seed)
    designs = np.stack([problem.raw, problem.standardized])
    y = jnp.asarray(problem.y)
    hessians = np.einsum("kni,knj->kij", designs, designs) / len(y)
    eigenvalues = np.linalg.eigvalsh(hessians)
    mu, top = eigenvalues[:, 0], eigenvalues[:, -1]
    rates = np.stack([1 / top, 2 / (mu + top), np.full(2, fixed_rate)], axis=1)
    minimizers = np.stack([np.linalg.lstsq(design, problem.y, rcond=None)[0]
                           for design in (problem.raw, problem.standardized)])
    loss_star = jax.vmap(least_squares_loss, (0, 0, None))(jnp.asarray(minimizers), designs, y)

    def run(design, learning_rate):
        loss = lambda w: least_squares_loss(w, design, y)
        return common.trajectory(loss, jnp.zeros(3), jopt.sgd(learning_rate), steps)

    runs = jax.vmap(jax.vmap(run, (None, 0)), (0, 0))(jnp.asarray(designs), jnp.asarray(rates))
    excess = runs.values - loss_star[:, None, None]
    logged = common.log_spaced(steps)
    return ScalingData(problem, eigenvalues, rates, jax.vmap(steps_to)(excess < tol), logged,
                       excess[..., logged], runs.xs[:, 0, logged], minimizers, tol)


@slide("F12", "002", "Feature scaling")
def plot_f12(data: ScalingData):
    """Loss contours in (w1, w2) at the best b, raw and standardized, with the eta = 1/L
    path; the excess loss against t."""
    fig, axes = subplots(3, width=4.8)
    designs = (data.problem.raw, data.problem.standardized)
    y = jnp.asarray(data.problem.y)
    for ax, design, w_star, path, kappa, name in zip(axes[0, :2], designs, data.minimizers,
                                                     data.paths, data.kappa,
                                                     ("raw", "standardized")):
        loss = lambda w12, design=design, b=w_star[0]: least_squares_loss(
            jnp.concatenate([jnp.asarray(b)[None], w12]), jnp.asarray(design), y)
        center, half = w_star[1:] / 2, 0.75 * np.abs(w_star[1:]).max()  # a square around 0 and w*
        lows, highs = center - half, center + half
        with jax.enable_x64(True):
            common.contour(ax, loss, (lows[0], highs[0]), (lows[1], highs[1]), levels=20)
        ax.set_aspect("equal")  # equal scales: the raw bowl is a thin trough, the standardized one round
        ax.plot(path[:, 1], path[:, 2], "o-", markersize=2, linewidth=0.8, color="C0",
                label="GD, η = 1/L")
        ax.plot(*w_star[1:], "*", color="k", markersize=10, label="minimum")
        ax.set(xlabel="$w_1$", ylabel="$w_2$",
               title=f"F12 · {name} features, κ = {kappa:,.0f}" if kappa > 100 else
               f"F12 · {name} features, κ = {kappa:.2f}")
        ax.legend(fontsize="small")
    ax = axes[0, 2]
    t = data.logged_steps
    for row, (name, style) in enumerate((("raw", "-"), ("std", "--"))):
        for col, rate_name in enumerate(RATE_NAMES):
            excess = np.where(np.isfinite(data.excess[row, col]), data.excess[row, col], np.nan)
            ax.loglog(t[1:], np.clip(excess[1:], 1e-17, 1e9), style, color=f"C{col}",
                      label=f"{name}, {rate_name}")
    ax.axhline(data.tol, color="0.5", linestyle=":")
    ax.set(xlabel="step t", ylabel="loss − L*", ylim=(1e-17, 1e6),
           title="F12 · excess loss")
    ax.legend(fontsize="x-small")
    return thin_log_ticks(fig)


FIGURES = {
    "F1": (f1, plot_f1),
    "F2": (f2, plot_f2),
    "F3": (f3, plot_f3),
    "F4": (f4, plot_f4),
    "F5": (f5, plot_f5),
    "F6": (f6, plot_f6),
    "F7": (f7, plot_f7),
    "F8": (f8, plot_f8),
    "F9": (f9, plot_f9),
    "F10": (f10, plot_f10),
    "F11": (f11, plot_f11),
    "F12": (f12, plot_f12),
}
