"""Hyperparameters are data (README.md, "Hyperparameters are data, and where optax differs").

For every numeric hyperparameter of every public transform, optimizer, schedule and
line search (step counts included) three checks, driven by one table, ``ROWS``:

a. ``jax.vmap`` over four values equals the Python loop over the same four values
   (the loop passes plain Python numbers: the concrete, validated path);
b. under ``jax.jit`` new values do not trace (hence compile) again;
c. ``jax.grad`` with respect to the value, taken through the construction of the
   optimizer or schedule, matches a central finite difference in float64.

Transforms and optimizers run a few update steps on a small quadratic; a schedule is
evaluated at several counts and also used as the learning rate of ``sgd``.

The table is grouped in ``CONFIGS``: one public factory called with all its numeric
hyperparameters as inputs of one program, so that a configuration is compiled once
(for b, once in float32 and once in float64) and its rows each vary one hyperparameter
while the others keep a base value.  The assertions are per row.

``test_every_public_hyperparameter_has_a_row`` introspects the signature of every
public function in ``jopt.__all__``: each parameter is either in ``ROWS`` or listed in
``EXCLUDED`` with the reason, and a parameter with a numeric default can only be in
``ROWS`` (or in ``STATIC``, the numbers that stay static, each with its reason).  A
new public hyperparameter without a row fails it.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import numbers
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt
from jax_events import compilations

# ----------------------------------------------------------------------------
# The problem: a small quadratic
# ----------------------------------------------------------------------------

# NumPy float64 arrays, turned into JAX arrays when a run starts, so that a run inside
# ``jax.enable_x64(True)`` is float64 throughout and one outside it float32.  One leaf
# (pytrees are the equivalence tests' business) and few steps: compiling the programs
# is the run time of this file.
X0 = {"w": np.array([1.0, -2.0, 0.5, 3.0])}
CURVATURE = np.array([1.0, 2.0, 0.5, 1.5])
CENTER = np.array([0.3, 0.2, -0.4, -0.5])
STEPS = 3               # update steps of a transform or optimizer
SCHEDULE_STEPS = 6      # sgd steps with a schedule as its learning rate
COUNTS = np.arange(12, dtype=np.int32)  # where a schedule is evaluated
LR = 0.1                # the fixed rate that turns a bare transform into a descent


def loss(params):
    x = params["w"]
    a, c = jnp.asarray(CURVATURE, x.dtype), jnp.asarray(CENTER, x.dtype)
    return 0.5 * jnp.sum(a * (x - c) ** 2)


def loss_grad(params):
    """The gradient of :func:`loss` in closed form (no nested autodiff to trace)."""
    x = params["w"]
    return {"w": jnp.asarray(CURVATURE, x.dtype) * (x - jnp.asarray(CENTER, x.dtype))}


def run(opt: jopt.GradientTransformation, steps: int = STEPS, extras: bool = False):
    """``steps`` updates of ``opt`` from ``X0``: the final params and state.

    ``extras``: pass ``value``, ``grad`` and ``value_fn`` too (line searches need them).
    """
    # The dtype is explicit: jax 0.10.2 caches the dtype of a NumPy constant, so a bare
    # jnp.asarray(X0) after a float32 run stays float32 inside enable_x64.
    params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.result_type(float)), X0)
    state = opt.init(params)
    for _ in range(steps):
        grad = loss_grad(params)
        more = dict(value=loss(params), grad=grad, value_fn=loss) if extras else {}
        updates, state = opt.update(grad, state, params, **more)
        params = jopt.apply_updates(params, updates)
    return params, state


def descend(transform: jopt.GradientTransformation) -> jopt.GradientTransformation:
    """A bare transform (no sign, no rate) made a descent: ``-LR * transform(g)``."""
    return jopt.chain(transform, jopt.scale(-LR))


def amsgrad_objective(params, state):
    """The loss plus the sum of AMSGrad's second moment ``v`` (see its rows)."""
    return loss(params) + jnp.sum(jopt.find_state(state, jopt.ScaleByAmsgradState).nu["w"])


def average_loss(params, state):
    """The loss at the averaged iterate of an ``average_iterates`` in the chain."""
    del params
    return loss(jopt.find_state(state, jopt.AverageState).average)


# ----------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class P:
    """One hyperparameter: four valid ``values`` of one Python type (ints for step
    counts, as users write them), and ``at``, the float where its gradient is checked
    (step counts between two integers, where the loss is smooth in them).

    ``values[1]`` is the base value the other rows of the configuration use in checks a
    and b; ``at`` the one they use in check c.  ``smooth=False``: the loss is piecewise
    constant in the value, so the gradient must be finite and equal to the finite
    difference, both 0 on a flat piece.
    """

    name: str
    values: tuple
    at: float
    smooth: bool = True


@dataclasses.dataclass(frozen=True, eq=False)
class Config:
    """A public ``factory``, built by ``make(h)`` from a dict ``h`` of its hyperparameters
    ``params``: a GradientTransformation (run for ``STEPS`` steps) or a schedule
    (evaluated at ``COUNTS`` and run as ``sgd``'s learning rate for ``SCHEDULE_STEPS``)."""

    factory: Callable
    make: Callable[[dict], Any]
    params: tuple
    variant: str = ""
    objective: Optional[Callable] = None  # (params, state) -> scalar; default loss(params)
    extras: bool = False  # the update needs value, grad, value_fn (line searches)
    steps: int = STEPS  # update steps (more where a hyperparameter acts only later)

    @property
    def id(self) -> str:
        return self.factory.__name__ + (f"[{self.variant}]" if self.variant else "")


@dataclasses.dataclass(frozen=True, eq=False)
class Row:
    config: Config
    param: P

    @property
    def id(self) -> str:
        return f"{self.config.id}.{self.param.name}"


