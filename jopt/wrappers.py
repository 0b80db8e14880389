"""Wrappers around a transformation: optax's ``inject_hyperparams``, ``apply_if_finite``
and ``MultiSteps``, under optax's names and with optax's meaning.

- :func:`inject_hyperparams` keeps an optimizer's numeric arguments in its state, where
  they can be read and changed between steps (a schedule's value is stored each step).
  jopt's optimizers take traced hyperparameters, so the optimizer is simply rebuilt
  from the stored values inside ``update``.
- :func:`apply_if_finite` skips updates whose incoming gradient is not finite.
- :class:`MultiSteps` accumulates gradients over ``k`` calls and applies the inner
  optimizer to their mean once every ``k`` calls (gradient accumulation).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from jopt.base import (GradientTransformation, GradientTransformationExtraArgs, OptState, PyTree,
                       hyperparameter, safe_increment, tree_zeros_like, with_extra_args_support,
                       zero_count)

__all__ = ["inject_hyperparams", "InjectHyperparamsState", "apply_if_finite",
           "ApplyIfFiniteState", "MultiSteps", "MultiStepsState"]


# ----------------------------------------------------------------------------
# inject_hyperparams
# ----------------------------------------------------------------------------


class InjectHyperparamsState(NamedTuple):
    """``hyperparams``: the values the last update used (a schedule's at that step)."""

    count: jax.Array
    hyperparams: dict[str, jax.Array]
    inner_state: OptState


def _is_numeric(value: Any) -> bool:
    return (not isinstance(value, bool)
            and isinstance(value, (int, float, np.number, np.ndarray, jax.Array)))


def _as_hyperparameter(value: Any, dtype: Any) -> jax.Array:
    """A float as ``dtype`` (at least float32 by default: DESIGN's rule); an integer as it is."""
    if not jnp.issubdtype(jnp.result_type(value), jnp.floating):
        return jnp.asarray(value)
    return hyperparameter(value) if dtype is None else jnp.asarray(value, dtype)


def inject_hyperparams(inner_factory: Callable[..., GradientTransformation],
                       static_args: Union[str, Iterable[str]] = (),
                       hyperparam_dtype: Any = None) -> Callable[..., GradientTransformationExtraArgs]:
    """``inject_hyperparams(jopt.adam)(learning_rate=0.1)``: an Adam whose numbers are in its state.

    As optax's: every numeric argument of ``inner_factory`` (defaults included; not
    booleans, not the names in ``static_args``) is kept in
    ``state.hyperparams[name]``, and a schedule argument is evaluated at the step
    count and its value kept there.  Each ``update`` builds ``inner_factory`` from the
    stored values, so changing ``state.hyperparams`` between steps changes the
    optimizer.  Floats are stored in ``hyperparam_dtype``, by default at least float32
    (optax uses the parameters' dtype).
    """
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    if not static <= set(signature.parameters):
        raise ValueError(f"static_args must name parameters of {inner_factory.__name__} "
                         f"({sorted(signature.parameters)}), got {sorted(static)}")

    def wrapped(*args, **kwargs) -> GradientTransformationExtraArgs:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        fixed, numeric, schedules = {}, {}, {}
        for name, value in bound.arguments.items():
            if name in static or isinstance(value, bool):
                fixed[name] = value
            elif callable(value):
                schedules[name] = value
            elif _is_numeric(value):
                numeric[name] = value
            else:
                fixed[name] = value

        def hyperparams_at(count: jax.Array, stored: dict) -> dict:
            values = {name: _as_hyperparameter(stored[name], hyperparam_dtype) for name in numeric}
            values.update({name: _as_hyperparameter(schedule(count), hyperparam_dtype)
                           for name, schedule in schedules.items()})
            return values

        def init(params):
            count = zero_count()
            hyperparams = hyperparams_at(count, numeric)
            inner = inner_factory(**fixed, **hyperparams)
            return InjectHyperparamsState(count, hyperparams, inner.init(params))

        def update(updates, state, params=None, **extra_args):
            hyperparams = hyperparams_at(state.count, state.hyperparams)
            inner = with_extra_args_support(inner_factory(**fixed, **hyperparams))
            updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            return updates, InjectHyperparamsState(safe_increment(state.count), hyperparams,
                                                   inner_state)
        return GradientTransformationExtraArgs(init, update)

    wrapped.__name__ = getattr(inner_factory, "__name__", "inject_hyperparams")
    wrapped.__doc__ = inner_factory.__doc__
    return wrapped


# ----------------------------------------------------------------------------
# apply_if_finite
# ----------------------------------------------------------------------------


class ApplyIfFiniteState(NamedTuple):
    """``notfinite_count``: consecutive non-finite steps; ``last_finite``: whether the
    last gradient was finite; ``total_notfinite``: all non-finite steps so far."""

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    inner_state: OptState


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(leaf)) for leaf in leaves], bool))


