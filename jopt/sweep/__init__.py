"""Vectorized hyperparameter sweeps: one compiled program trains every configuration.

    import jopt.sweep as sweep
    task = sweep.task(model.init, apply=model.apply, loss="softmax_cross_entropy",
                      data=(x, y), optimizer="adamw", schedule="warmup_cosine_decay_schedule",
                      warmup_steps=30, decay_steps=300)
    grid = sweep.Grid(learning_rate=sweep.logspace(1e-4, 1e-1, 8), weight_decay=[0, 1e-4, 1e-2],
                      batch_size=[64], seed=sweep.seeds(3))
    result = sweep.run(task, grid, budget=sweep.Budget(steps=300, eval_every=50), out="runs/x")
    result.best("val_loss")

A task describes a training setup (:func:`task`): the user's own model (Flax, Equinox,
plain JAX) or a built-in one (:func:`builtin_task`, the config files' tasks).  A function
returning a task takes the static axes it names (a width, say), one call per bucket.

Numeric axes (every hyperparameter of the optimizer and its schedule, the seed) are
traced: vmapped in one program.  Shape and choice axes (batch size, width, optimizer
name, ...) are static: one program per bucket.  Batch sizes run as buckets or, with
``batch_strategy="mask"``, padded to the largest size in one program; ``"auto"`` picks
by estimated cost.  The configuration axis is sharded over the devices
(:func:`choose_devices`).  On a CPU, JAX sees one device unless
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` is set before JAX starts
(:func:`jopt.devices.use_every_core`; the ``jopt`` command sets it).

Beyond grids: :class:`Random` and :class:`QuasiRandom` samplers (axes ``uniform``,
``loguniform``, ``choice``, ``randint``, mixed with grid axes); successive halving
(:class:`Halving`: pruned configurations leave the program, the survivors are gathered
into a smaller one); population-based training (:class:`PBT`: the worst copy the best
and perturb their traced values, no recompile; :meth:`SweepResult.schedule` and
:func:`replay` give and retrain a member's schedule).

A grid too large for memory runs in slices sized from XLA's memory estimates of the
compiled init and chunk programs (``memory_limit``; the plan is in ``result.slices``).

Several processes (hosts): call ``jax.distributed.initialize(...)`` in each (on CPUs
after ``jax.config.update("jax_cpu_collectives_implementation", "gloo")``), then the
same :func:`run` (:mod:`jopt.sweep.processes`).

Compiled programs are kept (the last :data:`~jopt.sweep.runner.CACHE_SIZE` buckets) and
reused by a later sweep of the same task, static values, budget and slice size: as with
``jax.jit``, other hyperparameter values do not recompile.  :func:`clear_cache` forgets
them.
"""

from jopt.sweep.engine import cache_loads, chunk_compiles, mesh_for
from jopt.sweep.grid import Grid, is_numeric, linspace, logspace, seeds
from jopt.sweep.halving import Halving
from jopt.sweep.pbt import PBT
from jopt.sweep.runner import (STRATEGIES, choose_batch_strategy, choose_devices, clear_cache,
                               replay, run)
from jopt.sweep.schema import make_optimizer
from jopt.sweep.search import QuasiRandom, Random, choice, loguniform, randint, uniform
from jopt.sweep.store import SpecMismatchError, SweepResult, load
from jopt.sweep.tasks import (Budget, Task, TaskError, TaskFactory, builtin_task, factory,
                              fingerprint, task)
from jopt.sweep.config import ConfigError, from_toml, run_config

__all__ = ["task", "Task", "TaskError", "factory", "TaskFactory", "builtin_task", "Grid",
           "logspace", "linspace", "seeds", "is_numeric", "run", "run_config", "from_toml",
           "ConfigError", "load", "Budget", "make_optimizer", "SweepResult", "SpecMismatchError",
           "choose_batch_strategy", "choose_devices", "mesh_for", "clear_cache",
           "chunk_compiles", "cache_loads", "fingerprint", "STRATEGIES", "Random", "QuasiRandom", "uniform",
           "loguniform", "choice", "randint", "Halving", "PBT", "replay"]
