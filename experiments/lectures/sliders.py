"""Sliders for the lectures' "what if" questions: the step size (F1), the momentum
(F15-F17), the rate of SGD (F33), the batch size (F36) and the number of features (F48).

Each ``*_slider()`` runs its whole range at once, one ``jax.vmap`` over the slider's
values, and returns a :class:`Slider` whose ``draw(index)`` only plots precomputed arrays,
so that moving the slider redraws at once.  :func:`show` puts it in a notebook with
ipywidgets (the optional extra ``jopt[widgets]``); without ipywidgets, or with a
non-interactive matplotlib backend (a notebook executed headless, as in CI), it draws the
figure for the slider's initial value instead.  ``python -m experiments.lectures.sliders``
times a redraw of each.
"""

from __future__ import annotations

import io
import time
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import jopt
from experiments.lectures import problems
from experiments.lectures.common import (PALETTE, draw_levels, first_index, float64, grid_values,
                                         pick, trajectory, use_palette)
from experiments.lectures.sgd import linreg_batch_losses, numpy_batches


class Slider(NamedTuple):
    """``values`` the slider moves over (``labels`` shows them), starting at ``initial``
    (an index); ``draw(index)`` returns the figure for ``values[index]``."""

    description: str
    values: np.ndarray
    labels: list
    initial: int
    draw: Callable


def interactive_backend() -> bool:
    """Whether matplotlib draws into a live notebook (inline or widget backends)."""
    import matplotlib
    backend = matplotlib.get_backend().lower()
    return "inline" in backend or "ipympl" in backend or "widget" in backend


def show(slider: Slider):
    """An ipywidgets slider that redraws ``slider.draw`` as it moves; where ipywidgets is
    missing or the backend is not interactive, the figure at the initial value."""
    try:
        import ipywidgets
        from IPython.display import display
    except ImportError:
        ipywidgets = None
    if ipywidgets is None or not interactive_backend():
        reason = "ipywidgets is not installed" if ipywidgets is None else "not a live notebook"
        print(f"(no slider: {reason}; the figure at {slider.description} = "
              f"{slider.labels[slider.initial]})")
        slider.draw(slider.initial)  # a notebook's inline backend shows it at the cell's end
        return
    import matplotlib.pyplot as plt
    control = ipywidgets.SelectionSlider(
        options=list(zip(slider.labels, range(len(slider.values)))), value=slider.initial,
        description=slider.description, continuous_update=True,
        layout=ipywidgets.Layout(width="60%"))
    output = ipywidgets.Output()

    def redraw(index):
        with output:
            output.clear_output(wait=True)
            figure = slider.draw(index)
            display(figure)
            plt.close(figure)

    control.observe(lambda change: redraw(change["new"]), names="value")
    redraw(slider.initial)
    display(ipywidgets.VBox([control, output]))


def panels(count: int, width: float = 4.4, height: float = 3.3):
    """A figure of ``count`` panels in a row, laid out once by hand: a redraw does not pay
    for constrained layout's measuring of every label."""
    import matplotlib.pyplot as plt
    use_palette()
    fig, axes = plt.subplots(1, count, figsize=(width * count, height))
    fig.subplots_adjust(left=0.65 / (width * count), right=0.98, bottom=0.16, top=0.89, wspace=0.32)
    return fig, axes


def plain_log_labels(fig) -> None:
    """Log axes labelled ``1e-08`` instead of mathtext's 10⁻⁸, which costs most of a redraw."""
    from matplotlib.ticker import LogFormatter, NullFormatter
    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                axis.set_major_formatter(LogFormatter(labelOnlyBase=True))
                axis.set_minor_formatter(NullFormatter())


def redraw_seconds(slider: Slider, indices: Sequence[int], dpi: int = 100) -> np.ndarray:
    """``(wall, cpu)`` seconds of each redraw at ``indices``: ``draw`` and its PNG, as a
    notebook shows it (the CPU time of this process, which other jobs on the machine do
    not inflate, beside the wall time)."""
    import matplotlib.pyplot as plt
    seconds = []
    for index in indices:
        wall, cpu = time.perf_counter(), time.process_time()
        figure = slider.draw(index)
        figure.savefig(io.BytesIO(), format="png", dpi=dpi)
        seconds.append((time.perf_counter() - wall, time.process_time() - cpu))
        plt.close(figure)
    return np.array(seconds)


# ----------------------------------------------------------------------------
# F1: the step size on Q10
# ----------------------------------------------------------------------------


@float64
def step_size_runs(rates, steps: int):
    """GD on Q10 from its x0 at each rate of ``rates``: one vmap, every iterate kept."""
    q10 = problems.q10()
    run = lambda rate: trajectory(q10.fun, jnp.asarray(q10.x0), jopt.sgd(rate), steps)
    return jax.jit(jax.vmap(run))(jnp.asarray(rates))


