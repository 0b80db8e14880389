"""Backprop and losses (FIGURES.md section 7, F38-F44).

Activations and vanishing gradients (deck 000 "Sigmoid vs ReLU", deck 003 "What's cool
about the sigmoid function", "ReLU & Soft Plus"), backprop written by hand and checked
against ``jax.grad`` (deck 000 "Back propagation with RELU", "Multi-layer
back-propagation"; deck 003 "Consider one output node" / "Consider one hidden node"),
softmax, entropy and cross-entropy (deck 003 "Soft Max Function" to "A common
approach..."), the 0-1 loss against the squared loss (deck 003 "Example: 0 1 loss" to
"Measuring loss for a linear unit") and logistic regression against the closed forms
of least squares and ridge (deck 004 "Recap: Logistic regression").

The models are :func:`jopt.models.mlp`, :func:`jopt.models.linear` and
:func:`jopt.models.logistic`; the losses come from :mod:`jopt.losses`; gradient descent
is ``jopt.sgd`` run by :func:`common.trajectory`.  The hand-written backward passes
(:func:`bernoulli_net_ascent`, :func:`mlp_backward`, :func:`delta_rule`) are plain
functions of the parameters, so the tests compare them with ``jax.grad``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import jopt
from experiments.lectures import common
from experiments.lectures.common import pick, slide

F64 = jnp.float64

# The derivative of each hidden activation written in terms of its output h, as the
# slides write it: sigmoid h(1 - h) (003), ReLU 1(h > 0) (000), tanh 1 - h^2.
HIDDEN_SLOPES: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": lambda h: h * (1 - h),
    "relu": lambda h: (h > 0).astype(h.dtype),
    "tanh": lambda h: 1 - h ** 2,
}


class GradientCheck(NamedTuple):
    """One gradient written by hand and computed by ``jax.grad``, flattened the same way."""

    hand: np.ndarray
    autodiff: np.ndarray


def gradient_check(hand: Any, autodiff: Any) -> GradientCheck:
    """Both gradient pytrees (same structure) as flat vectors."""
    return GradientCheck(ravel_pytree(hand)[0], ravel_pytree(autodiff)[0])


def relative_error(check: GradientCheck) -> float:
    """``max |hand - autodiff| / max |autodiff|``."""
    hand, autodiff = np.asarray(check.hand), np.asarray(check.autodiff)
    return float(np.max(np.abs(hand - autodiff)) / np.max(np.abs(autodiff)))


def mlp_like(params: list, activations: Any, *, bias: bool) -> jopt.Model:
    """The ``jopt.models.mlp`` whose parameters have the shapes of ``params``."""
    sizes = [params[0]["w"].shape[0]] + [layer["w"].shape[1] for layer in params]
    return jopt.models.mlp(sizes, activations, bias=bias, dtype=F64)


def derivative(fun: Callable[[jax.Array], jax.Array]) -> Callable[[jax.Array], jax.Array]:
    """The elementwise derivative of a scalar function, by ``jax.grad`` under ``vmap``."""
    return jax.vmap(jax.grad(fun))


# ----------------------------------------------------------------------------
# F38: sigmoid against ReLU
# ----------------------------------------------------------------------------


class Saturation(NamedTuple):
    """F38: activation curves on ``z``, sigma' at ``points``, per-layer gradient norms."""

    z: np.ndarray
    curves: dict            # name -> values on z: sigmoid, relu, softplus and each with '
    points: np.ndarray
    sigmoid_slopes: np.ndarray
    layer_norms: dict       # activation -> ||dL/dW_l|| for l = 1 .. depth


def activation_curves(z: jax.Array) -> dict:
    """sigma, ReLU and softplus on ``z`` with their derivatives by autodiff."""
    curves = {}
    for name in ("sigmoid", "relu", "softplus"):
        fun = jopt.models.activation_fn(name)
        curves[name] = fun(z)
        curves[name + "'"] = derivative(fun)(z)
    return curves


DEEP_NET_INITS = {"sigmoid": "lecun", "relu": "he"}
"""F38's deep nets: the activation and its initialization, N(0, 1/width) and N(0, 2/width)."""


def layer_norms(params: list, x: jax.Array, y: jax.Array, activation: str) -> jax.Array:
    """``||dL/dW_l||`` (Frobenius) for each layer of a bias-free ``mlp`` at ``params``,
    ``L`` the mean squared error to the targets ``y`` on the inputs ``x``."""
    model = mlp_like(params, activation, bias=False)
    grads = jax.grad(lambda p: jopt.losses.mean_squared_error(model.apply(p, x), y))(params)
    return jnp.stack([jnp.linalg.norm(layer["w"]) for layer in grads])


@common.float64
def f38(*, depth: int = 10, width: int = 64, n: int = 128, seed: int = 0,
        grid: int = pick(2001, 401)) -> Saturation:
    """F38, deck 000 "Sigmoid vs ReLU" and deck 003 "What's cool about the sigmoid function".

    sigma' = sigma(1 - sigma) is at most 1/4 and vanishes at both ends; ReLU' is 1 for
    every positive input.  A deep sigmoid net (LeCun init N(0, 1/width)) passes
    almost no gradient to its first layer; a ReLU net (He init N(0, 2/width)) does.
    The nets: ``depth`` bias-free layers of width ``width``, weights drawn by
    ``jopt.models.mlp``'s init from ``PRNGKey(seed)`` (the same draws for both, scaled
    differently); mean squared error to Gaussian targets on ``n`` Gaussian inputs
    (``default_rng(seed)``: inputs, then targets).
    """
    x, y = np.random.default_rng(seed).normal(size=(2, n, width))
    params = {activation: jopt.models.mlp([width] * (depth + 1), activation, init=init,
                                          bias=False, dtype=F64).init(jax.random.PRNGKey(seed))
              for activation, init in DEEP_NET_INITS.items()}
    return saturation(params, jnp.asarray(x), jnp.asarray(y), grid)


