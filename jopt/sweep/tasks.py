"""Tasks: what a sweep trains, described once, for a built-in model or the user's own.

:func:`task` describes one training setup from its pieces: ``init(key) -> params`` (any
pytree of float arrays: Flax, Equinox, plain JAX), ``apply`` with a loss name or a
``loss(params, batch)``, the data, the optimizer (a name whose numeric arguments become
grid keys, or ``hparams -> GradientTransformation``) and optional ``metrics``.  A
sweep's static axes that change the model (a width, say) go to a function returning a
task, called once per bucket with them as keyword arguments (:func:`factory`).
:func:`builtin_task` is the same description applied to :mod:`jopt.models` and
:mod:`jopt.data`: the config files' tasks.

The runner turns a task and a bucket's static values into a :class:`SweepTask`
(:func:`sweep_program`), the per-configuration functions that it vmaps over
configurations and runs in chunks, the way purejaxrl's ``make_train(config)`` returns
the function that is then vmapped::

    init(hparams, key) -> carry
    step(carry, hparams, t) -> (carry, batch_loss)
    evaluate(carry, hparams, batch_losses) -> (carry, row)      # a dict of scalars
    final(carry, hparams) -> dict of scalars                     # summary metrics
    status(carry) -> Status(active, diverged, stop_step)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

import jopt
from jopt import data as jdata
from jopt import models as jmodels
from jopt.base import GradientTransformation
from jopt.sweep import schema
from jopt.train import (FitSetup, Objective, fit_evaluate, fit_final, fit_init, fit_step,
                        loss_objective, model_objective, resolve_loss)

__all__ = ["Task", "task", "factory", "TaskFactory", "SweepTask", "Status", "Budget",
           "builtin_task", "as_factory", "sweep_program", "fingerprint", "TaskError",
           "example_batch", "reported_metrics", "check_reported"]


class TaskError(ValueError):
    """A task that cannot be trained: one line naming the culprit and the shapes."""


class Status(NamedTuple):
    """Each configuration's state after a chunk: still training, diverged, and the step
    where it stopped (early stopping or divergence; -1 while it has not)."""

    active: Any
    diverged: Any
    stop_step: Any


class SweepTask(NamedTuple):
    """What the runner vmaps over configurations (see the module): ``init``, ``step``,
    ``evaluate``, ``final`` and ``status``; ``num_steps``, ``batch_size`` and
    ``steps_per_epoch`` are integer arithmetic on the hyperparameters, elementwise:
    programs call them with one configuration's traced values, the runner with NumPy
    arrays over every configuration.  Users describe a :func:`task`; the runner makes
    this from it."""

    init: Callable
    step: Callable
    evaluate: Callable
    final: Callable
    status: Callable
    num_steps: Callable
    batch_size: Callable
    steps_per_epoch: Callable


def reported_metrics(program: SweepTask, hparams: dict, eval_every: int) -> list[str]:
    """The metrics ``program``'s evaluation rows record (sorted, without ``step``), for one
    configuration's ``hparams``; from shapes only (nothing compiles or runs)."""
    def row(h):
        carry = program.init(h, jax.random.PRNGKey(0))
        return program.evaluate(carry, h, jnp.zeros((eval_every,)))[1]
    return sorted(k for k in jax.eval_shape(row, hparams) if k != "step")


def check_reported(field: str, metric: str, program: SweepTask, hparams: dict,
                   eval_every: int) -> None:
    """A :class:`TaskError` naming ``field`` unless ``program`` records ``metric``
    (:func:`reported_metrics`): a search ranking by a metric the task does not report."""
    reported = reported_metrics(program, hparams, eval_every)
    if metric not in reported:
        raise TaskError(f"{field} = {metric!r}: not a metric the task reports "
                        f"(it reports {', '.join(reported)})")


