"""The notebooks' sliders (``experiments/lectures/sliders.py``): each precomputes its whole
range in one vmapped program, and that program must give what a run per value gives;
headless, ``show`` draws the figure at the initial value instead of a widget."""

import functools

import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

import jopt
from experiments.lectures import problems, sliders
from experiments.lectures.common import float64, trajectory
from experiments.lectures.sgd import linreg_batch_losses

matplotlib.use("Agg")


def test_step_size_runs_equal_one_run_per_rate():
    rates = (0.05, 0.19, 0.21)
    runs = sliders.step_size_runs(rates, 30)
    q10 = problems.q10()
    for row, rate in enumerate(rates):
        alone = float64(lambda: trajectory(q10.fun, jnp.asarray(q10.x0), jopt.sgd(rate), 30))()
        np.testing.assert_allclose(runs.values[row], alone.values, rtol=1e-12)
    assert runs.values[2, -1] > runs.values[2, 0]  # 0.21 > 2/L diverges


def test_momentum_runs_are_heavy_ball_then_nesterov():
    momenta = (0.0, 0.9)
    runs = sliders.momentum_runs(momenta, 50)
    q100 = problems.q100()
    for method, nesterov in enumerate((False, True)):
        alone = float64(lambda: trajectory(q100.fun, jnp.asarray(q100.x0),
                                           jopt.sgd(1.0, momentum=0.9, nesterov=nesterov), 50))()
        np.testing.assert_allclose(runs.values[method, 1], alone.values, rtol=1e-12)
    np.testing.assert_allclose(runs.values[0, 0], runs.values[1, 0], rtol=1e-12)  # beta = 0: GD


@float64
def _batch_run(size, rate, indices):
    """SGD on LINREG with batches ``indices[:, :size]``, unpadded: the reference."""
    return linreg_batch_losses(lambda r: jopt.sgd(r), jnp.array([rate]), indices[:, :size],
                               jnp.full((1, size), 1.0 / size))[0]


def test_padded_batch_sizes_equal_unpadded_runs():
    """A size padded to the widest with zero weights, its updates stopped after its own
    budget, follows the unpadded run step for step and then stays put."""
    sizes, rate, epochs = (2, 5, 10), 0.05, 1
    excess, budgets = sliders.batch_size_runs(sizes, rate, epochs)
    data = problems.linreg()
    _, loss_star = problems.linreg_minimum(data.x, data.y)
    rng = np.random.default_rng(0)  # batch_size_runs's draws
    n = len(data.y)
    indices = np.stack([rng.permutation(n)[np.arange(max(sizes)) % n] for _ in range(epochs * n)])
    for row, size in enumerate(sizes):
        budget = budgets[row]
        assert budget == epochs * n // size
        alone = _batch_run(size, rate, jnp.asarray(indices[:budget])) - loss_star
        np.testing.assert_allclose(excess[row, :budget + 1], alone, rtol=1e-9)
        np.testing.assert_allclose(excess[row, budget:], excess[row, budget], rtol=1e-12)


def test_masked_widths_equal_the_fit_on_the_first_features():
    counts = (20, 100, 300)
    test_mse, norms, _ = sliders.width_runs(counts)
    data = problems.rf_data(0)
    for row, count in enumerate(counts):
        train = problems.rf_features(data.train.x, max(counts))[:, :count]
        test = problems.rf_features(data.test.x, max(counts))[:, :count]
        beta = np.linalg.pinv(train) @ data.train.y
        np.testing.assert_allclose(norms[row], np.linalg.norm(beta), rtol=1e-6)
        np.testing.assert_allclose(test_mse[row], np.mean((test @ beta - data.test.y) ** 2),
                                   rtol=1e-6)
    assert np.argmax(test_mse) == 1  # the peak at d = n = 100


def test_show_headless_draws_the_initial_figure(capsys):
    import matplotlib.pyplot as plt
    plt.close("all")
    slider = sliders.step_size_slider(rates=np.array([0.05, 0.1]), steps=5)
    assert sliders.show(slider) is None
    assert "no slider" in capsys.readouterr().out
    assert len(plt.get_fignums()) == 1
    assert slider.labels[slider.initial] == "0.1"
    plt.close("all")


@pytest.mark.parametrize("make", [
    functools.partial(sliders.rate_slider, rates=(0.005, 0.02), epochs=1),
    functools.partial(sliders.batch_size_slider, batch_sizes=(1, 10, 100), epochs=1)],
    ids=["rate", "batch_size"])
def test_sliders_draw_every_position(make):
    import matplotlib.pyplot as plt
    slider = make()
    for index in (0, len(slider.values) - 1):
        figure = slider.draw(index)
        assert len(figure.axes) == 2
        plt.close(figure)
