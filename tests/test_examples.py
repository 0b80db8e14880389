"""The examples: a user's own Flax Linen, Flax NNX, Equinox and plain-JAX models in a sweep.

The Flax CNN's sweep equals a hand-written optax loop of the same model, data order and
schedule; the others train (their validation loss falls well below where it starts) and
report their metrics; each example's adaptation to jopt is at most 15 lines.
"""

import os
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jopt.sweep as sweep
from jopt import data

pytest.importorskip("flax")
pytest.importorskip("equinox")
pytest.importorskip("pandas")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
sys.path.insert(0, EXAMPLES)

import equinox_mlp  # noqa: E402
import flax_linen_cnn  # noqa: E402
import flax_nnx_mlp  # noqa: E402
import plain_jax  # noqa: E402


def optax_reference(task_module, config, steps):
    """The CNN trained by hand: optax's adamw with its warmup + cosine schedule, the
    batches of jopt's epoch sampling (jopt.data.epoch_permutation), the initial
    parameters of split(PRNGKey(seed))[0]: the final validation loss."""
    model = flax_linen_cnn.CNN()
    splits = task_module.digits_splits(images=True)
    (x, y), (x_val, y_val) = jax.device_put((splits["train"], splits["val"]))
    init_key, batch_key = jax.random.split(jax.random.PRNGKey(config["seed"]))
    params = model.init(init_key, jnp.zeros((1, 8, 8, 1)))["params"]
    schedule = optax.warmup_cosine_decay_schedule(0.0, config["learning_rate"], 30, 300)
    opt = optax.adamw(schedule, weight_decay=config["weight_decay"])
    state = opt.init(params)
    batch, per_epoch = config["batch_size"], len(x) // config["batch_size"]

    def loss(params, xb, yb):
        logits = model.apply({"params": params}, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def step(params, state, t):
        order = data.epoch_permutation(batch_key, t // per_epoch, len(x))
        idx = jax.lax.dynamic_slice_in_dim(order, (t % per_epoch) * batch, batch)
        grads = jax.grad(loss)(params, x[idx], y[idx])
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    for t in range(steps):
        params, state = step(params, state, t)
    return float(loss(params, x_val, y_val))


def test_the_flax_cnn_sweep_equals_a_hand_written_optax_loop():
    grid = sweep.Grid(learning_rate=[3e-3, 2e-2], weight_decay=[1e-3], batch_size=[64], seed=[1])
    result = sweep.run(flax_linen_cnn.make_task(), grid, budget=sweep.Budget(steps=40,
                                                                              eval_every=20),
                       quiet=True).to_pandas()
    for config, got in zip(grid.configs(), result.final_val_loss):
        np.testing.assert_allclose(got, optax_reference(flax_linen_cnn, config, 40), rtol=2e-4)


@pytest.mark.parametrize("module, extra", [(flax_nnx_mlp, {"b1": [0.9]}),
                                           (equinox_mlp, {"momentum": [0.9]}),
                                           (plain_jax, {"weight_decay": [1e-2]})],
                         ids=["flax_nnx", "equinox", "plain_jax"])
def test_each_example_trains_and_reports_its_metrics(module, extra):
    grid = sweep.Grid(learning_rate=[1e-2], batch_size=[32], seed=[0], **extra)
    result = sweep.run(module.make_task(), grid, budget=sweep.Budget(steps=80, eval_every=40),
                       quiet=True)
    curve = result.curves("val_loss")[0].to_numpy()
    assert curve[-1] < 0.5 * curve[0], curve
    assert result.to_pandas().status.tolist() == ["finished"]
    if module is plain_jax:
        top2 = result.curves("val_top2_accuracy")[0].to_numpy()
        assert top2[-1] > 0.8 and "final_val_top2_accuracy" in result.to_pandas()


@pytest.mark.parametrize("name", ["flax_linen_cnn", "flax_nnx_mlp", "equinox_mlp", "plain_jax"])
def test_the_adaptation_is_at_most_fifteen_lines(name):
    text = open(os.path.join(EXAMPLES, f"{name}.py")).read()
    adaptation = re.search(r"# ---- the adaptation to jopt ----\n(.*?)# ---- end", text, re.S)
    lines = [line for line in adaptation.group(1).splitlines() if line.strip()]
    assert len(lines) <= 15, len(lines)


def test_the_cnn_config_names_the_example_factory_with_its_sibling_imports(tmp_path):
    """examples/flax_cnn.toml, read in a fresh process from another folder: its factory
    file imports a module beside it (digits.py), as a script's would."""
    import subprocess
    script = ("import sys; from jopt.sweep.config import from_toml; "
              "config = from_toml(sys.argv[1]); task = config.factory.build({}); "
              "print(config.factory.static, len(config.grid), task.schedule)")
    done = subprocess.run([sys.executable, "-c", script, os.path.join(EXAMPLES, "flax_cnn.toml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["('features',)", "72", "warmup_cosine_decay_schedule"]
