"""Plots of a sweep's results: loss curves, a learning-rate x batch-size heatmap and,
for a sweep with successive halving, its rungs; for population-based training, the
population's hyperparameters over time and the best configuration's schedule.

Each function takes a :class:`jopt.sweep.store.SweepResult` or an output folder, draws on
a matplotlib ``Figure`` with the Agg canvas (no pyplot, no global backend change, so it
is safe inside notebooks and on machines without a display) and writes a PNG
atomically.  ``jopt plot OUT_DIR`` calls :func:`plot_sweep`.

A plot that cannot be drawn (no such metric, no learning-rate axis for the heatmap)
raises :class:`PlotSkipped` with a one-line reason; :func:`plot_sweep` prints it and
draws the others.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

__all__ = ["plot_curves", "plot_heatmap", "plot_rungs", "plot_pbt", "plot_sweep", "PlotSkipped",
           "reached_rungs"]

from jopt.sweep.store import SweepResult, atomic_write, load

PathLike = Union[str, os.PathLike]


class PlotSkipped(ValueError):
    """A plot that the results do not allow (a missing metric or axis)."""


def _result(result: Any):
    return result if isinstance(result, SweepResult) else load(result)


def _save(fig: Any, path: PathLike) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, buffer.getvalue())


def _label(name: str) -> str:
    return name.replace("_", " ")


def _format(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.2g}"
    return str(value)


def _diverged(summary: Any) -> Any:
    if "status" in summary.columns:
        return summary["status"] == "diverged"
    return np.zeros(len(summary), bool)


def plot_curves(result: Any, path: PathLike, metric: str = "val_loss", *,
                color_by: str = "learning_rate") -> Path:
    """``metric`` against the step, one line per configuration, written to ``path``.

    Lines are coloured by ``color_by`` (the learning rate) on a log colour scale with a
    colour bar, or by configuration when there is no such axis.  The y axis is
    logarithmic when every value is positive.  A diverged configuration's line ends at
    its divergence, marked with an x.
    """
    import matplotlib
    from matplotlib import cm, colors
    from matplotlib.figure import Figure

    result = _result(result)
    curves = result.curves_frame
    if metric not in curves.columns or curves[metric].notna().sum() == 0:
        raise PlotSkipped(f"no {metric} values in the curves; nothing to plot")
    wide = result.curves(metric)
    summary = result.summary.set_index("config") if "config" in result.summary.columns else None
    values = None
    if summary is not None and color_by in summary.columns:
        values = summary[color_by].reindex(wide.columns).to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            values = None
    if values is not None and np.all(values > 0) and values.min() < values.max():
        norm = colors.LogNorm(values.min(), values.max())
    elif values is not None:
        norm = colors.Normalize(values.min(), values.max() if values.max() > values.min()
                                else values.min() + 1)
    else:
        values = np.arange(len(wide.columns), dtype=float)
        norm = colors.Normalize(0, max(len(values) - 1, 1))
    cmap = matplotlib.colormaps["viridis"]
    diverged = set()
    if summary is not None and "status" in summary.columns:
        diverged = set(summary.index[summary["status"] == "diverged"])

    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.add_subplot()
    alpha = 0.8 if len(wide.columns) <= 20 else 0.5
    for value, config in zip(values, wide.columns):
        line = wide[config].dropna()
        if line.empty:
            continue
        ax.plot(line.index, line.to_numpy(), color=cmap(norm(value)), lw=1.0, alpha=alpha)
        if config in diverged:
            ax.plot(line.index[-1], line.iloc[-1], "x", color="tab:red", ms=6)
    finite = wide.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size and np.all(finite > 0):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(_label(metric))
    title = f"{_label(metric)} of {len(wide.columns)} configurations"
    if diverged:
        title += f" ({len(diverged)} diverged, x)"
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    mappable = cm.ScalarMappable(norm=norm, cmap=cmap)
    colorbar = fig.colorbar(mappable, ax=ax)
    colorbar.set_label(_label(color_by) if summary is not None and color_by in summary.columns
                       else "configuration")
    return _save(fig, path)


def plot_heatmap(result: Any, path: PathLike, metric: str = "val_loss",
                 x: str = "learning_rate", y: Optional[str] = "batch_size") -> Path:
    """The final ``metric`` on an ``x`` by ``y`` grid, averaged over seeds and other axes.

    Each cell is the mean over its configurations that did not diverge; a cell whose
    configurations all diverged is drawn in a distinct colour with an x, and a cell
    where some diverged says how many.  Without a ``y`` axis in the results the heatmap
    is a single row; without an ``x`` axis it raises :class:`PlotSkipped`.
    """
    import matplotlib
    from matplotlib import colors
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    result = _result(result)
    summary = result.summary
    try:
        column = result.metric_column(metric)
    except ValueError as error:
        raise PlotSkipped(str(error)) from None
    if x not in summary.columns:
        raise PlotSkipped(f"no {x!r} axis in the results; no heatmap")
    frame = summary.copy()
    if y is None or y not in frame.columns:
        y_label = "(all configurations)"
        frame["_row"] = ""
        y = "_row"
    else:
        y_label = _label(y)
    frame["_diverged"] = np.asarray(_diverged(frame), bool)
    frame["_value"] = frame[column].where(~frame["_diverged"])
    grouped = frame.groupby([y, x], sort=True)
    mean = grouped["_value"].mean().unstack(x)
    count = grouped.size().unstack(x)
    n_diverged = grouped["_diverged"].sum().unstack(x)
    xs, ys = list(mean.columns), list(mean.index)
    values = mean.to_numpy(dtype=float)
    all_diverged = (n_diverged.to_numpy() == count.to_numpy()) & (count.to_numpy() > 0)

    averaged = [c for c in result.axes if c not in (x, y)]
    higher_better = "accuracy" in column
    cmap = matplotlib.colormaps["viridis" if higher_better else "viridis_r"].with_extremes(
        bad="lightgray")
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite > 0) and finite.max() / finite.min() > 10:
        norm = colors.LogNorm(finite.min(), finite.max())
    elif finite.size:
        norm = colors.Normalize(finite.min(), finite.max() if finite.max() > finite.min()
                                else finite.min() + 1)
    else:
        norm = colors.Normalize(0, 1)

    fig = Figure(figsize=(max(5.0, 0.62 * len(xs) + 2.5), max(2.4, 0.55 * len(ys) + 1.8)))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="auto",
                      origin="lower")
    if all_diverged.any():
        overlay = np.where(all_diverged, 1.0, np.nan)
        ax.imshow(np.ma.masked_invalid(overlay), cmap=colors.ListedColormap(["#f4a6a6"]),
                  aspect="auto", origin="lower", vmin=0, vmax=1)
    small = 7 if len(xs) <= 12 else 6
    for i in range(len(ys)):
        for j in range(len(xs)):
            if all_diverged[i, j]:
                ax.plot(j, i, "x", color="darkred", ms=10, mew=2)
                continue
            if not np.isfinite(values[i, j]):
                continue
            text = f"{values[i, j]:.3g}"
            k = int(n_diverged.iat[i, j])
            if k:
                text += f"\n{k}/{int(count.iat[i, j])} div"
            shade = image.cmap(image.norm(values[i, j]))
            ink = "black" if 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2] > 0.5 else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize=small, color=ink)
    ax.set_xticks(range(len(xs)), [_format(v) for v in xs], rotation=45 if len(xs) > 6 else 0,
                  ha="right" if len(xs) > 6 else "center")
    ax.set_yticks(range(len(ys)), [_format(v) for v in ys])
    ax.set_xlabel(_label(x))
    ax.set_ylabel(y_label)
    title = f"final {_label(metric)}"
    if averaged:
        title += ", mean over " + ", ".join(f"{summary[a].nunique()} {_label(a)}s" for a in averaged)
    ax.set_title(title)
    colorbar = fig.colorbar(image, ax=ax)
    colorbar.set_label(_label(column))
    if all_diverged.any():
        ax.legend(handles=[Patch(facecolor="#f4a6a6", edgecolor="darkred", label="diverged")],
                  loc="upper left", bbox_to_anchor=(0, -0.25 if len(xs) > 6 else -0.15),
                  fontsize=small, frameon=False)
    return _save(fig, path)


def plot_rungs(result: Any, path: PathLike, metric: Optional[str] = None) -> Path:
    """Successive halving's rungs: ``metric`` (default: the one halving ranked by)
    against the budget in steps, one line per configuration, coloured by the last rung
    it reached (:func:`reached_rungs`; grey: none); a pruned configuration's line ends at
    its rung (a dot), the rungs are dashed vertical lines labelled with how many
    configurations reached them (one that diverged before a rung did not).  With
    HyperBand's brackets (the summary's ``bracket``), one panel per bracket, sharing the
    axes, each with the rungs from its first on."""
    from matplotlib.figure import Figure

    result = _result(result)
    halving = result.manifest.get("halving")
    if not halving or "rung" not in result.summary.columns:
        raise PlotSkipped("the sweep used no successive halving; no rungs to plot")
    metric = metric or halving.get("metric", "val_loss")
    if metric not in result.curves_frame.columns or result.curves_frame[metric].notna().sum() == 0:
        raise PlotSkipped(f"no {metric} values in the curves; nothing to plot")
    wide = result.curves(metric)
    summary = result.summary.set_index("config")
    rung = summary["rung"].reindex(wide.columns).to_numpy()
    bracket = summary["bracket"].reindex(wide.columns).to_numpy() \
        if "bracket" in summary.columns else np.zeros(len(rung), np.int64)
    rungs = sorted({int(step) for steps in halving.get("rungs", {}).values() for step in steps})
    reached = reached_rungs(rung, summary["steps"].reindex(wide.columns).to_numpy(), rungs)
    diverged = (summary["status"].reindex(wide.columns) == "diverged").to_numpy()

    def counted(mine):
        return (f"{int(mine.sum())} configurations, {int((rung[mine] >= 0).sum())} pruned"
                + (f", {int(diverged[mine].sum())} diverged" if diverged[mine].any() else ""))
    brackets = sorted(set(bracket.tolist()))

    fig = Figure(figsize=(7.5 if len(brackets) == 1 else 4.2 * len(brackets) + 1, 4.8))
    panels = fig.subplots(1, len(brackets), sharex=True, sharey=True, squeeze=False)[0]
    for ax, first in zip(panels, brackets):
        mine = bracket == first
        _draw_rungs(ax, wide.loc[:, mine], rung[mine], reached[mine], rungs, first)
        if len(brackets) > 1:
            ax.set_title(f"bracket {first}: {counted(mine)}", pad=14, fontsize=9)
    finite = wide.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size and np.all(finite > 0):
        panels[0].set_yscale("log")
    panels[0].set_ylabel(_label(metric))
    title = counted(np.ones(len(rung), bool))
    if len(brackets) > 1:
        fig.suptitle(f"HyperBand (eta = {halving.get('eta')}, {len(brackets)} brackets): {title}")
    else:
        panels[0].set_title(f"successive halving (eta = {halving.get('eta')}): {title}", pad=14)
    panels[0].legend(handles=_rung_legend(rungs), fontsize=8, loc="best")
    return _save(fig, path)


def reached_rungs(rung: np.ndarray, steps: np.ndarray, rungs: list) -> np.ndarray:
    """The index of the last rung each configuration reached (-1: none): a pruned one's
    ``rung``; the others' last rung within the ``steps`` they trained (a survivor's, the
    last; one that diverged or stopped early, an earlier one or none)."""
    trained = np.searchsorted(np.asarray(rungs), np.asarray(steps), side="right") - 1
    return np.where(np.asarray(rung) >= 0, rung, trained)


def _rung_colour(k: int, rungs: list) -> Any:
    import matplotlib
    if k < 0:  # stopped (diverged) before the first rung
        return "0.6"
    return matplotlib.colormaps["viridis"](k / max(len(rungs) - 1, 1))


def _rung_legend(rungs: list) -> list:
    from matplotlib.lines import Line2D
    return [Line2D([], [], color=_rung_colour(k, rungs), label=f"reached rung {k} ({step} steps)")
            for k, step in enumerate(rungs)]


def _draw_rungs(ax: Any, wide: Any, rung: np.ndarray, reached: np.ndarray, rungs: list,
                first: int) -> None:
    """One panel of :func:`plot_rungs`: the configurations of ``wide`` (columns) and the
    rungs from ``first`` (their bracket's first) on."""
    for config, k, pruned in zip(wide.columns, reached, rung >= 0):
        line = wide[config].dropna()
        if line.empty:
            continue
        colour = _rung_colour(k, rungs)
        ax.plot(line.index, line.to_numpy(), color=colour, lw=0.8 if pruned else 1.8,
                alpha=0.6 if pruned else 0.95)
        if pruned:
            ax.plot(line.index[-1], line.iloc[-1], "o", color=colour, ms=3)
    for k, step in enumerate(rungs[first:], start=first):
        ax.axvline(step, color="0.5", ls="--", lw=0.8)
        ax.annotate(f"{int((reached >= k).sum())}", (step, 1.0), xycoords=("data", "axes fraction"),
                    ha="center", va="bottom", fontsize=8, color="0.3")
    ax.set_xlabel("budget (steps)")
    ax.grid(True, which="major", alpha=0.3)


def _timelines(result: Any, name: str, end: int) -> dict:
    """Each configuration's own value of ``name`` over the steps: ``(steps, values)`` of a
    step function starting at its initial value, changed at each of its exploits."""
    lines = {int(c): ([0], [v]) for c, v in zip(result.summary["config"], result.summary[name])}
    for event in sorted(result.manifest["pbt"]["events"], key=lambda e: e["step"]):
        steps, values = lines[int(event["config"])]
        steps.append(int(event["step"]))
        values.append(event["hparams"][name])
    return {c: (steps + [end], values + [values[-1]]) for c, (steps, values) in lines.items()}


def plot_pbt(result: Any, path: PathLike, hyperparameter: Optional[str] = None,
             metric: Optional[str] = None) -> Path:
    """Population-based training: left, every configuration's ``hyperparameter`` (default
    the learning rate when perturbed, else the first perturbed one) over the steps,
    coloured by its final ``metric`` (default: the one PBT ranked by), each exploit a
    cross; right, the schedule that trained the best configuration's final state
    (:meth:`SweepResult.schedule`), each piece labelled with the configuration whose
    training it was."""
    import matplotlib
    from matplotlib.figure import Figure

    result = _result(result)
    record = result.manifest.get("pbt")
    if not record:
        raise PlotSkipped("the sweep used no population-based training; no schedules to plot")
    perturbed = record.get("hyperparameters") or [
        n for n in record["traced"] if n not in ("seed", "batch_size")]
    name = hyperparameter or ("learning_rate" if "learning_rate" in perturbed else perturbed[0])
    if name not in record["traced"]:
        raise PlotSkipped(f"{name!r} is not a traced hyperparameter of this sweep")
    metric = metric or record.get("metric", "val_loss")
    column = result.metric_column(metric)
    mode = record.get("mode", "min")
    end = int(result.curves_frame["step"].max()) if len(result.curves_frame) else 0
    final = result.summary.set_index("config")[column]
    finite = final[np.isfinite(final.to_numpy(dtype=float))]
    if finite.empty:
        raise PlotSkipped(f"no finite {column}; nothing to rank")
    cmap = matplotlib.colormaps["viridis" if mode == "min" else "viridis_r"]
    low, high = float(finite.min()), float(finite.max())
    color = lambda v: cmap(0.5 if high == low or not np.isfinite(v) else (v - low) / (high - low))

    fig = Figure(figsize=(11, 4.4), layout="constrained")
    population, best_ax = fig.subplots(1, 2, sharey=True)
    lines = _timelines(result, name, end)
    for config, (steps, values) in lines.items():
        population.step(steps, values, where="post", color=color(float(final[config])), lw=1, alpha=0.8)
    events = record["events"]
    population.plot([e["step"] for e in events], [e["hparams"][name] for e in events], "x",
                    color="crimson", ms=4, label=f"exploit ({len(events)})")
    best = int(finite.idxmin() if mode == "min" else finite.idxmax())
    pieces = result.schedule(best)
    steps = list(pieces["step"]) + [end]
    values = list(pieces[name]) + [pieces[name].iloc[-1]]
    best_ax.step(steps, values, where="post", color="black", lw=1.8)
    for _, piece in pieces.iterrows():
        best_ax.annotate(f"config {int(piece['config'])}", (piece["step"], piece[name]),
                         textcoords="offset points", xytext=(2, 4), fontsize=7)
    every = np.array([v for _, vs in lines.values() for v in vs], float)
    for ax in (population, best_ax):
        if every.size and np.all(every > 0) and every.max() / every.min() > 10:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    population.set_ylabel(_label(name))
    population.set_title(f"population: {len(lines)} configurations, interval {record['interval']}",
                         fontsize=10)
    population.legend(fontsize=8, loc="best")
    best_ax.set_title(f"schedule of the best (config {best}, {_label(column)} "
                      f"{float(final[best]):.4g})", fontsize=10)
    mappable = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(low, high), cmap=cmap)
    fig.colorbar(mappable, ax=[population, best_ax]).set_label(_label(column))
    return _save(fig, path)


