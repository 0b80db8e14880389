"""optax's module names, pointing at jopt: the one change made to optax's vendored tests.

A vendored test file's ``from optax._src import alias`` reads
``from optax_shim import alias``.  Each module here (``alias``, ``base``, ``combine``,
``transform``, ``update``, ``_schedule``, ...) answers an attribute with jopt's object
of that name: a name of ``jopt.__all__``, of the ``__all__`` of a jopt module, or of
``jopt.base``.  A name jopt does not ship is a placeholder that skips the test using
it (``unittest.SkipTest``) when a test calls it, reads from it or uses it in
``isinstance``, so those tests count as skipped, not failed, and run once jopt ships
the name.  Outside a running test (a decorator's arguments, read when the file is
imported) calling one gives another placeholder, so that a missing name skips the
tests that use it, not the whole file; ``conftest.py`` marks the running test.

Test harness modules stay optax's, since they are not what the tests test:
``test_utils`` (tree assertions, a compilation logger), ``numerics.abs_sq`` and
``losses`` (objectives of test problems), ``utils.x64_precision`` and ``optax.tree``
(generic pytree helpers, imported as ``import optax.tree`` in the files unchanged).
"""

from __future__ import annotations

import importlib
import types
import unittest

import jopt
from optax._src import numerics, test_utils, utils  # noqa: F401  (harness, re-exported)
from optax.losses import _classification  # noqa: F401  (harness, re-exported)

# The jopt modules whose public names the shim answers with, besides ``jopt`` itself.
_MODULES = ("base", "transforms", "optimizers", "schedules", "linesearch", "lbfgs",
            "combine", "wrappers")


def _public_names(module: types.ModuleType) -> set[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return set(names)


def _namespace() -> dict[str, object]:
    """Every public name jopt ships, mapped to its object (the package's own first)."""
    found: dict[str, object] = {}
    for name in _MODULES:
        try:
            module = importlib.import_module(f"jopt.{name}")
        except ModuleNotFoundError:
            continue
        for public in _public_names(module):
            found.setdefault(public, getattr(module, public))
    for public in jopt.__all__:
        if public != "sweep":  # imported on first use; not an optax name
            found[public] = getattr(jopt, public)
    return found


_JOPT = _namespace()


RUNNING_TEST = False
"""Whether a test is running (set by ``conftest.py``); see the module docstring."""


def _placeholder(qualname: str) -> type:
    return _Missing(qualname.rsplit(".", 1)[-1], (), {"__qualname__": qualname})


class _Missing(type):
    """The type of a placeholder for an optax name that jopt does not ship."""

    def _skip(cls):
        raise unittest.SkipTest(f"jopt does not ship optax's {cls.__qualname__}")

    def __call__(cls, *args, **kwargs):
        if not RUNNING_TEST:
            return _placeholder(f"{cls.__qualname__}(...)")
        cls._skip()

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        cls._skip()

    def __instancecheck__(cls, instance):
        cls._skip()


class _JoptModule(types.ModuleType):
    """One of optax's module names, answering with jopt's objects."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _JOPT:
            return _JOPT[name]
        return _placeholder(f"{self.__name__}.{name}")


def is_shipped(name: str) -> bool:
    """Whether jopt ships the optax name ``name``."""
    return name in _JOPT


alias = _JoptModule("alias")
base = _JoptModule("base")
combine = _JoptModule("combine")
transform = _JoptModule("transform")
update = _JoptModule("update")
linesearch = _JoptModule("linesearch")
_schedule = _JoptModule("_schedule")
_join = _JoptModule("_join")
_inject = _JoptModule("_inject")
_accumulation = _JoptModule("_accumulation")
_clipping = _JoptModule("_clipping")
_combining = _JoptModule("_combining")