class Budget(NamedTuple):
    """How long each configuration trains: exactly one of ``steps``, ``epochs`` and
    ``examples``; ``eval_every`` steps between evaluations; optional ``patience``
    (evaluations without a better validation loss before a configuration stops; its
    parameters are then the best ones seen)."""

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

    def steps_for(self, n: Optional[int], batch_size: Any) -> Any:
        """The budget in steps for ``n`` training examples and this batch size."""
        if self.steps is not None:
            return self.steps + 0 * batch_size
        if n is None:
            raise TaskError(f"budget in {'epochs' if self.epochs else 'examples'} needs a "
                            "training set of arrays; a batch function's budget is in steps")
        if self.epochs is not None:
            return self.epochs * (n // batch_size)
        return self.examples // batch_size


# ----------------------------------------------------------------------------
# The description
# ----------------------------------------------------------------------------


class Task(NamedTuple):
    """A training setup, as :func:`task` checked and normalized it.

    ``init``: ``key -> params``; ``objective``: how parameters are scored
    (:class:`jopt.train.Objective`); ``train``: the training rows (a pytree of arrays,
    e.g. ``(x, y)``), or None when ``batches(key, step) -> batch`` draws them;
    ``held_out``: ``(("val", rows), ("test", rows))``, the non-empty ones;
    ``optimizer``: a name of :data:`jopt.sweep.schema.OPTIMIZERS` or ``hparams ->
    GradientTransformation``; ``schedule``: a schedule name, with a named optimizer;
    ``settings``: a JSON-ready description (the built-in task's settings, else the
    pieces' names) for the manifest; ``fixed``: hyperparameters given as numbers
    rather than grid axes; ``batch_size``: the batch size when the grid has none;
    ``eval_train``: each evaluation also passes over the training set (``train_loss``).
    """

    init: Callable
    objective: Objective
    train: Any
    held_out: tuple
    optimizer: Union[str, Callable]
    schedule: Optional[str] = None
    sampling: str = "epoch"
    eval_rows: Optional[int] = None
    eval_train: bool = True
    divergence_factor: float = 1e4
    batches: Optional[Callable] = None
    takes_key: bool = False
    settings: Mapping = {}
    fixed: Mapping = {}
    batch_size: Optional[int] = None

    @property
    def train_size(self) -> Optional[int]:
        """Training examples (None for a batch function)."""
        return None if self.train is None else _rows(self.train)

    def make_optimizer(self, hparams: Mapping[str, Any]) -> GradientTransformation:
        """The optimizer of one configuration, from its (traced) hyperparameters."""
        values = {**self.fixed, **hparams}
        if callable(self.optimizer):
            return self.optimizer(values)
        return schema.make_optimizer(self.optimizer, values, self.schedule)


def _rows(tree: Any) -> int:
    return int(jax.tree_util.tree_leaves(tree)[0].shape[0])


def _canonical(values: Any) -> np.ndarray:
    """``values`` as a NumPy array of the type JAX would give it (float32 unless x64 is on)."""
    values = np.asarray(values)
    return values.astype(jax.dtypes.canonicalize_dtype(values.dtype), copy=False)


def _shapes(tree: Any) -> str:
    return str(jax.tree_util.tree_map(lambda v: tuple(np.shape(v)), tree))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _rows_of(name: str, split: Any) -> Any:
    """A split as a pytree of host arrays sharing their first axis: ``(x, y)`` pairs as
    tuples (a Dataset too), anything else as it is."""
    if isinstance(split, (list, tuple)):
        split = tuple(split)
    leaves = jax.tree_util.tree_leaves(split)
    if not leaves:
        raise TaskError(f"data {name!r} holds no arrays")
    split = jax.tree_util.tree_map(_canonical, split)
    lengths = {np.shape(v)[0] if np.ndim(v) else None for v in jax.tree_util.tree_leaves(split)}
    if None in lengths or len(lengths) != 1:
        raise TaskError(f"data {name!r}: its arrays need one leading example axis of the same "
                        f"length, got shapes {_shapes(split)}")
    return split


def _splits(data: Any, val_fraction: float, test_fraction: float, seed: int) -> tuple:
    """``(train, held_out, batches)`` from the forms :func:`task` takes."""
    if callable(data):
        return None, (), data
    if isinstance(data, jdata.Splits):
        data = data._asdict()
    if isinstance(data, Mapping):
        unknown = set(data) - {"train", "val", "test"}
        if unknown or "train" not in data:
            raise TaskError(f"data: a dict of splits needs 'train' (and optionally 'val', "
                            f"'test'), got keys {sorted(data)}")
        batches = data["train"] if callable(data["train"]) else None
        train = None if batches is not None else _rows_of("train", data["train"])
        held_out = tuple((name, _rows_of(name, data[name])) for name in ("val", "test")
                         if name in data and _rows(_rows_of(name, data[name])) > 0)
        return train, held_out, batches
    if isinstance(data, (list, tuple)) and len(data) == 2:
        x, y = data
        if np.shape(x)[:1] != np.shape(y)[:1]:
            raise TaskError(f"data: x has {np.shape(x)[:1]} rows but y has {np.shape(y)[:1]} "
                            f"(shapes {np.shape(x)} and {np.shape(y)})")
        try:
            splits = jdata.split(x, y, seed=seed, val_fraction=val_fraction,
                                 test_fraction=test_fraction)
        except ValueError as error:
            raise TaskError(f"data: {error}") from None
        return _splits(splits, val_fraction, test_fraction, seed)
    raise TaskError("data must be arrays (x, y), a dict of named splits, a jopt.data.Splits or "
                    f"a function batch(key, step), got {type(data).__name__}")


def _check_params(params: Any) -> None:
    """Params must be a pytree of float arrays; Flax variables with mutable collections
    (batch statistics) are refused, saying what to do."""
    if isinstance(params, Mapping) and "params" in params and len(params) > 1:
        others = sorted(k for k in params if k != "params")
        raise TaskError(f"init returned Flax variables with mutable collections {others}: model "
                        "state such as batch statistics is not carried by a sweep; return "
                        "variables['params'] and use a model without mutable state "
                        "(e.g. LayerNorm instead of BatchNorm)")
    paths = jax.tree_util.tree_flatten_with_path(params)[0]
    if not paths:
        raise TaskError("init returned no arrays")
    for path, leaf in paths:
        where = jax.tree_util.keystr(path) or "params"
        dtype = getattr(leaf, "dtype", None)
        if dtype is None:
            raise TaskError(f"init returned a non-array leaf at {where}: {type(leaf).__name__} "
                            "(give the array part, e.g. eqx.partition(model, eqx.is_inexact_array)[0])")
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TaskError(f"init returned a {dtype} leaf at {where} (shape {tuple(leaf.shape)}): "
                            "trained parameters must be float arrays")


def _takes_key(loss: Callable) -> bool:
    try:
        parameters = inspect.signature(loss).parameters
    except (TypeError, ValueError):
        return False
    return "key" in parameters


def task(init: Callable, *, data: Any, apply: Optional[Callable] = None,
         loss: Union[str, Callable, None] = None,
         optimizer: Union[str, Callable] = "adam", schedule: Optional[str] = None,
         metrics: Optional[Callable] = None, sampling: str = "epoch",
         val_fraction: float = 0.15, test_fraction: float = 0.0, data_seed: int = 0,
         eval_rows: Optional[int] = schema.TASK_DEFAULTS["eval_rows"],
         eval_train: bool = schema.TASK_DEFAULTS["eval_train"],
         divergence_factor: float = 1e4, batch_size: Optional[int] = None,
         settings: Optional[Mapping] = None, **fixed: Any) -> Task:
    """Describe a training setup for :func:`jopt.sweep.run`.

    - ``init(key) -> params``: a pytree of float arrays (Flax Linen's
      ``variables["params"]``, the state of ``nnx.split``, the array part of
      ``eqx.partition``).
    - ``apply(params, x) -> outputs`` with ``loss`` a name of :mod:`jopt.losses`
      (``"softmax_cross_entropy"`` with integer labels means the integer-label form) or
      a function ``(outputs, targets) -> scalar``; or, without ``apply``, ``loss(params,
      batch) -> scalar`` or ``(scalar, dict of metrics)``, with a ``key`` argument for
      dropout (``key=None`` at evaluation).  Losses and metrics are means over a batch's
      rows.
    - ``data``: arrays ``(x, y)`` (split by ``val_fraction`` and ``test_fraction``,
      seeded by ``data_seed``), a dict of named splits ``{"train", "val", "test"}`` (each
      ``(x, y)`` or any pytree of arrays with one leading example axis), a
      :class:`jopt.data.Splits`, or a function ``batch(key, step) -> batch`` (also as
      ``{"train": batch, "val": ...}``) for data the user samples or augments.  Arrays are
      sampled by ``sampling`` (:data:`jopt.data.SAMPLINGS`).
    - ``optimizer``: a jopt optimizer's name (its numeric arguments, and those of
      ``schedule``, become grid keys; the grid's ``learning_rate`` sets the schedule's
      argument listed in :data:`jopt.sweep.schema.SCHEDULES`) or ``hparams ->
      GradientTransformation`` (jopt or optax pieces; ``hparams`` holds the grid's
      values, traced).
    - ``metrics(params, batch) -> dict of scalars``: evaluated on the validation and test
      sets at each evaluation, kept in the curves (``val_<name>``) and the summary.
    - ``batch_size``: the batch size, unless the grid has a ``batch_size`` axis.
    - ``eval_train``: each evaluation also passes the whole training set through the
      model, for the curves' ``train_loss``.  ``False`` skips that pass, which costs about
      as much as the steps between evaluations once the training set holds three times the
      examples those steps see (a forward pass is about a third of a step): the rows have no
      ``train_loss`` (``batch_loss``, the mean loss of the batches since the last
      evaluation, remains), and a batch loss above ``divergence_factor`` times the first
      validation loss, rather than the first training loss, counts as divergence.
    - ``**fixed``: hyperparameters given as numbers instead of grid axes (``b1=0.95``).

    Mutable model state (batch statistics) is not supported: ``init`` returning Flax
    variables with collections beside ``params`` is refused with a message.
    Every check here runs on shapes (``jax.eval_shape``) before anything compiles, and a
    bad piece is one :class:`TaskError` line naming it.
    """
    if not callable(init):
        raise TaskError(f"init must be a function key -> params, got {type(init).__name__}")
    if sampling not in schema.SAMPLINGS:
        raise TaskError(f"sampling must be one of {', '.join(schema.SAMPLINGS)}, got {sampling!r}")
    if not isinstance(eval_train, (bool, np.bool_)):
        raise TaskError(f"eval_train must be True or False, got {eval_train!r}")
    if isinstance(optimizer, str) and optimizer not in schema.OPTIMIZERS:
        raise TaskError(f"optimizer {optimizer!r} is not a jopt optimizer; known: "
                        f"{', '.join(schema.OPTIMIZERS)} (or give hparams -> GradientTransformation)")
    if schedule is not None and (not isinstance(optimizer, str) or schedule not in schema.SCHEDULES):
        raise TaskError(f"schedule {schedule!r}: give a name of {', '.join(schema.SCHEDULES)} "
                        "with a named optimizer (a function optimizer builds its own)")
    train, held_out, batches = _splits(data, val_fraction, test_fraction, data_seed)
    try:
        params = jax.eval_shape(init, jax.random.PRNGKey(0))
    except Exception as error:  # noqa: BLE001  (the user's code: any error, one line)
        found = re.search(r"value of type (.*) at output component (.*), which", str(error))
        if found:
            raise TaskError(f"init returned a non-array leaf at {found.group(2)}: "
                            f"{found.group(1)} (give the array part, e.g. "
                            "eqx.partition(model, eqx.is_inexact_array)[0])") from None
        raise TaskError(f"init(key) failed: {_first_line(error)}") from None
    _check_params(params)
    example = example_batch(train, held_out, batches)
    if apply is not None:
        objective = _apply_objective(apply, loss, metrics, params, example)
        takes_key = False
    else:
        if not callable(loss):
            raise TaskError("give apply(params, x) with a loss name, or loss(params, batch)")
        takes_key = _takes_key(loss)
        objective = loss_objective(loss, metrics, takes_key)
        _check_loss(loss, takes_key, params, example)
    described = dict(settings or {})
    described.setdefault("optimizer", optimizer if isinstance(optimizer, str) else _name(optimizer))
    if schedule is not None:
        described.setdefault("schedule", schedule)
    return Task(init=init, objective=objective, train=train, held_out=held_out,
                optimizer=optimizer, schedule=schedule, sampling=sampling, eval_rows=eval_rows,
                eval_train=bool(eval_train), divergence_factor=divergence_factor,
                batches=batches, takes_key=takes_key,
                settings=described, fixed=dict(fixed), batch_size=batch_size)


def _name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__name__)}"


