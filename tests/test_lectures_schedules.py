"""FIGURES.md section 5, learning-rate schedules (F27-F29): each claim checked on the lecture
module's own runs (``experiments/lectures/schedules.py``, the code the notebook runs), with
optax's and torch's schedules as references where FIGURES.md names them."""

import math

import jax
import numpy as np
import optax
import pytest
import torch

from experiments.lectures import schedules as sch

T = np.arange(201)


@pytest.fixture(scope="module")
def f27_data():
    return sch.f27(steps=200)


@pytest.fixture(scope="module")
def f28_data():
    return sch.f28(steps=1000)


@pytest.fixture(scope="module")
def f29_data():
    return sch.f29(steps=50_000, seeds=(0, 1, 2), every=100)


def optax_values(schedule):
    """An optax schedule at t = 0 .. 200, computed in float64."""
    with jax.enable_x64(True):
        return np.asarray(jax.jit(schedule)(T))


def torch_values(make_scheduler, lr=0.1):
    """The learning rate of a torch scheduler at t = 0 .. 200 (``scheduler.step()`` per step)."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(optimizer)
    values = []
    for _ in T:
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(values)


def test_f27_linear_decay_to_alpha_rho(f27_data):
    """F27 [exact]: linear from 0.1 to 0.001 at rho = 100, then constant: alpha_50 = 0.0505,
    alpha_100 = alpha_150 = 0.001; = optax.linear_schedule and torch LinearLR."""
    values = f27_data["linear"]
    np.testing.assert_allclose(values[[50, 100, 150]], [0.0505, 0.001, 0.001], rtol=1e-9)
    np.testing.assert_allclose(values, optax_values(optax.linear_schedule(0.1, 0.001, 100)),
                               rtol=1e-9)
    np.testing.assert_allclose(values, torch_values(lambda o: torch.optim.lr_scheduler.LinearLR(
        o, start_factor=1.0, end_factor=0.01, total_iters=100)), rtol=1e-9)


def test_f27_linear_decay_k_one_minus_i_over_n(f27_data):
    """F27 [exact]: k(1 - i/n) with k = 0.1, n = 100: alpha_25 = 0.075; =
    optax.polynomial_schedule(power 1, end 0) and torch PolynomialLR(power=1)."""
    values = f27_data["polynomial"]
    np.testing.assert_allclose(values[25], 0.075, rtol=1e-9)
    np.testing.assert_allclose(values[:101], 0.1 * (1 - T[:101] / 100), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(values, optax_values(optax.polynomial_schedule(0.1, 0.0, 1, 100)),
                               rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(values, torch_values(
        lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=100, power=1.0)),
        rtol=1e-9, atol=1e-15)


def test_f27_inverse_time(f27_data):
    """F27 [exact]: alpha_0/(1 + rho t) with rho = 0.01: alpha_100 = 0.05 (torch LambdaLR)."""
    values = f27_data["inverse_time"]
    np.testing.assert_allclose(values[100], 0.05, rtol=1e-9)
    np.testing.assert_allclose(values, torch_values(lambda o: torch.optim.lr_scheduler.LambdaLR(
        o, lambda t: 1 / (1 + 0.01 * t))), rtol=1e-9)


def test_f27_exponential(f27_data):
    """F27 [exact]: alpha_0 e^(-rho t) with rho = 0.01: alpha_100 = 0.0367879; =
    optax.exponential_decay(alpha_0, 1, e^-rho) and torch ExponentialLR."""
    values = f27_data["exponential"]
    np.testing.assert_allclose(values[100], 0.1 / math.e, rtol=1e-9)
    np.testing.assert_allclose(values[100], 0.0367879, atol=5e-8)
    np.testing.assert_allclose(values, 0.1 * np.exp(-0.01 * T), rtol=1e-9)
    np.testing.assert_allclose(values, optax_values(optax.exponential_decay(0.1, 1, np.exp(-0.01))),
                               rtol=1e-9)
    np.testing.assert_allclose(values, torch_values(
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=np.exp(-0.01))), rtol=1e-9)


def test_f27_step_decay(f27_data):
    """F27 [exact]: halving every 30 steps: alpha_29 = 0.1, alpha_30 = 0.05, alpha_100 = 0.0125;
    = optax.exponential_decay(staircase=True) and torch StepLR."""
    values = f27_data["step"]
    np.testing.assert_allclose(values[[29, 30, 100]], [0.1, 0.05, 0.0125], rtol=1e-9)
    np.testing.assert_allclose(values, optax_values(
        optax.exponential_decay(0.1, 30, 0.5, staircase=True)), rtol=1e-9)
    np.testing.assert_allclose(values, torch_values(
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.5)), rtol=1e-9)


def test_f27_recursive_inverse_time_is_super_exponential(f27_data):
    """F27 [exact]: the slide's alpha_{t+1} = alpha_t/(1 + rho t) with rho = 0.1 gives
    alpha_10 = alpha_0/33.522, against alpha_0/2 for the closed form alpha_0/(1 + rho t)."""
    recursive, closed = f27_data["recursive_0.1"], f27_data["inverse_time_0.1"]
    np.testing.assert_allclose(0.1 / recursive[10], np.prod(1 + 0.1 * np.arange(10)), rtol=1e-9)
    np.testing.assert_allclose(0.1 / recursive[10], 33.522, atol=5e-4)
    np.testing.assert_allclose(0.1 / closed[10], 2.0, rtol=1e-9)
    alpha, by_recursion = 0.1, []
    for t in T:
        by_recursion.append(alpha)
        alpha = alpha / (1 + 0.1 * t)
    np.testing.assert_allclose(recursive, by_recursion, rtol=1e-9)
    # super-exponential: alpha_{t+1}/alpha_t = 1/(1 + rho t) goes to 0, below any e^-rate
    ratios = recursive[1:50] / recursive[:49]
    np.testing.assert_allclose(ratios, 1 / (1 + 0.1 * T[:49]), rtol=1e-9)


def test_f27_power_and_level_out(f27_data):
    """F27: the power decay C (t0 + t)^-a and the level-out max(alpha_min, s(t)) as plotted."""
    np.testing.assert_allclose(f27_data["power"], 0.1 * (1 + T) ** -0.75, rtol=1e-9)
    np.testing.assert_allclose(f27_data["level_out"], np.maximum(0.01, 0.1 / (1 + T)), rtol=1e-9)


def _products(etas):
    return np.concatenate([[1.0], np.cumprod(1 - etas)])


def test_f28_gd_iterates_are_products(f28_data):
    """F28 [exact]: GD on 1/2 x^2 from 1 gives x_T = prod_{t<T} (1 - eta_t) for each schedule."""
    t = np.arange(1000)
    closed_forms = [np.full(1000, 0.1), 0.1 * np.exp(-0.1 * t), 0.1 / (1 + t) ** 2,
                    0.1 / (1 + 0.1 * t)]
    assert len(f28_data.labels) == 4
    for xs, etas, closed in zip(f28_data.xs, f28_data.etas, closed_forms):
        np.testing.assert_allclose(etas, closed, rtol=1e-9)
        np.testing.assert_allclose(xs, _products(closed), rtol=1e-9)


def test_f28_constant_and_fast_decays(f28_data):
    """F28 [exact]: constant 0.1 gives x_100 = 2.66e-5; 0.1 e^(-0.1t) stalls at 0.339669;
    0.1/(1 + t)^2 stalls at 0.84344 (= sin(pi sqrt 0.1)/(pi sqrt 0.1))."""
    constant, exponential, square = f28_data.xs[:3]
    np.testing.assert_allclose(constant[100], 0.9 ** 100, rtol=1e-9)
    np.testing.assert_allclose(constant[100], 2.66e-5, atol=5e-8)
    np.testing.assert_allclose(exponential[-1], 0.339669, atol=5e-7)
    np.testing.assert_allclose(exponential[-1], exponential[500], rtol=1e-12)  # stalled
    limit = np.sin(np.pi * np.sqrt(0.1)) / (np.pi * np.sqrt(0.1))
    np.testing.assert_allclose(limit, 0.84344, atol=5e-6)
    T_ = len(square) - 1
    # the tail prod_{t >= T} (1 - 0.1/(1 + t)^2) lies in [1 - 0.1/T, 1]
    assert square[-1] * (1 - 0.1 / T_) <= limit <= square[-1]


def test_f28_inverse_time_reaches_the_minimum(f28_data):
    """F28 [exact]: 0.1/(1 + 0.1t) gives exactly x_t = 9/(t + 9): x_100 = 0.082569 and
    x_1000 = 0.0089197; it reaches the minimum, slowly."""
    xs = f28_data.xs[3]
    np.testing.assert_allclose(xs, 9 / (f28_data.t + 9), rtol=1e-9)
    np.testing.assert_allclose(xs[100], 0.082569, atol=5e-7)
    np.testing.assert_allclose(xs[1000], 0.0089197, atol=5e-8)


def test_f29_schedules_are_the_stated_ones():
    """F29 [exact]: the five schedules, and sum eta_t = 1.005 for 0.01 e^(-t/100)."""
    t = np.arange(50_000)
    schedules = list(sch.f29_schedules().values())
    with jax.enable_x64(True):
        values = np.asarray(jax.jit(lambda t: [s(t) for s in schedules])(t))
    closed_forms = [np.full(t.shape, 0.01), 1 / (100 + t), 0.1 / (100 + t) ** 0.75,
                    0.01 * np.exp(-t / 100), np.maximum(1e-3, 1 / (100 + t))]
    for value, closed in zip(values, closed_forms):
        np.testing.assert_allclose(value, closed, rtol=1e-9)
    np.testing.assert_allclose(values[3].sum(), 0.01 / (1 - np.exp(-0.01)), rtol=1e-9)
    np.testing.assert_allclose(values[3].sum(), 1.005, atol=5e-4)


def test_f29_constant_step_plateau(f29_data):
    """F29 [seeded]: constant 0.01 stalls on a plateau in [4e-3, 1e-2] (theory
    eta sigma^2 tr(H)/4 = 6.2e-3)."""
    d = f29_data
    assert d.excess.shape == (5, 3, 501)
    np.testing.assert_allclose(d.noise_plateau[0], 6.2e-3, atol=5e-5)
    assert 4e-3 <= d.plateau[0] <= 1e-2
    assert np.all(d.readings[0, 1:] < 1e-2) and np.all(d.readings[0] > 3e-3)


def test_f29_one_over_t_goes_to_the_minimum(f29_data):
    """F29 [seeded]: 1/(100 + t) decreases at every reading and is below 2e-4 at 50k; so does
    0.1/(100 + t)^0.75, more slowly."""
    d = f29_data
    np.testing.assert_array_equal(d.read_at, [1_000, 5_000, 10_000, 50_000])
    assert np.all(np.diff(d.readings[1]) < 0) and d.readings[1, -1] < 2e-4
    assert np.all(np.diff(d.readings[2]) < 0)
    assert d.readings[1, -1] < d.readings[2, -1] < d.plateau[0]


def test_f29_exponential_decay_stalls(f29_data):
    """F29 [seeded]: 0.01 e^(-t/100) (sum eta = 1.005) stalls far away: above 1.0 at every T."""
    d = f29_data
    assert np.all(d.readings[3] > 1.0)
    np.testing.assert_allclose(d.readings[3, 1:], d.readings[3, -1], rtol=1e-6)


def test_f29_level_out_plateau(f29_data):
    """F29 [seeded]: max(1e-3, 1/(100 + t)) levels out on a plateau within 2x of 0.1 x the
    constant-0.01 plateau (a plateau proportional to eta_min)."""
    d = f29_data
    ratio = d.plateau[4] / (0.1 * d.plateau[0])
    assert 0.5 <= ratio <= 2.0
    assert d.plateau[4] < d.plateau[0]
