"""The sweep result store: atomic writes, spec hashing, resume, refusal of another spec,
reading partial results back, and SweepResult's queries on a hand-made result."""

import json
import os

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyarrow")

from jopt.sweep import store as store_module
from jopt.sweep.store import (SPEC_VERSION, SpecMismatchError, Store, SweepResult, atomic_write,
                              load, spec_hash)

import sweep_fixtures as fx


def no_temporary_files(folder):
    leftovers = [os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
                 if name.endswith(".tmp") or name.startswith(".")]
    assert leftovers == []


# ----------------------------------------------------------------------------
# spec_hash
# ----------------------------------------------------------------------------


def test_spec_hash_ignores_key_order_and_sees_values():
    a = {"task": {"model": "mlp", "dataset": "digits"}, "budget": {"steps": 10}}
    b = {"budget": {"steps": 10}, "task": {"dataset": "digits", "model": "mlp"}}
    assert spec_hash(a) == spec_hash(b)
    assert len(spec_hash(a)) == 64
    assert spec_hash(a) != spec_hash({**a, "budget": {"steps": 11}})
    # NumPy scalars and tuples hash as the plain values they stand for
    assert spec_hash({"x": np.float64(0.5), "y": (1, 2)}) == spec_hash({"x": 0.5, "y": [1, 2]})
    assert SPEC_VERSION >= 1


def test_spec_hash_of_a_grid_is_its_description():
    grid = fx.grid()
    assert spec_hash({"grid": grid}) == spec_hash({"grid": grid.to_dict()})


def test_spec_with_an_unserializable_value_is_refused():
    with pytest.raises(TypeError, match=r"spec\.task\.data"):
        spec_hash({"task": {"data": object()}})


# ----------------------------------------------------------------------------
# Store.open: new, resume, mismatch, overwrite
# ----------------------------------------------------------------------------


def test_open_creates_the_folder_and_a_manifest(tmp_path):
    out = tmp_path / "deep" / "sweep"
    store = Store.open(out, fx.spec())
    assert not store.resumed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec_hash"] == spec_hash(fx.spec()) == store.hash
    assert manifest["spec"]["budget"] == {"steps": 30, "eval_every": 10}
    assert manifest["status"] == "running"
    assert set(manifest["versions"]) >= {"jopt", "jax", "jaxlib", "numpy", "python"}
    assert manifest["devices"] and all(isinstance(d, str) for d in manifest["devices"])
    assert manifest["created"] and manifest["updated"]
    no_temporary_files(out)


def test_same_spec_resumes_and_keeps_checkpoints(tmp_path):
    first = Store.open(tmp_path, fx.spec())
    first.save_checkpoint("b0", {"step": np.asarray(20), "params": np.arange(6.0).reshape(2, 3)})
    created = first.manifest["created"]

    again = Store.open(tmp_path, fx.spec())
    assert again.resumed
    assert again.manifest["created"] == created
    assert again.manifest["resumes"] == 1
    saved = again.load_checkpoint("b0")
    assert set(saved) == {"step", "params"}
    assert int(saved["step"]) == 20
    np.testing.assert_array_equal(saved["params"], np.arange(6.0).reshape(2, 3))
    assert again.load_checkpoint("b1") is None
    assert again.checkpoints() == ["b0"]


def test_another_spec_is_refused_in_one_line_naming_the_folder(tmp_path):
    Store.open(tmp_path, fx.spec()).save_checkpoint("b0", {"x": np.ones(3)})
    before = (tmp_path / "manifest.json").read_text()
    other = fx.spec(budget={"steps": 60, "eval_every": 10})
    with pytest.raises(SpecMismatchError) as error:
        Store.open(tmp_path, other)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "--overwrite" in message
    assert isinstance(error.value, ValueError)
    # nothing was touched
    assert (tmp_path / "manifest.json").read_text() == before
    assert (tmp_path / "checkpoints" / "b0.npz").exists()


def test_overwrite_removes_the_old_results_first(tmp_path):
    old = Store.open(tmp_path, fx.spec())
    old.save_checkpoint("b0", {"x": np.ones(3)})
    old.finish(*fx.frames())
    (tmp_path / "curves.png").write_bytes(b"old plot")
    (tmp_path / "notes.txt").write_text("the user's own file")

    new = Store.open(tmp_path, fx.spec(budget={"steps": 60}), overwrite=True)
    assert not new.resumed
    assert new.load_checkpoint("b0") is None
    for name in ("summary.parquet", "curves.parquet", "curves.png"):
        assert not (tmp_path / name).exists()
    assert (tmp_path / "notes.txt").exists()  # only the store's own files go
    assert json.loads((tmp_path / "manifest.json").read_text())["spec_hash"] == new.hash


def test_open_refuses_a_file(tmp_path):
    path = tmp_path / "a_file"
    path.write_text("x")
    with pytest.raises(ValueError, match="a_file"):
        Store.open(path, fx.spec())


# ----------------------------------------------------------------------------
# Atomic writes
# ----------------------------------------------------------------------------


def test_writes_leave_no_temporary_files(tmp_path):
    store = Store.open(tmp_path, fx.spec())
    for step in range(3):
        store.save_checkpoint("b0", {"step": np.asarray(step), "w": np.full((4, 4), step)})
        store.save_checkpoint("b1.s0", {"step": np.asarray(step)})
        store.write_partial(*fx.frames())
    store.finish(*fx.frames())
    no_temporary_files(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["checkpoints", "curves.parquet", "manifest.json",
                                            "summary.parquet"]
    assert int(store.load_checkpoint("b0")["step"]) == 2


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "data.bin"
    atomic_write(path, b"old")

    def half_write(f):
        f.write(b"new, but then")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_write)
    assert path.read_bytes() == b"old"
    no_temporary_files(tmp_path)


