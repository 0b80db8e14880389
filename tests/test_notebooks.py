"""The lecture notebooks: committed without outputs, one heading per figure id, each
executes from top to bottom, and every number a reading paragraph writes was printed by a
cell above it (``notebook_numbers``), so the text cannot drift from what the code computes.

Execution runs in fast mode (``JOPT_FAST=1``: small step counts and grids) unless the
environment sets ``JOPT_FAST`` already, once per session for all the tests; the full mode,
paragraphs tagged ``full-mode`` included, is a slow test::

    python -m pytest -m slow tests/test_notebooks.py
    JOPT_FAST=0 python -m pytest tests/test_notebooks.py     # every test in full mode
"""

import functools
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from experiments.lectures import figures
from notebook_numbers import is_printed, printed_numbers, unprinted_numbers, written_numbers

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
HEADING = re.compile(r"^## (F\d+) · \S", re.MULTILINE)


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _heading_ids(path):
    return [figure_id for cell in _cells(path) if cell["cell_type"] == "markdown"
            for figure_id in HEADING.findall("".join(cell["source"]))]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: a code cell has outputs"
            assert cell.get("execution_count") is None, f"{path.name}: an execution count"


def test_every_figure_has_one_heading():
    """Each id of the registry heads exactly one notebook section, and no other id does."""
    headings = [figure_id for path in PATHS for figure_id in _heading_ids(path)]
    assert sorted(headings, key=lambda figure_id: int(figure_id[1:])) == list(figures.registry())


@pytest.mark.parametrize("markdown, numbers", [
    ("at 0.008–0.029 and 420–540 steps", ["0.008", "0.029", "420", "540"]),
    ("after 20 548 steps, 1e-4, 10⁻⁶ and 3.5·10⁴.", ["20548", "0.0001", "0.000001", "3.5E+4"]),
    ("$x_{100} = 2.66\\cdot10^{-5}$ and $\\|g\\| < 10^{-4}$", ["0.0000266", "0.0001"]),
    ("F26, deck 002, Q100, `lr=0.1`, x₂, 2/(μ+L), 2t, [a](b1.md) and notebook 06_sgd.ipynb", []),
])
def test_written_numbers(markdown, numbers):
    assert [str(number.value) for number in written_numbers(markdown)] == numbers


@pytest.mark.parametrize("written, printed, expected", [
    ("0.029", "0.0289", True), ("0.020", "0.0289", False), ("1.0248", "1.025", False),
    ("420", "420.0", True), ("420", "420.4", False), ("−1.4730", "-1.473", True),
    ("1e-4", "8.34e-05", True), ("6.4e-5", "6.39e-05", True), ("10⁻⁶", "1e-06", True),
])
def test_is_printed(written, printed, expected):
    number, = written_numbers(written)
    assert is_printed(number, printed_numbers(printed)) is expected


def _execute(path, mode):
    """Run the notebook at ``path`` in a fresh kernel with ``JOPT_FAST=mode``: the executed
    notebook, or the exception of its failing cell."""
    import nbclient
    import nbformat
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute(env={**os.environ, "JOPT_FAST": mode, "MPLBACKEND": "Agg"})
    except Exception as error:  # a failing cell: report it with the notebook's name
        return error
    return notebook


@functools.cache
def _execute_all(mode):
    """Every notebook executed once with ``JOPT_FAST=mode``, as many at a time as there
    are cores (a kernel mostly compiles, on one core)."""
    pytest.importorskip("nbclient")
    pytest.importorskip("nbformat")
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        return dict(zip(PATHS, pool.map(functools.partial(_execute, mode=mode), PATHS)))


@pytest.fixture(scope="module")
def executed():
    """Every notebook executed once, in fast mode unless ``JOPT_FAST`` is set."""
    return _execute_all(os.environ.get("JOPT_FAST", "1"))


@pytest.fixture(scope="module")
def executed_full():
    """Every notebook executed once in full mode (the same run as ``executed`` when
    ``JOPT_FAST=0`` is set)."""
    return _execute_all("0")


def _ran(outcome):
    """The executed notebook's cells, or the failing cell's exception raised."""
    if isinstance(outcome, Exception):
        raise outcome
    return outcome.cells


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs(path, executed):
    errors = [output for cell in _ran(executed[path]) for output in cell.get("outputs", [])
              if output.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"


def _assert_numbers_printed(path, cells, full_mode):
    missing = unprinted_numbers(cells, full_mode=full_mode)
    assert not missing, (f"{path.name}: numbers in reading paragraphs that no cell above "
                         "printed: " + "; ".join(f"cell {index}: {text}" for index, text in missing))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_reading_numbers_are_printed(path, executed):
    """Each number a reading paragraph writes was printed by a cell above it (in fast mode
    the paragraphs tagged ``full-mode`` are skipped)."""
    full_mode = os.environ.get("JOPT_FAST", "1").strip().lower() in ("0", "false", "no")
    _assert_numbers_printed(path, _ran(executed[path]), full_mode)


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_reading_numbers_are_printed_in_full_mode(path, executed_full):
    """The same in full mode, every paragraph included."""
    _assert_numbers_printed(path, _ran(executed_full[path]), full_mode=True)
