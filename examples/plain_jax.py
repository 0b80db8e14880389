"""A plain-JAX model with its own loss and metric, in a jopt sweep.

The loss is cross-entropy with label smoothing, written by hand; the metric is top-2
accuracy.  The optimizer is a function of the grid's hyperparameters: gradient clipping,
then AdamW.  The data are arrays (x, y) that jopt splits (seeded) into train,
validation and test sets.
"""

import jax
import jax.numpy as jnp
from sklearn.datasets import load_digits

import jopt
import jopt.sweep as sweep


def init(key):
    k1, k2 = jax.random.split(key)
    return {"w1": jax.random.normal(k1, (64, 64)) * jnp.sqrt(2 / 64), "b1": jnp.zeros(64),
            "w2": jax.random.normal(k2, (64, 10)) * jnp.sqrt(1 / 64), "b2": jnp.zeros(10)}


def logits(params, x):
    return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def smoothed_cross_entropy(params, batch, smoothing=0.1):
    x, y = batch
    log_p = jax.nn.log_softmax(logits(params, x / 16.0))
    target = (1 - smoothing) * jax.nn.one_hot(y, 10) + smoothing / 10
    return -jnp.mean(jnp.sum(target * log_p, axis=-1))


def top2_accuracy(params, batch):
    x, y = batch
    top2 = jnp.argsort(logits(params, x / 16.0), axis=-1)[:, -2:]
    return {"top2_accuracy": jnp.mean(jnp.any(top2 == y[:, None], axis=-1))}


# ---- the adaptation to jopt ----
def make_task() -> sweep.Task:
    return sweep.task(
        init, loss=smoothed_cross_entropy, metrics=top2_accuracy,
        data=load_digits(return_X_y=True), val_fraction=0.15, test_fraction=0.15,
        optimizer=lambda h: jopt.chain(jopt.clip_by_global_norm(1.0),
                                       jopt.adamw(h["learning_rate"],
                                                  weight_decay=h["weight_decay"])))


GRID = sweep.Grid(learning_rate=sweep.logspace(1e-4, 1e-1, 8), weight_decay=[0.0, 1e-2],
                  batch_size=[32], seed=sweep.seeds(2))
# ---- end of the adaptation ----

if __name__ == "__main__":
    result = sweep.run(make_task(), GRID, budget=sweep.Budget(epochs=3, eval_every=40),
                       out="results/plain_jax")
    print(result.best("val_loss", n=5)[["learning_rate", "weight_decay", "final_val_loss",
                                        "final_val_top2_accuracy"]])
