"""A Flax Linen CNN on the digits as 8x8 images, in a jopt sweep.

AdamW with a linear warmup and a cosine decay, 8 learning rates (the schedule's peak)
x 3 weight decays x 3 seeds = 72 configurations trained in one compiled program::

    python examples/flax_linen_cnn.py            # or: jopt sweep examples/flax_cnn.toml
"""

import flax.linen as nn
import jax.numpy as jnp

import jopt.sweep as sweep
from digits import digits_splits


class CNN(nn.Module):
    features: int = 16

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(self.features, (3, 3))(x))
        x = nn.avg_pool(x, (2, 2), (2, 2))
        return nn.Dense(10)(x.reshape((x.shape[0], -1)))


# ---- the adaptation to jopt ----
def make_task(features: int = 16) -> sweep.Task:
    model = CNN(features)
    return sweep.task(
        init=lambda key: model.init(key, jnp.zeros((1, 8, 8, 1)))["params"],
        apply=lambda params, x: model.apply({"params": params}, x),
        loss="softmax_cross_entropy", data=digits_splits(images=True),
        optimizer="adamw", schedule="warmup_cosine_decay_schedule",
        warmup_steps=30, decay_steps=300)


GRID = sweep.Grid(learning_rate=sweep.logspace(1e-3, 3e-2, 8), weight_decay=[1e-4, 1e-3, 1e-2],
                  batch_size=[64], seed=sweep.seeds(3))
# ---- end of the adaptation ----

if __name__ == "__main__":
    result = sweep.run(make_task(), GRID, budget=sweep.Budget(steps=300, eval_every=50),
                       out="results/flax_linen_cnn")
    print(result.best("val_loss", n=5))
