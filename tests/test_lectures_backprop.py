"""FIGURES.md section 7, backprop and losses (F38-F44): each claim at test size.

Every test calls the functions of ``experiments/lectures/backprop.py`` that the notebook
``notebooks/07_backprop.ipynb`` calls, with explicit sizes so that ``JOPT_FAST`` does
not matter.
"""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from experiments.lectures import backprop as bp
from experiments.lectures.common import first_index

EXACT = 1e-9   # [exact] in float64


def sigmoid_slope(z):
    """sigma'(z) in closed form, e^-z / (1 + e^-z)^2."""
    return np.exp(-z) / (1.0 + np.exp(-z)) ** 2


# ----------------------------------------------------------------------------
# F38
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def f38_data():
    return bp.f38(depth=10, width=64, n=128, seed=0, grid=401)


def test_f38_sigmoid_slope_values(f38_data):
    """F38 [exact] sigma'(0) = 0.25 is the maximum; sigma'(5) = 6.648e-3, sigma'(10) = 4.540e-5."""
    np.testing.assert_array_equal(f38_data.points, [0.0, 5.0, 10.0])
    np.testing.assert_allclose(f38_data.sigmoid_slopes, sigmoid_slope(f38_data.points),
                               rtol=EXACT)
    assert f38_data.sigmoid_slopes[0] == 0.25
    np.testing.assert_allclose(f38_data.sigmoid_slopes[1:], [6.648e-3, 4.540e-5], rtol=1e-3)
    slope = f38_data.curves["sigmoid'"]
    assert abs(f38_data.z[np.argmax(slope)]) < 1e-12 and slope.max() <= 0.25
    sigma = f38_data.curves["sigmoid"]
    np.testing.assert_allclose(slope, sigma * (1 - sigma), rtol=EXACT, atol=1e-15)


def test_f38_relu_and_softplus_slopes(f38_data):
    """F38 [exact] ReLU' = 1(z > 0) (it does not saturate); softplus' = sigma (to rounding)."""
    z = f38_data.z
    np.testing.assert_array_equal(f38_data.curves["relu'"], (z > 0).astype(float))
    np.testing.assert_allclose(f38_data.curves["softplus'"], f38_data.curves["sigmoid"],
                               rtol=EXACT)


def test_f38_vanishing_gradient_seeded(f38_data):
    """F38 [seeded] 10 layers, width 64: ||dL/dW1|| / ||dL/dW10|| is below 1e-4 for sigmoid
    and above 1e-2 for ReLU."""
    norms = f38_data.layer_norms
    assert len(norms["sigmoid"]) == len(norms["relu"]) == 10
    assert norms["sigmoid"][0] / norms["sigmoid"][-1] < 1e-4
    assert norms["relu"][0] / norms["relu"][-1] > 1e-2
    assert np.all(np.diff(np.log(norms["sigmoid"])) > 0)  # shrinks at every layer down


# ----------------------------------------------------------------------------
# F39, F40
# ----------------------------------------------------------------------------


def test_f39_bernoulli_backprop_matches_autodiff():
    """F39 [exact] deck 000's dl/dbeta and dl/dalpha_k (ReLU: 1(h > 0); sigmoid: h(1 - h))
    equal jax.grad of the log-likelihood l (n = 30, p = 4, d = 5): ascent directions."""
    checks = bp.f39(n=30, p=4, d=5, seed=0)
    assert set(checks) == {"relu", "sigmoid"}
    for check in checks.values():
        assert check.hand.shape == (4 * 5 + 5,)
        assert bp.relative_error(check) < EXACT


@pytest.fixture(scope="module")
def f40_data():
    return bp.f40(sizes=(5, 7, 6, 3), activations=("tanh", "sigmoid"), n=8, seed=0)


def test_f40_matrix_backprop_matches_autodiff(f40_data):
    """F40 [exact] the hand-written matrix-form pass (5-7-6-3, tanh, sigmoid, softmax CE)
    equals jax.grad, weights and biases."""
    assert f40_data.network.hand.shape == (5 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3,)
    assert bp.relative_error(f40_data.network) < EXACT


