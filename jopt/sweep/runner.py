"""The sweep's driver: every configuration of a grid trained at once, one compiled
program per bucket.  :func:`run` reads like the steps it takes:

1. check the grid, the budget and the options; list the configurations;
2. split the axes into traced (vmapped) and static (one program per bucket); choose the
   batch-size strategy (:func:`choose_batch_strategy`);
3. build each bucket's task (the user's :func:`~jopt.sweep.task`, or a factory called
   with the bucket's static values) and check every configuration's optimizer by
   building it with its values;
4. choose the devices (:func:`choose_devices`): on a CPU, one per core unless the
   task's step already spreads over the cores (a convolution);
5. make each bucket's programs (:class:`~jopt.sweep.engine.Programs`; the last
   :data:`CACHE_SIZE` buckets' are kept for later sweeps of the same task);
6. open the output folder with the spec, which holds what each configuration computes
   (:func:`~jopt.sweep.tasks.fingerprint` for a user's task): a used folder of another
   spec is refused before anything is written;
7. run each bucket in slices that fit in memory, chunk after chunk, with the progress
   bar and checkpoints (a resumed sweep starts from them);
8. assemble the summary and curves tables (:mod:`jopt.sweep.results`).

The multi-process seam is :mod:`jopt.sweep.processes`; the compiled engine is
:mod:`jopt.sweep.engine`.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import math
import sys
import time
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence

import jax
import numpy as np

import jopt
from jopt.sweep import schema
from jopt.devices import cpu_cache_bytes
from jopt.sweep.engine import (MIN_CONFIGS_PER_DEVICE, Programs, cache_loads, cache_slice_size,
                               chunk_compiles, make_slice, mesh_for, per_config, plan_slices,
                               resized, run_slice, slice_plan, slice_size_for, stack)
from jopt.sweep.grid import Grid
from jopt.sweep.halving import (Halving, assign_brackets, bracket_sizes, check_brackets,
                                halving_slice_size, rung_steps, run_halving, slice_steps)
from jopt.sweep.pbt import PBT, Replay, exploit_steps, perturbable
from jopt.sweep.population import population_arrays, population_from_arrays, run_population
from jopt.sweep.processes import (arrays_from_writer, from_writer, is_writer, json_from_writer,
                                  open_store, to_host)
from jopt.sweep.search import reuse_draws, sampled_names
from jopt.sweep.results import assemble
from jopt.sweep.store import SweepResult, stored_grid
from jopt.sweep.tasks import (Budget, Task, TaskError, TaskFactory, as_factory, example_batch,
                              fingerprint, check_reported, sweep_program)

__all__ = ["run", "replay", "choose_batch_strategy", "choose_devices", "clear_cache", "STRATEGIES",
           "CACHE_SIZE"]

STRATEGIES = schema.BATCH_STRATEGIES
RUNNER_AXES = ("batch_size", "seed")
"""Static axes the runner itself reads: the batch size (or its padded maximum) and a
static seed (each configuration's key)."""
TASK_OPTIONS = ("optimizer", "schedule", "sampling", "eval_rows")
"""Fields of a task that a static grid axis may set when no factory takes it."""


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
        memory_limit: Optional[float] = None, spec: Optional[dict] = None,
        halving: Optional[Halving] = None, pbt: Optional[PBT] = None):
    """Train every configuration of ``grid`` with ``task``; see :mod:`jopt.sweep`.

    ``halving``: successive halving (:class:`~jopt.sweep.halving.Halving`): at each rung
    the worst configurations stop with status ``pruned`` and the survivors go on in a
    smaller program; with ``brackets > 1``, HyperBand's brackets, each a group of the
    bucket's configurations halved on its own (:func:`_bracket_groups`).  The rungs are
    in the manifest's ``halving`` (``rungs``, and per bucket ``bracket_rungs`` and
    ``bracket_configs``).

    ``pbt``: population-based training (:class:`~jopt.sweep.pbt.PBT`): each slice is a
    population; every interval its worst configurations copy the state of its best and
    perturb their traced hyperparameters.  The summary gains ``exploits`` (how often a
    configuration was replaced) and ``parent`` (the last one it copied, -1 if none); the
    manifest's ``pbt`` holds the settings, the exploit steps and every event (step,
    config, parent, values after), from which :meth:`SweepResult.schedule` rebuilds a
    configuration's schedule.

    A bucket runs in slices of at most ``max_configs`` configurations, fewer when its
    compiled chunk program's memory estimate for all of them exceeds ``memory_limit``
    bytes (default: :data:`MEMORY_FRACTION` of :func:`free_memory`), and on a CPU, fewer
    when their state would outgrow the cache (:func:`~jopt.sweep.engine.cache_slice_size`;
    not a PBT population, whose exploits stay within its slice).  The result's
    ``slices`` (also in the manifest) gives, per bucket, the slice size, the number of
    slices and the estimated bytes per configuration."""
    with _old_objects_frozen():
        return _run(task, grid, budget=budget, out=out, static=static,
                    batch_strategy=batch_strategy, chunk_seconds=chunk_seconds,
                    checkpoint_seconds=checkpoint_seconds, quiet=quiet, overwrite=overwrite,
                    devices=devices, max_configs=max_configs, memory_limit=memory_limit, spec=spec,
                    halving=halving, pbt=pbt)