@functools.partial(jax.jit, static_argnames=("grid",))
def saturation(params: dict, x: jax.Array, y: jax.Array, grid: int) -> Saturation:
    """F38's data: the curves on ``grid`` points of [-10, 10], sigma' at 0, 5 and 10, and
    :func:`layer_norms` for each activation's ``params``."""
    z = jnp.linspace(-10.0, 10.0, grid, dtype=F64)
    points = jnp.array([0.0, 5.0, 10.0], F64)
    return Saturation(z, activation_curves(z), points, derivative(jax.nn.sigmoid)(points),
                      {activation: layer_norms(weights, x, y, activation)
                       for activation, weights in params.items()})


@slide("F38", "000", "Sigmoid vs ReLU")
def plot_f38(data: Saturation):
    """Left: the activations and their slopes; right: per-layer gradient norms, log y."""
    fig, axes = common.subplots(2)
    left, right = axes.flat
    styles = {"sigmoid": "C0", "relu": "C1", "softplus": "C2"}
    for name, color in styles.items():
        under = dict(linewidth=4, alpha=0.45) if name == "sigmoid" else {}  # softplus' lies on it
        left.plot(data.z, data.curves[name], color=color, label=name, **under)
        left.plot(data.z, data.curves[name + "'"], color=color, linestyle="--",
                  label=f"{name}' (= sigmoid)" if name == "softplus" else f"{name}'")
    left.plot(data.points, data.sigmoid_slopes, "ko", markersize=4, label="sigmoid' at 0, 5, 10")
    left.set(xlabel="z", ylabel="value", ylim=(-0.1, 2.0), title="F38 · activations and slopes")
    left.legend(fontsize="small")
    for activation, norms in data.layer_norms.items():
        layers = np.arange(1, len(norms) + 1)
        right.semilogy(layers, norms, "o-", color=styles[activation], label=activation)
    right.set(xlabel="layer l", ylabel=r"$\|\partial L / \partial W_l\|$",
              title="F38 · gradient per layer at initialization")
    right.legend()
    return fig


# ----------------------------------------------------------------------------
# F39: backprop through a one-hidden-layer net with a Bernoulli output
# ----------------------------------------------------------------------------


def bernoulli_net(*, n: int, p: int, d: int, seed: int):
    """Deck 000's model: ``h_k = f(x' alpha_k)``, ``y ~ Bernoulli(sigmoid(h' beta))``.

    Returns ``(params, x, uniforms)`` for a bias-free ``jopt.models.mlp([p, d, 1])`` whose
    parameters are ``[{"w": alpha}, {"w": beta as a column}]``: ``rng = default_rng(seed)``
    draws x ``(n, p)``, alpha ``(p, d)`` and beta ``(d,)`` from N(0, 1), then ``n``
    uniforms for :func:`bernoulli_labels`.
    """
    rng = np.random.default_rng(seed)
    x, alpha, beta = rng.normal(size=(n, p)), rng.normal(size=(p, d)), rng.normal(size=d)
    params = [{"w": jnp.asarray(alpha)}, {"w": jnp.asarray(beta[:, None])}]
    return params, jnp.asarray(x), jnp.asarray(rng.random(n))


def bernoulli_labels(params: list, x: jax.Array, uniforms: jax.Array,
                     activation: str) -> jax.Array:
    """Labels drawn from the model: ``y_i = 1(u_i < p_i)`` with ``p_i = sigmoid(h_i' beta)``."""
    logits = mlp_like(params, activation, bias=False).apply(params, x)[:, 0]
    return (uniforms < jax.nn.sigmoid(logits)).astype(x.dtype)


def log_likelihood(params: list, x: jax.Array, y: jax.Array, activation: str) -> jax.Array:
    """``l = sum_i y_i log p_i + (1 - y_i) log(1 - p_i)``: minus the summed cross-entropy."""
    logits = mlp_like(params, activation, bias=False).apply(params, x)
    return -jopt.losses.binary_cross_entropy_with_logits(logits, y, reduction="sum")


def bernoulli_net_ascent(params: Any, x: jax.Array, y: jax.Array, activation: str) -> list:
    """F39, deck 000 "Back propagation with RELU": the gradient of l, by the slide's formulas.

    ``dl/dbeta = sum_i (y_i - p_i) h_i`` and
    ``dl/dalpha_k = sum_i (y_i - p_i) beta_k f'(h_ik) x_i``, with ``f'(h) = 1(h > 0)``
    for ReLU and ``h(1 - h)`` for sigmoid hidden units.  l is a log-likelihood, so
    these are ascent directions.  Returned in the parameters' structure.
    """
    alpha, beta = params[0]["w"], params[1]["w"][:, 0]
    h = jopt.models.activation_fn(activation)(x @ alpha)
    residual = y - jax.nn.sigmoid(h @ beta)
    d_beta = h.T @ residual
    d_alpha = x.T @ (residual[:, None] * beta[None, :] * HIDDEN_SLOPES[activation](h))
    return [{"w": d_alpha}, {"w": d_beta[:, None]}]