def test_f40_delta_rule_sign(f40_data):
    """F40 [exact] deck 003's delta x is minus the gradient: y = 1, x = (1, 0.5, -2),
    w = (0.3, -0.2, 0.1) gives jax.grad = (-0.125, -0.0625, 0.25); also through a hidden layer."""
    np.testing.assert_allclose(f40_data.unit.autodiff, [-0.125, -0.0625, 0.25], rtol=EXACT)
    np.testing.assert_allclose(f40_data.unit.hand, -f40_data.unit.autodiff, rtol=EXACT)
    np.testing.assert_allclose(f40_data.delta_rule.hand, -f40_data.delta_rule.autodiff,
                               rtol=EXACT, atol=1e-15)
    assert np.max(np.abs(f40_data.delta_rule.autodiff)) > 1e-3


# ----------------------------------------------------------------------------
# F41, F42
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def f41_data():
    return bp.f41(logits=(2.0, 1.0, 0.1, -1.0), label=2, grid=121)


def test_f41_softmax_cross_entropy_gradient(f41_data):
    """F41 [exact] grad(-sum y log softmax(a)) = softmax(a) - y for a = (2, 1, 0.1, -1), y = e3."""
    np.testing.assert_array_equal(f41_data.label, [0.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(f41_data.autodiff, f41_data.softmax_minus_label, rtol=EXACT)
    exp = np.exp(f41_data.logits)
    np.testing.assert_allclose(f41_data.softmax_minus_label, exp / exp.sum() - f41_data.label,
                               rtol=EXACT)


def test_f41_two_classes_and_shift(f41_data):
    """F41 [exact] softmax([a, 0])_0 = sigma(a); softmax(a + c) = softmax(a)."""
    np.testing.assert_allclose(f41_data.two_class, f41_data.sigmoid, rtol=EXACT)
    np.testing.assert_allclose(f41_data.shifted_softmax,
                               np.broadcast_to(f41_data.shifted_softmax[2],
                                               f41_data.shifted_softmax.shape), rtol=EXACT)
    assert 0.0 in f41_data.shifts


def test_f41_abs_normalization(f41_data):
    """F41 [exact] |a|-normalization gives a and -a the same probabilities (not monotone),
    and p_1 has one-sided slopes +-1/sum_{j>1}|a_j| at a_1 = 0 (no derivative)."""
    assert f41_data.abs_mirror_gap <= 1e-15
    others = np.sum(np.abs(f41_data.logits[1:]))
    np.testing.assert_allclose(f41_data.abs_slopes, [1 / others, -1 / others], rtol=EXACT)
    t, p_abs = f41_data.t, f41_data.abs_first
    assert np.all(np.diff(p_abs[t <= 0]) < 0) and np.all(np.diff(p_abs[t >= 0]) > 0)
    assert np.all(np.diff(f41_data.softmax_first) > 0)


def test_f42_entropy_worked_numbers():
    """F42 [exact] H(uniform 4) = ln 4, H(one-hot) = 0, H(1/2, 1/2) = ln 2; the slide's 1.39
    is H(one-hot, uniform 4) = -ln 0.25; = inf with a zero where P > 0; H(P, Q) != H(Q, P)."""
    data = bp.f42(grid=199)
    np.testing.assert_allclose(data["entropy_uniform4"], np.log(4), rtol=EXACT)
    np.testing.assert_allclose(data["entropy_uniform4"], 1.386294, atol=5e-7)
    assert data["entropy_one_hot"] == 0.0
    np.testing.assert_allclose(data["entropy_half"], np.log(2), rtol=EXACT)
    np.testing.assert_allclose(data["cross_one_hot_uniform4"], -np.log(0.25), rtol=EXACT)
    np.testing.assert_allclose(data["cross_uniform4_uniform4"], -np.log(0.25), rtol=EXACT)
    assert round(float(data["cross_one_hot_uniform4"]), 2) == 1.39
    assert data["cross_zero_support"] == np.inf
    np.testing.assert_allclose(data["cross_half_skewed"], -0.5 * np.log(0.9 * 0.1), rtol=EXACT)
    np.testing.assert_allclose(data["cross_skewed_half"], np.log(2), rtol=EXACT)
    np.testing.assert_allclose([data["cross_half_skewed"], data["cross_skewed_half"]],
                               [1.203973, 0.693147], atol=5e-7)
    # The curves: H(Q, P) = ln 2 for every Q when P is uniform; H(P, Q) >= H(P) = ln 2.
    np.testing.assert_allclose(data["cross_q_half"], np.log(2), rtol=EXACT)
    assert np.all(data["cross_half_q"] >= np.log(2) * (1 - EXACT))


# ----------------------------------------------------------------------------
# F43, F44
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def f43_data():
    return bp.f43(n=50, seed=0, w1=1.0, grid=161)


def test_f43_sign_sse_is_twice_the_error_rate(f43_data):
    """F43 [exact] (1/2N) sum (y - sign(w'x))^2 = 2 x error rate at every w0, and its
    jax.grad is 0: piecewise constant (the 0-1 loss takes the values k/N)."""
    np.testing.assert_allclose(f43_data.sign_sse, 2 * f43_data.zero_one, rtol=EXACT)
    assert np.all(f43_data.sign_sse_grad == 0.0)
    counts = f43_data.zero_one * len(f43_data.y)
    np.testing.assert_allclose(counts, np.round(counts), rtol=0, atol=1e-9)
    assert len(np.unique(f43_data.zero_one)) > 2  # the steps of the plot


def test_f43_squared_loss_gradient_and_parabola(f43_data):
    """F43 [exact] with y_hat = w'x, grad L = -(1/N) sum (y - w'x) x equals jax.grad, and
    L(w0) is a parabola: constant second differences h^2 mean(x0^2)."""
    np.testing.assert_allclose(f43_data.linear_sse_hand, f43_data.linear_sse_grad,
                               rtol=EXACT, atol=1e-12)
    step = f43_data.w0[1] - f43_data.w0[0]
    second = np.diff(f43_data.linear_sse, 2)
    np.testing.assert_allclose(second, step ** 2 * np.mean(f43_data.x[:, 0] ** 2), rtol=1e-8)


@pytest.fixture(scope="module")
def f44_data():
    return bp.f44(n=500, seed=0, penalty=0.1, steps=130)


def test_f44_derivative_identity(f44_data):
    """F44 [exact] d/da ln sigma(a x_i + b) = (1 - sigma(a x_i + b)) x_i under autodiff."""
    np.testing.assert_allclose(f44_data.identity_autodiff, f44_data.identity_formula,
                               rtol=EXACT, atol=1e-15)


def test_f44_logistic_gd_matches_sklearn(f44_data):
    """F44 [det] GD at eta = 1/L, L = lambda_max(X'X/n)/4, reaches ||grad|| < 1e-10 in 101
    steps and matches sklearn LogisticRegression(C=inf) (to 4e-9 in FIGURES.md)."""
    assert abs(int(first_index(f44_data.grad_norms["logistic"] < 1e-10)) - 101) <= 1
    np.testing.assert_allclose(f44_data.solutions["logistic"], f44_data.references["logistic"],
                               rtol=1e-6)


def test_f44_least_squares_and_ridge_closed_forms(f44_data):
    """F44 [det] GD at eta = 1/L on least squares and ridge (lambda = 0.1, bias free)
    comes within 1e-12 (relative) of the closed forms in 22 and 21 steps."""
    assert abs(int(first_index(f44_data.errors["least squares"] < 1e-12)) - 22) <= 1
    assert abs(int(first_index(f44_data.errors["ridge"] < 1e-12)) - 21) <= 1
    for name in ("least squares", "ridge"):
        np.testing.assert_allclose(f44_data.solutions[name], f44_data.references[name],
                                   rtol=1e-12)


def test_f44_closed_forms_match_sklearn():
    """F44 [exact] the closed forms are scikit-learn's LinearRegression and Ridge
    (Ridge minimizes ||y - Xw - b||^2 + alpha ||w||^2, so alpha = n lambda)."""
    x, y = bp.logistic_data(500, seed=0)
    for penalty, reference in ((0.0, LinearRegression()), (0.1, Ridge(alpha=500 * 0.1))):
        fitted = reference.fit(x, y)
        np.testing.assert_allclose(bp.closed_form(x, y, penalty),
                                   np.append(fitted.coef_, fitted.intercept_), rtol=EXACT)
