"""Every jopt optimizer on three test problems: a table of steps to a tolerance, and loss curves.

    python experiments/compare_optimizers.py [--out results/compare_optimizers.png]

For each problem and optimizer, a grid of learning rates runs as one vectorized program
(``jax.vmap`` over the learning rate, ``jax.lax.scan`` over the steps, all inside
``jax.jit``): jopt's hyperparameters are data, so the learning rate can be a traced
array.  The best rate of the grid (fewest steps to the tolerance, counted to the step
from which ``f(x) - f*`` stays within it; if no rate gets there, the lowest final loss)
is reported and its loss curve plotted.

The quadratic is axis-aligned, as the lectures' is: the per-coordinate methods
(Adagrad, RMSprop, Adam) see its two curvatures separately, which is why Adagrad,
nearly a sign method for its first steps, solves it at once.  RMSprop with a constant
rate keeps steps of about ``lr`` in size and hovers around the minimum instead.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import jopt

# The optimizers: a name and a function learning_rate -> GradientTransformation.
OPTIMIZERS: dict[str, Callable] = {
    "sgd": lambda lr: jopt.sgd(lr),
    "sgd momentum": lambda lr: jopt.sgd(lr, momentum=0.9),
    "nesterov": lambda lr: jopt.sgd(lr, momentum=0.9, nesterov=True),
    "adagrad": lambda lr: jopt.adagrad(lr),
    "rmsprop": lambda lr: jopt.rmsprop(lr),
    "adam": lambda lr: jopt.adam(lr),
    "adamw": lambda lr: jopt.adamw(lr, weight_decay=1e-4),
}

# The learning rates tried for every optimizer: 1e-4 to 10, four per decade.
LEARNING_RATES = 10.0 ** np.arange(-4.0, 1.25, 0.25)


class Problem(NamedTuple):
    name: str
    loss: Callable[[jax.Array], jax.Array]
    x0: jax.Array
    f_star: float       # the minimum value
    tol: float          # "converged" once f(x) - f_star <= tol
    steps: int


def quadratic() -> Problem:
    """``f(x) = (0.01 x1² + x2²) / 2``: condition number 100, from (-10, 1)."""
    curvatures = jnp.array([0.01, 1.0])
    return Problem("quadratic (kappa = 100)", lambda x: 0.5 * jnp.sum(curvatures * x**2),
                   jnp.array([-10.0, 1.0]), 0.0, 1e-6, 1000)


def rosenbrock() -> Problem:
    """``f(x, y) = (1 - x)² + 100 (y - x²)²``, from (-1.2, 1); minimum 0 at (1, 1)."""
    return Problem("Rosenbrock", lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2,
                   jnp.array([-1.2, 1.0]), 0.0, 1e-6, 10_000)


def logistic_regression(l2: float = 1e-2) -> Problem:
    """Mean logistic loss on scikit-learn's breast cancer set (standardized), a bias, an L2 term."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    features = (data.data - data.data.mean(0)) / data.data.std(0)
    features = jnp.asarray(np.hstack([features, np.ones((len(features), 1))]), jnp.float32)
    labels = jnp.asarray(data.target, jnp.float32)

    def loss(w):
        logits = features @ w
        # log(1 + exp(z)) - y z: the negative log-likelihood of a label in {0, 1}
        nll = jnp.mean(jnp.logaddexp(0.0, logits) - labels * logits)
        return nll + 0.5 * l2 * jnp.sum(w[:-1] ** 2)  # the bias is not penalized

    w0 = jnp.zeros(features.shape[1])
    return Problem("logistic regression (breast cancer)", loss, w0,
                   newton_minimum(loss, w0), 1e-5, 2000)


def newton_minimum(loss: Callable, x0: jax.Array, iterations: int = 30) -> float:
    """The minimum value of a smooth convex ``loss``, by Newton's method (a reference)."""
    def newton_step(x, _):
        return x - jnp.linalg.solve(jax.hessian(loss)(x), jax.grad(loss)(x)), None
    x, _ = jax.lax.scan(newton_step, x0, length=iterations)
    return float(loss(x))


