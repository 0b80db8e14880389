"""Adaptive methods (FIGURES.md section 4, F23-F26): Adagrad, RMSprop, Adam.

Follows deck 000 (Zhang, "Adagrad", "RMSprop", "Adam optimizer"), deck 001 (Perraudin /
Hofmann, "AdaGrad", "AdaGrad (cont'd) and RMSprop", "ADAM") and deck 002 (the practice
deck: "Adagrad", "RMS Prop", Kingma & Ba's Algorithm 1 and the "Run 3.2. Optimizer"
loss plots).

The decks write each method in a slightly different way, and every difference that
changes the numbers is an option of jopt's optimizer: epsilon inside or outside the
root (``eps_in_sqrt``), Adagrad's first accumulator (``initial_accumulator_value``),
RMSprop's ``(1 - rho)`` factor (``discounted_sum``), its first accumulator
(``init_with_first_grad``) and ``centered``, and Adam's ``bias_correction``.
:func:`adagrad_conventions`, :func:`rmsprop_conventions` and :func:`adam_conventions`
name each reading and build it; F23-F25 feed them constant and random gradients
(:func:`run_on_gradients`), F26 trains an MLP on the digits with four optimizers.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jopt
from experiments.lectures import problems
from experiments.lectures.common import (contour, draw_paths, float64, pick, slide, subplots,
                                         trajectory)

TINY_EPS = 1e-300
"""The catalogue's "eps -> 0": jopt requires ``eps > 0``, and 1e-300 is invisible in float64."""


# ----------------------------------------------------------------------------
# Feeding an optimizer a given gradient sequence
# ----------------------------------------------------------------------------


def run_on_gradients(opt: Any, grads: jax.Array, x0: Any = None) -> tuple[jax.Array, Any]:
    """Apply ``opt`` to the gradients ``grads[0], grads[1], ...`` (one step each) from ``x0``.

    Returns ``(updates, states)``: the update of every step (leading axis the step
    t = 1, 2, ...) and the optimizer state after it.  Any ``(init, update)`` pair
    works, a jopt or an optax one.
    """
    x0 = jnp.zeros_like(grads[0]) if x0 is None else x0

    def step(carry, grad):
        x, state = carry
        updates, state = opt.update(grad, state, x)
        return (jopt.apply_updates(x, updates), state), (updates, state)

    _, (updates, states) = jax.lax.scan(step, (x0, opt.init(x0)), grads)
    return updates, states


def constant_gradient_steps(opt: Any, grad: Any, steps: int) -> jax.Array:
    """The updates of ``opt`` when every gradient is ``grad``: shape ``(steps,) + grad.shape``."""
    grad = jnp.asarray(grad)
    return run_on_gradients(opt, jnp.broadcast_to(grad, (steps,) + grad.shape))[0]


def random_gradients(steps: int = 50, dim: int = 4, seed: int = 0) -> np.ndarray:
    """Standard normal gradients of shape ``(steps, dim)`` from NumPy's ``default_rng(seed)``."""
    return np.random.default_rng(seed).standard_normal((steps, dim))


def _step_curves(opts: dict, grad: Any, steps: int, learning_rate: float) -> dict:
    """``label -> step / learning_rate`` under a constant gradient, for each optimizer."""
    return {label: constant_gradient_steps(opt, grad, steps) / learning_rate
            for label, opt in opts.items()}


# ----------------------------------------------------------------------------
# F23 · Adagrad
# ----------------------------------------------------------------------------


ADAGRAD_CONVENTIONS = {
    "G0 = 0, eps -> 0 (decks 000-002)": dict(eps=TINY_EPS),
    "jopt default = torch (G0 = 0, eps 1e-10 outside)": dict(),
    "eps_in_sqrt=True, G0 = 0 (deck 000; optax with G0 = 0)": dict(eps=1e-7, eps_in_sqrt=True),
    "initial_accumulator_value=0.1 (optax default)":
        dict(initial_accumulator_value=0.1, eps=1e-7, eps_in_sqrt=True),
}
"""F23: Adagrad as each source writes it: ``label -> jopt.adagrad options``."""


