"""Step-size schedules: functions ``count -> scalar``.

Every schedule is indexed by the step count ``t = 0, 1, ...`` (the number of updates
applied before this one), as optax's are; deck 004 writes ``alpha^(t+1)`` for the
value at step ``t``.  Every numeric argument, step counts included, may be a traced
value: the schedules use ``jnp.where`` and ``jnp.clip`` where optax 0.2.8 uses a
Python ``if`` on the value (which raises ``TracerBoolConversionError`` under
``vmap``).  Concrete bad values raise ``ValueError`` when the schedule is built.

Where optax has the same schedule, the name, the arguments and the values are
optax's; :func:`inverse_time_decay`, :func:`power_decay`, :func:`warmup` and
:func:`floor` are jopt's own.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jopt.base import (Schedule, check, check_nonnegative, check_positive, hyperparameter,
                       is_concrete)

__all__ = [
    "constant_schedule", "linear_schedule", "polynomial_schedule", "exponential_decay",
    "piecewise_constant_schedule", "cosine_decay_schedule", "warmup_cosine_decay_schedule",
    "inverse_time_decay", "power_decay", "join_schedules", "warmup", "floor",
    "warmup_constant_schedule", "warmup_exponential_decay_schedule", "sgdr_schedule",
    "piecewise_interpolate_schedule", "linear_onecycle_schedule", "cosine_onecycle_schedule",
    "HYPERPARAMETERS", "LEARNING_RATE_ARGUMENT",
]

# The schedules a sweep can name: each one's numeric arguments (all traceable), and the
# argument that a sweep's ``learning_rate`` sets (the peak of a warmup or one-cycle
# schedule, the start of a decay).  Schedules of schedules (join, warmup, floor, sgdr)
# and those given by a dict of boundaries (piecewise) are built in code.
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "constant_schedule": ("value",),
    "linear_schedule": ("init_value", "end_value", "transition_steps", "transition_begin"),
    "polynomial_schedule": ("init_value", "end_value", "power", "transition_steps",
                            "transition_begin"),
    "exponential_decay": ("init_value", "transition_steps", "decay_rate", "transition_begin",
                          "end_value"),
    "cosine_decay_schedule": ("init_value", "decay_steps", "alpha", "exponent"),
    "warmup_cosine_decay_schedule": ("init_value", "peak_value", "warmup_steps", "decay_steps",
                                     "end_value", "exponent"),
    "inverse_time_decay": ("init_value", "decay_rate"),
    "power_decay": ("scale", "power", "offset"),
    "warmup_constant_schedule": ("init_value", "peak_value", "warmup_steps"),
    "warmup_exponential_decay_schedule": ("init_value", "peak_value", "warmup_steps",
                                          "transition_steps", "decay_rate", "transition_begin",
                                          "end_value"),
    "linear_onecycle_schedule": ("transition_steps", "peak_value", "pct_start", "pct_final",
                                 "div_factor", "final_div_factor"),
    "cosine_onecycle_schedule": ("transition_steps", "peak_value", "pct_start", "div_factor",
                                 "final_div_factor"),
}
LEARNING_RATE_ARGUMENT: dict[str, str] = {
    "constant_schedule": "value",
    "linear_schedule": "init_value",
    "polynomial_schedule": "init_value",
    "exponential_decay": "init_value",
    "cosine_decay_schedule": "init_value",
    "warmup_cosine_decay_schedule": "peak_value",
    "inverse_time_decay": "init_value",
    "power_decay": "scale",
    "warmup_constant_schedule": "peak_value",
    "warmup_exponential_decay_schedule": "peak_value",
    "linear_onecycle_schedule": "peak_value",
    "cosine_onecycle_schedule": "peak_value",
}


def _step(count: Any) -> jax.Array:
    """The step count as a float array (float32; float64 when x64 is on), for arithmetic."""
    return jnp.asarray(count, dtype=jnp.result_type(float))


def _check_schedule(name: str, schedule: Any) -> None:
    if not callable(schedule):
        raise TypeError(f"{name} must be a schedule (a callable count -> value), got {schedule!r}")


def constant_schedule(value: Any) -> Schedule:
    """``value`` at every step."""
    def schedule(count):
        return hyperparameter(value) * jnp.ones_like(_step(count))
    return schedule


def polynomial_schedule(init_value: Any, end_value: Any, power: Any, transition_steps: Any,
                        transition_begin: Any = 0) -> Schedule:
    r"""Polynomial interpolation from ``init_value`` to ``end_value`` (optax's meaning).

    With ``I = init_value``, ``E = end_value``, ``B = transition_begin`` and
    ``T = transition_steps``, the value at step ``t`` is
    ``(I - E) (1 - clip(t - B, 0, T) / T) ** power + E``: ``I`` until ``B``, ``E`` from
    ``B + T`` on.  Deck 004's linear decay ``k (1 - i / n)`` is ``power=1``, ``E = 0``.
    ``T <= 0`` gives the constant ``I``, as optax (which also logs a warning).
    """
    check("transition_steps", transition_steps, np.isfinite, "finite")
    check_nonnegative("transition_begin", transition_begin)

    def schedule(count):
        given = hyperparameter(transition_steps)
        steps = jnp.where(given > 0, given, 1.0)  # T <= 0: a constant (below)
        elapsed = jnp.clip(_step(count) - transition_begin, 0, steps)
        # (T - elapsed) / T, not 1 - elapsed / T: under jit XLA may divide by multiplying
        # with 1 / T, and 1 - T * (1 / T) can be a tiny negative number, which a
        # non-integer power turns into NaN (optax 0.2.8 has that bug).
        fraction = jnp.maximum((steps - elapsed) / steps, 0.0)
        init = hyperparameter(init_value)
        value = (init - end_value) * fraction ** hyperparameter(power) + end_value
        return jnp.where(given > 0, value, init)
    return schedule


def linear_schedule(init_value: Any, end_value: Any, transition_steps: Any,
                    transition_begin: Any = 0) -> Schedule:
    """Linear from ``init_value`` to ``end_value`` over ``transition_steps``, then constant.

    Deck 004's ``alpha^(t+1) = (1 - t/rho) alpha^(0) + (t/rho) alpha^(rho)`` with the
    index shifted by one (jopt's value at step ``t`` is the slide's ``alpha^(t+1)``).
    """
    return polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin)


def exponential_decay(init_value: Any, transition_steps: Any, decay_rate: Any,
                      transition_begin: Any = 0, staircase: bool = False,
                      end_value: Optional[Any] = None) -> Schedule:
    """``init_value * decay_rate ** ((t - transition_begin) / transition_steps)``.

    With ``staircase=True`` the exponent is floored (step decay: torch's ``StepLR``).
    ``end_value`` bounds the decay: a floor when ``decay_rate < 1``, a ceiling when it
    is above 1 (chosen with ``jnp.where``, so ``decay_rate`` may be traced).
    Deck 004's ``alpha^(0) e^(-rho t)`` is ``exponential_decay(alpha0, 1, exp(-rho))``.
    As optax, ``transition_steps <= 0`` or ``decay_rate = 0`` give the constant
    ``init_value`` (optax also logs a warning); a negative ``decay_rate`` is refused.
    """
    check("transition_steps", transition_steps, np.isfinite, "finite")
    check_nonnegative("decay_rate", decay_rate)
    check_nonnegative("transition_begin", transition_begin)

    def schedule(count):
        elapsed = _step(count) - transition_begin
        given_steps, rate = hyperparameter(transition_steps), hyperparameter(decay_rate)
        constant = (given_steps <= 0) | (rate == 0)  # optax's meaning of these values
        exponent = elapsed / jnp.where(given_steps > 0, given_steps, 1.0)
        if staircase:
            exponent = jnp.floor(exponent)
        init = hyperparameter(init_value)
        decayed = init * jnp.where(constant, 1.0, rate) ** exponent
        value = jnp.where((elapsed <= 0) | constant, init, decayed)
        if end_value is not None:
            value = jnp.where(hyperparameter(decay_rate) < 1,
                              jnp.maximum(value, end_value), jnp.minimum(value, end_value))
        return value
    return schedule


def _boundaries_and_scales(name: str, boundaries_and_scales: Optional[Mapping[int, Any]],
                           boundaries: Optional[Sequence[Any]], scales: Optional[Sequence[Any]]
                           ) -> tuple[list, list]:
    """The two lists of a piecewise schedule, from optax's dict or the keyword form, checked."""
    if boundaries_and_scales is not None:
        if boundaries is not None or scales is not None:
            raise ValueError(f"{name} takes boundaries_and_scales or boundaries= and scales=, "
                             f"not both")
        items = sorted(boundaries_and_scales.items())
        boundaries, scales = [b for b, _ in items], [s for _, s in items]
    boundaries = [] if boundaries is None else list(boundaries)
    scales = [] if scales is None else list(scales)
    if len(boundaries) != len(scales):
        raise ValueError(f"boundaries ({len(boundaries)}) and scales ({len(scales)}) must have "
                         f"the same length")
    check("scales", scales, lambda v: v >= 0, ">= 0")
    check_nonnegative("boundaries", boundaries)
    return boundaries, scales


def piecewise_constant_schedule(init_value: Any,
                                boundaries_and_scales: Optional[Mapping[int, Any]] = None, *,
                                boundaries: Optional[Sequence[Any]] = None,
                                scales: Optional[Sequence[Any]] = None) -> Schedule:
    """``init_value`` times the product of the scales whose boundary ``t`` has reached.

    optax's form is a dict ``{boundary: scale}``.  The keyword form ``boundaries=``,
    ``scales=`` takes sequences or arrays, so both may be traced (a dict key cannot).
    """
    boundaries, scales = _boundaries_and_scales("piecewise_constant_schedule",
                                                boundaries_and_scales, boundaries, scales)

    def schedule(count):
        step = _step(count)
        value = hyperparameter(init_value) * jnp.ones_like(step)
        for i in range(len(boundaries)):
            value = jnp.where(step >= boundaries[i], value * hyperparameter(scales[i]), value)
        return value
    return schedule


def cosine_decay_schedule(init_value: Any, decay_steps: Any, alpha: Any = 0.0,
                          exponent: Any = 1.0) -> Schedule:
    """``init_value * ((1 - alpha) * (0.5 (1 + cos(pi min(t, T) / T))) ** exponent + alpha)``."""
    check_positive("decay_steps", decay_steps)

    def schedule(count):
        steps = hyperparameter(decay_steps)
        progress = jnp.minimum(_step(count), steps) / steps
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * progress))
        alpha_ = hyperparameter(alpha)
        return hyperparameter(init_value) * ((1 - alpha_) * cosine ** exponent + alpha_)
    return schedule


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[Any]) -> Schedule:
    """``schedules[i]`` from ``boundaries[i-1]`` on, given the steps since that boundary.

    Like optax's ``join_schedules``; the boundaries may be traced.
    """
    for i, schedule in enumerate(schedules):
        _check_schedule(f"schedules[{i}]", schedule)
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(f"join_schedules needs one boundary fewer than schedules, got "
                         f"{len(schedules)} schedules and {len(boundaries)} boundaries")
    check_nonnegative("boundaries", list(boundaries))

    def schedule(count):
        step = _step(count)
        value = schedules[0](count)
        for boundary, later in zip(boundaries, schedules[1:]):
            value = jnp.where(step < boundary, value, later(step - boundary))
        return value
    return schedule