def step_size_slider(rates=np.round(np.linspace(0.01, 0.21, 41), 3), steps: int = 30) -> Slider:
    """F1's "what if": GD's first ``steps`` iterates on Q10 as η moves from 0.01 to 0.21
    (2/L = 0.2 is the stability limit, 2/(μ+L) = 2/11 the fastest)."""
    rates = np.asarray(rates)
    runs = step_size_runs(rates, steps)
    levels = grid_values(problems.q10().fun, (-9, 9), (-3, 3), n=101)
    steps_axis = np.arange(runs.values.shape[1])
    every_rate = [np.column_stack([steps_axis, np.maximum(v, 1e-300)]) for v in runs.values]

    def draw(index):
        from matplotlib.collections import LineCollection
        background = LineCollection(every_rate, colors="0.85", linewidths=0.8)
        fig, (paths, values) = panels(2)
        draw_levels(paths, levels, levels=15)
        xs = runs.xs[index]
        paths.plot(xs[:, 0], xs[:, 1], "o-", markersize=3, linewidth=1, color=PALETTE[0])
        paths.set(xlabel="x₁", ylabel="x₂", title=f"GD on Q10, η = {rates[index]:g}")
        values.add_collection(background)  # every rate of the slider, one artist
        values.set_yscale("log")
        values.semilogy(runs.values[index], color=PALETTE[0], linewidth=2)
        values.set(xlabel="step t", ylabel="f(x_t)", ylim=(1e-8, 1e4),
                   title="every η of the slider (grey), this one (blue)")
        plain_log_labels(fig)
        return fig

    return Slider("η", rates, [f"{r:g}" for r in rates], int(np.argmin(abs(rates - 0.1))), draw)


# ----------------------------------------------------------------------------
# F15-F17: the momentum on Q100
# ----------------------------------------------------------------------------


@float64
def momentum_runs(momenta, steps: int):
    """Heavy ball and Nesterov (η = 1) on Q100 at each β: one vmap over β per method,
    stacked (method, β, ...)."""
    q100 = problems.q100()

    def runs(momenta):
        def run(beta, nesterov):
            opt = jopt.sgd(1.0, momentum=beta, nesterov=nesterov)
            return trajectory(q100.fun, jnp.asarray(q100.x0), opt, steps)
        both = [jax.vmap(lambda beta: run(beta, nesterov))(momenta) for nesterov in (False, True)]
        return jax.tree_util.tree_map(lambda *arrays: jnp.stack(arrays), *both)

    return jax.jit(runs)(jnp.asarray(momenta))


def momentum_slider(momenta=np.round(np.linspace(0.0, 0.99, 100), 2),
                    steps: int = pick(800, 400), tol: float = 1e-6) -> Slider:
    """F15-F17's "what if": heavy ball and Nesterov at η = 1 on Q100 as β moves from 0
    to 0.99: their paths, f(x_t), and steps to f < ``tol`` against β."""
    momenta = np.asarray(momenta)
    runs = momentum_runs(momenta, steps)
    to_tol = np.asarray(first_index(runs.values < tol))
    levels = grid_values(problems.q100().fun, (-11, 2), (-1.6, 1.6), n=101)
    names = ("heavy ball", "Nesterov")

    def draw(index):
        fig, (paths, values, sweep) = panels(3, width=4.0)
        draw_levels(paths, levels, levels=15)
        for method, name in enumerate(names):
            xs = runs.xs[method, index]
            paths.plot(xs[:, 0], xs[:, 1], "-", linewidth=1, color=PALETTE[method], label=name)
            values.semilogy(runs.values[method, index], color=PALETTE[method], label=name)
            steps_to = np.where(to_tol[method] > 0, to_tol[method], np.nan)
            sweep.plot(momenta, steps_to, color=PALETTE[method], label=name)
            sweep.plot(momenta[index], steps_to[index], "o", color=PALETTE[method])
        paths.set(xlabel="x₁", ylabel="x₂", title=f"Q100, η = 1, β = {momenta[index]:g}")
        paths.legend(fontsize="small")
        values.axhline(tol, color="0.5", linestyle=":")
        values.set(xlabel="step t", ylabel="f(x_t)", ylim=(1e-12, 10))
        sweep.set(xlabel="momentum β", ylabel=f"steps to f < {tol:g}", yscale="log",
                  title="the whole slider (dots: this β)")
        plain_log_labels(fig)
        return fig

    return Slider("β", momenta, [f"{b:g}" for b in momenta], int(np.argmin(abs(momenta - 0.9))),
                  draw)


