"""The lecture notebooks: committed without outputs, one heading per figure id, and
each executes from top to bottom.

Execution runs in fast mode (``JOPT_FAST=1``: small step counts and grids) unless the
environment sets ``JOPT_FAST`` already; the full mode is::

    JOPT_FAST=0 python -m pytest tests/test_notebooks.py
"""

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from experiments.lectures import figures

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


def _execute(path):
    """Run the notebook at ``path`` in a fresh kernel; the error outputs (a list) or the exception."""
    import nbclient
    import nbformat
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    except Exception as error:  # a failing cell: report it with the notebook's name
        return error
    return [output for cell in notebook.cells for output in cell.get("outputs", [])
            if output.get("output_type") == "error"]


@pytest.fixture(scope="module")
def executed():
    """Every notebook executed once, as many at a time as there are cores (a kernel
    mostly compiles, on one core), in fast mode unless ``JOPT_FAST`` is set."""
    pytest.importorskip("nbclient")
    pytest.importorskip("nbformat")
    environment = {"JOPT_FAST": os.environ.get("JOPT_FAST", "1"), "MPLBACKEND": "Agg"}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            return dict(zip(PATHS, pool.map(_execute, PATHS)))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs(path, executed):
    outcome = executed[path]
    if isinstance(outcome, Exception):
        raise outcome
    assert not outcome, f"{path.name}: {outcome[0].get('ename')}: {outcome[0].get('evalue')}"
