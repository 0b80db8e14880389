"""Building blocks: gradient transformations to chain into optimizers.

Each function returns a :class:`~jopt.base.GradientTransformation` whose state is a
NamedTuple of arrays; each docstring gives the update rule, with ``g`` the incoming
updates (the gradient at the head of a chain) and ``t = 1, 2, ...`` the step.  Names
and arguments are optax's where optax has the transform.

Arithmetic is carried out in at least float32 (see :func:`~jopt.base.hyperparameter`)
and the results are cast back: updates to the dtype of the incoming updates, moments
to their own dtype (the parameters', unless a ``*_dtype`` argument says otherwise).
A transform that needs the step keeps an int32 ``count``; inside :func:`jopt.chain`
it reads the chain's counter instead, passed as the ``count`` extra argument.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from jopt.base import (EmptyState, GradientTransformation, PyTree, ScalarOrSchedule,
                       check, check_finite, check_nonnegative, check_positive, check_same_structure,
                       check_schedule_or_nonnegative, check_unit_interval, hyperparameter,
                       resolve, safe_increment, tree_cast, tree_sum_of_squares, tree_zeros_like,
                       zero_count)

__all__ = [
    "identity", "scale", "scale_by_learning_rate", "scale_by_schedule", "trace",
    "scale_by_adagrad", "scale_by_rss", "scale_by_rms", "scale_by_stddev", "scale_by_adam",
    "add_decayed_weights", "add_l1_penalty", "clip", "clip_by_global_norm", "ema",
    "average_iterates", "ScaleByScheduleState", "TraceState", "ScaleByAdagradState",
    "ScaleByRmsState", "ScaleByAdamState", "EmaState", "AverageState",
    # optax's other scalings
    "scale_by_sign", "scale_by_trust_ratio", "scale_by_param_block_norm",
    "scale_by_param_block_rms", "clip_by_block_rms", "scale_by_amsgrad", "scale_by_adamax",
    "scale_by_nadam", "scale_by_radam", "scale_by_belief", "scale_by_yogi", "scale_by_adan",
    "scale_by_lion", "scale_by_adadelta", "scale_by_novograd", "scale_by_optimistic_gradient",
    "scale_by_rprop", "scale_by_sm3", "add_noise", "scale_by_polyak", "scale_by_factored_rms",
    "ScaleByAmsgradState", "ScaleByNadamState", "ScaleByBeliefState", "ScaleByAdanState",
    "ScaleByLionState", "ScaleByAdaDeltaState", "ScaleByNovogradState",
    "ScaleByOptimisticGradientState", "ScaleByRpropState", "ScaleBySM3State", "AddNoiseState",
    "FactoredState", "LION_MODES", "POLYAK_VARIANTS",
]


class ScaleByScheduleState(NamedTuple):
    count: jax.Array


class TraceState(NamedTuple):
    count: jax.Array
    trace: PyTree


class ScaleByAdagradState(NamedTuple):
    sum_of_squares: PyTree


class ScaleByRmsState(NamedTuple):
    count: jax.Array
    mu: PyTree  # the running mean of g (centered variant only), else ()
    nu: PyTree  # the running mean (or discounted sum) of g²


class ScaleByAdamState(NamedTuple):
    count: jax.Array
    mu: PyTree
    nu: PyTree


class EmaState(NamedTuple):
    count: jax.Array
    ema: PyTree


class AverageState(NamedTuple):
    count: jax.Array
    average: PyTree


# ----------------------------------------------------------------------------
# Small helpers shared by the transforms
# ----------------------------------------------------------------------------


def _step(state_count: jax.Array, count: Optional[jax.Array]) -> jax.Array:
    """The number of updates applied so far: the chain's counter if given."""
    return state_count if count is None else count


def _map(fn: Callable, *trees: PyTree) -> PyTree:
    return jax.tree_util.tree_map(fn, *trees)


def _like(value: jax.Array, reference: jax.Array) -> jax.Array:
    return value.astype(reference.dtype)


def _upcast(value: jax.Array, dtype: Any) -> jax.Array:
    """``value`` in at least ``dtype``'s precision; a complex value stays complex."""
    return value.astype(jnp.promote_types(value.dtype, dtype))


def _abs_sq(value: jax.Array) -> jax.Array:
    """``|value|^2 = value * conj(value)``, real (optax's ``abs_sq``): ``value^2`` if real."""
    if jnp.iscomplexobj(value):
        return jnp.real(value * jnp.conj(value))
    return jnp.square(value)


def _squared(value: jax.Array, dtype: Any) -> jax.Array:
    """``|value|^2`` computed in at least ``dtype``'s precision."""
    return _abs_sq(_upcast(value, dtype))


def _real_dtype(dtype: Any) -> Any:
    """The real dtype of ``dtype``'s precision: float32 for complex64."""
    return jnp.finfo(dtype).dtype


def _real_full_like(tree: PyTree, value: Any = 0.0) -> PyTree:
    """Second-moment accumulators: real arrays shaped like ``tree``, filled with ``value``.

    Second moments of complex parameters are real (``|g|^2``); optax keeps them in the
    complex dtype with a zero imaginary part: the same values.
    """
    return _map(lambda x: jnp.full(jnp.shape(x), value, _real_dtype(x.dtype)), tree)


def _ema_update(decay: jax.Array, average: jax.Array, value: jax.Array) -> jax.Array:
    """``decay * average + (1 - decay) * value``, stored in ``average``'s dtype."""
    return _like(decay * average + (1 - decay) * value, average)


def _bias_corrected(moment: jax.Array, decay: jax.Array, step: jax.Array) -> jax.Array:
    """``moment / (1 - decay ** step)``, the power taken in at least float32."""
    return moment / (1 - decay ** step.astype(decay.dtype))


def _check_updates(updates: PyTree, moments: PyTree) -> None:
    check_same_structure("updates", updates, moments, "the optimizer state (made by init)")


def _require_params(name: str, params: Any) -> None:
    if params is None:
        raise ValueError(f"{name} needs params: call update(updates, state, params)")


# ----------------------------------------------------------------------------
# Stateless scalings
# ----------------------------------------------------------------------------


def identity() -> GradientTransformation:
    """``u = g``."""
    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        return updates, state
    return GradientTransformation(init, update)


def scale(step_size: Any) -> GradientTransformation:
    """``u = step_size * g``."""
    check("step_size", step_size, lambda v: v == v, "a number")

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        factor = hyperparameter(step_size)
        return _map(lambda g: _like(factor * g, g), updates), state
    return GradientTransformation(init, update)


def scale_by_schedule(step_size_fn: Callable[[jax.Array], Any]) -> GradientTransformation:
    """``u = step_size_fn(t - 1) * g``: the schedule read at the step count before this update."""
    if not callable(step_size_fn):
        raise TypeError(f"step_size_fn must be a schedule (a callable), got {step_size_fn!r}")

    def init(params):
        del params
        return ScaleByScheduleState(count=zero_count())

    def update(updates, state, params=None, *, count=None):
        del params
        step = _step(state.count, count)
        factor = hyperparameter(step_size_fn(step))
        return (_map(lambda g: _like(factor * g, g), updates),
                ScaleByScheduleState(count=safe_increment(step)))
    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate: ScalarOrSchedule, *,
                           flip_sign: bool = True) -> GradientTransformation:
    """``u = -learning_rate * g`` (``+`` with ``flip_sign=False``); a number or a schedule."""
    check_schedule_or_nonnegative("learning_rate", learning_rate)
    sign = -1.0 if flip_sign else 1.0
    if callable(learning_rate):
        return scale_by_schedule(lambda count: sign * hyperparameter(learning_rate(count)))
    return scale(sign * learning_rate)


# ----------------------------------------------------------------------------
# Momentum
# ----------------------------------------------------------------------------


