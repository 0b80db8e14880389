"""The sweep schema: one registry of what a sweep can name, read by everyone.

The config parser, the built-in task, the runner, the command line's messages and the
README's tables all read these names; nothing else lists them.

- :data:`MODELS`: the built-in models (:mod:`jopt.models`) and their settings.
- :data:`OPTIMIZERS`: each jopt optimizer's traceable arguments (its grid keys), declared
  in :data:`jopt.optimizers.HYPERPARAMETERS`.
- :data:`SCHEDULES`: each schedule's traceable arguments and the one the grid's
  ``learning_rate`` sets (:data:`jopt.schedules.LEARNING_RATE_ARGUMENT`): the peak of a
  warmup schedule, the start of a decay.
- :data:`LOSSES`: the loss names a task may give (functions ``(outputs, targets)``).
- :data:`BATCH_STRATEGIES`, :data:`SAMPLINGS`, :data:`TASK_DEFAULTS`,
  :data:`STATIC_SETTINGS`.

:func:`make_optimizer` builds a named optimizer (and schedule) from a configuration's
hyperparameters; :func:`check_optimizer` builds it once with concrete values, so a
missing schedule argument or an impossible value is refused before anything runs,
by the library's own checks.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping, NamedTuple, Optional, Sequence

from jopt import data, losses, models, optimizers, schedules
from jopt.base import GradientTransformation

__all__ = ["ModelSpec", "ScheduleSpec", "MODELS", "OPTIMIZERS", "NOT_IN_SWEEPS", "SCHEDULES", "LOSSES",
           "BATCH_STRATEGIES", "SAMPLINGS", "TASK_DEFAULTS", "STATIC_SETTINGS", "grid_keys",
           "make_optimizer", "check_optimizer", "required_schedule_arguments"]


class ModelSpec(NamedTuple):
    """A built-in model: whether ``hidden`` is a list of widths (``"widths"``), exactly one
    width (``"width"``) or absent (``None``); its default ``hidden`` and ``activation``
    (None: it takes none)."""

    hidden: Optional[str]
    default_hidden: Optional[list] = None
    activation: Optional[str] = None


class ScheduleSpec(NamedTuple):
    """A schedule by name: the argument the grid's ``learning_rate`` sets, all its
    traceable arguments, and the sweep's defaults for arguments the schedule requires
    (a warmup from 0)."""

    learning_rate: str
    arguments: tuple
    defaults: Mapping = {}


MODELS: dict[str, ModelSpec] = {
    "mlp": ModelSpec("widths", [128], "relu"),
    "linear": ModelSpec(None),
    "logistic": ModelSpec(None),
    "random_features": ModelSpec("width"),
    "two_layer_linear": ModelSpec("width", None, "identity"),
}
NOT_IN_SWEEPS = {"polyak_sgd": "its step needs the loss value (update(..., value=f(x)))"}
"""Optimizers a sweep cannot name, and why."""
OPTIMIZERS: Mapping[str, tuple] = {name: arguments for name, arguments
                                   in optimizers.HYPERPARAMETERS.items()
                                   if name not in NOT_IN_SWEEPS}
SCHEDULE_DEFAULTS: dict[str, dict] = {"warmup_cosine_decay_schedule": {"init_value": 0.0}}
SCHEDULES: dict[str, ScheduleSpec] = {
    name: ScheduleSpec(schedules.LEARNING_RATE_ARGUMENT[name], arguments,
                       SCHEDULE_DEFAULTS.get(name, {}))
    for name, arguments in schedules.HYPERPARAMETERS.items()}
LOSSES: tuple = (
    "squared_error", "l2_loss", "sum_of_squares", "sse", "mean_squared_error", "squared_loss",
    "logistic_loss", "sigmoid_binary_cross_entropy", "binary_cross_entropy_with_logits",
    "softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels",
    "cross_entropy_with_logits", "cross_entropy", "hinge_loss", "hinge")
BATCH_STRATEGIES = ("auto", "bucket", "mask")
SAMPLINGS = data.SAMPLINGS
TASK_DEFAULTS: dict[str, Any] = {
    "model": "mlp", "optimizer": "adam", "sampling": "epoch", "val_fraction": 0.15,
    "test_fraction": 0.15, "idx_val_fraction": 1 / 12, "data_seed": 0, "standardize": True,
    "eval_rows": 64, "eval_train": True,
}
"""The built-in task's defaults (``idx_val_fraction``: ``val_fraction`` for MNIST-format
files, whose t10k files are the test set).  ``eval_rows``: evaluations run the data
through the model that many examples at a time, which bounds a configuration's memory.
``eval_train``: each evaluation also passes over the training set (``train_loss``)."""
STATIC_SETTINGS = ("batch_size", "optimizer", "schedule", "model", "hidden", "activation",
                   "init", "dataset", "loss", "sampling", "val_fraction", "test_fraction",
                   "standardize", "data_seed", "eval_rows")
"""The built-in task's settings that may be static grid axes (one program per value)."""