def warmup(schedule: Schedule, warmup_steps: Any, init_value: Any = 0.0) -> Schedule:
    """A linear warmup from ``init_value`` to ``schedule(0)``, then ``schedule(t - warmup_steps)``."""
    _check_schedule("schedule", schedule)
    check_nonnegative("warmup_steps", warmup_steps)

    def warmed(count):
        step = _step(count)
        steps = hyperparameter(warmup_steps)
        target = schedule(jnp.zeros_like(step))
        ramp = init_value + (target - init_value) * step / jnp.maximum(steps, 1)
        return jnp.where(step < steps, ramp, schedule(step - steps))
    return warmed


def warmup_cosine_decay_schedule(init_value: Any, peak_value: Any, warmup_steps: Any,
                                 decay_steps: Any, end_value: Any = 0.0,
                                 exponent: Any = 1.0) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak_value``, then cosine decay to ``end_value``.

    As optax's: ``decay_steps`` counts the warmup too, so the cosine part lasts
    ``decay_steps - warmup_steps`` steps.
    """
    check_nonnegative("warmup_steps", warmup_steps)
    check_positive("decay_steps", decay_steps)
    steps = (warmup_steps, decay_steps)
    if all(v is not None and is_concrete(v) and not callable(v) for v in steps) and \
            not np.all(np.asarray(decay_steps) > np.asarray(warmup_steps)):
        raise ValueError(f"decay_steps must be larger than warmup_steps ({warmup_steps}), "
                         f"got {decay_steps!r}")

    def schedule(count):
        peak = hyperparameter(peak_value)
        alpha = jnp.where(peak == 0, 0.0, end_value / jnp.where(peak == 0, 1.0, peak))
        ramp = linear_schedule(init_value, peak, warmup_steps)
        decay = cosine_decay_schedule(peak, hyperparameter(decay_steps) - warmup_steps,
                                      alpha, exponent)
        return join_schedules([ramp, decay], [warmup_steps])(count)
    return schedule


def inverse_time_decay(init_value: Any, decay_rate: Any, recursive: bool = False) -> Schedule:
    """Inverse-time decay ``init_value / (1 + decay_rate t)``.

    Deck 004 writes it recursively, ``alpha^(t+1) = alpha^(t) / (1 + rho t)``, which is
    ``alpha_0 / prod_{s<t} (1 + rho s)``: a super-exponential decay, not the closed
    form.  ``recursive=True`` gives that reading (through ``lgamma``); the default is
    the closed form (torch's ``LambdaLR`` recipe).  Not in optax.
    """
    check_nonnegative("decay_rate", decay_rate)

    def schedule(count):
        step = _step(count)
        rate = hyperparameter(decay_rate)
        init = hyperparameter(init_value)
        if not recursive:
            return init / (1 + rate * step)
        # prod_{s=0}^{t-1} (1 + rho s) = rho^t Gamma(t + 1/rho) / Gamma(1/rho).
        safe_rate = jnp.where(rate > 0, rate, 1.0)
        log_product = (step * jnp.log(safe_rate) + jax.lax.lgamma(step + 1 / safe_rate)
                       - jax.lax.lgamma(1 / safe_rate))
        return jnp.where(rate > 0, init * jnp.exp(-log_product), init)
    return schedule


def power_decay(scale: Any, power: Any, offset: Any = 1.0) -> Schedule:
    """The power law ``scale * (t + offset) ** -power``: the Robbins–Monro family.

    Deck 001's ``eta(t) = C t^-alpha`` with ``1/2 < alpha <= 1`` (``Σ eta = ∞``,
    ``Σ eta² < ∞``) is ``power_decay(C, alpha, offset)``; ``offset > 0`` keeps step 0
    finite.  F29's ``1/(100 + t)`` is ``power_decay(1.0, 1.0, 100.0)``.  Not in optax.
    """
    check_nonnegative("power", power)
    check_positive("offset", offset)

    def schedule(count):
        return hyperparameter(scale) * (_step(count) + hyperparameter(offset)) ** -hyperparameter(power)
    return schedule


def floor(schedule: Schedule, min_value: Any) -> Schedule:
    """``max(min_value, schedule(t))``: deck 001's "level out at a minimal step size"."""
    _check_schedule("schedule", schedule)
    check_nonnegative("min_value", min_value)

    def floored(count):
        return jnp.maximum(schedule(count), hyperparameter(min_value))
    return floored


