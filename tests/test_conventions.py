"""Each convention of FIGURES.md "Conventions jopt exposes" is an option reproducing its slide.

One test (or a few) per claim of FIGURES F8 (what the L1 penalty and the clipping
transforms return at a kink), F18, F20, F21, F23, F24, F25 and F27, with the claim's
numbers and the tolerances of its tag: [exact] to rel. 1e-9 in float64 and 1e-5 in
float32; [det] to rel. 1e-6 in float64.  Numbers FIGURES.md prints rounded (``6.51322``)
are checked to half a unit in their last digit (:func:`assert_quoted`), and the exact
value behind them against a closed form, optax, torch.optim, or the slide's rule written
out in NumPy, never against jopt's own earlier output.
"""

from __future__ import annotations

import dataclasses
import decimal
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import jopt
from problems import (PROBLEMS, Q100, jax_trajectories, linear, precision,
                      torch_scheduler_lrs, torch_trajectory)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
EXACT = {F32: 1e-5, F64: 1e-9}
"""FIGURES' [exact] tag: relative tolerance by dtype."""
DET = 1e-6
"""FIGURES' [det] tag in float64."""
TINY_EPS = 1e-30
"""An epsilon that stands for FIGURES' "eps -> 0" (it must be > 0 for jopt)."""

_dtypes = pytest.mark.parametrize("dtype", [F32, F64], ids=lambda d: d.name)


def assert_quoted(value, quoted: str) -> None:
    """``value`` rounds to ``quoted`` as FIGURES.md prints it: within half a unit of its last
    digit."""
    figure = decimal.Decimal(quoted)
    half_unit = 0.5 * 10.0 ** figure.as_tuple().exponent
    assert abs(float(value) - float(figure)) <= half_unit * (1 + 1e-9), (
        f"{float(value)!r} does not round to FIGURES' {quoted}")


def assert_close(actual, expected, rtol, atol=0.0) -> None:
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=rtol, atol=atol)


def run(problem, dtype, optimizers: dict, steps: int) -> dict:
    """Iterates x_0 ... x_steps (x_0 included) of each optimizer on ``problem``."""
    runs = jax_trajectories(problem, dtype, optimizers, steps)
    x0 = {k: np.asarray(v)[None] for k, v in problem.x0.items()}
    return {name: {k: np.concatenate([x0[k].astype(dtype), xs[k]]) for k in xs}
            for name, xs in runs.items()}


def feed(opt, grads, dtype) -> np.ndarray:
    """The updates ``opt`` returns for the gradients ``grads`` (steps x n), params fixed at 0."""
    with precision(dtype):
        grads = jnp.asarray(grads, dtype)
        params = jnp.zeros(grads.shape[1:], dtype)

        def step(state, g):
            updates, state = opt.update(g, state, params)
            return state, updates

        return np.asarray(jax.jit(lambda gs: jax.lax.scan(step, opt.init(params), gs)[1])(grads))


def torch_feed(cls, grads, dtype, **kwargs) -> np.ndarray:
    """The steps ``torch.optim`` ``cls`` takes for the gradient sequence ``grads``."""
    torch_dtype = {F32: torch.float32, F64: torch.float64}[np.dtype(dtype)]
    param = torch.zeros(np.shape(grads)[1:], dtype=torch_dtype, requires_grad=True)
    optimizer = cls([param], **kwargs)
    steps = []
    for g in grads:
        before = param.detach().clone()
        param.grad = torch.tensor(g, dtype=torch_dtype)
        optimizer.step()
        steps.append((param.detach() - before).numpy())
    return np.stack(steps)


def losses(problem, xs, dtype=F64) -> np.ndarray:
    """``problem.loss`` at every iterate of a run (one jitted, vmapped call)."""
    with precision(dtype):
        return np.asarray(jax.jit(jax.vmap(problem.loss))(
            {k: jnp.asarray(v, dtype) for k, v in xs.items()}))


def steps_of(xs) -> np.ndarray:
    """Per-step displacement x_t - x_{t-1} of a one-leaf run."""
    return np.diff(xs["x"], axis=0)


# ----------------------------------------------------------------------------
# F8 · what the L1 penalty and the clipping transforms return at a kink
# ----------------------------------------------------------------------------


def _transformed(transform, g):
    """The updates ``transform`` makes of ``g`` (no params: the transforms need none)."""
    return transform.update(g, transform.init(g))[0]


@_dtypes
def test_f8_clip_at_zero_and_at_the_bound(dtype):
    """[exact] ``clip``: 0 passes as 0 with derivative 1; at |g| = max_delta the value is g
    and the derivative 0.5 (``jnp.clip``'s tie); beyond it 0."""
    with precision(dtype):
        clip = jopt.clip(jnp.asarray(1.5, dtype))
        g = jnp.asarray([0.0, 1.5, -1.5, 0.75, 2.0, -3.0], dtype)
        values = _transformed(clip, g)
        assert values.dtype == dtype
        np.testing.assert_array_equal(values, [0.0, 1.5, -1.5, 0.75, 1.5, -1.5])
        derivative = jax.vmap(jax.grad(lambda x: _transformed(clip, x)))(g)
        np.testing.assert_array_equal(derivative, [1.0, 0.5, 0.5, 1.0, 0.0, 0.0])


