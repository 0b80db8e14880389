"""Learning-rate schedules (FIGURES.md section 5, F27-F29): which decays reach the minimum.

Deck 004 "Decay and momentum" lists three ways to "decrease alpha according to a decay
parameter rho" (linear, inverse time, exponential) and a linear decay ``k(1 - i/n)``;
deck 001 "Stochastic Gradient Descent: Rates" gives the Robbins-Monro conditions
(``sum eta_t = inf``, ``sum eta_t^2 < inf``, typically ``eta(t) = C t^-alpha``), and
"Practicalities" warns that "fast decay schedules may lead to super-slow convergence"
and advises to "level out at a minimal step size"; deck 000 "Mini-batch gradient
descent" asks "Any constraint on eta_t?" and states the same two conditions.

F27 draws the slides' schedules with ``jopt.schedules`` (and the slide's recursive
inverse-time formula, which is not what it seems).  F28 runs GD on ``1/2 x^2`` with
a schedule, where ``x_T = prod (1 - eta_t)`` shows which schedules stall.  F29 runs
SGD with batch 1 on LINREG under five schedules and three seeds, all fifteen runs in
one ``vmap``: a constant step stalls on a noise plateau, ``1/t`` goes to the minimum,
an exponential decay stalls far away, and a floor ("level out") sets a lower plateau.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jopt

from . import common, problems
from .common import pick, slide


def switch_schedule(schedules: Sequence[Callable], which: jax.Array) -> Callable:
    """The schedule ``schedules[which]``, with ``which`` a traced index.

    ``jax.vmap`` over ``which`` runs several schedule families in one program (under
    ``vmap`` ``lax.switch`` evaluates every branch and selects: cheap for schedules).
    """
    return lambda count: jax.lax.switch(which, list(schedules), count)


# ----------------------------------------------------------------------------
# F27: the schedules of the slides
# ----------------------------------------------------------------------------

ALPHA0 = 0.1


def slide_schedules(alpha0: float = ALPHA0) -> dict[str, tuple[str, Callable]]:
    """F27's schedules, ``key -> (label, jopt schedule)``, each starting at ``alpha0``."""
    return {
        "linear": (r"linear to 0.001 at $\rho$ = 100 (004)",
                   jopt.linear_schedule(alpha0, 0.001, 100)),
        "polynomial": (r"$k(1 - i/n)$, $n$ = 100 (004)",
                       jopt.polynomial_schedule(alpha0, 0.0, 1, 100)),
        "inverse_time": (r"$\alpha_0/(1 + \rho t)$, $\rho$ = 0.01",
                         jopt.inverse_time_decay(alpha0, 0.01)),
        "exponential": (r"$\alpha_0 e^{-\rho t}$, $\rho$ = 0.01 (004)",
                        jopt.exponential_decay(alpha0, 1, np.exp(-0.01))),
        "step": ("halve every 30 steps", jopt.exponential_decay(alpha0, 30, 0.5, staircase=True)),
        "inverse_time_0.1": (r"$\alpha_0/(1 + \rho t)$, $\rho$ = 0.1",
                             jopt.inverse_time_decay(alpha0, 0.1)),
        "recursive_0.1": (r"$\alpha_{t+1} = \alpha_t/(1 + \rho t)$, $\rho$ = 0.1 (004 as written)",
                          jopt.inverse_time_decay(alpha0, 0.1, recursive=True)),
        "power": (r"$\alpha_0 (1 + t)^{-0.75}$ (001)", jopt.power_decay(alpha0, 0.75, 1.0)),
        "level_out": (r"$\max(0.01, \alpha_0/(1 + t))$ (001)",
                      jopt.floor(jopt.power_decay(alpha0, 1.0, 1.0), 0.01)),
    }


F27_LINEAR_PANEL = ("linear", "polynomial", "inverse_time", "exponential", "step")


