"""Vectorized hyperparameter sweeps: one compiled program trains every configuration.

    import jopt.sweep as sweep
    task = sweep.builtin_task(model="mlp", hidden=[128], dataset="digits", optimizer="adam")
    grid = sweep.Grid(learning_rate=sweep.logspace(1e-4, 1e-1, 16), batch_size=[8, 32, 128],
                      seed=sweep.seeds(4))
    result = sweep.run(task, grid, budget=sweep.Budget(epochs=5, eval_every=50), out="runs/x")
    result.best("val_loss")

Numeric axes (every hyperparameter of the optimizer and its schedule, the seed) are
traced: vmapped in one program.  Shape and choice axes (batch size, width, optimizer
name, ...) are static: one program per bucket.  Batch sizes run as buckets or, with
``batch_strategy="mask"``, padded to the largest size in one program; ``"auto"`` picks
by estimated cost.  The configuration axis is sharded over ``jax.devices()``.  On a CPU,
JAX sees one device unless ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` is
set before JAX starts: the ``jopt`` command line sets it to the number of cores; a
library user sets it in the environment (or at the top of the script, before
``import jax``) to use every core.

A grid too large for memory runs in slices sized from XLA's memory estimates of the
compiled init and chunk programs (``memory_limit``; the plan is in ``result.slices``).

Several processes (hosts): call ``jax.distributed.initialize(...)`` in each (on CPUs
after ``jax.config.update("jax_cpu_collectives_implementation", "gloo")``), then the
same :func:`run`.  The configurations are sharded over every process's devices and each
process runs its share; process 0 chooses the chunk sizes, the slice plan and when to
checkpoint, writes ``out`` and shows the progress bar, and every process returns the
whole results (``jopt sweep --coordinator HOST:PORT --num-processes N --process-id I``).

While it runs, :func:`run` freezes the objects that existed before it was called
(``gc.freeze``), so that the full garbage collections its tracing sets off skip them,
and unfreezes them when it returns (unless the caller had frozen objects itself).

Compiled programs are kept (the last :data:`~jopt.sweep.runner.CACHE_SIZE` buckets) and
reused by a later sweep of the same task settings, static values, budget and slice size:
as with ``jax.jit``, other hyperparameter values do not recompile.  A task factory is
recognised by its ``key`` (the built-in task's: its settings) or else its ``make``
function; :func:`clear_cache` forgets them.

A user task is either a :class:`TaskFactory` (chunked, with progress, checkpoints,
divergence freezing and curves) or a plain function ``(hparams, key) -> metrics`` run
as one vmapped call per bucket.
"""

from jopt.sweep.grid import Grid, is_numeric, linspace, logspace, seeds
from jopt.sweep.runner import STRATEGIES, choose_batch_strategy, clear_cache, mesh_for, run
from jopt.sweep.tasks import (Budget, SweepTask, TaskFactory, builtin_task, make_optimizer,
                              optimizer_arguments, schedule_arguments)

__all__ = ["Grid", "logspace", "linspace", "seeds", "is_numeric", "run", "run_config",
           "from_toml", "load", "Budget", "SweepTask", "TaskFactory", "builtin_task",
           "make_optimizer", "optimizer_arguments", "schedule_arguments", "SweepResult",
           "choose_batch_strategy", "mesh_for", "clear_cache", "STRATEGIES"]


def __getattr__(name):
    # the store and the config parser need pandas / pyarrow: imported on first use
    if name in ("load", "SweepResult"):
        from jopt.sweep import store
        return getattr(store, name)
    if name == "from_toml":
        from jopt.sweep.config import from_toml
        return from_toml
    raise AttributeError(name)


def run_config(config, *, out=None, overwrite=False, quiet=None):
    """Run a parsed config file (:func:`from_toml`): its task, grid and budget."""
    options = dict(config.options)
    out = out if out is not None else options.pop("out", None)
    options.pop("out", None)
    task = builtin_task(**config.task_settings)
    budget = Budget(**config.budget)
    return run(task, config.grid, budget=budget, out=out, overwrite=overwrite, quiet=quiet,
               **options)