@common.float64
def f39(*, n: int = 30, p: int = 4, d: int = 5, seed: int = 0) -> dict:
    """F39: the slide's backprop formulas against ``jax.grad`` of l, ReLU and sigmoid units."""
    return bernoulli_checks(*bernoulli_net(n=n, p=p, d=d, seed=seed))


@jax.jit
def bernoulli_checks(params: list, x: jax.Array, uniforms: jax.Array) -> dict:
    """:func:`bernoulli_net_ascent` against ``jax.grad`` of :func:`log_likelihood`, with
    ReLU and with sigmoid hidden units (the same weights, labels drawn from each model)."""
    checks = {}
    for activation in ("relu", "sigmoid"):
        y = bernoulli_labels(params, x, uniforms, activation)
        autodiff = jax.grad(log_likelihood)(params, x, y, activation)
        checks[activation] = gradient_check(bernoulli_net_ascent(params, x, y, activation),
                                            autodiff)
    return checks


def plot_parity(ax, checks: dict, title: str) -> None:
    """Hand-written against autodiff gradient entries, one colour per check."""
    for label, check in checks.items():
        ax.plot(check.autodiff, check.hand, "o", markersize=4, alpha=0.7,
                label=f"{label} (rel. error {relative_error(check):.1e})")
    low = min(float(np.min(c.autodiff)) for c in checks.values())
    high = max(float(np.max(c.autodiff)) for c in checks.values())
    ax.plot([low, high], [low, high], "k-", linewidth=0.7)
    ax.set(xlabel="jax.grad entry", ylabel="hand-written entry", title=title)
    ax.legend(fontsize="small")


def plot_differences(ax, checks: dict, title: str) -> None:
    """``|hand - autodiff|`` per entry on a log axis (exact zeros drawn at 1e-18)."""
    for label, check in checks.items():
        gap = np.abs(np.asarray(check.hand) - np.asarray(check.autodiff))
        ax.semilogy(np.maximum(gap, 1e-18), "o", markersize=3, label=label)
    ax.set(xlabel="gradient entry", ylabel="|hand - jax.grad|", title=title)
    ax.legend(fontsize="small")


@slide("F39", "000", "Back propagation with RELU")
def plot_f39(data: dict):
    """Parity plot of the slide's formulas against ``jax.grad``, and the gaps."""
    fig, axes = common.subplots(2)
    left, right = axes.flat
    plot_parity(left, data, "F39 · deck 000's formulas against jax.grad")
    plot_differences(right, data, "F39 · differences (float64; 0 drawn at 1e-18)")
    return fig


# ----------------------------------------------------------------------------
# F40: multi-layer backprop in matrix form; the delta rule and its sign
# ----------------------------------------------------------------------------


def mlp_backward(params: list, activations: Sequence[str], x: jax.Array,
                 labels: jax.Array) -> list:
    """F40, deck 000 "Multi-layer back-propagation": the gradient of the mean softmax CE.

    Forward ``h_l = f_l(s_l)``, ``s_l = h_{l-1} W_l + b_l`` (rows are examples), then
    backward with ``delta_l = dL/ds_l``: at the output ``delta = (softmax(s) - y)/n``
    (F41); ``dL/dW_l = h_{l-1}' delta_l``, ``dL/db_l = sum_i delta_l``, and the blame
    passed down is ``delta_{l-1} = (delta_l W_l') * f'_{l-1}``.
    """
    outputs = [x]
    for layer, name in zip(params[:-1], activations):
        outputs.append(jopt.models.activation_fn(name)(outputs[-1] @ layer["w"] + layer["b"]))
    logits = outputs[-1] @ params[-1]["w"] + params[-1]["b"]
    delta = (jax.nn.softmax(logits) - labels) / len(x)
    grads = []
    for index in reversed(range(len(params))):
        grads.append({"w": outputs[index].T @ delta, "b": jnp.sum(delta, axis=0)})
        if index > 0:
            slope = HIDDEN_SLOPES[activations[index - 1]](outputs[index])
            delta = (delta @ params[index]["w"].T) * slope
    return grads[::-1]


def sigmoid_net_output(params: list, x: jax.Array) -> jax.Array:
    """A bias-free net of sigmoid units, the output unit included (deck 003's networks)."""
    for layer in params:
        x = jax.nn.sigmoid(x @ layer["w"])
    return x


def half_squared_error(params: list, x: jax.Array, y: jax.Array) -> jax.Array:
    """Deck 003's ``L = 1/2 sum_k (y_k - y_hat_k)^2`` for one example."""
    return jopt.losses.squared_loss(sigmoid_net_output(params, x), y, reduction="sum")


def delta_rule(params: list, x: jax.Array, y: jax.Array) -> list:
    """Deck 003's ``dL/dw_i = delta x_i`` for one example through sigmoid units, as written.

    Output node: ``delta = (y - sigma) sigma (1 - sigma)``; hidden node:
    ``delta = (sum_k w_k delta_k) sigma (1 - sigma)``.  The slide's ``dL/dy_hat = y - y_hat``
    has the wrong sign (it is ``y_hat - y``), so these are the NEGATIVE gradients of
    :func:`half_squared_error`: the update is ``w <- w + eta delta x``.
    """
    outputs = [x]
    for layer in params:
        outputs.append(jax.nn.sigmoid(outputs[-1] @ layer["w"]))
    delta = (y - outputs[-1]) * HIDDEN_SLOPES["sigmoid"](outputs[-1])
    steps = []
    for index in reversed(range(len(params))):
        steps.append({"w": jnp.outer(outputs[index], delta)})
        delta = (params[index]["w"] @ delta) * HIDDEN_SLOPES["sigmoid"](outputs[index])
    return steps[::-1]