def adagrad_conventions(learning_rate: Any) -> dict:
    """F23: ``label -> jopt.adagrad(learning_rate, **options)`` for each reading.

    jopt's default is torch's and the decks' ``G_0 = 0`` with eps outside the root;
    deck 000 puts eps inside; optax starts from ``G_0 = 0.1`` with eps 1e-7 inside.
    """
    return {label: jopt.adagrad(learning_rate, **options)
            for label, options in ADAGRAD_CONVENTIONS.items()}


class AdagradData(NamedTuple):
    """F23's data: 1/sqrt(t) steps, deck 002's two forms, first steps, paths on Q100."""

    t: np.ndarray                  # 1 .. T
    step_sqrt_t: dict              # eps outside / inside -> step * sqrt(t) / eta (constant g)
    two_forms: dict                # "jopt", "sum form", "mean form" -> steps along the Q100 path
    small_large_grad: np.ndarray   # the gradient (2, -0.01)
    first_step: dict               # convention -> first step / eta, per coordinate
    paths: dict                    # "GD", "Adagrad" -> iterates on Q100
    values: dict                   # "GD", "Adagrad" -> f along the path
    learning_rate: float


def deck002_adagrad_forms(grads: jax.Array, learning_rate: Any) -> dict:
    """Deck 002's two Adagrad forms for a gradient sequence ``g^0, g^1, ...`` (rows).

    ``"sum form"``: ``-eta g^t / sqrt(sum_{i<=t} (g^i)^2)``; ``"mean form"``:
    ``-(eta^t / sigma^t) g^t`` with ``eta^t = eta / sqrt(t + 1)`` and
    ``sigma^t = sqrt(mean_{i<=t} (g^i)^2)``.
    """
    sums = jnp.cumsum(grads ** 2, axis=0)
    t_plus_1 = jnp.arange(1, len(grads) + 1, dtype=grads.dtype)[:, None]
    return {"sum form": -learning_rate * grads / jnp.sqrt(sums),
            "mean form": -(learning_rate / jnp.sqrt(t_plus_1)) * grads / jnp.sqrt(sums / t_plus_1)}


@float64
def f23(learning_rate: float = 1.0, steps: int = 100) -> AdagradData:
    """F23 (decks 000, 001, 002 "Adagrad"): per-coordinate steps that shrink like 1/sqrt(t)."""
    # one jitted program: XLA compiles it faster than the same operations one by one
    return jax.jit(_f23, static_argnums=1)(learning_rate, steps)


def _f23(learning_rate, steps):
    """F23's computation; the learning rate may be traced."""
    t = jnp.arange(1, steps + 1)
    constant = {
        "eps outside (default)": jopt.adagrad(learning_rate, eps=TINY_EPS),
        "eps inside (eps_in_sqrt=True)":
            jopt.adagrad(learning_rate, eps=TINY_EPS, eps_in_sqrt=True),
    }
    curves = _step_curves(constant, jnp.ones(1), steps, learning_rate)
    step_sqrt_t = {label: -curve[:, 0] * jnp.sqrt(t) for label, curve in curves.items()}

    q100 = problems.q100()
    x0 = jnp.asarray(q100.x0)
    paths = {"GD": trajectory(q100.fun, x0, jopt.sgd(learning_rate), steps),
             "Adagrad": trajectory(q100.fun, x0, jopt.adagrad(learning_rate, eps=TINY_EPS), steps)}
    adagrad_xs = paths["Adagrad"].xs
    grads = jax.vmap(jax.grad(q100.fun))(adagrad_xs[:-1])
    two_forms = {"jopt": jnp.diff(adagrad_xs, axis=0),
                 **deck002_adagrad_forms(grads, learning_rate)}

    grad = jnp.array([2.0, -0.01])
    first_step = {label: constant_gradient_steps(opt, grad, 1)[0] / learning_rate
                  for label, opt in adagrad_conventions(learning_rate).items()}
    return AdagradData(t, step_sqrt_t, two_forms, grad, first_step,
                       {name: path.xs for name, path in paths.items()},
                       {name: path.values for name, path in paths.items()}, learning_rate)