@_dtypes
def test_f8_clip_by_global_norm_jacobian_at_zero_is_the_identity(dtype):
    """[exact] At g = 0 the clip is inactive: the updates are 0 and the Jacobian is the
    identity (optax's is NaN there, from the square root in the norm)."""
    with precision(dtype):
        clip = jopt.clip_by_global_norm(1.0)
        zeros = jnp.zeros(3, dtype)
        np.testing.assert_array_equal(_transformed(clip, zeros), zeros)
        # jitted: one compile instead of an op-by-op dispatch of each JVP
        jacobian = jax.jit(jax.jacobian(lambda g: _transformed(clip, g)))(zeros)
        np.testing.assert_array_equal(jacobian, np.eye(3))
        peer = optax.clip_by_global_norm(1.0)
        assert np.all(np.isnan(jax.jit(jax.jacobian(lambda g: peer.update(g, None)[0]))(zeros)))
        # a pytree of zeros, leaves of two shapes: the identity on every block
        tree = {"a": jnp.zeros((2, 2), dtype), "b": jnp.zeros(3, dtype)}
        blocks = jax.jit(jax.jacobian(lambda t: _transformed(clip, t)))(tree)
        np.testing.assert_array_equal(blocks["a"]["a"], np.eye(4).reshape(2, 2, 2, 2))
        np.testing.assert_array_equal(blocks["b"]["b"], np.eye(3))
        np.testing.assert_array_equal(blocks["a"]["b"], np.zeros((2, 2, 3)))
        # the hypergradient with respect to max_norm at g = 0 is finite (0) too
        assert jax.grad(lambda m: jnp.sum(
            _transformed(jopt.clip_by_global_norm(m), zeros)))(1.0) == 0.0


@_dtypes
def test_f8_clip_by_global_norm_values_unchanged(dtype):
    """The values are the norm-based rule's, bit for bit, and optax's; so is the Jacobian
    away from 0 (inside the ball and outside it)."""
    rng = np.random.default_rng(0)
    clip = jopt.clip_by_global_norm(2.0)
    peer = optax.clip_by_global_norm(2.0)
    # jitted: one compile per shape instead of the Jacobians' many ops run one by one
    jacobian_of_clip = jax.jit(jax.jacobian(lambda t: _transformed(clip, t)))
    jacobian_of_peer = jax.jit(jax.jacobian(lambda t: peer.update(t, None)[0]))
    with precision(dtype):
        for scale in (0.0, 1e-3, 0.3, 1.0, 10.0, 1e3):
            tree = {"a": jnp.asarray(scale * rng.normal(size=(3, 2)), dtype),
                    "b": jnp.asarray(scale * rng.normal(size=4), dtype)}
            norm = jopt.tree_l2_norm(tree)    # the rule as it was written before the fix
            factor = jnp.where(norm < 2.0, 1.0, 2.0 / jnp.where(norm < 2.0, 1.0, norm))
            expected = jax.tree_util.tree_map(lambda g: (factor * g).astype(g.dtype), tree)
            actual = _transformed(clip, tree)
            chex.assert_trees_all_equal(actual, expected)
            chex.assert_trees_all_close(actual, peer.update(tree, None)[0], rtol=EXACT[dtype])
            if scale > 0:
                mine = jacobian_of_clip(tree)
                theirs = jacobian_of_peer(tree)
                chex.assert_trees_all_close(mine, theirs, rtol=EXACT[dtype],
                                            atol=EXACT[dtype] / max(scale, 1.0))
        # non-finite updates stay non-finite, as before
        bad = jnp.asarray([np.nan, 1.0, 2.0], dtype)
        assert np.all(np.isnan(_transformed(clip, bad)))


