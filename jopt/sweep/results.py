"""Tables of a sweep: the per-config summary and the tidy curves, from the runner's arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["assemble", "status_names", "summary_name"]


def status_names(active: np.ndarray, diverged: np.ndarray, rung: Any = None) -> np.ndarray:
    """``"diverged"``, ``"pruned"`` (successive halving stopped it at rung ``rung >= 0``),
    ``"stopped_early"`` (inactive, not diverged) or ``"finished"``."""
    pruned = np.zeros(np.shape(active), bool) if rung is None else np.asarray(rung) >= 0
    return np.where(diverged, "diverged", np.where(
        pruned, "pruned", np.where(active, "finished", "stopped_early")))


SUMMARY_PREFIXES = {"last": "final", "best": "best", "polyak": "polyak", "ema": "ema"}


def summary_name(metric: str) -> str:
    """The summary column of a final metric ``"<metric>/<which>"``: ``final_<metric>`` (at
    the last evaluation), ``best_<metric>`` (at the evaluation of the best validation
    loss), ``polyak_<metric>``, ``ema_<metric>`` (the averaged iterates)."""
    name, _, which = metric.partition("/")
    return f"{SUMMARY_PREFIXES.get(which, which)}_{name}" if which else name


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
        summary["status"] = status_names(active, diverged, part.get("rung"))
        for column in ("rung", "bracket"):  # successive halving's
            if column in part:
                summary[column] = np.asarray(part[column]).astype(np.int64)
        summary.update(part.get("columns", {}))  # PBT's lineage: exploits, parent
        summary["diverged_step"] = np.where(diverged, stop_step, -1).astype(np.int64)
        summary["stop_step"] = np.asarray(stop_step).astype(np.int64)
        # steps trained: where training stopped (early, or diverged), else the last evaluation's
        summary["steps"] = np.where(summary["stop_step"] >= 0, summary["stop_step"],
                                    take(steps)).astype(np.int64)
        for metric, values in rows.items():
            if metric != "step":
                summary[f"final_{metric}"] = take(values)
        if "val_loss" in rows:
            val = np.where(np.isfinite(rows["val_loss"]), rows["val_loss"], np.inf)
            best = np.argmin(val, axis=1)
            at_best = lambda values: values[np.arange(len(values)), best]
            summary["best_val_loss"] = val[np.arange(len(val)), best]
            summary["best_step"] = at_best(steps).astype(np.int64)
            for metric, values in rows.items():
                if metric.startswith("val_") and metric != "val_loss":
                    summary[f"best_{metric}"] = at_best(values)
        for name, values in part["final"].items():
            summary.setdefault(summary_name(name), values)
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
