"""Devices before JAX starts: one XLA host device per CPU core.

XLA runs a CPU program on one device, and a sweep's configurations are sharded over the
devices, so a sweep on a CPU uses every core only if JAX sees one host device per core.
That is ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, which JAX reads once,
when its CPU backend starts (at the first computation, not at ``import jax``)::

    from jopt.devices import use_every_core
    use_every_core()           # before the first JAX computation of the process
    import jopt.sweep as sweep

This module imports nothing of JAX, so calling it first is always early enough.
"""

from __future__ import annotations

import os
from typing import Optional

__all__ = ["usable_cores", "use_every_core"]


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def use_every_core() -> Optional[str]:
    """Set ``XLA_FLAGS`` to one host device per usable core, unless it is set already.

    Returns the value set, or None when ``XLA_FLAGS`` was left as it was (then set the
    flag there yourself).  Takes effect only if JAX's backends have not started yet in
    this process.
    """
    if "XLA_FLAGS" in os.environ:
        return None
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={usable_cores()}"
    return os.environ["XLA_FLAGS"]