@_dtypes
def test_f8_l1_penalty_closed_form_and_its_value_at_zero(dtype):
    """[exact] ``add_l1_penalty(w)`` adds ``w * sign(x)``: 0 at x = 0, where
    ``jax.grad`` of the penalty adds ``+w`` (``grad(abs)(0.) = 1``)."""
    rng = np.random.default_rng(1)
    weight = 0.3
    with precision(dtype):
        params = {"a": jnp.asarray([[0.5, 0.0], [-2.0, 0.0]], dtype),
                  "b": jnp.asarray([0.0, -1e-30, 3.0], dtype)}
        grads = jax.tree_util.tree_map(lambda x: jnp.asarray(rng.normal(size=x.shape), dtype),
                                       params)
        penalty = jopt.add_l1_penalty(weight)
        updates, _ = penalty.update(grads, penalty.init(params), params)
        expected = jax.tree_util.tree_map(  # the closed form, in NumPy
            lambda g, x: np.asarray(g) + dtype.type(weight) * np.sign(np.asarray(x)),
            grads, params)
        chex.assert_trees_all_equal_dtypes(updates, grads)
        chex.assert_trees_all_close(updates, expected, rtol=EXACT[dtype])
        # at x = 0 nothing is added; jax.grad of the penalty adds +w there
        zeros = jnp.zeros(3, dtype)
        at_zero, _ = penalty.update(zeros, penalty.init(zeros), zeros)
        np.testing.assert_array_equal(at_zero, zeros)
        autodiff = jax.grad(lambda x: weight * jnp.sum(jnp.abs(x)))(zeros)
        np.testing.assert_allclose(autodiff, np.full(3, weight), rtol=EXACT[dtype])
        assert jax.grad(jnp.abs)(jnp.asarray(0.0, dtype)) == 1.0
        # a mask leaves the other leaves' updates as they are
        masked = jopt.add_l1_penalty(weight, mask={"a": False, "b": True})
        updates, _ = masked.update(grads, masked.init(params), params)
        np.testing.assert_array_equal(updates["a"], grads["a"])
        np.testing.assert_allclose(updates["b"], expected["b"], rtol=EXACT[dtype])
        with pytest.raises(ValueError, match="add_l1_penalty needs params"):
            penalty.update(grads, penalty.init(params))


def test_f8_l1_penalty_is_jax_grad_of_the_penalty_away_from_zero():
    """[exact] Away from 0, the added term is ``jax.grad`` of ``w * ||x||_1``."""
    rng = np.random.default_rng(2)
    with precision(F64):
        params = {"a": jnp.asarray(rng.normal(size=(4, 3))), "b": jnp.asarray(rng.normal(size=5))}
        assert all(np.all(np.asarray(x) != 0) for x in jax.tree_util.tree_leaves(params))
        penalty = jopt.add_l1_penalty(0.7)
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        added, _ = penalty.update(zeros, penalty.init(params), params)
        autodiff = jax.grad(lambda p: 0.7 * sum(jnp.sum(jnp.abs(x))
                                                for x in jax.tree_util.tree_leaves(p)))(params)
        chex.assert_trees_all_close(added, autodiff, rtol=EXACT[F64])


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_f8_l1_penalty_then_sgd_is_sgd_on_the_penalized_loss(problem):
    """[exact] ``chain(add_l1_penalty(w), sgd(lr))`` on ``loss`` takes the steps of
    ``sgd(lr)`` on ``loss + w * ||x||_1``, as long as no iterate is exactly 0."""
    weight, steps = 0.05, 60
    penalized = dataclasses.replace(problem, loss=lambda p: problem.loss(p) + weight * sum(
        jnp.sum(jnp.abs(x)) for x in jax.tree_util.tree_leaves(p)))
    lr = problem.gd_lr
    ours = jax_trajectories(problem, F64, {0: jopt.chain(jopt.add_l1_penalty(weight),
                                                         jopt.sgd(lr))}, steps)[0]
    reference = jax_trajectories(penalized, F64, {0: optax.sgd(lr)}, steps,
                                 apply_updates={0: optax.apply_updates})[0]
    for key in ours:
        assert np.all(ours[key] != 0)
        assert_close(ours[key], reference[key], EXACT[F64], atol=EXACT[F64] * problem.scale)


# ----------------------------------------------------------------------------
# F18 · momentum's effective step
# ----------------------------------------------------------------------------


@_dtypes
def test_f18_momentum_step_grows_to_alpha_g_over_1_minus_lambda(dtype):
    """[exact] Step t of heavy ball on gᵀx is α‖g‖(1 − λ^t)/(1 − λ) long → 10 α‖g‖."""
    alpha, lam, steps = 0.01, 0.9, 100
    problem = linear((3.0, 4.0))
    xs = run(problem, dtype, {"outside": jopt.sgd(alpha, momentum=lam),
                              "ema": jopt.sgd(alpha, momentum=lam, momentum_form="ema")}, steps)
    t = np.arange(1, steps + 1)
    multiple = np.linalg.norm(steps_of(xs["outside"]), axis=1) / (alpha * 5.0)
    assert_close(multiple, (1 - lam ** t) / (1 - lam), EXACT[dtype])
    if dtype == F64:
        for step, quoted in [(1, "1"), (10, "6.51322"), (50, "9.94846"), (100, "9.99973")]:
            assert_quoted(multiple[step - 1], quoted)
    # 001's EMA form with bias correction moves exactly α‖g‖ every step: it does not grow
    ema_multiple = np.linalg.norm(steps_of(xs["ema"]), axis=1) / (alpha * 5.0)
    assert_close(ema_multiple, np.ones(steps), EXACT[dtype])