# Deck 003's single sigmoid unit, FIGURES.md's check: sigma(w'x) = sigma(0) = 1/2.
UNIT_X = (1.0, 0.5, -2.0)
UNIT_W = (0.3, -0.2, 0.1)
UNIT_Y = 1.0


class MatrixBackprop(NamedTuple):
    """F40's checks: the matrix-form pass, deck 003's single unit and its two-layer delta rule."""

    network: GradientCheck       # mlp_backward against jax.grad (5-7-6-3 net)
    unit: GradientCheck          # slide's delta x against jax.grad: hand = -autodiff
    delta_rule: GradientCheck    # the same for a 3-4-2 sigmoid net


def random_mlp_params(rng: np.random.Generator, sizes: Sequence[int], *,
                      bias: bool = True) -> list:
    """``jopt.models.mlp`` parameters drawn with NumPy: weights N(0, 1/fan_in) (LeCun),
    biases N(0, 0.1^2) so that the bias path is exercised too."""
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layer = {"w": jnp.asarray(rng.normal(size=(fan_in, fan_out)) / np.sqrt(fan_in))}
        if bias:
            layer["b"] = jnp.asarray(0.1 * rng.normal(size=fan_out))
        params.append(layer)
    return params


@common.float64
def f40(*, sizes: Sequence[int] = (5, 7, 6, 3), activations: Sequence[str] = ("tanh", "sigmoid"),
        n: int = 8, seed: int = 0) -> MatrixBackprop:
    """F40, deck 000 "Multi-layer back-propagation" and deck 003 "Consider one output node".

    A ``sizes`` MLP (``activations`` on the hidden layers, mean softmax CE on ``n``
    examples) by :func:`mlp_backward`; deck 003's delta rule on one sigmoid unit
    (``UNIT_X``, ``UNIT_W``, ``UNIT_Y``) and on a 3-4-2 sigmoid net.  ``default_rng(seed)``
    draws the parameters, then x, the labels, the 3-4-2 net and its example.
    """
    rng = np.random.default_rng(seed)
    params = random_mlp_params(rng, sizes)
    x = jnp.asarray(rng.normal(size=(n, sizes[0])))
    labels = jnp.asarray(np.eye(sizes[-1])[rng.integers(0, sizes[-1], size=n)])
    net = random_mlp_params(rng, (3, 4, 2), bias=False)
    example = jnp.asarray(rng.normal(size=3))
    unit = [{"w": jnp.array(UNIT_W, F64)[:, None]}]
    return backprop_checks(params, tuple(activations), x, labels, unit,
                           jnp.array(UNIT_X, F64), jnp.array([UNIT_Y], F64),
                           net, example, jnp.array([1.0, 0.0], F64))


@functools.partial(jax.jit, static_argnames=("activations",))
def backprop_checks(params: list, activations: tuple, x: jax.Array, labels: jax.Array,
                    unit: list, unit_x: jax.Array, unit_y: jax.Array, net: list,
                    example: jax.Array, target: jax.Array) -> MatrixBackprop:
    """F40's three comparisons with ``jax.grad`` (see :class:`MatrixBackprop`): the MLP
    ``params`` on ``(x, labels)``, the delta rule for ``unit`` on ``(unit_x, unit_y)`` and
    for ``net`` on ``(example, target)``."""
    model = mlp_like(params, list(activations), bias=True)
    autodiff = jax.grad(lambda q: jnp.mean(
        jopt.losses.softmax_cross_entropy(model.apply(q, x), labels)))(params)

    def sign_check(net_params, inputs, output):
        return gradient_check(delta_rule(net_params, inputs, output),
                              jax.grad(half_squared_error)(net_params, inputs, output))

    return MatrixBackprop(gradient_check(mlp_backward(params, activations, x, labels), autodiff),
                          sign_check(unit, unit_x, unit_y), sign_check(net, example, target))


@slide("F40", "000", "Multi-layer back-propagation")
def plot_f40(data: MatrixBackprop):
    """Left: the matrix-form pass against ``jax.grad``; right: deck 003's delta x against it."""
    fig, axes = common.subplots(2)
    left, right = axes.flat
    plot_parity(left, {"5-7-6-3 net, softmax CE": data.network},
                "F40 · matrix-form backprop against jax.grad")
    positions = np.arange(len(data.unit.hand))
    right.bar(positions - 0.2, data.unit.hand, width=0.4, label=r"slide: $\delta x_i$")
    right.bar(positions + 0.2, data.unit.autodiff, width=0.4,
              label=r"jax.grad $\partial L/\partial w_i$")
    right.axhline(0.0, color="k", linewidth=0.7)
    right.set(xticks=positions, xticklabels=[f"$w_{i}$" for i in positions], ylabel="value",
              title="F40 · deck 003's delta is minus the gradient")
    right.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F41: softmax with cross-entropy
# ----------------------------------------------------------------------------


def abs_normalize(a: jax.Array) -> jax.Array:
    """Deck 003's alternative to softmax, ``p_i = |a_i| / sum_j |a_j|``."""
    return jnp.abs(a) / jnp.sum(jnp.abs(a))