def example_batch(train: Any, held_out: tuple, batches: Optional[Callable]) -> Any:
    """Two rows of a task's data (shapes only where a batch function gives them): what
    its pieces are checked and traced on."""
    if train is not None:
        return jax.tree_util.tree_map(lambda v: v[:2], train)
    try:
        return jax.eval_shape(batches, jax.random.PRNGKey(0), jnp.int32(0))
    except Exception as error:  # noqa: BLE001
        raise TaskError(f"batch(key, step) failed: {_first_line(error)}") from None


def _apply_objective(apply: Callable, loss: Any, metrics: Optional[Callable], params: Any,
                     example: Any) -> Objective:
    if not (isinstance(example, tuple) and len(example) == 2):
        raise TaskError(f"apply with a loss name needs batches (x, y), got {_shapes(example)}")
    x, y = example
    try:
        outputs = jax.eval_shape(apply, params, x)
    except Exception as error:  # noqa: BLE001
        raise TaskError(f"apply(params, x) failed on x of shape {tuple(np.shape(x))}: "
                        f"{_first_line(error)}") from None
    integer_labels = jnp.issubdtype(y.dtype, jnp.integer)
    classes = bool(integer_labels) and len(outputs.shape) == 2
    name = loss if loss is not None else ("softmax_cross_entropy" if classes else "mean_squared_error")
    if isinstance(name, str):
        if name not in schema.LOSSES:
            raise TaskError(f"loss {name!r} is not a loss of jopt.losses; known: "
                            f"{', '.join(schema.LOSSES)}")
        if classes and name in ("softmax_cross_entropy", "cross_entropy"):
            name = "softmax_cross_entropy_with_integer_labels"  # from integer labels
    if classes and isinstance(y, np.ndarray) and y.size and \
            (int(y.max()) >= outputs.shape[-1] or int(y.min()) < 0):
        raise TaskError(f"labels run from {int(y.min())} to {int(y.max())} but apply gives "
                        f"{outputs.shape[-1]} outputs per example (shape {outputs.shape})")
    resolved = resolve_loss(name)
    try:
        value = jax.eval_shape(resolved, outputs, y)
    except Exception as error:  # noqa: BLE001
        raise TaskError(f"loss {name!r} failed on outputs {outputs.shape} and targets "
                        f"{tuple(np.shape(y))}: {_first_line(error)}") from None
    if value.shape != ():
        raise TaskError(f"loss {name!r} gives shape {value.shape}, not a scalar")
    return model_objective(jmodels.Model(lambda key: None, apply), resolved, classes, metrics)


