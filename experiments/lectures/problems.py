"""The shared problems of FIGURES.md, defined once: Q10, Q100, QH, QUART, ROSEN, LINREG,
DIGITS-MLP and RF.

Quadratics are :class:`Problem` tuples: the function, the start, and the curvature
bounds ``mu`` and ``L`` (``kappa = L / mu``).  Data sets are NumPy float64 arrays
drawn exactly as FIGURES.md writes the draw order, so the catalogue's [seeded] numbers
can be compared.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jopt


class Problem(NamedTuple):
    """A test function with its start and, for quadratics, ``mu``, ``L`` and ``f*``."""

    fun: Callable[[jax.Array], jax.Array]
    x0: np.ndarray
    mu: float = float("nan")
    L: float = float("nan")
    f_star: float = 0.0

    @property
    def kappa(self) -> float:
        return self.L / self.mu


def diagonal_quadratic(eigenvalues: Any, x0: Any) -> Problem:
    """``f(x) = 1/2 sum_i lambda_i x_i^2`` from ``x0``: minimum 0 at the origin."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    return Problem(jopt.data.quadratic(eigenvalues), np.asarray(x0, dtype=np.float64),
                   float(eigenvalues.min()), float(eigenvalues.max()))


def q10() -> Problem:
    """Q10: ``f = 1/2 (x1^2 + 10 x2^2)``, mu = 1, L = 10, x0 = (-8, 2), f0 = 52."""
    return diagonal_quadratic([1.0, 10.0], [-8.0, 2.0])


def q100() -> Problem:
    """Q100: ``f = 1/2 (0.01 x1^2 + x2^2)``, mu = 0.01, L = 1, x0 = (-10, 1), f0 = 1."""
    return diagonal_quadratic([0.01, 1.0], [-10.0, 1.0])


def qh(d: int = 1000) -> Problem:
    """QH: lambda_i = i/d, x0_i = lambda_i^(-1/2): f0 = d/2, ||x0 - x*||^2 = sum 1/lambda_i."""
    eigenvalues = np.arange(1, d + 1) / d
    return diagonal_quadratic(eigenvalues, eigenvalues ** -0.5)


def quart(x: jax.Array) -> jax.Array:
    """QUART: ``f(x) = x^4 - 4x^2 + x`` (a scalar, or the first entry of a 1-vector)."""
    return jnp.sum(x ** 4 - 4 * x ** 2 + x)


QUART_GLOBAL_MIN = -1.472998
QUART_LOCAL_MAX = 0.126000
QUART_LOCAL_MIN = 1.346997


def rosen(x: jax.Array) -> jax.Array:
    """ROSEN: ``f(x, y) = (1 - x)^2 + 100 (y - x^2)^2``; start (-1.2, 1), minimum (1, 1)."""
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


ROSEN_X0 = np.array([-1.2, 1.0])


def linreg(seed: int = 0) -> jopt.data.LinearRegression:
    """LINREG: 1000 x 10 Gaussian inputs, noise 0.5 (``jopt.data.linear_regression``)."""
    return jopt.data.linear_regression(n=1000, d=10, noise=0.5, seed=seed)


def linreg_loss(w: jax.Array, x: Any, y: Any) -> jax.Array:
    """LINREG's loss: ``1/2 mean (y - x'w)^2``."""
    return 0.5 * jnp.mean((jnp.asarray(y) - jnp.asarray(x) @ w) ** 2)


def linreg_minimum(x: Any, y: Any) -> tuple[np.ndarray, float]:
    """The least-squares weights and the minimum loss ``L*`` (0.12438 for LINREG)."""
    w, *_ = np.linalg.lstsq(np.asarray(x), np.asarray(y), rcond=None)
    return w, float(0.5 * np.mean((y - x @ w) ** 2))


def digits() -> jopt.data.Dataset:
    """DIGITS-MLP's data: scikit-learn's 1797 8x8 digits, pixels / 16, one-hot labels."""
    from sklearn.datasets import load_digits
    x, labels = load_digits(return_X_y=True)
    return jopt.data.Dataset(x / 16.0, np.eye(10)[labels])


def digits_mlp(hidden: int = 64) -> jopt.Model:
    """DIGITS-MLP's model: 64-hidden-10, ReLU, He weights, zero biases."""
    return jopt.models.mlp([64, hidden, 10], "relu", init="he")


def digits_loss(model: jopt.Model) -> Callable:
    """Mean softmax cross-entropy of ``model`` on one-hot labels: ``loss(params, x, y)``."""
    def loss(params, x, y):
        return jnp.mean(jopt.losses.softmax_cross_entropy(model.apply(params, x), y))
    return loss


def rf_data(seed: int = 0, *, n_val: int = 0) -> jopt.data.DoubleDescent:
    """RF's data: n = 100, p = 10, noise 0.1, 2000 noiseless test points (data seed)."""
    return jopt.data.double_descent(n=100, p=10, noise=0.1, n_test=2000, seed=seed, n_val=n_val)


def rf_features(x: Any, num_features: int, draw: int = 0) -> np.ndarray:
    """RF's frozen ReLU features of ``x``: feature draw ``r`` uses ``default_rng(1000 + r)``."""
    alpha = jopt.models.random_feature_weights(np.shape(x)[1], num_features, 1000 + draw)
    return np.maximum(0.0, np.asarray(x) @ alpha)
