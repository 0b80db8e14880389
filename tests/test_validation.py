"""Bad input, traced values, low precision and counters (README.md, "API overview").

- A concrete bad value raises ``ValueError`` or ``TypeError`` naming the argument and
  the value, when the optimizer, transform or schedule is built (``BAD_VALUES``).
- A traced value is not validated: whoever made it concrete did (the sweep grid).
- bfloat16 and float16 parameters keep float32 hyperparameters (``b2 = 0.999`` rounds
  to 1 in bfloat16, ``0.9999`` in float16); moments are stored in the parameter dtype
  unless ``mu_dtype`` says otherwise; int32 counters saturate instead of overflowing.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt

J = jopt
INT32_MAX = 2**31 - 1

# (argument named in the message, bad value, how it is passed, the exception)
BAD_VALUES = [
    ("learning_rate", -0.1, lambda v: J.sgd(v), ValueError),
    ("learning_rate", -0.1, lambda v: J.scale_by_learning_rate(v), ValueError),
    ("learning_rate", math.nan, lambda v: J.sgd(v), ValueError),
    ("learning_rate", math.inf, lambda v: J.adam(v), ValueError),
    ("learning_rate", "0.1", lambda v: J.adam(v), TypeError),
    ("learning_rate", None, lambda v: J.rmsprop(v), TypeError),
    ("learning_rate", np.float32(-0.1), lambda v: J.sgd(v), ValueError),
    ("learning_rate", jnp.asarray(-0.1), lambda v: J.adagrad(v), ValueError),
    ("learning_rate", -0.1, lambda v: J.trace(0.9, learning_rate=v), ValueError),
    ("learning_rate", -0.1, lambda v: J.lbfgs(v), ValueError),
    ("b1", 1.0, lambda v: J.adam(0.1, b1=v), ValueError),
    ("b1", -0.1, lambda v: J.adamw(0.1, b1=v), ValueError),
    ("b1", "0.9", lambda v: J.adam(0.1, b1=v), TypeError),  # NumPy would read it as 0.9
    ("b2", 1.5, lambda v: J.adam(0.1, b2=v), ValueError),
    ("b2", 1.0, lambda v: J.scale_by_adam(b2=v), ValueError),
    ("eps", 0.0, lambda v: J.adam(0.1, eps=v), ValueError),
    ("eps", -1e-8, lambda v: J.rmsprop(0.1, eps=v), ValueError),
    ("eps", 0.0, lambda v: J.adagrad(0.1, eps=v), ValueError),
    ("eps_root", -1.0, lambda v: J.adam(0.1, eps_root=v), ValueError),
    ("decay", -0.1, lambda v: J.rmsprop(0.1, decay=v), ValueError),
    ("decay", 1.0, lambda v: J.ema(v), ValueError),
    ("decay", 1.5, lambda v: J.trace(v), ValueError),  # 1 is optax's sum of gradients
    ("decay", 2.0, lambda v: J.average_iterates(v), ValueError),
    ("momentum", 1.0, lambda v: J.sgd(0.1, momentum=v), ValueError),
    ("momentum", -0.5, lambda v: J.sgd(0.1, momentum=v, momentum_form="ema"), ValueError),
    ("momentum", 1.0, lambda v: J.rmsprop(0.1, momentum=v), ValueError),
    ("momentum_form", "sideways", lambda v: J.sgd(0.1, 0.9, momentum_form=v), ValueError),
    ("dampening", 1.5, lambda v: J.sgd(0.1, 0.9, dampening=v), ValueError),
    ("weight_decay", -0.01, lambda v: J.adamw(0.1, weight_decay=v), ValueError),
    ("weight_decay", -0.01, lambda v: J.sgd(0.1, weight_decay=v), ValueError),
    ("weight", -0.01, lambda v: J.add_l1_penalty(v), ValueError),
    ("weight", math.inf, lambda v: J.add_l1_penalty(v), ValueError),
    ("weight", "0.1", lambda v: J.add_l1_penalty(v), TypeError),
    ("initial_accumulator_value", -0.1,
     lambda v: J.adagrad(0.1, initial_accumulator_value=v), ValueError),
    ("initial_scale", -1.0, lambda v: J.rmsprop(0.1, initial_scale=v), ValueError),
    ("max_delta", 0.0, lambda v: J.clip(v), ValueError),
    ("max_norm", -1.0, lambda v: J.clip_by_global_norm(v), ValueError),
    ("step_size", math.nan, lambda v: J.scale(v), ValueError),
    ("start", -1, lambda v: J.average_iterates(None, v), ValueError),
    # transition_steps <= 0 and decay_rate = 0 are optax's constant schedule (accepted)
    ("transition_steps", float("nan"), lambda v: J.exponential_decay(0.1, v, 0.5), ValueError),
    ("transition_steps", float("inf"), lambda v: J.linear_schedule(0.1, 0.0, v), ValueError),
    ("transition_begin", -1, lambda v: J.polynomial_schedule(1.0, 0.0, 1, 10, v), ValueError),
    ("decay_rate", -0.5, lambda v: J.exponential_decay(0.1, 10, v), ValueError),
    ("decay_rate", -0.5, lambda v: J.inverse_time_decay(1.0, v), ValueError),
    ("decay_steps", -3, lambda v: J.cosine_decay_schedule(0.1, v), ValueError),
    ("decay_steps", 5, lambda v: J.warmup_cosine_decay_schedule(0.0, 1.0, 10, v), ValueError),
    ("warmup_steps", -1, lambda v: J.warmup(J.constant_schedule(0.1), v), ValueError),
    ("scales", [0.5, -0.1],
     lambda v: J.piecewise_constant_schedule(1.0, boundaries=[2, 4], scales=v), ValueError),
    ("boundaries", [-2, 4],
     lambda v: J.piecewise_constant_schedule(1.0, boundaries=v, scales=[0.5, 0.5]), ValueError),
    ("boundaries", [-1], lambda v: J.join_schedules(
        [J.constant_schedule(1.0), J.constant_schedule(0.5)], v), ValueError),
    ("offset", 0.0, lambda v: J.power_decay(1.0, 0.5, v), ValueError),
    ("power", -1.0, lambda v: J.power_decay(1.0, v), ValueError),
    ("min_value", -0.1, lambda v: J.floor(J.constant_schedule(1.0), v), ValueError),
    ("schedule", 0.1, lambda v: J.warmup(v, 5), TypeError),  # warmup(schedule, steps)
    ("schedule", 0.1, lambda v: J.floor(v, 0.01), TypeError),
    ("schedules[0]", 0.1, lambda v: J.join_schedules([v, J.constant_schedule(0.1)], [5]),
     TypeError),
    ("step_size_fn", 0.1, lambda v: J.scale_by_schedule(v), TypeError),
    ("chain argument 1", 0.5, lambda v: J.chain(J.sgd(0.1), v), TypeError),
    ("slope_rtol", 1.0, lambda v: J.scale_by_backtracking_linesearch(slope_rtol=v), ValueError),
    ("decrease_factor", 1.0, lambda v: J.lbfgs(decrease_factor=v), ValueError),
    ("max_backtracking_steps", 0, lambda v: J.scale_by_backtracking_linesearch(v), ValueError),
    ("memory_size", 0, lambda v: J.lbfgs(memory_size=v), ValueError),
    # optax's other optimizers: each argument by the name the user wrote
    ("beta", 1.0, lambda v: J.signum(0.1, beta=v), ValueError),
    ("b3", 1.0, lambda v: J.adan(0.1, b3=v), ValueError),
    ("b2", 1.0, lambda v: J.lion(0.1, b2=v), ValueError),
    ("b2", 1.5, lambda v: J.scale_by_sm3(b2=v), ValueError),
    ("momentum", 1.0, lambda v: J.sm3(0.1, momentum=v), ValueError),
    ("momentum", 1.2, lambda v: J.adafactor(momentum=v), ValueError),
    ("momentum", -0.1, lambda v: J.lars(0.1, momentum=v), ValueError),
    ("threshold", math.nan, lambda v: J.radam(0.1, threshold=v), ValueError),
    ("momentum_decay", -0.004, lambda v: J.nadam(0.1, momentum_decay=v), ValueError),
    ("eta_minus", 0.0, lambda v: J.rprop(0.1, eta_minus=v), ValueError),
    ("min_norm", -1.0, lambda v: J.fromage(0.1, min_norm=v), ValueError),
    ("scaling", -1.0, lambda v: J.polyak_sgd(scaling=v), ValueError),
    ("variant", "sps-", lambda v: J.polyak_sgd(variant=v), ValueError),
    ("mode", "soft", lambda v: J.scale_by_lion(mode=v), ValueError),
    ("optimism", -0.1, lambda v: J.optimistic_adam(0.1, optimism=v), ValueError),
    ("rho", 1.0, lambda v: J.adadelta(rho=v), ValueError),
    ("eps", 0.0, lambda v: J.adafactor(eps=v), ValueError),
    ("eta", -0.01, lambda v: J.noisy_sgd(0.1, eta=v), ValueError),
    ("trust_coefficient", -1.0, lambda v: J.lars(0.1, trust_coefficient=v), ValueError),
    ("weight_decay", -0.1, lambda v: J.lamb(0.1, weight_decay=v), ValueError),
]


@pytest.mark.parametrize("name, value, build, error", BAD_VALUES,
                         ids=[f"{case[0]}={case[1]!r}" for case in BAD_VALUES])
def test_bad_value_is_rejected_by_name_and_value(name, value, build, error):
    with pytest.raises(error) as caught:
        build(value)
    message = str(caught.value)
    assert name in message, message
    assert repr(value) in message, message


def test_the_table_is_large_enough():
    assert len(BAD_VALUES) >= 20
    assert len({(name, repr(value)) for name, value, _, _ in BAD_VALUES}) >= 20


# ----------------------------------------------------------------------------
# Mismatched pytrees in update
# ----------------------------------------------------------------------------

PARAMS = {"w": jnp.ones(3), "b": jnp.zeros([])}
WRONG = {"w": jnp.ones(3)}  # a different tree structure


@pytest.mark.parametrize("make", [
    lambda: J.adam(0.1), lambda: J.sgd(0.1, 0.9), lambda: J.adagrad(0.1),
    lambda: J.rmsprop(0.1, centered=True), lambda: J.scale_by_adam(), lambda: J.ema(0.9),
    lambda: J.adamw(0.1),
], ids=["adam", "sgd momentum", "adagrad", "rmsprop centered", "scale_by_adam", "ema", "adamw"])
def test_updates_with_another_tree_structure_than_the_state(make):
    opt = make()
    state = opt.init(PARAMS)
    with pytest.raises(ValueError) as caught:
        opt.update(WRONG, state, PARAMS)
    message = str(caught.value)
    assert "updates" in message
    assert str(jax.tree_util.tree_structure(WRONG)) in message, message


def test_apply_updates_with_another_tree_structure():
    with pytest.raises(ValueError) as caught:
        jopt.apply_updates(PARAMS, WRONG)
    assert "updates" in str(caught.value)
    assert str(jax.tree_util.tree_structure(WRONG)) in str(caught.value)


# ----------------------------------------------------------------------------
# Traced values are not validated
# ----------------------------------------------------------------------------

X0 = jnp.asarray([1.0, -2.0, 0.5])
CURVATURE = jnp.asarray([1.0, 2.0, 0.5])


def gd_step(opt):
    """One update on f(x) = 0.5 sum(a x^2) from X0."""
    state = opt.init(X0)
    updates, _ = opt.update(CURVATURE * X0, state, X0)
    return jopt.apply_updates(X0, updates)


def test_traced_values_are_not_validated():
    """Inside vmap a negative rate is a tracer: the build does not raise, and the lane
    follows the rule (an ascent); the same value given concretely is refused."""
    rates = jnp.asarray([-0.1, 0.1])
    stepped = jax.vmap(lambda lr: gd_step(jopt.sgd(lr)))(rates)
    for lr, x in zip([-0.1, 0.1], stepped):
        np.testing.assert_allclose(x, X0 - lr * CURVATURE * X0, rtol=1e-6)
    with pytest.raises(ValueError, match="learning_rate"):
        jopt.sgd(-0.1)
    # b1 = 1 under jit: built without complaint (the run is the caller's business).
    jax.jit(lambda b1: gd_step(jopt.adam(0.1, b1=b1)))(1.0)
    with pytest.raises(ValueError, match="b1"):
        jopt.adam(0.1, b1=1.0)
    # A step count traced inside a list of boundaries is not checked either.
    jax.vmap(lambda b: jopt.join_schedules(
        [jopt.constant_schedule(1.0), jopt.constant_schedule(0.5)], [b])(3))(jnp.asarray([-1, 2]))


# ----------------------------------------------------------------------------
# A sweep's check of all its configurations at once
# ----------------------------------------------------------------------------

# values each schedule argument can take at once, and candidates for every argument
SCHEDULE_VALUES = {"learning_rate": 0.1, "init_value": 0.0, "end_value": 0.001,
                   "transition_steps": 50, "decay_steps": 100, "warmup_steps": 10,
                   "decay_rate": 0.5, "transition_begin": 0, "power": 1.0, "exponent": 1.0,
                   "alpha": 0.0, "pct_start": 0.3, "pct_final": 0.85, "div_factor": 25.0,
                   "final_div_factor": 1e4, "rate": 0.5, "offset": 1.0}
CANDIDATES = [-1.0, -1e-8, 0.0, 1e-3, 0.5, 0.9, 1.0, 1.5, 2.0, 5, 100, 1000, math.nan, math.inf]


def _good_values(optimizer, schedule=None):
    """Values every argument of ``optimizer`` (and ``schedule``) accepts: the
    signature's defaults, a learning rate of 0.1 and the schedule values above."""
    import inspect

    from jopt.sweep import schema
    names = list(schema.OPTIMIZERS[optimizer]) + \
        (list(schema.SCHEDULES[schedule].arguments) if schedule else [])
    defaults = {name: p.default for fn in [getattr(jopt, optimizer)] +
                ([getattr(jopt, schedule)] if schedule else [])
                for name, p in inspect.signature(fn).parameters.items()
                if p.default is not p.empty and isinstance(p.default, (int, float))
                and not isinstance(p.default, bool)}
    return {name: SCHEDULE_VALUES[name] if name in SCHEDULE_VALUES and schedule
            else defaults.get(name, SCHEDULE_VALUES.get(name, 0.1)) for name in names}


