"""Kills (issue 20, item 7): a sweep killed with SIGKILL, in a subprocess, at chosen or seeded
random moments (one during a resume), then run to the end, equals an uninterrupted run:
the same summary and curves, NaN = NaN, no row lost or duplicated, the same order.  After
every kill ``sweep.load`` reads the folder without a warning and returns partial results
that agree with the final ones (finished rows equal, curves a prefix)."""

import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

from jopt.sweep.store import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds a run may take before the test gives up on it

# 12 configs in 3 slices of 4, one evaluation block per chunk, a checkpoint after each;
# learning rate 50 diverges (NaN-free curves that stop early)
SCRIPT = textwrap.dedent("""
    import sys
    import jopt.sweep as sweep
    grid = sweep.Grid(learning_rate=[0.05, 0.5, 50.0], batch_size=[16, 32], seed=[0, 1])
    task = sweep.builtin_task(model="mlp", hidden=[8], dataset="digits", optimizer="sgd",
                              loss="softmax_cross_entropy_with_integer_labels")
    sweep.run(task, grid, budget=sweep.Budget(steps=60, eval_every=10), out=sys.argv[1],
              quiet=True, chunk_seconds=0.0, checkpoint_seconds=0.0, max_configs=4)
""")


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """``start(out)``: the sweep script running into ``out`` in a subprocess.  All of them
    see one CPU device and share a compilation cache (only the first one compiles)."""
    folder = tmp_path_factory.mktemp("kills")
    script = folder / "sweep_script.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1",
               JAX_COMPILATION_CACHE_DIR=str(folder / "jax_cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))

    def start(out):
        return subprocess.Popen([sys.executable, str(script), str(out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return start


def manifest_version(out):
    """Which write of ``out/manifest.json`` is there (each is an ``os.replace``: a new file)."""
    try:
        stat = os.stat(out / "manifest.json")
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def watch(process, out, kill_after=None, delay=0.0, when=None):
    """Follow ``process``'s writes of the manifest until it exits, or SIGKILL it ``delay``
    seconds after the ``kill_after``-th new version (or the first for which ``when(out)``
    holds).  Returns ``(versions seen, killed)``."""
    seen = {manifest_version(out)}
    deadline = time.monotonic() + TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        version = manifest_version(out)
        if version not in seen:
            seen.add(version)
            if (kill_after is not None and len(seen) - 1 >= kill_after) or \
                    (when is not None and when(out)):
                time.sleep(delay)
                killed = process.poll() is None
                process.kill()  # SIGKILL
                process.wait()
                return len(seen) - 1, killed
        time.sleep(0.0005)
    assert process.wait(timeout=5) == 0, process.stderr.read()
    return len(seen) - 1, False


def run_to_the_end(start, out):
    process = start(out)
    versions, _ = watch(process, out)
    return versions


@pytest.fixture(scope="module")
def uninterrupted(start, tmp_path_factory):
    """The uninterrupted run's summary and curves, and how many manifest writes it made."""
    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    versions = run_to_the_end(start, out)
    result = load(out)
    assert result.status == "finished" and len(result) == 12
    return result.summary, result.curves_frame, versions


def partial_results(out):
    """``sweep.load`` after a kill: never a warning (no write is ever half done)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load(out)


def assert_agrees(partial, uninterrupted):
    """A killed sweep's partial results agree with the uninterrupted run's: the rows of
    finished configs equal, each running config's curve the start of its final curve."""
    summary, curves, _ = uninterrupted
    rows = partial.summary
    if len(rows) == 0:  # killed before its first checkpoint
        assert len(partial.curves_frame) == 0
        return
    assert rows["config"].is_unique and rows["config"].is_monotonic_increasing
    assert set(rows["status"]) <= {"finished", "diverged", "stopped_early", "running"}
    final = summary.set_index("config").loc[rows["config"]].reset_index()
    done = (rows["status"] != "running").to_numpy()
    if done.any():  # (running rows lack the metrics a task computes at the end)
        pd.testing.assert_frame_equal(rows.loc[done, summary.columns].reset_index(drop=True),
                                      final.loc[done, summary.columns].reset_index(drop=True),
                                      check_exact=True)
    axes = ["learning_rate", "batch_size", "seed"]
    pd.testing.assert_frame_equal(rows[axes], final[axes], check_exact=True)
    so_far = partial.curves_frame
    assert not so_far.duplicated(["config", "step"]).any()
    assert set(so_far["config"]) == set(rows["config"])  # every config has its curve so far
    expected = curves.merge(so_far[["config", "step"]], on=["config", "step"])
    pd.testing.assert_frame_equal(so_far[curves.columns].reset_index(drop=True), expected,
                                  check_exact=True)
    for config, steps in so_far.groupby("config")["step"]:  # a prefix of the final curve
        final_steps = curves.loc[curves["config"] == config, "step"].tolist()
        assert steps.tolist() == final_steps[:len(steps)]


def assert_equals_uninterrupted(out, uninterrupted):
    result = load(out)
    assert result.status == "finished"
    pd.testing.assert_frame_equal(result.summary, uninterrupted[0], check_exact=True)
    pd.testing.assert_frame_equal(result.curves_frame, uninterrupted[1], check_exact=True)


def second_slice_checkpointed(out):
    import json
    try:
        files = json.loads((out / "manifest.json").read_text()).get("files", {})
    except (OSError, ValueError):
        return False
    return "checkpoints/b0s1.npz" in files


def test_a_sweep_killed_in_its_second_slice_loads_its_progress_and_resumes_to_the_same_results(
        start, uninterrupted, tmp_path):
    out = tmp_path / "out"
    _, killed = watch(start(out), out, when=second_slice_checkpointed)
    assert killed
    partial = partial_results(out)
    assert partial.status == "running"
    assert partial.summary["config"].tolist() == list(range(8))  # the third slice: absent
    assert (partial.summary["status"][4:] == "running").all()
    assert (partial.summary["status"][:4] != "running").all()
    assert_agrees(partial, uninterrupted)
    run_to_the_end(start, out)
    assert_equals_uninterrupted(out, uninterrupted)
    assert load(out).manifest["resumes"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_a_sweep_killed_at_random_moments_resumes_to_the_results_of_an_uninterrupted_run(
        start, uninterrupted, tmp_path, seed):
    rng = np.random.default_rng(seed)
    out = tmp_path / "out"
    kills = []  # (killed while it ran, the run's resume count)
    for _ in range(4):
        # a random write of a run's manifest (up to half of a whole run's), then up to 20 ms
        kill_after = int(rng.integers(1, max(2, uninterrupted[2] // 2)))
        _, killed = watch(start(out), out, kill_after=kill_after, delay=rng.uniform(0, 0.02))
        partial = partial_results(out)
        kills.append((killed, partial.manifest.get("resumes", 0)))
        assert_agrees(partial, uninterrupted)
    assert any(killed and resumes >= 1 for killed, resumes in kills), kills  # during a resume
    run_to_the_end(start, out)
    assert_equals_uninterrupted(out, uninterrupted)