def trace(decay: Any, nesterov: bool = False, accumulator_dtype: Any = None, *,
          dampening: Any = 0.0,
          learning_rate: Optional[ScalarOrSchedule] = None) -> GradientTransformation:
    """Heavy-ball momentum, as optax's ``trace`` and torch's ``SGD`` buffer.

    Default (optax; torch with ``dampening=0``)::

        m_t = decay * m_{t-1} + g_t,        u_t = m_t   (nesterov: u_t = g_t + decay * m_t)

    ``dampening=d`` is torch's: ``m_t = decay * m_{t-1} + (1 - d) g_t`` from the second
    step on, ``m_1 = g_1`` undamped.

    ``learning_rate=eta`` puts the rate inside the buffer, as decks 000 and 002–004
    write momentum (``v_t = gamma v_{t-1} + eta_t g_t``; the step is ``-v_t``)::

        m_t = decay * m_{t-1} + eta_t * g_t,     u_t = m_t

    It equals the rate outside for a constant rate and differs once the rate changes
    (FIGURES F20).  The sign is left to the caller (:func:`jopt.sgd` negates).

    ``decay`` may be 1, as in optax: ``m_t`` is then the sum of all gradients so far.
    """
    check("decay", decay, lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    check("dampening", dampening, lambda v: (v >= 0) & (v <= 1), "in [0, 1]")
    if learning_rate is not None:
        check_schedule_or_nonnegative("learning_rate", learning_rate)

    def init(params):
        return TraceState(count=zero_count(),
                          trace=tree_zeros_like(params, dtype=accumulator_dtype))

    def update(updates, state, params=None, *, count=None):
        del params
        _check_updates(updates, state.trace)
        step = _step(state.count, count)
        decay_ = hyperparameter(decay)
        keep = 1 - jnp.where(step == 0, 0.0, hyperparameter(dampening))
        rate = 1.0 if learning_rate is None else hyperparameter(resolve(learning_rate, step))
        new_trace = _map(lambda g, m: _like(decay_ * m + keep * rate * g, m),
                         updates, state.trace)
        if nesterov:
            new_updates = _map(lambda g, m: _like(rate * g + decay_ * m, g), updates, new_trace)
        else:
            new_updates = _map(_like, new_trace, updates)
        return new_updates, TraceState(count=safe_increment(step), trace=new_trace)
    return GradientTransformation(init, update)


def ema(decay: Any, debias: bool = True, accumulator_dtype: Any = None) -> GradientTransformation:
    """An exponential moving average of the updates, as optax's ``ema``::

        m_t = decay * m_{t-1} + (1 - decay) g_t,    u_t = m_t / (1 - decay^t)  (debias)

    Deck 001's momentum ``m(t) = a m(t-1) - (1 - a) grad R``, ``m_hat = m / (1 - a^t)``,
    ``theta += eta m_hat`` is ``chain(ema(a), scale_by_learning_rate(eta))``: its step
    has length ``eta ||g||`` for a constant gradient, not ``eta ||g|| / (1 - a)`` (F18).
    """
    check_unit_interval("decay", decay)

    def init(params):
        return EmaState(count=zero_count(), ema=tree_zeros_like(params, dtype=accumulator_dtype))

    def update(updates, state, params=None, *, count=None):
        del params
        _check_updates(updates, state.ema)
        step = safe_increment(_step(state.count, count))
        decay_ = hyperparameter(decay)
        new_ema = _map(lambda g, m: _ema_update(decay_, m, g), updates, state.ema)
        if debias:
            new_updates = _map(lambda m, g: _like(_bias_corrected(m, decay_, step), g),
                               new_ema, updates)
        else:
            new_updates = _map(_like, new_ema, updates)
        return new_updates, EmaState(count=step, ema=new_ema)
    return GradientTransformation(init, update)


# ----------------------------------------------------------------------------
# Adaptive scalings
# ----------------------------------------------------------------------------


def _inverse_root(value: jax.Array, eps: jax.Array, eps_in_sqrt: bool) -> jax.Array:
    """``1 / sqrt(value + eps)`` or ``1 / (sqrt(value) + eps)``."""
    if eps_in_sqrt:
        return jax.lax.rsqrt(value + eps)
    return 1 / (jnp.sqrt(value) + eps)


def scale_by_adagrad(initial_accumulator_value: Any = 0.0, eps: Any = 1e-10,
                     eps_in_sqrt: bool = False) -> GradientTransformation:
    """Adagrad's per-coordinate scaling (Duchi et al. 2011)::

        G_t = G_{t-1} + g_t²,    u_t = g_t / (sqrt(G_t) + eps)      (eps_in_sqrt=False)
                                 u_t = g_t / sqrt(G_t + eps)         (eps_in_sqrt=True)

    with ``G_0 = initial_accumulator_value``.  The defaults are torch's and the decks'
    (000, 001, 002: ``G_0 = 0``; 001 puts ``delta`` outside the root, 000 inside).
    optax's ``scale_by_rss`` is ``initial_accumulator_value=0.1, eps=1e-7,
    eps_in_sqrt=True`` (and zero where ``G = 0``): its ``G_0 = 0.1`` shrinks the first
    steps of small-gradient coordinates by orders of magnitude (F23).
    """
    check_nonnegative("initial_accumulator_value", initial_accumulator_value)
    check_positive("eps", eps)

    def init(params):
        return ScaleByAdagradState(
            sum_of_squares=_real_full_like(params, initial_accumulator_value))

    def update(updates, state, params=None):
        del params
        _check_updates(updates, state.sum_of_squares)
        eps_ = hyperparameter(eps)
        sums = _map(lambda g, s: _like(s + _squared(g, eps_.dtype), s),
                    updates, state.sum_of_squares)

        def scaled(g, s):
            s = s.astype(eps_.dtype)
            factor = _inverse_root(s, eps_, eps_in_sqrt)
            if eps_in_sqrt:
                factor = jnp.where(s > 0, factor, 0.0)
            return _like(factor * g, g)
        return _map(scaled, updates, sums), ScaleByAdagradState(sum_of_squares=sums)
    return GradientTransformation(init, update)


def scale_by_rss(initial_accumulator_value: Any = 0.1, eps: Any = 1e-7) -> GradientTransformation:
    """optax's name and defaults for Adagrad's scaling: ``scale_by_adagrad(..., eps_in_sqrt=True)``."""
    return scale_by_adagrad(initial_accumulator_value, eps, eps_in_sqrt=True)


def scale_by_rms(decay: Any = 0.9, eps: Any = 1e-8, initial_scale: Any = 0.0,
                 eps_in_sqrt: bool = False, bias_correction: bool = False, *,
                 centered: bool = False, discounted_sum: bool = False,
                 init_with_first_grad: bool = False) -> GradientTransformation:
    """RMSprop's scaling (Tieleman & Hinton 2012)::

        nu_t = decay * nu_{t-1} + (1 - decay) g_t²,       nu_0 = initial_scale
        u_t  = g_t / (sqrt(nu_t) + eps)                    (eps_in_sqrt=True: sqrt(nu_t + eps))

    - ``centered=True`` divides by the standard deviation instead (Graves 2013;
      optax's ``scale_by_stddev``, torch's ``centered``):
      ``mu_t = decay mu_{t-1} + (1 - decay) g_t``, root of ``nu_t - mu_t²``.
    - ``bias_correction=True`` uses ``nu_t / (1 - decay^t)`` (optax's option).
    - ``discounted_sum=True`` drops the ``(1 - decay)`` factor, as deck 001 writes it
      (``gamma²(t) = sum_s rho^(t-s) g_s²``): steady steps shrink by ``sqrt(1 - decay)``.
    - ``init_with_first_grad=True`` starts at ``nu_1 = g_1²``, as deck 002 writes it
      (``sigma^0 = g^0``): no large first step.  With the zero start, a constant
      gradient gives first steps ``eta / sqrt(1 - decay^t)`` (F24).

    eps is outside the root by default, as in torch and the standard rule; optax puts it
    inside (``eps_in_sqrt=True``) and starts from ``initial_scale = 0``.
    """
    check_unit_interval("decay", decay)
    check_positive("eps", eps)
    check_nonnegative("initial_scale", initial_scale)

    def init(params):
        nu = _real_full_like(params, initial_scale)
        mu = tree_zeros_like(params) if centered else ()
        return ScaleByRmsState(count=zero_count(), mu=mu, nu=nu)

    def update(updates, state, params=None, *, count=None):
        del params
        _check_updates(updates, state.nu)
        step = _step(state.count, count)
        first = step == 0
        decay_ = hyperparameter(decay)
        eps_ = hyperparameter(eps)
        weight = 1.0 if discounted_sum else 1 - decay_

        def moment(value, average):
            new = decay_ * average + weight * value
            if init_with_first_grad:
                new = jnp.where(first, value, new)
            return _like(new, average)

        nu = _map(lambda g, v: moment(_squared(g, eps_.dtype), v), updates, state.nu)
        mu = _map(lambda g, m: moment(g, m), updates, state.mu) if centered else ()
        corrected = (lambda v: _bias_corrected(v, decay_, safe_increment(step))) \
            if bias_correction else (lambda v: v)

        def scaled(g, v, m=None):
            v = corrected(v.astype(eps_.dtype))
            if m is not None:
                v = v - _abs_sq(corrected(_upcast(m, eps_.dtype)))
            return _like(g * _inverse_root(v, eps_, eps_in_sqrt), g)

        new_updates = (_map(scaled, updates, nu, mu) if centered else _map(scaled, updates, nu))
        return new_updates, ScaleByRmsState(count=safe_increment(step), mu=mu, nu=nu)
    return GradientTransformation(init, update)


def scale_by_stddev(decay: Any = 0.9, eps: Any = 1e-8, initial_scale: Any = 0.0,
                    eps_in_sqrt: bool = True, bias_correction: bool = False) -> GradientTransformation:
    """optax's name and defaults for centered RMSprop: ``scale_by_rms(..., centered=True)``."""
    return scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=True)


def _moments(b1: jax.Array, b2: jax.Array, updates: PyTree, mu: PyTree,
             nu: PyTree) -> tuple[PyTree, PyTree]:
    """Adam's moments: ``m_t = b1 m_{t-1} + (1 - b1) g_t``, ``v_t = b2 v_{t-1} + (1 - b2) |g_t|^2``."""
    mu = _map(lambda g, m: _ema_update(b1, m, g), updates, mu)
    nu = _map(lambda g, v: _ema_update(b2, v, _squared(g, b2.dtype)), updates, nu)
    return mu, nu


