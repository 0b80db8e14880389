"""The compiled engine of a sweep: a bucket's programs, its slices and its chunks.

For each bucket (one value of each static axis) the engine

1. stacks the traced axes into arrays with a leading configuration axis, padded to a
   multiple of the device count and sharded over a 1-D mesh of devices;
2. compiles, ahead of time, an ``init`` program (``vmap`` of the task's ``init``; in a
   thread while the next one is traced) and a ``chunk`` program: a loop over evaluation
   blocks (an evaluation, then ``lax.scan`` over ``eval_every`` steps) of the task's
   ``evaluate`` and ``step`` vmapped over the configurations, the number of blocks an
   argument, so resizing chunks does not recompile;
3. reads XLA's memory estimates of both programs: if every configuration at once does
   not fit (``memory_limit``, default :data:`MEMORY_FRACTION` of :func:`free_memory`),
   the bucket runs in sequential slices of the size that fits, all through one program
   of that size;
4. runs chunks of about ``chunk_seconds`` until every configuration has spent its budget,
   stopped early or diverged (diverged ones froze inside the program, by mask), then
   reads the final metrics.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import threading
import time
import warnings
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jopt.sweep.processes import from_writer, shard, to_host
from jopt.sweep.tasks import Budget, SweepTask

__all__ = ["mesh_for", "pad", "stack", "config_key", "Programs", "Slice", "make_slice",
           "per_config", "plan_slices", "slice_plan", "slice_size_for", "even_slice_size",
           "cache_slice_size", "CACHE_SHARE", "MIN_CONFIGS_PER_DEVICE", "run_slice", "Running",
           "start_slice", "run_chunks", "finish_slice", "resized",
           "free_memory", "MEMORY_FRACTION", "INIT_COMPILER_OPTIONS", "CHUNK_COMPILER_OPTIONS",
           "chunk_compiles", "cache_loads"]

_CHUNK_COMPILES = [0]
_CACHE_LOADS = [0]
_CACHE_HIT = "/jax/compilation_cache/cache_hits"


def _count_cache_loads(event: str, **_) -> None:
    if event == _CACHE_HIT:
        _CACHE_LOADS[0] += 1


jax.monitoring.register_event_listener(_count_cache_loads)


def chunk_compiles() -> int:
    """How many chunk programs this process has compiled (one per bucket and slice size
    of a sweep, unless an earlier sweep's were reused), counting those loaded from the
    compilation cache."""
    return _CHUNK_COMPILES[0]


def cache_loads() -> int:
    """How many programs (any jitted function's, a sweep's among them) this process has
    loaded from JAX's persistent compilation cache instead of compiling them
    (:func:`jopt.devices.use_compilation_cache`)."""
    return _CACHE_LOADS[0]


def mesh_for(devices: Optional[Sequence[Any]] = None) -> jax.sharding.Mesh:
    """A 1-D mesh ``("configs",)`` over ``devices`` (default: all), with auto axes.

    JAX 0.10's ``jax.make_mesh`` defaults to explicit axes, under which a reshape inside
    the vmapped function raises ``ShardingTypeError``; ``AxisType.Auto`` avoids it.
    """
    devices = list(jax.devices() if devices is None else devices)
    return jax.sharding.Mesh(np.array(devices), ("configs",),
                             axis_types=(jax.sharding.AxisType.Auto,))


def pad(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` padded to ``size`` rows by repeating its last row (a real, valid config)."""
    if len(values) == size:
        return values
    return np.concatenate([values, np.repeat(values[-1:], size - len(values), axis=0)])


def config_key(hparams: dict, static_values: dict) -> jax.Array:
    """A configuration's random key: ``PRNGKey(seed)``, the seed traced or static (0 if the
    grid has none)."""
    return jax.random.PRNGKey(hparams.get("seed", static_values.get("seed", 0)))


def stack(configs: list[dict], names: Sequence[str]) -> dict:
    """The traced axes as arrays: integers int32, the rest float32."""
    out = {}
    for name in names:
        values = np.array([c[name] for c in configs])
        out[name] = values.astype(np.int32 if np.issubdtype(values.dtype, np.integer) else np.float32)
    return out


INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1,
                         "xla_cpu_use_fusion_emitters": False,
                         "xla_cpu_parallel_codegen_split_count": 1}