def _refused(build):
    try:
        build()
    except (ValueError, TypeError):
        return True
    return False


def _cases():
    from jopt.sweep import schema
    cases = [(name, None) for name in schema.OPTIMIZERS if name not in schema.NOT_IN_SWEEPS]
    return cases + [("sgd", schedule) for schedule in schema.SCHEDULES]


@pytest.mark.parametrize("optimizer, schedule", _cases(), ids=lambda v: str(v))
def test_arrays_of_values_are_refused_wherever_one_of_them_alone_is(optimizer, schedule):
    """A sweep builds a named optimizer once with arrays of all its configurations'
    values and checks them one by one only if that build refuses
    (``jopt.sweep.runner``): for every optimizer and schedule of the sweep schema, every
    argument and every candidate value the one-value build refuses, the build with
    ``[good, bad]`` must refuse too, or a bad configuration would run."""
    from jopt.sweep import schema
    good = _good_values(optimizer, schedule)
    build = lambda values: schema.make_optimizer(optimizer, values, schedule)
    assert not _refused(lambda: build(good)), good
    refused = 0
    for name in good:
        for bad in CANDIDATES:
            if not _refused(lambda: build({**good, name: bad})):
                continue
            refused += 1
            pair = np.array([good[name], bad])
            assert _refused(lambda: build({**good, name: pair})), (name, bad)
            assert _refused(lambda: build({**good, name: pair[::-1].copy()})), (name, bad)
    assert refused > 0  # each case has something to refuse


