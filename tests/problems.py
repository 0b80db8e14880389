"""The shared registry of test problems, and runners that trace an optimizer on one.

Every problem is a :class:`Problem`: a loss over a pytree of parameters (a ``dict`` of
arrays), its starting point, the minimizer and minimum where they are known, step
sizes that are stable on it, and a PyTorch twin of the loss so that ``torch.optim``
can run the very same problem.  Tests, benchmarks and the lecture notebooks import
problems from here (``from tests.problems import REGISTRY``; or, from inside
``tests/``, ``from problems import ...``), so that their numbers are comparable.

    ============  =====================================================  =========================
    name          loss                                                   start, minimizer
    ============  =====================================================  =========================
    parabola      sum of squares over two leaves (a vector, a matrix)    fixed, 0
    q100          FIGURES' Q100: ½(0.01 x₁² + x₂²), κ = 100              (−10, 1), 0
    rosenbrock    (1 − x)² + 100 (y − x²)²                               (−1.2, 1), (1, 1)
    logistic      mean logistic loss on breast_cancer (standardized)     small random, by Newton
                  + ½ λ‖w‖², λ = 0.01; leaves w (30 × 1) and b (1,)
    ============  =====================================================  =========================

Dtypes: :meth:`Problem.init` and :meth:`Problem.torch_init` build the starting point in
the dtype asked for, and the losses compute in the dtype of the parameters (data are
cast to it), so a float32 run stays float32.  float64 needs JAX's x64 mode: run inside
``with precision(np.float64):`` (a wrapper of ``jax.enable_x64``), which keeps the
rest of the test session in float32.

Runners: :func:`jax_trajectories` runs several optax-shaped optimizers (jopt's or
optax's) on one problem in a single jitted program (one ``lax.scan`` each; compiling
them together is several times faster than one by one) and :func:`torch_trajectory`
runs a ``torch.optim`` optimizer; both return the iterates after every step as NumPy
arrays, stacked on a leading step axis, in the same pytree layout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any
Params = dict  # str -> array; jax flattens a dict in sorted key order, torch keeps it


# ----------------------------------------------------------------------------
# Problems
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Problem:
    """A test problem: ``loss(params) -> scalar`` over a ``dict`` of arrays.

    Attributes:
        name: the registry key.
        loss: the JAX loss; computes in the dtype of ``params``.
        torch_loss: the same loss on a ``dict`` of ``torch`` tensors with the same keys.
        x0: the starting point, a ``dict`` of float64 NumPy arrays (keys sorted).
        minimizer: the minimizer in the same layout, or ``None`` where unknown.
        minimum: ``loss(minimizer)``, or ``None``.
        gd_lr: a step size at which plain gradient descent and heavy-ball momentum
            (β ≤ 0.9) are stable from ``x0`` (below ``2 / L`` along the path).
        adaptive_lr: a step size for the sign-like methods (Adagrad, RMSprop, Adam),
            in the units of the parameters.
        description: one line for tables and plot legends.
    """

    name: str
    loss: Callable[[Params], jax.Array]
    torch_loss: Callable[[Mapping[str, Any]], Any]
    x0: Mapping[str, np.ndarray]
    minimizer: Optional[Mapping[str, np.ndarray]]
    minimum: Optional[float]
    gd_lr: float
    adaptive_lr: float
    description: str

    def init(self, dtype: Any = np.float32) -> Params:
        """The starting point as JAX arrays of ``dtype`` (float64 needs x64 mode)."""
        return _as_jax(self.x0, dtype)

    def torch_init(self, dtype: Any = np.float32) -> Params:
        """The starting point as ``torch`` leaf tensors of ``dtype`` that require grad."""
        import torch
        torch_dtype = _torch_dtype(dtype)
        return {k: torch.tensor(v, dtype=torch_dtype, requires_grad=True)
                for k, v in self.x0.items()}

    def minimizer_as(self, dtype: Any = np.float32) -> Optional[Params]:
        """The minimizer as JAX arrays of ``dtype``, or ``None`` where unknown."""
        return None if self.minimizer is None else _as_jax(self.minimizer, dtype)

    def gap(self, params: Params) -> jax.Array:
        """``loss(params) - minimum`` (the minimum must be known)."""
        if self.minimum is None:
            raise ValueError(f"problem {self.name!r} has no known minimum")
        return self.loss(params) - self.minimum

    @property
    def scale(self) -> float:
        """The largest magnitude in ``x0``: a natural absolute tolerance unit."""
        return float(max(np.max(np.abs(v)) for v in self.x0.values()))


def _as_jax(tree: Mapping[str, np.ndarray], dtype: Any) -> Params:
    dtype = np.dtype(dtype)
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        raise RuntimeError("float64 parameters need JAX's x64 mode: "
                           "run inside `with precision(np.float64):`")
    return {k: jnp.asarray(v, dtype=dtype) for k, v in tree.items()}


def _torch_dtype(dtype: Any):
    import torch
    return {np.dtype(np.float32): torch.float32,
            np.dtype(np.float64): torch.float64}[np.dtype(dtype)]


def _leaves_sum(fn: Callable, params: Mapping[str, Any]):
    return sum(fn(params[k]) for k in sorted(params))


# --- parabola ---------------------------------------------------------------

def _parabola_loss(params):
    return _leaves_sum(lambda x: jnp.sum(jnp.square(x)), params)


def _parabola_torch(params):
    return _leaves_sum(lambda x: (x * x).sum(), params)


PARABOLA = Problem(
    name="parabola",
    loss=_parabola_loss,
    torch_loss=_parabola_torch,
    x0={"a": np.array([1.0, -2.0, 0.5]),
        "b": np.array([[1.5, -0.5], [-1.0, 2.0]])},
    minimizer={"a": np.zeros(3), "b": np.zeros((2, 2))},
    minimum=0.0,
    gd_lr=0.1,         # L = 2
    adaptive_lr=0.1,
    description="sum of squares over a vector and a matrix leaf",
)


# --- ill-conditioned quadratic (FIGURES' Q100) --------------------------------

Q100_EIGENVALUES = np.array([0.01, 1.0])


def _q100_loss(params):
    x = params["x"]
    return 0.5 * jnp.sum(jnp.asarray(Q100_EIGENVALUES, x.dtype) * jnp.square(x))


def _q100_torch(params):
    import torch
    x = params["x"]
    return 0.5 * (torch.tensor(Q100_EIGENVALUES, dtype=x.dtype) * x * x).sum()


Q100 = Problem(
    name="q100",
    loss=_q100_loss,
    torch_loss=_q100_torch,
    x0={"x": np.array([-10.0, 1.0])},
    minimizer={"x": np.zeros(2)},
    minimum=0.0,
    gd_lr=0.5,         # L = 1, mu = 0.01
    adaptive_lr=0.1,
    description="Q100: ½(0.01 x₁² + x₂²), κ = 100, from (−10, 1)",
)


# --- Rosenbrock ---------------------------------------------------------------

def _rosenbrock_loss(params):
    x, y = params["x"][0], params["x"][1]
    return jnp.square(1 - x) + 100 * jnp.square(y - jnp.square(x))


def _rosenbrock_torch(params):
    x, y = params["x"][0], params["x"][1]
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


ROSENBROCK = Problem(
    name="rosenbrock",
    loss=_rosenbrock_loss,
    torch_loss=_rosenbrock_torch,
    x0={"x": np.array([-1.2, 1.0])},
    minimizer={"x": np.ones(2)},
    minimum=0.0,
    gd_lr=1e-3,        # the Hessian at x0 has eigenvalues up to ~1330
    adaptive_lr=0.01,
    description="Rosenbrock (1 − x)² + 100(y − x²)² from (−1.2, 1)",
)


# --- logistic regression on breast_cancer ---------------------------------------

LOGISTIC_L2 = 0.01
"""The ridge weight λ.  Standardized breast_cancer is linearly separable (a logistic fit with
C = 1e6 classifies all 569 examples), so the plain mean logistic loss has no minimizer: it
tends to 0 as ‖w‖ → ∞.  λ = 0.01 makes the minimizer unique and finite."""


@functools.lru_cache(maxsize=None)
def breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled breast_cancer (569 × 30), each feature standardized; y in {0, 1}."""
    from sklearn.datasets import load_breast_cancer
    features, labels = load_breast_cancer(return_X_y=True)
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    return features, labels.astype(np.float64)