def _corrected_mean(m: jax.Array, g: jax.Array, b1: jax.Array, step: jax.Array,
                    nesterov: bool) -> jax.Array:
    """``m_t / (1 - b1^t)``, or with ``nesterov`` NAdam's look-ahead as optax writes it:
    ``b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)``."""
    m = _upcast(m, b1.dtype)
    if nesterov:
        return (b1 * _bias_corrected(m, b1, safe_increment(step))
                + (1 - b1) * _bias_corrected(_upcast(g, b1.dtype), b1, step))
    return _bias_corrected(m, b1, step)


def _adam_ratio(m: jax.Array, v: jax.Array, eps: jax.Array, eps_root: jax.Array) -> jax.Array:
    """``m / (sqrt(v + eps_root) + eps)``."""
    return m / (jnp.sqrt(v + eps_root) + eps)


def _check_adam(b1: Any, b2: Any, eps: Any, eps_root: Any) -> None:
    check_unit_interval("b1", b1)
    check_unit_interval("b2", b2)
    check_positive("eps", eps)
    check_nonnegative("eps_root", eps_root)


def _adam_state(params: PyTree, mu_dtype: Any = None) -> "ScaleByAdamState":
    """Adam's state before the first update: zero moments (``m`` in ``mu_dtype``, ``v``
    real), no step taken."""
    return ScaleByAdamState(count=zero_count(), mu=tree_zeros_like(params, dtype=mu_dtype),
                            nu=_real_full_like(params))


def _adam_start(updates: PyTree, state: Any, count: Optional[jax.Array],
                *hyperparameters: Any) -> tuple:
    """What an Adam-family update starts from: ``(t, *hyperparameters)``, the step count
    of this update and the hyperparameters as arrays, once the updates are checked
    against the second moment's tree."""
    _check_updates(updates, state.nu)
    return (safe_increment(_step(state.count, count)), *map(hyperparameter, hyperparameters))


def scale_by_adam(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, eps_root: Any = 0.0,
                  mu_dtype: Any = None, *, nesterov: bool = False,
                  bias_correction: bool = True) -> GradientTransformation:
    """Adam's scaling, Kingma & Ba (2015) Algorithm 1 (deck 002 quotes it verbatim)::

        m_t = b1 m_{t-1} + (1 - b1) g_t,     v_t = b2 v_{t-1} + (1 - b2) |g_t|²
        m^_t = m_t / (1 - b1^t),             v^_t = v_t / (1 - b2^t)
        u_t = m^_t / (sqrt(v^_t + eps_root) + eps)

    ``nesterov=True`` is NAdam (Dozat 2016) as optax writes it:
    ``m^_t = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)``.
    ``bias_correction=False`` drops both corrections.  Deck 000's Adam (corrections
    without the power t, eps inside the root) needs no rule of its own: it is
    ``bias_correction=False`` with learning rate ``eta sqrt(1 - b2) / (1 - b1)`` and
    ``eps_root = eps (1 - b2)``, ``eps -> 0`` (F25).  Deck 001's ``+`` is a sign slip.
    For complex parameters ``|g|² = g conj(g)`` (real), as optax.
    """
    _check_adam(b1, b2, eps, eps_root)

    def init(params):
        return _adam_state(params, mu_dtype)

    def update(updates, state, params=None, *, count=None):
        del params
        step, b1_, b2_, eps_, eps_root_ = _adam_start(updates, state, count, b1, b2, eps, eps_root)
        mu, nu = _moments(b1_, b2_, updates, state.mu, state.nu)

        def scaled(g, m, v):
            v = _upcast(v, b2_.dtype)
            if bias_correction:
                m = _corrected_mean(m, g, b1_, step, nesterov)
                v = _bias_corrected(v, b2_, step)
            else:
                m = _upcast(m, b1_.dtype)
                if nesterov:
                    m = b1_ * m + (1 - b1_) * g
            return _like(_adam_ratio(m, v, eps_, eps_root_), g)

        return _map(scaled, updates, mu, nu), ScaleByAdamState(count=step, mu=mu, nu=nu)
    return GradientTransformation(init, update)


# ----------------------------------------------------------------------------
# Weight decay and clipping
# ----------------------------------------------------------------------------


def _mask_tree(mask: Any, params: PyTree) -> PyTree:
    """The boolean mask as a tree like ``params`` (``mask`` a tree or a callable)."""
    tree = mask(params) if callable(mask) else mask
    if isinstance(tree, bool):  # optax's ``mask=True``: every leaf (False: none)
        return _map(lambda _: tree, params)
    check_same_structure("mask", tree, params, "params")
    return tree


def _add_penalty_gradient(name: str, weight: ScalarOrSchedule,
                          direction: Callable[[jax.Array], jax.Array],
                          mask: Union[None, PyTree, Callable]) -> GradientTransformation:
    """``u = g + weight * direction(params)`` on the leaves ``mask`` keeps (all by default);
    ``weight`` a number or a schedule read at the chain's count."""
    scheduled = callable(weight)  # only then a count: a state like optax's
    # A Python literal 0 adds nothing: skip it, so that the program does not read the
    # params for it (optax skips it too).  Not a branch on a hyperparameter's value in
    # the sense of DESIGN.md: the result is the same (for finite params), and a traced or
    # array 0 is computed like any other value.
    literal_zero = isinstance(weight, (int, float)) and not isinstance(weight, bool) and weight == 0

    def init(params):
        del params
        return ScaleByScheduleState(count=zero_count()) if scheduled else EmptyState()

    def update(updates, state, params=None, *, count=None):
        if literal_zero:
            return updates, state
        _require_params(name, params)
        check_same_structure("updates", updates, params, "params")
        step = _step(state.count, count) if scheduled else None
        weight_ = hyperparameter(weight(step) if scheduled else weight)
        penalized = _map(lambda g, p: _like(g + weight_ * direction(p), g), updates, params)
        if mask is not None:
            penalized = _map(lambda keep, d, g: d if keep else g,
                             _mask_tree(mask, params), penalized, updates)
        return penalized, (ScaleByScheduleState(count=safe_increment(step)) if scheduled else state)
    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: ScalarOrSchedule = 0.0,
                        mask: Union[None, PyTree, Callable] = None, *,
                        flip_sign: bool = False) -> GradientTransformation:
    """``u = g + weight_decay * params``: an L2 penalty's gradient, or decoupled decay.

    Placed before the adaptive scaling it is the L2 penalty torch's ``weight_decay``
    adds; placed after it (just before the learning rate) it is the decoupled decay
    of AdamW (Loshchilov & Hutter 2019).  ``weight_decay`` is a number or a schedule
    (as optax's).  ``mask`` (a tree of booleans, ``True`` for all leaves, or a function
    of the params returning one) limits it to some leaves.  ``flip_sign=True``
    subtracts instead, ``u = g - weight_decay * params`` (:func:`jopt.fromage` shrinks
    the parameters so); ``weight_decay`` itself must be >= 0.
    """
    check_schedule_or_nonnegative("weight_decay", weight_decay)
    direction = (lambda p: -p) if flip_sign else (lambda p: p)
    return _add_penalty_gradient("add_decayed_weights", weight_decay, direction, mask)


def add_l1_penalty(weight: Any, mask: Union[None, PyTree, Callable] = None) -> GradientTransformation:
    """``u = g + weight * sign(params)``: the gradient of an L1 penalty ``weight * ||params||_1``.

    At a kink, a parameter exactly 0, it adds 0: ``sign(0) = 0`` is the subgradient of
    the penalty of minimal norm (its subdifferential there is ``[-weight, weight]``).
    ``jax.grad`` picks another one: ``jax.grad(jnp.abs)(0.)`` is 1.0, so differentiating
    ``weight * jnp.sum(jnp.abs(params))`` adds ``+weight`` at 0; away from 0 the two
    agree (deck 004, "Be aware of computational aspects (e.g. ∇‖θ‖₁?)"; F8).  A
    (sub)gradient step with it does not make parameters exactly 0: they oscillate around
    0 by up to about ``learning_rate * weight`` (soft thresholding, a proximal step,
    would).

    Place it before the scaling, as :func:`add_decayed_weights` for an L2 penalty:
    ``chain(add_l1_penalty(weight), sgd(learning_rate))`` descends on
    ``loss + weight * ||params||_1``.  ``mask`` (a tree of booleans, or a function of
    the params returning one) limits it to some leaves.
    """
    check_nonnegative("weight", weight)
    return _add_penalty_gradient("add_l1_penalty", weight, jnp.sign, mask)


def clip(max_delta: Any) -> GradientTransformation:
    """Clip every element of the updates to ``[-max_delta, max_delta]``: ``jnp.clip``.

    ``clip`` changes only elements whose magnitude exceeds ``max_delta``: a zero
    gradient passes as 0, and an element at the bound as it is (F8, F11).  At a kink
    (derivatives with respect to the updates, e.g. when differentiating through
    training): at ``|g| < max_delta``, 0 included, the derivative is 1; beyond the
    bound it is 0; at ``|g| = max_delta`` exactly it is 0.5, ``jnp.clip``'s tie
    between the two sides (``jnp.minimum``/``jnp.maximum`` split ties evenly).
    """
    check_positive("max_delta", max_delta)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        bound = hyperparameter(max_delta)
        return _map(lambda g: _like(jnp.clip(g, -bound, bound), g), updates), state
    return GradientTransformation(init, update)