def plot_sweep(out_dir: PathLike, *, metric: Optional[str] = None, quiet: bool = False) -> list[Path]:
    """Write ``curves.png``, ``heatmap.png`` and, for a sweep with successive halving,
    ``rungs.png`` (with population-based training ``pbt.png``) into ``out_dir``; return
    the paths written.

    ``metric`` defaults to ``val_loss`` when the sweep has validation losses, else
    ``train_loss``.  A plot the results do not allow is skipped with a message on
    stderr (unless ``quiet``).
    """
    out = Path(out_dir)
    result = load(out)
    if metric is None:
        metric = next((m for m in ("val_loss", "train_loss", "batch_loss")
                       if m in result.curves_frame.columns
                       and result.curves_frame[m].notna().any()), "val_loss")
    written = []
    plots = [("curves.png", lambda p: plot_curves(result, p, metric)),
             ("heatmap.png", lambda p: plot_heatmap(result, p, metric))]
    if result.manifest.get("halving"):
        plots.append(("rungs.png", lambda p: plot_rungs(result, p)))
    if result.manifest.get("pbt"):
        plots.append(("pbt.png", lambda p: plot_pbt(result, p)))
    for name, draw in plots:
        try:
            written.append(draw(out / name))
        except PlotSkipped as reason:
            if not quiet:
                print(f"jopt plot: skipped {name}: {reason}", file=sys.stderr)
    return written