J = jopt
RATES = (0.05, 0.1, 0.2, 0.3)
DECAYS = (0.0, 0.3, 0.6, 0.9)
lr = P("learning_rate", RATES, 0.2)
eps = P("eps", (1e-8, 1e-3, 1e-1, 1.0), 0.1)
weight_decay = P("weight_decay", (0.0, 0.1, 0.3, 0.5), 0.3)
accumulator = P("initial_accumulator_value", (0.0, 0.1, 0.5, 1.0), 0.5)
rms_decay = P("decay", (0.5, 0.7, 0.9, 0.99), 0.7)
initial_scale = P("initial_scale", (0.0, 0.1, 0.5, 1.0), 0.5)
b1, b2 = P("b1", DECAYS, 0.6), P("b2", (0.5, 0.9, 0.99, 0.999), 0.9)
eps_root = P("eps_root", (0.0, 1e-4, 1e-2, 1e-1), 1e-2)
dampening = P("dampening", (0.0, 0.2, 0.5, 0.9), 0.5)
init_value = P("init_value", (0.1, 0.2, 0.3, 0.4), 0.3)
adam_params = (lr, b1, b2, eps, eps_root, weight_decay)
rms_params = (lr, rms_decay, eps, initial_scale, P("momentum", DECAYS, 0.6), weight_decay)
sgd_params = (lr, P("momentum", DECAYS, 0.6), dampening, weight_decay)
# A line search's fori_loop: 8 trials (default 30) keep the programs small.  slope_rtol
# only decides which trial is accepted: the loss is piecewise constant in it.
slope_rtol = P("slope_rtol", (0.01, 0.3, 0.6, 0.9), 0.45, smooth=False)
decrease_factor = P("decrease_factor", (0.3, 0.5, 0.7, 0.9), 0.6)
b3, rho = P("b3", DECAYS, 0.6), P("rho", (0.5, 0.7, 0.9, 0.99), 0.7)
momentum_decay = P("momentum_decay", (0.0, 0.004, 0.1, 1.0), 0.1)
radam_threshold = P("threshold", (4.5, 5.0, 6.0, 7.0), 5.2, smooth=False)
alpha, beta = P("alpha", (0.0, 0.5, 1.0, 2.0), 1.0), P("beta", (0.0, 0.5, 1.0, 2.0), 1.0)
noise_eta, noise_gamma = P("eta", (0.0, 0.01, 0.1, 0.5), 0.1), P("gamma", (0.0, 0.55, 1.0, 2.0), 0.55)
# The Polyak step (f - f_min) / ||g||² is about 0.3 at the start: the cap is below it.
polyak_cap = P("max_learning_rate", (0.05, 0.1, 0.2, 0.25), 0.15)
sign_lr = P("learning_rate", (0.4, 0.5, 0.6, 0.7), 0.55)
# Rprop over 6 steps: some coordinates change sign (eta_minus acts) and the upper bound
# binds; the loss is piecewise smooth in them, and these values sit inside pieces (probed
# at +-1e-6 and +-1e-3).  The lower bound binds only when the steps are applied at once.
rprop_params = (P("learning_rate", (0.2, 0.35, 0.4, 0.5), 0.35),
                P("eta_minus", (0.2, 0.3, 0.5, 0.7), 0.3), P("eta_plus", (1.1, 1.25, 1.5, 2.0), 1.25),
                P("max_step_size", (0.4, 0.47, 1.0, 50.0), 0.47))
rprop_min_step = P("min_step_size", (1e-6, 0.12, 0.2, 0.3), 0.12)


def C(factory, make, *params, **options) -> Config:
    return Config(factory, make, params, **options)


