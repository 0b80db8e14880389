"""The runner: every configuration of a grid trained at once, one compiled program per bucket.

For each bucket (one value of each static axis) the runner

1. stacks the traced axes into arrays with a leading configuration axis, padded to a
   multiple of the device count and sharded over a 1-D mesh of ``jax.devices()``;
2. compiles, ahead of time, an ``init`` program (``vmap`` of the task's ``init``; in a
   thread while the next one is traced) and a ``chunk`` program: a loop over evaluation
   blocks (an evaluation, then ``lax.scan`` over ``eval_every`` steps) of the task's
   ``evaluate`` and ``step`` vmapped over the configurations, the number of blocks an
   argument, so resizing chunks does not recompile;
3. reads XLA's memory estimate of the chunk program: if every configuration at once does
   not fit (``memory_limit``, default :data:`MEMORY_FRACTION` of :func:`free_memory`),
   the bucket runs in sequential slices of the size that fits, all through one program
   of that size;
4. runs chunks of about ``chunk_seconds`` until every configuration has spent its budget,
   stopped early or diverged (diverged ones froze inside the program, by mask), then
   reads the final metrics.  Between chunks: the progress bar, a checkpoint (at most
   every ``checkpoint_seconds``) and partial results in the output folder.

The tasks and compiled programs of the last :data:`CACHE_SIZE` buckets are kept: a later
sweep of the same task, static values and budget reuses them (:func:`clear_cache`).

Under ``jax.distributed`` the mesh holds every process's devices and each process runs
the same programs on its shards; process 0 (the writer) decides what depends on a clock,
a disk or free memory and broadcasts it, and results are read whole on every process.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import gc
import math
import os
import sys
import time
import warnings
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jopt.sweep.grid import Grid
from jopt.sweep.tasks import Budget, SweepTask, TaskFactory

__all__ = ["run", "choose_batch_strategy", "mesh_for", "clear_cache", "STRATEGIES", "CACHE_SIZE"]

STRATEGIES = ("auto", "bucket", "mask")
TRACES: collections.Counter = collections.Counter()
"""How many times each program was traced (so compiled): ``TRACES["chunk"]`` grows by one per
bucket (and slice size) of a sweep."""


# ----------------------------------------------------------------------------
# Devices
# ----------------------------------------------------------------------------


def mesh_for(devices: Optional[Sequence[Any]] = None) -> jax.sharding.Mesh:
    """A 1-D mesh ``("configs",)`` over ``devices`` (default: all), with auto axes.

    JAX 0.10's ``jax.make_mesh`` defaults to explicit axes, under which a reshape inside
    the vmapped function raises ``ShardingTypeError``; ``AxisType.Auto`` avoids it.
    """
    devices = list(jax.devices() if devices is None else devices)
    return jax.sharding.Mesh(np.array(devices), ("configs",),
                             axis_types=(jax.sharding.AxisType.Auto,))


def _shard(tree: Any, mesh: jax.sharding.Mesh) -> Any:
    """Host arrays (whole, the same on every process) split over the mesh's devices by
    their first axis.  Under ``jax.distributed`` each process puts its own devices'
    shards: ``device_put`` would first check that the processes' values are equal, which
    NaNs (the rows of a resumed sweep) never are."""
    sharding = NamedSharding(mesh, PartitionSpec("configs"))
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree_util.tree_map(lambda value: jax.make_array_from_callback(
        np.shape(value), sharding, lambda index: np.asarray(value)[index]), tree)


def _pad(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` padded to ``size`` rows by repeating its last row (a real, valid config)."""
    if len(values) == size:
        return values
    return np.concatenate([values, np.repeat(values[-1:], size - len(values), axis=0)])


# ----------------------------------------------------------------------------
# Processes: under jax.distributed every process runs the same programs on its devices'
# shards; process 0 (the writer) decides, writes the output folder and shows the bar
# ----------------------------------------------------------------------------


def _writer() -> bool:
    """Whether this process writes the output folder and shows the progress bar: process 0
    of a ``jax.distributed`` run, or the only process."""
    return jax.process_index() == 0