@common.float64
def f27(steps: int = 200, alpha0: float = ALPHA0) -> dict:
    """F27: ``alpha_t`` for ``t = 0 .. steps`` of each schedule of deck 004 "Decay and
    momentum" and deck 001 "Rates" / "Practicalities"; ``{"t": ..., key: values}``."""
    schedules = {key: schedule for key, (_, schedule) in slide_schedules(alpha0).items()}
    t = jnp.arange(steps + 1)
    return {"t": t, **jax.jit(lambda t: {key: s(t) for key, s in schedules.items()})(t)}


@slide("F27", "004", "Decay and momentum")
def plot_f27(data: dict):
    """Deck 004's decays on a linear axis; the recursive form, power and floor on a log axis."""
    fig, axes = common.subplots(2, width=5.5)
    linear_ax, log_ax = axes[0]
    labels = {key: label for key, (label, _) in slide_schedules().items()}
    for key in F27_LINEAR_PANEL:
        linear_ax.plot(data["t"], data[key], label=labels[key])
    linear_ax.set(xlabel="step t", ylabel=r"$\alpha_t$",
                  title=r"F27 · deck 004's decays ($\alpha_0$ = 0.1)")
    linear_ax.legend(fontsize="small")
    for key in ("inverse_time_0.1", "recursive_0.1", "power", "level_out"):
        log_ax.semilogy(data["t"], data[key], label=labels[key])
    log_ax.set(xlabel="step t", ylabel=r"$\alpha_t$", ylim=(1e-6, 0.2),
               title="F27 · the recursive form is super-exponential")
    log_ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F28: fast decay stalls, 1/t does not (GD on 1/2 x^2)
# ----------------------------------------------------------------------------


def f28_schedules() -> dict[str, Callable]:
    """F28's schedules by label: two with ``sum eta = inf``, two with ``sum eta < inf``."""
    return {
        "constant 0.1": jopt.constant_schedule(0.1),
        r"$0.1 e^{-0.1t}$": jopt.exponential_decay(0.1, 1, np.exp(-0.1)),
        r"$0.1/(1 + t)^2$": jopt.power_decay(0.1, 2.0, 1.0),
        r"$0.1/(1 + 0.1t)$": jopt.inverse_time_decay(0.1, 0.1),
    }


class Decay(NamedTuple):
    """F28: ``x_t`` (one row per schedule) and the step sizes ``eta_t`` that made it."""

    labels: np.ndarray   # (S,) the schedules' labels
    t: np.ndarray        # (T + 1,)
    xs: np.ndarray       # (S, T + 1)
    etas: np.ndarray     # (S, T)


@common.float64
def f28(steps: int = 1000) -> Decay:
    """F28: GD ``x <- x - eta_t x`` on ``f = 1/2 x^2`` from ``x0 = 1``: ``x_T = prod (1 - eta_t)``.

    One ``vmap`` over the schedules (``switch_schedule``).  Slides: 001 "Practicalities"
    ("Fast decay schedules may lead to super-slow convergence"); 000 "Mini-batch
    gradient descent" (Robbins-Monro: "sum eta_t = inf ... can go the distance").
    """
    schedules = f28_schedules()

    def half_square(x):
        return 0.5 * x ** 2

    def run(which):
        schedule = switch_schedule(schedules.values(), which)
        path = common.trajectory(half_square, jnp.asarray(1.0), jopt.sgd(schedule), steps)
        return path.xs, schedule(jnp.arange(steps))

    xs, etas = jax.jit(jax.vmap(run))(jnp.arange(len(schedules)))
    return Decay(np.array(list(schedules)), np.arange(steps + 1), xs, etas)


