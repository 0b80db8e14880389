"""Tasks: what one configuration of a sweep trains, made by a factory from static settings.

A :class:`SweepTask` is one training run written as pure per-configuration functions
(the runner vmaps them over configurations and runs them in chunks)::

    init(hparams, key) -> carry
    step(carry, hparams, t) -> (carry, batch_loss)
    evaluate(carry, hparams, batch_losses) -> (carry, row)      # a dict of scalars
        # batch_losses: the last eval_every steps' losses (all NaN before the first step)
    final(carry, hparams) -> dict of scalars                     # summary metrics
    status(carry) -> (active, diverged, stop_step)
    num_steps(hparams) -> steps in this configuration's budget
    batch_size(hparams) -> its batch size

``hparams`` is a dict of (traced) scalars: the traced axes of the grid.  A
:class:`TaskFactory` makes the task of one bucket from the values of the static axes,
the way purejaxrl's ``make_train(config)`` returns the function that is then vmapped.
:func:`builtin_task` is the factory behind the config files: a model of
:mod:`jopt.models` trained by :func:`jopt.fit`'s program on a data set of
:mod:`jopt.data` with any jopt optimizer and schedule.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

import jopt
from jopt import data as jdata
from jopt import models as jmodels
from jopt.train import fit_program, resolve_loss

__all__ = ["SweepTask", "TaskFactory", "Budget", "builtin_task", "make_optimizer",
           "optimizer_arguments", "schedule_arguments", "OPTIMIZERS", "MODELS", "SCHEDULES"]

OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "adamw")
MODELS = ("mlp", "linear", "logistic", "random_features", "two_layer_linear")
SCHEDULES = ("constant_schedule", "linear_schedule", "polynomial_schedule", "exponential_decay",
             "piecewise_constant_schedule", "cosine_decay_schedule",
             "warmup_cosine_decay_schedule", "inverse_time_decay", "power_decay")
EVAL_ROWS = 64
"""The built-in task's default ``eval_rows``: evaluations run the data through the model
64 examples at a time, so a configuration's memory stays within 2x of its parameters,
moments and gradients (the MLP 64-128-10 with adam: 1.5x; all 1257 rows at once: 10x)."""
# the argument of a schedule that the grid's learning_rate sets
_RATE_ARGUMENT = ("init_value", "peak_value", "scale", "value")


class SweepTask(NamedTuple):
    """What the runner vmaps over configurations: ``init(hparams, key) -> carry``;
    ``step(carry, hparams, t) -> (carry, batch_loss)``; ``evaluate(carry, hparams,
    batch_losses) -> (carry, row)``; ``final(carry, hparams) -> metrics``;
    ``status(carry) -> (active, diverged, stop_step)``.  ``num_steps``, ``batch_size``
    and ``steps_per_epoch`` are integer arithmetic on the hyperparameters, elementwise:
    programs call them with one configuration's traced values, the runner with NumPy
    arrays over every configuration."""

    init: Callable
    step: Callable
    evaluate: Callable
    final: Callable
    status: Callable
    num_steps: Callable
    batch_size: Callable
    steps_per_epoch: Callable


class TaskFactory(NamedTuple):
    """``make(static_values, *, budget, max_batch) -> SweepTask``; ``static``: the axes that
    must be static for it (shapes and choices); ``settings``: a JSON-ready description;
    ``train_size``: the number of training examples, if known (for the batch strategy's
    cost estimate); ``key``: a hashable value such that factories with equal keys make
    the same tasks (the runner then reuses the programs compiled for one of them; default:
    the ``make`` function itself)."""

    make: Callable
    static: tuple
    settings: dict
    train_size: Optional[int] = None
    key: Any = None


class Budget(NamedTuple):
    """How long each configuration trains: exactly one of ``steps``, ``epochs`` and
    ``examples``; ``eval_every`` steps between evaluations; optional ``patience``
    (evaluations without a better validation loss before a configuration stops)."""

    steps: Optional[int] = None
    epochs: Optional[int] = None
    examples: Optional[int] = None
    eval_every: int = 50
    patience: Optional[int] = None

    def check(self) -> "Budget":
        given = [k for k in ("steps", "epochs", "examples") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"budget needs exactly one of steps, epochs, examples; got {given or 'none'}")
        for name in given + ["eval_every"] + (["patience"] if self.patience is not None else []):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"budget {name} must be a positive integer, got {value!r}")
        return self

    def steps_for(self, n: int, batch_size: Any) -> Any:
        """The budget in steps for ``n`` training examples and this batch size."""
        if self.steps is not None:
            return self.steps + 0 * batch_size
        if self.epochs is not None:
            return self.epochs * (n // batch_size)
        return self.examples // batch_size


def optimizer_arguments(name: str) -> list[str]:
    """The numeric (traceable) arguments of ``jopt.<name>``: the keys a grid may vary."""
    from jopt.sweep.config import _numeric_arguments
    return _numeric_arguments(getattr(jopt.optimizers, name))


def schedule_arguments(name: str) -> list[str]:
    """The numeric (traceable) arguments of ``jopt.schedules.<name>``."""
    from jopt.sweep.config import _numeric_arguments
    return _numeric_arguments(getattr(jopt.schedules, name))


def make_optimizer(name: str, hparams: dict, schedule: Optional[str] = None,
                   fixed: Optional[dict] = None) -> jopt.GradientTransformation:
    """``jopt.<name>`` with the hyperparameters in ``hparams`` (and ``fixed``) that it takes.

    With a ``schedule`` (a name in :mod:`jopt.schedules`), the learning rate becomes that
    schedule, ``hparams["learning_rate"]`` its initial or peak value and the schedule's
    other arguments read from ``hparams`` too.
    """
    values = {**(fixed or {}), **hparams}
    factory = getattr(jopt.optimizers, name)
    accepted = set(inspect.signature(factory).parameters)
    kwargs = {k: v for k, v in values.items() if k in accepted}
    if schedule is not None:
        schedule_fn = getattr(jopt.schedules, schedule)
        schedule_params = set(inspect.signature(schedule_fn).parameters)
        schedule_kwargs = {k: v for k, v in values.items() if k in schedule_params}
        rate_arg = next(a for a in _RATE_ARGUMENT if a in schedule_params)
        schedule_kwargs[rate_arg] = values["learning_rate"]
        kwargs["learning_rate"] = schedule_fn(**schedule_kwargs)
    return factory(**kwargs)


def _model(settings: dict, in_dim: int, out_dim: Optional[int], classification: bool):
    kind = settings.get("model", "mlp")
    hidden = list(settings.get("hidden", [128]))
    activation = settings.get("activation", "relu")
    init = settings.get("init")
    extra = {} if init is None else {"init": init}
    if kind == "mlp":
        return jmodels.mlp([in_dim, *hidden, out_dim or 1], activation, **extra)
    if kind == "linear":
        return jmodels.linear(in_dim, out_dim if classification else None, **extra)
    if kind == "logistic":
        return jmodels.logistic(in_dim, out_dim, **extra)
    if kind == "two_layer_linear":
        return jmodels.two_layer_linear(in_dim, hidden[0], out_dim or 1, activation=activation
                                        if activation != "relu" else "identity")
    if kind == "random_features":
        return jmodels.random_features(in_dim, hidden[0], jax.random.PRNGKey(settings.get("data_seed", 0)),
                                       out_dim=out_dim if classification else None)
    raise ValueError(f"unknown model {kind!r}; known: {', '.join(MODELS)}")


_LOAD_OPTIONS = ("val_fraction", "test_fraction", "standardize")  # jopt.data.load's
_DATA_SETTINGS = ("dataset", "data_seed") + _LOAD_OPTIONS           # what a data set depends on


def _canonical(values: Any) -> np.ndarray:
    """``values`` as a NumPy array of the type JAX would give it (float32 unless x64 is on)."""
    values = np.asarray(values)
    return values.astype(jax.dtypes.canonicalize_dtype(values.dtype), copy=False)


def _load(settings: dict) -> jdata.Splits:
    name = settings.get("dataset", "digits")
    seed = settings.get("data_seed", 0)
    if isinstance(name, str) and name.startswith("idx:"):
        extra = {"val_fraction": settings["val_fraction"]} if "val_fraction" in settings else {}
        return jdata.load_mnist(name[4:], seed=seed, **extra)
    options = {k: settings[k] for k in _LOAD_OPTIONS if k in settings}
    return jdata.load(name, seed=seed, **options)


def _loss(settings: dict, classification: bool) -> Callable:
    name = settings.get("loss", "softmax_cross_entropy" if classification else "mean_squared_error")
    if classification and name in ("softmax_cross_entropy", "cross_entropy"):
        # integer labels: the config's "softmax_cross_entropy" means from integer labels
        name = "softmax_cross_entropy_with_integer_labels"
    return resolve_loss(name)


def builtin_task(**settings: Any) -> TaskFactory:
    """The factory of the config files' tasks: ``model x dataset x loss x optimizer``.

    Settings (the ``[task]`` table): ``model`` (mlp | linear | logistic |
    random_features | two_layer_linear), ``hidden`` (widths), ``activation``, ``init``,
    ``dataset`` (a name of :func:`jopt.data.load` or ``"idx:FOLDER"``), ``loss`` (a name in
    :mod:`jopt.losses`), ``optimizer`` (a jopt optimizer), ``schedule`` (optional, a
    name in :mod:`jopt.schedules`), ``sampling``, ``val_fraction``, ``test_fraction``,
    ``standardize``, ``data_seed``, ``eval_rows`` (examples per block when evaluating,
    default :data:`EVAL_ROWS`).  Any of them may also be a static grid axis.
    """
    settings = dict(settings)
    loaded: dict = {}  # the splits by their data settings: each data set is read once

    def load(values: dict) -> jdata.Splits:
        key = repr([values.get(name) for name in _DATA_SETTINGS])
        if key not in loaded:
            loaded[key] = _load(values)
        return loaded[key]

    def make(static_values: dict, *, budget: Budget, max_batch: Optional[int] = None) -> SweepTask:
        values = {**settings, **static_values}
        splits = load(values)
        x_train, y_train = splits.train
        n, in_dim = x_train.shape
        classification = np.issubdtype(np.asarray(y_train).dtype, np.integer)
        out_dim = int(np.max(y_train)) + 1 if classification else None
        model = _model(values, in_dim, out_dim, classification)
        loss = _loss(values, classification)
        # device_put, not jnp.asarray: the latter compiles a copy for each array (10 ms)
        arrays = jax.device_put(tuple((_canonical(x), _canonical(y)) for x, y in splits))
        optimizer = values.get("optimizer", "adam")
        schedule = values.get("schedule")
        sampling = values.get("sampling", "epoch")
        fixed_batch = static_values.get("batch_size", values.get("batch_size"))
        if fixed_batch is None and max_batch is None:
            raise ValueError("batch_size is missing: give it as a grid axis or a task setting")

        def batch_size(hparams):
            return hparams["batch_size"] if max_batch is not None else fixed_batch

        def program(hparams, batch_key):
            opt = make_optimizer(optimizer, hparams, schedule,
                                 fixed={k: v for k, v in values.items()
                                        if k not in hparams and k not in settings})
            return fit_program(model, opt, arrays, loss=loss, batch_size=batch_size(hparams),
                               key=batch_key, sampling=sampling,
                               patience=budget.patience, num_steps=num_steps(hparams),
                               max_batch=max_batch, divergence_factor=1e4, averages=False,
                               eval_rows=values.get("eval_rows", EVAL_ROWS))

        def num_steps(hparams):
            return budget.steps_for(n, batch_size(hparams))

        # the carry is (fit's carry, the batch key): the key is split once, in init, so
        # the chunk program holds no threefry hash for it
        def init(hparams, key):
            init_key, batch_key = jax.random.split(key)
            return program(hparams, batch_key).init(model.init(init_key)), batch_key

        def step(carry, hparams, t):
            fit_carry, batch_key = carry
            fit_carry, loss = program(hparams, batch_key).step(fit_carry, t)
            return (fit_carry, batch_key), loss

        def evaluate(carry, hparams, losses):
            fit_carry, batch_key = carry
            fit_carry, row = program(hparams, batch_key).evaluate(fit_carry, losses)
            return (fit_carry, batch_key), row

        return SweepTask(
            init=init, step=step, evaluate=evaluate,
            final=lambda carry, hparams: program(hparams, carry[1]).final_metrics(carry[0]),
            status=lambda carry: (carry[0].active, carry[0].diverged, carry[0].stop_step),
            num_steps=num_steps,
            batch_size=batch_size,
            steps_per_epoch=lambda hparams: n // batch_size(hparams))

    static = ("batch_size", "optimizer", "model", "hidden", "activation", "init", "dataset",
              "loss", "schedule", "sampling", "val_fraction", "test_fraction", "standardize",
              "data_seed", "eval_rows")
    train_size = None if str(settings.get("dataset", "")).startswith("idx:") else \
        len(load(settings).train.x)
    # the settings determine the task (data sets load deterministically)
    key = ("builtin_task", json.dumps(settings, sort_keys=True, default=repr))
    return TaskFactory(make, static, settings, train_size, key)