CONFIGS = [
    # --- transforms -------------------------------------------------------------
    C(J.scale, lambda h: J.scale(**h), P("step_size", (-0.05, -0.1, -0.2, -0.3), -0.2)),
    C(J.scale_by_learning_rate, lambda h: J.scale_by_learning_rate(**h), lr),
    C(J.trace, lambda h: descend(J.trace(**h)), P("decay", DECAYS, 0.6), dampening),
    C(J.trace, lambda h: descend(J.trace(**h, nesterov=True)), P("decay", DECAYS, 0.6), dampening,
      variant="nesterov"),
    C(J.trace, lambda h: J.chain(J.trace(**h), J.scale(-1.0)), P("decay", DECAYS, 0.6),
      dampening, lr, variant="rate inside"),
    C(J.ema, lambda h: descend(J.ema(**h)), P("decay", DECAYS, 0.6)),
    C(J.ema, lambda h: descend(J.ema(**h, debias=False)), P("decay", DECAYS, 0.6),
      variant="no debias"),
    C(J.scale_by_adagrad, lambda h: descend(J.scale_by_adagrad(**h)), accumulator, eps),
    C(J.scale_by_rss, lambda h: descend(J.scale_by_rss(**h)), accumulator, eps),
    C(J.scale_by_rms, lambda h: descend(J.scale_by_rms(**h)), rms_decay, eps, initial_scale),
    C(J.scale_by_rms, lambda h: descend(J.scale_by_rms(**h, bias_correction=True)),
      rms_decay, eps, initial_scale, variant="bias_correction"),
    C(J.scale_by_rms,
      lambda h: descend(J.scale_by_rms(**h, discounted_sum=True, init_with_first_grad=True)),
      rms_decay, eps, variant="deck 001/002 forms"),
    C(J.scale_by_stddev, lambda h: descend(J.scale_by_stddev(**h)), rms_decay, eps, initial_scale),
    C(J.scale_by_adam, lambda h: descend(J.scale_by_adam(**h)), b1, b2, eps, eps_root),
    C(J.scale_by_adam, lambda h: descend(J.scale_by_adam(**h, nesterov=True)), b1, b2, eps,
      eps_root, variant="nesterov"),
    C(J.add_decayed_weights, lambda h: descend(J.add_decayed_weights(**h)), weight_decay),
    # No iterate reaches 0 within the steps: the loss is smooth in the weight.
    C(J.add_l1_penalty, lambda h: descend(J.add_l1_penalty(**h)),
      P("weight", (0.0, 0.1, 0.3, 0.5), 0.3)),
    # The first gradient has elements from 0.45 to 5.25: every value clips some.
    C(J.clip, lambda h: descend(J.clip(**h)), P("max_delta", (0.25, 0.5, 1.0, 2.0), 1.0)),
    C(J.clip_by_global_norm, lambda h: descend(J.clip_by_global_norm(**h)),
      P("max_norm", (0.25, 0.5, 1.0, 2.0), 1.0)),
    # With an EMA, ``start`` only enters through ``t <= start``: piecewise constant.
    C(J.average_iterates, lambda h: J.chain(J.scale(-LR), J.average_iterates(**h)),
      P("decay", DECAYS, 0.6), P("start", (0, 1, 2, 3), 1.5, smooth=False),
      objective=average_loss, variant="ema"),
    # Polyak averaging from ``start``: the weight 1 / (t - start + 1) is smooth in start
    # between integers.
    C(J.average_iterates, lambda h: J.chain(J.scale(-LR), J.average_iterates(None, **h)),
      P("start", (0, 1, 2, 3), 1.5), objective=average_loss, variant="polyak"),
    # --- optimizers -------------------------------------------------------------
    C(J.sgd, lambda h: J.sgd(**h), *sgd_params),
    C(J.sgd, lambda h: J.sgd(**h, nesterov=True), *sgd_params, variant="nesterov"),
    C(J.sgd, lambda h: J.sgd(**h, momentum_form="inside"), *sgd_params, variant="inside"),
    C(J.sgd, lambda h: J.sgd(**h, momentum_form="ema"), lr, P("momentum", DECAYS, 0.6),
      weight_decay, variant="ema"),
    C(J.sgd, lambda h: J.sgd(**h), lr, weight_decay, variant="no momentum"),
    C(J.adagrad, lambda h: J.adagrad(**h), lr, accumulator, eps, weight_decay),
    C(J.rmsprop, lambda h: J.rmsprop(**h), *rms_params),
    C(J.rmsprop, lambda h: J.rmsprop(**h, centered=True), *rms_params, variant="centered"),
    C(J.adam, lambda h: J.adam(**h), *adam_params),
    C(J.adam, lambda h: J.adam(J.exponential_decay(h["learning_rate"], 2, 0.5)), lr,
      variant="schedule"),
    C(J.adamw, lambda h: J.adamw(**h), *adam_params),
    # --- optax's other scalings and optimizers ----------------------------------
    # Trust ratios: at min_norm 9 both norms are floored (ratio tc 9 / (9 + eps)).
    C(J.scale_by_trust_ratio, lambda h: descend(J.scale_by_trust_ratio(**h)),
      P("min_norm", (0.0, 1.0, 8.0, 10.0), 9.0), P("trust_coefficient", (0.1, 0.5, 1.0, 2.0), 0.5),
      P("eps", (0.0, 0.1, 0.5, 1.0), 0.5)),
    C(J.scale_by_param_block_norm, lambda h: descend(J.scale_by_param_block_norm(**h)),
      P("min_scale", (1e-3, 1.0, 5.0, 8.0), 6.0)),
    C(J.scale_by_param_block_rms, lambda h: descend(J.scale_by_param_block_rms(**h)),
      P("min_scale", (1e-3, 0.5, 3.0, 4.0), 3.0)),
    C(J.clip_by_block_rms, lambda h: descend(J.clip_by_block_rms(**h)),
      P("threshold", (0.5, 1.0, 2.0, 4.0), 1.0)),
    # With shrinking gradients the maximum of the corrected v stays v^_1 = g_1², whatever
    # b2: the objective adds the state's v, which b2 does move.
    C(J.scale_by_amsgrad, lambda h: descend(J.scale_by_amsgrad(**h)), b1, b2, eps, eps_root,
      objective=amsgrad_objective),
    C(J.scale_by_amsgrad, lambda h: descend(J.scale_by_amsgrad(**h, max_before_correction=True)),
      b1, b2, eps, eps_root, variant="torch"),
    C(J.scale_by_adamax, lambda h: descend(J.scale_by_adamax(**h)), b1, b2, eps),
    C(J.scale_by_adamax, lambda h: descend(J.scale_by_adamax(**h, eps_in_max=False)), b1, b2, eps,
      variant="eps outside"),
    C(J.scale_by_nadam, lambda h: descend(J.scale_by_nadam(**h)), b1, b2, eps, eps_root,
      momentum_decay),
    # RAdam rectifies once rho_t >= threshold: from step 6 at b2 = 0.9 (rho_6 = 5.4), so 8
    # steps; the threshold only picks the first rectified step: piecewise constant.
    C(J.scale_by_radam, lambda h: descend(J.scale_by_radam(**h)), b1, b2, eps, eps_root,
      radam_threshold, steps=8),
    C(J.scale_by_radam,
      lambda h: descend(J.scale_by_radam(**h, nesterov=True, eps_before_correction=True)),
      b1, b2, eps, eps_root, radam_threshold, steps=8, variant="torch, nesterov"),
    C(J.scale_by_belief, lambda h: descend(J.scale_by_belief(**h)), b1, b2, eps, eps_root),
    C(J.scale_by_yogi, lambda h: descend(J.scale_by_yogi(**h)), b1, b2, eps, eps_root,
      P("initial_accumulator_value", (1e-6, 0.1, 0.5, 1.0), 0.5)),
    C(J.scale_by_adan, lambda h: descend(J.scale_by_adan(**h)), b1, b2, b3, eps, eps_root),
    C(J.scale_by_lion, lambda h: descend(J.scale_by_lion(**h, mode="smooth")), b1, b2,
      P("smooth_beta", (0.5, 1.0, 2.0, 4.0), 1.0), variant="smooth"),
    C(J.scale_by_adadelta, lambda h: descend(J.scale_by_adadelta(**h)), rho, eps),
    C(J.scale_by_novograd, lambda h: descend(J.scale_by_novograd(**h)), b1, b2, eps, eps_root,
      weight_decay),
    C(J.scale_by_optimistic_gradient, lambda h: descend(J.scale_by_optimistic_gradient(**h)),
      alpha, beta),
    C(J.scale_by_rprop, lambda h: J.chain(J.scale_by_rprop(**h), J.scale(-1.0)), *rprop_params,
      steps=6),
    C(J.scale_by_rprop, lambda h: J.chain(J.scale_by_rprop(**h, lagged=False), J.scale(-1.0)),
      *rprop_params, rprop_min_step, steps=6, variant="torch"),
    C(J.scale_by_sm3, lambda h: descend(J.scale_by_sm3(**h)), b1,
      P("b2", (0.5, 0.9, 0.99, 1.0), 0.9), eps),
    C(J.add_noise, lambda h: descend(J.add_noise(**h, key=0)), noise_eta, noise_gamma),
    # Polyak: max_learning_rate on its own (the cap active), the rest with the cap off.
    C(J.scale_by_polyak, lambda h: J.chain(J.scale_by_polyak(**h, max_learning_rate=10.0),
                                           J.scale(-1.0)),
      P("f_min", (-1.0, -0.5, 0.0, 0.5), -0.5), P("eps", (0.0, 0.1, 1.0, 5.0), 1.0), extras=True),
    C(J.scale_by_polyak, lambda h: J.chain(J.scale_by_polyak(**h), J.scale(-1.0)),
      polyak_cap, extras=True, variant="cap"),
    C(J.scale_by_factored_rms, lambda h: descend(J.scale_by_factored_rms(**h)),
      P("decay_rate", (0.5, 0.8, 1.0, 1.5), 0.8), P("step_offset", (-3, -2, -1, 0), -1.5),
      P("epsilon", (1e-30, 1e-3, 0.1, 1.0), 0.1)),
    C(J.nadam, lambda h: J.nadam(**h), *adam_params),
    C(J.nadam, lambda h: J.nadam(**h), lr, momentum_decay, variant="torch"),
    C(J.nadamw, lambda h: J.nadamw(**h), *adam_params),
    C(J.nadamw, lambda h: J.nadamw(**h), lr, momentum_decay, variant="torch"),
    C(J.adamax, lambda h: J.adamax(**h), lr, b1, b2, eps, weight_decay),
    C(J.adamaxw, lambda h: J.adamaxw(**h), lr, b1, b2, eps, weight_decay),
    C(J.amsgrad, lambda h: J.amsgrad(**h), *adam_params, objective=amsgrad_objective),
    C(J.radam, lambda h: J.radam(**h), lr, b1, b2, eps, eps_root, radam_threshold, weight_decay,
      steps=8),
    C(J.adabelief, lambda h: J.adabelief(**h), lr, b1, b2, eps, eps_root),
    C(J.yogi, lambda h: J.yogi(**h), lr, b1, b2, eps),
    C(J.adan, lambda h: J.adan(**h), lr, b1, b2, b3, eps, eps_root, weight_decay),
    # sign steps: the momenta only decide signs, so the loss is piecewise constant in
    # them; a rate of about 0.5 makes some coordinate cross its minimum, so they matter.
    C(J.lion, lambda h: J.lion(**h), sign_lr, P("b1", DECAYS, 0.15, smooth=False),
      P("b2", (0.5, 0.9, 0.99, 0.999), 0.95, smooth=False), weight_decay),
    C(J.lamb, lambda h: J.lamb(**h), *adam_params),
    C(J.lars, lambda h: J.lars(**h), lr, weight_decay,
      P("trust_coefficient", (0.001, 0.1, 0.5, 1.0), 0.5), P("eps", (0.0, 0.1, 0.5, 1.0), 0.5),
      P("momentum", DECAYS, 0.6)),
    C(J.fromage, lambda h: J.fromage(**h), lr, P("min_norm", (1e-6, 1.0, 4.5, 6.0), 5.0)),
    C(J.sign_sgd, lambda h: J.sign_sgd(**h), lr),
    C(J.signum, lambda h: J.signum(**h), sign_lr, P("beta", DECAYS, 0.15, smooth=False)),
    C(J.novograd, lambda h: J.novograd(**h), lr, b1, b2, eps, eps_root, weight_decay),
    C(J.noisy_sgd, lambda h: J.noisy_sgd(**h, key=0), lr, noise_eta, noise_gamma),
    C(J.rprop, lambda h: J.rprop(**h, lagged=False), *rprop_params, rprop_min_step, steps=6,
      variant="torch"),
    C(J.sm3, lambda h: J.sm3(**h), lr, P("momentum", DECAYS, 0.6)),
    # dtype_momentum=None keeps the momentum in the parameters' dtype: its float32 default
    # would make the float64 finite difference a float32 one.
    C(J.adafactor, lambda h: J.adafactor(**h, dtype_momentum=None), lr, P("decay_rate", (0.5, 0.8, 1.0, 1.5), 0.8),
      P("decay_offset", (-3, -2, -1, 0), -1.5), P("clipping_threshold", (0.25, 0.5, 0.75, 4.0), 0.5),
      P("momentum", DECAYS, 0.6), P("weight_decay_rate", (0.0, 0.1, 0.3, 0.5), 0.3),
      P("eps", (1e-30, 1e-3, 0.1, 1.0), 0.1)),
    # Adadelta's steps start at sqrt(eps) / |g| of the gradient: rates of order 1 and more.
    C(J.adadelta, lambda h: J.adadelta(**h), P("learning_rate", (1.0, 5.0, 10.0, 20.0), 5.0), rho,
      eps, weight_decay),
    C(J.optimistic_gradient_descent, lambda h: J.optimistic_gradient_descent(**h), lr, alpha, beta),
    C(J.optimistic_adam_v2, lambda h: J.optimistic_adam_v2(**h), lr, alpha, beta, b1, b2, eps,
      eps_root),
    C(J.optimistic_adam, lambda h: J.optimistic_adam(**h), lr,
      P("optimism", (0.0, 0.05, 0.1, 0.2), 0.1), b1, b2, eps, eps_root),
    C(J.polyak_sgd, lambda h: J.polyak_sgd(**h, max_learning_rate=10.0),
      P("scaling", (0.5, 1.0, 2.0, 3.0), 2.0), P("f_min", (-1.0, -0.5, 0.0, 0.5), -0.5),
      P("eps", (0.0, 0.1, 1.0, 5.0), 1.0), extras=True),
    C(J.polyak_sgd, lambda h: J.polyak_sgd(**h), polyak_cap, extras=True, variant="cap"),
    # --- schedules (each also sgd's learning rate) ------------------------------
    C(J.constant_schedule, lambda h: J.constant_schedule(**h), P("value", RATES, 0.2)),
    C(J.polynomial_schedule, lambda h: J.polynomial_schedule(**h), init_value,
      P("end_value", (0.0, 0.01, 0.05, 0.1), 0.05), P("power", (0.5, 1.0, 2.0, 3.0), 2.0),
      P("transition_steps", (4, 6, 8, 10), 7.5), P("transition_begin", (0, 1, 2, 3), 1.5)),
    C(J.linear_schedule, lambda h: J.linear_schedule(**h), init_value,
      P("end_value", (0.0, 0.01, 0.05, 0.1), 0.05), P("transition_steps", (4, 6, 8, 10), 7.5),
      P("transition_begin", (0, 1, 2, 3), 1.5)),
    # end_value: a floor, reached within the sgd steps at the gradient's point.
    C(J.exponential_decay, lambda h: J.exponential_decay(**h), init_value,
      P("transition_steps", (1, 2, 3, 4), 2.5), P("decay_rate", (0.3, 0.5, 0.7, 0.9), 0.7),
      P("transition_begin", (0, 1, 2, 3), 1.5), P("end_value", (0.02, 0.04, 0.06, 0.08), 0.2)),
    # staircase: the exponent is floor((t - begin) / steps), piecewise constant in both
    # step counts, so the gradient is 0 there (checked where no (t - begin) / steps is an
    # integer).
    C(J.exponential_decay, lambda h: J.exponential_decay(**h, staircase=True), init_value,
      P("transition_steps", (1, 2, 3, 4), 2.7, smooth=False),
      P("decay_rate", (0.3, 0.5, 0.7, 0.9), 0.7),
      P("transition_begin", (0, 1, 2, 3), 1.5, smooth=False), variant="staircase"),
    # The keyword form; a boundary only decides which constant holds: piecewise constant.
    C(J.piecewise_constant_schedule,
      lambda h: J.piecewise_constant_schedule(h["init_value"], boundaries=[h["boundaries"], 8],
                                              scales=[h["scales"], 0.5]),
      init_value, P("boundaries", (2, 3, 4, 5), 3.5, smooth=False),
      P("scales", (0.1, 0.3, 0.5, 0.8), 0.5)),
    # optax's dict form: its values (the scales) may be traced; its keys (the boundaries)
    # cannot, a traced value is not hashable: the keyword form traces boundaries.
    C(J.piecewise_constant_schedule,
      lambda h: J.piecewise_constant_schedule(0.3, {3: h["boundaries_and_scales"], 7: 0.5}),
      P("boundaries_and_scales", (0.1, 0.3, 0.5, 0.8), 0.5), variant="dict values"),
    C(J.cosine_decay_schedule, lambda h: J.cosine_decay_schedule(**h), init_value,
      P("decay_steps", (6, 8, 10, 12), 9.5), P("alpha", (0.0, 0.1, 0.2, 0.5), 0.2),
      P("exponent", (0.5, 1.0, 2.0, 3.0), 2.0)),
    C(J.warmup_cosine_decay_schedule, lambda h: J.warmup_cosine_decay_schedule(**h),
      P("init_value", (0.0, 0.05, 0.1, 0.2), 0.1), P("peak_value", RATES, 0.3),
      P("warmup_steps", (1, 2, 3, 4), 2.5), P("decay_steps", (6, 8, 10, 12), 8.5),
      P("end_value", (0.0, 0.01, 0.05, 0.1), 0.05), P("exponent", (0.5, 1.0, 2.0, 3.0), 2.0)),
    C(J.inverse_time_decay, lambda h: J.inverse_time_decay(**h), init_value,
      P("decay_rate", (0.0, 0.1, 0.5, 1.0), 0.5)),
    C(J.inverse_time_decay, lambda h: J.inverse_time_decay(**h, recursive=True), init_value,
      P("decay_rate", (0.0, 0.05, 0.1, 0.3), 0.1), variant="recursive"),
    C(J.power_decay, lambda h: J.power_decay(**h), P("scale", (0.1, 0.2, 0.3, 0.4), 0.3),
      P("power", (0.0, 0.5, 0.75, 1.0), 0.75), P("offset", (0.5, 1.0, 2.0, 5.0), 2.0)),
    # The later schedule is read at t - boundary: smooth in the boundary between integers.
    C(J.join_schedules,
      lambda h: J.join_schedules([J.constant_schedule(0.3), J.exponential_decay(0.3, 2, 0.5)],
                                 [h["boundaries"]]),
      P("boundaries", (2, 3, 4, 5), 3.5)),
    C(J.warmup, lambda h: J.warmup(J.exponential_decay(0.3, 4, 0.5), **h),
      P("warmup_steps", (1, 2, 3, 4), 2.5), P("init_value", (0.0, 0.05, 0.1, 0.2), 0.1)),
    C(J.floor, lambda h: J.floor(J.exponential_decay(0.3, 2, 0.5), **h),
      P("min_value", (0.02, 0.04, 0.06, 0.08), 0.06)),
    C(J.warmup_constant_schedule, lambda h: J.warmup_constant_schedule(**h),
      P("init_value", (0.0, 0.05, 0.1, 0.2), 0.1), P("peak_value", RATES, 0.3),
      P("warmup_steps", (1, 2, 3, 4), 2.5)),
    # The decay's exponent is 0 at no integer step (t - warmup - begin = t - 3.75 at the
    # gradient's point: no kink there), and its floor binds within sgd's steps.
    C(J.warmup_exponential_decay_schedule, lambda h: J.warmup_exponential_decay_schedule(**h),
      P("init_value", (0.0, 0.05, 0.1, 0.2), 0.1), P("peak_value", RATES, 0.3),
      P("warmup_steps", (1, 2, 3, 4), 2.5), P("transition_steps", (1, 2, 3, 4), 2.5),
      P("decay_rate", (0.3, 0.5, 0.7, 0.9), 0.7), P("transition_begin", (0, 1, 2, 3), 1.25),
      P("end_value", (0.02, 0.04, 0.06, 0.08), 0.28)),
    # Two warm restarts: the first cycle's peak traced inside optax's list of dicts.
    C(J.sgdr_schedule,
      lambda h: J.sgdr_schedule([
          dict(init_value=0.0, peak_value=h["cosine_kwargs"], warmup_steps=1, decay_steps=5),
          dict(init_value=0.0, peak_value=0.2, warmup_steps=1, decay_steps=6)]),
      P("cosine_kwargs", RATES, 0.3)),
    # Interpolation: the value moves with a boundary between integers (smooth in it).
    C(J.piecewise_interpolate_schedule,
      lambda h: J.piecewise_interpolate_schedule("linear", h["init_value"],
                                                 boundaries=[h["boundaries"], 8],
                                                 scales=[h["scales"], 0.5]),
      init_value, P("boundaries", (2, 3, 4, 5), 3.5), P("scales", (0.1, 0.3, 0.5, 0.8), 0.5)),
    C(J.piecewise_interpolate_schedule,
      lambda h: J.piecewise_interpolate_schedule("cosine", 0.3,
                                                 {3: h["boundaries_and_scales"], 7: 0.5}),
      P("boundaries_and_scales", (0.1, 0.3, 0.5, 0.8), 0.5), variant="dict values"),
    # The inner boundaries are floor(pct * T), optax's int(): piecewise constant in pct.
    # T short enough that the whole cycle falls inside sgd's steps.
    C(J.linear_onecycle_schedule, lambda h: J.linear_onecycle_schedule(**h),
      P("transition_steps", (4, 5, 6, 7), 5.5), P("peak_value", RATES, 0.3),
      P("pct_start", (0.2, 0.3, 0.4, 0.5), 0.33, smooth=False),
      P("pct_final", (0.7, 0.8, 0.85, 0.9), 0.82, smooth=False),
      P("div_factor", (5.0, 10.0, 25.0, 50.0), 20.0),
      P("final_div_factor", (10.0, 100.0, 1e3, 1e4), 2.0)),
    C(J.cosine_onecycle_schedule, lambda h: J.cosine_onecycle_schedule(**h),
      P("transition_steps", (4, 5, 6, 7), 5.5), P("peak_value", RATES, 0.3),
      P("pct_start", (0.2, 0.3, 0.4, 0.5), 0.33, smooth=False),
      P("div_factor", (5.0, 10.0, 25.0, 50.0), 20.0),
      P("final_div_factor", (10.0, 100.0, 1e3, 1e4), 2.0)),
    # --- line search and L-BFGS -------------------------------------------------
    # sgd(2.0) overshoots, so that the search backtracks.
    C(J.scale_by_backtracking_linesearch,
      lambda h: J.chain(J.sgd(2.0), J.scale_by_backtracking_linesearch(8, **h)),
      slope_rtol, decrease_factor, P("increase_factor", (1.2, 1.5, 2.0, 4.0), 1.5),
      P("max_learning_rate", (0.25, 0.5, 0.75, 1.0), 0.6), extras=True),
    # The default increase_factor = inf: each search restarts at max_learning_rate (its
    # base value 1.0: a first trial that fails, so that decrease_factor matters).
    C(J.scale_by_backtracking_linesearch,
      lambda h: J.chain(J.sgd(2.0), J.scale_by_backtracking_linesearch(8, **h)),
      decrease_factor, P("max_learning_rate", (0.5, 1.0, 0.25, 0.75), 0.6), extras=True,
      variant="restart"),
    C(J.lbfgs, lambda h: J.lbfgs(max_backtracking_steps=8, **h), slope_rtol, decrease_factor,
      P("max_learning_rate", (1.0, 2.0, 2.5, 3.0), 2.2), extras=True),
    C(J.lbfgs, lambda h: J.lbfgs(**h), lr, extras=True, variant="fixed rate"),
    # optax's form: the direction, then a line search transformation.
    C(J.lbfgs, lambda h: J.lbfgs(linesearch=J.scale_by_backtracking_linesearch(8, **h)),
      slope_rtol, decrease_factor, P("max_learning_rate", (1.0, 2.0, 2.5, 3.0), 2.2), extras=True,
      variant="linesearch"),
]
ROWS = [Row(config, param) for config in CONFIGS for param in config.params]
assert len({row.id for row in ROWS}) == len(ROWS)
# The default run checks the first hyperparameter of every transform, optimizer and
# schedule; the others (each is a row too) run with -m slow, to keep the suite short.
FAST_ROWS = [row if i == 0 else pytest.param(row, marks=pytest.mark.slow)
             for config in CONFIGS
             for i, row in enumerate(Row(config, param) for param in config.params)]