def _check_loss(loss: Callable, takes_key: bool, params: Any, example: Any) -> None:
    try:
        value = jax.eval_shape((lambda p, b: loss(p, b, jax.random.PRNGKey(0))) if takes_key
                               else loss, params, example)
    except Exception as error:  # noqa: BLE001
        raise TaskError(f"loss(params, batch) failed on a batch of shapes {_shapes(example)}: "
                        f"{_first_line(error)}") from None
    scalar = value[0] if isinstance(value, tuple) else value
    if getattr(scalar, "shape", None) != ():
        raise TaskError(f"loss(params, batch) must return a scalar (or (scalar, metrics)), got "
                        f"shape {getattr(scalar, 'shape', type(scalar).__name__)} for a batch "
                        f"of shapes {_shapes(example)}")


# ----------------------------------------------------------------------------
# Factories: a task per bucket
# ----------------------------------------------------------------------------


class TaskFactory(NamedTuple):
    """How the runner gets the task of a bucket: ``build(static_values) -> Task``;
    ``static``: the grid axes it takes (always static); ``settings``: a JSON-ready
    description; ``key``: a hashable value such that factories with equal keys make the
    same tasks (the runner then reuses the programs compiled for one of them; None: no
    reuse across calls); ``train_size``: training examples, if known without building."""

    build: Callable
    static: tuple
    settings: dict
    key: Any = None
    train_size: Optional[int] = None


