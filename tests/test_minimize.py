"""minimize, line searches and L-BFGS, against closed forms and scipy (issue 4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize


import jopt


def enable_x64():
    return jax.enable_x64(True)
from jopt.lbfgs import lbfgs
from jopt.linesearch import (BacktrackingState, scale_by_backtracking_linesearch,
                             scale_by_exact_quadratic_step)
from jopt.train import GTOL, MAX_STEPS, DIVERGED, NO_PROGRESS, minimize, reason_name


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def q10(x):
    """FIGURES Q10: f = ½(x₁² + 10 x₂²)."""
    return 0.5 * (x[0] ** 2 + 10 * x[1] ** 2)


def armijo_gd(**kwargs):
    return jopt.chain(jopt.sgd(1.0), scale_by_backtracking_linesearch(**kwargs))


# ----------------------------------------------------------------------------
# Exact line search (F13)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("start, ratio", [((10.0, 1.0), 0.669421), ((-8.0, 2.0), 0.490612),
                                          ((1.0, 1.0), 0.073563)])
def test_exact_line_search_reproduces_closed_form_steps(start, ratio):
    """F13: alpha_t = g'g / g'Ag at every step; consecutive gradients are orthogonal; the
    ratio f_{t+1}/f_t is constant in 2-D (the Kantorovich bound from (10, 1))."""
    with enable_x64():
        A = jnp.diag(jnp.array([1.0, 10.0]))
        x = jnp.array(start)
        for opt in (jopt.chain(jopt.sgd(1.0), scale_by_exact_quadratic_step()),
                    jopt.chain(jopt.sgd(1.0), scale_by_exact_quadratic_step(A))):
            state = opt.init(x)
            xs, grads = [x], []
            for _ in range(10):
                g = jax.grad(q10)(xs[-1])
                grads.append(g)
                updates, state = opt.update(g, state, xs[-1], grad=g, value_fn=q10)
                closed_form = (g @ g) / (g @ A @ g)
                np.testing.assert_allclose(updates, -closed_form * g, rtol=1e-12)
                xs.append(xs[-1] + updates)
            values = np.array([q10(v) for v in xs])
            np.testing.assert_allclose(values[1:] / values[:-1], ratio, rtol=1e-5)
            for g0, g1 in zip(grads, grads[1:]):
                assert abs(g0 @ g1) / (jnp.linalg.norm(g0) * jnp.linalg.norm(g1)) < 1e-12


def test_exact_step_lies_between_one_over_l_and_one_over_mu():
    """F6: 1/L <= alpha* <= 1/mu on a random SPD quadratic."""
    with enable_x64():
        M = jnp.asarray(np.random.default_rng(0).normal(size=(4, 4)))
        A = M @ M.T + 0.1 * jnp.eye(4)
        eig = jnp.linalg.eigvalsh(A)
        for seed in range(5):
            g = jnp.asarray(np.random.default_rng(seed + 1).normal(size=4))
            alpha = jopt.linesearch.exact_quadratic_step(g, -g, A @ -g)
            assert 1 / eig[-1] - 1e-12 <= alpha <= 1 / eig[0] + 1e-12


# ----------------------------------------------------------------------------
# Backtracking (F14)
# ----------------------------------------------------------------------------


def test_backtracking_satisfies_armijo_at_every_step():
    """F14: on Q10 every accepted alpha satisfies Armijo, alpha in {0.5, 0.25, 0.125}, all
    >= min(1, 2 beta (1 - c) / L), and ||g|| < 1e-6 after 64 steps."""
    with enable_x64():
        c, beta = 1e-4, 0.5
        opt = armijo_gd(slope_rtol=c, decrease_factor=beta)
        x = jnp.array([-8.0, 2.0])
        state = opt.init(x)
        update = jax.jit(lambda g, state, x, value: opt.update(g, state, x, value=value, grad=g,
                                                              value_fn=q10))
        alphas = []
        for step in range(200):
            value, g = jax.value_and_grad(q10)(x)
            if jnp.linalg.norm(g) < 1e-6:
                break
            updates, state = update(g, state, x, value)
            search = jopt.find_state(state, BacktrackingState)
            alpha = float(search.learning_rate)
            assert bool(search.accepted)
            assert q10(x + updates) <= value - c * alpha * (g @ g) + 1e-15
            alphas.append(alpha)
            x = x + updates
        assert step == 64
        assert set(alphas) <= {0.5, 0.25, 0.125}
        assert min(alphas) >= min(1.0, 2 * beta * (1 - c) / 10.0)


@pytest.mark.parametrize("gtol, steps", [(1e-3, 5231), (1e-4, 8058)])
def test_backtracking_on_rosenbrock_matches_the_catalogue(gtol, steps):
    """F14 [det]: ||grad|| < 1e-3 after 5231 steps, < 1e-4 after 8058 (±1)."""
    with enable_x64():
        result = jax.jit(lambda x: minimize(rosenbrock, x, armijo_gd(), max_steps=20000,
                                            gtol=gtol))(jnp.array([-1.2, 1.0]))
        assert reason_name(result.reason) == "gtol"
        assert abs(int(result.steps) - steps) <= 1


# ----------------------------------------------------------------------------
# minimize
# ----------------------------------------------------------------------------


def test_minimize_gd_steps_to_tolerance_match_closed_form():
    """F3: GD at eta = 1 on Q100 has f_t = ½ 0.99^(2t) for t >= 1; the gradient norm is
    then 0.01 * 0.99^t * 10, so ||g|| <= gtol at the first t with that below gtol."""
    with enable_x64():
        fun = lambda x: 0.5 * (0.01 * x[0] ** 2 + x[1] ** 2)
        gtol = 1e-5
        result = minimize(fun, jnp.array([-10.0, 1.0]), jopt.sgd(1.0), max_steps=5000, gtol=gtol)
        expected = int(np.ceil(np.log(gtol / 0.1) / np.log(0.99)))
        assert int(result.steps) == expected
        t = np.arange(1, 50)
        np.testing.assert_allclose(result.history["value"][1:50], 0.5 * 0.99 ** (2 * t), rtol=1e-12)
        assert np.isnan(result.history["value"][expected + 1:]).all()


def test_minimize_vmap_over_starting_points_gives_each_its_reason():
    """Eight starts of GD on QUART-like and quadratic objectives: converged, budget, diverged."""
    with enable_x64():
        fun = lambda x: 0.5 * jnp.sum(x ** 2) * jnp.exp(0.1 * jnp.sum(x ** 2))
        starts = jnp.array([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [2.0, -1.0],
                            [5.0, 5.0], [7.0, 7.0], [0.0, 1e-3], [-0.5, 0.2]])
        result = jax.jit(jax.vmap(lambda x: minimize(fun, x, jopt.sgd(0.5), max_steps=60,
                                                     gtol=1e-8)))(starts)
        loop = [minimize(fun, x, jopt.sgd(0.5), max_steps=60, gtol=1e-8) for x in starts]
        for i, single in enumerate(loop):
            assert int(result.reason[i]) == int(single.reason)
            assert int(result.steps[i]) == int(single.steps)
        names = reason_name(result.reason)
        # the closed form decides each start: ||x|| large -> curvature > 4 -> divergence
        assert names[0] == "gtol" and int(result.steps[0]) == 0
        assert names[4] == "diverged" and names[5] == "diverged"
        assert all(name == "gtol" for name in names[1:4] + names[6:])
        assert set(names) == {"gtol", "diverged"}


def test_minimize_reasons_budget_and_no_progress():
    with enable_x64():
        fun = lambda x: jnp.sum(x ** 2)
        x0 = jnp.array([1.0, 2.0])
        budget = minimize(fun, x0, jopt.sgd(0.01), max_steps=5, gtol=1e-12)
        assert int(budget.reason) == MAX_STEPS and int(budget.steps) == 5
        flat = minimize(lambda x: jnp.sum(x ** 2) + 0 * x[0], x0, jopt.sgd(0.0), max_steps=100,
                        gtol=1e-12, ftol=1e-12, patience=3)
        assert int(flat.reason) == NO_PROGRESS and int(flat.steps) == 3
        blown = minimize(fun, x0, jopt.sgd(10.0), max_steps=1000, gtol=1e-12)
        assert int(blown.reason) == DIVERGED


def test_minimize_scan_and_while_agree_and_scan_is_differentiable():
    with enable_x64():
        x0 = jnp.array([-8.0, 2.0])
        a = minimize(q10, x0, jopt.sgd(0.1, momentum=0.5), max_steps=300, gtol=1e-6)
        b = minimize(q10, x0, jopt.sgd(0.1, momentum=0.5), max_steps=300, gtol=1e-6, loop="scan")
        assert int(a.steps) == int(b.steps) and int(a.reason) == int(b.reason) == GTOL
        np.testing.assert_allclose(a.x, b.x, rtol=1e-14)

        def final_value(lr):
            return minimize(q10, x0, jopt.sgd(lr), max_steps=20, gtol=0.0, loop="scan").value
        h = 1e-6
        fd = (final_value(0.05 + h) - final_value(0.05 - h)) / (2 * h)
        np.testing.assert_allclose(jax.grad(final_value)(0.05), fd, rtol=1e-6)


def test_minimize_scan_history_equals_while_history_under_vmap():
    """The scan's history is its per-step output (entry t + 1 after step t, NaN after the
    stop), the while loop's a carry: bit for bit the same, per-element stops included."""
    fun = lambda x: 0.5 * jnp.sum(x ** 2) * jnp.exp(0.1 * jnp.sum(x ** 2))
    starts = jnp.array([[0.0, 0.0], [0.1, 0.0], [2.0, -1.0], [5.0, 5.0], [0.0, 1e-3]])
    for precision in (False, True):
        with jax.enable_x64(precision):
            runs = {loop: jax.jit(jax.vmap(lambda x, loop=loop: minimize(
                fun, x, jopt.sgd(0.5, momentum=0.3), max_steps=40, gtol=1e-5, ftol=1e-9,
                loop=loop)))(starts) for loop in ("while", "scan")}
            steps = np.asarray(runs["while"].steps)
            assert len(set(steps.tolist())) == 5  # gtol at 0, 7, 15, 17; diverged at 1
            for key in ("value", "grad_norm"):
                history = np.asarray(runs["scan"].history[key])
                assert history.shape == (5, 41)
                np.testing.assert_array_equal(history, runs["while"].history[key])
                for i, stop in enumerate(steps):
                    assert np.isnan(history[i, stop + 1:]).all()
                    assert not np.isnan(history[i, :stop + 1]).any()  # inf if diverged
            np.testing.assert_array_equal(runs["scan"].history["value"][:, 0],
                                          jax.vmap(fun)(starts))
    # no steps: the initial entry alone
    empty = minimize(fun, starts[2], jopt.sgd(0.5), max_steps=0, loop="scan")
    assert empty.history["value"].shape == (1,) and int(empty.reason) == MAX_STEPS


