"""Helpers every lecture module uses: fast mode, float64, trajectories, plotting.

``FAST`` is true when the environment has ``JOPT_FAST=1``: the notebooks' CI mode, in
which each figure's step counts and grids shrink (``pick(full, fast)``) so that every
notebook runs in seconds.  The claims are checked at test size by
``tests/test_lectures.py`` whatever the mode.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jopt

FAST = os.environ.get("JOPT_FAST", "").strip().lower() not in ("", "0", "false", "no")


QUICK_COMPILE = {"xla_backend_optimization_level": 0}
"""``compiler_options`` for ``jax.jit`` of a figure's whole setup: XLA's backend
optimizations off.  The figures' programs are small and run once, so compiling is most of
their cost; this cuts it by about a third, with the same step counts and floats equal to
rounding."""


def pick(full: Any, fast: Any) -> Any:
    """``fast`` in fast mode (``JOPT_FAST=1``), else ``full``."""
    return fast if FAST else full


def as_numpy(tree: Any) -> Any:
    """Every array or number leaf of ``tree`` as a NumPy array; strings stay strings."""
    return jax.tree_util.tree_map(lambda leaf: leaf if isinstance(leaf, str) else np.asarray(leaf),
                                  tree)


def float64(fn: Callable) -> Callable:
    """Run ``fn`` with 64-bit JAX types and return its results as NumPy arrays.

    The catalogue's [det] and [exact] numbers are float64 numbers; the decorator keeps
    the rest of the process in JAX's default float32.
    """
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.enable_x64(True):
            return as_numpy(fn(*args, **kwargs))
    return wrapped


# ----------------------------------------------------------------------------
# Trajectories of an optimizer on a function
# ----------------------------------------------------------------------------


class Trajectory(NamedTuple):
    """``xs``: the iterates x_0 .. x_T (leading axis T + 1); ``values``: f at each."""

    xs: Any
    values: jax.Array


def trajectory(fun: Callable, x0: Any, opt: jopt.GradientTransformation,
               steps: int) -> Trajectory:
    """``steps`` updates of ``opt`` on ``fun`` from ``x0``, every iterate kept.

    One ``lax.scan``: ``g = grad f(x_t)``; ``u, s = opt.update(g, s, x_t, value=f(x_t),
    grad=g, value_fn=f)``; ``x_{t+1} = x_t + u``.  The extra arguments are the ones a
    line search reads; plain optimizers ignore them.  Build ``opt`` inside a function
    you ``jax.vmap`` over a hyperparameter to get every trajectory of a sweep at once.
    """
    value_and_grad = jax.value_and_grad(fun)

    def step(carry, _):
        x, state = carry
        value, grad = value_and_grad(x)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        return (jopt.apply_updates(x, updates), state), (x, value)

    (last, _), (xs, values) = jax.lax.scan(step, (x0, opt.init(x0)), length=steps)
    xs = jax.tree_util.tree_map(lambda head, tail: jnp.concatenate([head, tail[None]]),
                                xs, last)
    return Trajectory(xs, jnp.append(values, fun(last)))


def first_index(condition: jax.Array, axis: int = -1) -> jax.Array:
    """The first index along ``axis`` where the boolean array ``condition`` holds, or -1
    if never.

    ``first_index(values < 1e-6)`` is the number of steps to a tolerance; -1 reads
    "not within the budget".  Rows of a 2-D ``condition`` (one per config) get one index
    each.  Works under ``vmap`` and on NumPy arrays.
    """
    condition = jnp.asarray(condition)
    return jnp.where(condition.any(axis), jnp.argmax(condition, axis), -1)


def log_spaced(steps: int, count: int = 400) -> np.ndarray:
    """About ``count`` distinct indices from 0 to ``steps``, evenly spaced in log t (to draw
    or evaluate long runs on a log axis)."""
    return np.unique(np.r_[0, np.geomspace(1, steps, count).astype(int), steps])


def increases(values: jax.Array) -> jax.Array:
    """How many steps raise the value (``f_{t+1} > f_t``), ignoring NaN."""
    values = jnp.asarray(values)
    return jnp.sum(values[1:] > values[:-1])


# ----------------------------------------------------------------------------
# Plotting
# ----------------------------------------------------------------------------


PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000",
           "#F0E442")
"""Okabe and Ito's colour-blind-safe palette, the colour cycle of every lecture figure:
``"C0"`` .. ``"C7"`` are blue, orange, green, vermillion, purple, sky blue, black, yellow."""


def use_palette() -> None:
    """Make :data:`PALETTE` matplotlib's colour cycle (what ``"C0"`` .. ``"C7"`` name)."""
    import matplotlib
    from cycler import cycler
    matplotlib.rcParams["axes.prop_cycle"] = cycler(color=PALETTE)