def clip_by_global_norm(max_norm: Any) -> GradientTransformation:
    """``u = g * min(1, max_norm / ||g||)``, ``||g||`` the norm of all leaves together.

    The values are optax's.  At a kink: a zero gradient passes as 0, and the Jacobian
    with respect to ``g`` there is the identity (the clip is inactive), where
    ``optax.clip_by_global_norm``'s is NaN (the square root's derivative at 0).  The
    norm is ``where(s == 0, 0, sqrt(where(s == 0, 1, s)))`` of ``s = ||g||^2``: the
    same value, but the square root never sees the 0 it cannot differentiate.  At
    ``||g|| = max_norm`` exactly the factor is ``max_norm / ||g|| = 1`` and its
    derivative is the scaling branch's.
    """
    check_positive("max_norm", max_norm)

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        del params
        bound = hyperparameter(max_norm)
        squared = tree_sum_of_squares(updates)
        zero = squared == 0
        norm = jnp.where(zero, 0.0, jnp.sqrt(jnp.where(zero, 1.0, squared)))
        factor = jnp.where(norm < bound, 1.0, bound / jnp.where(norm < bound, 1.0, norm))
        return _map(lambda g: _like(factor * g, g), updates), state
    return GradientTransformation(init, update)


# ----------------------------------------------------------------------------
# Averages of the iterates
# ----------------------------------------------------------------------------


def average_iterates(decay: Any = None, start: Any = 0,
                     accumulator_dtype: Any = None) -> GradientTransformation:
    """A Polyak or exponential moving average of the iterates; the updates pass unchanged.

    Put it last in a chain, so that it sees the final updates: with ``x_t`` the
    parameters after ``t`` updates (``x_t = params + updates``), it keeps

        Polyak (``decay=None``):  a_t = mean(x_s for start <= s <= t)
        EMA (``decay`` given):    a_t = decay a_{t-1} + (1 - decay) x_t

    and ``a_t = x_t`` while ``t <= start``.  Read it with
    ``jopt.find_state(state, AverageState).average``.  Deck 001: "iterate (Polyak)
    averaging"; Polyak & Juditsky (1992).
    """
    if decay is not None:
        check_unit_interval("decay", decay)
    check_nonnegative("start", start)

    def init(params):
        return AverageState(count=zero_count(), average=tree_cast(params, accumulator_dtype))

    def update(updates, state, params=None, *, count=None):
        _require_params("average_iterates", params)
        _check_updates(updates, state.average)
        step = safe_increment(_step(state.count, count))
        t = hyperparameter(step)
        start_ = hyperparameter(start)
        if decay is None:
            weight = 1 / jnp.maximum(t - start_ + 1, 1.0)
        else:
            weight = jnp.where(t <= start_, 1.0, 1 - hyperparameter(decay))
        average = _map(lambda a, p, u: _like(a + weight * (_upcast(p + u, weight.dtype) - a), a),
                       state.average, params, updates)
        return updates, AverageState(count=step, average=average)
    return GradientTransformation(init, update)


# ----------------------------------------------------------------------------
# optax's other scalings (alias.py's optimizers are chains of these)
# ----------------------------------------------------------------------------


def _check_closed_unit_interval(name: str, value: Any) -> None:
    check(name, value, lambda v: (v >= 0) & (v <= 1), "in [0, 1]")


def _stateless(scaled: Callable[..., PyTree],
               needs_params: Optional[str] = None) -> GradientTransformation:
    """A transform without state: ``u = scaled(updates, params)``."""
    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        if needs_params is not None:
            _require_params(needs_params, params)
        return scaled(updates, params), state
    return GradientTransformation(init, update)


def scale_by_sign() -> GradientTransformation:
    """``u = sign(g)`` (for complex ``g``, ``g / |g|``); signSGD, Bernstein et al. (2018)."""
    return _stateless(lambda updates, params: _map(jnp.sign, updates))


def _safe_norm(x: jax.Array, min_norm: jax.Array, mean: bool = False) -> jax.Array:
    """``max(||x||, min_norm)`` (the root mean square with ``mean``), whose derivative is
    0, not NaN, where the norm is at most ``min_norm`` (0 included)."""
    reduce = jnp.mean if mean else jnp.sum
    squared = reduce(_abs_sq(x))
    small = squared <= jnp.square(min_norm)
    return jnp.where(small, min_norm, jnp.sqrt(jnp.where(small, 1.0, squared)))


def scale_by_trust_ratio(min_norm: Any = 0.0, trust_coefficient: Any = 1.0, eps: Any = 0.0, *,
                         mask: Union[None, PyTree, Callable] = None) -> GradientTransformation:
    """The layer-wise trust ratio of LARS (You et al. 2017) and LAMB (You et al. 2020)::

        u = g * trust_coefficient * ||p|| / (||g|| + eps)     per leaf; u = g if a norm is 0

    norms floored at ``min_norm`` (optax's ``scale_by_trust_ratio``).  ``mask`` (as
    :func:`add_decayed_weights`'s) limits it to some leaves; the others pass unchanged.
    """
    check_nonnegative("min_norm", min_norm)
    check_nonnegative("trust_coefficient", trust_coefficient)
    check_nonnegative("eps", eps)

    def scaled(updates, params):
        min_norm_, coefficient = hyperparameter(min_norm), hyperparameter(trust_coefficient)
        eps_ = hyperparameter(eps)

        def leaf(g, p):
            param_norm = _safe_norm(_upcast(p, min_norm_.dtype), min_norm_)
            update_norm = _safe_norm(_upcast(g, min_norm_.dtype), min_norm_)
            zero = (param_norm == 0) | (update_norm == 0)
            ratio = coefficient * param_norm / jnp.where(zero, 1.0, update_norm + eps_)
            return _like(g * jnp.where(zero, 1.0, ratio), g)
        scaled = _map(leaf, updates, params)
        if mask is None:
            return scaled
        return _map(lambda keep, s, g: s if keep else g, _mask_tree(mask, params), scaled, updates)
    return _stateless(scaled, needs_params="scale_by_trust_ratio")


def _scale_by_param_block(name: str, min_scale: Any, mean: bool) -> GradientTransformation:
    check_nonnegative("min_scale", min_scale)

    def scaled(updates, params):
        min_scale_ = hyperparameter(min_scale)
        return _map(lambda g, p: _like(g * _safe_norm(_upcast(p, min_scale_.dtype), min_scale_,
                                                      mean), g), updates, params)
    return _stateless(scaled, needs_params=name)


def scale_by_param_block_norm(min_scale: Any = 1e-3) -> GradientTransformation:
    """``u = g * max(||p||, min_scale)`` per leaf (Adafactor's parameter scale)."""
    return _scale_by_param_block("scale_by_param_block_norm", min_scale, mean=False)


def scale_by_param_block_rms(min_scale: Any = 1e-3) -> GradientTransformation:
    """``u = g * max(rms(p), min_scale)`` per leaf (Adafactor's parameter scale;
    Shazeer & Stern 2018, "relative step size")."""
    return _scale_by_param_block("scale_by_param_block_rms", min_scale, mean=True)


def clip_by_block_rms(threshold: Any) -> GradientTransformation:
    """``u = g / max(1, rms(g) / threshold)`` per leaf (Adafactor's update clipping)."""
    check_positive("threshold", threshold)

    def scaled(updates, params):
        del params
        threshold_ = hyperparameter(threshold)

        def leaf(g):
            rms = _safe_norm(_upcast(g, threshold_.dtype), jnp.zeros_like(threshold_), mean=True)
            return _like(g / jnp.maximum(1.0, rms / threshold_), g)
        return _map(leaf, updates)
    return _stateless(scaled)


class ScaleByAmsgradState(NamedTuple):
    count: jax.Array
    mu: PyTree
    nu: PyTree
    nu_max: PyTree