# ----------------------------------------------------------------------------
# F20 · momentum with the rate inside or outside the buffer
# ----------------------------------------------------------------------------


def test_f20_rate_inside_equals_outside_for_a_constant_rate():
    """[exact] On Q100 the "η inside" form = optax.sgd = torch SGD = "η outside", 50 steps."""
    eta, beta, steps = 1.0, 0.9, 50
    xs = run(Q100, F64, {"inside": jopt.sgd(eta, beta, momentum_form="inside"),
                         "outside": jopt.sgd(eta, beta),
                         "optax": optax.sgd(eta, momentum=beta)}, steps)
    torch_xs = torch_trajectory(Q100, F64, lambda p: torch.optim.SGD(p, lr=eta, momentum=beta),
                                steps)
    tol = dict(rtol=EXACT[F64], atol=EXACT[F64] * Q100.scale)
    for name in ("inside", "outside"):
        chex.assert_trees_all_close(xs[name]["x"][1:], xs["optax"]["x"][1:], **tol)
        chex.assert_trees_all_close(xs[name]["x"][1:], torch_xs["x"], **tol)


def test_f20_rate_inside_differs_after_a_rate_change():
    """[det] Q100, β = 0.9, η = 1 for t < 50, then 0.1: max |Δx| = 0.558, and f₂₀₀ = 1.34e-5
    (η inside) against 5.58e-5 (outside)."""
    beta, steps = 0.9, 200
    schedule = jopt.piecewise_constant_schedule(1.0, {50: 0.1})
    xs = run(Q100, F64, {"inside": jopt.sgd(schedule, beta, momentum_form="inside"),
                         "outside": jopt.sgd(schedule, beta),
                         "optax": optax.sgd(optax.piecewise_constant_schedule(1.0, {50: 0.1}),
                                            momentum=beta)}, steps)
    # references: optax for the rate outside, the slides' rule in NumPy for the rate inside
    x, v, inside = np.array([-10.0, 1.0]), np.zeros(2), []
    for t in range(steps):
        v = beta * v + (1.0 if t < 50 else 0.1) * (np.array([0.01, 1.0]) * x)   # v = γv + η_t g
        x = x - v
        inside.append(x)
    tol = dict(rtol=DET, atol=DET * Q100.scale)
    np.testing.assert_allclose(xs["inside"]["x"][1:], np.array(inside), **tol)
    np.testing.assert_allclose(xs["outside"]["x"], xs["optax"]["x"], **tol)

    assert_quoted(np.max(np.abs(xs["inside"]["x"] - xs["outside"]["x"])), "0.558")
    assert_quoted(losses(Q100, xs["inside"])[-1], "1.34e-5")
    assert_quoted(losses(Q100, xs["outside"])[-1], "5.58e-5")


def test_f20_ema_form_is_optax_ema_then_scale():
    """[exact] 001's form (EMA, bias correction) = optax.chain(ema(α, debias=True), scale(−η))."""
    alpha, eta = 0.9, 0.5
    xs = run(Q100, F64, {"jopt": jopt.sgd(eta, alpha, momentum_form="ema"),
                         "optax": optax.chain(optax.ema(alpha, debias=True), optax.scale(-eta))},
             50)
    np.testing.assert_allclose(xs["jopt"]["x"], xs["optax"]["x"], rtol=EXACT[F64],
                               atol=EXACT[F64] * Q100.scale)


@_dtypes
def test_f20_torch_dampening_first_step_is_undamped(dtype):
    """[exact] torch's dampening d applies (1 − d)g from the second step on; step 1 is −ηg."""
    eta, beta, d = 0.1, 0.9, 0.9
    grads = np.random.default_rng(0).normal(size=(30, 3))
    ours = feed(jopt.sgd(eta, beta, dampening=d), grads, dtype)
    assert_close(ours[0], -eta * grads[0], EXACT[dtype])
    assert_close(ours[1], -eta * (beta * grads[0] + (1 - d) * grads[1]), EXACT[dtype])
    theirs = torch_feed(torch.optim.SGD, grads, dtype, lr=eta, momentum=beta, dampening=d)
    assert_close(ours, theirs, EXACT[dtype], atol=EXACT[dtype])


# ----------------------------------------------------------------------------
# F21 · Nesterov's look-ahead
# ----------------------------------------------------------------------------