def warmup_constant_schedule(init_value: Any, peak_value: Any, warmup_steps: Any) -> Schedule:
    """Linear from ``init_value`` to ``peak_value`` over ``warmup_steps``, then ``peak_value``.

    optax's ``warmup_constant_schedule``: ``linear_schedule(init_value, peak_value,
    warmup_steps)``, so ``warmup_steps <= 0`` gives the constant ``init_value`` there too.
    """
    return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_exponential_decay_schedule(init_value: Any, peak_value: Any, warmup_steps: Any,
                                      transition_steps: Any, decay_rate: Any,
                                      transition_begin: Any = 0, staircase: bool = False,
                                      end_value: Optional[Any] = None) -> Schedule:
    """Linear warmup from ``init_value`` to ``peak_value``, then :func:`exponential_decay`.

    optax's: the decay starts at ``peak_value`` at step ``warmup_steps`` and is read at
    ``t - warmup_steps`` (its ``transition_begin`` counts from there).
    """
    return join_schedules([linear_schedule(init_value, peak_value, warmup_steps),
                           exponential_decay(peak_value, transition_steps, decay_rate,
                                             transition_begin, staircase, end_value)],
                          [warmup_steps])


def sgdr_schedule(cosine_kwargs: Iterable[Mapping[str, Any]]) -> Schedule:
    """Stochastic gradient descent with warm restarts (Loshchilov & Hutter 2017).

    optax's ``sgdr_schedule``: one :func:`warmup_cosine_decay_schedule` per dict of
    ``cosine_kwargs``, one after the other, each lasting its ``decay_steps``.
    """
    cycles = [dict(kwargs) for kwargs in cosine_kwargs]
    boundaries, start = [], 0
    for kwargs in cycles[:-1]:
        start = start + kwargs["decay_steps"]
        boundaries.append(start)
    return join_schedules([warmup_cosine_decay_schedule(**kwargs) for kwargs in cycles],
                          boundaries)


