"""JAX's compilations counted through its public event stream (``jax.monitoring``).

A test that must show that something is, or is not, compiled again counts the backend
compilations that JAX reports while it runs, by the jitted function's name
(``"jit(chunk)"``, say), instead of reading a library's private caches or counters::

    with compilations() as compiled:
        program(new_values)
    assert compiled["jit(sweep)"] == 0
"""

from __future__ import annotations

import collections
import contextlib
from typing import Iterator

import jax.monitoring

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"  # one event per XLA compile


@contextlib.contextmanager
def compilations() -> Iterator[collections.Counter]:
    """A counter ``{"jit(name)": compiles}`` of the XLA compilations inside the block."""
    counts: collections.Counter = collections.Counter()

    def listener(event: str, duration: float, **details) -> None:
        if event == BACKEND_COMPILE:
            counts[details.get("fun_name", "?")] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counts
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
