"""optax's combinators and wrappers under optax's names (jopt.combine, jopt.wrappers,
jopt.base), each checked step for step against optax's own on a small pytree: partition,
masked, named_chain, inject_hyperparams, apply_if_finite, MultiSteps, set_to_zero,
stateless, and apply_updates / incremental_update / periodic_update with None leaves.

optax's own test files for these names run in tests/optax_suite; these tests compare
values over several steps, with gradients that turn non-finite and hyperparameters
changed in the state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt

PARAMS = {"a": jnp.array([1.0, -2.0, 0.5]), "b": {"c": jnp.array([3.0]), "d": jnp.array(-1.0)}}
LABELS = {"a": "adam", "b": {"c": "sgd", "d": "frozen"}}
STEPS = 6


def gradients(step: int):
    """A different gradient at every step (a pytree like PARAMS)."""
    return jax.tree_util.tree_map(lambda p: jnp.sin(p * (step + 1.0)) + 0.1 * step, PARAMS)


def trajectory(opt, steps: int = STEPS, grads=gradients, **extra):
    """The updates of ``steps`` calls of ``opt.update`` (params moving with them)."""
    params, state, out = PARAMS, opt.init(PARAMS), []
    update = jax.jit(opt.update)  # one compile, not many small eager dispatches
    for step in range(steps):
        updates, state = update(grads(step), state, params, **extra)
        params = jopt.apply_updates(params, updates)
        out.append(updates)
    return out, state


def assert_same(jopt_run, optax_run, rtol=1e-5):  # float32, as test_equivalence
    for got, want in zip(jopt_run, optax_run):
        jax.tree_util.tree_map(lambda g, w: np.testing.assert_allclose(g, w, rtol=rtol,
                                                                       atol=1e-7), got, want)


def test_partition_equals_optax_and_freezes_with_set_to_zero():
    def make(lib):
        return lib.partition({"adam": lib.adam(0.1), "sgd": lib.sgd(0.05, momentum=0.9),
                              "frozen": lib.set_to_zero()}, LABELS)
    jopt_run, _ = trajectory(make(jopt))
    optax_run, _ = trajectory(make(optax))
    assert_same(jopt_run, optax_run)
    assert all(float(u["b"]["d"]) == 0.0 for u in jopt_run)


def test_partition_with_a_label_function_and_multi_transform_alias():
    def label(params):
        return jax.tree_util.tree_map(lambda p: "big" if p.size > 1 else "small", params)
    tx = jopt.multi_transform({"big": jopt.scale(-1.0), "small": jopt.scale(2.0)}, label)
    updates, _ = tx.update(gradients(0), tx.init(PARAMS))
    np.testing.assert_allclose(updates["a"], -gradients(0)["a"])
    np.testing.assert_allclose(updates["b"]["d"], 2 * gradients(0)["b"]["d"])


def test_partition_refuses_a_label_without_a_transform():
    with pytest.raises(ValueError, match="'frozen'"):
        jopt.partition({"adam": jopt.adam(0.1), "sgd": jopt.sgd(0.1)}, LABELS).init(PARAMS)


def test_masked_equals_optax():
    mask = {"a": True, "b": {"c": False, "d": True}}
    jopt_run, _ = trajectory(jopt.masked(jopt.adam(0.1), mask))
    optax_run, _ = trajectory(optax.masked(optax.adam(0.1), mask))
    assert_same(jopt_run, optax_run)
    # the masked-out leaf passes unchanged
    np.testing.assert_allclose(jopt_run[2]["b"]["c"], gradients(2)["b"]["c"])


def test_named_chain_equals_chain():
    named = jopt.named_chain(("clip", jopt.clip_by_global_norm(1.0)), ("adam", jopt.adam(0.1)))
    jopt_run, state = trajectory(named)
    optax_run, _ = trajectory(optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.1)))
    assert_same(jopt_run, optax_run)
    assert set(state) == {"clip", "adam"}


def test_inject_hyperparams_equals_optax_with_a_schedule_and_a_changed_value():
    schedule = jopt.exponential_decay(0.1, 2, 0.5)
    opt_schedule = optax.exponential_decay(0.1, 2, 0.5)
    jopt_opt = jopt.inject_hyperparams(jopt.adam)(learning_rate=schedule, b1=0.8)
    optax_opt = optax.inject_hyperparams(optax.adam)(learning_rate=opt_schedule, b1=0.8)
    states = [jopt_opt.init(PARAMS), optax_opt.init(PARAMS)]
    for step in range(STEPS):
        if step == 3:  # change b1 between steps, in the state
            for state in states:
                state.hyperparams["b1"] = jnp.asarray(0.5)
        (u1, states[0]), (u2, states[1]) = (jopt_opt.update(gradients(step), states[0]),
                                            optax_opt.update(gradients(step), states[1]))
        assert_same([u1], [u2])
        np.testing.assert_allclose(states[0].hyperparams["learning_rate"],
                                   states[1].hyperparams["learning_rate"], rtol=1e-6)


def test_inject_hyperparams_jits_once_for_new_values():
    opt = jopt.inject_hyperparams(jopt.sgd)(learning_rate=0.1, momentum=0.9)
    traces = []

    @jax.jit
    def step(state):
        traces.append(1)
        return opt.update(gradients(0), state)[0]
    state = opt.init(PARAMS)
    first = step(state)
    state.hyperparams["learning_rate"] = jnp.asarray(0.2, state.hyperparams["learning_rate"].dtype)
    second = step(state)
    assert len(traces) == 1
    np.testing.assert_allclose(second["a"], 2 * first["a"], rtol=1e-6)


def nan_at(steps):
    def grads(step):
        g = gradients(step)
        return jax.tree_util.tree_map(lambda x: x * jnp.nan, g) if step in steps else g
    return grads


@pytest.mark.parametrize("max_errors", [0, 1, 3])
def test_apply_if_finite_equals_optax(max_errors):
    grads = nan_at({1, 3, 4})
    jopt_run, jopt_state = trajectory(jopt.apply_if_finite(jopt.adam(0.1), max_errors),
                                      grads=grads)
    optax_run, optax_state = trajectory(optax.apply_if_finite(optax.adam(0.1), max_errors),
                                        grads=grads)
    for got, want in zip(jopt_run, optax_run):  # NaN where optax has NaN
        jax.tree_util.tree_map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-5),
                               got, want)
    assert int(jopt_state.total_notfinite) == int(optax_state.total_notfinite) == 3
    assert int(jopt_state.notfinite_count) == int(optax_state.notfinite_count)


@pytest.mark.parametrize("use_grad_mean", [pytest.param(True, marks=pytest.mark.slow), False])
def test_multisteps_equals_optax(use_grad_mean):
    jopt_opt = jopt.MultiSteps(jopt.adam(0.1), every_k_schedule=3, use_grad_mean=use_grad_mean)
    optax_opt = optax.MultiSteps(optax.adam(0.1), every_k_schedule=3, use_grad_mean=use_grad_mean)
    jopt_run, jopt_state = trajectory(jopt_opt, steps=8)
    optax_run, _ = trajectory(optax_opt, steps=8)
    assert_same(jopt_run, optax_run)
    assert int(jopt_state.gradient_step) == 2
    assert all(float(u["a"][0]) == 0.0 for i, u in enumerate(jopt_run) if i % 3 != 2)
    assert not bool(jopt_opt.has_updated(jopt_state))


def test_stateless_equals_optax():
    def decay(g, p):
        return jax.tree_util.tree_map(lambda g_, p_: g_ + 0.1 * p_, g, p)
    jopt_run, _ = trajectory(jopt.chain(jopt.stateless(decay), jopt.scale(-0.1)))
    optax_run, _ = trajectory(optax.chain(optax.stateless(decay), optax.scale(-0.1)))
    assert_same(jopt_run, optax_run)
    tree_map_run, _ = trajectory(jopt.chain(
        jopt.stateless_with_tree_map(lambda g, p: g + 0.1 * p), jopt.scale(-0.1)))
    assert_same(tree_map_run, optax_run)


def test_apply_updates_passes_none_leaves_like_optax():
    params = {"w": jnp.ones(2), "frozen": None}
    updates = {"w": jnp.full(2, 0.5), "frozen": None}
    assert optax.apply_updates(params, updates)["frozen"] is None
    new = jopt.apply_updates(params, updates)
    assert new["frozen"] is None
    np.testing.assert_allclose(new["w"], 1.5)
    assert jopt.apply_updates(None, jnp.ones(3)) is None
    assert optax.apply_updates(None, jnp.ones(3)) is None


def test_incremental_and_periodic_updates_equal_optax():
    new, old = gradients(1), gradients(2)
    jax.tree_util.tree_map(np.testing.assert_allclose,
                           jopt.incremental_update(new, old, 0.3),
                           optax.incremental_update(new, old, 0.3))
    for step in range(6):
        jax.tree_util.tree_map(np.testing.assert_allclose,
                               jopt.periodic_update(new, old, step, 3),
                               optax.periodic_update(new, old, step, 3))


def test_each_transform_of_a_chain_gets_the_extra_arguments_its_signature_takes():
    """What ``inspect.signature`` says, for plain functions (their keyword names are
    remembered by code object: closures of one ``def`` share them), for a
    ``functools.wraps`` wrapper (the wrapped function's signature), for one with a
    ``__signature__``, for ``**kwargs`` and for callable objects."""
    import functools
    import inspect

    def transform(update):
        return jopt.GradientTransformation(lambda p: jopt.EmptyState(), update)

    def taking(names):  # one code object, several closures
        def update(updates, state, params=None, value=None, count=None):
            seen.append(("plain", names))
            return updates, state
        return update

    seen = []
    wrapped_inner = taking("inner")

    @functools.wraps(wrapped_inner)
    def via_wraps(updates, state, params=None, **extra):
        seen.append(("wraps", sorted(extra)))
        return updates, state

    def with_signature(updates, state, params=None, **extra):
        seen.append(("signature", sorted(extra)))
        return updates, state
    with_signature.__signature__ = inspect.signature(lambda updates, state, params=None, grad=None: 0)

    def everything(updates, state, params=None, **extra):
        seen.append(("kwargs", sorted(extra)))
        return updates, state

    class Update:
        def __call__(self, updates, state, params=None, grad=None):
            seen.append(("object", None))
            return updates, state

    chain = jopt.chain(*(transform(u) for u in (
        taking("a"), taking("b"), via_wraps, with_signature, everything, Update())))
    chain.update(gradients(0), chain.init(PARAMS), PARAMS, value=1.0, grad=2.0, other=3)
    assert seen == [("plain", "a"), ("plain", "b"), ("wraps", ["count", "value"]),
                    ("signature", ["grad"]), ("kwargs", ["count", "grad", "other", "value"]),
                    ("object", None)]


def test_chains_accept_extra_arguments_like_optax():
    opt = jopt.chain(jopt.scale(2.0), jopt.adam(0.1))
    assert isinstance(opt, jopt.GradientTransformationExtraArgs)
    plain = jopt.GradientTransformation(lambda p: jopt.EmptyState(),
                                        lambda u, s, p=None: (u, s))
    wrapped = jopt.with_extra_args_support(plain)
    assert isinstance(wrapped, jopt.GradientTransformationExtraArgs)
    assert jopt.with_extra_args_support(wrapped) is wrapped
    updates, _ = wrapped.update(gradients(0), wrapped.init(PARAMS), unknown_argument=1)
    np.testing.assert_allclose(updates["a"], gradients(0)["a"])