def _logistic_loss(params):
    features, labels = breast_cancer()
    w, b = params["w"], params["b"]
    # z = X w + b, written as a sum of products: it compiles faster than a dot
    z = jnp.sum(jnp.asarray(features, w.dtype) * w[:, 0], axis=1) + b[0]
    # mean of log(1 + e^z) - y z: the logistic loss with labels in {0, 1}
    data = jnp.mean(jnp.logaddexp(z, 0.0) - jnp.asarray(labels, w.dtype) * z)
    return data + 0.5 * LOGISTIC_L2 * jnp.sum(jnp.square(w))


def _logistic_torch(params):
    import torch
    features, labels = breast_cancer()
    w, b = params["w"], params["b"]
    z = (torch.tensor(features, dtype=w.dtype) * w[:, 0]).sum(dim=1) + b[0]
    # logaddexp, not softplus: torch's softplus switches to z above a threshold of 20
    labels = torch.tensor(labels, dtype=w.dtype)
    data = (torch.logaddexp(z, torch.zeros_like(z)) - labels * z).mean()
    return data + 0.5 * LOGISTIC_L2 * (w * w).sum()


def _logistic_solution() -> tuple[dict, float]:
    """The minimizer by Newton's method in float64 (the ridge term makes it unique)."""
    features, labels = breast_cancer()
    design = np.hstack([features, np.ones((len(features), 1))])
    ridge = np.full(design.shape[1], LOGISTIC_L2)
    ridge[-1] = 0.0
    theta = np.zeros(design.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-design @ theta))
        grad = design.T @ (p - labels) / len(labels) + ridge * theta
        hess = design.T @ (design * (p * (1 - p))[:, None]) / len(labels) + np.diag(ridge)
        theta = theta - np.linalg.solve(hess, grad)
        if np.max(np.abs(grad)) < 1e-14:
            break
    z = design @ theta
    value = np.mean(np.logaddexp(z, 0.0) - labels * z) + 0.5 * LOGISTIC_L2 * np.sum(theta[:-1] ** 2)
    return {"b": theta[-1:], "w": theta[:-1, None]}, float(value)