def replay(task: Any, result: SweepResult, config: int, *, out: Optional[str] = None,
           quiet: Optional[bool] = True, devices: Optional[Sequence[Any]] = None) -> SweepResult:
    """Train one configuration of a PBT sweep again, from scratch, with the schedule that
    trained its final state (:meth:`SweepResult.schedule`): its root ancestor's initial
    values and seed, the values changed at each exploit step of its lineage, the state
    never copied.  ``task``: the sweep's task.  Since an exploit copies the whole state
    (data order included), the replay's final metrics equal the member's up to
    rounding."""
    pieces = result.schedule(config)
    names = list(result.manifest["pbt"]["traced"])
    root = int(pieces["config"].iloc[0])
    first = result.summary[result.summary["config"] == root].iloc[0]
    axes = {name: [first[name]] for name in result.axes}
    axes.update({name: [pieces[name].iloc[0]] for name in names})
    spec = result.manifest["spec"]
    policy = Replay(steps=tuple(int(s) for s in pieces["step"]),
                    values=tuple({name: row[name] for name in names}
                                 for _, row in pieces.iterrows()))
    return run(task, Grid(axes), budget=Budget(**spec["budget"]), static=spec.get("static", ()),
               out=out, quiet=quiet, devices=devices, pbt=policy)


@contextlib.contextmanager
def _old_objects_frozen():
    """Python's cyclic garbage collector leaves the objects that exist on entry alone
    (``gc.freeze``) until exit; young objects are collected as usual.

    Tracing and assembling a sweep allocate enough objects to set off full collections,
    each of which walks every object in the process (JAX's and NumPy's modules hold
    most of them), a noticeable part of a trace.  A caller that froze objects itself
    keeps its own freeze."""
    if gc.get_freeze_count() > 0:
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class Bucket(NamedTuple):
    """One program's configurations: ``static`` values, their ``indices`` in the grid,
    the ``configs`` themselves, the bucket's ``task``, its per-configuration functions
    (``program``), its compiled ``programs``, ``identity`` (what it computes) and longest
    budget in ``steps``; with HyperBand's brackets, one ``bracket``'s configurations of
    the bucket ``number``."""

    number: int
    static: dict
    indices: list
    configs: list
    task: Task
    program: Any = None
    programs: Any = None
    identity: Any = None
    bracket: Optional[int] = None
    steps: Optional[int] = None

    @property
    def name(self) -> str:
        """Its key in the manifest's slice plans and its checkpoints' names: the number,
        and ``k<bracket>`` for one HyperBand bracket of a bucket's configurations."""
        return str(self.number) if self.bracket is None else f"{self.number}k{self.bracket}"


def _check_inputs(grid: Any, budget: Any, batch_strategy: str, halving: Any, pbt: Any) -> tuple:
    if not isinstance(grid, Grid) and not hasattr(grid, "configs"):
        grid = Grid(grid)
    if not isinstance(budget, Budget):
        budget = Budget(**budget)
    budget.check()
    if batch_strategy not in STRATEGIES:
        raise ValueError(f"batch_strategy must be one of {STRATEGIES}, got {batch_strategy!r}")
    if halving is not None:
        if not isinstance(halving, Halving):
            raise ValueError(f"halving must be a jopt.sweep.Halving(...), got {halving!r}")
        halving.check(budget.steps)
    if pbt is not None:
        if not isinstance(pbt, (PBT, Replay)):
            raise ValueError(f"pbt must be a jopt.sweep.PBT(...), got {pbt!r}")
        if halving is not None:
            raise ValueError("halving and pbt: give one of them (a sweep either prunes or "
                             "exploits)")
        if isinstance(pbt, PBT):
            pbt.check(budget.steps)
    return grid, budget


def _choose_strategy(grid, configs: list, factory: TaskFactory, budget: Budget, traced: list,
                     static_names: list, batch_strategy: str) -> tuple:
    """``(strategy, traced, static_names)``: with ``mask`` the batch size is traced."""
    strategy = batch_strategy
    if "batch_size" not in grid.axes:
        return ("bucket" if strategy == "auto" else strategy), traced, static_names
    sizes = sorted(set(grid.axes["batch_size"]))
    if strategy == "auto":
        counts = [sum(c["batch_size"] == b for c in configs) for b in sizes]
        strategy = choose_batch_strategy(
            sizes, lambda b: budget.steps_for(factory.train_size or 1000, b), counts)
    if strategy == "mask":
        return strategy, traced + ["batch_size"], [s for s in static_names if s != "batch_size"]
    return strategy, traced, static_names


def _task_of(factory: TaskFactory, static_values: dict) -> Task:
    """The bucket's task: the factory's, with the static axes it does not take applied
    (task options, else fixed hyperparameters)."""
    built = factory.build(static_values)
    if not isinstance(built, Task):
        raise TaskError(f"{factory.settings.get('factory', 'the task factory')} returned "
                        f"{type(built).__name__}, not a jopt.sweep.task(...)")
    rest = {k: v for k, v in static_values.items()
            if k not in factory.static and k not in RUNNER_AXES}
    options = {k: rest.pop(k) for k in TASK_OPTIONS if k in rest}
    if rest:
        options["fixed"] = {**built.fixed, **rest}
    return built._replace(**options) if options else built