def test_f21_nesterov_iterates_are_the_classic_look_ahead_points():
    """[exact] The iterates of optax's and torch's NAG are the look-ahead points y_t = x_t + μv_t
    of the classic form v ← μv − η∇f(x + μv); x ← x + v."""
    eta, mu, steps = 1.0, 0.9, 50
    xs = run(Q100, F64, {"outside": jopt.sgd(eta, mu, nesterov=True),
                         "inside": jopt.sgd(eta, mu, nesterov=True, momentum_form="inside"),
                         "optax": optax.sgd(eta, mu, nesterov=True)}, steps)
    torch_xs = torch_trajectory(
        Q100, F64, lambda p: torch.optim.SGD(p, lr=eta, momentum=mu, nesterov=True), steps)
    x, v, look_ahead = np.array([-10.0, 1.0]), np.zeros(2), []
    for _ in range(steps):
        v = mu * v - eta * (np.array([0.01, 1.0]) * (x + mu * v))
        x = x + v
        look_ahead.append(x + mu * v)
    tol = dict(rtol=EXACT[F64], atol=EXACT[F64] * Q100.scale)
    for name in ("outside", "inside", "optax"):
        np.testing.assert_allclose(xs[name]["x"][1:], np.array(look_ahead), **tol)
    np.testing.assert_allclose(torch_xs["x"], np.array(look_ahead), **tol)


# ----------------------------------------------------------------------------
# F23 · Adagrad
# ----------------------------------------------------------------------------


@_dtypes
def test_f23_adagrad_step_shrinks_like_one_over_root_t(dtype):
    """[exact] A constant gradient with ε → 0: step t is η/√t·sign(g) (step·√t = 1)."""
    eta, steps = 0.1, 100
    grads = np.tile([2.0, -0.01], (steps, 1))
    ours = feed(jopt.adagrad(eta, eps=TINY_EPS), grads, dtype)
    t = np.arange(1, steps + 1)[:, None]
    assert_close(-ours * np.sqrt(t) / eta / np.sign(grads), np.ones_like(grads), EXACT[dtype])


def test_f23_adagrad_is_decks_002_second_form():
    """[exact] jopt's Adagrad = 002's η^t/σ^t with η^t = η/√(t+1), σ^t = √(mean of g²)."""
    eta = 0.1
    grads = np.random.default_rng(1).normal(size=(40, 4))
    ours = feed(jopt.adagrad(eta, eps=TINY_EPS), grads, F64)
    t = np.arange(len(grads))[:, None]                   # 002 counts from 0
    sigma = np.sqrt(np.cumsum(grads ** 2, axis=0) / (t + 1))
    assert_close(ours, -(eta / np.sqrt(t + 1)) / sigma * grads, EXACT[F64])


def test_f23_first_step_moves_every_coordinate_by_eta():
    """[exact] g = (2, −0.01): first steps (−1, +1)·η in jopt's default, in torch's and in optax
    with G₀ = 0."""
    eta, g = 0.1, np.array([[2.0, -0.01]])
    ours = feed(jopt.adagrad(eta), g, F64)[0]
    # the default eps = 1e-10 (torch's) sits outside the root: |step| = η|g|/(|g| + 1e-10)
    assert_close(ours / eta, [-1.0, 1.0], rtol=2e-10 / 0.01)
    assert_close(ours, torch_feed(torch.optim.Adagrad, g, F64, lr=eta)[0], EXACT[F64])
    assert_close(feed(optax.adagrad(eta, initial_accumulator_value=0.0, eps=TINY_EPS), g, F64)[0]
                 / eta, [-1.0, 1.0], EXACT[F64])
    assert_close(feed(jopt.adagrad(eta, eps=TINY_EPS), g, F64)[0] / eta, [-1.0, 1.0], EXACT[F64])


def test_f23_optax_initial_accumulator_shrinks_small_gradients():
    """[exact] G₀ = 0.1 (optax's default): first steps 0.98773η, 0.03161η for g = (2, −0.01)."""
    eta, g = 0.1, np.array([[2.0, -0.01]])
    optax_settings = jopt.adagrad(eta, initial_accumulator_value=0.1, eps=1e-7, eps_in_sqrt=True)
    ours = feed(optax_settings, g, F64)
    assert_close(ours, feed(optax.adagrad(eta), g, F64), EXACT[F64])
    assert_close(ours[0], -eta * g[0] / np.sqrt(0.1 + g[0] ** 2 + 1e-7), EXACT[F64])
    assert_quoted(abs(ours[0, 0]) / eta, "0.98773")
    assert_quoted(abs(ours[0, 1]) / eta, "0.03161")


# ----------------------------------------------------------------------------
# F24 · RMSprop
# ----------------------------------------------------------------------------


def test_f24_accumulator_is_decks_000_expansion():
    """[exact] G_t = (1 − β)(β^{t−1}g₁² + … + g_t²) with G₀ = 0."""
    beta = 0.9
    grads = np.random.default_rng(2).normal(size=(30, 3))
    opt = jopt.transforms.scale_by_rms(beta, eps=TINY_EPS)
    with precision(F64):
        params = jnp.zeros(3)

        def step(state, g):
            state = opt.update(g, state, params)[1]
            return state, state.nu

        nus = jax.jit(lambda gs: jax.lax.scan(step, opt.init(params), gs)[1])(jnp.asarray(grads))
    expected = [(1 - beta) * sum(beta ** (t - s) * grads[s] ** 2 for s in range(t + 1))
                for t in range(len(grads))]
    assert_close(np.array(nus), np.array(expected), EXACT[F64])


