"""L-BFGS (Nocedal 1980; Liu & Nocedal 1989) with a bounded line search.

Deck 003 names BFGS among the methods beyond gradient descent.  L-BFGS keeps the last
``memory_size`` pairs ``s_k = x_{k+1} - x_k``, ``y_k = g_{k+1} - g_k`` and applies the
inverse-Hessian estimate by the two-loop recursion::

    q = g;  for k newest..oldest: a_k = rho_k s_k'q;  q -= a_k y_k        (rho_k = 1 / y_k's_k)
    r = gamma q   (gamma = s'y / y'y of the newest pair: scale_init_precond;
                   at the first step, with no pair yet, gamma = min(1, 1 / ||g||), as optax)
    for k oldest..newest: b = rho_k y_k'r;  r += (a_k - b) s_k
    d = -r

A pair with ``y's <= 0`` (possible without the Wolfe curvature condition) gets
``rho = 0`` and drops out of both loops, which keeps ``H`` positive definite.
The step along ``d`` is a backtracking Armijo search starting at 1
(:func:`jopt.linesearch.backtracking_step`), a ``fori_loop`` with a fixed number of
trials, so ``jax.grad`` passes through a whole run (optax's zoom line search is an
unbounded ``while_loop``, which reverse-mode differentiation cannot pass).  With a
``learning_rate`` given, no line search runs and the step is ``learning_rate * d``.

Parameters may be any pytree; the memory holds them raveled into one vector.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jopt.base import (GradientTransformation, ScalarOrSchedule, chain, check,
                       check_schedule_or_nonnegative, hyperparameter, resolve, safe_increment,
                       zero_count)
from jopt.linesearch import backtracking_step

__all__ = ["lbfgs", "LbfgsState"]


class LbfgsState(NamedTuple):
    count: jax.Array
    params: jax.Array          # the previous iterate, raveled
    grad: jax.Array            # the gradient there, raveled
    s_memory: jax.Array        # (memory_size, n): parameter differences, a ring buffer
    y_memory: jax.Array        # (memory_size, n): gradient differences
    rho_memory: jax.Array      # (memory_size,): 1 / y's, or 0 for a skipped pair
    learning_rate: jax.Array   # the last step size taken
    trials: jax.Array          # line-search trials of the last step


def _two_loop(grad, s_memory, y_memory, rho_memory, newest, scale_init_precond, first):
    """``H g`` by the two-loop recursion over the ring buffer, newest pair at ``newest``."""
    memory_size = s_memory.shape[0]
    order = (newest - jnp.arange(memory_size)) % memory_size  # newest first

    def backward(q, k):
        alpha = rho_memory[k] * jnp.vdot(s_memory[k], q)
        return q - alpha * y_memory[k], alpha

    q, alphas = jax.lax.scan(backward, grad, order)
    s, y = s_memory[newest], y_memory[newest]
    yy = jnp.vdot(y, y)
    norm = jnp.sqrt(jnp.vdot(grad, grad))
    start = jnp.where(first, jnp.minimum(1.0, 1 / jnp.where(norm > 0, norm, 1.0)), 1.0)
    gamma = jnp.where((rho_memory[newest] > 0) & (yy > 0),
                      jnp.vdot(s, y) / jnp.where(yy > 0, yy, 1), start)
    r = q * gamma if scale_init_precond else q

    def forward(r, k_alpha):
        k, alpha = k_alpha
        beta = rho_memory[k] * jnp.vdot(y_memory[k], r)
        return r + (alpha - beta) * s_memory[k], None

    r, _ = jax.lax.scan(forward, r, (order[::-1], alphas[::-1]))
    return r


BUILT_IN = "backtracking"
"""``lbfgs``'s default line search: a bounded Armijo backtracking from ``max_learning_rate``."""


def _ravel_real(tree: Any):
    """``tree`` as one real vector, and the inverse: a complex leaf gives its real and
    imaginary parts (C^n read as R^2n, where the conjugated gradient is the gradient)."""
    flat, unravel = ravel_pytree(tree)
    if not jnp.iscomplexobj(flat):
        return flat, unravel
    n = flat.shape[0]
    return (jnp.concatenate([flat.real, flat.imag]),
            lambda real: unravel((real[:n] + 1j * real[n:]).astype(flat.dtype)))


