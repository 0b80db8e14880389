"""The multi-process seam of a sweep: every ``jax.process_count()``, broadcast and gather.

Under ``jax.distributed`` the configurations are sharded over every process's devices
and each process runs the same programs on its shards.  Process 0 (the writer) decides
what depends on a clock, a disk or free memory and broadcasts it (:func:`from_writer`),
reads and writes the output folder (a checkpoint it reads goes to every process:
:func:`arrays_from_writer`) and shows the progress bar; results are read whole on every
process (:func:`to_host`).  With one process each function is the plain operation.
"""

from __future__ import annotations

import json
import math
from typing import Any, Optional

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from jopt.sweep.store import SpecMismatchError, Store

__all__ = ["is_writer", "to_host", "from_writer", "shard", "open_store", "arrays_from_writer",
           "json_from_writer"]


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
    every process, so that all of them make its choices (a collective, like :func:`to_host`)."""
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


def arrays_from_writer(arrays: Optional[dict]) -> Optional[dict]:
    """The writer's ``arrays`` (name -> NumPy array, or None) on every process, bit for bit:
    what only the writer could read (a checkpoint in its output folder) for all of them to
    go on from.  The other processes' argument is ignored; with one process it is
    returned as it is.  Sent as bytes, after their layout (names, dtypes, shapes): the
    other processes know neither, and :func:`from_writer` of the arrays themselves would
    make 64-bit values 32-bit ones (without ``jax_enable_x64``)."""
    if jax.process_count() == 1:
        return arrays
    if not bool(from_writer(np.int32(arrays is not None))):
        return None
    mine = {name: np.asarray(value) for name, value in arrays.items()} \
        if is_writer() else {}
    layout = json.dumps([[name, value.dtype.str, value.shape]
                         for name, value in mine.items()]).encode()
    layout = json.loads(_bytes_from_writer(layout, int(from_writer(np.int32(len(layout))))))
    sizes = [np.dtype(dtype).itemsize * math.prod(shape) for _, dtype, shape in layout]
    data = _bytes_from_writer(b"".join(value.tobytes() for value in mine.values()), sum(sizes))
    if is_writer():
        return arrays
    offsets = np.cumsum([0] + sizes)
    return {name: np.frombuffer(data, dtype, math.prod(shape), int(offset)).reshape(shape).copy()
            for (name, dtype, shape), offset in zip(layout, offsets)}


def json_from_writer(value: Any) -> Any:
    """The writer's JSON-ready ``value`` (None included) on every process; the others'
    is ignored: what only the writer reads, such as its output folder's manifest."""
    if jax.process_count() == 1:
        return value
    text = np.frombuffer(json.dumps(value).encode(), np.uint8) if is_writer() else None
    sent = arrays_from_writer({"json": text} if is_writer() else None)
    return json.loads(sent["json"].tobytes())


def _bytes_from_writer(data: bytes, size: int) -> bytes:
    """The writer's ``data`` (``size`` bytes there; the others' is ignored) on every
    process."""
    if size == 0:
        return b""
    buffer = np.frombuffer(data, np.uint8) if is_writer() else np.zeros(size, np.uint8)
    return np.asarray(from_writer(buffer)).tobytes()
