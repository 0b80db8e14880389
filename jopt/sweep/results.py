"""Tables of a sweep: the per-config summary and the tidy curves, from the runner's arrays."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["assemble", "one_shot", "status_names"]


def status_names(active: np.ndarray, diverged: np.ndarray) -> np.ndarray:
    """``"diverged"``, ``"stopped_early"`` (inactive, not diverged) or ``"finished"``."""
    return np.where(diverged, "diverged", np.where(active, "finished", "stopped_early"))


def assemble(results: list[dict], grid: Any):
    """``(summary, curves)`` DataFrames from the runner's per-bucket results."""
    summaries, curves = [], []
    axis_names = list(grid.axes)
    for part in results:
        active, diverged, stop_step = part["status"]
        indices = np.asarray(part["indices"])
        # columns gathered in dicts, each table made at once (pandas inserts columns slowly)
        summary = {"config": indices}
        for name in axis_names:
            summary[name] = [config[name] for config in part["configs"]]
        rows = part["rows"]
        steps = rows["step"]
        filled = np.isfinite(steps)
        last = np.where(filled.any(axis=1), filled.shape[1] - 1 - np.argmax(filled[:, ::-1], axis=1), 0)
        take = lambda values: values[np.arange(len(values)), last]
        summary["status"] = status_names(active, diverged)
        summary["diverged_step"] = np.where(diverged, stop_step, -1).astype(np.int64)
        summary["steps"] = take(steps).astype(np.int64)
        for metric in ("train_loss", "val_loss", "val_accuracy", "batch_loss"):
            if metric in rows:
                summary[f"final_{metric}"] = take(rows[metric])
        if "val_loss" in rows:
            val = np.where(np.isfinite(rows["val_loss"]), rows["val_loss"], np.inf)
            best = np.argmin(val, axis=1)
            summary["best_val_loss"] = val[np.arange(len(val)), best]
            summary["best_step"] = steps[np.arange(len(val)), best].astype(np.int64)
            if "val_accuracy" in rows:
                summary["best_val_accuracy"] = rows["val_accuracy"][np.arange(len(val)), best]
        for name, values in part["final"].items():
            summary[name.replace("/", "_")] = values
        summaries.append(summary)

        config_index, row_index = np.nonzero(filled)
        curve = {"config": indices[config_index],
                 "step": steps[config_index, row_index].astype(np.int64)}
        curve["epoch"] = curve["step"] / part["steps_per_epoch"][config_index]
        curve["examples"] = curve["step"] * part["batch_size"][config_index]
        for metric, values in rows.items():
            if metric != "step":
                curve[metric] = values[config_index, row_index]
        curves.append(curve)
    return _ordered_frame(summaries, ["config"]), _ordered_frame(curves, ["config", "step"])


def _ordered_frame(tables: list[dict], keys: list[str]):
    """One DataFrame of the tables (dicts of columns), its rows in the order of ``keys``
    (unique together).  A single bucket's rows already are; pandas' ``concat`` and
    ``sort_values`` would cost more than the rest of a small sweep's result tables."""
    import pandas as pd
    frame = pd.DataFrame(tables[0]) if len(tables) == 1 else \
        pd.concat([pd.DataFrame(table) for table in tables], ignore_index=True)
    order = np.lexsort([frame[key].to_numpy() for key in reversed(keys)])
    if np.any(order != np.arange(len(order))):
        frame = frame.take(order).reset_index(drop=True)
    return frame


def one_shot(task, grid, configs, static, mesh, *, out, overwrite, budget, spec):
    """A plain task ``(hparams, key) -> metrics``: one vmapped call per bucket, no chunks."""
    import pandas as pd
    from jopt.sweep.runner import (_buckets, _config_key, _host, _open_store, _pad, _shard,
                                   _slice_size, _stack)
    from jopt.sweep.store import SweepResult

    traced, static_names = grid.split(static=static)
    spec = {"task": getattr(task, "__name__", repr(task)), "grid": grid.to_dict(),
            "budget": budget._asdict(), "static": static_names, **(spec or {})}
    store = _open_store(out, spec, overwrite)
    tables = []
    for static_values, indices in _buckets(configs, static_names):
        part = [configs[i] for i in indices]
        size = _slice_size(len(part), mesh.devices.size, None)
        hparams = _shard({k: _pad(v, size) for k, v in _stack(part, traced).items()}, mesh)

        def one(h):
            return task({**static_values, **h}, _config_key(h, static_values))
        metrics = jax.jit(jax.vmap(one))(hparams)
        table = {"config": np.asarray(indices)}
        for name in grid.axes:
            table[name] = [c[name] for c in part]
        for name, values in metrics.items():
            table[name] = _host(values)[:len(part)]
        table["status"] = np.full(len(part), "finished")
        tables.append(table)
    summary = _ordered_frame(tables, ["config"])
    curves = pd.DataFrame({"config": pd.Series(dtype=np.int64), "step": pd.Series(dtype=np.int64)})
    if store is not None:
        store.finish(summary, curves)
    return SweepResult(summary, curves, store.manifest if store is not None else {"spec": spec}, out)