@slide("F23", "000", "Adagrad")
def plot_f23(data: AdagradData):
    """Paths on Q100, f against the step, and the first step of each convention."""
    fig, axes = subplots(3, width=4.6)
    ax_path, ax_value, ax_first = np.ravel(axes)
    q100 = problems.q100()
    contour(ax_path, q100.fun, (-11, 1), (-1.5, 1.5))
    draw_paths(ax_path, {f"{name} (eta = {data.learning_rate:g})": xs
                         for name, xs in data.paths.items()})
    ax_path.set(xlabel="x1 (curvature 0.01)", ylabel="x2 (curvature 1)",
                title="F23 · Q100: GD against Adagrad")
    for name, values in data.values.items():
        ax_value.semilogy(values, label=name)
    ax_value.set(xlabel="step t", ylabel="f(x_t)", title="F23 · loss on Q100")
    ax_value.legend()
    labels = list(ADAGRAD_CONVENTIONS)
    firsts = np.abs(np.array([data.first_step[label] for label in labels]))
    positions = np.arange(len(labels))
    for coordinate, offset in ((0, -0.2), (1, 0.2)):
        ax_first.bar(positions + offset, firsts[:, coordinate], width=0.4,
                     label=f"g{coordinate + 1} = {data.small_large_grad[coordinate]:g}")
    ax_first.set_yscale("log")
    ax_first.set_ylim(top=10)  # room for the legend above the bars
    ax_first.set_xticks(positions, [label.split(" (")[0] for label in labels], rotation=25,
                        ha="right", fontsize="small")
    ax_first.set(ylabel="|first step| / η", title="F23 · first step, $g = (2, -0.01)$")
    ax_first.legend(fontsize="small", ncols=2, loc="upper center")
    return fig


# ----------------------------------------------------------------------------
# F24 · RMSprop
# ----------------------------------------------------------------------------


RMSPROP_CONVENTIONS = {
    "standard (jopt default, torch)": dict(),
    "eps_in_sqrt=True (optax, deck 000)": dict(eps_in_sqrt=True),
    "discounted_sum=True (deck 001)": dict(discounted_sum=True),
    "init_with_first_grad=True (deck 002)": dict(init_with_first_grad=True),
    "centered=True": dict(centered=True),
}
"""F24: RMSprop as each source writes it: ``label -> jopt.rmsprop options``."""


def rmsprop_conventions(learning_rate: Any, decay: Any, eps: Any) -> dict:
    """F24: ``label -> jopt.rmsprop(learning_rate, decay, eps, **options)`` for each reading.

    The default is the published rule (torch): ``nu_0 = 0``, the ``(1 - rho)`` factor,
    eps outside the root.  Deck 000 and optax put eps inside; deck 001 drops
    ``(1 - rho)``; deck 002 starts from ``g_1^2``; ``centered`` divides by the standard
    deviation of the gradient instead of its root mean square.
    """
    return {label: jopt.rmsprop(learning_rate, decay, eps, **options)
            for label, options in RMSPROP_CONVENTIONS.items()}


class RmspropData(NamedTuple):
    """F24's data: steps under a constant gradient for two decays, and the accumulator."""

    t: np.ndarray               # 1 .. T
    decays: np.ndarray          # (0.9, 0.99)
    steps: dict                 # convention -> step / eta, shape (len(decays), T)
    accumulator: np.ndarray     # jopt's nu_t on random gradients, (T_random, d)
    expansion: np.ndarray       # deck 000's (1 - b) sum_s b^(t-s) g_s^2 on the same gradients
    small_grad: float           # -0.01
    eps: float                  # 1e-8
    eps_first_step: dict        # "inside" / "outside" -> |first step| / eta, per decay


def deck000_rmsprop_expansion(grads: jax.Array, decay: Any) -> jax.Array:
    """Deck 000's ``G_t = (1 - b)(b^(t-1) g_1^2 + ... + g_t^2)`` for every t (rows)."""
    t = jnp.arange(len(grads))
    weights = jnp.where(t[:, None] >= t[None, :], decay ** (t[:, None] - t[None, :]), 0.0)
    return (1 - decay) * weights @ grads ** 2


