"""The repository's own scripts: ``python -m experiments.figures`` and
``python -m experiments.bench`` (what ``jopt figures`` and ``jopt bench`` were; they need
the clone, so the installed ``jopt`` command does not offer them)."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(module, *args, cwd):
    """``python -m module args`` in ``cwd``, with the repository on the path (as its root)."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_figures_unknown_id_exits_2_and_writes_nothing(tmp_path):
    done = run_module("experiments.figures", "--only", "F1,F99", "--out", "figs", cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "'F99'" in done.stderr
    assert os.listdir(tmp_path) == []


def test_figures_bad_dpi_exits_2_and_writes_nothing(tmp_path):
    done = run_module("experiments.figures", "--dpi", "0", "--out", "figs", cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "--dpi" in done.stderr
    assert os.listdir(tmp_path) == []


def test_figures_renders_the_asked_ids(tmp_path):
    """``--only`` draws exactly the ids asked for, as PNG files."""
    done = run_module("experiments.figures", "--fast", "--only", "F27,f42", "--out", "figs",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(os.listdir(tmp_path / "figs"))
    assert written == ["F27.png", "F42.png"]
    for name in written:
        assert (tmp_path / "figs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_lists_its_benchmarks_and_refuses_an_unknown_one(tmp_path):
    from experiments.bench.__main__ import names
    assert {"update_speed", "sweep_speed", "sweep_memory", "batch_size_time",
            "gradient_cost"} <= set(names())
    done = run_module("experiments.bench", "update_sped", cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "'update_sped'" in done.stderr and "update_speed" in done.stderr
    assert os.listdir(tmp_path) == []


def test_bench_runs_a_benchmark_by_name(tmp_path):
    """One quick benchmark through the runner, in its own process (nothing timed is asserted)."""
    done = run_module("experiments.bench", "--quick", "gradient_cost", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("== gradient_cost --quick")
    assert "softmax-regression gradient" in done.stdout


def test_lectures_import_no_benchmark():
    """The lecture modules (the figures' setups) never import ``experiments.bench``."""
    folder = os.path.join(ROOT, "experiments", "lectures")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), encoding="utf-8") as file:
                tree = ast.parse(file.read())
            imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                        for alias in node.names]
            imported += [node.module for node in ast.walk(tree)
                         if isinstance(node, ast.ImportFrom) and node.module]
            assert not [m for m in imported if m.startswith("experiments.bench")], name
