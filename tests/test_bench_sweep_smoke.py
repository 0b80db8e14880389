"""Smoke test of the sweep-speed benchmark: ``--quick`` runs and prints its tables.

A subprocess (``python -m experiments.bench.sweep_speed --quick``), because the script
sets ``XLA_FLAGS`` (one host device per core) before JAX starts.  No timing is asserted.  About a minute on 2 cores (it compiles ~10 programs).
"""

import os
import subprocess
import sys

import pytest

from jopt.devices import usable_cores

pytest.importorskip("optax")
pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_sweep_speed_quick_prints_its_tables():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "experiments.bench.sweep_speed", "--quick"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    lines = out.splitlines()

    assert f"{usable_cores()} devices" in out  # the script gave JAX one host device per core
    assert "load average" in out
    for name in ("jopt sweep", "optax vmap sweep (1 device)", "optax loop over configs",
                 "pytorch one config at a time"):
        row = next((line for line in lines if line.startswith(name)), None)
        assert row is not None, name
        assert len(row[len(name):].split()) >= 8, row  # times, ratios, GFLOP/s, % matmul
    assert any(line.startswith("batched matmul") and "GFLOP/s" in line for line in lines)
    assert any(line.startswith("first calls of jopt and the optax vmap sweep: medians of fresh")
               for line in lines)

    # the agreement table: one row per learning rate (--quick: 4), then the summary
    agreement = [line for line in lines if line.strip()[:1].isdigit() and "|" in line
                 and "e-0" in line.split()[0]]
    assert len(agreement) == 4, agreement
    assert any(line.startswith("largest relative difference, lr <= 0.01") for line in lines)
    for target in ("jopt first call", "jopt steady time", "faster than pytorch",
                   "final losses agree"):
        assert any(target in line for line in lines), target

    # the cost-per-config table: --quick runs 1 and 4 configs
    scaling = [line.split() for line in lines if line.split()[:1] in (["1"], ["4"])
               and line.count("|") == 3]
    assert [row[0] for row in scaling] == ["1", "4"], scaling
    for row in scaling:
        numbers = [float(v.rstrip("x")) for v in row if v != "|"]
        assert all(v > 0 for v in numbers), row