"""XLA's options for the init program on a CPU: it runs once and briefly, so it is compiled
for a fast compile, on one thread (the core the chunk program's trace leaves idle).  Its
outputs are integer hashes and elementwise maps of them, so they are bit for bit those of
the default options (``tests/test_sweep_runner.py``; figures in ``docs/benchmarks.md``)."""

CHUNK_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}
"""XLA's options for the chunk program on a CPU: LLVM's ``-O1``.  Its heavy work is in
library calls (the dots) and loops that XLA's fusion emitters write already vectorized,
so ``-O3`` buys no speed and costs compile time (``docs/benchmarks.md``); results agree
with the default options' up to rounding (``tests/test_sweep_runner.py``)."""


class Programs:
    """The programs of one bucket: ``init``, ``chunk``, ``status`` and ``final``, compiled
    once per slice size and reused by every slice of that size (and, through
    :func:`jopt.sweep.runner.cached`, by later sweeps of the same task and budget).  ``blocks``
    (evaluation blocks in the longest budget of the bucket) fixes the rows' length;
    ``static_values``: the bucket's static axes (a static ``seed`` among them)."""

    def __init__(self, task: SweepTask, budget: Budget, mesh, blocks: int,
                 static_values: Optional[dict] = None):
        self.task = task
        self.mesh = mesh
        self.eval_every = budget.eval_every
        self.blocks = blocks
        self.sharding = NamedSharding(mesh, PartitionSpec("configs"))
        self.on_cpu = all(device.platform == "cpu" for device in mesh.devices.flat)
        self._compiled: dict = {}   # slice signature -> what _compile returns
        self._init_traces: dict = {}  # slice signature -> init traced, until compiled
        self._state_bytes: dict = {}  # slice signature -> bytes of one config's state
        self._compile_seconds: dict = {}  # slice signature -> seconds its compile took
        self._compiling = threading.Lock()  # one compile at a time (see compile_ahead)

        # the batch losses before the first step: all NaN, one per step of a block (in the
        # default float type, to which the steps' losses are cast: finding the task's own
        # type would trace its step once more)
        loss_dtype = jnp.result_type(float)

        def no_losses():
            return jnp.full((self.eval_every,), jnp.nan, loss_dtype)

        def init_one(h):
            carry = task.init(h, config_key(h, static_values or {}))
            row = jax.eval_shape(lambda: task.evaluate(carry, h, no_losses())[1])
            rows = jax.tree_util.tree_map(
                lambda v: jnp.full((self.blocks + 1,), jnp.nan, jnp.result_type(v.dtype, float)), row)
            return carry, rows

        # every configuration's step and evaluation: vmapped inside the loops, not around
        # them, so that vmap batches the task's functions as they are traced instead of
        # batching the loops' traced bodies again
        step_all = jax.vmap(task.step, in_axes=(0, 0, None))
        evaluate_all = jax.vmap(task.evaluate, in_axes=(0, 0, 1))  # losses: (steps, configs)
        status_all = jax.vmap(task.status)

        def chunk(carry, rows, h, first_block, n_blocks):
            """Rows ``first_block .. first_block + n_blocks`` and the blocks of steps between
            them, for every configuration.  One evaluation site (compiled once): iteration
            ``i`` evaluates row ``first_block + i`` (unless a previous chunk did:
            ``i == 0 < first_block``), then, for ``i < n_blocks``, runs that block's steps."""

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
        # kernel of its own: it compiles slower
        self.init = jax.jit(jax.vmap(init_one), out_shardings=sharded)
        self.chunk = jax.jit(chunk, donate_argnums=(0, 1), out_shardings=sharded)
        self.status = jax.jit(status_all)
        self.final = jax.jit(jax.vmap(task.final))
        self._device_gather = jax.jit(
            lambda tree, slots: jax.tree_util.tree_map(lambda v: jnp.take(v, slots, axis=0), tree),
            out_shardings=sharded)

    def gather(self, tree: Any, slots: np.ndarray) -> Any:
        """The rows of ``tree`` (a slice's arrays) at ``slots``, sharded as the chunks expect
        (compaction: successive halving's survivors; PBT's exploits).  On a CPU through
        the host (the devices are the host's memory): a jitted gather compiles once per
        tree and pair of sizes, which there costs more than the copy."""
        if self.on_cpu:
            return shard(jax.tree_util.tree_map(lambda v: np.take(to_host(v), slots, axis=0),
                                                tree), self.mesh)
        return self._device_gather(tree, slots)

    def abstract(self, tree: Any) -> Any:
        return jax.tree_util.tree_map(
            lambda v: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=self.sharding), tree)

    def _signature(self, hparams: dict) -> tuple:
        return tuple((name, tuple(v.shape), str(v.dtype)) for name, v in sorted(hparams.items()))

    def is_compiled(self, hparams: dict) -> bool:
        """Whether the programs for slices shaped like ``hparams`` are compiled already (a
        slice of that size would start without compiling)."""
        return self._signature(hparams) in self._compiled

    def compile_seconds(self, hparams: dict) -> Optional[float]:
        """The seconds that compiling the init and chunk programs for slices shaped like
        ``hparams`` took (None before they are compiled): what a new slice size costs."""
        return self._compile_seconds.get(self._signature(hparams))

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

    def state_bytes_per_config(self, hparams: dict) -> float:
        """Bytes of one configuration's state between chunks (its carry and rows) in
        slices shaped like ``hparams``: from the init program's trace, before anything
        is compiled."""
        signature = self._signature(hparams)
        if signature not in self._state_bytes:  # the trace is kept for compiling that size
            traced = self._init_traces[signature] = self.init.trace(self.abstract(hparams))
            leaves = jax.tree_util.tree_leaves(traced.out_info)
            size = next(iter(hparams.values())).shape[0]
            self._state_bytes[signature] = sum(math.prod(v.shape) * v.dtype.itemsize
                                               for v in leaves) / size
        return self._state_bytes[signature]

    def state_shapes(self, hparams: dict):
        """``(carry, rows)`` of a slice shaped like ``hparams``, as shapes."""
        return self._compile(hparams)[2]

    def _compile(self, hparams: dict) -> tuple:
        """``(init, chunk, state shapes, bytes per config)`` for slices shaped like
        ``hparams``, compiled on first use.  The init program is traced first (its
        outputs' shapes are the chunk's inputs) and lowered, then compiled in a thread while
        this one traces the chunk program: XLA's compiler releases the GIL; tracing and
        lowering need it, so both run here, one after the other.  One compile at a time:
        a size asked for while :meth:`compile_ahead` compiles it waits for that one."""
        signature = self._signature(hparams)
        with self._compiling:
            return self._compiled.get(signature) or self._compile_new(signature, hparams)

    def _compile_new(self, signature: tuple, hparams: dict) -> tuple:
        """:meth:`_compile` of a signature not compiled yet (holding the lock)."""
        started = time.perf_counter()
        hparams = self.abstract(hparams)
        traced = self._init_traces.pop(signature, None) or self.init.trace(hparams)
        init_lowered = traced.lower()
        cpu = self.on_cpu
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            init = pool.submit(_compile_with, init_lowered,
                               INIT_COMPILER_OPTIONS if cpu else None)
            carry, rows = self.abstract(traced.out_info)
            chunk_lowered = self.chunk.lower(carry, rows, hparams, np.int32(0), np.int32(1))
            chunk = _compile_with(chunk_lowered, CHUNK_COMPILER_OPTIONS if cpu else None)
            _CHUNK_COMPILES[0] += 1
            size = next(iter(hparams.values())).shape[0]
            init = init.result()
            # the larger of the two programs' needs (init holds its draws and the carry)
            estimates = [_bytes_per_config(program, size, self.mesh.devices.size)
                         for program in (init, chunk)]
            per_config = None if None in estimates else max(estimates)
            self._compiled[signature] = (init, chunk, traced.out_info, per_config)
            self._compile_seconds[signature] = time.perf_counter() - started
        return self._compiled[signature]

    def compile_ahead(self, hparams: dict, sizes: Sequence[int]) -> concurrent.futures.Future:
        """Compile the programs for slices of ``sizes`` configurations (shaped like
        ``hparams`` otherwise) in a thread, largest first, while this one runs chunks:
        successive halving's compacted sizes are known before its rungs.  The thread's
        compiles are those a later :meth:`compiled_chunk` would make; its errors are
        left to that call."""
        shapes = [resized(hparams, size) for size in sorted(sizes, reverse=True)]
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        future = pool.submit(lambda: [self._compile(shape) for shape in shapes])
        pool.shutdown(wait=False)
        return future