@float64
def f24(steps: int = 200, decays: Any = (0.9, 0.99), learning_rate: float = 1.0,
        eps: float = 1e-8, small_grad: float = -0.01) -> RmspropData:
    """F24 (deck 000 "RMSprop", 001 "AdaGrad (cont'd) and RMSprop", 002 "RMS Prop")."""
    return jax.jit(_f24, static_argnums=0)(steps, jnp.asarray(decays), learning_rate, eps,
                                           small_grad)


def _f24(steps, decays, learning_rate, eps, small_grad):
    """F24's computation: every hyperparameter but the step count may be traced."""

    def curves(decay):
        opts = rmsprop_conventions(learning_rate, decay, TINY_EPS)
        return _step_curves(opts, jnp.ones(1), steps, learning_rate)
    step_curves = jax.tree_util.tree_map(lambda c: c[..., 0], jax.vmap(curves)(decays))

    def eps_first_steps(decay):
        opts = rmsprop_conventions(learning_rate, decay, eps)
        placements = {"inside": opts["eps_in_sqrt=True (optax, deck 000)"],
                      "outside": opts["standard (jopt default, torch)"]}
        grad = jnp.array([small_grad])
        return {place: jnp.abs(constant_gradient_steps(opt, grad, 1)[0, 0]) / learning_rate
                for place, opt in placements.items()}
    eps_first_step = jax.vmap(eps_first_steps)(decays)

    grads = random_gradients()
    standard = jopt.rmsprop(learning_rate, decays[0], TINY_EPS)
    states = run_on_gradients(standard, grads)[1]
    accumulator = jopt.find_state(states, jopt.ScaleByRmsState).nu
    return RmspropData(jnp.arange(1, steps + 1), decays, step_curves, accumulator,
                       deck000_rmsprop_expansion(grads, decays[0]), small_grad, eps,
                       eps_first_step)


@slide("F24", "000", "RMSprop")
def plot_f24(data: RmspropData):
    """Step / eta against t under a constant gradient, one panel per decay rho."""
    fig, axes = subplots(len(data.decays), width=5.2)
    for column, (ax, decay) in enumerate(zip(np.ravel(axes), data.decays)):
        for label in RMSPROP_CONVENTIONS:
            style = "--" if label.startswith("eps_in_sqrt") else "-"
            ax.loglog(data.t, np.abs(data.steps[label][column]), style, label=label)
        for level, text in ((1.0, "1"), (np.sqrt(1 - decay), "sqrt(1 - rho)")):
            ax.axhline(level, color="0.5", linewidth=0.8, linestyle=":")
            ax.annotate(text, (data.t[-1], level), fontsize="small", color="0.4",
                        ha="right", va="top")
        ax.set(xlabel="step t", ylabel="|step| / η (constant gradient, ε → 0)",
               title=f"F24 · RMSprop, rho = {decay:g}", ylim=(0.05, 30))
        ax.legend(fontsize="x-small")
    return fig


# ----------------------------------------------------------------------------
# F25 · Adam
# ----------------------------------------------------------------------------


class Deck000AdamState(NamedTuple):
    v: jax.Array   # first moment (deck 000's v_t)
    G: jax.Array   # second moment (deck 000's G_t)


def deck000_adam(learning_rate: Any, gamma: Any = 0.9, beta: Any = 0.999, eps: Any = 1e-8,
                 *, feed_back: bool = False) -> jopt.GradientTransformation:
    """Deck 000's "Adam optimizer" slide, literally, as a user-written transform::

        v_t = gamma v_{t-1} + (1 - gamma) g_t,   G_t = beta G_{t-1} + (1 - beta) g_t²
        v_t <- v_t / (1 - gamma),               G_t <- G_t / (1 - beta)
        theta_{t+1} = theta_t - eta v_t / sqrt(G_t + eps)

    ``feed_back=False`` reads "<-" as corrected copies (the state keeps the raw
    moments); ``feed_back=True`` stores the corrected values, which F25 shows is
    degenerate.  For arrays (one leaf), to keep the example short.
    """
    def init(params):
        return Deck000AdamState(jnp.zeros_like(params), jnp.zeros_like(params))

    def update(grad, state, params=None):
        del params
        v = gamma * state.v + (1 - gamma) * grad
        G = beta * state.G + (1 - beta) * grad ** 2
        v_hat, G_hat = v / (1 - gamma), G / (1 - beta)
        step = -learning_rate * v_hat / jnp.sqrt(G_hat + eps)
        return step, Deck000AdamState(v_hat, G_hat) if feed_back else Deck000AdamState(v, G)
    return jopt.GradientTransformation(init, update)