def apply_if_finite(inner: GradientTransformation,
                    max_consecutive_errors: int) -> GradientTransformationExtraArgs:
    """Apply ``inner`` only when every incoming gradient entry is finite (optax's rule).

    A gradient with a NaN or an infinity gives a zero update and leaves ``inner``'s
    state as it was, unless more than ``max_consecutive_errors`` such gradients came
    in a row: then it is applied anyway (so a run that keeps failing shows it).
    """
    inner = with_extra_args_support(inner)

    def init(params):
        return ApplyIfFiniteState(zero_count(), jnp.ones([], bool), zero_count(),
                                  inner.init(params))

    def update(updates, state, params=None, **extra_args):
        finite = _all_finite(updates)
        notfinite_count = jnp.where(finite, 0, safe_increment(state.notfinite_count))
        apply = finite | (notfinite_count > max_consecutive_errors)
        new_updates, inner_state = jax.lax.cond(
            apply,
            lambda: inner.update(updates, state.inner_state, params, **extra_args),
            lambda: (tree_zeros_like(updates), state.inner_state))
        total = jnp.where(finite, state.total_notfinite, safe_increment(state.total_notfinite))
        return new_updates, ApplyIfFiniteState(notfinite_count, finite, total, inner_state)
    return GradientTransformationExtraArgs(init, update)


# ----------------------------------------------------------------------------
# MultiSteps: gradient accumulation
# ----------------------------------------------------------------------------


class MultiStepsState(NamedTuple):
    """``mini_step``: calls since the last inner update; ``gradient_step``: inner updates
    applied; ``acc_grads``: the mean (or sum) of the gradients since the last one."""

    mini_step: jax.Array
    gradient_step: jax.Array
    inner_opt_state: OptState
    acc_grads: PyTree
    skip_state: Any = ()


class MultiSteps:
    """Gradient accumulation: the inner optimizer steps once every ``k`` calls (optax's).

    ``every_k_schedule`` is ``k`` (an int) or a function of the number of inner steps
    applied.  The calls in between return zero updates and accumulate the gradient:
    its running mean (``use_grad_mean=True``) or sum.  ``should_skip_update_fn(updates,
    gradient_step, params) -> (skip, skip_state)`` may reject a gradient: then nothing
    changes but ``skip_state``.
    """

    def __init__(self, opt: GradientTransformation,
                 every_k_schedule: Union[int, Callable[[jax.Array], jax.Array]],
                 use_grad_mean: bool = True,
                 should_skip_update_fn: Optional[Callable] = None):
        self._opt = with_extra_args_support(opt)
        self._every_k = every_k_schedule if callable(every_k_schedule) else (
            lambda step: every_k_schedule)
        self._use_grad_mean = use_grad_mean
        self._should_skip = should_skip_update_fn

    @property
    def inner_opt(self) -> GradientTransformationExtraArgs:
        return self._opt

    def init(self, params: PyTree) -> MultiStepsState:
        skip_state = (jax.eval_shape(self._should_skip, params, zero_count(), params)[1]
                      if self._should_skip is not None else ())
        skip_state = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), skip_state)
        return MultiStepsState(zero_count(), zero_count(), self._opt.init(params),
                               tree_zeros_like(params), skip_state)

    def _accumulate(self, updates: PyTree, state: MultiStepsState) -> PyTree:
        if self._use_grad_mean:
            weight = 1 / (state.mini_step + 1).astype(jnp.float32)
            return jax.tree_util.tree_map(
                lambda g, acc: (acc + weight * (g - acc)).astype(acc.dtype),
                updates, state.acc_grads)
        return jax.tree_util.tree_map(lambda g, acc: (acc + g).astype(acc.dtype),
                                      updates, state.acc_grads)

    def update(self, updates: PyTree, state: MultiStepsState, params: Optional[PyTree] = None,
               **extra_args) -> tuple[PyTree, MultiStepsState]:
        if self._should_skip is not None:
            skip, skip_state = self._should_skip(updates, state.gradient_step, params)
        else:
            skip, skip_state = False, ()
        acc_grads = self._accumulate(updates, state)

        def final_step():
            new_updates, inner_state = self._opt.update(acc_grads, state.inner_opt_state, params,
                                                        **extra_args)
            return new_updates, MultiStepsState(zero_count(), safe_increment(state.gradient_step),
                                                inner_state, tree_zeros_like(acc_grads),
                                                skip_state)

        def mid_step():
            shapes = jax.eval_shape(lambda: final_step()[0])
            zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
            return zeros, MultiStepsState(safe_increment(state.mini_step), state.gradient_step,
                                          state.inner_opt_state, acc_grads, skip_state)

        k = self._every_k(state.gradient_step)
        new_updates, new_state = jax.lax.cond(state.mini_step < k - 1, mid_step, final_step)
        if self._should_skip is None:
            return new_updates, new_state
        zeros = jax.tree_util.tree_map(jnp.zeros_like, new_updates)
        kept = state._replace(skip_state=skip_state)
        return jax.lax.cond(skip, lambda: (zeros, kept), lambda: (new_updates, new_state))

    def has_updated(self, state: MultiStepsState) -> jax.Array:
        """Whether the last call applied the inner optimizer."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformationExtraArgs:
        return GradientTransformationExtraArgs(self.init, self.update)
