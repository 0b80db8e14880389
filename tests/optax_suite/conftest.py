"""optax 0.2.8's own tests, run against jopt (see README.md here).

- ``optax_shim`` answers optax's module names with jopt's objects; a name jopt does not
  ship skips the tests that use it, once they run (``RUNNING_TEST`` below).
- The main README's table "Where jopt differs from optax" is the one list of the
  optax tests that fail against jopt: each row's last column names them by pattern.
  A deliberate difference marks them ``xfail(strict=True)`` with the row's reason (a
  test that starts passing must leave the table); a pending one (a bug being fixed)
  skips them with the reason (a skip, since a failed absl ``subTest`` is reported on
  its own and an ``xfail`` does not cover it).
- ``SLOW`` marks the long cases ``slow`` (the suite's default run leaves them out);
  ``QUIET`` silences warnings about optax's test code itself.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # optax_shim, and alias_test for _schedule_test

import optax_shim  # noqa: E402

README = os.path.join(os.path.dirname(os.path.dirname(_HERE)), "README.md")
TABLE_TITLE = "Where jopt differs from optax"

# Long cases, by the same kind of pattern as the README's table: run with -m slow.
SLOW = {
    "alias_test.py::AliasTest::test_gradient_accumulation*":
        "a compile per optax optimizer; tests/test_wrappers.py checks MultiSteps by default",
    "alias_test.py::AliasTest::test_optimizers_accept_extra_args*":
        "a compile per optax optimizer",
    "alias_test.py::AliasTest::test_optimizers_can_be_wrapped_in_inject_hyperparams*":
        "a compile per optax optimizer (about 0.5 s each); jopt's own inject_hyperparams "
        "tests (tests/test_wrappers.py) run by default",
    "alias_test.py::AliasTest::test_optimization*":
        "10,000 jitted steps per optimizer, target and dtype (about 1 s each; 132 cases "
        "once every optax optimizer is shipped); jopt's convergence tests cover the same",
    "_schedule_test.py::ScheduleAsLearningRateTest::test_optimization*":
        "a compile and 10 steps per optax optimizer (33 cases)",
    "alias_test.py::LBFGSTest::test_against_plain_implementation*":
        "the reference L-BFGS runs op by op in Python (about 8 s per case)",
    "alias_test.py::LBFGSTest::test_handling_pytrees*":
        "L-BFGS runs of 1.5-2.5 s each; jopt's L-BFGS tests (tests/test_minimize.py, "
        "tests/test_equivalence.py) run by default",
    "alias_test.py::LBFGSTest::test_multiclass_logreg*": "as test_handling_pytrees",
    "alias_test.py::LBFGSTest::test_lbfgs_complex*": "as test_handling_pytrees",
    "alias_test.py::LBFGSTest::test_preconditioning_by_lbfgs_on_trees*": "as test_handling_pytrees",
    # Per optimizer (33 of them once every optax optimizer is shipped) the default run
    # keeps the float32 case of the cheap checks; the other dtypes, and the stability
    # check (a lax.cond compiled per optimizer and dtype), run with -m slow.
    "alias_test.py::AliasTest::test_state_shape_dtype_shard_stability*":
        "compiles per optimizer and dtype (198 cases once every optax optimizer is shipped)",
    "alias_test.py::AliasTest::test_gradient_accumulation* (*dtype='bfloat16')":
        "compiles per optimizer and dtype: the default run keeps float32",
    "alias_test.py::AliasTest::test_preserve_dtype* (*dtype='bfloat16')":
        "compiles per optimizer and dtype: the default run keeps float32",
}

# Warnings about optax's test code itself, not about jopt: silenced where they arise.
QUIET = {
    # scikit-learn 1.8 deprecates the penalty='l2' that optax's test passes to
    # LogisticRegression (the reference solution; its value is unchanged)
    "alias_test.py::LBFGSTest::test_binary_logreg*":
        "ignore:'penalty' was deprecated:FutureWarning",
}


def params_repr(item) -> str:
    """The parameters of an absl parameterized test case, as absl writes them ('' if none)."""
    return getattr(getattr(item, "obj", None), "__x_params_repr__", "")


def case_name(item) -> str:
    """``file::Class::test (parameters)``: what the patterns of the table and SLOW match."""
    nodeid = item.nodeid.split("optax_suite/", 1)[-1]
    return f"{nodeid} {params_repr(item)}".strip()


def differences(readme: str = README) -> list[tuple[str, str, bool]]:
    """``(pattern, reason, deliberate)`` for each test pattern in the README's table.

    A row is ``| What | optax | jopt | status | optax tests |`` (``\\|`` inside a cell is
    a literal bar); ``deliberate`` is whether the status says so.
    """
    with open(readme, encoding="utf-8") as file:
        text = file.read()
    section = text.split(f"## {TABLE_TITLE}", 1)[1].split("\n## ", 1)[0]
    found = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) != 5 or not cells[4].startswith("`"):
            continue
        reason = re.sub(r"[`*\\]", "", f"{cells[0]}: {cells[3]}")
        deliberate = cells[3].lower().startswith("deliberate")
        for pattern in re.findall(r"`([^`]+)`", cells[4]):
            found.append((pattern, reason, deliberate))
    return found


def pytest_collection_modifyitems(config, items):
    table = differences()
    for item in items:
        name = case_name(item)
        item.user_properties.append(("case", name))
        for pattern, reason in SLOW.items():
            if fnmatch.fnmatchcase(name, pattern):
                item.add_marker(pytest.mark.slow(reason=reason))
        for pattern, warning in QUIET.items():
            if fnmatch.fnmatchcase(name, pattern):
                item.add_marker(pytest.mark.filterwarnings(warning))
        for pattern, reason, deliberate in table:
            if fnmatch.fnmatchcase(name, pattern):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True) if deliberate
                                else pytest.mark.skip(reason=reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Mark the running test, so that optax names jopt lacks skip it (optax_shim)."""
    optax_shim.RUNNING_TEST = True
    try:
        yield
    finally:
        optax_shim.RUNNING_TEST = False


def pytest_terminal_summary(terminalreporter):
    """The parameters of each failed case (absl numbers them: test_optimization27)."""
    failed = terminalreporter.stats.get("failed", [])
    if failed:
        terminalreporter.section("optax_suite: the failed cases with their parameters")
        for report in failed:
            terminalreporter.write_line(dict(report.user_properties).get("case", report.nodeid))