def resized(hparams: dict, size: int) -> dict:
    """The shapes of ``hparams`` (arrays or shapes, a leading configuration axis) for a
    slice of ``size`` configurations."""
    return {k: jax.ShapeDtypeStruct((size,) + tuple(v.shape[1:]), v.dtype)
            for k, v in hparams.items()}


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


class Slice(NamedTuple):
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


class Running(NamedTuple):
    """A slice's state between chunks: the carry and rows (on the devices), the next
    evaluation block to run, the chunk length in blocks, and the status after the last
    chunk (host arrays; None before the first)."""

    carry: Any
    rows: Any
    next_block: int
    blocks_per_chunk: int = 1
    status: Optional[tuple] = None


def start_slice(programs: Programs, part: Slice, resume: Optional[dict], timings: dict) -> Running:
    """A slice's state from its ``init`` program, or from a checkpoint (``resume``); its
    chunk program compiled.  Adds ``init_seconds`` and ``compile_seconds`` to ``timings``."""
    started = time.perf_counter()
    init = programs.compiled_init(part.hparams)
    if resume is not None:
        carry_template, _ = programs.state_shapes(part.hparams)
        carry = shard(jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(carry_template),
                                                    resume["carry"]), programs.mesh)
        rows = shard(dict(resume["rows"]), programs.mesh)
        next_block = int(resume["next_block"])
    else:
        carry, rows = init(part.hparams)
        next_block = 0
    jax.block_until_ready(carry)
    _add(timings, "init_seconds", time.perf_counter() - started)
    started = time.perf_counter()
    programs.compiled_chunk(part.hparams)
    _add(timings, "compile_seconds", time.perf_counter() - started)
    return Running(carry, rows, next_block)


