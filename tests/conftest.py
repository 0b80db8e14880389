"""Shared pytest setup: the test problems are importable as ``problems`` from every test,
and the repository's ``experiments`` package (the lecture setups) as ``experiments``."""

import os
import sys

import pytest

_TESTS = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_TESTS)
for _folder in (_TESTS, _ROOT):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)


def pytest_configure(config):
    """The ``jopt`` command keeps compiled programs in a cache folder: during the tests
    (their own processes and the commands they start), a folder of this run, not the
    user's.  The test process keeps its programs there too (``JOPT_TEST_CACHE=0``: it
    compiles every one): many tests compile a program another test compiled already,
    and a program loaded from the cache computes what a fresh compile would."""
    import tempfile
    if "JOPT_CACHE_DIR" not in os.environ:
        config._jopt_cache_dir = tempfile.mkdtemp(prefix="jopt-test-cache-")
        os.environ["JOPT_CACHE_DIR"] = config._jopt_cache_dir
    if os.environ.get("JOPT_TEST_CACHE", "1") == "1":
        from jopt.devices import use_compilation_cache
        use_compilation_cache(os.environ["JOPT_CACHE_DIR"])


def pytest_unconfigure(config):
    import shutil
    folder = getattr(config, "_jopt_cache_dir", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("JOPT_CACHE_DIR", None)


class CliRun:
    """What ``jopt ...`` returned and printed: ``returncode``, ``stdout``, ``stderr``."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr



@pytest.fixture
def jopt_cli(monkeypatch, capsys):
    """``jopt_cli(*args, cwd=...)``: the ``jopt`` command run in this process
    (``jopt.cli.main``), for the cases that stop before training: a subprocess would
    spend a second starting Python and importing JAX.  The environment is restored
    after (``jopt sweep`` sets ``XLA_FLAGS`` where it is unset)."""
    from jopt import cli

    def run(*args, cwd):
        monkeypatch.chdir(cwd)
        monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
        capsys.readouterr()
        returncode = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliRun(returncode, out, err)
    return run
