"""Shared pytest setup: the test problems are importable as ``problems`` from every test,
and the repository's ``experiments`` package (the lecture setups) as ``experiments``."""

import os
import sys

_TESTS = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_TESTS)
for _folder in (_TESTS, _ROOT):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)
