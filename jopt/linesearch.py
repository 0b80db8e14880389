"""Line searches: backtracking with the Armijo condition, and the exact step for quadratics.

Both are gradient transformations that rescale a descent direction (the incoming
updates ``d``) by a step size ``alpha`` found along it, so they chain after the
transform that makes the direction, as in optax::

    opt = jopt.chain(jopt.sgd(learning_rate=1.0), jopt.scale_by_backtracking_linesearch())
    updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)

They read ``value`` (f at ``params``), ``grad`` and ``value_fn`` from ``update``'s
extra arguments; :func:`jopt.minimize` passes all three.  The backtracking loop has
a fixed number of trials (``lax.fori_loop`` with a mask, skipping evaluations with
``lax.cond`` once a step is accepted), so ``jax.grad`` can pass through a whole run
and ``vmap`` gives each element its own step.  Deck 004: "Optimal values can be
found via line search algorithms: argmin_alpha f(x - alpha grad f(x))".
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt.base import (GradientTransformation, check, check_positive, hyperparameter,
                       tree_add, tree_scale, tree_vdot)

__all__ = [
    "scale_by_backtracking_linesearch", "BacktrackingState", "backtracking_step",
    "scale_by_exact_quadratic_step", "exact_quadratic_step",
]


class BacktrackingState(NamedTuple):
    """``learning_rate``: the last accepted step; ``value``: f at the new iterate;
    ``trials``: how many step sizes the last search tried; ``accepted``: whether the
    last search met the Armijo condition (else it took its smallest trial step)."""

    learning_rate: jax.Array
    value: jax.Array
    trials: jax.Array
    accepted: jax.Array


def _require(name: str, value: Any) -> None:
    if value is None:
        raise ValueError(f"the line search needs {name}: pass update(..., value=, grad=, "
                         f"value_fn=) (jopt.minimize does)")


def backtracking_step(value_fn: Callable, params: Any, direction: Any, value: jax.Array,
                      slope: jax.Array, init_learning_rate: Any, *, slope_rtol: Any = 1e-4,
                      decrease_factor: Any = 0.5, max_backtracking_steps: int = 30):
    """Backtrack from ``init_learning_rate`` until Armijo's condition holds.

    Tries ``alpha = init * decrease_factor^k`` for ``k = 0, 1, ...`` and accepts the first
    with ``f(x + alpha d) <= f(x) + slope_rtol * alpha * slope``, where
    ``slope = grad f(x)' d < 0``.  Returns ``(alpha, f(x + alpha d), trials, accepted)``;
    when no trial is accepted within ``max_backtracking_steps``, the last (smallest) one.
    """
    c, beta = hyperparameter(slope_rtol), hyperparameter(decrease_factor)
    alpha0 = hyperparameter(init_learning_rate)
    value = jnp.asarray(value)

    def trial_value(alpha):
        return jnp.asarray(value_fn(tree_add(params, tree_scale(alpha, direction))), value.dtype)

    def body(k, carry):
        alpha, new_value, trials, done = carry
        candidate = alpha0 * beta ** k.astype(alpha0.dtype)
        candidate_value = jax.lax.cond(done, lambda: new_value, lambda: trial_value(candidate))
        ok = candidate_value <= value + c * candidate * slope
        take = jnp.logical_not(done)
        return (jnp.where(take, candidate, alpha), jnp.where(take, candidate_value, new_value),
                trials + take.astype(jnp.int32), done | (take & ok))

    start = (alpha0, value, jnp.zeros([], jnp.int32), jnp.zeros([], bool))
    return jax.lax.fori_loop(0, max_backtracking_steps, body, start)


def scale_by_backtracking_linesearch(max_backtracking_steps: int = 30, slope_rtol: Any = 1e-4,
                                     decrease_factor: Any = 0.5, increase_factor: Any = math.inf,
                                     max_learning_rate: Any = 1.0) -> GradientTransformation:
    """Scale the direction ``d`` by a step satisfying the Armijo (sufficient decrease) condition::

        f(x + alpha d) <= f(x) + slope_rtol * alpha * grad f(x)' d

    Each search starts at ``min(increase_factor * previous alpha, max_learning_rate)``
    and multiplies by ``decrease_factor`` until the condition holds.  The default
    ``increase_factor = inf`` restarts from ``max_learning_rate`` at every step, the
    textbook rule FIGURES F14 uses (alpha <- 1; while not Armijo: alpha <- 0.5 alpha);
    optax's defaults (``decrease_factor=0.8, increase_factor=1.5``) are one argument
    away.  Argument names are optax's ``scale_by_backtracking_linesearch``.
    """
    if not isinstance(max_backtracking_steps, int) or max_backtracking_steps < 1:
        raise ValueError(f"max_backtracking_steps must be a positive int, got {max_backtracking_steps!r}")
    check("slope_rtol", slope_rtol, lambda v: (v > 0) & (v < 1), "in (0, 1)")
    check("decrease_factor", decrease_factor, lambda v: (v > 0) & (v < 1), "in (0, 1)")
    check("increase_factor", increase_factor, lambda v: v >= 1, ">= 1")
    check_positive("max_learning_rate", max_learning_rate)

    def init(params):
        del params
        return BacktrackingState(hyperparameter(max_learning_rate), jnp.asarray(jnp.inf),
                                 jnp.zeros([], jnp.int32), jnp.ones([], bool))

    def update(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        del extra
        for name, given in (("params", params), ("value", value), ("grad", grad),
                            ("value_fn", value_fn)):
            _require(name, given)
        # With increase_factor = inf (restart at max_learning_rate), alpha * inf would make
        # the hypergradients NaN (0 * inf in the JVP of minimum): keep inf out of it.
        increase = hyperparameter(increase_factor)
        restart = jnp.isinf(increase)
        start = jnp.where(restart, hyperparameter(max_learning_rate),
                          jnp.minimum(state.learning_rate * jnp.where(restart, 1.0, increase),
                                      hyperparameter(max_learning_rate)))
        # Re <g, d>: the slope along d, also for complex parameters read as pairs of reals
        # (optax's convention: g is the conjugated gradient).
        alpha, new_value, trials, accepted = backtracking_step(
            value_fn, params, updates, value, jnp.real(tree_vdot(grad, updates)), start,
            slope_rtol=slope_rtol, decrease_factor=decrease_factor,
            max_backtracking_steps=max_backtracking_steps)
        # The state keeps init's dtypes whatever the dtype of value (a lax.cond or scan
        # over updates needs a state of one type).
        return tree_scale(alpha, updates), BacktrackingState(
            alpha.astype(state.learning_rate.dtype), new_value.astype(state.value.dtype),
            trials, accepted)
    return GradientTransformation(init, update)


def exact_quadratic_step(grad: Any, direction: Any, hessian_direction: Any) -> jax.Array:
    """The exact minimizing step along ``d`` for a quadratic: ``alpha* = -g'd / d'Ad``.

    For the steepest-descent direction ``d = -g`` this is ``g'g / g'Ag`` (FIGURES F6, F13),
    which lies in ``[1/L, 1/mu]``.
    """
    return -tree_vdot(grad, direction) / tree_vdot(direction, hessian_direction)


class ExactStepState(NamedTuple):
    learning_rate: jax.Array


def scale_by_exact_quadratic_step(matrix: Optional[Any] = None) -> GradientTransformation:
    """Scale the direction ``d`` by the exact line-search step of a quadratic objective.

    ``alpha* = -g'd / d'Ad`` (``g'g / g'Ag`` for ``d = -g``).  ``A d`` is ``matrix @ d``
    when a matrix is given (params a single array), else a Hessian-vector product of
    ``value_fn`` at ``params`` (exact for a quadratic).  Needs ``grad`` (and
    ``value_fn`` without a matrix) from ``update``'s extra arguments.
    """
    def init(params):
        del params
        return ExactStepState(jnp.zeros([]))

    def update(updates, state, params=None, *, grad=None, value_fn=None, **extra):
        del state, extra
        _require("grad", grad)
        if matrix is not None:
            hessian_direction = jnp.asarray(matrix) @ updates
        else:
            _require("value_fn", value_fn)
            _require("params", params)
            hessian_direction = jax.jvp(jax.grad(value_fn), (params,), (updates,))[1]
        alpha = exact_quadratic_step(grad, updates, hessian_direction)
        return tree_scale(alpha, updates), ExactStepState(alpha)
    return GradientTransformation(init, update)