class SoftmaxData(NamedTuple):
    """F41: the gradient check, the two-class and shift checks, and the |a| curves."""

    logits: np.ndarray
    label: np.ndarray
    softmax_minus_label: np.ndarray
    autodiff: np.ndarray
    t: np.ndarray                  # a grid of [-6, 6]
    two_class: np.ndarray          # softmax([t, 0])_0 on the grid
    sigmoid: np.ndarray            # sigma(t)
    shifts: np.ndarray
    shifted_softmax: np.ndarray    # softmax(logits + c) for each shift c
    softmax_first: np.ndarray      # softmax(t, a_2, ...)_1: the first logit varied
    abs_first: np.ndarray          # abs_normalize(t, a_2, ...)_1
    abs_slopes: np.ndarray         # one-sided difference quotients of abs_first at t = 0
    abs_mirror_gap: np.ndarray     # max |abs_normalize(a) - abs_normalize(-a)| along the t grid


@common.float64
@functools.partial(jax.jit, static_argnames=("logits", "label", "grid"))
def f41(*, logits: Sequence[float] = (2.0, 1.0, 0.1, -1.0), label: int = 2,
        grid: int = pick(601, 121), step: float = 1e-12) -> SoftmaxData:
    """F41, deck 003 "Why softmax?" and "A common approach...": dL/da = softmax(a) - y."""
    a = jnp.array(logits, F64)
    y = jax.nn.one_hot(label, len(logits), dtype=F64)
    autodiff = jax.grad(lambda v: jopt.losses.softmax_cross_entropy(v, y))(a)
    t = jnp.linspace(-6.0, 6.0, grid, dtype=F64)
    two_class = jax.vmap(lambda s: jax.nn.softmax(jnp.array([s, 0.0]))[0])(t)
    shifts = jnp.array([-100.0, -1.0, 0.0, 3.0, 100.0], F64)
    shifted = jax.vmap(lambda c: jax.nn.softmax(a + c))(shifts)

    def with_first(s):
        return a.at[0].set(s)

    def abs_first(s):
        return abs_normalize(with_first(s))[0]

    slopes = jnp.array([(abs_first(step) - abs_first(0.0)) / step,
                        (abs_first(0.0) - abs_first(-step)) / step])
    varied = jax.vmap(with_first)(t)
    mirror = jnp.max(jnp.abs(jax.vmap(abs_normalize)(varied) - jax.vmap(abs_normalize)(-varied)))
    return SoftmaxData(a, y, jax.nn.softmax(a) - y, autodiff, t, two_class, jax.nn.sigmoid(t),
                       shifts, shifted, jax.nn.softmax(varied)[:, 0],
                       jax.vmap(abs_first)(t), slopes, mirror)


@slide("F41", "003", "Soft Max Function")
def plot_f41(data: SoftmaxData):
    """The gradient check, the two-class softmax against sigma, and softmax against |a|."""
    fig, axes = common.subplots(3, width=4.5)
    bars, two, abs_ax = axes.flat
    positions = np.arange(len(data.logits))
    bars.bar(positions - 0.2, data.autodiff, width=0.4, label="jax.grad of CE")
    bars.bar(positions + 0.2, data.softmax_minus_label, width=0.4, label="softmax(a) - y")
    bars.axhline(0.0, color="k", linewidth=0.7)
    bars.set(xticks=positions, xticklabels=[f"$a_{i + 1}$" for i in positions],
             ylabel=r"$\partial L / \partial a_i$", title="F41 · gradient of softmax CE")
    bars.legend(fontsize="small")
    two.plot(data.t, data.two_class, label="softmax([a, 0])[0]")
    two.plot(data.t, data.sigmoid, "--", label=r"$\sigma(a)$")
    two.set(xlabel="a", ylabel="probability", title="F41 · two classes: softmax = sigmoid")
    two.legend(fontsize="small")
    others = ", ".join(f"{v:g}" for v in data.logits[1:])
    abs_ax.plot(data.t, data.softmax_first, label="softmax")
    abs_ax.plot(data.t, data.abs_first, label=r"$|a_1| / \sum_j |a_j|$")
    abs_ax.set(xlabel=f"$a_1$ (others {others})", ylabel="$p_1$",
               title="F41 · |a|-normalization is not monotone")
    abs_ax.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F42: entropy and cross-entropy
# ----------------------------------------------------------------------------


def cross_entropy_of(p: Any, q: Any) -> jax.Array:
    """``H(P, Q) = -sum_i P(i) log Q(i)`` for one pair of distributions (natural log)."""
    return jopt.losses.cross_entropy(jnp.asarray(q, F64)[None], jnp.asarray(p, F64)[None])


def entropy_of(p: Any) -> jax.Array:
    """``H(P) = -sum_i P(i) log P(i)`` for one distribution, ``0 log 0 = 0``."""
    return jopt.losses.entropy(jnp.asarray(p, F64)[None])