def every(rows: list, kept: int, offset: int = 0) -> list:
    """``rows`` with all but every ``kept``-th of the unmarked ones (from the ``offset``-th)
    marked slow: the default run takes a spread of the configurations (in the table's
    order: transforms, optimizers, schedules, line searches; another offset, another
    spread); -m slow runs every row."""
    unmarked = [i for i, row in enumerate(rows) if not hasattr(row, "marks")]  # not pytest.param
    dropped = {i for j, i in enumerate(unmarked) if (j - offset) % kept}
    return [pytest.param(row, marks=pytest.mark.slow) if i in dropped else row
            for i, row in enumerate(rows)]


# Every parameter of a public function that has no row, and why.
STRUCTURAL = "a boolean flag: it selects the code path (each path has rows of its own)"
DTYPE = "a dtype: the storage of the state, not a value"
MASK = "a mask: a pytree of booleans or a function of the params, structure not a value"
CALLABLE = "a schedule (callable): its own hyperparameters have rows of their own"
DATA = "an argument of the protocol (params, states, trees, transforms), not a hyperparameter"
FORM = "a string choosing the momentum form (each form has rows)"
INTERPOLATION = ("a string choosing the interpolation: linear pieces have rows here, cosine "
                 "pieces in cosine_onecycle_schedule's")