_LOGISTIC_MINIMIZER, _LOGISTIC_MINIMUM = _logistic_solution()

LOGISTIC = Problem(
    name="logistic",
    loss=_logistic_loss,
    torch_loss=_logistic_torch,
    x0={"b": np.array([0.1]),
        "w": 0.1 * np.random.default_rng(0).normal(size=(30, 1))},
    minimizer=_LOGISTIC_MINIMIZER,
    minimum=_LOGISTIC_MINIMUM,
    gd_lr=0.25,        # L <= max eig(XᵀX/n)/4 + λ ≈ 3.33
    adaptive_lr=0.01,
    description="logistic regression on breast_cancer (standardized), ridge 0.01",
)


PROBLEMS: tuple[Problem, ...] = (PARABOLA, Q100, ROSENBROCK, LOGISTIC)
REGISTRY: dict[str, Problem] = {p.name: p for p in PROBLEMS}

DTYPES: tuple[np.dtype, ...] = (np.dtype(np.float32), np.dtype(np.float64))
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
"""The tolerance at which two implementations of one rule must agree, by dtype."""


def get(name: str) -> Problem:
    """The registered problem called ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no problem {name!r}; known: {sorted(REGISTRY)}") from None


def linear(direction: Sequence[float], x0: Optional[Sequence[float]] = None) -> Problem:
    """The linear loss ``gᵀx``: a constant gradient ``g`` (FIGURES F18, F23–F25)."""
    g = np.asarray(direction, dtype=np.float64)
    start = np.zeros_like(g) if x0 is None else np.asarray(x0, dtype=np.float64)

    def loss(params):
        x = params["x"]
        return jnp.sum(jnp.asarray(g, x.dtype) * x)

    def torch_loss(params):
        import torch
        x = params["x"]
        return (torch.tensor(g, dtype=x.dtype) * x).sum()

    return Problem(name="linear", loss=loss, torch_loss=torch_loss, x0={"x": start},
                   minimizer=None, minimum=None, gd_lr=0.1, adaptive_lr=0.1,
                   description=f"linear gᵀx with g = {tuple(g)}")


# ----------------------------------------------------------------------------
# Precision and runners
# ----------------------------------------------------------------------------


def precision(dtype: Any) -> contextlib.AbstractContextManager:
    """A context in which JAX computes in ``dtype``: x64 mode on for float64, off otherwise."""
    return jax.enable_x64(np.dtype(dtype) == np.float64)


def to_numpy(tree: PyTree) -> PyTree:
    return jax.tree_util.tree_map(np.asarray, tree)


OptimizerLike = Any  # a jopt or optax GradientTransformation: init(params), update(g, s, params)


def jax_trajectories(problem: Problem, dtype: Any, optimizers: Mapping[Any, OptimizerLike],
                     steps: int, apply_updates: Optional[Mapping[Any, Callable]] = None,
                     pass_value: Sequence[Any] = (),
                     ) -> dict[Any, PyTree]:
    """Run each optimizer ``steps`` steps from ``problem.x0`` in one jitted program.

    Each run is a ``lax.scan`` of ``g = grad(loss)(x); u, s = opt.update(g, s, x);
    x = apply_updates(x, u)``.  Returns, for each key of ``optimizers``, the iterates
    x_1 ... x_steps as NumPy arrays with a leading axis of length ``steps``.
    ``apply_updates`` maps keys to the function that applies the updates (default
    ``jopt.apply_updates``; pass ``optax.apply_updates`` for a pure-optax reference).
    The optimizers whose keys are in ``pass_value`` also get the loss,
    ``update(..., value=loss(x))`` (Polyak steps).
    """
    import jopt
    apply_updates = dict(apply_updates or {})

    def run_all(x0):
        out = {}
        for key, opt in optimizers.items():
            apply = apply_updates.get(key, jopt.apply_updates)

            def step(carry, _, opt=opt, apply=apply, with_value=key in pass_value):
                params, state = carry
                value, grads = jax.value_and_grad(problem.loss)(params)
                extra = dict(value=value) if with_value else {}
                updates, state = opt.update(grads, state, params, **extra)
                params = apply(params, updates)
                return (params, state), params

            out[key] = jax.lax.scan(step, (x0, opt.init(x0)), length=steps)[1]
        return out

    with precision(dtype):
        return to_numpy(jax.jit(run_all)(problem.init(dtype)))


def torch_trajectory(problem: Problem, dtype: Any,
                     make_optimizer: Callable[[list], Any], steps: int,
                     make_scheduler: Optional[Callable[[Any], Any]] = None) -> PyTree:
    """Run a ``torch.optim`` optimizer ``steps`` steps from ``problem.x0``.

    ``make_optimizer(list_of_tensors)`` builds it (``functools.partial(torch.optim.Adam,
    lr=...)``); ``make_scheduler(optimizer)`` optionally adds a learning-rate scheduler,
    stepped after each optimizer step.  Returns the iterates like :func:`jax_trajectories`.
    """
    import torch
    params = problem.torch_init(dtype)
    optimizer = make_optimizer(list(params.values()))
    scheduler = None if make_scheduler is None else make_scheduler(optimizer)
    history = {k: [] for k in params}
    for _ in range(steps):
        optimizer.zero_grad()
        problem.torch_loss(params).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        for k, v in params.items():
            history[k].append(v.detach().numpy().copy())
    return {k: np.stack(v) for k, v in history.items()}


def torch_scheduler_lrs(make_scheduler: Callable[[Any], Any], steps: int,
                        lr: float = 0.1) -> np.ndarray:
    """The learning rate a ``torch.optim.lr_scheduler`` gives at t = 0 .. steps - 1.

    ``make_scheduler(optimizer)`` builds it on an SGD optimizer with rate ``lr``; entry t
    is the rate used by step t (read before ``optimizer.step(); scheduler.step()``).
    """
    import torch
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(lrs)


def jax_run(problem: Problem, dtype: Any, optimizer: OptimizerLike, steps: int) -> PyTree:
    """The iterates of one optimizer: ``jax_trajectories`` for a single run."""
    return jax_trajectories(problem, dtype, {0: optimizer}, steps)[0]


__all__ = [
    "Problem", "PARABOLA", "Q100", "ROSENBROCK", "LOGISTIC", "PROBLEMS", "REGISTRY", "DTYPES",
    "RTOL", "get", "linear", "breast_cancer", "precision", "to_numpy", "jax_trajectories",
    "jax_run", "torch_trajectory",
]