def scale_by_amsgrad(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, eps_root: Any = 0.0,
                     mu_dtype: Any = None, bias_correction_mu: bool = True,
                     bias_correction_nu: bool = True, *,
                     max_before_correction: bool = False) -> GradientTransformation:
    """AMSGrad (Reddi, Kale & Kumar 2018): Adam with the running maximum of ``v``::

        m_t, v_t as Adam's;  v^max_t = max(v^max_{t-1}, v_t / (1 - b2^t))
        u_t = (m_t / (1 - b1^t)) / (sqrt(v^max_t + eps_root) + eps)

    optax's rule takes the maximum of the bias-corrected ``v``.  torch's
    ``Adam(amsgrad=True)`` takes it of the raw ``v`` and corrects the maximum by the
    current step's factor, ``sqrt(max(v^max, v_t) / (1 - b2^t))``:
    ``max_before_correction=True``.  ``bias_correction_mu/nu=False`` drop a correction.
    """
    _check_adam(b1, b2, eps, eps_root)

    def init(params):
        return ScaleByAmsgradState(count=zero_count(), mu=tree_zeros_like(params, dtype=mu_dtype),
                                   nu=_real_full_like(params), nu_max=_real_full_like(params))

    def update(updates, state, params=None, *, count=None):
        del params
        step, b1_, b2_, eps_, eps_root_ = _adam_start(updates, state, count, b1, b2, eps, eps_root)
        mu, nu = _moments(b1_, b2_, updates, state.mu, state.nu)
        correct_nu = (lambda v: _bias_corrected(v, b2_, step)) if bias_correction_nu \
            else (lambda v: v)

        def new_max(v, v_max):
            v = _upcast(v, b2_.dtype)
            return _like(jnp.maximum(v_max, v if max_before_correction else correct_nu(v)), v_max)

        nu_max = _map(new_max, nu, state.nu_max)

        def scaled(g, m, v_max):
            m = _corrected_mean(m, g, b1_, step, False) if bias_correction_mu \
                else _upcast(m, b1_.dtype)
            v_max = _upcast(v_max, b2_.dtype)
            v = correct_nu(v_max) if max_before_correction else v_max
            return _like(_adam_ratio(m, v, eps_, eps_root_), g)

        return (_map(scaled, updates, mu, nu_max),
                ScaleByAmsgradState(count=step, mu=mu, nu=nu, nu_max=nu_max))
    return GradientTransformation(init, update)


def scale_by_adamax(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *,
                    eps_in_max: bool = True) -> GradientTransformation:
    """AdaMax, the infinity-norm Adam (Kingma & Ba 2015, Algorithm 2)::

        m_t = b1 m_{t-1} + (1 - b1) g_t,    u_t = max(b2 u_{t-1}, |g_t| + eps)
        step = (m_t / (1 - b1^t)) / u_t

    eps inside the maximum as optax and torch's ``Adamax``; the paper has no eps, and
    ``eps_in_max=False`` adds it to the denominator instead, ``m^_t / (u_t + eps)`` with
    ``u_t = max(b2 u_{t-1}, |g_t|)`` (Keras's placement).
    """
    check_unit_interval("b1", b1)
    check_unit_interval("b2", b2)
    check_positive("eps", eps)

    def init(params):
        return _adam_state(params)

    def update(updates, state, params=None, *, count=None):
        del params
        step, b1_, b2_, eps_ = _adam_start(updates, state, count, b1, b2, eps)
        mu = _map(lambda g, m: _ema_update(b1_, m, g), updates, state.mu)
        floor = eps_ if eps_in_max else 0.0
        nu = _map(lambda g, u: _like(jnp.maximum(b2_ * u, jnp.abs(_upcast(g, b2_.dtype)) + floor),
                                     u), updates, state.nu)
        shift = 0.0 if eps_in_max else eps_
        new_updates = _map(lambda g, m, u: _like(_corrected_mean(m, g, b1_, step, False)
                                                 / (_upcast(u, b2_.dtype) + shift), g),
                           updates, mu, nu)
        return new_updates, ScaleByAdamState(count=step, mu=mu, nu=nu)
    return GradientTransformation(init, update)


class ScaleByNadamState(NamedTuple):
    count: jax.Array
    mu_product: jax.Array  # prod_{s <= t} mu_s
    mu: PyTree
    nu: PyTree


def scale_by_nadam(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, eps_root: Any = 0.0,
                   mu_dtype: Any = None, momentum_decay: Any = 4e-3) -> GradientTransformation:
    """NAdam with Dozat's (2016) momentum schedule, as torch's ``NAdam``::

        mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay)),   P_t = mu_1 ... mu_t
        m_t, v_t as Adam's,   v^_t = v_t / (1 - b2^t)
        u_t = ((1 - mu_t) g_t / (1 - P_t) + mu_{t+1} m_t / (1 - P_t mu_{t+1}))
              / (sqrt(v^_t + eps_root) + eps)

    With a constant ``mu_t = b1`` this is optax's NAdam, ``scale_by_adam(nesterov=True)``;
    :func:`jopt.nadam` uses this transform when given ``momentum_decay``.
    """
    _check_adam(b1, b2, eps, eps_root)
    check_nonnegative("momentum_decay", momentum_decay)

    def init(params):
        one = jnp.ones([], hyperparameter(b1).dtype)
        return ScaleByNadamState(count=zero_count(), mu_product=one,
                                 mu=tree_zeros_like(params, dtype=mu_dtype),
                                 nu=_real_full_like(params))

    def update(updates, state, params=None, *, count=None):
        del params
        step, b1_, b2_, eps_, eps_root_ = _adam_start(updates, state, count, b1, b2, eps, eps_root)
        decay = hyperparameter(momentum_decay)
        t = hyperparameter(step)
        mu_now = b1_ * (1 - 0.5 * 0.96 ** (t * decay))
        mu_next = b1_ * (1 - 0.5 * 0.96 ** ((t + 1) * decay))
        product = state.mu_product * mu_now
        mu, nu = _moments(b1_, b2_, updates, state.mu, state.nu)

        def scaled(g, m, v):
            mean = ((1 - mu_now) * _upcast(g, b1_.dtype) / (1 - product)
                    + mu_next * _upcast(m, b1_.dtype) / (1 - product * mu_next))
            v = _bias_corrected(_upcast(v, b2_.dtype), b2_, step)
            return _like(_adam_ratio(mean, v, eps_, eps_root_), g)

        return (_map(scaled, updates, mu, nu),
                ScaleByNadamState(count=step, mu_product=_like(product, state.mu_product), mu=mu,
                                  nu=nu))
    return GradientTransformation(init, update)


def scale_by_radam(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, eps_root: Any = 0.0,
                   threshold: Any = 5.0, *, nesterov: bool = False,
                   eps_before_correction: bool = False) -> GradientTransformation:
    """Rectified Adam (Liu et al. 2020, Algorithm 2)::

        rho_inf = 2 / (1 - b2) - 1,    rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        u_t = r_t m^_t / (sqrt(v^_t + eps_root) + eps)   if rho_t >= threshold,  else m^_t

    (``m^``, ``v^`` Adam's bias-corrected moments; ``nesterov`` as :func:`scale_by_adam`.)
    torch's ``RAdam`` adds eps before the correction,
    ``r_t m^_t sqrt(1 - b2^t) / (sqrt(v_t + eps_root) + eps)``: ``eps_before_correction=True``
    (torch also tests ``rho_t > 5`` where optax tests ``>=``; they differ only at equality).
    """
    _check_adam(b1, b2, eps, eps_root)
    check_finite("threshold", threshold)

    def init(params):
        return _adam_state(params)

    def update(updates, state, params=None, *, count=None):
        del params
        step, b1_, b2_, eps_, eps_root_ = _adam_start(updates, state, count, b1, b2, eps, eps_root)
        threshold_ = hyperparameter(threshold)
        mu, nu = _moments(b1_, b2_, updates, state.mu, state.nu)
        t = hyperparameter(step)
        rho_inf = 2 / (1 - b2_) - 1
        b2t = b2_ ** t
        rho = rho_inf - 2 * t * b2t / (1 - b2t)
        rectify = rho >= threshold_
        # the square root only where it is taken: no NaN, nor a NaN derivative, elsewhere
        ratio = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
        r = jnp.sqrt(jnp.where(rectify, ratio, 1.0))

        def scaled(g, m, v):
            m = _corrected_mean(m, g, b1_, step, nesterov)
            v = _upcast(v, b2_.dtype)
            if eps_before_correction:
                adapted = m * jnp.sqrt(1 - b2t) / (jnp.sqrt(v + eps_root_) + eps_)
            else:
                adapted = _adam_ratio(m, _bias_corrected(v, b2_, step), eps_, eps_root_)
            return _like(jnp.where(rectify, r * adapted, m), g)

        return _map(scaled, updates, mu, nu), ScaleByAdamState(count=step, mu=mu, nu=nu)
    return GradientTransformation(init, update)


class ScaleByBeliefState(NamedTuple):
    count: jax.Array
    mu: PyTree
    nu: PyTree