LINESEARCH = ("a line search (a transformation: its own hyperparameters have rows) or the "
              "built-in one's name")
PROBLEM = "the problem's data (a Hessian, a gradient, a direction), not a hyperparameter"
# The numbers that stay static, each with the reason.  They are the only parameters with
# a numeric default allowed outside ROWS.
LOOP_BOUND = ("the number of line-search trials: the trip count of the bounded fori_loop that "
              "lets reverse mode through (a traced bound makes it a while_loop); static")
SHAPE = "the number of (s, y) pairs kept: the shape of the memory arrays; static"
FACTOR_SHAPE = ("which leaves are factored, hence the shapes of Adafactor's row and column "
                "statistics; static")
STATIC = {
    ("scale_by_backtracking_linesearch", "max_backtracking_steps"): LOOP_BOUND,
    ("lbfgs", "max_backtracking_steps"): LOOP_BOUND,
    ("lbfgs", "memory_size"): SHAPE,
    ("adafactor", "min_dim_size_to_factor"): FACTOR_SHAPE,
    ("scale_by_factored_rms", "min_dim_size_to_factor"): FACTOR_SHAPE,
}
KEY = "a PRNG key or seed: the noise's source, not a value to sweep"
STRING = "a string choosing the rule (each has rows)"
NEW_EXCLUDED = {
    **{(name, "mask"): MASK for name in ("nadamw", "adamaxw", "adan", "lion", "lamb")},
    **{(name, "weight_decay_mask"): MASK for name in ("lars", "adafactor", "adadelta")},
    ("lars", "trust_ratio_mask"): MASK, ("scale_by_trust_ratio", "mask"): MASK,
    **{(name, "mu_dtype"): DTYPE for name in (
        "nadam", "nadamw", "amsgrad", "lion", "optimistic_adam", "optimistic_adam_v2",
        "scale_by_amsgrad", "scale_by_nadam", "scale_by_lion", "scale_by_novograd")},
    ("signum", "accumulator_dtype"): DTYPE, ("adafactor", "dtype_momentum"): DTYPE,
    **{(name, "nesterov"): STRUCTURAL for name in (
        "radam", "adabelief", "lars", "optimistic_adam", "optimistic_adam_v2", "scale_by_radam",
        "scale_by_belief")},
    **{(name, "eps_in_max"): STRUCTURAL for name in ("adamax", "adamaxw", "scale_by_adamax")},
    **{(name, flag): STRUCTURAL for name in ("amsgrad", "scale_by_amsgrad")
       for flag in ("bias_correction_mu", "bias_correction_nu", "max_before_correction")},
    **{(name, "eps_before_correction"): STRUCTURAL for name in ("radam", "scale_by_radam")},
    **{(name, "lagged"): STRUCTURAL for name in ("rprop", "scale_by_rprop")},
    ("add_decayed_weights", "flip_sign"): STRUCTURAL,
    ("adafactor", "multiply_by_parameter_scale"): STRUCTURAL,
    **{(name, "factored"): STRUCTURAL for name in ("adafactor", "scale_by_factored_rms")},
    ("scale_by_lion", "mode"): STRING,
    **{(name, "variant"): STRING for name in ("polyak_sgd", "scale_by_polyak")},
    **{(name, arg): KEY for name in ("add_noise", "noisy_sgd") for arg in ("key", "seed")},
}
EXCLUDED = {
    **STATIC,
    **NEW_EXCLUDED,
    **{("chain", "transforms"): DATA, ("apply_updates", "params"): DATA,
       ("apply_updates", "updates"): DATA, ("find_state", "state"): DATA,
       ("find_state", "state_type"): DATA, ("tree_l2_norm", "tree"): DATA,
       ("tree_vdot", "a"): DATA, ("tree_vdot", "b"): DATA},
    ("scale_by_learning_rate", "flip_sign"): STRUCTURAL,
    ("scale_by_schedule", "step_size_fn"): CALLABLE,
    ("trace", "nesterov"): STRUCTURAL, ("trace", "accumulator_dtype"): DTYPE,
    ("ema", "debias"): STRUCTURAL, ("ema", "accumulator_dtype"): DTYPE,
    ("scale_by_adagrad", "eps_in_sqrt"): STRUCTURAL,
    **{("scale_by_rms", name): STRUCTURAL for name in (
        "eps_in_sqrt", "bias_correction", "centered", "discounted_sum", "init_with_first_grad")},
    ("scale_by_stddev", "eps_in_sqrt"): STRUCTURAL,
    ("scale_by_stddev", "bias_correction"): STRUCTURAL,
    ("scale_by_adam", "mu_dtype"): DTYPE, ("scale_by_adam", "nesterov"): STRUCTURAL,
    ("scale_by_adam", "bias_correction"): STRUCTURAL,
    ("add_decayed_weights", "mask"): MASK,
    ("add_l1_penalty", "mask"): MASK,
    ("average_iterates", "accumulator_dtype"): DTYPE,
    ("sgd", "nesterov"): STRUCTURAL, ("sgd", "accumulator_dtype"): DTYPE,
    ("sgd", "momentum_form"): FORM,
    ("adagrad", "eps_in_sqrt"): STRUCTURAL,
    **{("rmsprop", name): STRUCTURAL for name in (
        "eps_in_sqrt", "centered", "nesterov", "bias_correction", "discounted_sum",
        "init_with_first_grad")},
    ("adam", "mu_dtype"): DTYPE, ("adam", "nesterov"): STRUCTURAL,
    ("adam", "bias_correction"): STRUCTURAL,
    ("adamw", "mu_dtype"): DTYPE, ("adamw", "mask"): MASK, ("adamw", "nesterov"): STRUCTURAL,
    ("adamw", "bias_correction"): STRUCTURAL,
    ("exponential_decay", "staircase"): STRUCTURAL,
    ("join_schedules", "schedules"): CALLABLE,
    ("warmup", "schedule"): CALLABLE,
    ("floor", "schedule"): CALLABLE,
    ("inverse_time_decay", "recursive"): STRUCTURAL,
    ("lbfgs", "scale_init_precond"): STRUCTURAL,
    ("lbfgs", "linesearch"): LINESEARCH,
    ("piecewise_interpolate_schedule", "interpolate_type"): INTERPOLATION,
    ("warmup_exponential_decay_schedule", "staircase"): STRUCTURAL,
    **{(name, arg): DATA for name, args in (
        ("with_extra_args_support", ("transform",)), ("init_empty_state", ("params",)),
        ("stateless", ("f",)), ("stateless_with_tree_map", ("f",)),
        ("masked", ("inner",)), ("partition", ("transforms",)),
        ("multi_transform", ("transforms",)), ("named_chain", ("transforms",)),
        ("inject_hyperparams", ("inner_factory", "static_args")), ("apply_if_finite", ("inner",)),
    ) for arg in args},
    ("masked", "mask"): MASK, ("partition", "param_labels"): MASK,
    ("multi_transform", "param_labels"): MASK,
    ("masked", "mask_compatible_extra_args"): STRUCTURAL,
    ("partition", "mask_compatible_extra_args"): STRUCTURAL,
    ("multi_transform", "mask_compatible_extra_args"): STRUCTURAL,
    ("inject_hyperparams", "hyperparam_dtype"): DTYPE,
    ("apply_if_finite", "max_consecutive_errors"): (
        "an error budget: it acts only on non-finite gradients (a jnp comparison, traceable); "
        "tests/optax_suite and test_wrappers.py cover it"),
    ("scale_by_exact_quadratic_step", "matrix"): PROBLEM,
    **{("exact_quadratic_step", name): PROBLEM for name in ("grad", "direction",
                                                            "hessian_direction")},
}
# Public functions that are not transforms, optimizers, schedules or line searches: the
# training loops, whose arguments (budgets, tolerances, data) their own tests cover, and
# optax's tree updates of target parameters (tests/optax_suite/update_test.py).
NOT_OPTIMIZERS = {"minimize", "fit", "reason_name", "incremental_update", "periodic_update"}