@common.float64
@functools.partial(jax.jit, static_argnames=("grid",))
def f42(*, grid: int = pick(999, 199)) -> dict:
    """F42, deck 003 "Entropy", "Cross Entropy", "An example ... = 1.39" and "... = inf".

    The worked numbers (natural log) and two curves: the entropy of ``(q, 1 - q)``, and
    ``H(P, Q)`` against ``H(Q, P)`` for ``P = (1/2, 1/2)`` and ``Q = (q, 1 - q)``.
    """
    uniform4, one_hot4 = jnp.full(4, 0.25, F64), jnp.eye(4, dtype=F64)[2]
    half, skewed = jnp.array([0.5, 0.5], F64), jnp.array([0.9, 0.1], F64)
    q = jnp.linspace(0.0, 1.0, grid + 2, dtype=F64)[1:-1]
    pairs = jnp.stack([q, 1 - q], axis=1)
    return {
        "entropy_uniform4": entropy_of(uniform4),
        "entropy_one_hot": entropy_of(one_hot4),
        "entropy_half": entropy_of(half),
        "cross_one_hot_uniform4": cross_entropy_of(one_hot4, uniform4),
        "cross_uniform4_uniform4": cross_entropy_of(uniform4, uniform4),
        "cross_zero_support": cross_entropy_of(one_hot4, jnp.array([0.5, 0.5, 0.0, 0.0], F64)),
        "cross_half_skewed": cross_entropy_of(half, skewed),
        "cross_skewed_half": cross_entropy_of(skewed, half),
        "q": q,
        "entropy_curve": jopt.losses.entropy(pairs, reduction="none"),
        "cross_half_q": jopt.losses.cross_entropy(pairs, jnp.broadcast_to(half, pairs.shape),
                                                  reduction="none"),
        "cross_q_half": jopt.losses.cross_entropy(jnp.broadcast_to(half, pairs.shape), pairs,
                                                  reduction="none"),
    }


@slide("F42", "003", "Entropy")
def plot_f42(data: dict):
    """Left: binary entropy; right: H(P, Q) and H(Q, P) for P = (1/2, 1/2), Q = (q, 1 - q)."""
    fig, axes = common.subplots(2)
    left, right = axes.flat
    left.plot(data["q"], data["entropy_curve"], label="H((q, 1 - q))")
    left.axhline(np.log(2), color="0.6", linestyle=":", label="ln 2 = 0.693")
    left.plot([0.5], [data["entropy_half"]], "ko", markersize=4)
    left.set(xlabel="q", ylabel="entropy (nats)", title="F42 · entropy of a coin")
    left.legend(fontsize="small")
    right.plot(data["q"], data["cross_half_q"], label="H(P, Q)")
    right.plot(data["q"], data["cross_q_half"], "--", label="H(Q, P)")
    right.plot([0.9, 0.9], [data["cross_half_skewed"], data["cross_skewed_half"]], "ko",
               markersize=4, label="Q = (0.9, 0.1): 1.204 and 0.693")
    right.set(xlabel="q", ylabel="cross-entropy (nats)",
              title="F42 · cross-entropy is not symmetric (P = (1/2, 1/2))")
    right.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F43: 0-1 loss, SSE of hard outputs, squared loss
# ----------------------------------------------------------------------------


def faces(n: int = 50, seed: int = 0, centre: Sequence[float] = (1.0, 0.5),
          spread: float = 1.0) -> jopt.data.Dataset:
    """F43's labelled 2-D set (chosen): "happy" y = +1 around ``centre``, "sad" y = -1 around
    ``-centre``, both with N(0, spread^2) noise; ``default_rng(seed)`` draws y, then x.
    """
    rng = np.random.default_rng(seed)
    y = rng.choice([-1.0, 1.0], size=n)
    x = y[:, None] * np.asarray(centre) + spread * rng.normal(size=(n, 2))
    return jopt.data.Dataset(x, y)