def scale_by_belief(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-16, eps_root: Any = 1e-16, *,
                    nesterov: bool = False) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020, Algorithm 2): Adam with the variance of the
    gradient about its running mean (the "belief") in place of ``v``::

        m_t = b1 m_{t-1} + (1 - b1) g_t
        s_t = b2 s_{t-1} + (1 - b2) |g_t - m_t|² + eps_root
        u_t = (m_t / (1 - b1^t)) / (sqrt(s_t / (1 - b2^t)) + eps)
    """
    _check_adam(b1, b2, eps, eps_root)

    def init(params):
        return ScaleByBeliefState(count=zero_count(), mu=tree_zeros_like(params),
                                  nu=_real_full_like(params))

    def update(updates, state, params=None, *, count=None):
        del params
        step, b1_, b2_, eps_, eps_root_ = _adam_start(updates, state, count, b1, b2, eps, eps_root)
        mu = _map(lambda g, m: _ema_update(b1_, m, g), updates, state.mu)
        nu = _map(lambda g, m, s: _like(b2_ * s + (1 - b2_) * _squared(g - m, b2_.dtype)
                                        + eps_root_, s), updates, mu, state.nu)
        new_updates = _map(
            lambda g, m, s: _like(_adam_ratio(_corrected_mean(m, g, b1_, step, nesterov),
                                              _bias_corrected(_upcast(s, b2_.dtype), b2_, step),
                                              eps_, 0.0), g),
            updates, mu, nu)
        return new_updates, ScaleByBeliefState(count=step, mu=mu, nu=nu)
    return GradientTransformation(init, update)


def scale_by_yogi(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-3, eps_root: Any = 0.0,
                  initial_accumulator_value: Any = 1e-6) -> GradientTransformation:
    """Yogi (Zaheer et al. 2018): Adam whose ``v`` moves additively toward ``g²``::

        m_t = b1 m_{t-1} + (1 - b1) g_t
        v_t = v_{t-1} - (1 - b2) sign(v_{t-1} - |g_t|²) |g_t|²
        u_t = (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t) + eps_root) + eps)

    with ``m_0 = v_0 = initial_accumulator_value`` (optax's start).
    """
    _check_adam(b1, b2, eps, eps_root)
    check_nonnegative("initial_accumulator_value", initial_accumulator_value)

    def init(params):
        start = _map(lambda p: jnp.full_like(p, initial_accumulator_value), params)
        return ScaleByAdamState(count=zero_count(), mu=start,
                                nu=_real_full_like(params, initial_accumulator_value))

    def update(updates, state, params=None, *, count=None):
        del params
        step, b1_, b2_, eps_, eps_root_ = _adam_start(updates, state, count, b1, b2, eps, eps_root)
        mu = _map(lambda g, m: _ema_update(b1_, m, g), updates, state.mu)

        def second(g, v):
            square, v32 = _squared(g, b2_.dtype), _upcast(v, b2_.dtype)
            return _like(v32 - (1 - b2_) * jnp.sign(v32 - square) * square, v)

        nu = _map(second, updates, state.nu)
        new_updates = _map(
            lambda g, m, v: _like(_adam_ratio(_corrected_mean(m, g, b1_, step, False),
                                              _bias_corrected(_upcast(v, b2_.dtype), b2_, step),
                                              eps_, eps_root_), g),
            updates, mu, nu)
        return new_updates, ScaleByAdamState(count=step, mu=mu, nu=nu)
    return GradientTransformation(init, update)


class ScaleByAdanState(NamedTuple):
    count: jax.Array
    m: PyTree
    v: PyTree
    n: PyTree
    g: PyTree  # the previous gradient


def scale_by_adan(b1: Any = 0.98, b2: Any = 0.92, b3: Any = 0.99, eps: Any = 1e-8,
                  eps_root: Any = 0.0) -> GradientTransformation:
    """Adan (Xie et al. 2022, Algorithm 1), with optax's names (``b_i`` = the paper's
    ``1 - beta_i``)::

        d_t = g_t - g_{t-1}   (d_1 = 0)
        m_t = b1 m_{t-1} + (1 - b1) g_t,      v_t = b2 v_{t-1} + (1 - b2) d_t
        n_t = b3 n_{t-1} + (1 - b3) |g_t + (1 - b2) d_t|²
        u_t = (m^_t + (1 - b2) v^_t) / (sqrt(n^_t + eps_root) + eps)

    ``^`` the bias corrections ``/ (1 - b^t)``.
    """
    for name, value in (("b1", b1), ("b2", b2), ("b3", b3)):
        check_unit_interval(name, value)
    check_positive("eps", eps)
    check_nonnegative("eps_root", eps_root)

    def init(params):
        return ScaleByAdanState(count=zero_count(), m=tree_zeros_like(params),
                                v=tree_zeros_like(params),
                                n=_real_full_like(params), g=tree_zeros_like(params))

    def update(updates, state, params=None, *, count=None):
        del params
        _check_updates(updates, state.m)
        previous = _step(state.count, count)
        step = safe_increment(previous)
        b1_, b2_, b3_ = hyperparameter(b1), hyperparameter(b2), hyperparameter(b3)
        eps_, eps_root_ = hyperparameter(eps), hyperparameter(eps_root)
        diff = _map(lambda g, p: jnp.where(previous == 0, jnp.zeros_like(g), g - p),
                    updates, state.g)
        m = _map(lambda g, a: _ema_update(b1_, a, g), updates, state.m)
        v = _map(lambda d, a: _ema_update(b2_, a, d), diff, state.v)
        n = _map(lambda g, d, a: _ema_update(b3_, a, _squared(g + (1 - b2_) * d, b3_.dtype)),
                 updates, diff, state.n)

        def scaled(g, m_, v_, n_):
            mean = (_bias_corrected(_upcast(m_, b1_.dtype), b1_, step)
                    + (1 - b2_) * _bias_corrected(_upcast(v_, b2_.dtype), b2_, step))
            n_ = _bias_corrected(_upcast(n_, b3_.dtype), b3_, step)
            return _like(_adam_ratio(mean, n_, eps_, eps_root_), g)

        return _map(scaled, updates, m, v, n), ScaleByAdanState(count=step, m=m, v=v, n=n,
                                                                g=updates)
    return GradientTransformation(init, update)


class ScaleByLionState(NamedTuple):
    count: jax.Array
    mu: PyTree


LION_MODES = ("hard", "smooth", "refined")


def scale_by_lion(b1: Any = 0.9, b2: Any = 0.99, mu_dtype: Any = None, *, mode: str = "hard",
                  smooth_beta: Any = 1.0) -> GradientTransformation:
    """Lion (Chen et al. 2023, "Symbolic discovery of optimization algorithms")::

        c_t = b1 m_{t-1} + (1 - b1) g_t,   u_t = sign(c_t),   m_t = b2 m_{t-1} + (1 - b2) g_t

    ``mode`` as optax's: ``"smooth"`` is ``tanh(smooth_beta c_t)``, ``"refined"`` is
    ``c_t`` where ``|c_t| < 1`` and ``sign(c_t)`` elsewhere.
    """
    check_unit_interval("b1", b1)
    check_unit_interval("b2", b2)
    check_positive("smooth_beta", smooth_beta)
    if mode not in LION_MODES:
        raise ValueError(f"mode must be one of {LION_MODES}, got {mode!r}")

    def direction(c, beta):
        if mode == "smooth":
            return jnp.tanh(beta * c)
        if mode == "refined":
            return jnp.where(jnp.abs(c) < 1.0, c, jnp.sign(c))
        return jnp.sign(c)

    def init(params):
        return ScaleByLionState(count=zero_count(), mu=tree_zeros_like(params, dtype=mu_dtype))

    def update(updates, state, params=None, *, count=None):
        del params
        _check_updates(updates, state.mu)
        step = _step(state.count, count)
        b1_, b2_, beta = hyperparameter(b1), hyperparameter(b2), hyperparameter(smooth_beta)
        new_updates = _map(lambda g, m: _like(direction(b1_ * m + (1 - b1_) * g, beta), g),
                           updates, state.mu)
        mu = _map(lambda g, m: _ema_update(b2_, m, g), updates, state.mu)
        return new_updates, ScaleByLionState(count=safe_increment(step), mu=mu)
    return GradientTransformation(init, update)


class ScaleByAdaDeltaState(NamedTuple):
    e_g: PyTree  # the running mean of |g|²
    e_x: PyTree  # the running mean of |step|²


def scale_by_adadelta(rho: Any = 0.9, eps: Any = 1e-6) -> GradientTransformation:
    """Adadelta (Zeiler 2012, Algorithm 1), as optax and torch's ``Adadelta``::

        E[g²]_t = rho E[g²]_{t-1} + (1 - rho) |g_t|²
        u_t = sqrt(E[dx²]_{t-1} + eps) / sqrt(E[g²]_t + eps) * g_t
        E[dx²]_t = rho E[dx²]_{t-1} + (1 - rho) |u_t|²

    For complex parameters jopt squares magnitudes (``|g|²``) where optax 0.2.8's
    Adadelta squares the complex number (``g**2``).
    """
    check_unit_interval("rho", rho)
    check_positive("eps", eps)

    def init(params):
        return ScaleByAdaDeltaState(e_g=_real_full_like(params), e_x=_real_full_like(params))

    def update(updates, state, params=None):
        del params
        _check_updates(updates, state.e_g)
        rho_, eps_ = hyperparameter(rho), hyperparameter(eps)
        e_g = _map(lambda g, e: _ema_update(rho_, e, _squared(g, rho_.dtype)), updates, state.e_g)
        new_updates = _map(lambda g, eg, ex: _like(
            jnp.sqrt(_upcast(ex, eps_.dtype) + eps_) / jnp.sqrt(_upcast(eg, eps_.dtype) + eps_)
            * g, g), updates, e_g, state.e_x)
        e_x = _map(lambda u, e: _ema_update(rho_, e, _squared(u, rho_.dtype)),
                   new_updates, state.e_x)
        return new_updates, ScaleByAdaDeltaState(e_g=e_g, e_x=e_x)
    return GradientTransformation(init, update)


class ScaleByNovogradState(NamedTuple):
    count: jax.Array
    mu: PyTree
    nu: PyTree  # one scalar per leaf: the running mean of ||g||²


def scale_by_novograd(b1: Any = 0.9, b2: Any = 0.25, eps: Any = 1e-8, eps_root: Any = 0.0,
                      weight_decay: Any = 0.0, mu_dtype: Any = None) -> GradientTransformation:
    """NovoGrad (Ginsburg et al. 2019, Algorithm 1): layer-wise second moments::

        nu_t = b2 nu_{t-1} + (1 - b2) ||g_t||²                 (per leaf; nu_1 = ||g_1||²)
        m_t = b1 m_{t-1} + g_t / (sqrt(nu_t + eps_root) + eps) + weight_decay p_t
                                                               (m_1 without b1 m_0)
    """
    check_unit_interval("b1", b1)
    check_unit_interval("b2", b2)
    check_positive("eps", eps)
    check_nonnegative("eps_root", eps_root)
    check_nonnegative("weight_decay", weight_decay)

    def init(params):
        return ScaleByNovogradState(count=zero_count(), mu=tree_zeros_like(params, dtype=mu_dtype),
                                    nu=_map(lambda p: jnp.zeros([], _real_dtype(p.dtype)), params))

    def update(updates, state, params=None, *, count=None):
        _require_params("scale_by_novograd", params)
        _check_updates(updates, state.mu)
        first = _step(state.count, count) == 0
        b1_, b2_ = hyperparameter(b1), hyperparameter(b2)
        eps_, eps_root_ = hyperparameter(eps), hyperparameter(eps_root)
        decay = hyperparameter(weight_decay)

        def second(g, n):
            norm2 = jnp.sum(_squared(g, b2_.dtype))
            return _like(jnp.where(first, norm2, b2_ * n + (1 - b2_) * norm2), n)

        nu = _map(second, updates, state.nu)

        def first_moment(g, p, m, n):
            step = g / (jnp.sqrt(_upcast(n, eps_.dtype) + eps_root_) + eps_) + decay * p
            return _like(jnp.where(first, step, b1_ * m + step), m)

        mu = _map(first_moment, updates, params, state.mu, nu)
        new_updates = _map(_like, mu, updates)
        return new_updates, ScaleByNovogradState(count=safe_increment(_step(state.count, count)),
                                                 mu=mu, nu=nu)
    return GradientTransformation(init, update)


class ScaleByOptimisticGradientState(NamedTuple):
    count: jax.Array
    previous_gradient: PyTree


def scale_by_optimistic_gradient(alpha: Any = 1.0, beta: Any = 1.0) -> GradientTransformation:
    """Optimistic gradient (Popov 1980; Daskalakis et al. 2018; Mokhtari et al. 2020)::

        u_t = (alpha + beta) g_t - beta g_{t-1}      (g_0 = g_1: u_1 = alpha g_1)

    optax marks the first step with a boolean; jopt reads the step count.
    """
    check_nonnegative("alpha", alpha)
    check_nonnegative("beta", beta)

    def init(params):
        return ScaleByOptimisticGradientState(count=zero_count(),
                                              previous_gradient=tree_zeros_like(params))

    def update(updates, state, params=None, *, count=None):
        del params
        _check_updates(updates, state.previous_gradient)
        step = _step(state.count, count)
        alpha_, beta_ = hyperparameter(alpha), hyperparameter(beta)
        new_updates = _map(
            lambda g, previous: _like((alpha_ + beta_) * g
                                      - beta_ * jnp.where(step == 0, g, previous), g),
            updates, state.previous_gradient)
        return new_updates, ScaleByOptimisticGradientState(count=safe_increment(step),
                                                           previous_gradient=updates)
    return GradientTransformation(init, update)


class ScaleByRpropState(NamedTuple):
    step_sizes: PyTree
    prev_updates: PyTree  # the last step, step_size * sign(g) (0 after a sign change)


def scale_by_rprop(learning_rate: Any, eta_minus: Any = 0.5, eta_plus: Any = 1.2,
                   min_step_size: Any = 1e-6, max_step_size: Any = 50.0, *,
                   lagged: bool = True) -> GradientTransformation:
    """Rprop (Riedmiller & Braun 1993; Igel & Hüsken's Rprop⁻ without backtracking)::

        s = g_t * g_{t-1}
        Delta_t = clip(Delta_{t-1} * (eta_plus if s > 0, eta_minus if s < 0), min, max)
                  (unchanged where s = 0),     Delta_0 = learning_rate
        step_t = Delta_t sign(g_t), and 0 where s < 0 (then g_t counts as 0 next time)

    The sign is left to the caller (:func:`jopt.rprop` negates).  optax 0.2.8 returns
    the previous step, ``u_t = step_{t-1}`` (its first update is 0): ``lagged=True``,
    the default.  ``lagged=False`` returns ``u_t = step_t``, as the paper and torch's
    ``Rprop`` (which also clips ``Delta`` where ``s = 0``, which matters only for a
    ``learning_rate`` outside ``[min_step_size, max_step_size]``).
    """
    check_positive("learning_rate", learning_rate)
    check_positive("eta_minus", eta_minus)
    check_positive("eta_plus", eta_plus)
    check_nonnegative("min_step_size", min_step_size)
    check_positive("max_step_size", max_step_size)

    def init(params):
        return ScaleByRpropState(step_sizes=_map(lambda p: jnp.full_like(p, learning_rate), params),
                                 prev_updates=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        _check_updates(updates, state.prev_updates)
        minus, plus = hyperparameter(eta_minus), hyperparameter(eta_plus)
        low, high = hyperparameter(min_step_size), hyperparameter(max_step_size)
        signs = _map(jnp.multiply, updates, state.prev_updates)  # only its sign is read
        step_sizes = _map(lambda s, size: _like(jnp.where(
            s == 0, size, jnp.clip(size * jnp.where(s > 0, plus, minus), low, high)), size),
            signs, state.step_sizes)
        steps = _map(lambda s, g, size: jnp.where(s < 0, jnp.zeros_like(g), size * jnp.sign(g)),
                     signs, updates, step_sizes)
        if lagged:
            new_updates = _map(lambda s, prev: jnp.where(s < 0, jnp.zeros_like(prev), prev),
                               signs, state.prev_updates)
        else:
            new_updates = steps
        return new_updates, ScaleByRpropState(step_sizes=step_sizes, prev_updates=steps)
    return GradientTransformation(init, update)


class ScaleBySM3State(NamedTuple):
    mu: PyTree  # per leaf, a list: one accumulator per axis (one of the leaf's shape if ndim < 2)
    nu: PyTree  # the momentum


def scale_by_sm3(b1: Any = 0.9, b2: Any = 1.0, eps: Any = 1e-8) -> GradientTransformation:
    """SM3-II (Anil et al. 2019, "Memory-efficient adaptive optimization"): Adagrad whose
    accumulator is a cover of per-axis maxima (a vector per axis of each leaf)::

        a_t = c g_t² + b2 * min_i mu_{t-1}[i]  (broadcast), c = 1 - b2 (1 if b2 = 1)
        mu_t[i] = max of a_t over every axis but i
        nu_t = b1 nu_{t-1} + (1 - b1) g_t / sqrt(a_t + eps)   (0 where a_t = 0);  u_t = nu_t

    Leaves of fewer than 2 dimensions keep a full accumulator.  Shapes are static: the
    per-axis accumulators are the leaves' axes.  Real parameters only, as optax.
    """
    check_unit_interval("b1", b1)
    _check_closed_unit_interval("b2", b2)
    check_positive("eps", eps)

    def accumulators(p):
        if p.ndim < 2:
            return [jnp.zeros(p.shape, p.dtype)]
        return [jnp.zeros((n,), p.dtype) for n in p.shape]

    def init(params):
        if any(jnp.iscomplexobj(p) for p in jax.tree_util.tree_leaves(params)):
            raise ValueError("scale_by_sm3 does not support complex parameters (optax neither)")
        return ScaleBySM3State(mu=_map(accumulators, params), nu=tree_zeros_like(params))

    def update(updates, state, params=None):
        del params
        _check_updates(updates, state.nu)
        b1_, b2_, eps_ = hyperparameter(b1), hyperparameter(b2), hyperparameter(eps)
        weight = jnp.where(b2_ == 1, 1.0, 1 - b2_)

        def accumulate(g, mu):
            g = _upcast(g, b2_.dtype)
            if g.ndim < 2:
                cover = _upcast(mu[0], b2_.dtype)
            else:
                cover = functools.reduce(jnp.minimum, [
                    jnp.reshape(_upcast(m, b2_.dtype), [1] * i + [-1] + [1] * (g.ndim - i - 1))
                    for i, m in enumerate(mu)])
            return weight * jnp.square(g) + b2_ * cover

        def per_axis(a, g):
            if g.ndim < 2:
                return [_like(a, g)]
            return [_like(jnp.max(a, axis=tuple(j for j in range(g.ndim) if j != i)), g)
                    for i in range(g.ndim)]

        accumulated = _map(accumulate, updates, state.mu)
        nu = _map(lambda g, a, n: _ema_update(b1_, n, g * jnp.where(a > 0, jax.lax.rsqrt(a + eps_),
                                                                    0.0)),
                  updates, accumulated, state.nu)
        mu = _map(per_axis, accumulated, updates)
        return _map(_like, nu, updates), ScaleBySM3State(mu=mu, nu=nu)
    return GradientTransformation(init, update)


class AddNoiseState(NamedTuple):
    count: jax.Array
    rng_key: jax.Array


def _as_key(key: Any) -> jax.Array:
    """A typed PRNG key from a seed (an int), a typed key or a raw ``PRNGKey``."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if jnp.ndim(key) == 1:
        return jax.random.wrap_key_data(jnp.asarray(key, jnp.uint32))
    return jax.random.key(key)


def add_noise(eta: Any, gamma: Any, key: Any = None, *, seed: Optional[int] = None
              ) -> GradientTransformation:
    """Annealed Gaussian gradient noise (Neelakantan et al. 2015)::

        u_t = g_t + sqrt(eta / t^gamma) * N(0, 1)

    one normal sample per element (complex for complex leaves, as
    ``jax.random.normal``), drawn as optax draws it: the key is split each step and
    then over the leaves.  ``key`` a seed, a typed key or a ``PRNGKey``; ``seed`` is
    optax's deprecated spelling; neither given means seed 0 (optax warns).
    """
    check_nonnegative("eta", eta)
    check_nonnegative("gamma", gamma)
    if seed is not None and key is not None:
        raise ValueError("give key or seed, not both")
    key = seed if key is None else key
    key = 0 if key is None else key

    def init(params):
        del params
        return AddNoiseState(count=zero_count(), rng_key=_as_key(key))

    def update(updates, state, params=None, *, count=None):
        del params
        step = safe_increment(_step(state.count, count))
        eta_, gamma_ = hyperparameter(eta), hyperparameter(gamma)
        deviation = jnp.sqrt(eta_ / hyperparameter(step) ** gamma_)
        rng_key, sample_key = jax.random.split(state.rng_key)
        leaves, tree_def = jax.tree_util.tree_flatten(updates)
        keys = jax.random.split(sample_key, len(leaves))
        noisy = [_like(g + deviation * jax.random.normal(k, g.shape, g.dtype), g)
                 for g, k in zip(leaves, keys)]
        return jax.tree_util.tree_unflatten(tree_def, noisy), AddNoiseState(count=step,
                                                                            rng_key=rng_key)
    return GradientTransformation(init, update)


POLYAK_VARIANTS = ("sps", "sps+")


def scale_by_polyak(f_min: Any = 0.0, max_learning_rate: Any = 1.0, eps: Any = 0.0,
                    variant: str = "sps") -> GradientTransformation:
    """The Polyak step size (Polyak 1987; SPS_max, Loizou et al. 2021)::

        u = g * min((f(x) - f_min) / (||g||² + eps), max_learning_rate)     (0 if ||g||² + eps
                                                                            <= machine eps)

    ``variant="sps+"`` uses ``max(f(x) - f_min, 0)``.  Needs the loss: pass
    ``value=f(x)`` to ``update`` (a chain passes it on).
    """
    check_finite("f_min", f_min)
    check_nonnegative("max_learning_rate", max_learning_rate)
    check_nonnegative("eps", eps)
    if variant not in POLYAK_VARIANTS:
        raise ValueError(f"variant must be one of {POLYAK_VARIANTS}, got {variant!r}")

    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None, *, value=None):
        del params
        if value is None:
            raise ValueError("scale_by_polyak needs the loss: call update(..., value=f(params))")
        f_min_, max_rate, eps_ = (hyperparameter(f_min), hyperparameter(max_learning_rate),
                                  hyperparameter(eps))
        squared = tree_sum_of_squares(updates) + eps_
        gap = hyperparameter(value) - f_min_
        if variant == "sps+":
            gap = jnp.maximum(gap, 0.0)
        flat = squared <= jnp.finfo(float).eps
        rate = jnp.where(flat, 0.0, jnp.minimum(gap / jnp.where(flat, 1.0, squared), max_rate))
        return _map(lambda g: _like(rate * g, g), updates), state
    return GradientTransformation(init, update)


