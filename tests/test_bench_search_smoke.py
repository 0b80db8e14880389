"""Smoke test of the search benchmark: ``--quick`` runs and prints a row per method.

A subprocess (``python -m experiments.bench.search --quick``), because the script sets
``XLA_FLAGS`` (one host device per core) before JAX starts.  Optuna is installed only in
the benchmark's environment (``pip install -e '.[bench]'``): without it the jopt methods
run alone (``--quick`` of every method says so), and asking for Optuna by name is
refused in one line, exit status 2.  The grid is
left out (it trains the quasi-random search's program; the full run has it), which keeps
the test near 15 s on 2 quiet cores.  No timing is asserted.
"""

import importlib.util
import os
import subprocess
import sys

import pytest

pytest.importorskip("scipy")  # the Sobol sampler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_OPTUNA = importlib.util.find_spec("optuna") is not None
JOPT_ROWS = ("quasi-random (Sobol)", "halving (min 100, eta 4)")
OPTUNA_ROW = "Optuna TPE + median pruner"


def run_search(*args):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "experiments.bench.search", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


@pytest.mark.slow  # each method's path is tested in tests/test_sweep_*.py; this guards the script
def test_search_quick_prints_a_row_per_method():
    methods = "quasirandom,halving,pbt" + (",optuna" if HAS_OPTUNA else "")
    done = run_search("--quick", "--methods", methods)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("== 16 configurations x 200 steps") for line in lines)
    assert sum("load average" in line for line in lines) >= 2  # at the start and the end
    rows = JOPT_ROWS + ((OPTUNA_ROW,) if HAS_OPTUNA else ())
    for name in rows:
        row = next((line for line in lines if line.startswith(name)), None)
        assert row is not None, name
        best, at_end, first, _, _, config_steps, compiles = row[34:].split()[:7]
        assert 0 < float(best) <= float(at_end) < 3, row  # cross-entropy of 10 classes
        assert float(first) > 0 and int(compiles) >= 1, row
        assert int(config_steps.replace(",", "")) > 0, row
    sobol_row, halving_row = (next(line for line in lines if line.startswith(name))
                              for name in JOPT_ROWS)
    sobol_steps, halving_steps = (int(row[34:].split()[5].replace(",", ""))
                                  for row in (sobol_row, halving_row))
    # on a CPU, four slices of 4 to the rung at step 100, then the 4 survivors in one
    assert sobol_steps == 16 * 200 and halving_steps == 16 * 100 + 4 * 100
    assert "12 pruned, 4 finished" in halving_row, halving_row
    assert any(line.startswith("PBT") for line in lines)  # a row, or the line saying it is absent
    if HAS_OPTUNA:
        goal = next(line for line in lines if line.startswith("goal"))
        assert goal.endswith(("met", "MISSED"))


def test_search_repeats_only_in_fresh_processes():
    """``--repeats`` measures each round in fresh processes: with ``--quick`` (everything
    in one process, where a second round would find JAX's caches warm) it is refused,
    exit status 2, as is a count below 1: argparse's error line names it."""
    for args in (("--quick", "--repeats", "2"), ("--repeats", "0")):
        done = run_search(*args)
        assert done.returncode == 2, args
        assert "--repeats" in done.stderr.strip().splitlines()[-1], done.stderr
        assert done.stdout == ""


@pytest.mark.skipif(HAS_OPTUNA, reason="optuna is installed here")
def test_search_without_optuna_says_how_to_install_it():
    done = run_search("--quick", "--methods", "halving,optuna")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "pip install -e '.[bench]'" in done.stderr
    assert done.stdout == ""


@pytest.mark.slow  # runs every jopt method
@pytest.mark.skipif(HAS_OPTUNA, reason="optuna is installed here")
def test_search_quick_without_optuna_runs_the_jopt_methods():
    """``python -m experiments.bench --quick`` runs every benchmark's ``--quick``: without
    the bench extra the search runs jopt's methods alone and says so."""
    done = run_search("--quick")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "optuna is not installed" in done.stdout and "pip install -e '.[bench]'" in done.stdout
    assert not any(line.startswith("Optuna TPE") for line in done.stdout.splitlines())
    assert any(line.startswith("halving (min 100, eta 4)") for line in done.stdout.splitlines())