def _host(array: Any) -> np.ndarray:
    """``array`` whole, as a NumPy array: one sharded over several processes' devices is
    gathered from all of them (a collective: every process calls it, in the same order)."""
    if getattr(array, "is_fully_addressable", True):
        return np.asarray(array)
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def _from_writer(value: Any) -> Any:
    """The writer's ``value`` (a pytree of arrays, the same structure on every process) on
    every process, so that all of them make its choices (a collective, like :func:`_host`)."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils
    return multihost_utils.broadcast_one_to_all(value)


def _open_store(out: Optional[str], spec: dict, overwrite: bool):
    """The output folder's :class:`~jopt.sweep.store.Store` on the writer; None on the other
    processes and without ``out``.  A folder the writer refuses (another spec, a file) is
    refused on every process."""
    from jopt.sweep.store import SpecMismatchError, Store
    if out is None:
        return None
    store, refusal = None, None
    if _writer():
        try:
            store = Store.open(out, spec, overwrite=overwrite)
        except Exception as error:  # noqa: BLE001  (raised below, after telling the others)
            refusal = error
    # 0: opened, 1: another spec's folder, 2: another error
    code = 0 if refusal is None else 1 if isinstance(refusal, SpecMismatchError) else 2
    code = int(_from_writer(np.int32(code)))
    if refusal is not None:
        raise refusal
    if code == 1:
        raise SpecMismatchError(f"process 0 found another sweep spec's results in {out}; "
                                "pass --overwrite (overwrite=True) or choose another folder")
    if code == 2:
        raise RuntimeError(f"process 0 could not open the output folder {out} (see its error)")
    return store


def _resume_from_writer(resume: Optional[dict], programs: "_Programs", hparams: dict):
    """The writer's checkpoint of a slice (unpacked, or None) on every process; the others
    make a template of its arrays from the slice's state shapes."""
    if jax.process_count() == 1:
        return resume
    if not bool(_from_writer(np.int32(resume is not None))):
        return None
    if resume is None:
        carry, rows = programs.state_shapes(hparams)
        resume = {"carry": [np.zeros(v.shape, v.dtype) for v in jax.tree_util.tree_leaves(carry)],
                  "rows": {k: np.zeros(v.shape, v.dtype) for k, v in rows.items()},
                  "next_block": np.zeros((), np.int64)}
    else:
        resume = dict(resume, next_block=np.asarray(resume["next_block"], np.int64))
    return _from_writer(resume)


# ----------------------------------------------------------------------------
# Batch-size strategy
# ----------------------------------------------------------------------------


def choose_batch_strategy(batch_sizes: Sequence[int], steps_of: Callable[[int], int],
                          counts: Sequence[int], compile_cost_examples: float = 2e5) -> str:
    """``"mask"`` or ``"bucket"`` by estimated cost, in examples pushed through the model.

    bucket: each batch size ``b`` runs its configs for ``steps(b)`` steps of ``b`` rows,
    plus one compilation each (``compile_cost_examples`` per program); mask: one program
    whose configs all run ``max steps`` steps of ``max b`` rows.
    """
    sizes = list(batch_sizes)
    if len(set(sizes)) <= 1:
        return "bucket"
    bucket = sum(c * steps_of(b) * b for b, c in zip(sizes, counts))
    bucket += compile_cost_examples * len(set(sizes))
    mask = sum(counts) * max(steps_of(b) for b in sizes) * max(sizes) + compile_cost_examples
    return "mask" if mask < bucket else "bucket"


# ----------------------------------------------------------------------------
# One bucket
# ----------------------------------------------------------------------------


def _config_key(hparams: dict, static_values: dict) -> jax.Array:
    """A configuration's random key: ``PRNGKey(seed)``, the seed traced or static (0 if the
    grid has none)."""
    return jax.random.PRNGKey(hparams.get("seed", static_values.get("seed", 0)))


def _stack(configs: list[dict], names: Sequence[str]) -> dict:
    """The traced axes as arrays: integers int32, the rest float32."""
    out = {}
    for name in names:
        values = np.array([c[name] for c in configs])
        out[name] = values.astype(np.int32 if np.issubdtype(values.dtype, np.integer) else np.float32)
    return out


INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1,
                         "xla_cpu_use_fusion_emitters": False,
                         "xla_cpu_parallel_codegen_split_count": 1}
"""XLA's options for the init program on a CPU.  It runs once and briefly, so it is compiled
for a fast compile: for the reference MLP (whose compile is mostly the threefry draws of
the initial weights) 0.28 s against 0.6 s, which it spends beside the chunk program's
trace.  Its machine code is generated in one piece, on one thread: the compile then
takes the core that the trace (Python, one thread) leaves idle instead of competing for
both (sweep first calls 0.95x, median of 26 alternating fresh-process pairs, 19 of them
faster).  Its outputs are integer hashes and elementwise maps of them;
``tests/test_sweep_runner.py`` checks that they are bit for bit those of ``model.init``
compiled with the default options."""