@pytest.mark.parametrize("rho, quoted", [(0.9, ("3.16228", "2.29416", "1.92095")),
                                         (0.99, ("10.0", "7.08881", "5.80249"))])
def test_f24_zero_accumulator_first_steps(rho, quoted):
    """[exact] ν₀ = 0 (optax, torch): a constant gradient's first steps are η/√(1 − ρ^t)."""
    eta, steps = 0.1, 20
    grads = np.full((steps, 1), -0.5)
    ours = feed(jopt.rmsprop(eta, rho, eps=TINY_EPS), grads, F64)[:, 0] / eta
    t = np.arange(1, steps + 1)
    assert_close(ours, 1 / np.sqrt(1 - rho ** t), EXACT[F64])
    for step, figure in zip(ours, quoted):
        assert_quoted(step, figure)
    assert_close(ours, feed(optax.rmsprop(eta, rho, eps=TINY_EPS), grads, F64)[:, 0] / eta,
                 EXACT[F64])
    assert_close(ours, torch_feed(torch.optim.RMSprop, grads, F64, lr=eta, alpha=rho,
                                  eps=TINY_EPS)[:, 0] / eta, EXACT[F64])


@_dtypes
def test_f24_first_gradient_start_steps_exactly_eta(dtype):
    """[exact] 002's start σ⁰ = |g⁰| (``init_with_first_grad``): every step is exactly η."""
    eta, steps = 0.1, 50
    grads = np.tile([3.0, -0.02], (steps, 1))
    ours = feed(jopt.rmsprop(eta, 0.9, eps=TINY_EPS, init_with_first_grad=True), grads, dtype)
    assert_close(ours, -eta * np.sign(grads), EXACT[dtype])


@pytest.mark.parametrize("rho, limit", [(0.9, "0.31623"), (0.99, "0.10000")])
def test_f24_discounted_sum_steps_tend_to_root_one_minus_rho(rho, limit):
    """[exact] 001's sum without (1 − ρ): steps 1, 0.72548, 0.60746, … → √(1 − ρ)η."""
    eta, steps = 0.1, 3000
    grads = np.full((steps, 1), 0.7)
    ours = -feed(jopt.rmsprop(eta, rho, eps=TINY_EPS, discounted_sum=True), grads, F64)[:, 0] / eta
    t = np.arange(1, steps + 1)
    assert_close(ours, np.sqrt((1 - rho) / (1 - rho ** t)), EXACT[F64])
    if rho == 0.9:
        for step, figure in zip(ours, ("1", "0.72548", "0.60746")):
            assert_quoted(step, figure)
    assert_quoted(ours[-1], limit)


def test_f24_eps_inside_versus_outside():
    """[exact] g = −0.01: ε inside the root (optax, ρ = 0.9) 3.1607η; outside (torch, ρ = 0.99)
    9.9999η."""
    eta, g = 0.1, np.array([[-0.01]])
    inside = feed(jopt.rmsprop(eta, 0.9, eps=1e-8, eps_in_sqrt=True), g, F64)[0, 0]
    outside = feed(jopt.rmsprop(eta, 0.99, eps=1e-8), g, F64)[0, 0]
    assert_quoted(inside / eta, "3.1607")
    assert_quoted(outside / eta, "9.9999")
    assert_close(inside, feed(optax.rmsprop(eta), g, F64)[0, 0], EXACT[F64])
    assert_close(outside, torch_feed(torch.optim.RMSprop, g, F64, lr=eta)[0, 0], EXACT[F64])
    assert_close(inside / eta, 0.01 / np.sqrt(0.1 * 1e-4 + 1e-8), EXACT[F64])
    assert_close(outside / eta, 0.01 / (np.sqrt(0.01 * 1e-4) + 1e-8), EXACT[F64])


# ----------------------------------------------------------------------------
# F25 · Adam and the slides' variants
# ----------------------------------------------------------------------------


@_dtypes
def test_f25_constant_gradient_moves_eta_sign_g(dtype):
    """[exact] Standard Adam moves ηg/(|g| + ε) every step: η·sign(g), as optax and torch."""
    eta, eps, steps = 0.01, 1e-8, 100
    grads = np.tile([3.0, -0.5, 0.02], (steps, 1))
    ours = feed(jopt.adam(eta), grads, dtype)
    expected = -eta * grads / (np.abs(grads) + eps)
    assert_close(ours, expected, EXACT[dtype])
    assert_close(ours, feed(optax.adam(eta), grads, dtype), EXACT[dtype])
    assert_close(ours, torch_feed(torch.optim.Adam, grads, dtype, lr=eta), EXACT[dtype])
    for step in np.abs(ours).ravel() / eta:
        assert_quoted(step, "1.00000")


