"""A small hand-made sweep result (no training): 3 learning rates x 2 batch sizes x 2 seeds,
the largest learning rate diverging, for the store and plot tests."""

import numpy as np
import pandas as pd

from jopt.sweep.grid import Grid
from jopt.sweep.store import SweepResult

LEARNING_RATES = [1e-3, 1e-2, 1.0]
BATCH_SIZES = [8, 32]
SEEDS = [0, 1]
STEPS = [0, 10, 20, 30]
DIVERGED_STEP = 12


def grid() -> Grid:
    return Grid(learning_rate=LEARNING_RATES, batch_size=BATCH_SIZES, seed=SEEDS)


def spec(**changes) -> dict:
    base = {"task": {"model": "mlp", "hidden": [16], "dataset": "digits", "optimizer": "adam"},
            "grid": grid().to_dict(), "budget": {"steps": 30, "eval_every": 10},
            "batch_strategy": "bucket"}
    base.update(changes)
    return base


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary, curves)``: loss falls faster for larger learning rates and batch sizes;
    learning rate 1.0 diverges at step 12 (its curve is NaN from step 20 on)."""
    rows, curve_rows = [], []
    for config, values in enumerate(grid().configs()):
        lr, bs, seed = values["learning_rate"], values["batch_size"], values["seed"]
        diverged = lr == 1.0
        rate = 0.02 * np.log10(lr * 1e4) * (1 + bs / 64)
        losses = [2.3 * np.exp(-rate * s) + 0.01 * seed for s in STEPS]
        if diverged:
            losses = [2.3, 50.0, np.nan, np.nan]
        for step, loss in zip(STEPS, losses):
            curve_rows.append({"config": config, "step": step, "epoch": step * bs / 1000,
                               "examples": step * bs, "train_loss": loss * 0.9,
                               "val_loss": loss, "val_accuracy": np.nan if np.isnan(loss)
                               else 1 - loss / 2.5, "batch_loss": loss * 0.95})
        final = np.nan if diverged else losses[-1]
        rows.append({"config": config, **values,
                     "status": "diverged" if diverged else "finished",
                     "diverged_step": DIVERGED_STEP if diverged else -1,
                     "steps": DIVERGED_STEP if diverged else STEPS[-1],
                     "final_train_loss": final * 0.9, "final_val_loss": final,
                     "final_val_accuracy": 1 - final / 2.5,
                     "best_val_loss": np.nanmin(losses)})
    return pd.DataFrame(rows), pd.DataFrame(curve_rows)


def result(out=None) -> SweepResult:
    summary, curves = frames()
    return SweepResult(summary, curves, {"spec": spec(), "status": "finished"}, out)
