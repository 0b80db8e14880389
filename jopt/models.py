"""Models: ``Model(init, apply)`` pairs over plain pytrees.

``init(key) -> params`` draws the parameters, ``apply(params, x) -> outputs`` runs the
model on a batch ``x`` of shape ``(n, in_dim)`` (or one example ``(in_dim,)``).
Parameters are dicts and lists of arrays, so any optimizer, ``jax.grad``, ``vmap`` and
the parameters of a flax or equinox model work the same way.  Nothing is stateful.

Dense layers hold ``{"w": (fan_in, fan_out), "b": (fan_out,)}`` and compute
``x @ w + b`` (flax's and optax's orientation).  :func:`two_layer_linear` keeps the
deck's names and orientation instead (``y_hat = Q W x``).

Initialization schemes (:data:`INIT_SCHEMES`; weights ``scale * std * N(0, 1)``,
biases zero).  Plain normals, not the truncated normals of
``jax.nn.initializers.he_normal`` and friends (same variance, different tails):

- ``"he"``: ``std = sqrt(2 / fan_in)`` (He et al. 2015; for ReLU; FIGURES.md DIGITS-MLP).
- ``"glorot"`` / ``"xavier"``: ``std = sqrt(2 / (fan_in + fan_out))`` (Glorot & Bengio 2010).
- ``"lecun"``: ``std = sqrt(1 / fan_in)`` (for sigmoid and tanh; F38's ``N(0, 1/64)``).
- ``"normal"``: ``std = 1``, so the entries are ``N(0, scale^2)`` (F46's small init
  ``N(0, 0.01^2)`` is ``init="normal", scale=0.01``).
- ``"orthogonal"``: ``scale`` times a random (semi-)orthogonal matrix (Saxe et al. 2014).
- ``"zeros"``: all zeros (linear models and the trained head of random features: the
  decks' "from 0" starts).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Model", "ACTIVATIONS", "INIT_SCHEMES", "activation_fn", "init_weights",
    "linear", "logistic", "mlp", "two_layer_linear", "random_features",
    "random_feature_weights", "relu_features",
]

Params = Any
Activation = Union[str, Callable[[jax.Array], jax.Array]]


class Model(NamedTuple):
    """``init(key) -> params`` and ``apply(params, x) -> outputs``, two pure functions."""

    init: Callable[[jax.Array], Params]
    apply: Callable[[Params, jax.Array], jax.Array]


# ----------------------------------------------------------------------------
# Activations and initialization
# ----------------------------------------------------------------------------


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "identity": lambda z: z,
    "relu": jax.nn.relu,          # max(0, z); derivative 1(z > 0), 0 at z = 0
    "sigmoid": jax.nn.sigmoid,    # 1 / (1 + exp(-z)); derivative s(1 - s) <= 1/4
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,  # ln(1 + exp(z)); derivative sigmoid(z) (deck 003)
}


def activation_fn(activation: Activation) -> Callable[[jax.Array], jax.Array]:
    """The function named ``activation`` (a callable is returned as it is)."""
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; known activations: "
                         f"{', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[activation]


def _standard_normal(key: jax.Array, rows: int, cols: int, dtype: Any = None) -> jax.Array:
    """``jax.random.normal(key, (rows, cols), dtype)``, drawn flat and reshaped.

    The values are bit-identical to the 2-D draw (the bits are generated in row-major
    order either way; checked for float32 and float64, threefry and rbg keys), but the
    1-D draw compiles several times faster on a CPU (``docs/benchmarks.md``).
    """
    return jax.random.normal(key, (rows * cols,), dtype).reshape(rows, cols)


def _normal(std: Callable[[int, int], float]):
    def sample(key, fan_in, fan_out, scale, dtype):
        return scale * std(fan_in, fan_out) * _standard_normal(key, fan_in, fan_out, dtype)
    return sample


def _orthogonal(key, fan_in, fan_out, scale, dtype):
    """``scale * jax.nn.initializers.orthogonal()(key, (fan_in, fan_out), dtype)``, bit for bit.

    The same steps as ``jax.random.orthogonal`` (QR of a normal matrix, columns' signs
    fixed by the diagonal of R; Mezzadri 2007), with the normal matrix drawn flat.
    """
    tall, short = max(fan_in, fan_out), min(fan_in, fan_out)
    q, r = jnp.linalg.qr(_standard_normal(key, tall, short, dtype))
    q = q * jnp.sign(jnp.diagonal(r))[None, :]
    return scale * (q.T if fan_in < fan_out else q)


def _zeros(key, fan_in, fan_out, scale, dtype):
    return jnp.zeros((fan_in, fan_out), dtype)


_glorot = _normal(lambda fan_in, fan_out: np.sqrt(2.0 / (fan_in + fan_out)))

INIT_SCHEMES = {
    "he": _normal(lambda fan_in, fan_out: np.sqrt(2.0 / fan_in)),
    "glorot": _glorot,
    "xavier": _glorot,
    "lecun": _normal(lambda fan_in, fan_out: np.sqrt(1.0 / fan_in)),
    "normal": _normal(lambda fan_in, fan_out: 1.0),
    "orthogonal": _orthogonal,
    "zeros": _zeros,
}


def _check_init(init: str) -> None:
    if init not in INIT_SCHEMES:
        raise ValueError(f"unknown init {init!r}; known schemes: {', '.join(sorted(INIT_SCHEMES))}")


def init_weights(key: jax.Array, fan_in: int, fan_out: int, init: str = "he",
                 scale: Any = 1.0, dtype: Any = jnp.float32) -> jax.Array:
    """A ``(fan_in, fan_out)`` weight matrix drawn by the scheme ``init`` (module docstring)."""
    _check_init(init)
    return INIT_SCHEMES[init](key, fan_in, fan_out, scale, dtype)


def _is_width(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def _check_width(name: str, value: Any) -> None:
    if not _is_width(value):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _dense_init(key, fan_in, fan_out, init, scale, bias, dtype) -> dict:
    layer = {"w": init_weights(key, fan_in, fan_out, init, scale, dtype)}
    if bias:
        layer["b"] = jnp.zeros((fan_out,), dtype)
    return layer


def _dense_apply(layer: dict, x: jax.Array) -> jax.Array:
    out = x @ layer["w"]
    return out + layer["b"] if "b" in layer else out


# ----------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------


def linear(in_dim: int, out_dim: Optional[int] = None, *, bias: bool = True, init: str = "zeros",
           scale: Any = 1.0, dtype: Any = jnp.float32) -> Model:
    """``y_hat = x w + b``: linear regression (deck 003's ``h(x) = w'x``, FIGURES.md LINREG).

    ``out_dim=None`` (default) gives one output per example: ``w`` of shape
    ``(in_dim,)``, ``b`` a scalar, outputs ``(n,)``, as the decks write ``w'x + b``.
    An integer gives ``w`` of shape ``(in_dim, out_dim)`` and outputs ``(n, out_dim)``.
    Zero initialization by default (the decks start linear models from 0).
    """
    _check_width("in_dim", in_dim)
    if out_dim is not None:
        _check_width("out_dim", out_dim)
    _check_init(init)

    def init_fn(key):
        layer = _dense_init(key, in_dim, out_dim or 1, init, scale, bias, dtype)
        return layer if out_dim is not None else {k: v[..., 0] for k, v in layer.items()}

    return Model(init_fn, _dense_apply)


def logistic(in_dim: int, num_classes: int = 2, *, bias: bool = True, init: str = "zeros",
             scale: Any = 1.0, dtype: Any = jnp.float32) -> Model:
    """Logistic regression: linear logits.

    ``num_classes=2`` gives one logit per example, shape ``(n,)``, for
    :func:`jopt.losses.binary_cross_entropy_with_logits` (labels in {0, 1}) or
    :func:`jopt.losses.logistic_loss` (labels in {-1, +1}) (deck 004 "Recap: Logistic
    regression").  ``num_classes > 2`` gives logits ``(n, num_classes)`` for softmax
    regression with :func:`jopt.losses.cross_entropy_with_logits` (F34's digits model).
    """
    if not _is_width(num_classes) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    out_dim = None if num_classes == 2 else num_classes
    return linear(in_dim, out_dim, bias=bias, init=init, scale=scale, dtype=dtype)


def mlp(sizes: Sequence[int], activation: Union[Activation, Sequence[Activation]] = "relu", *,
        init: str = "he", scale: Any = 1.0, bias: bool = True,
        dtype: Any = jnp.float32) -> Model:
    """A multi-layer perceptron with widths ``sizes`` (input and output included).

    ``mlp([64, 128, 10])`` is ``x -> relu(x W1 + b1) W2 + b2``: an activation after each
    hidden layer, none after the last (the outputs are logits or regression values).
    ``activation`` is one name for every hidden layer or a sequence of one per hidden
    layer (F40's ``5-7-6-3`` net: ``["tanh", "sigmoid"]``); see :data:`ACTIVATIONS`.
    Parameters: a list of ``{"w", "b"}`` dicts, one per layer (no ``"b"`` with
    ``bias=False``, F38's net).  Weights drawn by ``init`` times ``scale``, biases zero.
    """
    sizes = list(sizes)
    if len(sizes) < 2 or not all(_is_width(size) for size in sizes):
        raise ValueError(f"sizes must be at least two positive integers (the input and output "
                         f"widths), got {sizes!r}")
    num_hidden = len(sizes) - 2
    if isinstance(activation, str) or callable(activation):
        activation = [activation] * num_hidden
    activations = [activation_fn(a) for a in activation]
    if len(activations) != num_hidden:
        raise ValueError(f"activation must be one name or one per hidden layer ({num_hidden}), "
                         f"got {len(activations)}")
    _check_init(init)

    def init_fn(key):
        keys = jax.random.split(key, len(sizes) - 1)
        return [_dense_init(k, fan_in, fan_out, init, scale, bias, dtype)
                for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:])]

    def apply_fn(params, x):
        for layer, act in zip(params[:-1], activations):
            x = act(_dense_apply(layer, x))
        return _dense_apply(params[-1], x)

    return Model(init_fn, apply_fn)


def two_layer_linear(in_dim: int, hidden: int, out_dim: int, *, activation: Activation = "identity",
                     init: str = "normal", scale: Any = 0.01, dtype: Any = jnp.float32) -> Model:
    """Saxe et al.'s two-layer network ``y_hat = Q f(W x)`` without biases (deck 001, F46).

    Parameters ``{"W": (hidden, in_dim), "Q": (out_dim, hidden)}`` in the deck's
    orientation, so F46's balanced start ``Q0 = U sqrt(u0) R'``, ``W0 = R sqrt(u0) V'``
    is written as on the slide.  ``activation="identity"`` (default) is the linear
    network, ``"tanh"`` the slide's tanh network.  Default init: small random entries
    ``N(0, 0.01^2)`` (``init="normal", scale=0.01``), F46's "small random init".
    """
    for name, width in (("in_dim", in_dim), ("hidden", hidden), ("out_dim", out_dim)):
        _check_width(name, width)
    act = activation_fn(activation)
    _check_init(init)

    def init_fn(key):
        key_w, key_q = jax.random.split(key)
        return {"W": init_weights(key_w, in_dim, hidden, init, scale, dtype).T,
                "Q": init_weights(key_q, hidden, out_dim, init, scale, dtype).T}

    def apply_fn(params, x):
        return act(x @ params["W"].T) @ params["Q"].T

    return Model(init_fn, apply_fn)


def random_feature_weights(in_dim: int, num_features: int, key: Any) -> Any:
    """Frozen first-layer weights ``alpha`` of shape ``(in_dim, num_features)``, ``N(0, 1/in_dim)``.

    ``key`` is a JAX PRNG key, or an integer seed for ``numpy.random.default_rng``,
    which reproduces FIGURES.md RF: feature draw ``r`` is
    ``default_rng(1000 + r).normal(size=(in_dim, num_features)) / sqrt(in_dim)``
    (a float64 NumPy array).
    """
    _check_width("in_dim", in_dim)
    _check_width("num_features", num_features)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return np.random.default_rng(key).normal(size=(in_dim, num_features)) / np.sqrt(in_dim)
    return _standard_normal(key, in_dim, num_features) / np.sqrt(in_dim)


def relu_features(alpha: Any, x: jax.Array) -> jax.Array:
    """``h_k(x) = max(0, alpha_k' x)`` for every column ``alpha_k``: shape ``(n, num_features)``."""
    return jax.nn.relu(x @ jnp.asarray(alpha))


def random_features(in_dim: int, num_features: int, key: Any, *, out_dim: Optional[int] = None,
                    bias: bool = False, init: str = "zeros", dtype: Any = jnp.float32) -> Model:
    """Frozen random ReLU features and a trained linear head: ``y_hat = sum_k beta_k h_k(x)``.

    Deck 000 "Implicit gradient regularization" and F47-F49: ``h_k(x) = max(0, alpha_k' x)``
    with ``alpha_k ~ N(0, I / in_dim)`` drawn once here from ``key`` (see
    :func:`random_feature_weights`; an integer is a NumPy seed).  The frozen weights
    live in the model's closure, not in ``params``, so no optimizer touches them:
    ``params`` is the head alone, ``{"w": beta}`` with ``beta`` of shape
    ``(num_features,)`` (``out_dim=None``, default) and zero initialization (the deck's
    ``beta^(0) = 0``), no bias unless asked.  The feature matrix for a closed-form
    solution is ``relu_features(random_feature_weights(in_dim, num_features, key), x)``.
    """
    alpha = random_feature_weights(in_dim, num_features, key)
    head = linear(num_features, out_dim, bias=bias, init=init, dtype=dtype)
    return Model(head.init, lambda params, x: head.apply(params, relu_features(alpha, x)))