def public_functions():
    for name in jopt.__all__:
        obj = vars(jopt).get(name)  # None: a module imported lazily (jopt.sweep)
        if inspect.isfunction(obj) and name not in NOT_OPTIMIZERS:
            yield name, obj


def test_every_public_hyperparameter_has_a_row():
    covered = {(row.config.factory.__name__, row.param.name) for row in ROWS}
    seen = set()
    for name, function in public_functions():
        for param in inspect.signature(function).parameters.values():
            key = (name, param.name)
            seen.add(key)
            default = param.default
            numeric_default = (isinstance(default, numbers.Number)
                               and not isinstance(default, bool))
            assert key in covered or key in EXCLUDED, f"{name}({param.name}=...) has no row"
            assert not (key in covered and key in EXCLUDED), f"{key} is both in a row and excluded"
            assert not (numeric_default and key in EXCLUDED and key not in STATIC), \
                f"{name}({param.name}={default!r}) has a numeric default: it needs a row"
    # No stale rows or exclusions: each names a parameter that exists.
    assert covered <= seen, covered - seen
    assert set(EXCLUDED) <= seen, set(EXCLUDED) - seen


def test_the_optimizers_table_lists_exactly_the_traced_arguments():
    """``jopt.optimizers.HYPERPARAMETERS`` (the sweep's grid keys) names, for every
    optimizer in ``jopt.optimizers.__all__``, exactly the arguments this file traces."""
    from jopt import optimizers
    names = [n for n in optimizers.__all__ if inspect.isfunction(getattr(optimizers, n))]
    assert sorted(optimizers.HYPERPARAMETERS) == sorted(names)
    for name in names:
        traced = {row.param.name for row in ROWS if row.config.factory.__name__ == name}
        assert set(optimizers.HYPERPARAMETERS[name]) == traced, name


