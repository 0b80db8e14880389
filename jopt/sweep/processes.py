"""The multi-process seam of a sweep: every ``jax.process_count()``, broadcast and gather.

Under ``jax.distributed`` the configurations are sharded over every process's devices
and each process runs the same programs on its shards.  Process 0 (the writer) decides
what depends on a clock, a disk or free memory and broadcasts it (:func:`from_writer`),
writes the output folder and shows the progress bar; results are read whole on every
process (:func:`to_host`).  With one process each function is the plain operation.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from jopt.sweep.store import SpecMismatchError, Store

__all__ = ["is_writer", "to_host", "from_writer", "shard", "open_store", "resume_from_writer"]


def shard(tree: Any, mesh: jax.sharding.Mesh) -> Any:
    """Host arrays (whole, the same on every process) split over the mesh's devices by
    their first axis.  Under ``jax.distributed`` each process puts its own devices'
    shards: ``device_put`` would first check that the processes' values are equal, which
    NaNs (the rows of a resumed sweep) never are."""
    sharding = NamedSharding(mesh, PartitionSpec("configs"))
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree_util.tree_map(lambda value: jax.make_array_from_callback(
        np.shape(value), sharding, lambda index: np.asarray(value)[index]), tree)


def is_writer() -> bool:
    """Whether this process writes the output folder and shows the progress bar: process 0
    of a ``jax.distributed`` run, or the only process."""
    return jax.process_index() == 0


def to_host(array: Any) -> np.ndarray:
    """``array`` whole, as a NumPy array: one sharded over several processes' devices is
    gathered from all of them (a collective: every process calls it, in the same order)."""
    if getattr(array, "is_fully_addressable", True):
        return np.asarray(array)
    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def from_writer(value: Any) -> Any:
    """The writer's ``value`` (a pytree of arrays, the same structure on every process) on
    every process, so that all of them make its choices (a collective, like :func:`_host`)."""
    if jax.process_count() == 1:
        return value
    return multihost_utils.broadcast_one_to_all(value)


def open_store(out: Optional[str], spec: dict, overwrite: bool):
    """The output folder's :class:`~jopt.sweep.store.Store` on the writer; None on the other
    processes and without ``out``.  A folder the writer refuses (another spec, a file) is
    refused on every process."""
    if out is None:
        return None
    store, refusal = None, None
    if is_writer():
        try:
            store = Store.open(out, spec, overwrite=overwrite)
        except Exception as error:  # noqa: BLE001  (raised below, after telling the others)
            refusal = error
    # 0: opened, 1: another spec's folder, 2: another error
    code = 0 if refusal is None else 1 if isinstance(refusal, SpecMismatchError) else 2
    code = int(from_writer(np.int32(code)))
    if refusal is not None:
        raise refusal
    if code == 1:
        raise SpecMismatchError(f"process 0 found another sweep spec's results in {out}; "
                                "pass --overwrite (overwrite=True) or choose another folder")
    if code == 2:
        raise RuntimeError(f"process 0 could not open the output folder {out} (see its error)")
    return store


def resume_from_writer(resume: Optional[dict], programs: Any, hparams: dict):
    """The writer's checkpoint of a slice (unpacked, or None) on every process; the others
    make a template of its arrays from the slice's state shapes."""
    if jax.process_count() == 1:
        return resume
    if not bool(from_writer(np.int32(resume is not None))):
        return None
    if resume is None:
        carry, rows = programs.state_shapes(hparams)
        resume = {"carry": [np.zeros(v.shape, v.dtype) for v in jax.tree_util.tree_leaves(carry)],
                  "rows": {k: np.zeros(v.shape, v.dtype) for k, v in rows.items()},
                  "next_block": np.zeros((), np.int64)}
    else:
        resume = dict(resume, next_block=np.asarray(resume["next_block"], np.int64))
    return from_writer(resume)
