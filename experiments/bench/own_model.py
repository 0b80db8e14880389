"""A user's own model in a sweep: no slower than the built-in task or a hand-written sweep.

    python -m experiments.bench.own_model            # both parts (minutes)
    python -m experiments.bench.own_model --quick    # a smoke run

Part 1, the same MLP 64-128-10 with adam on the digits (16 learning rates x 4 seeds,
batch 32, 500 steps) through ``builtin_task`` and through ``jopt.sweep.task`` built by
hand from ``jopt.models.mlp``: first call (a fresh cache) and steady (a second call)
of each, alternating, and their ratio.

Part 2, the Flax Linen CNN of ``examples/flax_linen_cnn.py`` (AdamW, warmup + cosine;
8 learning rates x 3 weight decays x 3 seeds, batch 64, 300 steps, the validation loss
every 50 steps) through jopt against the sweep a JAX user writes by hand:
``optax.inject_hyperparams(optax.adamw)`` with the schedule written out (optax's
``warmup_cosine_decay_schedule`` takes no traced peak), ``jax.vmap`` over the
configurations and ``lax.scan`` over the steps in one ``jax.jit``.  Each runs in a fresh
process with one host device, and jopt also with one device per core and with its own
device choice (``choose_devices``).  Timings are printed, never asserted; what it
measured goes to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jopt.sweep as sweep
from jopt import data, models
from jopt.devices import usable_cores

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


def flax_linen_cnn():
    """``examples/flax_linen_cnn.py`` (it needs flax, and its folder on the path)."""
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module("flax_linen_cnn")


def mlp_part(rounds: int, steps: int) -> None:
    splits = data.load("digits", seed=0)
    model = models.mlp([64, 128, 10])
    grid = sweep.Grid(learning_rate=sweep.logspace(1e-4, 1e-1, 16), batch_size=[32],
                      seed=sweep.seeds(4))
    budget = sweep.Budget(steps=steps, eval_every=50)
    makers = {
        "builtin": lambda: sweep.builtin_task(model="mlp", hidden=[128], dataset="digits",
                                              optimizer="adam"),
        "user": lambda: sweep.task(model.init, apply=model.apply,
                                   loss="softmax_cross_entropy", data=splits,
                                   optimizer="adam"),
    }
    times = {name: {"first": [], "steady": []} for name in makers}
    losses = {}
    for round_ in range(rounds):
        for name in (list(makers) if round_ % 2 == 0 else list(makers)[::-1]):
            sweep.clear_cache()
            task = makers[name]()
            for kind in ("first", "steady"):
                started = time.perf_counter()
                result = jax.block_until_ready(sweep.run(task, grid, budget=budget, quiet=True))
                times[name][kind].append(time.perf_counter() - started)
            losses[name] = result.to_pandas().final_val_loss.to_numpy()
    median = lambda values: sorted(values)[len(values) // 2]
    for kind in ("first", "steady"):
        b, u = median(times["builtin"][kind]), median(times["user"][kind])
        print(f"MLP {kind:6s}: builtin {b:.2f} s, user task {u:.2f} s, user/builtin {u / b:.2f}x")
    print(f"MLP final val losses equal: {bool(np.allclose(losses['builtin'], losses['user'], rtol=1e-5, equal_nan=True))}")


def cnn_jopt(devices: str, steps: int) -> dict:
    cnn = flax_linen_cnn()
    task = cnn.make_task()
    chosen = None if devices == "auto" else jax.devices()[:int(devices)]
    out = {}
    for kind in ("first", "steady"):
        started = time.perf_counter()
        result = sweep.run(task, cnn.GRID, devices=chosen, quiet=True,
                           budget=sweep.Budget(steps=steps, eval_every=50))
        out[kind] = time.perf_counter() - started
    out["devices"] = len(sweep.choose_devices(chosen, task, len(cnn.GRID)))
    out["best_val_loss"] = float(result.to_pandas().final_val_loss.min())
    return out


def cnn_optax(steps: int) -> dict:
    import optax  # an optional dependency (the test extra)
    cnn = flax_linen_cnn()
    model = cnn.CNN()
    splits = cnn.digits_splits(images=True)
    (x, y), (x_val, y_val) = jax.device_put((splits["train"], splits["val"]))
    configs = cnn.GRID.configs()
    lrs = jnp.array([c["learning_rate"] for c in configs], jnp.float32)
    wds = jnp.array([c["weight_decay"] for c in configs], jnp.float32)
    seeds = jnp.array([c["seed"] for c in configs])
    batch, per_epoch, warmup, decay = 64, len(x) // 64, 30, 300

    def schedule(peak, t):
        t = t.astype(jnp.float32)
        cosine = 0.5 * peak * (1 + jnp.cos(jnp.pi * jnp.minimum(t - warmup, decay - warmup)
                                           / (decay - warmup)))
        return jnp.where(t < warmup, peak * t / warmup, cosine)

    def loss(params, xb, yb):
        logits = model.apply({"params": params}, xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    def train(lr, wd, seed):
        init_key, batch_key = jax.random.split(jax.random.PRNGKey(seed))
        params = model.init(init_key, jnp.zeros((1, 8, 8, 1)))["params"]
        opt = optax.inject_hyperparams(optax.adamw)(learning_rate=0.0, weight_decay=wd)
        state = opt.init(params)

        def step(carry, t):
            params, state = carry
            order = data.epoch_permutation(batch_key, t // per_epoch, len(x))
            idx = jax.lax.dynamic_slice_in_dim(order, (t % per_epoch) * batch, batch)
            value, grads = jax.value_and_grad(loss)(params, x[idx], y[idx])
            state.hyperparams["learning_rate"] = schedule(lr, t)
            updates, state = opt.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), value

        def block(carry, first):
            carry, _ = jax.lax.scan(step, carry, first + jnp.arange(50))
            return carry, loss(carry[0], x_val, y_val)

        (params, _), val = jax.lax.scan(block, (params, state), 50 * jnp.arange(steps // 50))
        return val[-1]

    program = jax.jit(jax.vmap(train))
    out = {}
    for kind in ("first", "steady"):
        started = time.perf_counter()
        val = jax.block_until_ready(program(lrs, wds, seeds))
        out[kind] = time.perf_counter() - started
    out["best_val_loss"] = float(jnp.nanmin(val))
    return out


def fresh(mode: str, devices: int, steps: int) -> dict:
    """One measurement in a fresh process with ``devices`` host devices."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(steps)],
                          env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--part", choices=("mlp", "cnn", "both"), default="both")
    parser.add_argument("--child", default=None)
    args = parser.parse_args(argv)
    if args.child:
        kind, _, devices = args.child.partition(":")
        result = cnn_optax(args.steps) if kind == "optax" else cnn_jopt(devices, args.steps)
        print(json.dumps(result))
        return
    cores = usable_cores()
    print(f"load average {os.getloadavg()[0]:.1f}, {cores} cores")
    if args.part in ("mlp", "both"):
        mlp_part(1 if args.quick else args.rounds, args.steps or (40 if args.quick else 500))
    if args.part in ("cnn", "both"):
        steps = args.steps or (50 if args.quick else 300)
        optax_run = fresh("optax", 1, steps)
        runs = {"one device": fresh("jopt:1", 1, steps),
                f"{cores} devices": fresh(f"jopt:{cores}", cores, steps),
                "jopt's choice": fresh("jopt:auto", cores, steps)}
        print(f"CNN hand-written optax sweep, one device: first {optax_run['first']:.1f} s, "
              f"steady {optax_run['steady']:.1f} s, best val loss {optax_run['best_val_loss']:.4f}")
        for name, run in runs.items():
            print(f"CNN jopt, {name} ({run['devices']} used): first {run['first']:.1f} s "
                  f"({run['first'] / optax_run['first']:.2f}x), steady {run['steady']:.1f} s "
                  f"({run['steady'] / optax_run['steady']:.2f}x), best val loss "
                  f"{run['best_val_loss']:.4f}")


if __name__ == "__main__":
    main()