CHUNK_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
"""XLA's options for the chunk program on a CPU: LLVM's ``-O1`` instead of ``-O3``.  The
program's heavy work is in library calls (the dots) and in loops that XLA's fusion
emitters write already vectorized, so ``-O3`` buys it no speed.  Reference MLP: compile
1.4 s against 1.7 s (medians, 3 alternating rounds), run the same 0.6-0.7 s.  A
1024-config logistic regression: compile 1.33 s against 1.63 s, run unchanged.  An MLP
64-1024-1024-10 (64 configs, a 2-minute run): compile the same, run 121 s against 117 s,
within this 2-core machine's noise.  Results agree with the default options' up to
rounding: some arithmetic is compiled differently in the last bit (in four of the five
tasks tried only the mean of a block's batch losses differed), and
``tests/test_sweep_runner.py`` checks the statuses exactly and the rest to 1e-4."""


class _Programs:
    """The programs of one bucket: ``init``, ``chunk``, ``status`` and ``final``, compiled
    once per slice size and reused by every slice of that size (and, through
    :func:`_cached`, by later sweeps of the same task and budget).  ``blocks``
    (evaluation blocks in the longest budget of the bucket) fixes the rows' length;
    ``static_values``: the bucket's static axes (a static ``seed`` among them)."""

    def __init__(self, task: SweepTask, budget: Budget, mesh, blocks: int,
                 static_values: Optional[dict] = None):
        self.task = task
        self.mesh = mesh
        self.eval_every = budget.eval_every
        self.blocks = blocks
        self.sharding = NamedSharding(mesh, PartitionSpec("configs"))
        self._compiled: dict = {}   # slice signature -> what _compile returns

        # the batch losses before the first step: all NaN, one per step of a block (in the
        # default float type, to which the steps' losses are cast: finding the task's own
        # type would trace its step once more)
        loss_dtype = jnp.result_type(float)

        def no_losses():
            return jnp.full((self.eval_every,), jnp.nan, loss_dtype)

        def init_one(h):
            carry = task.init(h, _config_key(h, static_values or {}))
            row = jax.eval_shape(lambda: task.evaluate(carry, h, no_losses())[1])
            rows = jax.tree_util.tree_map(
                lambda v: jnp.full((self.blocks + 1,), jnp.nan, jnp.result_type(v.dtype, float)), row)
            return carry, rows

        # every configuration's step and evaluation: vmapped inside the loops, not around
        # them, so that vmap batches the task's functions as they are traced instead of
        # batching the loops' traced bodies again (the chunk's trace: 0.2 s against 0.3 s)
        step_all = jax.vmap(task.step, in_axes=(0, 0, None))
        evaluate_all = jax.vmap(task.evaluate, in_axes=(0, 0, 1))  # losses: (steps, configs)
        status_all = jax.vmap(task.status)

        def chunk(carry, rows, h, first_block, n_blocks):
            """Rows ``first_block .. first_block + n_blocks`` and the blocks of steps between
            them, for every configuration.  One evaluation site (compiled once): iteration
            ``i`` evaluates row ``first_block + i`` (unless a previous chunk did:
            ``i == 0 < first_block``), then, for ``i < n_blocks``, runs that block's steps."""
            TRACES["chunk"] += 1

            def evaluate(state, i):
                carry, rows, losses = state
                carry, row = evaluate_all(carry, h, losses)
                rows = jax.tree_util.tree_map(lambda buf, v: buf.at[:, first_block + i].set(v),
                                              rows, row)
                return carry, rows, losses

            def steps(state, i):
                carry, rows, _ = state
                first_step = (first_block + i) * self.eval_every
                carry, losses = jax.lax.scan(lambda c, t: step_all(c, h, t), carry,
                                             first_step + jnp.arange(self.eval_every))
                return carry, rows, losses.astype(loss_dtype)

            def body(i, state):
                state = jax.lax.cond((i > 0) | (first_block == 0), evaluate, lambda s, i: s, state, i)
                return jax.lax.cond(i < n_blocks, steps, lambda s, i: s, state, i)

            configs = jax.tree_util.tree_leaves(carry)[0].shape[0]
            no_block_yet = jnp.broadcast_to(no_losses()[:, None], (self.eval_every, configs))
            state = (carry, rows, no_block_yet)
            carry, rows, _ = jax.lax.fori_loop(0, n_blocks + 1, body, state)
            return carry, rows, status_all(carry)

        # fixed output shardings: the chunk program sees the same input layout on every
        # call (the init's outputs, then its own), so it compiles once
        sharded = self.sharding
        # vmap, not lax.map: the same values (threefry is a hash of the key), and a
        # lax.map's loop writes each of the carry's leaves into its stacked output in a
        # kernel of its own: 0.46 s of compile against 0.28 s for the reference MLP
        self.init = jax.jit(jax.vmap(init_one), out_shardings=sharded)
        self.chunk = jax.jit(chunk, donate_argnums=(0, 1), out_shardings=sharded)
        self.status = jax.jit(status_all)
        self.final = jax.jit(jax.vmap(task.final))

    def _abstract(self, tree: Any) -> Any:
        return jax.tree_util.tree_map(
            lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=self.sharding), tree)

    def _signature(self, hparams: dict) -> tuple:
        return tuple((name, tuple(v.shape), str(v.dtype)) for name, v in sorted(hparams.items()))

    def compiled_init(self, hparams: dict):
        """The init program compiled (once) for slices shaped like ``hparams``."""
        return self._compile(hparams)[0]

    def compiled_chunk(self, hparams: dict):
        """The chunk program compiled (once) for slices shaped like ``hparams`` (arrays or
        ``jax.ShapeDtypeStruct``s): ahead of time, so its memory estimate is known
        before anything is allocated."""
        return self._compile(hparams)[1]

    def bytes_per_config(self, hparams: dict) -> Optional[float]:
        """XLA's estimate of one configuration's memory in the init or the chunk program,
        whichever needs more, for slices shaped like ``hparams`` (:func:`_bytes_per_config`)."""
        return self._compile(hparams)[3]

    def state_shapes(self, hparams: dict):
        """``(carry, rows)`` of a slice shaped like ``hparams``, as shapes."""
        return self._compile(hparams)[2]

    def _compile(self, hparams: dict) -> tuple:
        """``(init, chunk, state shapes, bytes per config)`` for slices shaped like
        ``hparams``, compiled on first use.  The init program is traced first (its
        outputs' shapes are the chunk's inputs) and lowered, then compiled in a thread while
        this one traces the chunk program: XLA's compiler releases the GIL; tracing and
        lowering need it, so both run here, one after the other."""
        signature = self._signature(hparams)
        if signature not in self._compiled:
            hparams = self._abstract(hparams)
            traced = self.init.trace(hparams)
            init_lowered = traced.lower()
            cpu = self.mesh.devices.flat[0].platform == "cpu"
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                init = pool.submit(_compile_with, init_lowered,
                                   INIT_COMPILER_OPTIONS if cpu else None)
                carry, rows = self._abstract(traced.out_info)
                chunk_lowered = self.chunk.lower(carry, rows, hparams, np.int32(0), np.int32(1))
                chunk = _compile_with(chunk_lowered, CHUNK_COMPILER_OPTIONS if cpu else None)
                size = next(iter(hparams.values())).shape[0]
                init = init.result()
                # the larger of the two programs' needs (init holds its draws and the carry)
                estimates = [_bytes_per_config(program, size, self.mesh.devices.size)
                             for program in (init, chunk)]
                per_config = None if None in estimates else max(estimates)
                self._compiled[signature] = (init, chunk, traced.out_info, per_config)
        return self._compiled[signature]