def test_a_sweep_names_the_first_bad_configuration_among_many():
    """The check at once refuses, then the one-by-one builds name the configuration (the
    joint check of warmup_cosine_decay_schedule's steps included)."""
    pytest.importorskip("pandas")
    import jopt.sweep as sweep
    task = sweep.builtin_task(model="linear", dataset="iris", optimizer="sgd",
                              schedule="warmup_cosine_decay_schedule", warmup_steps=10)
    budget = sweep.Budget(steps=4, eval_every=2)
    grid = sweep.Grid(learning_rate=[0.1, 0.2], decay_steps=[50, 10, 20], batch_size=[8])
    with pytest.raises(sweep.TaskError, match=r"config 1 \(learning_rate=0.1, decay_steps=10\).*"
                                              r"decay_steps must be larger than warmup_steps"):
        sweep.run(task, grid, budget=budget, quiet=True)
    bad_rate = sweep.Grid(learning_rate=[0.1, 0.2, -0.3, 0.4], batch_size=[8])
    task = sweep.builtin_task(model="linear", dataset="iris", optimizer="adam")
    with pytest.raises(sweep.TaskError, match=r"config 2 \(learning_rate=-0.3\)"):
        sweep.run(task, bad_rate, budget=budget, quiet=True)
    # checked as the program holds it: 1 - 1e-9 is below 1, its float32 is 1.0
    near_one = sweep.Grid(learning_rate=[0.1], b1=[0.9, 1 - 1e-9], batch_size=[8])
    with pytest.raises(sweep.TaskError, match=r"config 1 \(learning_rate=0.1, "
                                              r"b1=0.999999999\): b1 must be in \[0, 1\), got 1.0"):
        sweep.run(task, near_one, budget=budget, quiet=True)