def _check_configs(bucket: Bucket, traced: Sequence[str]) -> None:
    """Every configuration's optimizer built once with its values as the programs hold
    them (float32, int32): a bad value or a missing schedule argument is one line naming
    the configuration, before any compile."""
    t = bucket.task
    if isinstance(t.optimizer, str):
        keys = schema.grid_keys([t.optimizer], t.schedule)
        unknown = [name for name in traced if name not in keys]
        if unknown:
            raise TaskError(f"grid axis {unknown[0]!r} is not a hyperparameter of "
                            f"{t.optimizer}{' with ' + t.schedule if t.schedule else ''} "
                            f"(its grid keys: {', '.join(keys)})")
    for config in bucket.configs:
        size = config.get("batch_size", t.batch_size)
        if t.train_size is not None and size is not None and size > t.train_size:
            raise TaskError(f"batch_size = {size} is larger than the training set "
                            f"({t.train_size} examples)")
    held = stack(bucket.configs, traced)  # as the programs hold them: b1 = 1 - 1e-9 is 1.0
    refusals = _refusals(t, held, len(bucket.configs))
    for (index, config), refusal in zip(zip(bucket.indices, bucket.configs), refusals):
        if refusal is not None:
            shown = ", ".join(f"{name}={config[name]!r}" for name in traced)
            raise TaskError(f"config {index} ({shown}): {refusal}")


def _refusals(t: Task, values: dict, rows: int) -> Iterator[Optional[str]]:
    """For each of ``rows`` configurations (``values``: name -> one value per
    configuration), why ``t``'s optimizer refuses it (the first line of its error), or
    None; lazily, so that a caller can stop at the first.

    A named optimizer (and schedule) is first built once with all the values as arrays:
    jopt's checks test each element (:func:`jopt.base.check`), so when that build accepts
    them, each configuration's own build would (``tests/test_validation.py``).  Otherwise,
    and for a user's optimizer function (whose checks may not follow arrays), each
    configuration is built on its own."""
    if isinstance(t.optimizer, str):
        try:
            t.make_optimizer(values)
        except Exception:  # noqa: BLE001  (whatever it is, the one-by-one builds decide)
            pass
        else:
            yield from (None for _ in range(rows))
            return
    for row in range(rows):
        try:
            t.make_optimizer({name: _number(held[row]) for name, held in values.items()})
        except (ValueError, TypeError) as error:
            yield str(error).splitlines()[0] if str(error) else type(error).__name__
        else:
            yield None


def _accepted_rows(t: Task, values: dict) -> np.ndarray:
    """Which configurations of ``values`` (name -> one value per configuration) ``t``'s
    optimizer accepts: PBT's explored values, before they train."""
    rows = len(next(iter(values.values())))
    return np.array([refusal is None for refusal in _refusals(t, values, rows)], bool)


def _number(value: np.generic) -> Any:
    """A value of the programs' arrays as the shortest Python number that holds it: a
    float32 0.1 is 0.1 in a message, not 0.10000000149011612 (and a float32 1.0 is 1.0)."""
    return float(str(value)) if isinstance(value, np.floating) else value.item()


def choose_devices(devices: Optional[Sequence[Any]], task: Task, configs: int) -> list:
    """The devices a sweep shards its configurations over.

    Given ``devices``: those.  Otherwise every device, but never more than configurations
    (padding one configuration to two devices doubles the work), and on a CPU with one
    host device per core, only one when the task's step holds a convolution: XLA
    already spreads a convolution over every core, and one host device per core then
    competes with it."""
    if devices is not None:
        found = list(devices)
    else:
        found = list(jax.devices())
        if len(found) > 1 and found[0].platform == "cpu" and \
                _once_per_task("convolution", task, _has_convolution):
            found = found[:1]
    if jax.process_count() == 1:
        found = found[:max(1, configs)]
    return found


def _has_convolution(task: Task) -> bool:
    """Whether the task's batch loss holds a convolution: its forward pass's trace (a
    gradient's holds one exactly where the forward pass does, and costs more to trace)."""
    params = jax.eval_shape(task.init, jax.random.PRNGKey(0))
    example = example_batch(task.train, task.held_out, task.batches)
    rows = jax.tree_util.tree_leaves(example)[0].shape[0]
    weights = np.ones(rows, np.float32) if task.objective.always_weighted else None
    key = jax.random.PRNGKey(0) if task.takes_key else None
    jaxpr = jax.make_jaxpr(task.objective.batch_loss)(params, example, weights, key)
    return "conv_general_dilated" in str(jaxpr)


def _spec(factory: TaskFactory, grid, budget: Budget, strategy: str, static_names: list,
          buckets: list, extra: Optional[dict]) -> dict:
    """What defines the results: a keyed factory (the built-in task) by its settings and
    jopt's version, any other task by the fingerprints of its buckets' programs."""
    spec = {"task": factory.settings, "jopt": jopt.__version__, "grid": grid.to_dict(),
            "budget": budget._asdict(), "batch_strategy": strategy, "static": static_names}
    if factory.key is None:
        spec["programs"] = [bucket.identity for bucket in buckets]
    return {**spec, **(extra or {})}