def _add(timings: dict, key: str, value: float) -> None:
    timings[key] = timings.get(key, 0) + value


def run_chunks(programs: Programs, part: Slice, state: Running, *, until: int,
               chunk_seconds: float, checkpoint: Callable, progress: Callable,
               timings: dict) -> Running:
    """Chunks of about ``chunk_seconds`` from ``state`` up to evaluation block ``until``
    (its row evaluated), or until no configuration is left training.  Adds
    ``run_seconds`` and ``config_steps`` (steps times the slice's padded size) to
    ``timings``."""
    started = time.perf_counter()
    chunk = programs.compiled_chunk(part.hparams)  # a new size (a compacted slice) compiles
    _add(timings, "compile_seconds", time.perf_counter() - started)
    carry, rows, next_block, blocks_per_chunk, status = state
    padded = len(part.num_steps)
    last_checkpoint = time.monotonic()
    _add(timings, "run_seconds", 0.0)
    _add(timings, "config_steps", 0)
    while next_block < until:
        n_blocks = min(blocks_per_chunk, until - next_block)
        started = time.monotonic()
        carry, rows, status = chunk(carry, rows, part.hparams, np.int32(next_block),
                                    np.int32(n_blocks))
        status = active, diverged, stop_step = tuple(map(to_host, status))
        elapsed = time.monotonic() - started
        _add(timings, "run_seconds", elapsed)
        _add(timings, "config_steps", padded * n_blocks * programs.eval_every)
        next_block += n_blocks
        per_block = elapsed / n_blocks
        blocks_per_chunk = max(1, int(chunk_seconds / max(per_block, 1e-6)))
        due = time.monotonic() - last_checkpoint > checkpoint.every
        # the clocks' decisions are the writer's: every process runs the same chunks
        blocks_per_chunk, due = map(int, from_writer(np.array([blocks_per_chunk, due], np.int64)))
        done_steps = next_block * programs.eval_every
        alive = active & (part.num_steps > done_steps)
        progress(n_blocks * programs.eval_every, int(alive[:part.size].sum()), rows)
        if due or not alive.any() or next_block >= programs.blocks:
            # a slice left without a live config is done: a resume runs none of its blocks
            checkpoint(carry, rows, next_block if alive.any() else programs.blocks)
            last_checkpoint = time.monotonic()
        if not alive.any():
            break
    return Running(carry, rows, next_block, blocks_per_chunk, status)


def finish_slice(programs: Programs, part: Slice, state: Running, timings: dict) -> tuple:
    """``(status, rows, final metrics)`` of a slice's state, host arrays; adds
    ``final_seconds`` to ``timings``."""
    started = time.perf_counter()
    final = programs.final(state.carry, part.hparams)
    status = state.status
    if status is None:  # resumed after the last chunk: no chunk ran
        status = tuple(map(to_host, programs.status(state.carry)))
    host_rows = {k: to_host(v) for k, v in state.rows.items()}
    _add(timings, "final_seconds", time.perf_counter() - started)
    return status, host_rows, {k: to_host(v) for k, v in final.items()}


