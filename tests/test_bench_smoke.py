"""Smoke test of the update-speed benchmark: it runs and prints its table (no timing asserted)."""

import importlib.util
import os
import sys

import pytest

pytest.importorskip("optax")
pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "experiments", "bench", "update_speed.py")


def load_benchmark():
    spec = importlib.util.spec_from_file_location("update_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_update_speed_quick_prints_a_table(capsys):
    bench = load_benchmark()
    # the three with torch references, and two of optax's other optimizers (one needs value=)
    cases = bench.main(["--quick", "--optimizers", "sgd-momentum,adam,adamw,nadam,polyak_sgd"])
    out = capsys.readouterr().out

    rows = {(c.group, c.name) for c in cases}
    for optimizer in ("sgd-momentum", "adam", "adamw"):
        for implementation in ("jopt", "optax", "torch", "torch foreach"):
            assert (optimizer, implementation) in rows
    assert ("adam", "torch fused") in rows  # torch 2.13 has fused Adam on CPU
    for optimizer in ("nadam", "polyak_sgd"):
        assert {(optimizer, "jopt"), (optimizer, "optax")} <= rows
    assert any(group == "triad" for group, _ in rows)

    header = next(line for line in out.splitlines() if line.startswith("optimizer"))
    for column in ("ms", "x optax", "x torch", "x fused", "GB/s", "% triad"):
        assert column in header
    table_rows = [line.split() for line in out.splitlines()]
    for optimizer, implementation in rows:
        assert any(r[:1] == [optimizer] and " ".join(r[1:]).startswith(implementation)
                   for r in table_rows), (optimizer, implementation)
    for case in cases:
        assert len(case.times) >= 4 and all(t > 0 for t in case.times)