def _check_registry() -> None:
    """Every registered name exists (the tables are declared, so they are checked)."""
    for name in OPTIMIZERS:
        assert callable(getattr(optimizers, name)), name
    for name in SCHEDULES:
        assert callable(getattr(schedules, name)), name
    for name in LOSSES:
        assert callable(getattr(losses, name)), name
    for name in MODELS:
        assert callable(getattr(models, name)), name


_check_registry()


def grid_keys(optimizer_names: Sequence[str], schedule: Optional[str] = None) -> dict[str, str]:
    """The keys a grid may vary for these optimizers (and schedule), each with its kind:
    ``"learning_rate"``, ``"optimizer"`` (an argument every one of them takes),
    ``"schedule"``, ``"batch_size"``, ``"seed"`` or ``"hidden"``."""
    keys = {"learning_rate": "learning_rate"}
    shared = set.intersection(*(set(OPTIMIZERS[name]) for name in optimizer_names)) \
        if optimizer_names else set()
    for name in sorted(shared - {"learning_rate"}):
        keys[name] = "optimizer"
    if schedule is not None:
        spec = SCHEDULES[schedule]
        for name in spec.arguments:
            if name != spec.learning_rate:
                keys.setdefault(name, "schedule")
    keys.update(batch_size="batch_size", seed="seed", hidden="hidden")
    return keys


def required_schedule_arguments(schedule: str) -> list[str]:
    """The arguments of ``schedule`` without a default, other than the one the grid's
    ``learning_rate`` sets: a grid axis or a task setting must give each."""
    spec = SCHEDULES[schedule]
    parameters = inspect.signature(getattr(schedules, schedule)).parameters.values()
    return [p.name for p in parameters if p.default is p.empty and p.name != spec.learning_rate
            and p.name not in spec.defaults]


def make_optimizer(name: str, hparams: Mapping[str, Any], schedule: Optional[str] = None,
                   fixed: Optional[Mapping[str, Any]] = None) -> GradientTransformation:
    """``jopt.<name>`` with the hyperparameters of ``hparams`` (and ``fixed``) it takes.

    With a ``schedule``, the learning rate is that schedule, with ``hparams["learning_rate"]``
    as its :data:`SCHEDULES` learning-rate argument (the peak of a warmup schedule) and its
    other arguments read from the same values.  A schedule argument that none of them
    gives is a ``TypeError`` naming it.
    """
    values = {**(fixed or {}), **hparams}
    kwargs = {k: values[k] for k in OPTIMIZERS[name] if k in values}
    if schedule is not None:
        spec = SCHEDULES[schedule]
        missing = [a for a in required_schedule_arguments(schedule) if a not in values]
        if missing:
            raise TypeError(f"schedule {schedule} needs {', '.join(missing)}: give it as a grid "
                            "axis or a task setting")
        schedule_kwargs = {**spec.defaults, **{k: values[k] for k in spec.arguments
                                               if k in values and k != spec.learning_rate}}
        schedule_kwargs[spec.learning_rate] = values["learning_rate"]
        kwargs["learning_rate"] = getattr(schedules, schedule)(**schedule_kwargs)
    return getattr(optimizers, name)(**kwargs)


def check_optimizer(name: str, values: Mapping[str, Any], schedule: Optional[str] = None) -> None:
    """Build optimizer ``name`` (and its schedule) once with concrete ``values`` (one
    value per hyperparameter): the library's own checks run, and a ``ValueError`` or
    ``TypeError`` names the argument and the value."""
    make_optimizer(name, values, schedule)