def _compile_with(lowered, options: Optional[dict]):
    """``lowered`` compiled with XLA's ``options``, or with its defaults (and a warning)
    when this jaxlib's XLA does not know one of them: they only make compiles faster, and
    XLA's option names change between versions."""
    try:
        return lowered.compile(options)
    except Exception as error:  # noqa: BLE001  (jaxlib's error type varies by version)
        if not options or "No such compile option" not in str(error):
            raise
    warnings.warn(f"jopt.sweep: this jaxlib's XLA refused one of the compile options "
                  f"{sorted(options)}; compiling with XLA's defaults instead (slower to "
                  "compile, results equal up to rounding)", RuntimeWarning, stacklevel=2)
    return lowered.compile()


class _Slice(NamedTuple):
    """Configurations that run together: their traced hyperparameters (padded to the
    slice size and sharded), how many are real, their budgets in steps, and the same
    hyperparameters on the host."""

    hparams: dict
    size: int
    num_steps: np.ndarray
    host: dict


def _bytes_per_config(compiled, configs: int, devices: int) -> Optional[float]:
    """Device memory of one configuration in a compiled program (arguments, outputs not
    aliased to them, temporaries), from XLA's estimate; None if it gives none."""
    try:
        stats = compiled.memory_analysis()
    except Exception:  # noqa: BLE001  (a backend without estimates)
        return None
    if stats is None:
        return None
    per_device = (stats.argument_size_in_bytes + stats.output_size_in_bytes
                  - stats.alias_size_in_bytes + stats.temp_size_in_bytes)
    return per_device * devices / configs


MEMORY_FRACTION = 0.4
"""The share of free memory a slice's chunk program may take: the host also holds a copy
of the carry while checkpointing, and the init and final programs run beside it."""