def adam_conventions(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8) -> dict:
    """F25: Adam as each source writes it, ``label -> (init, update)`` pair.

    Deck 000's rule needs no optimizer of its own: it is ``bias_correction=False``
    with the rate ``eta sqrt(1 - b2) / (1 - b1)`` and ``eps_root = eps (1 - b2)``
    (eps inside the root), ``eps -> 0``.  Deck 001's ``+`` makes Adam ascend.
    """
    return {
        "Kingma & Ba (jopt default; deck 002)": jopt.adam(learning_rate, b1, b2, eps),
        "bias_correction=False": jopt.adam(learning_rate, b1, b2, eps, bias_correction=False),
        "deck 000 in jopt: bias_correction=False, rescaled rate, eps_root":
            jopt.adam(learning_rate * jnp.sqrt(1 - b2) / (1 - b1), b1, b2, TINY_EPS,
                      eps_root=eps * (1 - b2), bias_correction=False),
        "deck 000 literally (corrected copies)": deck000_adam(learning_rate, b1, b2, eps),
        "deck 000 literally (corrected values fed back)":
            deck000_adam(learning_rate, b1, b2, eps, feed_back=True),
        "deck 001 as written (+ sign)":
            jopt.chain(jopt.scale_by_adam(b1, b2, eps),
                       jopt.scale_by_learning_rate(learning_rate, flip_sign=False)),
    }


class AdamData(NamedTuple):
    """F25's data: steps under a constant gradient, deck 000 on random gradients, 001's sign."""

    t: np.ndarray                 # 1 .. T
    steps: dict                   # convention -> step / eta under the gradient g = 1
    deck000_limit: float          # sqrt(1 - b2) / (1 - b1)
    deck000_random: dict          # "literal", "jopt" -> updates on random gradients
    descent: dict                 # "jopt default", "deck 001 (+)" -> f along the path on Q10
    b1: float
    b2: float


@float64
def f25(steps: int = 2000, learning_rate: float = 1.0, b1: float = 0.9, b2: float = 0.999,
        eps: float = 1e-8, descent_rate: float = 0.1, descent_steps: int = 100) -> AdamData:
    """F25 (deck 000 "Adam optimizer", 001 "ADAM", 002 Algorithm 1): Adam and its variants."""
    return jax.jit(_f25, static_argnums=(0, 6))(steps, learning_rate, b1, b2, eps, descent_rate,
                                                descent_steps)


def _f25(steps, learning_rate, b1, b2, eps, descent_rate, descent_steps):
    """F25's computation: every hyperparameter but the step counts may be traced."""
    conventions = adam_conventions(learning_rate, b1, b2, eps)
    curves = {label: curve[:, 0] for label, curve
              in _step_curves(conventions, jnp.ones(1), steps, learning_rate).items()}
    grads = random_gradients()
    readings = {"literal": "deck 000 literally (corrected copies)",
                "jopt": "deck 000 in jopt: bias_correction=False, rescaled rate, eps_root"}
    deck000_random = {name: run_on_gradients(conventions[label], grads)[0]
                      for name, label in readings.items()}
    q10 = problems.q10()
    descent_opts = adam_conventions(descent_rate, b1, b2, eps)
    descent = {name: trajectory(q10.fun, jnp.asarray(q10.x0), descent_opts[label],
                                descent_steps).values
               for name, label in (("jopt default", "Kingma & Ba (jopt default; deck 002)"),
                                   ("deck 001 (+)", "deck 001 as written (+ sign)"))}
    return AdamData(jnp.arange(1, steps + 1), curves, jnp.sqrt(1 - b2) / (1 - b1),
                    deck000_random, descent, b1, b2)