class FactoredState(NamedTuple):
    count: jax.Array
    v_row: PyTree
    v_col: PyTree
    v: PyTree


def _factored_dims(shape: tuple, factored: bool, min_dim_size_to_factor: int):
    """The two largest axes ``(d1, d0)`` of a leaf to factor, or None (static: shapes)."""
    if not factored or len(shape) < 2:
        return None
    d1, d0 = (int(i) for i in np.argsort(shape)[-2:])
    return None if shape[d1] < min_dim_size_to_factor else (d1, d0)


def scale_by_factored_rms(factored: bool = True, decay_rate: Any = 0.8, step_offset: Any = 0,
                          min_dim_size_to_factor: int = 128,
                          epsilon: Any = 1e-30) -> GradientTransformation:
    """Adafactor's scaling (Shazeer & Stern 2018, Algorithms 4 and 5)::

        beta_t = 1 - (t - step_offset)^(-decay_rate)   (t = 1, 2, ...)
        matrices (both of the two largest axes >= min_dim_size_to_factor):
          R_t = beta_t R_{t-1} + (1 - beta_t) mean_cols(g² + epsilon)     (row statistics)
          C_t = beta_t C_{t-1} + (1 - beta_t) mean_rows(g² + epsilon)     (column statistics)
          u_t = g_t / sqrt(R_t C_t / mean(R_t))
        other leaves:  v_t = beta_t v_{t-1} + (1 - beta_t)(g² + epsilon),  u_t = g_t / sqrt(v_t)

    ``factored`` and ``min_dim_size_to_factor`` decide the state's shapes: static Python
    values.  ``decay_rate``, ``step_offset`` and ``epsilon`` may be traced.  With
    ``step_offset > 0`` the first steps give ``beta = -inf`` (NaN updates), as in optax:
    it is meant for a count restored from a checkpoint.
    """
    check_nonnegative("decay_rate", decay_rate)
    check_finite("step_offset", step_offset)
    check_positive("epsilon", epsilon)

    def init(params):
        def leaf(p):
            dims = _factored_dims(p.shape, factored, min_dim_size_to_factor)
            dtype = _real_dtype(p.dtype)
            placeholder = functools.partial(jnp.zeros, (1,), dtype)  # a new buffer each
            if dims is None:
                return placeholder(), placeholder(), jnp.zeros(p.shape, dtype)
            d1, d0 = dims
            return (jnp.zeros(np.delete(p.shape, d0), dtype),
                    jnp.zeros(np.delete(p.shape, d1), dtype), placeholder())
        states = [leaf(p) for p in jax.tree_util.tree_leaves(params)]
        tree_def = jax.tree_util.tree_structure(params)
        rows, cols, full = ([jax.tree_util.tree_unflatten(tree_def, [s[i] for s in states])]
                            for i in range(3))
        return FactoredState(count=zero_count(), v_row=rows[0], v_col=cols[0], v=full[0])

    def update(updates, state, params=None, *, count=None):
        _require_params("scale_by_factored_rms", params)
        _check_updates(updates, state.v)
        step = _step(state.count, count)
        rate, offset, eps_ = (hyperparameter(decay_rate), hyperparameter(step_offset),
                              hyperparameter(epsilon))
        beta = 1 - (hyperparameter(step) - offset + 1) ** (-rate)

        def leaf(g, row, col, full):
            squared = _squared(g, rate.dtype) + eps_
            dims = _factored_dims(g.shape, factored, min_dim_size_to_factor)
            if dims is None:
                full = _like(beta * full + (1 - beta) * squared, full)
                return _like(g * jax.lax.rsqrt(_upcast(full, rate.dtype)), g), row, col, full
            d1, d0 = dims
            row = _like(beta * row + (1 - beta) * jnp.mean(squared, axis=d0), row)
            col = _like(beta * col + (1 - beta) * jnp.mean(squared, axis=d1), col)
            row32, col32 = _upcast(row, rate.dtype), _upcast(col, rate.dtype)
            reduced_d1 = d1 - 1 if d1 > d0 else d1
            row_factor = jax.lax.rsqrt(row32 / jnp.mean(row32, axis=reduced_d1, keepdims=True))
            scaled = (g * jnp.expand_dims(row_factor, d0)
                      * jnp.expand_dims(jax.lax.rsqrt(col32), d1))
            return _like(scaled, g), row, col, full

        leaves, tree_def = jax.tree_util.tree_flatten(updates)
        results = [leaf(*args) for args in zip(
            leaves, *(tree_def.flatten_up_to(t) for t in (state.v_row, state.v_col, state.v)))]
        new_updates, rows, cols, fulls = (
            jax.tree_util.tree_unflatten(tree_def, [r[i] for r in results]) for i in range(4))
        return new_updates, FactoredState(count=safe_increment(step), v_row=rows, v_col=cols,
                                          v=fulls)
    return GradientTransformation(init, update)