def free_memory(devices: Sequence[Any]) -> Optional[int]:
    """Bytes free for the programs over ``devices``: on a GPU or TPU the sum over devices of
    ``bytes_limit - bytes_in_use``; on a CPU (host devices share the RAM) the host's
    ``MemAvailable``; None when unknown."""
    stats = [device.memory_stats() for device in devices] if devices[0].platform != "cpu" else []
    if stats and all(s and "bytes_limit" in s for s in stats):
        return int(sum(s["bytes_limit"] - s.get("bytes_in_use", 0) for s in stats))
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _run_slice(programs: _Programs, part: _Slice, *, chunk_seconds: float, checkpoint: Callable,
               resume: Optional[dict], progress: Callable) -> tuple:
    """Run one slice to the end: ``(status, rows, final metrics, timings)``, host arrays.

    ``timings``: seconds spent in ``init`` (compile and run), compiling the chunk
    program (0 when an earlier slice of this size did), running chunks, and reading the
    final metrics (compile and run)."""
    timings = {}
    started = time.perf_counter()
    init = programs.compiled_init(part.hparams)
    if resume is not None:
        carry_template, _ = programs.state_shapes(part.hparams)
        carry = _shard(jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(carry_template),
                                                    resume["carry"]), programs.mesh)
        rows = _shard(dict(resume["rows"]), programs.mesh)
        next_block = int(resume["next_block"])
    else:
        carry, rows = init(part.hparams)
        next_block = 0
    jax.block_until_ready(carry)
    timings["init_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    chunk = programs.compiled_chunk(part.hparams)
    timings["compile_seconds"] = time.perf_counter() - started
    timings["run_seconds"] = 0.0
    blocks_per_chunk = 1
    last_checkpoint = time.monotonic()
    status = None  # (active, diverged, stop_step) after the last chunk
    while next_block < programs.blocks:
        n_blocks = min(blocks_per_chunk, programs.blocks - next_block)
        started = time.monotonic()
        carry, rows, status = chunk(carry, rows, part.hparams, np.int32(next_block),
                                    np.int32(n_blocks))
        status = active, diverged, stop_step = tuple(map(_host, status))
        elapsed = time.monotonic() - started
        timings["run_seconds"] += elapsed
        next_block += n_blocks
        per_block = elapsed / n_blocks
        blocks_per_chunk = max(1, int(chunk_seconds / max(per_block, 1e-6)))
        due = time.monotonic() - last_checkpoint > checkpoint.every
        # the clocks' decisions are the writer's: every process runs the same chunks
        blocks_per_chunk, due = map(int, _from_writer(np.array([blocks_per_chunk, due], np.int64)))
        done_steps = next_block * programs.eval_every
        alive = active & (part.num_steps > done_steps)
        progress(n_blocks * programs.eval_every, int(alive[:part.size].sum()), rows)
        if due or not alive.any() or next_block >= programs.blocks:
            # a slice left without a live config is done: a resume runs none of its blocks
            checkpoint(carry, rows, next_block if alive.any() else programs.blocks)
            last_checkpoint = time.monotonic()
        if not alive.any():
            break
    started = time.perf_counter()
    final = programs.final(carry, part.hparams)
    if status is None:  # resumed after the last chunk: no chunk ran
        status = tuple(map(_host, programs.status(carry)))
    host_rows = {k: _host(v) for k, v in rows.items()}
    timings["final_seconds"] = time.perf_counter() - started
    return status, host_rows, {k: _host(v) for k, v in final.items()}, timings


def _slice_of(configs: list[dict], traced: Sequence[str], size: int, task: SweepTask,
              mesh) -> _Slice:
    stacked = {k: _pad(v, size) for k, v in _stack(configs, traced).items()}
    return _Slice(_shard(stacked, mesh), len(configs), _per_config(task.num_steps, stacked, size),
                  stacked)


def _per_config(fn: Callable, stacked: dict, size: int) -> np.ndarray:
    """``fn`` (a task's ``num_steps``, ``batch_size`` or ``steps_per_epoch``: integer
    arithmetic on one configuration's hyperparameters) of every configuration, called
    once on the stacked NumPy arrays: ``jax.vmap`` would compile and dispatch small
    programs for it (about 30 ms on a sweep's first call).  ``size``: the configurations."""
    values = np.asarray(fn(stacked))
    if values.shape not in ((), (size,)):
        raise ValueError(f"{getattr(fn, '__name__', fn)} gave shape {values.shape} for {size} "
                         "configurations: it must be elementwise in the hyperparameters")
    return np.broadcast_to(values, (size,)).copy()


def _plan_slices(programs: _Programs, whole: _Slice, n_devices: int,
                 memory_limit: Optional[float]) -> tuple[int, Optional[float]]:
    """``(slice size, bytes per config)``: the whole padded bucket when its chunk program's
    memory estimate fits ``memory_limit`` (bytes; default :data:`MEMORY_FRACTION` of
    :func:`free_memory`), else as many configs per slice as fit, a multiple of the
    devices (at least one per device)."""
    size = len(next(iter(whole.hparams.values())))
    per_config = programs.bytes_per_config(whole.hparams)
    if memory_limit is None:
        free = free_memory(list(programs.mesh.devices.flat))
        memory_limit = None if free is None else MEMORY_FRACTION * free
    if per_config is None or memory_limit is None or per_config * size <= memory_limit:
        return size, per_config
    fitting = int(memory_limit // per_config) // n_devices * n_devices
    return max(n_devices, fitting), per_config


# ----------------------------------------------------------------------------
# Programs kept between sweeps
# ----------------------------------------------------------------------------

CACHE_SIZE = 8
"""How many buckets' tasks and compiled programs :func:`run` keeps for later sweeps."""
_CACHE: "collections.OrderedDict[tuple, Any]" = collections.OrderedDict()


def _cached(key: tuple, make: Callable) -> Any:
    """``make()``, or what it returned for ``key`` before (least recently used first out)."""
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = _CACHE[key] = make()
    while len(_CACHE) > 2 * CACHE_SIZE:  # a task and its programs per bucket
        _CACHE.popitem(last=False)
    return value


def clear_cache() -> None:
    """Forget the tasks and compiled programs that earlier sweeps left for later ones."""
    _CACHE.clear()


# ----------------------------------------------------------------------------
# The sweep
# ----------------------------------------------------------------------------


def _buckets(configs: list[dict], static_names: list[str]) -> list[tuple[dict, list[int]]]:
    """Configs grouped by their static values, in first-seen order: ``(static, indices)``."""
    groups: dict = {}
    for i, config in enumerate(configs):
        key = tuple(repr(config[name]) for name in static_names)
        groups.setdefault(key, ({name: config[name] for name in static_names}, []))[1].append(i)
    return list(groups.values())


def run(task: Any, grid: Any, *, budget: Any, out: Optional[str] = None, static: Sequence[str] = (),
        batch_strategy: str = "auto", chunk_seconds: float = 0.5,
        checkpoint_seconds: float = 30.0, quiet: Optional[bool] = None, overwrite: bool = False,
        devices: Optional[Sequence[Any]] = None, max_configs: Optional[int] = None,
        memory_limit: Optional[float] = None, spec: Optional[dict] = None):
    """Train every configuration of ``grid`` with ``task``; see :mod:`jopt.sweep`.

    A bucket runs in slices of at most ``max_configs`` configurations, fewer when its
    compiled chunk program's memory estimate for all of them exceeds ``memory_limit``
    bytes (default: :data:`MEMORY_FRACTION` of :func:`free_memory`).  The result's
    ``slices`` (also in the manifest) gives, per bucket, the slice size, the number of
    slices and the estimated bytes per configuration."""
    with _old_objects_frozen():
        return _run(task, grid, budget=budget, out=out, static=static,
                    batch_strategy=batch_strategy, chunk_seconds=chunk_seconds,
                    checkpoint_seconds=checkpoint_seconds, quiet=quiet, overwrite=overwrite,
                    devices=devices, max_configs=max_configs, memory_limit=memory_limit, spec=spec)


@contextlib.contextmanager
def _old_objects_frozen():
    """Python's cyclic garbage collector leaves the objects that exist on entry alone
    (``gc.freeze``) until exit; young objects are collected as usual.

    Tracing and assembling a sweep allocate enough objects to set off full collections,
    each of which walks every object in the process (JAX's and NumPy's modules hold
    most of them): one took 0.13 s of the reference chunk program's 0.48 s trace.  A
    caller that froze objects itself keeps its own freeze."""
    if gc.get_freeze_count() > 0:
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run(task, grid, *, budget, out, static, batch_strategy, chunk_seconds, checkpoint_seconds,
         quiet, overwrite, devices, max_configs, memory_limit, spec):
    from jopt.sweep.results import assemble, one_shot

    if not isinstance(grid, Grid):
        grid = Grid(grid)
    if not isinstance(budget, Budget):
        budget = Budget(**budget)
    budget.check()
    if batch_strategy not in STRATEGIES:
        raise ValueError(f"batch_strategy must be one of {STRATEGIES}, got {batch_strategy!r}")
    configs = grid.configs()
    if quiet is None:
        quiet = not sys.stderr.isatty()
    # no more devices than configurations: padding one config to two devices doubles the work
    # (under jax.distributed every process keeps its devices: each runs its shard)
    devices = list(jax.devices() if devices is None else devices)
    if jax.process_count() == 1:
        devices = devices[:max(1, len(configs))]
    mesh = mesh_for(devices)
    n_devices = mesh.devices.size

    if not isinstance(task, TaskFactory):
        return one_shot(task, grid, configs, static, mesh, out=out, overwrite=overwrite,
                        budget=budget, spec=spec)

    traced, static_names = grid.split(static=set(static) | set(task.static))
    strategy = batch_strategy
    if "batch_size" in grid.axes:
        sizes = sorted(set(grid.axes["batch_size"]))
        if strategy == "auto":
            steps_of = lambda b: budget.steps_for(task.train_size or 1000, b)
            counts = [sum(c["batch_size"] == b for c in configs) for b in sizes]
            strategy = choose_batch_strategy(sizes, steps_of, counts)
        if strategy == "mask":
            static_names = [s for s in static_names if s != "batch_size"]
            traced = traced + ["batch_size"]
    spec = {"task": task.settings, "grid": grid.to_dict(), "budget": budget._asdict(),
            "batch_strategy": strategy, "static": static_names, **(spec or {})}

    results = []
    timings: dict = {}
    buckets = _buckets(configs, static_names)
    total_steps = 0
    prepared = []
    for b, (static_values, indices) in enumerate(buckets):
        bucket_configs = [configs[i] for i in indices]
        max_batch = (max(c["batch_size"] for c in bucket_configs)
                     if strategy == "mask" and "batch_size" in traced else None)
        bucket_key = (task.key if task.key is not None else task.make,
                      repr(sorted(static_values.items())), tuple(budget), max_batch)
        sweep_task = _cached(("task",) + bucket_key, lambda: task.make(
            static_values, budget=budget, max_batch=max_batch))
        steps = int(np.max(_per_config(sweep_task.num_steps, _stack(bucket_configs, traced),
                                       len(bucket_configs))))
        blocks = math.ceil(steps / budget.eval_every)
        programs = _cached(("programs", blocks, tuple(d.id for d in devices)) + bucket_key,
                           lambda: _Programs(sweep_task, budget, mesh, blocks, static_values))
        prepared.append((b, static_values, indices, bucket_configs, sweep_task, programs))
        total_steps += blocks * budget.eval_every  # what the bar counts: whole blocks

    # opened once every bucket's task is made: a bad setting leaves no folder behind
    store = _open_store(out, spec, overwrite)
    bar = _Progress(total_steps, len(configs), quiet)
    # slice sizes are kept in the manifest: a resumed sweep slices as the first run did
    plans = dict(store.manifest.get("slices", {})) if store is not None else {}
    for b, static_values, indices, bucket_configs, sweep_task, programs in prepared:
        size = len(bucket_configs)
        blocks = programs.blocks
        slice_size = _slice_size(size, n_devices, max_configs)
        first = _slice_of(bucket_configs[:slice_size], traced, slice_size, sweep_task, mesh)
        plan = plans.get(str(b))
        if jax.process_count() > 1:  # the writer's recorded plan (0: none) for every process
            recorded = int(_from_writer(np.int64(plan["size"] if plan else 0)))
            if plan is None and recorded:
                plan = plans[str(b)] = _slice_plan(size, recorded, None)
        if plan is None:
            started = time.perf_counter()
            planned, per_config = _plan_slices(programs, first, n_devices, memory_limit)
            planned = int(_from_writer(np.int64(planned)))  # free memory differs by host
            timings["compile_seconds"] = timings.get("compile_seconds", 0.0) \
                + time.perf_counter() - started
            plan = _slice_plan(size, planned, per_config)
            plans[str(b)] = plan
            if store is not None:
                store.update_manifest(slices=plans)
        bar.add_steps((plan["count"] - 1) * blocks * budget.eval_every)  # each slice runs them
        if plan["size"] != slice_size:  # sliced (now or by the recorded plan): programs of its size
            slice_size = plan["size"]
            first = None
        for start in range(0, size, slice_size):
            chosen = bucket_configs[start:start + slice_size]
            part = first if start == 0 and first is not None else \
                _slice_of(chosen, traced, slice_size, sweep_task, mesh)
            name = f"b{b}s{start // slice_size}"
            n, padded = part.size, part.host
            per_config = {  # what the tables need beside the rows
                "batch_size": _per_config(sweep_task.batch_size, padded, slice_size)[:n]
                if "batch_size" in traced else np.full(n, static_values.get("batch_size", 0)),
                "steps_per_epoch": _per_config(sweep_task.steps_per_epoch, padded, slice_size)[:n]}
            if store is not None:  # the manifest maps the slice's checkpoint to its configs
                store.start_slice(name, indices[start:start + n], **per_config)
            resume = store.load_checkpoint(name) if store is not None else None
            if resume is not None:
                resume = _unpack_checkpoint(resume)
            if out is not None:
                resume = _resume_from_writer(resume, programs, part.hparams)
            checkpoint = _checkpointer(store, name, checkpoint_seconds, gather=out is not None)
            bar.start_slice(part.size)
            status, rows, final, slice_timings = _run_slice(
                programs, part, chunk_seconds=chunk_seconds, checkpoint=checkpoint, resume=resume,
                progress=bar.update_from)
            for name, seconds in slice_timings.items():
                timings[name] = timings.get(name, 0.0) + seconds
            results.append({
                "indices": indices[start:start + n], "configs": chosen,
                "status": tuple(s[:n] for s in status),
                "rows": {k: v[:n] for k, v in rows.items()},
                "final": {k: v[:n] for k, v in final.items()},
                "num_steps": part.num_steps[:n], **per_config,
            })
            if store is not None:
                store.write_partial(*assemble(results, grid))
    bar.close()
    summary, curves = assemble(results, grid)
    from jopt.sweep.store import SweepResult
    if store is not None:
        store.update_manifest(timings=timings)
        result = store.finish(summary, curves)
    else:
        result = SweepResult(summary, curves, {"spec": spec, "timings": timings}, None)
    result.timings = timings
    result.slices = plans
    return result


def _slice_plan(configs: int, slice_size: int, bytes_per_config: Optional[float]) -> dict:
    """A bucket's slice plan as the manifest records it (``result.slices``)."""
    return {"size": slice_size, "count": math.ceil(configs / slice_size),
            "bytes_per_config": bytes_per_config}


def _slice_size(size: int, n_devices: int, max_configs: Optional[int]) -> int:
    """Configs per program: all of them, or ``max_configs``, rounded up to the devices."""
    limit = size if max_configs is None else max(1, min(size, max_configs))
    return int(math.ceil(limit / n_devices) * n_devices)


def _checkpointer(store, name: str, every: float, gather: bool) -> Callable:
    """``save(carry, rows, next_block)``: the slice's state, read whole on every process
    when ``gather`` (a sweep with an output folder), written by the writer (``store``)."""
    def save(carry, rows, next_block):
        if not gather:
            return
        arrays = {f"carry/{i}": _host(leaf)
                  for i, leaf in enumerate(jax.tree_util.tree_leaves(carry))}
        arrays.update({f"rows/{k}": _host(v) for k, v in rows.items()})
        arrays["next_block"] = np.asarray(next_block)
        if store is not None:
            store.save_checkpoint(name, arrays)
    save.every = every
    return save


def _unpack_checkpoint(arrays: dict) -> dict:
    carry_keys = sorted((k for k in arrays if k.startswith("carry/")), key=lambda k: int(k[6:]))
    return {"carry": [arrays[k] for k in carry_keys],
            "rows": {k[5:]: arrays[k] for k in arrays if k.startswith("rows/")},
            "next_block": arrays["next_block"]}


class _Progress:
    """A tqdm bar over training steps: configs alive (in the running slice, and all those of
    slices not yet run) and the best loss so far."""

    def __init__(self, total: int, configs: int, quiet: bool):
        self.bar = None
        self.best = math.inf
        self.waiting = configs  # configs of the slices not yet started
        if not quiet and _writer():
            try:
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, unit="step", desc=f"sweep ({configs} configs)",
                                file=sys.stderr, dynamic_ncols=True)
            except ImportError:
                self.bar = None
        # under jax.distributed the writer's bar needs every process's losses after each
        # chunk: all processes gather them, and only then (the writer says whether)
        self.gather = jax.process_count() > 1 and bool(_from_writer(np.int32(self.bar is not None)))

    def add_steps(self, steps: int) -> None:
        """More steps to run than the bar was made for (a bucket in several slices)."""
        if self.bar is not None and steps:
            self.bar.total += steps
            self.bar.refresh()

    def start_slice(self, configs: int) -> None:
        self.waiting -= configs

    def update_from(self, steps: int, alive: int, rows: dict) -> None:
        """After a chunk: ``steps`` run, ``alive`` configs of the running slice not done."""
        if self.bar is None and not self.gather:
            return
        losses = _host(rows.get("val_loss", rows.get("train_loss")))  # every process gathers
        if self.bar is None:
            return
        finite = losses[np.isfinite(losses)]
        if finite.size:
            self.best = min(self.best, float(finite.min()))
        self.bar.update(steps)
        self.bar.set_postfix(alive=alive + self.waiting, best=f"{self.best:.4g}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