# ----------------------------------------------------------------------------
# The three checks
# ----------------------------------------------------------------------------


def outputs(config: Config, h: dict):
    """The objective, and everything observable about a run: final params and state,
    and for a schedule its values at ``COUNTS``."""
    built = config.make(h)
    if isinstance(built, jopt.GradientTransformation):
        params, state = run(built, config.steps, config.extras)
        objective = (config.objective or (lambda p, s: loss(p)))(params, state)
        return objective, (params, state)
    values = built(jnp.asarray(COUNTS))
    params, state = run(jopt.sgd(built), SCHEDULE_STEPS)
    return loss(params), (values, params, state)


def base(config: Config, row: Row, values) -> dict:
    """The hyperparameters of ``config``: ``values`` for ``row``'s, the base for the rest."""
    return {p.name: values if p is row.param else p.values[1] for p in config.params}


@functools.lru_cache(maxsize=None)
def sweep_program(config: Config):
    """``jax.jit(jax.vmap(outputs))`` over every hyperparameter of ``config``, and the list
    of its traces: one float32 program for all the rows of the configuration."""
    traces = []

    def sweep(h):
        traces.append(h)  # runs once per trace, i.e. once per compilation
        return jax.vmap(functools.partial(outputs, config))(h)

    return jax.jit(sweep), traces