def test_minimize_scan_carries_no_history():
    """The scan's carry holds no array of length ``max_steps``: under ``vmap`` its mask
    would select over all of it at every step (quadratic in ``max_steps``)."""
    fun = lambda x: jnp.sum(x ** 2)
    jaxpr = jax.make_jaxpr(jax.vmap(lambda lr: minimize(
        fun, jnp.ones(2), jopt.sgd(lr), max_steps=37, loop="scan")))(jnp.ones(3))
    (scan,) = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "scan"]
    carry = scan.invars[scan.params["num_consts"]:][:scan.params["num_carry"]]
    assert all(37 not in v.aval.shape and 38 not in v.aval.shape for v in carry)
    assert [v.aval.shape for v in scan.outvars[scan.params["num_carry"]:]] == [(37, 3)] * 2


# ----------------------------------------------------------------------------
# L-BFGS
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 10])
def test_lbfgs_on_rosenbrock_within_twice_scipy(dim):
    with enable_x64():
        x0 = jnp.tile(jnp.array([-1.2, 1.0]), dim // 2)
        reference = scipy.optimize.minimize(
            lambda x: float(rosenbrock(jnp.asarray(x))), np.asarray(x0),
            jac=lambda x: np.asarray(jax.grad(rosenbrock)(jnp.asarray(x))),
            method="L-BFGS-B", options={"gtol": 1e-9, "ftol": 0.0, "maxiter": 2000})
        result = jax.jit(lambda x: minimize(rosenbrock, x, lbfgs(), max_steps=1000,
                                            gtol=1e-6))(x0)
        assert reason_name(result.reason) == "gtol"
        assert float(result.grad_norm) < 1e-6
        assert int(result.steps) <= 2 * reference.nit
        np.testing.assert_allclose(result.x, np.ones(dim), atol=1e-5)


def test_lbfgs_on_ill_conditioned_quadratic_within_twice_scipy_and_far_below_gd():
    with enable_x64():
        eig = jnp.array([1.0, 3.0, 10.0, 30.0, 100.0])
        fun = lambda x: 0.5 * jnp.sum(eig * x ** 2)
        reference = scipy.optimize.minimize(
            lambda x: float(fun(jnp.asarray(x))), np.ones(5),
            jac=lambda x: np.asarray(eig) * x, method="L-BFGS-B",
            options={"gtol": 1e-12, "ftol": 0.0, "maxiter": 2000})
        result = minimize(fun, jnp.ones(5), lbfgs(memory_size=10), max_steps=100, gtol=1e-10)
        gd = minimize(fun, jnp.ones(5), jopt.sgd(1 / 100), max_steps=5000, gtol=1e-10)
        assert reason_name(result.reason) == "gtol"
        assert int(result.steps) <= 2 * reference.nit
        assert 10 * int(result.steps) < int(gd.steps)


def test_lbfgs_hyperparameters_vmap_equals_loop_and_grad_matches_fd():
    with enable_x64():
        x0 = jnp.array([-1.2, 1.0])
        factors = jnp.array([0.3, 0.5, 0.7, 0.9])

        @jax.jit
        def final(decrease_factor, max_learning_rate=1.0):
            opt = lbfgs(decrease_factor=decrease_factor, max_learning_rate=max_learning_rate)
            return minimize(rosenbrock, x0, opt, max_steps=20, gtol=0.0, loop="scan")

        batched = jax.vmap(final)(factors)
        for i, factor in enumerate(factors):
            single = final(factor)
            np.testing.assert_allclose(batched.x[i], single.x, rtol=1e-9)
            np.testing.assert_allclose(batched.value[i], single.value, rtol=1e-9)

        value_of = lambda lr: final(0.5, lr).value
        hypergradient = jax.jit(jax.grad(value_of))
        h = 1e-7
        for lr in (0.8, 0.9):
            fd = (value_of(lr + h) - value_of(lr - h)) / (2 * h)
            np.testing.assert_allclose(hypergradient(lr), fd, rtol=1e-4, atol=1e-10)


def test_lbfgs_is_a_gradient_transformation_in_a_chain_and_validates():
    with pytest.raises(ValueError, match="memory_size.*0"):
        lbfgs(memory_size=0)
    with pytest.raises(ValueError, match="decrease_factor.*1.5"):
        lbfgs(decrease_factor=1.5)
    opt = jopt.chain(jopt.clip_by_global_norm(1e6), lbfgs())
    x = jnp.array([-1.2, 1.0])
    state = opt.init(x)
    value, g = jax.value_and_grad(rosenbrock)(x)
    updates, state = opt.update(g, state, x, value=value, value_fn=rosenbrock)
    assert rosenbrock(x + updates) < value