# ----------------------------------------------------------------------------
# F33 and F36: the rate and the batch size of SGD on LINREG
# ----------------------------------------------------------------------------


def linreg_noise_floor(rate: float) -> float:
    """The first-order noise floor ``η σ² tr(H) / 4`` of batch-1 SGD on LINREG (F33)."""
    data = problems.linreg()
    w, loss_star = problems.linreg_minimum(data.x, data.y)
    hessian_trace = np.trace(data.x.T @ data.x) / len(data.y)
    return rate * (2 * loss_star) * hessian_trace / 4


@float64
def rate_runs(rates, epochs: int, seed: int = 0):
    """``L(w_t) - L*`` of batch-1 SGD (with replacement) on LINREG at each constant rate:
    one vmap over the rates."""
    data = problems.linreg()
    _, loss_star = problems.linreg_minimum(data.x, data.y)
    indices = numpy_batches(seed, len(data.y), 1, epochs, "replacement").reshape(-1, 1)
    rates = jnp.asarray(rates)
    losses = linreg_batch_losses(jopt.sgd, rates, indices, jnp.ones((len(rates), 1)))
    return losses - loss_star


def rate_slider(rates=np.round(np.geomspace(0.001, 0.05, 30), 4), epochs: int = pick(10, 4)) -> Slider:
    """F33's "what if": batch-1 SGD on LINREG as the constant rate η moves: the excess loss
    settles on a floor near η σ² tr(H)/4."""
    rates = np.asarray(rates)
    excess = rate_runs(rates, epochs)
    steps = np.arange(excess.shape[1])
    late = excess[:, excess.shape[1] // 2:].mean(axis=1)
    floors_theory = np.array([linreg_noise_floor(r) for r in rates])

    def draw(index):
        fig, (curve, floors) = panels(2)
        curve.loglog(steps[1:], excess[index, 1:], color=PALETTE[0], linewidth=0.8)
        curve.axhline(floors_theory[index], color=PALETTE[3], linestyle="--",
                      label="ησ²tr(H)/4")
        curve.set(xlabel="step t", ylabel="L(w_t) − L*", ylim=(1e-5, 20),
                  title=f"SGD, batch 1, η = {rates[index]:g}")
        curve.legend(fontsize="small")
        floors.loglog(rates, late, "o-", markersize=3, color=PALETTE[0], label="second-half mean")
        floors.loglog(rates, floors_theory, "--", color=PALETTE[3],
                      label="ησ²tr(H)/4")
        floors.plot(rates[index], late[index], "o", markersize=9, markerfacecolor="none",
                    color="k")
        floors.set(xlabel="η", ylabel="noise floor", title="the whole slider (circle: this η)")
        floors.legend(fontsize="small")
        plain_log_labels(fig)
        return fig

    return Slider("η", rates, [f"{r:g}" for r in rates], int(np.argmin(abs(rates - 0.01))), draw)


@float64
def batch_size_runs(batch_sizes, rate: float, epochs: int, seed: int = 0):
    """``(excess, epoch_ends)``: ``L(w_t) - L*`` of SGD on LINREG for each batch size, one
    vmap: every batch is padded to the largest with zero weights, and a size B makes
    ``epochs x n // B`` steps, its later steps masked to zero updates."""
    data = problems.linreg()
    n = len(data.y)
    _, loss_star = problems.linreg_minimum(data.x, data.y)
    widest, total = max(batch_sizes), epochs * n
    rng = np.random.default_rng(seed)
    indices = np.stack([rng.permutation(n)[np.arange(widest) % n] for _ in range(total)])
    sizes = np.asarray(batch_sizes)
    weights = (np.arange(widest) < sizes[:, None]) / sizes[:, None]
    budgets = epochs * (n // sizes)

    def make_opt(budget):  # the step count as data: updates stop after the size's budget
        return jopt.sgd(lambda count: jnp.where(count < budget, rate, 0.0))

    excess = linreg_batch_losses(make_opt, jnp.asarray(budgets), jnp.asarray(indices),
                                 jnp.asarray(weights)) - loss_star
    return excess, budgets


def batch_size_slider(batch_sizes=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), rate: float = 0.05,
                      epochs: int = pick(5, 2)) -> Slider:
    """F36's "what if": SGD on LINREG for a fixed number of epochs as the batch size moves:
    small batches make many noisy updates, large ones few exact ones."""
    sizes = np.asarray(batch_sizes)
    excess, budgets = batch_size_runs(tuple(batch_sizes), rate, epochs)
    final = excess[np.arange(len(sizes)), budgets]

    def draw(index):
        fig, (curve, sweep) = panels(2)
        per_epoch = budgets[index] // epochs
        seen = np.arange(budgets[index] + 1) / per_epoch
        curve.semilogy(seen, excess[index, :budgets[index] + 1], color=PALETTE[0], linewidth=0.8)
        curve.set(xlabel="epochs", ylabel="L(w_t) − L*", ylim=(1e-5, 20),
                  title=f"B = {sizes[index]}: {budgets[index]} steps, η = {rate:g}")
        sweep.loglog(sizes, final, "o-", markersize=3, color=PALETTE[0])
        sweep.plot(sizes[index], final[index], "o", markersize=9, markerfacecolor="none",
                   color="k")
        sweep.set(xlabel="batch size B", ylabel=f"L − L* after {epochs} epochs",
                  title="the whole slider (circle: this B)")
        plain_log_labels(fig)
        return fig

    return Slider("B", sizes, [str(b) for b in sizes], int(np.argmin(abs(sizes - 10))), draw)


# ----------------------------------------------------------------------------
# F48: the number of random features
# ----------------------------------------------------------------------------


@float64
def width_runs(counts, seed: int = 0, draw: int = 0):
    """``(test_mse, norms, predictions)`` of the minimum-norm fit on the first ``d``
    features of one feature draw, for each ``d`` of ``counts``: one vmap over column
    masks (a masked column gets weight 0 from ``pinv``, so each fit is the one on d
    features)."""
    data = problems.rf_data(seed)
    widest = max(counts)
    train = jnp.asarray(problems.rf_features(data.train.x, widest, draw))
    test = jnp.asarray(problems.rf_features(data.test.x, widest, draw))
    masks = jnp.asarray(np.arange(widest) < np.asarray(counts)[:, None], dtype=train.dtype)

    def fit(mask):
        beta = jnp.linalg.pinv(train * mask) @ jnp.asarray(data.train.y)
        predictions = test @ beta
        return jnp.mean((predictions - data.test.y) ** 2), jnp.linalg.norm(beta), predictions

    return jax.jit(jax.vmap(fit))(masks)


def width_slider(counts=(10, 20, 40, 60, 80, 90, 95, 100, 105, 110, 120, 150, 200, 300, 500,
                         1000, 2000)) -> Slider:
    """F48's "what if": the minimum-norm fit on d random ReLU features of RF's data as d
    moves through n = 100: the test error and the norm peak at d = n."""
    counts = np.asarray(counts)
    test_mse, norms, predictions = width_runs(tuple(counts))
    truth = problems.rf_data(0).test.y

    def draw(index):
        fig, (sweep, scatter) = panels(2)
        sweep.loglog(counts, test_mse, "o-", markersize=3, color=PALETTE[0], label="test MSE")
        sweep.loglog(counts, norms, "s-", markersize=3, color=PALETTE[1], label="‖β‖")
        for values in (test_mse, norms):
            sweep.plot(counts[index], values[index], "o", markersize=9, markerfacecolor="none",
                       color="k")
        sweep.axvline(100, color="0.5", linestyle="--", linewidth=1)
        sweep.set(xlabel="features d (n = 100)", title="one feature draw (circles: this d)")
        sweep.legend(fontsize="small")
        scatter.plot(truth[:300], predictions[index, :300], ".", markersize=3, color=PALETTE[0])
        scatter.plot([-3, 3], [-3, 3], "k:", linewidth=1)
        scatter.set(xlabel="test target", ylabel="prediction", xlim=(-3, 3), ylim=(-3, 3),
                    title=f"d = {counts[index]}: test MSE {test_mse[index]:.3g}")
        plain_log_labels(fig)
        return fig

    return Slider("d", counts, [str(d) for d in counts], int(np.argmin(abs(counts - 100))), draw)


SLIDERS = {"F1": step_size_slider, "F15-F17": momentum_slider, "F33": rate_slider,
           "F36": batch_size_slider, "F48": width_slider}


def main() -> int:
    """Build each slider and print its precomputation time and redraw times."""
    import matplotlib
    matplotlib.use("Agg")
    for name, make in SLIDERS.items():
        started = time.perf_counter()
        slider = make()
        built = time.perf_counter() - started
        indices = np.linspace(0, len(slider.values) - 1, 5).astype(int)
        wall, cpu = redraw_seconds(slider, indices).T * 1e3
        print(f"{name:8s} {len(slider.values):3d} values ({slider.description}): precomputed in "
              f"{built:.1f} s; redraw over {len(indices)} positions: CPU {np.median(cpu):.0f} ms "
              f"median ({cpu.max():.0f} max), wall {np.median(wall):.0f} ms ({wall.max():.0f} max)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