@slide("F28", "001", "Practicalities")
def plot_f28(data: Decay):
    """``x_t`` on a log-log scale: the constant step and 1/t reach 0, the fast decays stall."""
    fig, axes = common.subplots(2, width=5.5)
    xs_ax, etas_ax = axes[0]
    for label, xs, etas in zip(data.labels, data.xs, data.etas):
        line, = xs_ax.loglog(data.t[1:], xs[1:], label=f"{label}: $x_T$ = {xs[-1]:.4g}")
        etas_ax.loglog(data.t[1:-1], etas[1:], color=line.get_color(), label=label)
    xs_ax.loglog(data.t[1:], 9 / (data.t[1:] + 9), "k:", linewidth=1, label="$9/(t + 9)$")
    xs_ax.set(xlabel="step t", ylabel="$x_t$", ylim=(1e-6, 2),
              title=r"F28 · GD on $x^2/2$: $x_T = \prod_{t<T} (1 - \eta_t)$")
    xs_ax.legend(fontsize="small")
    etas_ax.set(xlabel="step t", ylabel=r"$\eta_t$", ylim=(1e-8, 0.2),
                title="F28 · the step sizes")
    etas_ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F29: Robbins-Monro on noisy least squares (SGD, batch 1)
# ----------------------------------------------------------------------------


def f29_schedules() -> dict[str, Callable]:
    """F29's five schedules by label (deck 001 "Rates" and "Practicalities")."""
    one_over_t = jopt.power_decay(1.0, 1.0, 100.0)
    return {
        "constant 0.01": jopt.constant_schedule(0.01),
        r"$1/(100 + t)$": one_over_t,
        r"$0.1/(100 + t)^{0.75}$": jopt.power_decay(0.1, 0.75, 100.0),
        r"$0.01 e^{-t/100}$": jopt.exponential_decay(0.01, 1, np.exp(-0.01)),
        r"$\max(10^{-3}, 1/(100 + t))$": jopt.floor(one_over_t, 1e-3),
    }


F29_READ_AT = (1_000, 5_000, 10_000, 50_000)
LINREG_NOISE_VARIANCE = 0.5 ** 2
"""sigma^2 of LINREG's label noise (``y = X w* + 0.5 e``)."""


class RobbinsMonro(NamedTuple):
    """F29: excess loss ``L(w_t) - L*`` by schedule, seed and evaluation step."""

    labels: np.ndarray         # (S,) the schedules' labels
    steps: np.ndarray          # (E,) evaluation steps 0, every, 2 every, ...
    excess: np.ndarray         # (S, seeds, E)
    mean_excess: np.ndarray    # (S, E) averaged over seeds
    read_at: np.ndarray        # (R,) the catalogue's reading steps within the run
    readings: np.ndarray       # (S, R) mean excess loss at read_at
    plateau: np.ndarray        # (S,) mean excess loss over the second half of the run
    etas: np.ndarray           # (S, E) the step size at each evaluation step
    noise_plateau: np.ndarray  # (S,) eta_T sigma^2 tr(H) / 4 with eta_T the final step size
    l_star: float


