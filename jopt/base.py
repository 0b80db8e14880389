"""The core protocol: gradient transformations, chains, schedules and tree helpers.

A :class:`GradientTransformation` is a pair of pure functions, the same shape as
optax's, so transforms of either library can be chained with the other's::

    init(params) -> state
    update(updates, state, params=None, **extra) -> (updates, state)

Hyperparameters are data: every numeric hyperparameter may be a Python number, a
NumPy or JAX scalar, or a traced value under ``jit``, ``vmap`` or ``grad``.  The
helpers :func:`hyperparameter` and :func:`check` are how the rest of the package
turns a value into an array and validates it when it is concrete.
"""

from __future__ import annotations

import inspect
import types
from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any
Params = PyTree
Updates = PyTree
OptState = Any
Scalar = Union[float, int, jax.Array, np.ndarray]
Schedule = Callable[[jax.Array], jax.Array]
"""A step-size schedule: ``count -> scalar``, ``count`` an int32 step counter."""
ScalarOrSchedule = Union[Scalar, Schedule]

INT32_MAX = np.iinfo(np.int32).max


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``(init, update)``; see the module docstring."""

    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Updates, OptState]]


class GradientTransformationExtraArgs(GradientTransformation):
    """A :class:`GradientTransformation` whose ``update`` takes any extra keyword arguments.

    ``update(updates, state, params=None, **extra_args)``: it reads the ones it needs
    (``value``, ``grad``, ``value_fn``, ...) and ignores the others, as optax's class of
    the same name.  :func:`chain` returns one; :func:`with_extra_args_support` makes one.
    """

    __slots__ = ()


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none."""


class ChainState(NamedTuple):
    """The state of :func:`chain`: the one step counter and the inner states.

    ``count`` is the number of updates the chain has applied.  It is passed to the
    inner transformations as the ``count`` extra argument, so that every
    transformation that needs the step (a schedule, a bias correction) reads the
    same counter and the counters stored inside the inner states never disagree.
    """

    count: jax.Array
    inner_states: tuple


# ----------------------------------------------------------------------------
# Hyperparameters as data
# ----------------------------------------------------------------------------


def is_concrete(value: Any) -> bool:
    """Whether ``value`` has a known value now (it is not a tracer)."""
    return not isinstance(value, jax.core.Tracer)


def check(name: str, value: Any, ok: Callable[[np.ndarray], Any], requirement: str) -> None:
    """Raise ``ValueError`` naming ``name`` and ``value`` unless ``ok(value)`` holds.

    Tracers are not checked: whoever made them concrete validated them.  Callables
    (schedules) are not checked either: their values are checked where they are made.
    """
    if callable(value) or value is None:
        return
    if not all(is_concrete(leaf) for leaf in jax.tree_util.tree_leaves(value)):
        return  # a traced value, or a sequence (boundaries, scales) holding one
    if isinstance(value, (str, bytes)):  # NumPy would read "0.9" as a number
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not np.asarray(ok(array)).all():  # the method: np.all's wrapper costs more than the test
        raise ValueError(f"{name} must be {requirement}, got {value!r}")


def check_nonnegative(name: str, value: Any) -> None:
    check(name, value, lambda v: (v >= 0) & np.isfinite(v), ">= 0 and finite")


def check_finite(name: str, value: Any) -> None:
    check(name, value, lambda v: np.isfinite(v), "finite")


def check_positive(name: str, value: Any) -> None:
    check(name, value, lambda v: (v > 0) & np.isfinite(v), "> 0 and finite")


def check_unit_interval(name: str, value: Any) -> None:
    """``value`` in [0, 1): a decay or momentum coefficient."""
    check(name, value, lambda v: (v >= 0) & (v < 1), "in [0, 1)")


def check_schedule_or_nonnegative(name: str, value: Any) -> None:
    """A step size: a non-negative number or a callable ``count -> scalar``."""
    if callable(value):
        return
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a number or a schedule (a callable), got {value!r}")
    check_nonnegative(name, value)


def compute_dtype(dtype: Any) -> jnp.dtype:
    """The dtype hyperparameters and moment arithmetic use for leaves of ``dtype``.

    At least float32, so that ``b2 = 0.999`` is not rounded to 1 in bfloat16, and
    float64 for float64 leaves, so that float64 runs match their references exactly.
    """
    return jnp.promote_types(jnp.float32, dtype)


def hyperparameter(value: Any) -> jax.Array:
    """``value`` as a (not weakly typed) array of at least float32 precision.

    Python numbers become float32 (float64 when ``jax_enable_x64`` is on), so that
    arithmetic with a bfloat16 or float16 leaf is carried out in float32.  Traced
    values pass through, promoted the same way.
    """
    dtype = jnp.result_type(value)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)  # step counts and other integers
    return jnp.asarray(value, dtype=compute_dtype(dtype))