@slide("F25", "000", "Adam optimizer")
def plot_f25(data: AdamData):
    """Step / eta against t for each reading of Adam; Adam against deck 001's "+" on Q10."""
    fig, axes = subplots(2, width=5.6)
    ax_steps, ax_descent = np.ravel(axes)
    for label, curve in data.steps.items():
        if label.startswith("deck 001"):
            continue  # the same magnitude as the default, the other direction
        style = ":" if label.startswith("deck 000 literally (corrected copies)") else "-"
        ax_steps.loglog(data.t, np.abs(curve), style, label=label,
                        linewidth=3 if style == ":" else 1.5)
    ax_steps.axhline(data.deck000_limit, color="0.5", linewidth=0.8, linestyle="--")
    ax_steps.annotate("sqrt(1 - b2) / (1 - b1)", (data.t[-1], data.deck000_limit),
                      fontsize="small", color="0.4", ha="right", va="top")
    ax_steps.set(xlabel="step t", ylabel="|step| / η (constant gradient $g = 1$)",
                 title=f"F25 · Adam's readings (b1 = {data.b1:g}, b2 = {data.b2:g})",
                 ylim=(1e-3, 30))  # the fed-back reading falls out of the bottom
    ax_steps.legend(fontsize="x-small")
    for name, values in data.descent.items():
        ax_descent.semilogy(values, label=name)
    ax_descent.set(xlabel="step t", ylabel="f(x_t) on Q10",
                   title="F25 · deck 001's '+' ascends")
    ax_descent.legend()
    return fig


# ----------------------------------------------------------------------------
# F26 · Four optimizers on the digits
# ----------------------------------------------------------------------------


def f26_optimizers(learning_rate: Any = 0.005) -> dict:
    """F26's four optimizers, all at the same rate: ``name -> jopt optimizer``."""
    return {"SGD": jopt.sgd(learning_rate),
            "Adagrad": jopt.adagrad(learning_rate, initial_accumulator_value=0.0, eps=1e-10),
            "RMSprop": jopt.rmsprop(learning_rate, decay=0.9, eps=1e-8),
            "Adam": jopt.adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8)}


def batch_schedule(key: jax.Array, steps: int, n: int, batch_size: int, sampling: str) -> jax.Array:
    """The indices of every mini-batch, shape ``(steps, batch_size)`` (jopt.data.batch_indices)."""
    return jax.vmap(lambda t: jopt.data.batch_indices(key, t, n, batch_size, sampling))(
        jnp.arange(steps))


def make_train(loss: Callable, opt: jopt.GradientTransformation, eval_every: int) -> Callable:
    """``train(params, x, y, batches) -> full training loss every eval_every steps``.

    A whole run as one pure function of the initial parameters, the data and the
    indices of each step's mini-batch (``batches``, shape ``(steps, batch_size)``),
    ready for ``jax.vmap`` over seeds and samplings.
    """
    def train(params, x, y, batches):
        def step(carry, indices):
            params, state = carry
            grads = jax.grad(loss)(params, x[indices], y[indices])
            updates, state = opt.update(grads, state, params)
            return (jopt.apply_updates(params, updates), state), None

        def block(carry, block_batches):
            carry, _ = jax.lax.scan(step, carry, block_batches)
            return carry, loss(carry[0], x, y)

        blocks = batches.reshape(-1, eval_every, batches.shape[-1])
        _, curve = jax.lax.scan(block, (params, opt.init(params)), blocks)
        return jnp.concatenate([loss(params, x, y)[None], curve])
    return train


class FourOptimizersData(NamedTuple):
    """F26's data: full training loss of each optimizer, per sampling and seed."""

    steps: np.ndarray      # the steps where the loss was recorded: 0, k, 2k, ...
    samplings: tuple
    seeds: np.ndarray
    losses: dict           # optimizer -> (len(seeds), len(samplings), len(steps))