def squared_loss_gradient(w: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """Deck 003 "Measuring loss for a linear unit": ``grad L = -(1/N) sum_i (y_i - w'x_i) x_i``."""
    return -jnp.mean((y - x @ w)[:, None] * x, axis=0)


class ZeroOneData(NamedTuple):
    """F43: the data set and, along ``w0`` (``w1`` fixed), the three losses and gradients."""

    x: np.ndarray
    y: np.ndarray
    w1: np.ndarray
    w0: np.ndarray
    zero_one: np.ndarray          # error rate of sign(w'x)
    sign_sse: np.ndarray          # 1/(2N) sum (y - sign(w'x))^2
    linear_sse: np.ndarray        # 1/(2N) sum (y - w'x)^2
    sign_sse_grad: np.ndarray     # jax.grad of sign_sse in w, (grid, 2)
    linear_sse_grad: np.ndarray   # jax.grad of linear_sse in w, (grid, 2)
    linear_sse_hand: np.ndarray   # the slide's -(1/N) sum (y - w'x) x, (grid, 2)


@common.float64
def f43(*, n: int = 50, seed: int = 0, w1: float = 1.0,
        grid: int = pick(801, 161)) -> ZeroOneData:
    """F43, deck 003 "Example: 0 1 loss" and "A simple example: where do you draw the line?".

    The linear unit ``y_hat = w0 x0 + w1 x1`` (``jopt.models.linear`` without bias) on
    :func:`faces`.  With hard outputs ``sign(w'x)`` the squared loss is twice the error
    rate and piecewise constant (gradient 0); with ``y_hat = w'x`` it is a parabola in
    ``w0`` with the slide's gradient.
    """
    data = faces(n, seed)
    return zero_one_curves(jnp.asarray(data.x, F64), jnp.asarray(data.y, F64), w1, grid)


@functools.partial(jax.jit, static_argnames=("grid",))
def zero_one_curves(x: jax.Array, y: jax.Array, w1: Any, grid: int) -> ZeroOneData:
    """F43's losses and gradients along ``w0`` in [-4, 4] (``grid`` points), ``w1`` fixed."""
    model = jopt.models.linear(2, bias=False, dtype=F64)

    def losses(w):
        scores = model.apply({"w": w}, x)
        # The error count is exact in any dtype; zero_one_loss's mean is float32.
        error_rate = jopt.losses.zero_one_loss(scores, y, reduction="sum").astype(F64) / len(y)
        return (error_rate,
                jopt.losses.squared_loss(jopt.losses.predict_sign(scores), y),
                jopt.losses.squared_loss(scores, y))

    def along(w0):
        w = jnp.stack([w0, jnp.asarray(w1, F64)])
        zero_one, sign_sse, linear_sse = losses(w)
        return (zero_one, sign_sse, linear_sse, jax.grad(lambda v: losses(v)[1])(w),
                jax.grad(lambda v: losses(v)[2])(w), squared_loss_gradient(w, x, y))

    w0 = jnp.linspace(-4.0, 4.0, grid, dtype=F64)
    return ZeroOneData(x, y, jnp.asarray(w1, F64), w0, *jax.vmap(along)(w0))


@slide("F43", "003", "Example: 0 1 loss")
def plot_f43(data: ZeroOneData):
    """Left: the faces and a few lines w'x = 0; right: the three losses against w0."""
    fig, axes = common.subplots(2)
    left, right = axes.flat
    for label, marker, color in ((1.0, "o", "C2"), (-1.0, "x", "C3")):
        chosen = data.y == label
        left.plot(data.x[chosen, 0], data.x[chosen, 1], marker, color=color, linestyle="none",
                  label="happy (y = +1)" if label > 0 else "sad (y = -1)")
    x0 = np.linspace(data.x[:, 0].min(), data.x[:, 0].max(), 2)
    for w0 in (-2.0, 0.5, 3.0):
        left.plot(x0, -w0 * x0 / data.w1, "--", linewidth=1, label=f"$w_0$ = {w0:g}")
    left.set(xlabel="$x_0$", ylabel="$x_1$",
             ylim=(data.x[:, 1].min() - 0.5, data.x[:, 1].max() + 0.5),
             title=f"F43 · the data set, lines $w'x = 0$ ($w_1$ = {float(data.w1):g})")
    left.legend(fontsize="small")
    right.plot(data.w0, data.zero_one, label="0-1 loss (error rate)")
    right.plot(data.w0, data.sign_sse, label="SSE of sign(w'x) = 2 x error rate")
    right.plot(data.w0, data.linear_sse, label="SSE of w'x (a parabola)")
    right.set(xlabel="$w_0$", ylabel="loss", ylim=(0.0, 2.5),
              title="F43 · loss against $w_0$ (hard outputs: flat steps)")
    right.legend(fontsize="small")
    return fig


# ----------------------------------------------------------------------------
# F44: logistic regression against least squares and ridge
# ----------------------------------------------------------------------------


def logistic_data(n: int = 500, w: Sequence[float] = (1.0, -2.0, 0.5), b: float = 0.3,
                  seed: int = 0) -> jopt.data.Dataset:
    """F44's data (chosen): ``x ~ N(0, I)``, ``y ~ Bernoulli(sigmoid(x'w + b))``.

    ``rng = default_rng(seed)``; ``x = rng.normal((n, d))``; ``y = rng.random(n) < p``.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(w)))
    p = 1.0 / (1.0 + np.exp(-(x @ np.asarray(w) + b)))
    return jopt.data.Dataset(x, (rng.random(n) < p).astype(np.float64))


def as_vector(params: dict) -> jax.Array:
    """``{"w", "b"}`` as one vector ``[w, b]``."""
    return jnp.append(params["w"], params["b"])


def normal_equations(x: np.ndarray, y: np.ndarray,
                     penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """``(H, D'y/n)`` of ``1/(2n) ||y - x w - b||^2 + penalty/2 ||w||^2`` in ``[w, b]`` (NumPy).

    ``H = D'D/n + penalty P`` with ``D = [x, 1]`` and ``P = diag(1, ..., 1, 0)``: the
    bias is not penalized; ``penalty = 0`` is least squares.  The minimizer solves
    ``H theta = D'y/n`` and ``lambda_max(H)`` is the smoothness constant L
    (``lambda_max(D'D/n)/4`` for the mean logistic loss).
    """
    features = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    penalty_matrix = np.diag(np.append(np.ones(x.shape[1]), 0.0))
    return features.T @ features / len(x) + penalty * penalty_matrix, features.T @ y / len(x)


def closed_form(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    """Least squares (``penalty = 0``) or ridge ``[w, b]`` from the normal equations."""
    return np.linalg.solve(*normal_equations(x, y, penalty))


def smoothness(x: np.ndarray, penalty: float = 0.0) -> float:
    """``lambda_max(D'D/n + penalty P)`` (see :func:`normal_equations`)."""
    hessian, _ = normal_equations(x, np.zeros(len(x)), penalty)
    return float(np.linalg.eigvalsh(hessian)[-1])


def sklearn_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[w, b]`` of scikit-learn's unpenalized ``LogisticRegression(C=inf)``, lbfgs to 1e-14."""
    from sklearn.linear_model import LogisticRegression
    fitted = LogisticRegression(C=np.inf, tol=1e-14, max_iter=10_000).fit(x, y)
    return np.append(fitted.coef_[0], fitted.intercept_)


class LogisticRegressionData(NamedTuple):
    """F44: GD on three convex losses, each against its reference solution.

    ``grad_norms[name]`` and ``errors[name]`` (``||theta_t - theta*|| / ||theta*||``)
    for t = 0 .. steps; ``solutions[name]``: GD's last iterate and ``references[name]``
    the reference (scikit-learn for "logistic", the closed forms for the others).
    """

    grad_norms: dict
    errors: dict
    solutions: dict
    references: dict
    learning_rates: dict
    x_identity: np.ndarray        # F44's derivative identity, checked on these inputs
    identity_autodiff: np.ndarray
    identity_formula: np.ndarray


def objective(params: dict, x: jax.Array, y: jax.Array, weights: jax.Array) -> jax.Array:
    """``weights = (a, c, penalty)``: ``a`` x the mean logistic loss + ``c`` x the squared loss
    ``1/(2n) ||y - x w - b||^2`` + ``penalty/2 ||w||^2`` (the bias is not penalized).

    :data:`OBJECTIVES` names the three that F44 compares: logistic regression
    ``(1, 0, 0)``, least squares ``(0, 1, 0)`` and ridge ``(0, 1, penalty)``.  One
    family, so that one vmapped program runs the three descents.
    """
    logistic_weight, squares_weight, penalty = weights
    scores = jopt.models.logistic(x.shape[1], dtype=F64).apply(params, x)
    return (logistic_weight * jopt.losses.binary_cross_entropy_with_logits(scores, y)
            + squares_weight * jopt.losses.squared_loss(scores, y)
            + 0.5 * penalty * jnp.sum(params["w"] ** 2))


OBJECTIVES = ("logistic", "least squares", "ridge")


@jax.jit
def derivative_identity(x: jax.Array, a: float, b: float) -> tuple[jax.Array, jax.Array]:
    """Deck 004: ``d/da ln sigmoid(a x_i + b)`` by ``jax.grad`` and as ``(1 - sigmoid) x_i``."""
    autodiff = jax.vmap(jax.grad(lambda slope, xi: jax.nn.log_sigmoid(slope * xi + b)),
                        in_axes=(None, 0))(jnp.asarray(a, F64), x)
    return autodiff, (1 - jax.nn.sigmoid(a * x + b)) * x


@common.float64
def f44(*, n: int = 500, seed: int = 0, penalty: float = 0.1,
        steps: int = pick(200, 130)) -> LogisticRegressionData:
    """F44, deck 004 "Recap: Logistic regression" and "Gradient descent for deep learning".

    GD (``jopt.sgd`` at eta = 1/L, from 0) on the mean logistic loss (L = lambda_max(D'D/n)/4),
    least squares and ridge (L = lambda_max of their Hessians).  The logistic
    optimum has no closed form: it is compared with scikit-learn's; the other two with
    their normal equations (NumPy).
    """
    x, y = logistic_data(n, seed=seed)
    references = np.stack([sklearn_logistic(x, y), closed_form(x, y, 0.0),
                           closed_form(x, y, penalty)])
    learning_rates = np.array([4.0 / smoothness(x), 1.0 / smoothness(x),
                               1.0 / smoothness(x, penalty)])
    weights = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, penalty]])
    grad_norms, errors, solutions = descents(jnp.asarray(x), jnp.asarray(y), weights,
                                             learning_rates, references, steps)
    by_name = [dict(zip(OBJECTIVES, rows))
               for rows in (grad_norms, errors, solutions, references, learning_rates)]
    return LogisticRegressionData(*by_name, x[:, 0],
                                  *derivative_identity(jnp.asarray(x[:, 0]), 1.0, 0.3))


@functools.partial(jax.jit, static_argnames=("steps",))
def descents(x: jax.Array, y: jax.Array, weights: Any, learning_rates: Any, references: Any,
             steps: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """GD on each :func:`objective` (rows of ``weights``), one ``vmap``: the gradient norms,
    the relative distances to ``references`` (t = 0 .. steps) and the last iterates."""
    start = jopt.models.logistic(x.shape[1], dtype=F64).init(jax.random.PRNGKey(0))

    def descend(loss_weights, learning_rate, reference):
        loss = functools.partial(objective, x=x, y=y, weights=loss_weights)
        path = common.trajectory(loss, start, jopt.sgd(learning_rate), steps)
        thetas = jax.vmap(as_vector)(path.xs)
        grad_norms = jax.vmap(lambda p: jopt.tree_l2_norm(jax.grad(loss)(p)))(path.xs)
        errors = jnp.linalg.norm(thetas - reference, axis=1) / jnp.linalg.norm(reference)
        return grad_norms, errors, thetas[-1]

    return jax.vmap(descend)(jnp.asarray(weights), jnp.asarray(learning_rates),
                             jnp.asarray(references))


@slide("F44", "004", "Recap: Logistic regression")
def plot_f44(data: LogisticRegressionData):
    """Gradient norm and relative distance to the reference solution against the step, log y."""
    fig, axes = common.subplots(2)
    left, right = axes.flat
    for name, norms in data.grad_norms.items():
        left.semilogy(norms, label=name)
        right.semilogy(data.errors[name], label=name)
    left.axhline(1e-10, color="0.6", linestyle=":", label="1e-10")
    left.set(xlabel="step t", ylabel=r"$\|\nabla \ell(\theta_t)\|$",
             title="F44 · GD at η = 1/L, gradient norm")
    right.axhline(1e-12, color="0.6", linestyle=":", label="1e-12")
    right.set(xlabel="step t", ylabel=r"$\|\theta_t - \theta^*\| / \|\theta^*\|$",
              title="F44 · distance to sklearn / the closed forms")
    left.legend(fontsize="small")
    right.legend(fontsize="small")
    return fig


FIGURES = {
    "F38": (f38, plot_f38),
    "F39": (f39, plot_f39),
    "F40": (f40, plot_f40),
    "F41": (f41, plot_f41),
    "F42": (f42, plot_f42),
    "F43": (f43, plot_f43),
    "F44": (f44, plot_f44),
}
