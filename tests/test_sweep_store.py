"""The sweep result store: atomic writes, spec hashing, resume, refusal of another spec,
reading partial results back, and SweepResult's queries on a hand-made result."""

import json
import os

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyarrow")

from jopt.sweep import store as store_module
from jopt.sweep.store import (SPEC_VERSION, SpecMismatchError, Store, atomic_write,
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


def made_with(folder, **versions):
    """The manifest of ``folder`` rewritten as if made with ``versions`` (re-signed)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["versions"].update(versions)
    manifest["checksum"] = store_module.manifest_checksum(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return (folder / "manifest.json").read_text()


@pytest.mark.parametrize("name, value, said", [
    ("jax", "0.4.0", "made with jax 0.4.0, not this "),
    ("numpy", None, "made with numpy unrecorded, not this "),
    ("jopt_source", "0" * 64, "made with jopt's Python files as they were"),
    ("jopt_source", None, "made with a jopt that did not record its Python files"),
])
def test_results_made_by_other_code_are_refused_not_resumed_or_reused(tmp_path, name, value,
                                                                      said):
    """A folder of the same spec made with another jax, numpy or jopt source (a development
    install keeps its version number while its code changes) is refused in one line, the
    folder untouched; ``overwrite=True`` recomputes."""
    first = Store.open(tmp_path, fx.spec())
    first.save_checkpoint("b0", {"x": np.ones(3)})
    first.finish(*fx.frames())
    assert first.manifest["versions"]["jopt_source"] == store_module.source_digest()
    before = made_with(tmp_path, **{name: value})
    with pytest.raises(SpecMismatchError) as error:
        Store.open(tmp_path, fx.spec())
    message = str(error.value)
    assert "\n" not in message and str(tmp_path) in message and "--overwrite" in message
    assert said in message, message
    assert (tmp_path / "manifest.json").read_text() == before
    assert (tmp_path / "checkpoints" / "b0.npz").exists()
    again = Store.open(tmp_path, fx.spec(), overwrite=True)
    assert not again.checkpoints() and again.manifest["status"] == "running"
    assert again.manifest["versions"][name] != value


def test_the_source_digest_is_of_jopts_python_files(tmp_path, monkeypatch):
    """:func:`source_digest` hashes every ``.py`` file of the package by its path: a copy of
    the package with one line changed has another digest."""
    import shutil

    import jopt
    root = os.path.dirname(jopt.__file__)
    copy = tmp_path / "jopt"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__"))
    digests = []
    for edit in (False, True):
        if edit:
            with open(copy / "sweep" / "store.py", "a", encoding="utf-8") as file:
                file.write("# a changed line\n")
        monkeypatch.setattr(jopt, "__file__", str(copy / "__init__.py"))
        store_module.source_digest.cache_clear()
        digests.append(store_module.source_digest())
    monkeypatch.undo()
    store_module.source_digest.cache_clear()
    assert digests[0] == store_module.source_digest() != digests[1]


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


# ----------------------------------------------------------------------------
# Checksums: damaged files (issue 20, item 6)
# ----------------------------------------------------------------------------

LOSS = "softmax_cross_entropy_with_integer_labels"
# 6 configs in 3 slices of 2; the last slice (learning rate 50) diverges whole: NaN-free
# curves that stop early, and a slice that ends before its last block
DAMAGE_GRID = dict(learning_rate=[0.05, 0.5, 50.0], seed=[0, 1])


def run_small(out, **options):
    import jopt.sweep as sweep
    task = sweep.builtin_task(model="mlp", hidden=[8], dataset="digits", optimizer="sgd",
                              batch_size=32, loss=LOSS)
    return sweep.run(task, sweep.Grid(**DAMAGE_GRID), budget=sweep.Budget(steps=40, eval_every=10),
                     out=out, quiet=True, chunk_seconds=0.0, checkpoint_seconds=0.0, max_configs=2,
                     **options)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished small sweep's folder (copy it before damaging it) and its tables."""
    out = tmp_path_factory.mktemp("finished") / "out"
    run_small(out)
    result = load(out)
    assert len(result.manifest["files"]) == 5  # 3 checkpoints, 2 tables
    return out, result.summary, result.curves_frame


def copy_of(finished, tmp_path):
    import shutil
    out = tmp_path / "copy"
    shutil.copytree(finished[0], out)
    return out


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def flip(path, where=0.5):
    """Flip the lowest bit of the byte at ``where`` (a fraction of the length)."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 1
    path.write_bytes(bytes(data))


DAMAGES = {"truncated": truncate, "flipped": flip, "missing": lambda path: path.unlink()}


def assert_same_tables(result, finished):
    """The sweep's tables equal the uninterrupted run's: same rows, order, values (NaN = NaN)."""
    pd.testing.assert_frame_equal(result.summary, finished[1], check_exact=True)
    pd.testing.assert_frame_equal(result.curves_frame, finished[2], check_exact=True)


def one_warning_naming(records, name):
    messages = [str(r.message) for r in records if issubclass(r.category, RuntimeWarning)]
    assert len(messages) == 1 and name in messages[0] and "\n" not in messages[0], messages
    return messages[0]


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("slice_name", ["b0s1", "b0s2"])
def test_a_damaged_checkpoint_is_ignored_with_a_warning_and_its_slice_recomputed(
        finished, tmp_path, damage, slice_name):
    out = copy_of(finished, tmp_path)
    DAMAGES[damage](out / "checkpoints" / f"{slice_name}.npz")
    with pytest.warns(RuntimeWarning) as records:
        again = run_small(out)
    message = one_warning_naming(records, f"{slice_name}.npz")
    assert ("missing" if damage == "missing" else "damaged") in message
    assert_same_tables(load(out), finished)
    assert_same_tables(again, finished)
    assert Store.open(out, again.manifest["spec"]).file_problem(
        f"checkpoints/{slice_name}.npz") is None  # written again, whole


def test_an_unreadable_checkpoint_of_the_right_checksum_is_ignored(tmp_path):
    # what a folder written before checksums (or a bad disk before the write) can hold
    store = Store.open(tmp_path, fx.spec())
    store.save_checkpoint("b0", {"x": np.ones(3)})
    (tmp_path / "checkpoints" / "b0.npz").write_bytes(b"PK\x03\x04 not a zip")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["files"]["checkpoints/b0.npz"] = store_module.checksum(b"PK\x03\x04 not a zip")
    manifest["checksum"] = store_module.manifest_checksum(manifest)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    again = Store.open(tmp_path, fx.spec())
    with pytest.warns(RuntimeWarning, match=r"b0\.npz is unreadable \(BadZipFile\)"):
        assert again.load_checkpoint("b0") is None


def test_a_checkpoint_the_manifest_does_not_know_is_ignored(tmp_path):
    Store.open(tmp_path, fx.spec())
    (tmp_path / "checkpoints").mkdir()
    np.savez(tmp_path / "checkpoints" / "b0.npz", x=np.ones(3))
    with pytest.warns(RuntimeWarning, match=r"b0\.npz is not recorded in the manifest"):
        assert Store.open(tmp_path, fx.spec()).load_checkpoint("b0") is None


@pytest.mark.parametrize("damage", sorted(DAMAGES))
@pytest.mark.parametrize("table", ["summary.parquet", "curves.parquet"])
def test_a_damaged_table_is_refused_by_load_and_recomputed_by_a_rerun(finished, tmp_path,
                                                                       damage, table):
    out = copy_of(finished, tmp_path)
    DAMAGES[damage](out / table)
    with pytest.raises(store_module.DamagedFileError) as error:
        load(out)
    message = str(error.value)
    assert isinstance(error.value, ValueError) and "\n" not in message
    assert str(out / table) in message and "again to recompute it" in message
    with pytest.warns(RuntimeWarning) as records:
        again = run_small(out)
    assert "recomputes it" in one_warning_naming(records, table)
    assert_same_tables(again, finished)
    assert_same_tables(load(out), finished)


def test_damaged_tables_and_checkpoints_together_are_recomputed(finished, tmp_path):
    out = copy_of(finished, tmp_path)
    flip(out / "summary.parquet")
    truncate(out / "curves.parquet")
    for name in ("b0s0", "b0s1", "b0s2"):
        flip(out / "checkpoints" / f"{name}.npz", where=0.9)
    with pytest.warns(RuntimeWarning) as records:
        again = run_small(out)
    assert len([r for r in records if issubclass(r.category, RuntimeWarning)]) == 5
    assert_same_tables(again, finished)
    assert_same_tables(load(out), finished)


def alter_manifest(path):
    """Valid JSON still, one value changed: only the checksum can tell."""
    text = path.read_text()
    assert '"resumes"' not in text
    path.write_text(text.replace('"status": "finished"', '"status": "running"'))


MANIFEST_DAMAGES = {"truncated": truncate, "flipped": flip, "altered": alter_manifest,
                    "flipped_early": lambda path: flip(path, where=0.1)}


@pytest.mark.parametrize("damage", sorted(MANIFEST_DAMAGES))
def test_a_damaged_manifest_is_refused_in_one_line_until_overwritten(finished, tmp_path, damage):
    out = copy_of(finished, tmp_path)
    MANIFEST_DAMAGES[damage](out / "manifest.json")
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for attempt in (load, lambda out: run_small(out)):
        with pytest.raises(store_module.DamagedManifestError) as error:
            attempt(out)
        message = str(error.value)
        assert "\n" not in message and str(out / "manifest.json") in message
        assert "--overwrite" in message
        assert isinstance(error.value, SpecMismatchError)  # refused as another spec's folder
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert_same_tables(run_small(out, overwrite=True), finished)
    assert_same_tables(load(out), finished)


def test_the_command_line_refuses_a_damaged_manifest_with_exit_status_2(tmp_path, monkeypatch,
                                                                        capsys):
    from pathlib import Path
    from jopt import cli
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # JAX runs already
    Store.open(tmp_path, fx.spec())
    truncate(tmp_path / "manifest.json")
    config = Path(__file__).resolve().parents[1] / "jopt" / "configs" / "smoke.toml"
    assert cli.main(["sweep", str(config), "--out", str(tmp_path), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "manifest.json is damaged" in error


def announce(folder, name, data):
    """What a run killed inside a write leaves: the manifest announces ``data`` for ``name``."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.setdefault("writing", {})[name] = store_module.checksum(data)
    manifest["checksum"] = store_module.manifest_checksum(manifest)
    atomic_write(folder / "manifest.json", json.dumps(manifest))


def npz(**arrays):
    import io
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("replaced", [False, True])
def test_a_run_killed_inside_a_write_leaves_a_sound_file(tmp_path, recwarn, replaced):
    store = Store.open(tmp_path, fx.spec())
    store.save_checkpoint("b0", {"x": np.zeros(3)})
    new = npz(x=np.ones(3))
    announce(tmp_path, "checkpoints/b0.npz", new)
    if replaced:  # killed after the os.replace, before the manifest's update
        atomic_write(tmp_path / "checkpoints" / "b0.npz", new)
    again = Store.open(tmp_path, fx.spec())
    np.testing.assert_array_equal(again.load_checkpoint("b0")["x"], np.full(3, float(replaced)))
    assert "writing" not in again.manifest
    # the next write of the same file is announced again: the old content still passes
    again.save_checkpoint("b0", {"x": np.full(3, 2.0)})
    assert int(Store.open(tmp_path, fx.spec()).load_checkpoint("b0")["x"][0]) == 2
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    no_temporary_files(tmp_path)


# ----------------------------------------------------------------------------
# Partial results of a killed sweep, by hand (the real kill: test_sweep_kills.py)
# ----------------------------------------------------------------------------


def killed_in_second_slice(folder):
    """A store as a sweep killed in its second slice leaves it: configs 0-5 finished (in the
    tables), configs 6-11 checkpointed after their block 1 (rows 0 and 1 of 4 filled)."""
    summary, curves = fx.frames()
    store = Store.open(folder, fx.spec())
    store.start_slice("b0s0", list(range(6)), batch_size=[8, 8, 32, 32, 8, 8],
                      steps_per_epoch=[225] * 6)
    store.write_partial(summary.iloc[:6], curves[curves["config"] < 6])
    configs = list(range(6, 12))
    store.start_slice("b0s1", configs, batch_size=[32, 32, 8, 8, 32, 32],
                      steps_per_epoch=[56, 56, 225, 225, 56, 56])
    rows = {name: np.full((8, 4), np.nan) for name in ("step", "train_loss", "val_loss")}
    rows["step"][:, :2] = [0, 10]
    rows["val_loss"][:, :2] = [[2.0 + c, 1.0 + c] for c in range(8)]  # 2 rows of padding
    rows["train_loss"][:, :2] = 0.5
    store.save_checkpoint("b0s1", {"carry/0": np.zeros((8, 3)), "next_block": np.asarray(1),
                                   **{f"rows/{k}": v for k, v in rows.items()}})
    return summary


def test_load_of_a_killed_sweep_returns_what_its_checkpoints_hold(tmp_path):
    summary = killed_in_second_slice(tmp_path)
    partial = load(tmp_path)
    assert partial.status == "running"
    frame = partial.summary
    assert frame["config"].tolist() == list(range(12))  # slices not started would be absent
    assert frame["status"].tolist()[:6] == summary["status"].tolist()[:6]
    assert frame["status"].tolist()[6:] == ["running"] * 6
    pd.testing.assert_frame_equal(frame.iloc[:6][summary.columns], summary.iloc[:6],
                                  check_dtype=False)
    running = frame.iloc[6:]
    assert running[["learning_rate", "batch_size", "seed"]].to_dict("records") == \
        fx.grid().configs()[6:]
    assert running["steps"].tolist() == [10] * 6
    assert running["final_val_loss"].tolist() == [1.0 + c for c in range(6)]
    assert running["best_val_loss"].tolist() == [1.0 + c for c in range(6)]
    assert (running["diverged_step"] == -1).all()
    curves = partial.curves()
    late = curves[curves["config"] >= 6]
    assert late[["config", "step"]].values.tolist() == [[c, s] for c in range(6, 12) for s in (0, 10)]
    assert late["examples"].tolist() == [s * b for b in (32, 32, 8, 8, 32, 32) for s in (0, 10)]
    assert not curves.duplicated(["config", "step"]).any()


def test_load_of_a_killed_sweep_leaves_out_a_damaged_checkpoint_with_a_warning(tmp_path):
    killed_in_second_slice(tmp_path)
    truncate(tmp_path / "checkpoints" / "b0s1.npz")
    with pytest.warns(RuntimeWarning, match=r"b0s1\.npz is damaged"):
        partial = load(tmp_path)
    assert partial.summary["config"].tolist() == list(range(6))


def test_load_of_a_killed_sweep_with_a_damaged_table_reads_the_checkpoints(tmp_path):
    killed_in_second_slice(tmp_path)
    flip(tmp_path / "summary.parquet")
    with pytest.warns(RuntimeWarning, match=r"summary\.parquet is damaged"):
        partial = load(tmp_path)
    # the first slice has no checkpoint here: only the second slice's configs, running
    assert partial.summary["config"].tolist() == list(range(6, 12))
    assert set(partial.summary["status"]) == {"running"}


def test_load_of_a_sweep_killed_between_its_two_tables_reads_the_slice_from_its_checkpoint(
        tmp_path, recwarn):
    import io
    import pyarrow as pa
    import pyarrow.parquet as pq
    summary = killed_in_second_slice(tmp_path)
    buffer = io.BytesIO()  # the summary of both slices, announced and in place; curves not yet
    pq.write_table(pa.Table.from_pandas(summary, preserve_index=False), buffer)
    announce(tmp_path, "summary.parquet", buffer.getvalue())
    atomic_write(tmp_path / "summary.parquet", buffer.getvalue())
    partial = load(tmp_path)
    assert partial.summary["config"].tolist() == list(range(12))
    assert partial.summary["status"].tolist()[6:] == ["running"] * 6
    assert sorted(set(partial.curves()["config"])) == list(range(12))
    assert not partial.curves().duplicated(["config", "step"]).any()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