def test_checkpoint_failure_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    store = Store.open(tmp_path, fx.spec())
    store.save_checkpoint("b0", {"step": np.asarray(1)})

    def broken_savez(f, **arrays):
        f.write(b"PK partial zip")
        raise OSError("disk full")

    monkeypatch.setattr(store_module.np, "savez", broken_savez)
    with pytest.raises(OSError):
        store.save_checkpoint("b0", {"step": np.asarray(2)})
    monkeypatch.undo()
    assert int(store.load_checkpoint("b0")["step"]) == 1
    no_temporary_files(tmp_path)


@pytest.mark.parametrize("bucket", ["", "../escape", "a/b", ".hidden", None])
def test_bad_bucket_names_are_refused(tmp_path, bucket):
    store = Store.open(tmp_path, fx.spec())
    with pytest.raises(ValueError, match="bucket"):
        store.save_checkpoint(bucket, {"x": np.ones(2)})


def test_object_arrays_are_refused_in_checkpoints(tmp_path):
    store = Store.open(tmp_path, fx.spec())
    with pytest.raises(ValueError, match="'bad'"):
        store.save_checkpoint("b0", {"bad": np.array([{"a": 1}], dtype=object)})


# ----------------------------------------------------------------------------
# load: finished and partial sweeps
# ----------------------------------------------------------------------------


def test_load_reads_partial_results_back(tmp_path):
    summary, curves = fx.frames()
    store = Store.open(tmp_path, fx.spec())
    store.write_partial(summary.iloc[:6], curves[curves["config"] < 6])

    partial = load(tmp_path)
    assert partial.status == "running"
    assert len(partial) == 6
    pd.testing.assert_frame_equal(partial.summary, summary.iloc[:6].reset_index(drop=True))
    assert set(partial.curves_frame["config"]) == set(range(6))

    store.finish(summary, curves)
    done = load(tmp_path)
    assert done.status == "finished" and "finished" in done.manifest
    pd.testing.assert_frame_equal(done.summary, summary)
    pd.testing.assert_frame_equal(done.curves_frame, curves)
    assert done.out == tmp_path
    assert done.axes == ["learning_rate", "batch_size", "seed"]


def test_load_before_the_first_chunk_gives_empty_frames(tmp_path):
    Store.open(tmp_path, fx.spec())
    result = load(tmp_path)
    assert result.status == "running"
    assert len(result.summary) == 0 and len(result.curves_frame) == 0


def test_load_without_a_manifest_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load(tmp_path / "nowhere")


# ----------------------------------------------------------------------------
# SweepResult on a hand-made result
# ----------------------------------------------------------------------------


def test_to_pandas_is_the_summary():
    result = fx.result()
    frame = result.to_pandas()
    assert len(frame) == 12
    assert {"config", "learning_rate", "batch_size", "seed", "status", "diverged_step"} <= set(frame)
    assert set(frame["status"]) == {"finished", "diverged"}


def test_best_excludes_diverged_and_sorts():
    result = fx.result()
    best = result.best("val_loss")
    assert len(best) == 1
    row = best.iloc[0]
    # the fastest non-diverged descent: lr 1e-2, batch 32, seed 0
    assert (row["learning_rate"], row["batch_size"], row["seed"]) == (1e-2, 32, 0)
    assert row["final_val_loss"] == result.summary["final_val_loss"].min()

    top = result.best("val_loss", n=20)
    assert len(top) == 8  # 12 configs, 4 diverged
    assert (top["status"] != "diverged").all()
    assert top["final_val_loss"].is_monotonic_increasing


def test_best_modes_and_columns():
    result = fx.result()
    accuracy = result.best("val_accuracy", n=3)  # max by default for accuracies
    assert accuracy["final_val_accuracy"].is_monotonic_decreasing
    worst = result.best("val_loss", n=1, mode="max")
    assert worst.iloc[0]["learning_rate"] == 1e-3
    assert result.best("best_val_loss").iloc[0]["best_val_loss"] == pytest.approx(
        result.summary.loc[result.summary.status != "diverged", "best_val_loss"].min())
    with pytest.raises(ValueError, match="'nope'"):
        result.best("nope")
    with pytest.raises(ValueError, match="mode"):
        result.best("val_loss", mode="lowest")


def test_curves_tidy_and_wide():
    result = fx.result()
    tidy = result.curves()
    assert list(tidy.columns) == ["config", "step", "epoch", "examples", "train_loss", "val_loss",
                                  "val_accuracy", "batch_loss"]
    wide = result.curves("val_loss")
    assert list(wide.index) == fx.STEPS
    assert list(wide.columns) == list(range(12))
    assert wide.loc[0, 0] == pytest.approx(2.3)
    diverged = result.summary.loc[result.summary.status == "diverged", "config"]
    assert wide[diverged].loc[20:].isna().all().all()
    with pytest.raises(ValueError, match="'test_loss'"):
        result.curves("test_loss")


def test_repr_is_short():
    text = repr(fx.result())
    assert text.startswith("SweepResult(12 configs")
    assert "diverged" in text and "\n" not in text and len(text) < 200