def f26(steps: int = pick(1000, 200), seeds: Any = pick(range(5), range(2)),
        samplings: tuple = ("epoch", "replacement"),
        learning_rate: float = 0.005, batch_size: int = 32,
        eval_every: int = 10) -> FourOptimizersData:
    """F26 (deck 002, "Run 3.2. Optimizer" and its loss plots): SGD, Adagrad, RMSprop, Adam.

    DIGITS-MLP, batch 32, the same rate for all four.  Seed s draws the initial
    weights and the batches from the two halves of ``PRNGKey(s)``; the batches are
    drawn by ``sampling`` ("epoch": a fresh permutation each epoch; "replacement":
    uniform draws).  The runs of one optimizer (every seed and sampling) are one
    vmapped computation.
    """
    data = problems.digits()
    x, y = jnp.asarray(data.x, jnp.float32), jnp.asarray(data.y, jnp.float32)
    model = problems.digits_mlp()

    def draws(seed):
        init_key, batch_key = jax.random.split(jax.random.PRNGKey(seed))
        return model.init(init_key), jnp.stack([batch_schedule(batch_key, steps, len(x), batch_size,
                                                               sampling) for sampling in samplings])

    # lax.map, not vmap, over seeds: the same draws, and XLA compiles the unbatched
    # random-number generator in half the time
    params0, batches = jax.jit(lambda seeds: jax.lax.map(draws, seeds))(jnp.asarray(list(seeds)))

    def curves(rate, params0, x, y, batches):
        # batches: (seeds, samplings, steps, batch_size); vmap over seeds, then samplings
        runs = lambda train: jax.vmap(jax.vmap(train, (None, None, None, 0)), (0, None, None, 0))
        return {name: runs(make_train(problems.digits_loss(model), opt, eval_every))(
                    params0, x, y, batches)
                for name, opt in f26_optimizers(rate).items()}

    # one program for the four optimizers (each its own vmapped runs): one compilation
    losses = jax.jit(curves)(learning_rate, params0, x, y, batches)
    return FourOptimizersData(np.arange(0, steps + 1, eval_every), tuple(samplings),
                              np.asarray(list(seeds)),
                              {name: np.asarray(losses[name]) for name in f26_optimizers()})


def loss_at(data: FourOptimizersData, step: int) -> dict:
    """``optimizer -> loss at `step``` of shape (seeds, samplings)."""
    index = int(np.searchsorted(data.steps, step))
    if data.steps[index] != step:
        raise ValueError(f"step {step} was not recorded (every {data.steps[1]} steps)")
    return {name: curves[..., index] for name, curves in data.losses.items()}


def steps_below(data: FourOptimizersData, level: float = 0.5) -> dict:
    """``optimizer -> first recorded step with loss < level`` (seeds, samplings); -1 if never."""
    return {name: np.where((curves < level).any(-1), data.steps[np.argmax(curves < level, -1)], -1)
            for name, curves in data.losses.items()}


@slide("F26", "002", "Practice — Run 3.2. Optimizer")
def plot_f26(data: FourOptimizersData):
    """Full training loss against the step: mean and min-max band over seeds, per sampling."""
    fig, axes = subplots(len(data.samplings), width=5.2)
    for ax, (column, sampling) in zip(np.ravel(axes), enumerate(data.samplings)):
        for name, curves in data.losses.items():
            runs = curves[:, column]
            line, = ax.semilogy(data.steps, runs.mean(0), label=name)
            ax.fill_between(data.steps, runs.min(0), runs.max(0), color=line.get_color(),
                            alpha=0.25, linewidth=0)
        ax.set(xlabel="step", ylabel="full training loss",
               title=f"F26 · DIGITS-MLP, batch 32, η = 0.005 ({sampling})")
        ax.legend(title=f"{len(data.seeds)} seeds: mean, min-max", loc="best")
    return fig


FIGURES = {"F23": (f23, plot_f23), "F24": (f24, plot_f24), "F25": (f25, plot_f25),
           "F26": (f26, plot_f26)}