def _deck_000_adam(grads, eta, gamma, beta, eps):
    """Deck 000's Adam read literally, corrected copies v̂ = v/(1 − γ), Ĝ = G/(1 − β)."""
    v, G, steps = np.zeros(grads.shape[1]), np.zeros(grads.shape[1]), []
    for g in grads:
        v = gamma * v + (1 - gamma) * g
        G = beta * G + (1 - beta) * g ** 2
        steps.append(-eta * (v / (1 - gamma)) / np.sqrt(G / (1 - beta) + eps))
    return np.array(steps)


def _deck_000_as_jopt(eta, gamma, beta, eps):
    """000's rule: bias_correction=False, rate η√(1−β)/(1−γ), eps_root = ε(1−β), eps → 0."""
    return jopt.adam(eta * math.sqrt(1 - beta) / (1 - gamma), b1=gamma, b2=beta, eps=TINY_EPS,
                     eps_root=eps * (1 - beta), bias_correction=False)


def test_f25_deck_000_adam_is_uncorrected_adam_with_rescaled_rate():
    """[exact] 000's rule = bias_correction=False, rate η√(1−β)/(1−γ) and ε(1−β) inside the root
    (on random gradients)."""
    eta, gamma, beta, eps = 0.01, 0.9, 0.999, 1e-8
    grads = np.random.default_rng(3).normal(size=(200, 5)) * np.array([1.0, 0.1, 10.0, 1e-3, 1.0])
    ours = feed(_deck_000_as_jopt(eta, gamma, beta, eps), grads, F64)
    assert_close(ours, _deck_000_adam(grads, eta, gamma, beta, eps), EXACT[F64])


def test_f25_deck_000_adam_steps_on_a_constant_gradient():
    """[exact] 000's steps: η, 2.0643η (t = 10), 1.0248η (100), 0.3977η (1000) → 0.31623η."""
    eta, gamma, beta, eps = 0.01, 0.9, 0.999, 1e-8
    grads = np.ones((20000, 1))                          # 0.999^20000 = 2e-9: at the limit
    ours = -feed(_deck_000_as_jopt(eta, gamma, beta, eps), grads, F64)[:, 0] / eta
    assert_close(ours, -_deck_000_adam(grads, eta, gamma, beta, eps)[:, 0] / eta, EXACT[F64])
    for step, figure in [(1, "1.0000"), (10, "2.0643"), (100, "1.0248"), (1000, "0.3977")]:
        assert_quoted(ours[step - 1], figure)
    assert_quoted(ours[-1], "0.31623")
    assert_close(ours[-1], math.sqrt(1 - beta) / (1 - gamma), DET)


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_f25_adam_descends_and_deck_001_plus_ascends(problem):
    """[exact] 001's "+" is a sign slip: jopt's default Adam lowers the loss; the "+" raises it."""
    lr = problem.adaptive_lr
    xs = run(problem, F32, {
        "adam": jopt.adam(lr),
        "plus": jopt.chain(jopt.scale_by_adam(), jopt.scale_by_learning_rate(lr, flip_sign=False)),
    }, 20)
    descent, ascent = losses(problem, xs["adam"], F32), losses(problem, xs["plus"], F32)
    assert descent[1] < descent[0] and descent[-1] < descent[1]
    assert ascent[1] > ascent[0] and ascent[-1] > ascent[1]


def test_f25_l2_penalty_versus_decoupled_decay():
    """adam(weight_decay) = torch Adam (L2); adamw = torch AdamW (decoupled); the two differ."""
    from problems import LOGISTIC as problem
    lr, wd, steps = 0.01, 0.1, 50
    xs = jax_trajectories(problem, F64, {"l2": jopt.adam(lr, weight_decay=wd),
                                         "decoupled": jopt.adamw(lr, weight_decay=wd)}, steps)
    tol = dict(rtol=EXACT[F64], atol=EXACT[F64] * problem.scale)
    chex.assert_trees_all_close(xs["l2"], torch_trajectory(
        problem, F64, lambda p: torch.optim.Adam(p, lr=lr, weight_decay=wd), steps), **tol)
    chex.assert_trees_all_close(xs["decoupled"], torch_trajectory(
        problem, F64, lambda p: torch.optim.AdamW(p, lr=lr, weight_decay=wd), steps), **tol)
    difference = max(np.max(np.abs(xs["l2"][k] - xs["decoupled"][k])) for k in xs["l2"])
    assert difference > 1e-3, difference
    # the L2 form is Adam on the penalized loss f + wd/2 ‖x‖² (torch's weight_decay)
    penalty = lambda p: 0.5 * wd * sum(jnp.sum(jnp.square(v)) for v in jax.tree_util.tree_leaves(p))
    penalized = dataclasses.replace(problem, loss=lambda p: problem.loss(p) + penalty(p))
    chex.assert_trees_all_close(jax_trajectories(penalized, F64, {0: jopt.adam(lr)}, steps)[0],
                                xs["l2"], **tol)