def _prepare(factory: TaskFactory, configs: list, static_names: list, traced: list,
             strategy: str, budget: Budget) -> list:
    """Each bucket with its task, checked (steps 3 of the module's list)."""
    buckets = []
    for number, (static_values, indices) in enumerate(_buckets(configs, static_names)):
        chosen = [configs[i] for i in indices]
        key = None if factory.key is None else (factory.key, repr(sorted(static_values.items())))
        t = _cached(("task", key), lambda: _task_of(factory, static_values)) if key else \
            _task_of(factory, static_values)
        bucket = Bucket(number, static_values, indices, chosen, t)
        _check_configs(bucket, traced)
        buckets.append(bucket)
    return buckets


def _compile_plan(buckets: list, factory: TaskFactory, traced: list, strategy: str,
                  budget: Budget, mesh) -> list:
    """Each bucket's per-configuration functions and programs (step 5)."""
    ready = []
    devices = tuple(d.id for d in mesh.devices.flat)
    for bucket in buckets:
        max_batch = (max(c["batch_size"] for c in bucket.configs)
                     if strategy == "mask" and "batch_size" in traced else None)
        identity = factory.key if factory.key is not None else \
            _fingerprint_of(bucket.task, tuple(n for n in traced if n != "batch_size"))
        key = (identity, repr(sorted(bucket.static.items())), tuple(budget), max_batch)
        program = _cached(("program",) + key, lambda: sweep_program(
            bucket.task, budget, batch_size=bucket.static.get("batch_size"), max_batch=max_batch))
        steps = int(np.max(per_config(program.num_steps, stack(bucket.configs, traced),
                                      len(bucket.configs))))
        blocks = math.ceil(steps / budget.eval_every)
        programs = _cached(("programs", blocks, devices) + key,
                           lambda: Programs(program, budget, mesh, blocks, bucket.static))
        ready.append(bucket._replace(program=program, programs=programs, steps=steps,
                                     identity=identity if factory.key is None else None))
    return ready


def _once_per_task(kind: Any, t: Task, compute: Callable[[Task], Any]) -> Any:
    """``compute(t)``, computed once per task object (a second sweep of the same task, as
    a second call of a jitted function, traces nothing); the cache holds the task, so an
    ``id`` reused by another object is recomputed."""
    held, value = _cached((kind, id(t)), lambda: (t, compute(t)))
    return value if held is t else compute(t)


def _fingerprint_of(t: Task, hparam_names: tuple) -> str:
    """:func:`~jopt.sweep.tasks.fingerprint`, once per task object."""
    return _once_per_task(("fingerprint", hparam_names), t,
                          lambda t: fingerprint(t, list(hparam_names)))


def _run(task, grid, *, budget, out, static, batch_strategy, chunk_seconds, checkpoint_seconds,
         quiet, overwrite, devices, max_configs, memory_limit, spec, halving, pbt):
    grid, budget = _check_inputs(grid, budget, batch_strategy, halving, pbt)  # 1
    if out is not None:  # a resume runs what the first run drew (the writer's manifest says)
        grid = reuse_draws(grid, json_from_writer(stored_grid(out) if is_writer() else None))
    factory = as_factory(task)
    configs = grid.configs()
    if quiet is None:
        quiet = not sys.stderr.isatty()
    traced, static_names = grid.split(static=set(static) | set(factory.static) | {"batch_size"})
    strategy, traced, static_names = _choose_strategy(                     # 2
        grid, configs, factory, budget, traced, static_names, batch_strategy)
    buckets = _prepare(factory, configs, static_names, traced, strategy, budget)  # 3
    mesh = mesh_for(choose_devices(devices, buckets[0].task, len(configs)))        # 4
    buckets = _compile_plan(buckets, factory, traced, strategy, budget, mesh)      # 5
    rungs = _rungs(buckets, traced, halving, budget)
    changes = _change_steps(buckets, traced, static_names, grid, pbt, budget)
    if halving is not None:
        spec = {**(spec or {}), "halving": halving.spec()}
    if pbt is not None:
        spec = {**(spec or {}), _policy_name(pbt): pbt.settings()}
    spec = _spec(factory, grid, budget, strategy, static_names, buckets, spec)
    store = open_store(out, spec, overwrite)                                        # 6
    finished = store.finished_tables() if store is not None and jax.process_count() == 1 \
        else None
    if finished is not None:  # its tables, as the same spec made them: nothing to compile
        store.update_manifest(timings={"config_steps": 0.0, "chunk_compiles": 0, "cache_loads": 0})
        return SweepResult(*finished, store.manifest, store.out)
    groups = [group for bucket in buckets
              for group in _bracket_groups(bucket, halving, rungs.get(bucket.number))]
    total_steps = sum(g.programs.blocks * budget.eval_every for g in groups)
    bar = Progress(total_steps, len(configs), quiet)
    # slice sizes are kept in the manifest: a resumed sweep slices as the first run did
    plans = dict(store.manifest.get("slices", {})) if store is not None else {}
    timings: dict = {}
    results = []
    compiles_before, loads_before = chunk_compiles(), cache_loads()
    for bucket in groups:                                                           # 7
        results += _run_bucket(bucket, traced, mesh, plans, store, bar, timings, out=out,
                               max_configs=max_configs, memory_limit=memory_limit,
                               chunk_seconds=chunk_seconds,
                               checkpoint_seconds=checkpoint_seconds, grid=grid,
                               done=results, halving=halving, rungs=rungs.get(bucket.number),
                               pbt=pbt, changes=changes.get(bucket.number))
    bar.close()
    summary, curves = assemble(results, grid)                                       # 8
    timings["chunk_compiles"] = chunk_compiles() - compiles_before
    timings["cache_loads"] = cache_loads() - loads_before
    extra = {} if halving is None else {"halving": _halving_entry(halving, rungs, groups)}
    if isinstance(pbt, PBT):
        extra["pbt"] = {**pbt.settings(), "traced": traced,
                        "steps": {str(k): v.steps for k, v in changes.items()},
                        "events": [e for part in results for e in part["events"]]}
    if store is None:
        return SweepResult(summary, curves, {"spec": spec, "timings": timings,
                                             "slices": plans, **extra}, None)
    store.update_manifest(timings=timings, **extra)
    return store.finish(summary, curves)


