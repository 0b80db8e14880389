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

from typing import Any, Callable, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp

from jopt.base import (EmptyState, GradientTransformation, PyTree, ScalarOrSchedule,
                       check, check_nonnegative, check_positive, check_same_structure,
                       check_schedule_or_nonnegative, check_unit_interval, hyperparameter,
                       resolve, safe_increment, tree_cast, tree_sum_of_squares, tree_zeros_like,
                       zero_count)

__all__ = [
    "identity", "scale", "scale_by_learning_rate", "scale_by_schedule", "trace",
    "scale_by_adagrad", "scale_by_rss", "scale_by_rms", "scale_by_stddev", "scale_by_adam",
    "add_decayed_weights", "add_l1_penalty", "clip", "clip_by_global_norm", "ema",
    "average_iterates", "ScaleByScheduleState", "TraceState", "ScaleByAdagradState",
    "ScaleByRmsState", "ScaleByAdamState", "EmaState", "AverageState",
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
        return ScaleByScheduleState(zero_count())

    def update(updates, state, params=None, *, count=None):
        del params
        step = _step(state.count, count)
        factor = hyperparameter(step_size_fn(step))
        return (_map(lambda g: _like(factor * g, g), updates),
                ScaleByScheduleState(safe_increment(step)))
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
        return TraceState(zero_count(), tree_zeros_like(params, dtype=accumulator_dtype))

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
        return new_updates, TraceState(safe_increment(step), new_trace)
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
        return EmaState(zero_count(), tree_zeros_like(params, dtype=accumulator_dtype))

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
        return new_updates, EmaState(step, new_ema)
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
        return ScaleByAdagradState(_map(
            lambda p: jnp.full_like(p, initial_accumulator_value), params))

    def update(updates, state, params=None):
        del params
        _check_updates(updates, state.sum_of_squares)
        eps_ = hyperparameter(eps)
        sums = _map(lambda g, s: _like(s + jnp.square(g.astype(eps_.dtype)), s),
                    updates, state.sum_of_squares)

        def scaled(g, s):
            s = s.astype(eps_.dtype)
            factor = _inverse_root(s, eps_, eps_in_sqrt)
            if eps_in_sqrt:
                factor = jnp.where(s > 0, factor, 0.0)
            return _like(factor * g, g)
        return _map(scaled, updates, sums), ScaleByAdagradState(sums)
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
        nu = _map(lambda p: jnp.full_like(p, initial_scale), params)
        mu = tree_zeros_like(params) if centered else ()
        return ScaleByRmsState(zero_count(), mu, nu)

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

        nu = _map(lambda g, v: moment(jnp.square(g.astype(eps_.dtype)), v), updates, state.nu)
        mu = _map(lambda g, m: moment(g, m), updates, state.mu) if centered else ()
        corrected = (lambda v: _bias_corrected(v, decay_, safe_increment(step))) \
            if bias_correction else (lambda v: v)

        def scaled(g, v, m=None):
            v = corrected(v.astype(eps_.dtype))
            if m is not None:
                v = v - jnp.square(corrected(m.astype(eps_.dtype)))
            return _like(g * _inverse_root(v, eps_, eps_in_sqrt), g)

        new_updates = (_map(scaled, updates, nu, mu) if centered else _map(scaled, updates, nu))
        return new_updates, ScaleByRmsState(safe_increment(step), mu, nu)
    return GradientTransformation(init, update)


def scale_by_stddev(decay: Any = 0.9, eps: Any = 1e-8, initial_scale: Any = 0.0,
                    eps_in_sqrt: bool = True, bias_correction: bool = False) -> GradientTransformation:
    """optax's name and defaults for centered RMSprop: ``scale_by_rms(..., centered=True)``."""
    return scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction, centered=True)


