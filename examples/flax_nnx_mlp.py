"""A Flax NNX MLP on the digits, in a jopt sweep: Adam over learning rates and b1."""

import jax
from flax import nnx

import jopt.sweep as sweep
from digits import digits_splits


class MLP(nnx.Module):
    def __init__(self, width: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(64, width, rngs=rngs)
        self.out = nnx.Linear(width, 10, rngs=rngs)

    def __call__(self, x):
        return self.out(nnx.relu(self.hidden(x)))


# ---- the adaptation to jopt ----
def make_task(width: int = 64) -> sweep.Task:
    def init(key):  # the parameters' state; the graph is the same for every key
        return nnx.split(MLP(width, rngs=nnx.Rngs(key)), nnx.Param)[1]
    graphdef = nnx.split(MLP(width, rngs=nnx.Rngs(0)), nnx.Param)[0]
    return sweep.task(init, apply=lambda state, x: nnx.merge(graphdef, state)(x),
                      loss="softmax_cross_entropy", data=digits_splits(), optimizer="adam")


GRID = sweep.Grid(learning_rate=sweep.logspace(1e-4, 3e-2, 8), b1=[0.8, 0.9, 0.95],
                  batch_size=[32], seed=sweep.seeds(2))
# ---- end of the adaptation ----

if __name__ == "__main__":
    jax.config.update("jax_platforms", "cpu")
    result = sweep.run(make_task(), GRID, budget=sweep.Budget(epochs=3, eval_every=40),
                       out="results/flax_nnx_mlp")
    print(result.best("val_loss", n=5))