def resolve(value: ScalarOrSchedule, count: jax.Array) -> Any:
    """The value of a step size at ``count``: call it if it is a schedule."""
    return value(count) if callable(value) else value


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` for an int32 counter that saturates instead of overflowing."""
    return jnp.where(count < INT32_MAX, count + jnp.ones_like(count), INT32_MAX)


def zero_count() -> jax.Array:
    return jnp.zeros([], jnp.int32)


# ----------------------------------------------------------------------------
# Tree helpers
# ----------------------------------------------------------------------------


def check_same_structure(name: str, tree: PyTree, reference: PyTree, reference_name: str) -> None:
    """Raise ``ValueError`` if ``tree`` and ``reference`` are different pytrees."""
    tree_def = jax.tree_util.tree_structure(tree)
    reference_def = jax.tree_util.tree_structure(reference)
    if tree_def != reference_def:
        raise ValueError(
            f"{name} has tree structure {tree_def}, which does not match "
            f"{reference_name}'s {reference_def}"
        )


def tree_zeros_like(tree: PyTree, dtype: Any = None) -> PyTree:
    return jax.tree_util.tree_map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def tree_full_like(tree: PyTree, value: Any, dtype: Any = None) -> PyTree:
    return jax.tree_util.tree_map(lambda x: jnp.full_like(x, value, dtype=dtype), tree)


def tree_cast(tree: PyTree, dtype: Any) -> PyTree:
    """Cast every leaf to ``dtype`` (``None`` leaves the tree as it is)."""
    if dtype is None:
        return tree
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype), tree)


def tree_vdot(a: PyTree, b: PyTree) -> jax.Array:
    """The inner product of two pytrees of the same structure."""
    products = jax.tree_util.tree_map(lambda x, y: jnp.vdot(x, y), a, b)
    return sum(jax.tree_util.tree_leaves(products), jnp.zeros([]))


def tree_sum_of_squares(tree: PyTree) -> jax.Array:
    """The squared Euclidean norm of all leaves together, in at least float32."""
    squares = [jnp.sum(jnp.square(jnp.abs(x).astype(compute_dtype(x.dtype))))
               for x in jax.tree_util.tree_leaves(tree)]
    return sum(squares, jnp.zeros([]))


def tree_l2_norm(tree: PyTree) -> jax.Array:
    """The Euclidean norm of all leaves together.

    Its derivative at a tree of zeros is NaN (the square root's at 0, times 0), as
    ``optax.global_norm``'s; :func:`~jopt.transforms.clip_by_global_norm` avoids it.
    """
    return jnp.sqrt(tree_sum_of_squares(tree))


def tree_scale(scalar: Any, tree: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda x: (scalar * x).astype(x.dtype), tree)


def tree_add(a: PyTree, b: PyTree) -> PyTree:
    return jax.tree_util.tree_map(jnp.add, a, b)


def _map_params(fn: Callable, params: Params, other: PyTree, other_name: str) -> PyTree:
    """``fn(p, o)`` leaf by leaf over ``params``; a ``None`` parameter stays ``None``.

    ``params`` gives the structure, ``None`` counting as a leaf (optax's rule), so a
    ``None`` parameter may face anything, e.g. ``apply_updates(None, updates)`` is None.
    """
    def leaf(p, o):
        return None if p is None else fn(p, o)
    try:
        return jax.tree_util.tree_map(leaf, params, other, is_leaf=lambda x: x is None)
    except ValueError:
        check_same_structure(other_name, other, params, "params")
        raise


def apply_updates(params: Params, updates: Updates) -> Params:
    """``params + updates`` leaf by leaf, each result in its parameter's dtype.

    A ``None`` parameter stays ``None`` (frozen or absent leaves), as in optax.
    """
    return _map_params(lambda p, u: jnp.asarray(p + u).astype(jnp.asarray(p).dtype),
                       params, updates, "updates")


def incremental_update(new_tensors: Params, old_tensors: Params, step_size: Any) -> Params:
    """``step_size * new + (1 - step_size) * old`` leaf by leaf: a Polyak (EMA) target update.

    optax's ``incremental_update`` (e.g. target networks in RL); ``None`` leaves stay.
    """
    rate = hyperparameter(step_size)
    return _map_params(
        lambda new, old: (rate * new + (1 - rate) * old).astype(jnp.asarray(new).dtype),
        new_tensors, old_tensors, "old_tensors")


def periodic_update(new_tensors: Params, old_tensors: Params, steps: Any,
                    update_period: Any) -> Params:
    """``new_tensors`` when ``steps`` is a multiple of ``update_period``, else ``old_tensors``.

    optax's ``periodic_update``; ``steps`` and ``update_period`` may be traced.
    """
    due = jnp.asarray(steps) % update_period == 0
    return _map_params(lambda new, old: jnp.where(due, new, old), new_tensors, old_tensors,
                       "old_tensors")


def find_state(state: OptState, state_type: type) -> Any:
    """The first state of type ``state_type`` inside a (possibly chained) state.

    For example ``find_state(opt_state, AverageState).average`` reads the averaged
    iterate of an :func:`~jopt.transforms.average_iterates` inside a chain.
    """
    if isinstance(state, state_type):
        return state
    if isinstance(state, (tuple, list)):
        for inner in state:
            found = find_state(inner, state_type)
            if found is not None:
                return found
    return None


# ----------------------------------------------------------------------------
# Chains
# ----------------------------------------------------------------------------


_KEYWORDS_BY_CODE: dict = {}
"""The keyword names of plain functions, by code object: a plain function's parameters
are its code's, and ``inspect.signature`` costs more than building the rest of a chain
(every optimizer built is a chain, and a sweep builds one per configuration to check its
values)."""


def _keyword_names(update: Callable) -> Optional[frozenset]:
    """The names ``update`` accepts by keyword, ``None`` if it takes ``**kwargs``, or an
    empty set if it has no signature."""
    plain = isinstance(update, types.FunctionType) and not hasattr(update, "__wrapped__") \
        and not hasattr(update, "__signature__")
    if plain and update.__code__ in _KEYWORDS_BY_CODE:
        return _KEYWORDS_BY_CODE[update.__code__]
    try:
        parameters = inspect.signature(update).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    names = None if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters) else \
        frozenset(p.name for p in parameters if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                           inspect.Parameter.POSITIONAL_OR_KEYWORD))
    if plain:
        if len(_KEYWORDS_BY_CODE) >= 1024:  # code made anew again and again (a notebook's cells)
            _KEYWORDS_BY_CODE.clear()
        _KEYWORDS_BY_CODE[update.__code__] = names
    return names


def _accepted_extra(update: Callable) -> Callable[[dict], dict]:
    """A filter keeping the extra arguments ``update`` accepts by keyword."""
    names = _keyword_names(update)
    if names is None:
        return lambda extra: extra
    names = names - {"updates", "state", "params"}
    return lambda extra: {k: v for k, v in extra.items() if k in names}


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` one after the other, like optax's ``chain``.

    Extra keyword arguments of ``update`` (``value``, ``grad``, ``value_fn``, ...)
    reach each inner transform that accepts them.  The chain keeps one step counter
    and hands it to the inner transforms as ``count``; optax transforms, which do not
    take it, keep their own.
    """
    for i, transform in enumerate(transforms):
        if not (hasattr(transform, "init") and hasattr(transform, "update")):
            raise TypeError(f"chain argument {i} must be a GradientTransformation, got {transform!r}")
    filters = [_accepted_extra(t.update) for t in transforms]

    def init(params):
        return ChainState(zero_count(), tuple(t.init(params) for t in transforms))

    def update(updates, state, params=None, **extra):
        if not isinstance(state, ChainState) or len(state.inner_states) != len(transforms):
            raise ValueError(f"state must be the ChainState of a chain of {len(transforms)} "
                             f"transformations, got {type(state).__name__}")
        extra = {**extra, "count": state.count}
        new_states = []
        for transform, keep, inner in zip(transforms, filters, state.inner_states):
            updates, inner = transform.update(updates, inner, params, **keep(extra))
            new_states.append(inner)
        return updates, ChainState(safe_increment(state.count), tuple(new_states))

    return GradientTransformationExtraArgs(init, update)


# ----------------------------------------------------------------------------
# Stateless transformations and extra arguments (optax's names)
# ----------------------------------------------------------------------------


def init_empty_state(params: Params) -> EmptyState:
    """The ``init`` of a transformation that keeps no state."""
    del params
    return EmptyState()


def with_extra_args_support(transform: GradientTransformation) -> GradientTransformationExtraArgs:
    """``transform`` with an ``update`` that accepts, and ignores, extra keyword arguments.

    A :class:`GradientTransformationExtraArgs` is returned as it is (optax's rule).
    """
    if isinstance(transform, GradientTransformationExtraArgs):
        return transform

    def update(updates, state, params=None, **extra_args):
        del extra_args
        return transform.update(updates, state, params)
    return GradientTransformationExtraArgs(transform.init, update)


def stateless(f: Callable[[Updates, Optional[Params]], Updates]) -> GradientTransformation:
    """A transformation without state: ``u = f(updates, params)`` (optax's ``stateless``)."""
    def update(updates, state, params=None):
        del state
        return f(updates, params), EmptyState()
    return GradientTransformation(init_empty_state, update)


def stateless_with_tree_map(f: Callable[[jax.Array, Optional[jax.Array]], jax.Array]
                            ) -> GradientTransformation:
    """A transformation without state, leaf by leaf: ``u = f(g, p)`` (``p = None`` without params).

    optax's ``stateless_with_tree_map``.
    """
    def leafwise(updates, params):
        if params is None:
            return jax.tree_util.tree_map(lambda g: f(g, None), updates)
        return jax.tree_util.tree_map(f, updates, params)
    return stateless(leafwise)


def set_to_zero() -> GradientTransformation:
    """``u = 0`` leaf by leaf: freezes the parameters it is applied to (optax's ``set_to_zero``).

    With :func:`jopt.partition`, the parameters labelled for it do not move.
    """
    return stateless_with_tree_map(lambda g, p: jnp.zeros_like(g))