def _rungs(buckets: list, traced: list, halving: Optional[Halving], budget: Budget) -> dict:
    """Each bucket's rungs in steps (:func:`~jopt.sweep.halving.rung_steps` of its longest
    budget); empty without halving.  A ``min_budget`` above a bucket's budget, more
    brackets than its rungs, or a metric its task does not report, is refused."""
    if halving is None:
        return {}
    rungs = {}
    for bucket in buckets:
        halving.check(bucket.steps)
        check_reported("halving.metric", halving.metric, bucket.program,
                       _first_config(bucket, traced), budget.eval_every)
        rungs[bucket.number] = rung_steps(halving, bucket.steps, budget.eval_every)
        try:
            check_brackets(halving, rungs[bucket.number])
        except ValueError as error:  # a TaskError: the command line's one line, exit status 2
            raise TaskError(str(error)) from None
    return rungs


class Changes(NamedTuple):
    """A bucket's hyperparameter changes: the ``steps`` (PBT's exploit steps, or a
    replay's change steps), the perturbed ``axes`` (name -> distribution or list) and, for
    PBT, ``accepts``: which explored configurations (name -> array) the bucket's optimizer
    accepts (:func:`_accepted_rows`)."""

    steps: list
    axes: dict
    accepts: Optional[Callable] = None


def _policy_name(pbt: Any) -> str:
    return "pbt" if isinstance(pbt, PBT) else "replay"


def _change_steps(buckets: list, traced: list, static_names: list, grid, pbt: Any,
                  budget: Budget) -> dict:
    """Each bucket's :class:`Changes`; empty without ``pbt``.  An interval or burn-in not
    shorter than a bucket's budget, a metric its task does not report, or a perturbed axis
    that is static or unknown is refused (one line)."""
    if pbt is None:
        return {}
    if isinstance(pbt, Replay):
        return {b.number: Changes(list(pbt.steps[1:]), {}) for b in buckets}
    try:
        names = perturbable(pbt, traced, static_names)
    except ValueError as error:
        raise TaskError(str(error)) from None
    sampled = set(sampled_names(grid))
    axes = {name: grid.sampled[name] if name in sampled else list(grid.axes[name]) for name in names}
    changes = {}
    for bucket in buckets:
        try:
            pbt.check(bucket.steps)
        except ValueError as error:
            raise TaskError(f"{error} (bucket {bucket.static})") from None
        check_reported("pbt.metric", pbt.metric, bucket.program, _first_config(bucket, traced),
                       budget.eval_every)
        changes[bucket.number] = Changes(exploit_steps(pbt, bucket.steps, budget.eval_every), axes,
                                         functools.partial(_accepted_rows, bucket.task))
    return changes


def _first_config(bucket: Bucket, traced: list) -> dict:
    """The traced values of the bucket's first configuration, as the programs take them
    (what the checks of a task's metrics trace with)."""
    return {k: v[0] for k, v in stack(bucket.configs[:1], traced).items()}


def _bracket_groups(bucket: Bucket, halving: Optional[Halving], rungs: Optional[list]) -> list:
    """The bucket, or with HyperBand's brackets one bucket per bracket that holds
    configurations: bracket ``s`` gets its :func:`~jopt.sweep.halving.bracket_sizes` of
    them, dealt out by :func:`~jopt.sweep.halving.assign_brackets`, and starts halving at
    rung ``s``."""
    if halving is None or halving.brackets == 1:
        return [bucket]
    which = assign_brackets(bracket_sizes(len(bucket.configs), halving.brackets, len(rungs),
                                          halving.eta))
    groups = []
    for bracket in range(halving.brackets):
        chosen = np.flatnonzero(which == bracket)
        if len(chosen):
            groups.append(bucket._replace(bracket=bracket,
                                          indices=[bucket.indices[i] for i in chosen],
                                          configs=[bucket.configs[i] for i in chosen]))
    return groups


def _halving_entry(halving: Halving, rungs: dict, groups: list) -> dict:
    """The manifest's ``halving``: its settings, each bucket's ``rungs``, and per bucket
    its brackets' rungs (bracket ``s``: from rung ``s`` on) and their configurations."""
    counts: dict = {}
    for group in groups:
        sizes = counts.setdefault(str(group.number), [0] * halving.brackets)
        sizes[group.bracket or 0] += len(group.configs)
    return {**halving._asdict(), "rungs": {str(k): v for k, v in rungs.items()},
            "bracket_rungs": {str(k): [v[s:] for s in range(halving.brackets)]
                              for k, v in rungs.items()},
            "bracket_configs": counts}