# ----------------------------------------------------------------------------
# Low precision: float32 hyperparameters, moments in the parameter dtype
# ----------------------------------------------------------------------------


def adam_reference(x0, lr, b1, b2, eps, steps, dtype):
    """Adam in float32 NumPy (b1, b2 exactly as given), fed the gradients the
    low-precision run sees (each rounded to ``dtype``)."""
    x = np.asarray(x0, np.float32)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    b1, b2, lr, eps = (np.float32(value) for value in (b1, b2, lr, eps))
    xs = []
    for t in range(1, steps + 1):
        g = np.asarray(jnp.asarray(np.asarray(CURVATURE) * x, dtype), np.float32)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        xs.append(x)
    return np.stack(xs)


@pytest.mark.parametrize("dtype, b2, ulp", [
    (jnp.bfloat16, 0.999, 2.0**-8), (jnp.float16, 0.9999, 2.0**-11)])
def test_low_precision_params_keep_float32_hyperparameters(dtype, b2, ulp):
    assert float(jnp.asarray(b2, dtype)) == 1.0  # the hazard: b2 in the parameter dtype
    opt = jopt.adam(0.1, b2=b2)
    x = jnp.asarray([1.0, -2.0, 0.5], dtype)
    state = opt.init(x)
    steps = []
    for _ in range(5):
        updates, state = opt.update((CURVATURE * x.astype(jnp.float32)).astype(dtype), state, x)
        assert updates.dtype == dtype
        x = jopt.apply_updates(x, updates)
        assert x.dtype == dtype
        steps.append(np.asarray(x, np.float32))
    reference = adam_reference(np.asarray(jnp.asarray([1.0, -2.0, 0.5], dtype), np.float32),
                               0.1, 0.9, b2, 1e-8, 5, dtype)
    # With b2 rounded to 1, nu would stay 0 and v / (1 - b2^t) be 0 / 0.  Otherwise the
    # run differs from float32 Adam by the rounding of the parameters (|x| <= 3, a unit
    # roundoff ``ulp``: at most 2 * 3 * ulp) at each step; Adam's normalized steps do not
    # amplify it.
    assert np.all(np.isfinite(steps))
    for k, (actual, expected) in enumerate(zip(steps, reference)):
        np.testing.assert_allclose(actual, expected, rtol=0, atol=(k + 1) * 2 * 3 * ulp)
    # The first step of Adam has length lr in every coordinate.
    x0 = np.asarray(jnp.asarray([1.0, -2.0, 0.5], dtype), np.float32)
    np.testing.assert_allclose(np.abs(steps[0] - x0), 0.1, rtol=0, atol=2 * 2 * ulp)