def sgd_excess_losses(schedule: Callable, key: jax.Array, x: jax.Array, y: jax.Array,
                      l_star: float, steps: int, every: int) -> jax.Array:
    """``L(w_t) - L*`` at ``t = 0, every, 2 every, ...`` for SGD with batch 1 from ``w0 = 0``.

    Batches are drawn with replacement from ``key`` (``jopt.data.batch_indices``, one
    ``fold_in`` per step); the full loss is evaluated every ``every`` steps.
    """
    n = x.shape[0]
    opt = jopt.sgd(schedule)
    draws = jax.vmap(lambda t: jopt.data.batch_indices(key, t, n, 1, "replacement"))(
        jnp.arange(steps))
    gradient = jax.grad(problems.linreg_loss)

    def step(carry, batch):
        w, state = carry
        updates, state = opt.update(gradient(w, x[batch], y[batch]), state, w)
        return (jopt.apply_updates(w, updates), state), None

    def block(carry, batches):
        carry, _ = jax.lax.scan(step, carry, batches)
        return carry, problems.linreg_loss(carry[0], x, y) - l_star

    w0 = jnp.zeros(x.shape[1], x.dtype)
    _, excess = jax.lax.scan(block, (w0, opt.init(w0)), draws.reshape(steps // every, every, 1))
    return jnp.concatenate([(problems.linreg_loss(w0, x, y) - l_star)[None], excess])


@common.float64
def f29(steps: int = pick(50_000, 5_000), seeds: Sequence[int] = (0, 1, 2),
        every: int = 100, read_at: Sequence[int] = F29_READ_AT) -> RobbinsMonro:
    """F29: SGD (batch 1, with replacement) on LINREG under five schedules x ``seeds``.

    All runs in one program: ``vmap`` over the schedule (``switch_schedule``) and over
    the seed.  Slides: 000 "Mini-batch gradient descent" (Robbins-Monro); 001 "Stochastic
    Gradient Descent: Rates" and "Practicalities" ("SGD with fixed steps size is known to
    converge to a ball around the optimum").
    """
    if steps % every:
        raise ValueError(f"steps ({steps}) must be a multiple of every ({every})")
    data = problems.linreg()
    _, l_star = problems.linreg_minimum(data.x, data.y)
    schedules = f29_schedules()
    x, y = jnp.asarray(data.x), jnp.asarray(data.y)
    evaluated = np.arange(0, steps + 1, every)

    @jax.jit
    def compute(seeds):
        def run(which, seed):
            return sgd_excess_losses(switch_schedule(schedules.values(), which),
                                     jax.random.PRNGKey(seed), x, y, l_star, steps, every)

        def step_sizes(which):
            return switch_schedule(schedules.values(), which)(evaluated)

        which = jnp.arange(len(schedules))
        per_seed = jax.vmap(run, in_axes=(None, 0))
        return jax.vmap(per_seed, in_axes=(0, None))(which, seeds), jax.vmap(step_sizes)(which)

    excess, etas = compute(jnp.asarray(seeds))
    mean_excess = excess.mean(axis=1)
    read_at = np.asarray([t for t in read_at if t <= steps])
    trace_h = np.trace(data.x.T @ data.x) / len(data.x)
    return RobbinsMonro(
        labels=np.array(list(schedules)), steps=evaluated, excess=excess, mean_excess=mean_excess,
        read_at=read_at, readings=mean_excess[:, read_at // every],
        plateau=mean_excess[:, len(evaluated) // 2:].mean(axis=1), etas=etas,
        noise_plateau=etas[:, -1] * LINREG_NOISE_VARIANCE * trace_h / 4, l_star=l_star)


@slide("F29", "000", "Mini-batch gradient descent")
def plot_f29(data: RobbinsMonro):
    """Excess loss (log-log, mean over seeds) with the noise plateaus eta sigma^2 tr(H)/4."""
    fig, axes = common.subplots(2, width=5.5)
    loss_ax, etas_ax = axes[0]
    t = data.steps[1:]
    for label, mean, eta, plateau in zip(data.labels, data.mean_excess, data.etas,
                                         data.noise_plateau):
        line, = loss_ax.loglog(t, mean[1:], label=label, linewidth=1)
        etas_ax.loglog(t, eta[1:], color=line.get_color(), label=label)
        if 0 < eta[-1] == eta[len(eta) // 2]:  # constant over the second half: a plateau
            loss_ax.axhline(plateau, color=line.get_color(), linestyle=":", linewidth=1,
                            label=rf"$\eta\sigma^2 \mathrm{{tr}}(H)/4$ = {plateau:.2g} "
                                  rf"($\eta$ = {eta[-1]:g})")
    loss_ax.set(xlabel="step t", ylabel=f"$L(w_t) - L^*$ (mean of {data.excess.shape[1]} seeds)",
                title="F29 · SGD on LINREG: plateau, decay, stall, level-out")
    loss_ax.legend(fontsize="small")
    etas_ax.set(xlabel="step t", ylabel=r"$\eta_t$", ylim=(1e-6, 0.2),
                title="F29 · the five schedules")
    etas_ax.legend(fontsize="small")
    return fig


FIGURES = {"F27": (f27, plot_f27), "F28": (f28, plot_f28), "F29": (f29, plot_f29)}