def _cache_slice_size(bucket: Bucket, traced: list, slice_size: int, n_devices: int) -> int:
    """:func:`~jopt.sweep.engine.cache_slice_size` of a bucket on a CPU, from its state's
    size in slices of ``slice_size`` (the init program's trace, which compiling that size
    reuses); the writer's, since caches differ by host (the slice plan would make every
    process slice as the writer does, after compiling its own size for nothing).  A
    bucket too small to be cut is not traced."""
    if slice_size <= MIN_CONFIGS_PER_DEVICE * n_devices:
        return slice_size
    shapes = resized(stack(bucket.configs[:1], traced), slice_size)
    per_config = bucket.programs.state_bytes_per_config(shapes)
    most = cache_slice_size(len(bucket.configs), n_devices, per_config, cpu_cache_bytes())
    return int(from_writer(np.int64(most)))


def _cpu_slice_size(bucket: Bucket, traced: list, slice_size: int, n_devices: int,
                    eta: Optional[float]) -> int:
    """A bucket's slice size on a CPU, at most ``slice_size``: cut to fit the cache
    (:func:`_cache_slice_size`) and, halved at ``eta``, about its first survivors'
    (:func:`~jopt.sweep.halving.halving_slice_size`), the size whose state is measured
    first, so that compiling it reuses that trace."""
    size = len(bucket.configs)
    if eta is not None:
        slice_size = min(slice_size, halving_slice_size(size, eta, n_devices, slice_size))
    most = _cache_slice_size(bucket, traced, slice_size, n_devices)
    if eta is not None and most < slice_size:
        most = halving_slice_size(size, eta, n_devices, most)
    return min(slice_size, most)


def _slice_plan_of(bucket: Bucket, first, plans: dict, store, timings: dict, n_devices: int,
                   memory_limit: Optional[float]) -> dict:
    """The bucket's slice plan: the one recorded in the manifest (a resume slices as the
    first run did), else planned from the programs' memory estimates."""
    size = len(bucket.configs)
    plan = plans.get(bucket.name)
    if jax.process_count() > 1:  # the writer's recorded plan (0: none) for every process
        recorded = int(from_writer(np.int64(plan["size"] if plan else 0)))
        if plan is None and recorded:
            plan = plans[bucket.name] = slice_plan(size, recorded, None)
    if plan is not None:
        return plan
    started = time.perf_counter()
    planned, bytes_per_config = plan_slices(bucket.programs, first, n_devices, memory_limit)
    planned = int(from_writer(np.int64(planned)))  # free memory differs by host
    timings["compile_seconds"] = timings.get("compile_seconds", 0.0) + time.perf_counter() - started
    plan = plans[bucket.name] = slice_plan(size, planned, bytes_per_config)
    if store is not None:
        store.update_manifest(slices=plans)
    return plan