def factory(fn: Callable[..., Task], **settings: Any) -> TaskFactory:
    """A function returning a :class:`Task`, called once per bucket with the bucket's
    values of the grid axes named by its parameters (those axes are static).
    ``settings`` describe it in the manifest."""
    parameters = inspect.signature(fn).parameters
    static = tuple(name for name, p in parameters.items()
                   if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    required = [name for name, p in parameters.items()
                if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    def build(values: Mapping) -> Task:
        missing = [name for name in required if name not in values]
        if missing:
            raise TaskError(f"{getattr(fn, '__name__', fn)} takes {', '.join(missing)}: not "
                            "static grid axes; a sweep's task function takes static grid axes "
                            "by name and returns jopt.sweep.task(...)")
        built = fn(**{k: values[k] for k in static if k in values})
        if not isinstance(built, Task):
            raise TaskError(f"{getattr(fn, '__name__', fn)} returned {type(built).__name__}, "
                            "not a jopt.sweep.task(...)")
        return built
    return TaskFactory(build=build, static=static, settings={"factory": _name(fn), **settings})


def as_factory(obj: Any) -> TaskFactory:
    """A :class:`TaskFactory` from what :func:`jopt.sweep.run` accepts: a task, a function
    returning one (:func:`factory`), or a factory."""
    if isinstance(obj, TaskFactory):
        return obj
    if isinstance(obj, Task):
        return TaskFactory(build=lambda values: obj, static=(), settings=dict(obj.settings),
                           train_size=obj.train_size)
    if callable(obj):
        return factory(obj)
    raise TypeError(f"a sweep trains a jopt.sweep.task(...) or a function returning one, got "
                    f"{type(obj).__name__}")


# ----------------------------------------------------------------------------
# The built-in task: jopt.models x jopt.data x jopt.losses x a jopt optimizer
# ----------------------------------------------------------------------------


def _model(settings: Mapping, in_dim: int, out_dim: Optional[int], classification: bool):
    kind = settings["model"]
    spec = schema.MODELS[kind]
    hidden = list(settings.get("hidden") or spec.default_hidden or [])
    activation = settings.get("activation", spec.activation)
    extra = {} if settings.get("init") is None else {"init": settings["init"]}
    if kind == "mlp":
        return jmodels.mlp([in_dim, *hidden, out_dim or 1], activation, **extra)
    if kind == "linear":
        return jmodels.linear(in_dim, out_dim if classification else None, **extra)
    if kind == "logistic":
        return jmodels.logistic(in_dim, out_dim, **extra)
    if kind == "two_layer_linear":
        return jmodels.two_layer_linear(in_dim, hidden[0], out_dim or 1, activation=activation)
    return jmodels.random_features(in_dim, hidden[0], jax.random.PRNGKey(settings["data_seed"]),
                                   out_dim=out_dim if classification else None)


_DATA_SETTINGS = ("dataset", "data_seed", "val_fraction", "test_fraction", "standardize")


def load_data(settings: Mapping) -> jdata.Splits:
    """The built-in task's data set from its settings (defaults of
    :data:`jopt.sweep.schema.TASK_DEFAULTS`)."""
    values = {**schema.TASK_DEFAULTS, **settings}
    name = values["dataset"]
    if isinstance(name, str) and name.startswith("idx:"):
        return jdata.load_mnist(name[4:], seed=values["data_seed"],
                                val_fraction=settings.get("val_fraction",
                                                          values["idx_val_fraction"]))
    return jdata.load(name, seed=values["data_seed"], val_fraction=values["val_fraction"],
                      test_fraction=values["test_fraction"], standardize=values["standardize"])


def builtin_task(**settings: Any) -> TaskFactory:
    """The config files' task: a model of :mod:`jopt.models` on a data set of
    :mod:`jopt.data`, trained with a jopt optimizer (and schedule), as :func:`task`.

    Settings (the ``[task]`` table; defaults in :data:`jopt.sweep.schema.TASK_DEFAULTS`):
    ``model`` (:data:`jopt.sweep.schema.MODELS`), ``hidden``, ``activation``, ``init``,
    ``dataset`` (a name of :func:`jopt.data.load` or ``"idx:FOLDER"``), ``loss``,
    ``optimizer``, ``schedule``, ``sampling``, ``val_fraction``, ``test_fraction``,
    ``standardize``, ``data_seed``, ``eval_rows``.  Any of them may also be a static grid
    axis (:data:`jopt.sweep.schema.STATIC_SETTINGS`).  ``eval_train`` (:func:`task`'s) is a
    setting, not an axis.  Other settings are fixed hyperparameters.  Each data set is
    loaded once per factory.
    """
    settings = dict(settings)
    loaded: dict = {}

    def data_of(values: Mapping) -> jdata.Splits:
        key = repr([values.get(name) for name in _DATA_SETTINGS])
        if key not in loaded:
            loaded[key] = load_data(values)
        return loaded[key]

    def build(static_values: Mapping) -> Task:
        values = {**schema.TASK_DEFAULTS, **settings, **static_values}
        splits = data_of({k: v for k, v in {**settings, **static_values}.items()})
        x_train, y_train = splits.train
        classification = np.issubdtype(np.asarray(y_train).dtype, np.integer)
        out_dim = int(np.max(y_train)) + 1 if classification else None
        model = _model(values, x_train.shape[1], out_dim, classification)
        fixed = {k: v for k, v in values.items()
                 if k not in schema.STATIC_SETTINGS and k not in schema.TASK_DEFAULTS}
        return task(model.init, apply=model.apply, loss=values.get("loss"), data=splits,
                    optimizer=values["optimizer"], schedule=values.get("schedule"),
                    sampling=values["sampling"], eval_rows=values["eval_rows"],
                    eval_train=values["eval_train"], batch_size=values.get("batch_size"),
                    settings=settings, **fixed)

    train_size = None if str(settings.get("dataset", "")).startswith("idx:") else \
        len(data_of(settings).train.x)
    key = ("builtin_task", json.dumps(settings, sort_keys=True, default=repr))
    return TaskFactory(build=build, static=schema.STATIC_SETTINGS, settings=settings, key=key,
                       train_size=train_size)


# ----------------------------------------------------------------------------
# A task as the runner's per-configuration functions
# ----------------------------------------------------------------------------


def sweep_program(t: Task, budget: Budget, *, batch_size: Optional[int] = None,
                  max_batch: Optional[int] = None) -> SweepTask:
    """The :class:`SweepTask` of ``t`` for one bucket: a static ``batch_size``, or
    ``max_batch`` rows with each configuration's ``hparams["batch_size"]`` (the mask
    strategy).  The training set goes to the device once, here."""
    batch_size = batch_size if batch_size is not None else t.batch_size
    if batch_size is None and max_batch is None and t.batches is None:
        raise TaskError("batch_size is missing: give it as a grid axis or a task setting")
    if batch_size is None and max_batch is None and t.batches is not None:
        batch_size = _rows(jax.eval_shape(t.batches, jax.random.PRNGKey(0), 0))
    train = None if t.train is None else jax.device_put(t.train)
    held_out = tuple((name, jax.device_put(rows)) for name, rows in t.held_out)
    rows = max_batch if max_batch is not None else batch_size
    setup = FitSetup(objective=t.objective, train=train, held_out=held_out,
                     rows=rows if rows is not None else 0, masked=max_batch is not None,
                     sampling=t.sampling, patience=budget.patience,
                     divergence_factor=t.divergence_factor, averages=False,
                     eval_rows=t.eval_rows, batches=t.batches, takes_key=t.takes_key,
                     eval_train=t.eval_train)
    n = t.train_size

    def size_of(hparams):
        return hparams["batch_size"] if max_batch is not None else (batch_size or 1)

    def num_steps(hparams):
        return budget.steps_for(n, size_of(hparams))

    # the carry is (fit's carry, the batch key): the key is split once, in init, so the
    # chunk program holds no threefry hash for it
    def init(hparams, key):
        init_key, batch_key = jax.random.split(key)
        return fit_init(setup, t.make_optimizer(hparams), t.init(init_key)), batch_key

    def step(carry, hparams, step_index):
        fit_carry, batch_key = carry
        fit_carry, loss = fit_step(setup, t.make_optimizer(hparams), fit_carry, batch_key,
                                   step_index, size_of(hparams), num_steps(hparams))
        return (fit_carry, batch_key), loss

    def evaluate(carry, hparams, losses):
        # a configuration that stopped (early, or diverged) before this evaluation records
        # nothing more: its curves end where it stopped
        fit_carry, batch_key = carry
        was_active = fit_carry.active
        fit_carry, row = fit_evaluate(setup, fit_carry, losses)
        row = {k: jnp.where(was_active, v.astype(jnp.result_type(v.dtype, float)), jnp.nan)
               for k, v in row.items()}
        return (fit_carry, batch_key), row

    return SweepTask(
        init=init, step=step, evaluate=evaluate,
        final=lambda carry, hparams: fit_final(setup, carry[0]),
        status=lambda carry: Status(carry[0].active, carry[0].diverged, carry[0].stop_step),
        num_steps=num_steps, batch_size=size_of,
        steps_per_epoch=lambda hparams: n // size_of(hparams) if n else 0 * size_of(hparams))


# ----------------------------------------------------------------------------
# What a configuration trains: its identity
# ----------------------------------------------------------------------------


def _hash_arrays(digest, tree: Any) -> None:
    for leaf in jax.tree_util.tree_leaves(tree):
        array = np.ascontiguousarray(np.asarray(leaf))
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())


def _hash_jaxpr(digest, fn: Callable, *args: Any) -> None:
    closed = jax.make_jaxpr(fn)(*args)
    digest.update(str(closed.jaxpr).encode())
    _hash_arrays(digest, closed.consts)


def fingerprint(t: Task, hparam_names: Sequence[str]) -> str:
    """A hash of what a configuration of ``t`` computes: the programs of its ``init``, one
    training step (the loss, its gradient and the optimizer's update, with the traced
    hyperparameters ``hparam_names`` as inputs) and one evaluation, and the data.  A
    changed model, loss, metric or optimizer changes it; the names of Python objects
    do not."""
    digest = hashlib.sha256(jopt.__version__.encode())
    key = jax.random.PRNGKey(0)
    _hash_jaxpr(digest, t.init, key)
    params = jax.eval_shape(t.init, key)
    batch = example_batch(t.train, t.held_out, t.batches)
    hparams = {name: jnp.float32(1.0) for name in hparam_names}

    def one_step(params, batch, hparams):
        opt = t.make_optimizer(hparams)
        weights = jnp.ones(_rows(batch)) if t.objective.always_weighted else None
        grads = jax.grad(t.objective.batch_loss)(params, batch, weights,
                                                 key if t.takes_key else None)
        return opt.update(grads, opt.init(params), params)

    zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), params)
    _hash_jaxpr(digest, one_step, zeros, batch, hparams)
    _hash_jaxpr(digest, t.objective.per_example, zeros, batch)
    _hash_arrays(digest, (t.train, t.held_out))
    digest.update(json.dumps([t.sampling, t.eval_rows, t.divergence_factor, t.takes_key,
                              sorted(t.fixed.items(), key=str)], default=repr).encode())
    if not t.eval_train:  # (a task evaluating the training set keeps its earlier fingerprint)
        digest.update(b"eval_train=False")
    return digest.hexdigest()