def scale_by_adam(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, eps_root: Any = 0.0,
                  mu_dtype: Any = None, *, nesterov: bool = False,
                  bias_correction: bool = True) -> GradientTransformation:
    """Adam's scaling, Kingma & Ba (2015) Algorithm 1 (deck 002 quotes it verbatim)::

        m_t = b1 m_{t-1} + (1 - b1) g_t,     v_t = b2 v_{t-1} + (1 - b2) g_t²
        m^_t = m_t / (1 - b1^t),             v^_t = v_t / (1 - b2^t)
        u_t = m^_t / (sqrt(v^_t + eps_root) + eps)

    ``nesterov=True`` is NAdam (Dozat 2016) as optax writes it:
    ``m^_t = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t)``.
    ``bias_correction=False`` drops both corrections.  Deck 000's Adam (corrections
    without the power t, eps inside the root) needs no rule of its own: it is
    ``bias_correction=False`` with learning rate ``eta sqrt(1 - b2) / (1 - b1)`` and
    ``eps_root = eps (1 - b2)``, ``eps -> 0`` (F25).  Deck 001's ``+`` is a sign slip.
    """
    check_unit_interval("b1", b1)
    check_unit_interval("b2", b2)
    check_positive("eps", eps)
    check_nonnegative("eps_root", eps_root)

    def init(params):
        return ScaleByAdamState(zero_count(), tree_zeros_like(params, dtype=mu_dtype),
                                tree_zeros_like(params))

    def update(updates, state, params=None, *, count=None):
        del params
        _check_updates(updates, state.nu)
        step = safe_increment(_step(state.count, count))
        b1_, b2_ = hyperparameter(b1), hyperparameter(b2)
        eps_, eps_root_ = hyperparameter(eps), hyperparameter(eps_root)
        mu = _map(lambda g, m: _ema_update(b1_, m, g), updates, state.mu)
        nu = _map(lambda g, v: _ema_update(b2_, v, jnp.square(g.astype(b2_.dtype))),
                  updates, state.nu)

        def scaled(g, m, v):
            m, v = m.astype(b1_.dtype), v.astype(b2_.dtype)
            if bias_correction:
                if nesterov:
                    m = (b1_ * _bias_corrected(m, b1_, safe_increment(step))
                         + (1 - b1_) * _bias_corrected(g.astype(b1_.dtype), b1_, step))
                else:
                    m = _bias_corrected(m, b1_, step)
                v = _bias_corrected(v, b2_, step)
            elif nesterov:
                m = b1_ * m + (1 - b1_) * g
            return _like(m / (jnp.sqrt(v + eps_root_) + eps_), g)

        return _map(scaled, updates, mu, nu), ScaleByAdamState(step, mu, nu)
    return GradientTransformation(init, update)


# ----------------------------------------------------------------------------
# Weight decay and clipping
# ----------------------------------------------------------------------------


def _mask_tree(mask: Any, params: PyTree) -> PyTree:
    """The boolean mask as a tree like ``params`` (``mask`` a tree or a callable)."""
    tree = mask(params) if callable(mask) else mask
    check_same_structure("mask", tree, params, "params")
    return tree


def _add_penalty_gradient(name: str, weight: Any, direction: Callable[[jax.Array], jax.Array],
                          mask: Union[None, PyTree, Callable]) -> GradientTransformation:
    """``u = g + weight * direction(params)`` on the leaves ``mask`` keeps (all by default)."""
    def init(params):
        del params
        return EmptyState()

    def update(updates, state, params=None):
        _require_params(name, params)
        check_same_structure("updates", updates, params, "params")
        weight_ = hyperparameter(weight)
        penalized = _map(lambda g, p: _like(g + weight_ * direction(p), g), updates, params)
        if mask is not None:
            penalized = _map(lambda keep, d, g: d if keep else g,
                             _mask_tree(mask, params), penalized, updates)
        return penalized, state
    return GradientTransformation(init, update)


def add_decayed_weights(weight_decay: Any = 0.0,
                        mask: Union[None, PyTree, Callable] = None) -> GradientTransformation:
    """``u = g + weight_decay * params``: an L2 penalty's gradient, or decoupled decay.

    Placed before the adaptive scaling it is the L2 penalty torch's ``weight_decay``
    adds; placed after it (just before the learning rate) it is the decoupled decay
    of AdamW (Loshchilov & Hutter 2019).  ``mask`` (a tree of booleans, or a function
    of the params returning one) limits it to some leaves.
    """
    check_nonnegative("weight_decay", weight_decay)
    return _add_penalty_gradient("add_decayed_weights", weight_decay, lambda p: p, mask)


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
        return AverageState(zero_count(), tree_cast(params, accumulator_dtype))

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
        average = _map(lambda a, p, u: _like(a + weight * ((p + u).astype(weight.dtype) - a), a),
                       state.average, params, updates)
        return updates, AverageState(step, average)
    return GradientTransformation(init, update)