def lbfgs(learning_rate: Optional[ScalarOrSchedule] = None, memory_size: int = 10,
          scale_init_precond: bool = True,
          linesearch: Union[str, None, GradientTransformation] = BUILT_IN, *,
          max_backtracking_steps: int = 30, slope_rtol: Any = 1e-4, decrease_factor: Any = 0.5,
          max_learning_rate: Any = 1.0) -> GradientTransformation:
    """L-BFGS as a gradient transformation: the updates are ``alpha * d`` (see the module).

    ``update(grad, state, params, value=f(params), grad=grad, value_fn=f)``: ``value_fn``
    is needed for a line search (and ``value`` saves one evaluation); :func:`jopt.minimize`
    passes them.  Argument names follow optax's ``lbfgs``.  The step ``alpha``:

    - ``linesearch="backtracking"`` (the default): with ``learning_rate=None``, the
      bounded Armijo backtracking of the module docstring, whose arguments are those of
      :func:`jopt.scale_by_backtracking_linesearch`; with a ``learning_rate``, that rate.
    - ``linesearch=None``: ``learning_rate`` (1 when None), no search (optax's meaning).
    - a line search transformation, e.g. ``jopt.scale_by_backtracking_linesearch(20)``:
      as optax, ``chain(lbfgs direction * learning_rate (1 when None), linesearch)``.
      jopt's line searches are bounded loops, so ``jax.grad`` passes through the run.

    ``memory_size`` (array shapes) and ``max_backtracking_steps`` (the bound of the
    line-search loop) are static; every other number may be traced.  Complex
    parameters are read as pairs of reals (optax's convention: pass the conjugated
    gradient).
    """
    if isinstance(linesearch, str):
        if linesearch != BUILT_IN:
            raise ValueError(f"linesearch must be {BUILT_IN!r}, None or a line search "
                             f"transformation, got {linesearch!r}")
        return _lbfgs(learning_rate, memory_size, scale_init_precond, max_backtracking_steps,
                      slope_rtol, decrease_factor, max_learning_rate)
    if linesearch is not None and not (hasattr(linesearch, "init") and hasattr(linesearch, "update")):
        raise TypeError(f"linesearch must be {BUILT_IN!r}, None or a line search "
                        f"transformation, got {linesearch!r}")
    fixed = _lbfgs(1.0 if learning_rate is None else learning_rate, memory_size,
                   scale_init_precond, max_backtracking_steps, slope_rtol, decrease_factor,
                   max_learning_rate)
    return fixed if linesearch is None else chain(fixed, linesearch)


def _lbfgs(learning_rate: Optional[ScalarOrSchedule], memory_size: int, scale_init_precond: bool,
           max_backtracking_steps: int, slope_rtol: Any, decrease_factor: Any,
           max_learning_rate: Any) -> GradientTransformation:
    """L-BFGS with a fixed or scheduled rate, or (``learning_rate=None``) the built-in search."""
    if not isinstance(memory_size, int) or memory_size < 1:
        raise ValueError(f"memory_size must be a positive int, got {memory_size!r}")
    if not isinstance(max_backtracking_steps, int) or max_backtracking_steps < 1:
        raise ValueError(f"max_backtracking_steps must be a positive int, got {max_backtracking_steps!r}")
    if learning_rate is not None:
        check_schedule_or_nonnegative("learning_rate", learning_rate)
    check("slope_rtol", slope_rtol, lambda v: (v > 0) & (v < 1), "in (0, 1)")
    check("decrease_factor", decrease_factor, lambda v: (v > 0) & (v < 1), "in (0, 1)")
    check("max_learning_rate", max_learning_rate, lambda v: v > 0, "> 0")

    def init(params):
        flat, _ = _ravel_real(params)
        n = flat.shape[0]
        zeros = jnp.zeros((memory_size, n), flat.dtype)
        return LbfgsState(zero_count(), flat, jnp.zeros_like(flat), zeros, zeros,
                          jnp.zeros((memory_size,), flat.dtype),
                          hyperparameter(max_learning_rate), jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, *, value=None, value_fn=None, count=None, **extra):
        del extra
        if params is None:
            raise ValueError("lbfgs needs params: call update(grad, state, params, value_fn=f)")
        step = state.count if count is None else count
        flat_grad, unravel = _ravel_real(updates)
        flat_params, unravel_params = _ravel_real(params)
        s = flat_params - state.params
        y = flat_grad - state.grad
        sy = jnp.vdot(s, y)
        rho = jnp.where((step > 0) & (sy > 1e-12 * jnp.maximum(jnp.vdot(y, y), 1e-30)),
                        1 / jnp.where(sy != 0, sy, 1), 0.0)
        slot = (step - 1) % memory_size
        store = step > 0
        s_memory = jnp.where(store, state.s_memory.at[slot].set(s), state.s_memory)
        y_memory = jnp.where(store, state.y_memory.at[slot].set(y), state.y_memory)
        rho_memory = jnp.where(store, state.rho_memory.at[slot].set(rho), state.rho_memory)
        direction = -_two_loop(flat_grad, s_memory, y_memory, rho_memory, slot,
                               scale_init_precond, step == 0)
        if learning_rate is not None:
            alpha = hyperparameter(resolve(learning_rate, step))
            trials = jnp.zeros([], jnp.int32)
        else:
            if value_fn is None:
                raise ValueError("lbfgs without a learning_rate needs value_fn for its line "
                                 "search: update(grad, state, params, value_fn=f)")
            f = lambda flat: value_fn(unravel_params(flat))
            current = f(flat_params) if value is None else value
            alpha, _, trials, _ = backtracking_step(
                f, flat_params, direction, current, jnp.vdot(flat_grad, direction),
                max_learning_rate, slope_rtol=slope_rtol, decrease_factor=decrease_factor,
                max_backtracking_steps=max_backtracking_steps)
        new_state = LbfgsState(safe_increment(step), flat_params, flat_grad, s_memory, y_memory,
                               rho_memory, jnp.asarray(alpha, state.learning_rate.dtype), trials)
        return unravel((alpha * direction).astype(flat_grad.dtype)), new_state
    return GradientTransformation(init, update)