def test_rms_first_step_in_bfloat16_uses_float32_decay():
    """scale_by_rms(decay=0.999) on a bfloat16 gradient: nu_1 = 0.001 g^2 (computed in
    float32), u_1 = g / (sqrt(nu_1) + eps); with decay rounded to 1, nu_1 = 0 and u_1 = g/eps."""
    g = jnp.asarray([0.5, -2.0, 3.0], jnp.bfloat16)
    transform = jopt.scale_by_rms(decay=0.999, eps=1e-8)
    updates, state = transform.update(g, transform.init(g))
    g32 = np.asarray(g, np.float32)
    nu = np.float32(1 - np.float32(0.999)) * g32**2
    np.testing.assert_array_equal(np.asarray(state.nu, np.float32),
                                  np.asarray(jnp.asarray(nu, jnp.bfloat16), np.float32))
    expected = g32 / (np.sqrt(np.asarray(state.nu, np.float32)) + np.float32(1e-8))
    np.testing.assert_allclose(np.asarray(updates, np.float32), expected, rtol=2.0**-8)
    assert updates.dtype == jnp.bfloat16


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_moments_in_parameter_dtype_unless_mu_dtype(dtype):
    params = {"w": jnp.ones(3, dtype), "b": jnp.zeros([], dtype)}
    grads = jax.tree_util.tree_map(lambda p: jnp.full_like(p, 0.5), params)
    for opt, mu_dtype in [(jopt.adam(0.1), dtype),
                          (jopt.adam(0.1, mu_dtype=jnp.float32), jnp.float32)]:
        state = opt.init(params)
        _, state = opt.update(grads, state, params)
        adam_state = jopt.find_state(state, jopt.ScaleByAdamState)
        for leaf in jax.tree_util.tree_leaves(adam_state.mu):
            assert leaf.dtype == mu_dtype
        for leaf in jax.tree_util.tree_leaves(adam_state.nu):
            assert leaf.dtype == dtype
    for opt, name in [(jopt.sgd(0.1, 0.9), "trace"), (jopt.rmsprop(0.1, centered=True), "nu"),
                      (jopt.adagrad(0.1), "sum_of_squares")]:
        state = opt.init(params)
        _, state = opt.update(grads, state, params)
        for leaf in jax.tree_util.tree_leaves(state):
            if jnp.issubdtype(leaf.dtype, jnp.floating):
                assert leaf.dtype == dtype, (name, leaf.dtype)
    state = jopt.sgd(0.1, 0.9, accumulator_dtype=jnp.float32).init(params)
    trace_state = jopt.find_state(state, jopt.TraceState)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(trace_state.trace))


