"""Plots of a sweep: curves and heatmap from a small hand-made result with a diverged
learning rate; written as non-empty PNGs, atomically; missing axes degrade."""

import os

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("pyarrow")

from jopt.plot import PlotSkipped, plot_curves, plot_heatmap, plot_sweep
from jopt.sweep.store import Store

import sweep_fixtures as fx

PNG = b"\x89PNG\r\n\x1a\n"


def is_png(path):
    path = os.fspath(path)
    with open(path, "rb") as f:
        return os.path.getsize(path) > 1000 and f.read(8) == PNG


def test_curves_and_heatmap_from_a_result(tmp_path):
    result = fx.result()
    curves = plot_curves(result, tmp_path / "curves.png")
    heatmap = plot_heatmap(result, tmp_path / "heatmap.png")
    assert is_png(curves) and is_png(heatmap)
    assert sorted(os.listdir(tmp_path)) == ["curves.png", "heatmap.png"]  # no temporary files


def test_other_metrics(tmp_path):
    result = fx.result()
    assert is_png(plot_curves(result, tmp_path / "acc.png", metric="val_accuracy"))
    assert is_png(plot_heatmap(result, tmp_path / "acc_map.png", metric="val_accuracy"))
    assert is_png(plot_curves(result, tmp_path / "train.png", metric="train_loss"))


def test_plot_sweep_writes_both_into_the_folder(tmp_path):
    store = Store.open(tmp_path, fx.spec())
    store.finish(*fx.frames())
    paths = plot_sweep(tmp_path)
    assert [p.name for p in paths] == ["curves.png", "heatmap.png"]
    assert all(is_png(p) for p in paths)


def test_plot_sweep_of_partial_results(tmp_path):
    summary, curves = fx.frames()
    store = Store.open(tmp_path, fx.spec())
    store.write_partial(summary.iloc[:5], curves[curves["config"] < 5])
    assert len(plot_sweep(tmp_path)) == 2


def test_heatmap_without_batch_size_is_one_row(tmp_path):
    result = fx.result()
    result.summary = result.summary.drop(columns="batch_size")
    assert is_png(plot_heatmap(result, tmp_path / "row.png"))


def test_heatmap_without_learning_rate_is_skipped(tmp_path, capsys):
    result = fx.result()
    result.summary = result.summary.drop(columns="learning_rate")
    with pytest.raises(PlotSkipped, match="learning_rate"):
        plot_heatmap(result, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    # curves are still drawn, coloured by configuration
    assert is_png(plot_curves(result, tmp_path / "curves.png"))


def test_plot_sweep_skips_with_a_message(tmp_path, capsys):
    summary, curves = fx.frames()
    store = Store.open(tmp_path, fx.spec())
    store.finish(summary.drop(columns="learning_rate"), curves)
    paths = plot_sweep(tmp_path)
    assert [p.name for p in paths] == ["curves.png"]
    assert "heatmap.png" in capsys.readouterr().err


def test_all_diverged_cells_and_missing_metric(tmp_path):
    result = fx.result()
    with pytest.raises(PlotSkipped, match="test_loss"):
        plot_curves(result, tmp_path / "x.png", metric="test_loss")
    summary = result.summary
    summary["status"] = "diverged"
    summary["final_val_loss"] = np.nan
    assert is_png(plot_heatmap(result, tmp_path / "all_diverged.png"))


def test_plot_sweep_without_validation_uses_train_loss(tmp_path):
    summary, curves = fx.frames()
    curves["val_loss"] = np.nan
    curves["val_accuracy"] = np.nan
    summary["final_val_loss"] = np.nan
    store = Store.open(tmp_path, fx.spec())
    store.finish(summary, curves)
    assert len(plot_sweep(tmp_path)) == 2


def test_jopt_plot_into_a_closed_pipe_stops_quietly(tmp_path):
    """``jopt plot DIR | head -0``: the reader leaves before the paths are printed; the
    command stops without a traceback (exit 141, as a process killed by SIGPIPE), its
    plots written."""
    import subprocess
    import sys
    store = Store.open(tmp_path, fx.spec())
    store.finish(*fx.frames())
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    reader, writer = os.pipe()
    os.close(reader)  # nobody will read: the first write fails
    try:
        done = subprocess.run([sys.executable, "-m", "jopt", "plot", str(tmp_path)], env=env,
                              stdout=writer, stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(writer)
    assert done.returncode == 141 and done.stderr == "", done.stderr
    assert is_png(tmp_path / "curves.png")