# ----------------------------------------------------------------------------
# F27 · the schedules of the slides (α₀ = 0.1), indexed by the step count t = 0, 1, ...
# ----------------------------------------------------------------------------


def _values(schedule, steps):
    """The schedule at the int32 step counts ``steps`` (as an optimizer passes them), in float64."""
    with precision(F64):
        return np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)))


def test_f27_linear_to_alpha_rho_then_constant():
    """[exact] α₅₀ = 0.0505, α₁₀₀ = α₁₅₀ = 0.001 (optax.linear_schedule, torch LinearLR)."""
    schedule = jopt.linear_schedule(0.1, 0.001, 100)
    v = _values(schedule, [50, 100, 150])
    assert_close(v, [0.0505, 0.001, 0.001], EXACT[F64])
    t = np.arange(200)
    reference = jax.jit(jax.vmap(optax.linear_schedule(0.1, 0.001, 100)))
    assert_close(_values(schedule, t), np.asarray(reference(t)), EXACT[F32])
    assert_close(_values(schedule, t), torch_scheduler_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(
        o, start_factor=1.0, end_factor=0.01, total_iters=100), 200), EXACT[F64])


def test_f27_polynomial_k_one_minus_i_over_n():
    """[exact] k(1 − i/n), k = 0.1, n = 100: α₂₅ = 0.075 (optax.polynomial_schedule,
    torch PolynomialLR)."""
    schedule = jopt.polynomial_schedule(0.1, 0.0, 1, 100)
    assert_close(_values(schedule, [25]), [0.075], EXACT[F64])
    t = np.arange(150)
    assert_close(_values(schedule, t), 0.1 * (1 - np.minimum(t, 100) / 100), EXACT[F64], atol=1e-15)
    assert_close(_values(schedule, t), torch_scheduler_lrs(lambda o: torch.optim.lr_scheduler.PolynomialLR(
        o, total_iters=100, power=1.0), 150), EXACT[F64], atol=1e-15)


def test_f27_inverse_time_closed_form():
    """[exact] α₀/(1 + ρt), ρ = 0.01: α₁₀₀ = 0.05 (torch LambdaLR)."""
    schedule = jopt.inverse_time_decay(0.1, 0.01)
    assert_close(_values(schedule, [100]), [0.05], EXACT[F64])
    torch_lrs = torch_scheduler_lrs(
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + 0.01 * t)), 300)
    assert_close(_values(schedule, np.arange(300)), torch_lrs, EXACT[F64])


def test_f27_exponential():
    """[exact] α₀e^{−ρt}, ρ = 0.01: α₁₀₀ = 0.0367879 (optax.exponential_decay(α₀, 1, e^{−ρ}),
    torch ExponentialLR)."""
    schedule = jopt.exponential_decay(0.1, 1, math.exp(-0.01))
    v = _values(schedule, [100])[0]
    assert_close(v, 0.1 * math.exp(-1.0), EXACT[F64])
    assert_quoted(v, "0.0367879")
    t = np.arange(300)
    assert_close(_values(schedule, t), np.asarray(jax.jit(jax.vmap(
        optax.exponential_decay(0.1, 1, math.exp(-0.01))))(t)), EXACT[F32])
    torch_lrs = torch_scheduler_lrs(
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=math.exp(-0.01)), 300)
    assert_close(_values(schedule, t), torch_lrs, EXACT[F64])


def test_f27_step_decay():
    """[exact] Halving every 30 steps: α₂₉ = 0.1, α₃₀ = 0.05, α₁₀₀ = 0.0125 (staircase,
    torch StepLR)."""
    schedule = jopt.exponential_decay(0.1, 30, 0.5, staircase=True)
    assert_close(_values(schedule, [29, 30, 100]), [0.1, 0.05, 0.0125], EXACT[F64])
    t = np.arange(200)
    assert_close(_values(schedule, t), torch_scheduler_lrs(
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.5), 200), EXACT[F64])
    assert_close(_values(jopt.piecewise_constant_schedule(0.1, {30: 0.5, 60: 0.5, 90: 0.5}), t),
                 _values(schedule, np.minimum(t, 119)), EXACT[F64])


def test_f27_recursive_inverse_time_decays_super_exponentially():
    """[exact] α_{t+1} = α_t/(1 + ρt), ρ = 0.1: α₁₀ = α₀/33.522, against α₀/2 in closed form."""
    recursive = jopt.inverse_time_decay(0.1, 0.1, recursive=True)
    closed = jopt.inverse_time_decay(0.1, 0.1)
    assert_quoted(0.1 / _values(recursive, [10])[0], "33.522")
    assert_close(0.1 / _values(closed, [10])[0], 2.0, EXACT[F64])
    alpha, literal = 0.1, []
    for t in range(60):                                  # the slide's recursion, written out
        literal.append(alpha)
        alpha = alpha / (1 + 0.1 * t)
    assert_close(_values(recursive, np.arange(60)), literal, EXACT[F64])
