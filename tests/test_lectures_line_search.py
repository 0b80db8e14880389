"""FIGURES.md section 2, line search (F13-F14): each claim checked on the lecture module's
own runs (``experiments/lectures/line_search.py``, the code the notebook runs)."""

import numpy as np
import pytest

from experiments.lectures import line_search as ls

Q10_EIGENVALUES = np.array([1.0, 10.0])


@pytest.fixture(scope="module")
def f13_data():
    return ls.f13(steps=60)


@pytest.fixture(scope="module")
def f14_data():
    return ls.f14(q10_steps=100, rosen_steps=21_000)


def exact_line_search_ratio(x):
    """f_{t+1}/f_t of exact line search on 1/2 x'Ax at x: 1 - (g'g)^2 / (g'Ag g'A^-1 g)."""
    g = Q10_EIGENVALUES * x
    return 1 - (g @ g) ** 2 / ((g @ (Q10_EIGENVALUES * g)) * (g @ (g / Q10_EIGENVALUES)))


def test_f13_consecutive_gradients_orthogonal(f13_data):
    """F13 [exact]: consecutive gradients of exact line search are orthogonal (|cos| < 1e-14)."""
    assert np.max(np.abs(f13_data.gradient_cosines)) < 1e-14


def test_f13_exact_step_is_the_closed_form(f13_data):
    """F13 [exact]: alpha* = g'g / g'Ag, which lies in [1/L, 1/mu]."""
    grads = Q10_EIGENVALUES * f13_data.xs[:, :-1]
    closed_form = np.sum(grads ** 2, -1) / np.sum(Q10_EIGENVALUES * grads ** 2, -1)
    np.testing.assert_allclose(f13_data.step_sizes, closed_form, rtol=1e-9)
    assert np.all(f13_data.step_sizes >= 1 / f13_data.L - 1e-15)
    assert np.all(f13_data.step_sizes <= 1 / f13_data.mu + 1e-15)


def test_f13_constant_ratio_and_kantorovich_bound(f13_data):
    """F13 [exact]: in 2-D f_{t+1}/f_t is constant; from (10, 1) it is ((k-1)/(k+1))^2 = 0.669421,
    from (-8, 2) 0.490612 and from (1, 1) 0.073563."""
    starts = [tuple(s) for s in f13_data.starts]
    assert starts == [(10.0, 1.0), (-8.0, 2.0), (1.0, 1.0)]
    kantorovich = (9 / 11) ** 2
    np.testing.assert_allclose(f13_data.kantorovich, kantorovich, rtol=1e-12)
    for start, ratios, stated in zip(f13_data.starts, f13_data.ratios,
                                     (0.669421, 0.490612, 0.073563)):
        # while f is far above underflow, every ratio is the closed form of the start
        np.testing.assert_allclose(ratios[:40], exact_line_search_ratio(start), rtol=1e-9)
        np.testing.assert_allclose(ratios[0], stated, atol=5e-7)
        assert ratios[0] <= kantorovich * (1 + 1e-12)
    np.testing.assert_allclose(f13_data.ratios[0, :40], kantorovich, rtol=1e-9)


def test_f13_steps_to_tolerance(f13_data):
    """F13 [exact]: steps to f < 1e-6 are 45, 25 and 6; the best fixed step 2/(mu+L) from the
    worst start also needs 45."""
    assert f13_data.tol == 1e-6
    assert list(f13_data.steps_to_tol) == [45, 25, 6]
    assert f13_data.fixed_steps_to_tol == 45
    np.testing.assert_allclose(f13_data.fixed_values, f13_data.values[0], rtol=1e-9)


def _before_stop(values, grad_norms, step_sizes, stop):
    return values[:stop + 1], grad_norms[:stop + 1], step_sizes[:stop]


def test_f14_every_accepted_step_satisfies_armijo(f14_data):
    """F14 [exact]: f(x - alpha g) <= f(x) - c alpha ||g||^2 at every step, Q10 and ROSEN."""
    d = f14_data
    for run, stop in ((("q10_values", "q10_grad_norms", "q10_step_sizes"), d.q10_steps_to_gtol),
                      (("rosen_values", "rosen_grad_norms", "rosen_step_sizes"),
                       d.rosen_steps_to_gtol[-1])):
        values, norms, alphas = _before_stop(*(getattr(d, name) for name in run), int(stop))
        assert np.all(ls.armijo_holds(values, norms, alphas, d.slope_rtol))
        assert np.all(values[1:] < values[:-1])


def test_f14_q10_steps_and_accepted_step_sizes(f14_data):
    """F14 [exact]: on Q10 from (-8, 2) the accepted alphas are in {0.5, 0.25, 0.125}, all above
    min(1, 2 beta (1 - c)/L) = 0.09999; 64 steps to ||g|| < 1e-6."""
    d = f14_data
    assert d.q10_steps_to_gtol == 64
    alphas = d.q10_step_sizes[:64]
    assert set(np.round(alphas, 12)) == {0.5, 0.25, 0.125}
    np.testing.assert_allclose(alphas, 2.0 ** np.round(np.log2(alphas)), rtol=1e-9)
    bound = min(1.0, 2 * d.decrease_factor * (1 - d.slope_rtol) / d.q10_L)
    np.testing.assert_allclose(bound, 0.09999, rtol=1e-9)
    assert np.all(alphas >= bound)


def test_f14_rosenbrock_backtracking_steps(f14_data):
    """F14 [det]: backtracking on ROSEN reaches ||grad f|| < 1e-3 in 5231 steps and < 1e-4 in
    8058, at x = (0.99992, 0.99984)."""
    d = f14_data
    np.testing.assert_allclose(d.gtols, [1e-3, 1e-4])
    assert abs(d.rosen_steps_to_gtol[0] - 5231) <= 1
    assert abs(d.rosen_steps_to_gtol[1] - 8058) <= 1
    np.testing.assert_allclose(d.rosen_xs[d.rosen_steps_to_gtol[1]], [0.99992, 0.99984],
                               atol=5e-6)


def test_f14_rosenbrock_fixed_steps(f14_data):
    """F14 [det]: fixed steps on ROSEN: eta = 0.002 needs 10 233 steps to ||grad f|| < 1e-4,
    0.001 needs 20 548, and eta >= 0.003 never gets there (F10)."""
    d = f14_data
    steps = dict(zip(np.round(d.fixed_etas, 6), d.fixed_steps_to_gtol))
    assert abs(steps[0.001] - 20_548) <= 1
    assert abs(steps[0.002] - 10_233) <= 1
    assert steps[0.003] == -1 and steps[0.004] == -1
    # the stall of eta >= 0.003 is far from stationary, not a slow approach
    assert np.all(d.fixed_grad_norms[2:, -1000:] > 1.0)