INTERPOLATIONS = ("linear", "cosine")


def _interpolate(kind: str, start: jax.Array, end: jax.Array, fraction: jax.Array) -> jax.Array:
    """From ``start`` (fraction 0) to ``end`` (fraction 1): a line, or half a cosine wave."""
    if kind == "linear":
        return start + (end - start) * fraction
    return end + (start - end) / 2 * (jnp.cos(jnp.pi * fraction) + 1)


def piecewise_interpolate_schedule(interpolate_type: str, init_value: Any,
                                   boundaries_and_scales: Optional[Mapping[int, Any]] = None, *,
                                   boundaries: Optional[Sequence[Any]] = None,
                                   scales: Optional[Sequence[Any]] = None) -> Schedule:
    """Interpolation between the values ``init_value * prod(scales[:i+1])`` at ``boundaries[i]``.

    optax's ``piecewise_interpolate_schedule``: the value goes from ``v_i`` at boundary
    ``b_i`` to ``v_{i+1}`` at ``b_{i+1}`` (``b_0 = 0``, ``v_0 = init_value``), linearly or
    by half a cosine wave (``interpolate_type``), and stays at the last value after
    the last boundary.  Boundaries in increasing order.  As in
    :func:`piecewise_constant_schedule`, the keyword form ``boundaries=``, ``scales=``
    lets the boundaries be traced too.
    """
    if interpolate_type not in INTERPOLATIONS:
        raise ValueError(f"interpolate_type must be one of {INTERPOLATIONS}, "
                         f"got {interpolate_type!r}")
    boundaries, scales = _boundaries_and_scales("piecewise_interpolate_schedule",
                                                boundaries_and_scales, boundaries, scales)

    def schedule(count):
        step = _step(count)[..., None]  # counts on a trailing axis of the pieces
        starts = jnp.stack([jnp.zeros([])] + [hyperparameter(b) for b in boundaries])
        values = jnp.cumprod(jnp.stack([hyperparameter(init_value)]
                                       + [hyperparameter(s) for s in scales]))
        lengths = jnp.maximum(starts[1:] - starts[:-1], 1)
        inside = (starts[:-1] <= step) & (step < starts[1:])
        fractions = (step - starts[:-1]) / lengths
        pieces = _interpolate(interpolate_type, values[:-1], values[1:], fractions)
        after = jnp.where(starts[-1] <= step, values[-1], 0.0)
        return (jnp.sum(jnp.where(inside, pieces, 0.0), axis=-1, keepdims=True) + after)[..., 0]
    return schedule