def _run_bucket(bucket: Bucket, traced: list, mesh, plans: dict, store, bar, timings: dict, *,
                out, max_configs, memory_limit, chunk_seconds, checkpoint_seconds, grid,
                done: list, halving: Optional[Halving] = None, rungs=None, pbt: Any = None,
                changes: Optional[Changes] = None) -> list:
    """Every slice of one bucket: the results' parts, in the grid's order."""
    n_devices = mesh.devices.size
    size = len(bucket.configs)
    slice_size = slice_size_for(size, n_devices, max_configs)
    recorded = jax.process_count() == 1 and bucket.name in plans  # a resume: its plan wins
    if bucket.programs.on_cpu and pbt is None and not recorded:
        halved = halving is not None and (bucket.bracket or 0) < len(rungs) - 1
        slice_size = _cpu_slice_size(bucket, traced, slice_size, n_devices,
                                     halving.eta if halved else None)
    first = make_slice(bucket.configs[:slice_size], traced, slice_size, bucket.program, mesh)
    plan = _slice_plan_of(bucket, first, plans, store, timings, n_devices, memory_limit)
    one_pass = bucket.programs.blocks * bucket.programs.eval_every  # the bar counts one
    bar.add_steps((slice_steps(size, plan["size"], halving.eta, rungs, bucket.bracket or 0)
                   if halving is not None else plan["count"] * one_pass) - one_pass)
    if plan["size"] != slice_size:  # sliced (now or by the recorded plan): programs of its size
        slice_size, first = plan["size"], None
    slices = [first if start == 0 and first is not None else
              make_slice(bucket.configs[start:start + slice_size], traced, slice_size,
                         bucket.program, mesh)
              for start in range(0, size, slice_size)]
    if halving is not None:  # every slice's configurations ranked together at each rung
        return [_halved_bucket(bucket, slices, store, bar, timings, halving=halving, rungs=rungs,
                               out=out, chunk_seconds=chunk_seconds, grid=grid, done=done)]
    parts = []
    for start, part in zip(range(0, size, slice_size), slices):
        chosen = bucket.configs[start:start + slice_size]
        name = f"b{bucket.name}s{start // slice_size}"
        n = part.size
        per_config_values = _per_config_values(bucket, part)
        if store is not None:  # the manifest maps the slice's checkpoint to its configs
            store.start_slice(name, bucket.indices[start:start + n], **per_config_values)
        bar.start_slice(part.size)
        events = []
        if pbt is not None:
            status, rows, final, events, slice_timings = _population_slice(
                bucket.programs, part, name, store, bar, pbt, changes, out=out,
                chunk_seconds=chunk_seconds, checkpoint_seconds=checkpoint_seconds,
                rng_key=(bucket.number, start // slice_size))
            events = [{**e, "config": bucket.indices[start + e["config"]],
                       "parent": bucket.indices[start + e["parent"]]} for e in events]
        else:
            status, rows, final, slice_timings = _run_plain_slice(
                bucket.programs, part, name, store, bar, out=out, chunk_seconds=chunk_seconds,
                checkpoint_seconds=checkpoint_seconds)
        _add_timings(timings, slice_timings)
        parts.append({
            "indices": bucket.indices[start:start + n], "configs": chosen,
            "status": tuple(s[:n] for s in status),
            "rows": {k: v[:n] for k, v in rows.items()},
            "final": {k: v[:n] for k, v in final.items()},
            "num_steps": part.num_steps[:n], **per_config_values,
        })
        if isinstance(pbt, PBT):
            parts[-1]["events"] = events
            parts[-1]["columns"] = _lineage_columns(events, bucket.indices[start:start + n])
        if store is not None:
            store.write_partial(*assemble(done + parts, grid))
    return parts


def _add_timings(timings: dict, more: dict) -> None:
    """``more``'s seconds and counts added into ``timings``."""
    for key, value in more.items():
        timings[key] = timings.get(key, 0.0) + value


def _per_config_values(bucket: Bucket, part) -> dict:
    """What the tables need beside the rows: each real configuration's batch size and
    steps per epoch."""
    padded = len(part.num_steps)
    return {name: per_config(fn, part.host, padded)[:part.size]
            for name, fn in (("batch_size", bucket.program.batch_size),
                             ("steps_per_epoch", bucket.program.steps_per_epoch))}


def _halved_bucket(bucket: Bucket, slices: list, store, bar, timings: dict, *,
                   halving: Halving, rungs: list, out, chunk_seconds: float, grid,
                   done: list) -> dict:
    """The results' part of a bucket (a HyperBand bracket) halved as a whole, its slices'
    configurations ranked together (one checkpoint, named as the bucket's first slice)."""
    name = f"b{bucket.name}s0"
    values = [_per_config_values(bucket, part) for part in slices]
    per_config_values = {k: np.concatenate([v[k] for v in values]) for k in values[0]}
    if store is not None:  # the manifest maps the checkpoint to the bucket's configs
        store.start_slice(name, bucket.indices, **per_config_values)
    bar.start_slice(len(bucket.configs))
    status, rows, final, rung, slice_timings = _halve_slices(
        bucket.programs, slices, name, store, halving, rungs, bar, out=out,
        chunk_seconds=chunk_seconds, first_rung=bucket.bracket or 0)
    _add_timings(timings, slice_timings)
    n = len(bucket.configs)
    part = {"indices": bucket.indices, "configs": bucket.configs,
            "status": tuple(s[:n] for s in status), "rows": {k: v[:n] for k, v in rows.items()},
            "final": {k: v[:n] for k, v in final.items()},
            "num_steps": np.concatenate([p.num_steps[:p.size] for p in slices]),
            **per_config_values, "rung": rung[:n], "bracket": np.full(n, bucket.bracket or 0)}
    if store is not None:
        store.write_partial(*assemble(done + [part], grid))
    return part


def _run_plain_slice(programs, part, name: str, store, bar, *, out, chunk_seconds: float,
                     checkpoint_seconds: float) -> tuple:
    """A slice without halving, resumed from its checkpoint if it has one:
    :func:`~jopt.sweep.engine.run_slice`'s ``(status, rows, final, timings)``."""
    saved = _saved_checkpoint(store, name, out)
    resume = _unpack_checkpoint(saved) if saved is not None else None
    checkpoint = _checkpointer(store, name, checkpoint_seconds, gather=out is not None)
    return run_slice(programs, part, chunk_seconds=chunk_seconds, checkpoint=checkpoint,
                     resume=resume, progress=bar.update_from)


def _population_slice(programs, part, name: str, store, bar, policy: Any, changes: Changes, *,
                      out, chunk_seconds: float, checkpoint_seconds: float, rng_key: tuple) -> tuple:
    """A slice with PBT or a replay (:func:`~jopt.sweep.population.run_population`),
    resumed from its checkpoint if it has one: ``(status, rows, final, events, timings)``,
    the events' configs as slots of the slice.  Its checkpoints hold the population
    (:func:`~jopt.sweep.population.population_arrays`: host values, the same on every
    process)."""
    saved = _saved_checkpoint(store, name, out)
    population = population_from_arrays(saved) if saved is not None else None
    resume = (_unpack_checkpoint(saved), population) if population is not None else None
    plain = _checkpointer(store, name, checkpoint_seconds, gather=out is not None)

    def checkpoint(carry, rows, next_block, population):
        plain(carry, rows, next_block, extra=population_arrays(population))
    checkpoint.every = plain.every
    timings: dict = {}
    status, rows, final, population = run_population(
        programs, part, policy, changes.steps, resume=resume, checkpoint=checkpoint,
        chunk_seconds=chunk_seconds, progress=bar.update_from, timings=timings,
        rng_key=rng_key, axes=changes.axes, accepts=changes.accepts)
    return status, rows, final, population.events, timings


def _lineage_columns(events: list, indices: Sequence[int]) -> dict:
    """The summary's ``exploits`` (times replaced) and ``parent`` (the last parent, -1)."""
    exploits = {index: 0 for index in indices}
    parent = {index: -1 for index in indices}
    for event in events:
        exploits[event["config"]] += 1
        parent[event["config"]] = event["parent"]
    return {"exploits": np.array([exploits[i] for i in indices], np.int64),
            "parent": np.array([parent[i] for i in indices], np.int64)}


HALVED = "halved/"
"""The prefix of a halved slice's checkpoint arrays: its results, saved once it is done."""


def _halve_slices(programs, slices: list, name: str, store, halving: Halving, rungs: list,
                  bar, *, out, chunk_seconds: float, first_rung: int = 0) -> tuple:
    """A bucket's ``slices`` halved together from rung ``first_rung`` (their bracket's):
    ``(status, rows, final, rung, timings)``.  With an output folder its checkpoint holds
    the state after the last rung (:data:`~jopt.sweep.halving.RUNG_CHECKPOINT`), from
    which a resume goes on, then the results once done, which a resume reads.  Under
    ``jax.distributed`` every process takes each rung's arrays (gathered from all of
    them) and the writer writes them; a resume goes on from the writer's on every
    process."""
    saved = _saved_checkpoint(store, name, out)
    configs = sum(part.size for part in slices)
    if saved is not None and len(saved.get(f"{HALVED}rung", ())) == configs:
        return (*_unpack_halved(saved), {})  # (another count: an earlier jopt's, per slice)
    timings: dict = {}
    status, rows, final, rung = run_halving(
        programs, slices, halving, rungs, chunk_seconds=chunk_seconds, progress=bar.update_from,
        timings=timings, first_rung=first_rung,
        save=_writer_saves(store, name) if out is not None else None, resume=saved)
    if store is not None:
        arrays = {f"{HALVED}status/{i}": np.asarray(s) for i, s in enumerate(status)}
        arrays.update({f"{HALVED}rows/{k}": v for k, v in rows.items()})
        arrays.update({f"{HALVED}final/{k}": v for k, v in final.items()})
        arrays[f"{HALVED}rung"] = rung
        store.save_checkpoint(name, arrays)
    return status, rows, final, rung, timings


def _unpack_halved(arrays: dict) -> tuple:
    """``(status, rows, final, rung)`` of a halved slice's checkpoint."""
    def part(kind):
        prefix = f"{HALVED}{kind}/"
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
    status = part("status")
    return (tuple(status[str(i)] for i in range(3)), part("rows"), part("final"),
            arrays[f"{HALVED}rung"])


def _saved_checkpoint(store, name: str, out: Optional[str]) -> Optional[dict]:
    """The arrays of the checkpoint ``name`` (None: none), on every process: the writer
    reads them from the output folder (``out``, its ``store``) for all."""
    saved = store.load_checkpoint(name) if store is not None else None
    return arrays_from_writer(saved) if out is not None else saved


def _writer_saves(store, name: str) -> Callable[[dict], None]:
    """``save(arrays)``: called on every process, written as checkpoint ``name`` by the
    writer (``store``; None on the other processes)."""
    def save(arrays: dict) -> None:
        if store is not None:
            store.save_checkpoint(name, arrays)
    return save


def _checkpointer(store, name: str, every: float, gather: bool) -> Callable:
    """``save(carry, rows, next_block)``: the slice's state, read whole on every process
    when ``gather`` (a sweep with an output folder), written by the writer (``store``)."""
    write = _writer_saves(store, name)

    def save(carry, rows, next_block, extra: Optional[dict] = None):
        if not gather:
            return
        arrays = {f"carry/{i}": to_host(leaf)
                  for i, leaf in enumerate(jax.tree_util.tree_leaves(carry))}
        arrays.update({f"rows/{k}": to_host(v) for k, v in rows.items()})
        arrays["next_block"] = np.asarray(next_block)
        write({**arrays, **(extra or {})})
    save.every = every
    return save


def _unpack_checkpoint(arrays: dict) -> dict:
    carry_keys = sorted((k for k in arrays if k.startswith("carry/")), key=lambda k: int(k[6:]))
    return {"carry": [arrays[k] for k in carry_keys],
            "rows": {k[5:]: arrays[k] for k in arrays if k.startswith("rows/")},
            "next_block": arrays["next_block"]}


class Progress:
    """A tqdm bar over training steps: configs alive (in the running slice, and all those of
    slices not yet run) and the best loss so far."""

    def __init__(self, total: int, configs: int, quiet: bool):
        self.bar = None
        self.best = math.inf
        self.waiting = configs  # configs of the slices not yet started
        if not quiet and is_writer():
            try:
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, unit="step", desc=f"sweep ({configs} configs)",
                                file=sys.stderr, dynamic_ncols=True)
            except ImportError:
                self.bar = None
        # under jax.distributed the writer's bar needs every process's losses after each
        # chunk: all processes gather them, and only then (the writer says whether)
        self.gather = jax.process_count() > 1 and bool(from_writer(np.int32(self.bar is not None)))

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
        losses = to_host(rows.get("val_loss", rows.get("train_loss")))  # every process gathers
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