def sweep_inputs(row: Row, values) -> dict:
    """Four lanes: ``values`` for ``row``'s hyperparameter, the base value for the rest."""
    return {p.name: jnp.asarray(values if p is row.param else [p.values[1]] * 4)
            for p in row.config.params}


@functools.lru_cache(maxsize=None)
def hypergradient_program(config: Config):
    """``jax.jit(jax.value_and_grad(objective))`` with respect to every hyperparameter of
    ``config`` (a dict of floats; float64: call it inside ``jax.enable_x64(True)``), and
    the list of its traces."""
    traces = []

    def objective(h):
        traces.append(h)
        return outputs(config, h)[0]

    return jax.jit(jax.value_and_grad(objective)), traces


def _key_data(tree):
    """PRNG keys in a state (add_noise's) as their integer data, comparable as arrays."""
    return jax.tree_util.tree_map(
        lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x,
        tree)


def assert_trees_close(actual, expected, rtol, atol):
    actual_leaves, actual_def = jax.tree_util.tree_flatten(_key_data(actual))
    expected_leaves, expected_def = jax.tree_util.tree_flatten(_key_data(expected))
    assert actual_def == expected_def
    for a, e in zip(actual_leaves, expected_leaves):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(e, np.float64),
                                   rtol=rtol, atol=atol)


@pytest.mark.parametrize("row", every(FAST_ROWS, 3), ids=lambda row: getattr(row, "id", None))
def test_vmap_equals_loop(row):
    """``jax.vmap`` over four values (jitted) against a loop over them, run op by op with
    each value a plain Python number (the concrete path: validated, not traced)."""
    config = row.config
    program, _ = sweep_program(config)
    batched = program(sweep_inputs(row, row.param.values))
    single = lambda value: outputs(config, base(config, row, value))  # noqa: E731
    if config.extras:
        # A line search's fori_loop, cond and scans compile at each call op by op: jit
        # the loop's runs too (one program, run once per value).
        single = jax.jit(single)
    for i, value in enumerate(row.param.values):
        actual = jax.tree_util.tree_map(lambda x: x[i], batched)
        assert_trees_close(actual, single(value), rtol=2e-5, atol=1e-6)
    # The value matters: the four runs are not all the same.
    objectives = np.asarray(batched[0])
    assert np.ptp(objectives) > 1e-5 * np.max(np.abs(objectives)), objectives


@pytest.mark.parametrize("row", every(ROWS, 2), ids=lambda row: getattr(row, "id", None))
def test_new_value_does_not_recompile(row):
    """The jitted sweep given new values (each lane another one) is not traced, so not
    compiled, again (its other rows' calls included), and each lane follows its value."""
    program, traces = sweep_program(row.config)
    first = program(sweep_inputs(row, row.param.values))
    with compilations() as compiled:
        second = program(sweep_inputs(row, row.param.values[::-1]))
    assert len(traces) == 1, f"{row.id}: traced {len(traces)} times"
    assert compiled["jit(sweep)"] == 0, compiled
    np.testing.assert_allclose(np.asarray(second[0]), np.asarray(first[0])[::-1], rtol=1e-6)
    assert not np.array_equal(np.asarray(second[0]), np.asarray(first[0]))


@pytest.mark.parametrize("row", every(FAST_ROWS, 4, offset=1),
                         ids=lambda row: getattr(row, "id", None))
def test_hypergradient_matches_finite_difference(row):
    """``jax.grad`` through the construction of the optimizer or schedule, in float64,
    against a central difference of the same jitted program (which does not retrace)."""
    program, traces = hypergradient_program(row.config)
    at = {p.name: float(p.at) for p in row.config.params}
    name, x = row.param.name, float(row.param.at)
    step = 1e-6 * max(abs(x), 1e-2)
    with jax.enable_x64(True):
        grad = float(program(at)[1][name])
        finite_difference = float((program({**at, name: x + step})[0]
                                   - program({**at, name: x - step})[0]) / (2 * step))
    assert len(traces) == 1, f"{row.id}: traced {len(traces)} times"
    assert np.isfinite(grad), f"{row.id}: gradient {grad}"
    if row.param.smooth:
        # The value does move the loss here; a zero gradient would be no check.
        assert abs(finite_difference) > 1e-6, finite_difference
        np.testing.assert_allclose(grad, finite_difference, rtol=1e-5, atol=1e-9)
    else:
        # Piecewise constant in the value: on a flat piece both are exactly 0; the
        # check is that grad runs and passes through the construction finitely.
        assert finite_difference == 0.0
        assert grad == 0.0


# ----------------------------------------------------------------------------
# Where the peer fails
# ----------------------------------------------------------------------------


def test_vmap_over_step_counts_where_optax_raises():
    """optax 0.2.8's ``exponential_decay`` tests ``if transition_steps <= 0`` in Python:
    under vmap that raises; jopt's gives, in one program, optax's values from a loop."""
    steps = (1, 2, 3, 4)
    counts = jnp.asarray(COUNTS)
    with pytest.raises(jax.errors.TracerBoolConversionError):
        jax.vmap(lambda h: optax.exponential_decay(0.3, h, 0.5)(counts))(jnp.asarray(steps))
    with pytest.raises(jax.errors.TracerBoolConversionError):
        jax.vmap(lambda h: optax.cosine_decay_schedule(0.3, h)(counts))(jnp.asarray(steps))
    batched = jax.vmap(lambda h: jopt.exponential_decay(0.3, h, 0.5)(counts))(jnp.asarray(steps))
    for i, h in enumerate(steps):
        np.testing.assert_allclose(batched[i], optax.exponential_decay(0.3, h, 0.5)(counts),
                                   rtol=1e-6)
    batched = jax.vmap(lambda h: jopt.cosine_decay_schedule(0.3, h)(counts))(jnp.asarray(steps))
    for i, h in enumerate(steps):
        np.testing.assert_allclose(batched[i], optax.cosine_decay_schedule(0.3, h)(counts),
                                   rtol=1e-6, atol=1e-7)