# ----------------------------------------------------------------------------
# Counters saturate
# ----------------------------------------------------------------------------


def test_chain_counter_saturates_at_int32_max():
    b1, b2, eps = 0.9, 0.999, 1e-8
    opt = jopt.adam(0.1, b1, b2, eps)
    g = jnp.asarray([0.5, -2.0, 3.0])
    state = opt.init(g)
    state = state._replace(count=jnp.asarray(INT32_MAX, jnp.int32))
    updates, state = opt.update(g, state, g)
    assert state.count.dtype == jnp.int32
    assert int(state.count) == INT32_MAX
    assert int(jopt.find_state(state, jopt.ScaleByAdamState).count) == INT32_MAX
    # At t = 2**31 - 1 the bias corrections 1 - b^t are 1: u = -lr m / (sqrt(v) + eps)
    # with m = (1 - b1) g, v = (1 - b2) g^2.  An overflowed (negative) t gives b^t = inf.
    g32 = np.asarray(g)
    expected = -0.1 * (1 - b1) * g32 / (np.sqrt((1 - b2) * g32**2) + eps)
    np.testing.assert_allclose(np.asarray(updates), expected, rtol=1e-5)
    _, state = opt.update(g, state, g)
    assert int(state.count) == INT32_MAX


@pytest.mark.parametrize("make", [
    lambda: jopt.scale_by_adam(), lambda: jopt.trace(0.9), lambda: jopt.ema(0.9),
    lambda: jopt.scale_by_schedule(jopt.exponential_decay(1.0, 10, 0.5)),
    lambda: jopt.scale_by_rms(init_with_first_grad=True), lambda: jopt.average_iterates(),
], ids=["scale_by_adam", "trace", "ema", "scale_by_schedule", "scale_by_rms", "average_iterates"])
def test_transform_counter_saturates_at_int32_max(make):
    transform = make()
    g = jnp.asarray([0.5, -2.0, 3.0])
    state = transform.init(g)
    state = state._replace(count=jnp.asarray(INT32_MAX, jnp.int32))
    updates, state = transform.update(g, state, g)
    assert int(state.count) == INT32_MAX
    assert np.all(np.isfinite(np.asarray(updates)))


def test_trace_with_decay_one_is_optax_running_sum():
    """``trace(decay=1.0)`` is accepted with optax's meaning: the sum of all gradients so
    far (README, "Where jopt differs from optax"); ``decay > 1`` is refused above."""
    grads = [jnp.asarray([0.5, -2.0, 3.0]) * (k + 1) for k in range(5)]
    jopt_trace, optax_trace = J.trace(1.0), optax.trace(1.0)
    jopt_state, optax_state = jopt_trace.init(grads[0]), optax_trace.init(grads[0])
    for k, g in enumerate(grads):
        jopt_update, jopt_state = jopt_trace.update(g, jopt_state)
        optax_update, optax_state = optax_trace.update(g, optax_state)
        np.testing.assert_allclose(jopt_update, optax_update, rtol=1e-6)
        np.testing.assert_allclose(jopt_update, sum(grads[:k + 1]), rtol=1e-6)
