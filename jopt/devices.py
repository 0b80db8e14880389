"""A process's JAX set up for sweeps: one XLA host device per CPU core, and compiled
programs kept on disk across processes.

XLA runs a CPU program on one device, and a sweep's configurations are sharded over the
devices, so a sweep on a CPU uses every core only if JAX sees one host device per core.
That is ``XLA_FLAGS=--xla_force_host_platform_device_count=N``, which JAX reads once,
when its CPU backend starts (at the first computation, not at ``import jax``)::

    from jopt.devices import use_every_core
    use_every_core()           # before the first JAX computation of the process
    import jopt.sweep as sweep

This module imports nothing of JAX, so calling it first is always early enough.

Compiling a sweep's programs takes seconds (on a CPU, most of a small sweep's first
call); :func:`use_compilation_cache` keeps them on disk, so that a later process that
compiles the same program loads it instead (JAX's persistent compilation cache, whose
key is the program itself, the compile options, the devices and the versions of JAX
and XLA: a changed task, budget or version compiles afresh).  The ``jopt`` command
turns it on, in :func:`default_cache_dir` unless told otherwise.
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Optional

__all__ = ["usable_cores", "use_every_core", "cpu_cache_bytes", "DEFAULT_CPU_CACHE_BYTES",
           "default_cache_dir", "use_compilation_cache", "CACHE_MIN_COMPILE_SECONDS",
           "CACHE_MAX_BYTES"]

CACHE_MIN_COMPILE_SECONDS = 0.1
"""Programs that compile faster than this are not written to the cache (JAX's default,
1 s, would leave out a sweep's programs on a fast machine)."""

CACHE_MAX_BYTES = 2 ** 30
"""The cache's size, beyond which JAX evicts the least recently used programs."""


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):
        return os.cpu_count() or 1


DEFAULT_CPU_CACHE_BYTES = 32 * 2 ** 20
"""The last-level cache assumed where the system does not say (a common L3 size)."""


def cpu_cache_bytes(cpu_dir: str = "/sys/devices/system/cpu") -> int:
    """The size of the largest cache the first usable core sees (its last level), from
    Linux's ``sysfs`` under ``cpu_dir``, which lists the caches a virtual machine's cores
    actually see (glibc's ``sysconf`` may give the host's); :data:`DEFAULT_CPU_CACHE_BYTES`
    where unknown."""
    try:
        core = min(os.sched_getaffinity(0))
    except (AttributeError, OSError, ValueError):
        core = 0
    caches = os.path.join(cpu_dir, f"cpu{core}", "cache")
    sizes = {}
    try:
        for index in (name for name in os.listdir(caches) if name.startswith("index")):
            with open(os.path.join(caches, index, "level")) as level, \
                    open(os.path.join(caches, index, "size")) as size:
                sizes[int(level.read())] = _bytes(size.read().strip())
    except (OSError, ValueError):
        return DEFAULT_CPU_CACHE_BYTES
    return sizes[max(sizes)] if sizes else DEFAULT_CPU_CACHE_BYTES


def _bytes(size: str) -> int:
    """``sysfs``'s ``32768K`` (or ``1M``, ``512``) in bytes."""
    units = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}
    if size[-1:].upper() in units:
        return int(size[:-1]) * units[size[-1].upper()]
    return int(size)


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


def default_cache_dir() -> str:
    """Where compiled programs are kept: ``$JOPT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/jopt/xla``, else ``~/.cache/jopt/xla``."""
    if os.environ.get("JOPT_CACHE_DIR"):
        return os.environ["JOPT_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jopt", "xla")


def use_compilation_cache(directory: Optional[str] = None) -> str:
    """Keep this process's compiled XLA programs in ``directory`` (default:
    :func:`default_cache_dir`) and load them from there when a program compiles again, in
    this process or a later one.  Returns the directory.

    Turns on JAX's persistent compilation cache (``jax_compilation_cache_dir``) for the
    rest of the process, for programs that take at least
    :data:`CACHE_MIN_COMPILE_SECONDS` to compile, evicting the least recently used
    beyond :data:`CACHE_MAX_BYTES` (with the ``filelock`` package, a dependency of jopt;
    without it, unbounded, with a warning).  A program is loaded only for the same program text,
    compile options, devices, JAX and XLA, so a loaded program computes what a fresh
    compile would.
    """
    import jax

    directory = os.path.abspath(os.path.expanduser(directory or default_cache_dir()))
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECONDS)
    if _can_evict():
        jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    else:
        warnings.warn(f"the compilation cache in {directory} is not bounded: JAX evicts from it "
                      "under a file lock, from the filelock package (pip install filelock)",
                      RuntimeWarning, stacklevel=2)
    return directory


def _can_evict() -> bool:
    """Whether JAX can bound its cache: with a size set and no ``filelock`` it would read
    and write nothing (each compile warns that the cache failed)."""
    try:
        importlib.import_module("filelock")
    except ImportError:
        return False
    return True
