"""An Equinox MLP on the digits, in a jopt sweep: SGD with Nesterov momentum."""

import equinox as eqx
import jax

import jopt
import jopt.sweep as sweep
from digits import digits_splits


# ---- the adaptation to jopt ----
def make_task(width: int = 64) -> sweep.Task:
    def mlp(key):
        return eqx.nn.MLP(64, 10, width, depth=2, key=key)
    static = eqx.partition(mlp(jax.random.PRNGKey(0)), eqx.is_inexact_array)[1]
    return sweep.task(
        init=lambda key: eqx.partition(mlp(key), eqx.is_inexact_array)[0],
        apply=lambda arrays, x: jax.vmap(eqx.combine(arrays, static))(x),
        loss="softmax_cross_entropy", data=digits_splits(),
        optimizer=lambda h: jopt.sgd(h["learning_rate"], momentum=h["momentum"], nesterov=True))


GRID = sweep.Grid(learning_rate=sweep.logspace(1e-3, 1e-1, 6), momentum=[0.5, 0.9],
                  batch_size=[32], seed=sweep.seeds(2))
# ---- end of the adaptation ----

if __name__ == "__main__":
    result = sweep.run(make_task(), GRID, budget=sweep.Budget(epochs=3, eval_every=40),
                       out="results/equinox_mlp")
    print(result.best("val_loss", n=5))