def run_slice(programs: Programs, part: Slice, *, chunk_seconds: float, checkpoint: Callable,
               resume: Optional[dict], progress: Callable) -> tuple:
    """Run one slice to the end: ``(status, rows, final metrics, timings)``, host arrays.

    ``timings``: seconds spent in ``init`` (compile and run), compiling the chunk
    program (0 when an earlier slice of this size did), running chunks, and reading the
    final metrics (compile and run); ``config_steps``, the steps run times the slice's
    padded size."""
    timings: dict = {}
    state = start_slice(programs, part, resume, timings)
    state = run_chunks(programs, part, state, until=programs.blocks, chunk_seconds=chunk_seconds,
                       checkpoint=checkpoint, progress=progress, timings=timings)
    return (*finish_slice(programs, part, state, timings), timings)


def make_slice(configs: list[dict], traced: Sequence[str], size: int, task: SweepTask,
              mesh) -> Slice:
    stacked = {k: pad(v, size) for k, v in stack(configs, traced).items()}
    return Slice(shard(stacked, mesh), len(configs), per_config(task.num_steps, stacked, size),
                  stacked)


def per_config(fn: Callable, stacked: dict, size: int) -> np.ndarray:
    """``fn`` (a task's ``num_steps``, ``batch_size`` or ``steps_per_epoch``: integer
    arithmetic on one configuration's hyperparameters) of every configuration, called
    once on the stacked NumPy arrays: ``jax.vmap`` would compile and dispatch small
    programs for it.  ``size``: the configurations."""
    values = np.asarray(fn(stacked))
    if values.shape not in ((), (size,)):
        raise ValueError(f"{getattr(fn, '__name__', fn)} gave shape {values.shape} for {size} "
                         "configurations: it must be elementwise in the hyperparameters")
    return np.broadcast_to(values, (size,)).copy()


def plan_slices(programs: Programs, whole: Slice, n_devices: int,
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


def slice_plan(configs: int, slice_size: int, bytes_per_config: Optional[float]) -> dict:
    """A bucket's slice plan as the manifest records it (``result.slices``)."""
    return {"size": slice_size, "count": math.ceil(configs / slice_size),
            "bytes_per_config": bytes_per_config}


def slice_size_for(size: int, n_devices: int, max_configs: Optional[int]) -> int:
    """Configs per program: all of them, or ``max_configs``, rounded up to the devices."""
    limit = size if max_configs is None else max(1, min(size, max_configs))
    return int(math.ceil(limit / n_devices) * n_devices)


def even_slice_size(configs: int, most: int, n_devices: int) -> int:
    """The size of the fewest slices of at most ``most`` configurations that hold
    ``configs``, made even (fewest padding slots) and a multiple of the devices."""
    count = math.ceil(configs / max(1, most))
    return math.ceil(math.ceil(configs / count) / n_devices) * n_devices


CACHE_SHARE = 0.5
"""On a CPU, the share of the last-level cache (:func:`jopt.devices.cpu_cache_bytes`) that
a slice's configurations' state may fill: a CPU program is no faster per configuration
for being wider, and it slows once the state it sweeps at every step outgrows the
cache (``docs/benchmarks.md``)."""

MIN_CONFIGS_PER_DEVICE = 16
"""The fewest configurations per device that :func:`cache_slice_size` gives a slice: a
narrower program pays its per-step dispatch for too few configurations."""


def cache_slice_size(configs: int, n_devices: int, bytes_per_config: float,
                     cache_bytes: int) -> int:
    """The slice size of ``configs`` configurations on a CPU whose state is
    ``bytes_per_config`` each: even slices (:func:`even_slice_size`) whose state fits
    :data:`CACHE_SHARE` of ``cache_bytes``, at least :data:`MIN_CONFIGS_PER_DEVICE` per
    device."""
    per_device = int(CACHE_SHARE * cache_bytes / n_devices // max(bytes_per_config, 1.0))
    return even_slice_size(configs, max(MIN_CONFIGS_PER_DEVICE, per_device) * n_devices,
                           n_devices)