def subplots(ncols: int = 1, nrows: int = 1, *, width: float = 5.0, height: float = 4.0,
             **kwargs):
    """``plt.subplots`` sized ``width x height`` inches per panel, constrained layout, in
    the lectures' palette (:func:`use_palette`)."""
    import matplotlib.pyplot as plt
    use_palette()
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                        layout="constrained", squeeze=False if nrows * ncols > 1 else True,
                        **kwargs)


def slide(figure_id: str, deck: str, title: str) -> Callable:
    """Decorate a figure's plot function: the figure it returns gets the id and the deck's
    slide title as its suptitle, e.g. ``F37 · deck 004, "Asymptotic upper bounds"``."""
    def decorate(plot_fn: Callable) -> Callable:
        @functools.wraps(plot_fn)
        def plot(*args, **kwargs):
            figure = plot_fn(*args, **kwargs)
            figure.suptitle(f'{figure_id} · deck {deck}, "{title}"', fontsize="medium",
                            fontweight="bold")
            return figure
        plot.slide = (deck, title)
        return plot
    return decorate


def grid_values(fun: Callable, xlim: Sequence[float], ylim: Sequence[float],
                n: int = 201) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``fun`` of a 2-vector on an ``n x n`` grid: ``(X, Y, Z)`` for ``contour``."""
    xs, ys = np.linspace(*xlim, n), np.linspace(*ylim, n)
    grid_x, grid_y = np.meshgrid(xs, ys)
    points = jnp.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    values = jax.jit(jax.vmap(fun))(points)  # one program for the grid, not one per operation
    return grid_x, grid_y, np.asarray(values).reshape(grid_x.shape)


def contour(ax, fun: Callable, xlim: Sequence[float], ylim: Sequence[float], *,
            levels: Any = 25, log: bool = True, n: int = 201):
    """Level sets of ``fun`` (a function of a 2-vector) on ``ax``, log-spaced by default."""
    return draw_levels(ax, grid_values(fun, xlim, ylim, n), levels=levels, log=log)


def draw_levels(ax, grid: tuple, *, levels: Any = 25, log: bool = True):
    """Level sets of a :func:`grid_values` ``(X, Y, Z)`` on ``ax``, log-spaced by default."""
    grid_x, grid_y, z = grid
    xlim, ylim = (grid_x.min(), grid_x.max()), (grid_y.min(), grid_y.max())
    if log and np.ndim(levels) == 0:
        low = max(np.nanmin(z[z > 0]) if np.any(z > 0) else 1e-3, 1e-12)
        levels = np.geomspace(low, np.nanmax(z), int(levels))
    ax.contour(grid_x, grid_y, z, levels=levels, colors="0.75", linewidths=0.7)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    return ax


def draw_paths(ax, paths: dict, *, markersize: float = 3.0, **kwargs):
    """Each ``label -> (T, 2) iterates`` as a line with dots, its start marked."""
    for label, xs in paths.items():
        xs = np.asarray(xs)
        line, = ax.plot(xs[:, 0], xs[:, 1], "o-", markersize=markersize, linewidth=1,
                        label=label, **kwargs)
        ax.plot(xs[0, 0], xs[0, 1], "s", color=line.get_color(), markersize=markersize + 3)
    ax.legend(fontsize="small")
    return ax