def _onecycle_boundary(fraction: Any, transition_steps: Any) -> Any:
    """optax's boundary ``int(fraction * transition_steps)``; a floor when either is traced.

    Concrete values take optax's float64 product (in float32, ``0.7 * 10`` would floor to
    6); traced ones the float32 (float64 under x64) product.
    """
    if is_concrete(fraction) and is_concrete(transition_steps):
        return int(float(fraction) * float(transition_steps))
    return jnp.floor(hyperparameter(fraction) * hyperparameter(transition_steps))


def linear_onecycle_schedule(transition_steps: Any, peak_value: Any, pct_start: Any = 0.3,
                             pct_final: Any = 0.85, div_factor: Any = 25.0,
                             final_div_factor: Any = 1e4) -> Schedule:
    """The 1cycle policy with linear pieces (Smith & Topin 2018), as optax's.

    From ``peak_value / div_factor`` up to ``peak_value`` at ``pct_start * T``, down to
    ``peak_value / div_factor`` at ``pct_final * T``, then to
    ``peak_value / (div_factor * final_div_factor)`` at ``T = transition_steps``.
    """
    check_positive("transition_steps", transition_steps)

    def schedule(count):  # built at each call, so that its arrays take the caller's precision
        divisor = hyperparameter(div_factor)
        return piecewise_interpolate_schedule(
            "linear", hyperparameter(peak_value) / divisor,
            boundaries=[_onecycle_boundary(pct_start, transition_steps),
                        _onecycle_boundary(pct_final, transition_steps), transition_steps],
            scales=[divisor, 1 / divisor, 1 / hyperparameter(final_div_factor)])(count)
    return schedule


def cosine_onecycle_schedule(transition_steps: Any, peak_value: Any, pct_start: Any = 0.3,
                             div_factor: Any = 25.0, final_div_factor: Any = 1e4) -> Schedule:
    """The 1cycle policy with cosine pieces (Smith & Topin 2018), as optax's.

    From ``peak_value / div_factor`` up to ``peak_value`` at ``pct_start * T``, then down
    to ``peak_value / (div_factor * final_div_factor)`` at ``T = transition_steps``,
    each piece half a cosine wave (torch's ``OneCycleLR`` with ``anneal_strategy='cos'``).
    """
    check_positive("transition_steps", transition_steps)

    def schedule(count):  # built at each call, so that its arrays take the caller's precision
        divisor = hyperparameter(div_factor)
        return piecewise_interpolate_schedule(
            "cosine", hyperparameter(peak_value) / divisor,
            boundaries=[_onecycle_boundary(pct_start, transition_steps), transition_steps],
            scales=[divisor, 1 / (divisor * hyperparameter(final_div_factor))])(count)
    return schedule