def run(optimizer: jopt.GradientTransformation, loss: Callable, x0: jax.Array,
        steps: int) -> jax.Array:
    """The losses ``f(x_0), ..., f(x_steps)`` of ``steps`` updates from ``x0``."""
    def step(carry, _):
        x, state = carry
        value, grad = jax.value_and_grad(loss)(x)
        updates, state = optimizer.update(grad, state, x)
        return (jopt.apply_updates(x, updates), state), value

    (x, _), values = jax.lax.scan(step, (x0, optimizer.init(x0)), length=steps)
    return jnp.append(values, loss(x))


def sweep(problem: Problem, learning_rates: jax.Array) -> dict[str, np.ndarray]:
    """Every optimizer at every learning rate: curves of shape (rates, steps + 1) by name.

    One compiled program per problem (compiling the optimizers together is faster than
    one by one); the learning rate is a traced value under ``vmap``.
    """
    def all_runs(learning_rates):
        return {name: jax.vmap(lambda lr, make=make: run(make(lr), problem.loss, problem.x0,
                                                         problem.steps))(learning_rates)
                for name, make in OPTIMIZERS.items()}
    return {name: np.asarray(curves) for name, curves in jax.jit(all_runs)(learning_rates).items()}


def steps_to_tolerance(gaps: np.ndarray, tol: float) -> float:
    """The first step ``t`` from which ``f(x_s) - f* <= tol`` for every ``s >= t``, or ``inf``.

    "From which on", not "first below": a method that dips under the tolerance and
    bounces back (a constant step size hovering around the minimum) has not converged.
    """
    above = np.flatnonzero(~(gaps <= tol))  # NaN counts as above
    if above.size == 0:
        return 0.0
    return float(above[-1] + 1) if above[-1] + 1 < len(gaps) else math.inf


def best_run(curves: np.ndarray, problem: Problem) -> tuple[int, float]:
    """The index of the best learning rate, and its steps to tolerance."""
    gaps = curves - problem.f_star
    steps = np.array([steps_to_tolerance(g, problem.tol) for g in gaps])
    final = np.where(np.isfinite(gaps[:, -1]), gaps[:, -1], np.inf)
    best = min(range(len(steps)), key=lambda i: (steps[i], final[i]))
    return best, steps[best]


def plot(results: dict, problems: list[Problem], out: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(problems), figsize=(5.5 * len(problems), 4.8))
    for ax, problem in zip(axes, problems):
        # Below tol / 100 lies float32 rounding noise (f* of the logistic loss is ~0.1):
        # the curves are cut there.
        floor = problem.tol / 100
        for name in OPTIMIZERS:
            curve, lr, _ = results[problem.name, name]
            ax.semilogy(np.maximum(curve - problem.f_star, floor), label=f"{name} (lr {lr:.3g})",
                        lw=1.2)
        ax.axhline(problem.tol, color="gray", ls=":", lw=1, label=f"tolerance {problem.tol:g}")
        ax.set(title=problem.name, xlabel="step", ylabel="f(x) - f*", ylim=(floor / 2, None))
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("jopt optimizers, best learning rate of a vmapped grid each")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("results", "compare_optimizers.png"),
                        help="where to save the PNG of loss curves "
                             "(default results/compare_optimizers.png)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    problems = [quadratic(), rosenbrock(), logistic_regression()]
    learning_rates = jnp.asarray(LEARNING_RATES, jnp.float32)
    results = {}
    print(f"{'problem':<37} {'optimizer':<13} {'best lr':>8} {'steps to tol':>13} "
          f"{'final loss':>11} {'final f - f*':>12}")
    for problem in problems:
        print(f"{problem.name} (f* = {problem.f_star:.6g}, tol {problem.tol:g}, "
              f"{problem.steps} steps, {len(LEARNING_RATES)} learning rates)")
        all_curves = sweep(problem, learning_rates)
        for name in OPTIMIZERS:
            curves = all_curves[name]
            best, steps = best_run(curves, problem)
            results[problem.name, name] = (curves[best], float(LEARNING_RATES[best]), steps)
            reached = f"{steps:.0f}" if np.isfinite(steps) else f">{problem.steps}"
            print(f"{'':<37} {name:<13} {LEARNING_RATES[best]:8.3g} {reached:>13} "
                  f"{curves[best, -1]:11.4g} {curves[best, -1] - problem.f_star:12.3g}")
    plot(results, problems, args.out)
    print(f"saved loss curves to {os.path.abspath(args.out)} "
          f"({time.perf_counter() - start:.1f} s in all)")
    return results


if __name__ == "__main__":
    main()
