"""Sweep config files (TOML): parse and validate, writing nothing.

The schema (every table but ``[run]`` required; defaults in parentheses)::

    [task]
    factory = "pkg.module:function"   # or "path/to/file.py:function" (relative to this file):
                           # a function returning jopt.sweep.task(...), called once per bucket
                           # with the static grid axes it names; then no other [task] key
    model = "mlp"          # ("mlp") mlp | linear | logistic | random_features | two_layer_linear
    hidden = [128]         # mlp: the hidden widths (default [128]; a number is one layer);
                           # two_layer_linear, random_features: [width] (required)
    activation = "relu"    # mlp ("relu"), two_layer_linear ("identity"): jopt.models.ACTIVATIONS
    init = "he"            # optional: jopt.models.INIT_SCHEMES (default: the model's)
    dataset = "digits"     # required: jopt.data.DATASETS, or "idx:FOLDER" (MNIST-format files)
    loss = "softmax_cross_entropy"  # a jopt.losses name (default: softmax_cross_entropy for
                                    # class labels, mean_squared_error for regression)
    optimizer = "adam"     # ("adam") a jopt optimizer; a list makes it a static grid axis
    schedule = "cosine_decay_schedule"  # optional: a jopt schedule; its arguments join [grid]
    sampling = "epoch"     # ("epoch") epoch | replacement | sequential
    val_fraction = 0.15    # (0.15; 1/12 for idx) held out for validation
    test_fraction = 0.15   # (0.15; not for idx, whose t10k files are the test set)
    data_seed = 0          # (0) the seed of the split
    standardize = true     # (true) standardize features on the training split (not for idx)
    eval_rows = 64         # (64) examples per block when evaluating a data set: fewer hold
                           # less memory per configuration, more run faster
    eval_train = true      # (true) each evaluation also passes over the training set
                           # (train_loss); false skips it (batch_loss remains)

    [grid]                 # an argument of the optimizer(s) or the schedule, batch_size, seed, hidden
                           # (with a factory: any axis; those its function names are static)
    learning_rate = { logspace = [1e-4, 1e-1, 16] }   # or { linspace = [a, b, n] }
    batch_size = [8, 32, 128]                          # a list; a single value is one value
    seed = { range = 4 }                               # or { range = [start, stop] }
    zip = [["learning_rate", "momentum"]]             # optional: pair axes instead of crossing
    # b1 = { uniform = [0.8, 0.99] }  a sampled axis (with [search] kind random, sobol or
    #                             halton); also loguniform, int, logint = [low, high] and
    #                             choice = [v0, v1, ...] (jopt.sweep.search)
    # hidden = [[64], [128, 64]]  a static width axis (then not in [task]); [64, 128] is
    #                             two one-layer widths.  A list [task] optimizer is an axis too.

    [search]               # optional: a sampler instead of the grid
    kind = "sobol"         # (jopt.sweep.search.from_tables): grid (default), random, sobol, halton
    n = 64                 # draws per combination of the grid axes; seed = 0 (optional)
    halving = { min_budget = 50, eta = 3, metric = "val_loss", mode = "min" }
                           # successive halving (jopt.sweep.Halving): rungs at min_budget *
                           # eta**k steps; eta (3), metric ("val_loss"), mode ("min") optional;
                           # brackets = 3: HyperBand's brackets (1: none; at most the rungs);
                           # compact = "auto" (gather the survivors into a smaller program
                           # where that pays) or "always"
    pbt = { interval = 100, quantile = 0.25 }
                           # or population-based training (jopt.sweep.PBT): every interval
                           # steps the worst quantile copies the best and perturbs; optional:
                           # metric, mode, resample_probability (0.25), factors ([1.2, 0.8]),
                           # burn_in (0), hyperparameters (default: the traced axes), seed

    [budget]               # exactly one of epochs, steps, examples
    epochs = 5
    eval_every = 50        # optional: steps between evaluations (default: the runner's)
    patience = 10          # optional: early stopping after this many evaluations without progress

    [run]                  # optional
    batch_strategy = "auto"  # auto | bucket | mask
    out = "results/default"  # the output folder (the CLI's --out wins)
    chunk_seconds = 0.5      # the target wall time of one chunk of steps
    memory_limit = "8 GiB"   # optional: bytes (a number, or a number and B, kB, MB, GB, KiB,
                             # MiB, GiB) a slice's program may take; default 40 % of free memory

Every error is a :class:`ConfigError`, one line naming the field and the value; an
unknown table or key names the nearest known one.  Static grid axes
(:data:`STATIC_AXES`: batch size, widths, optimizer name) make one program per bucket;
the other numeric axes are traced.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
import math
import os
import tomllib
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Sequence, Union

from jopt import data, models
from jopt.sweep import schema, search
from jopt.sweep.grid import Grid, is_numeric, linspace, logspace
from jopt.sweep.halving import COMPACT, Halving, check_brackets, rung_steps
from jopt.sweep.pbt import PBT, UNPERTURBED
from jopt.sweep.runner import run
from jopt.sweep.tasks import Budget, TaskFactory, builtin_task, factory

__all__ = [
    "ConfigError", "SweepConfig", "from_toml", "parse_config", "run_config", "load_factory",
    "TABLES", "TASK_KEYS", "BUDGET_KEYS", "BUDGET_UNITS", "RUN_KEYS", "MEMORY_UNITS",
    "parse_bytes", "STATIC_AXES",
]

TABLES = ("task", "grid", "search", "budget", "run")
TASK_KEYS = ("factory", "model", "hidden", "activation", "init", "dataset", "loss", "optimizer",
             "schedule", "sampling", "val_fraction", "test_fraction", "data_seed", "standardize",
             "eval_rows", "eval_train")
BUDGET_UNITS = ("epochs", "steps", "examples")
BUDGET_KEYS = (*BUDGET_UNITS, "eval_every", "patience")
RUN_KEYS = ("batch_strategy", "out", "chunk_seconds", "memory_limit")
MEMORY_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KiB": 2 ** 10,
                "MiB": 2 ** 20, "GiB": 2 ** 30, "TiB": 2 ** 40}
STATIC_AXES = ("batch_size", "hidden", "optimizer")
AXIS_FORMS = ("logspace", "linspace", "range")


class ConfigError(ValueError):
    """A bad sweep config: a one-line message naming the field and the value."""


class SweepConfig(NamedTuple):
    """A parsed config file: the task's static settings (defaults filled in), the grid
    (a list ``optimizer`` and a ``hidden`` axis live there, not in the settings), the
    budget (the keys given), the ``[run]`` options (``batch_strategy``, always, and
    ``out``, ``chunk_seconds`` and ``memory_limit`` when given: keyword arguments of
    ``jopt.sweep.run``) and, for ``[task] factory``, the factory it names."""

    task_settings: dict
    grid: Grid
    budget: dict
    options: dict
    factory: Optional[TaskFactory] = None

    @property
    def static_axes(self) -> list[str]:
        """The grid axes that make buckets (one program each)."""
        return self.grid.split(static=self._static())[1]

    @property
    def traced_axes(self) -> list[str]:
        """The grid axes vmapped inside one program."""
        return self.grid.split(static=self._static())[0]

    def _static(self) -> tuple:
        return STATIC_AXES if self.factory is None else ("batch_size", *self.factory.static)

    def task(self) -> TaskFactory:
        """The factory of the config's tasks: the named one, or the built-in task."""
        return self.factory if self.factory is not None else builtin_task(**self.task_settings)


def run_config(config: SweepConfig, *, out=None, overwrite: bool = False, quiet=None):
    """Run a parsed config (:func:`from_toml`): its task, grid, budget and ``[run]`` options
    (``out`` given here wins over ``[run] out``)."""
    options = dict(config.options)
    out = out if out is not None else options.pop("out", None)
    options.pop("out", None)
    return run(config.task(), config.grid, budget=Budget(**config.budget), out=out,
               overwrite=overwrite, quiet=quiet, **options)


# ----------------------------------------------------------------------------
# Names known to jopt
# ----------------------------------------------------------------------------


def load_factory(field: str, spec: Any, folder: Path) -> TaskFactory:
    """The function ``"package.module:function"`` or ``"path/to/file.py:function"`` (relative
    to ``folder``, the config file's) as a :class:`~jopt.sweep.tasks.TaskFactory`."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ConfigError(f"{field} = {spec!r}: give 'package.module:function' or "
                          "'path/to/file.py:function'")
    where, name = spec.split(":")
    if where.endswith(".py"):
        path = (folder / where).resolve()
        if not path.is_file():
            raise ConfigError(f"{field} = {spec!r}: no such file {str(path)!r}")
        # its sibling modules import, as a script's do (appended: the user's folder never
        # shadows an installed package)
        if str(path.parent) not in sys.path:
            sys.path.append(str(path.parent))
        module_name = f"jopt_factory_{abs(hash(str(path)))}"
        loader = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module
        try:
            loader.loader.exec_module(module)
        except Exception as error:  # noqa: BLE001  (the user's file: any error, one line)
            raise ConfigError(f"{field} = {spec!r}: importing {where} failed: "
                              f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as error:
            raise ConfigError(f"{field} = {spec!r}: cannot import module {where!r} ({error})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError(f"{field} = {spec!r}: {where} has no function {name!r}")
    return factory(function, factory=spec)


# ----------------------------------------------------------------------------
# Helpers: one-line errors
# ----------------------------------------------------------------------------


def _unknown(kind: str, key: str, where: str, known: Sequence[str]) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if close:
        hint = f"did you mean {close[0]!r}?"
        if kind == "table":
            return ConfigError(f"unknown table [{key}]; did you mean [{close[0]}]?")
    else:
        hint = f"known {kind}s: {', '.join(known)}"
        if kind == "table":
            return ConfigError(f"unknown table [{key}]; known tables: "
                               f"{', '.join(f'[{t}]' for t in known)}")
    return ConfigError(f"unknown {kind} {key!r} in {where}; {hint}")


def _check_keys(table: str, values: Mapping, known: Sequence[str]) -> None:
    for key in values:
        if key not in known:
            raise _unknown("key", key, f"[{table}]", known)


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string(field: str, value: Any, known: Optional[Sequence[str]] = None, what: str = "") -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{field} must be a string, got {value!r} ({_type_name(value)})")
    if known is not None and value not in known:
        close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"{field} = {value!r}: unknown {what}; {hint}known: {', '.join(known)}")
    return value


def _bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{field} must be true or false, got {value!r}")
    return value


def _positive_int(field: str, value: Any, minimum: int = 1) -> int:
    if not _is_int(value):
        raise ConfigError(f"{field} must be an integer, got {value!r} ({_type_name(value)})")
    if value < minimum:
        bound = "positive" if minimum == 1 else f"at least {minimum}"
        raise ConfigError(f"{field} must be {bound}, got {value}")
    return value


def _fraction(field: str, value: Any) -> float:
    if not is_numeric(value) or not 0 <= value < 1:
        raise ConfigError(f"{field} must be a number in [0, 1), got {value!r}")
    return value


# ----------------------------------------------------------------------------
# [task]
# ----------------------------------------------------------------------------


def _parse_task(table: Mapping, config_grid_keys: Sequence[str] = ()) -> dict:
    defaults = schema.TASK_DEFAULTS
    for key in table:
        if key not in TASK_KEYS and key in ("learning_rate", "batch_size", "seed"):
            raise ConfigError(f"[task] {key} = {table[key]!r}: a grid axis; give it in [grid] "
                              f"({key} = [{table[key]!r}] for a single value)")
    _check_keys("task", table, TASK_KEYS)
    settings: dict[str, Any] = {}

    if "dataset" not in table:
        raise ConfigError(f"[task] dataset is missing; known: {', '.join(data.DATASETS)}, "
                          f"idx:FOLDER")
    dataset = _string("[task] dataset", table["dataset"])
    idx = dataset.startswith("idx:")
    if idx:
        folder = dataset[len("idx:"):]
        if not folder:
            raise ConfigError(f"[task] dataset = {dataset!r}: give the folder, as 'idx:FOLDER'")
        if not os.path.isdir(folder):
            raise ConfigError(f"[task] dataset = {dataset!r}: no such folder {folder!r}")
    elif dataset not in data.DATASETS:
        _string("[task] dataset", dataset, [*data.DATASETS, "idx:FOLDER"], "data set")
    settings["dataset"] = dataset

    model = _string("[task] model", table.get("model", defaults["model"]), schema.MODELS, "model")
    spec = schema.MODELS[model]
    settings["model"] = model
    if "hidden" in table:
        settings["hidden"] = _hidden("[task] hidden", table["hidden"], model)
    elif spec.default_hidden is not None:
        settings["hidden"] = list(spec.default_hidden)
    elif spec.hidden is not None and "hidden" not in config_grid_keys:
        raise ConfigError(f"[task] hidden is missing: model {model!r} needs its width "
                          f"(hidden = [128])")
    if "activation" in table:
        if spec.activation is None:
            raise ConfigError(f"[task] activation = {table['activation']!r}: model {model!r} "
                              f"has no activation")
        settings["activation"] = _string("[task] activation", table["activation"],
                                         sorted(models.ACTIVATIONS), "activation")
    elif spec.activation is not None:
        settings["activation"] = spec.activation
    if "init" in table:
        settings["init"] = _string("[task] init", table["init"], sorted(models.INIT_SCHEMES),
                                   "init scheme")

    optimizer = table.get("optimizer", defaults["optimizer"])
    if isinstance(optimizer, list):
        if not optimizer:
            raise ConfigError("[task] optimizer = []: give at least one optimizer")
        for name in optimizer:
            _string("[task] optimizer", name, list(schema.OPTIMIZERS), "optimizer")
        if len(set(optimizer)) != len(optimizer):
            raise ConfigError(f"[task] optimizer = {optimizer!r}: an optimizer is listed twice")
        settings["optimizer"] = list(optimizer)
    else:
        settings["optimizer"] = _string("[task] optimizer", optimizer, list(schema.OPTIMIZERS),
                                        "optimizer")
    if "schedule" in table:
        settings["schedule"] = _string("[task] schedule", table["schedule"],
                                       list(schema.SCHEDULES), "schedule")
    settings["sampling"] = _string("[task] sampling", table.get("sampling", defaults["sampling"]),
                                   schema.SAMPLINGS, "sampling")

    settings["val_fraction"] = _fraction(
        "[task] val_fraction",
        table.get("val_fraction", defaults["idx_val_fraction"] if idx else defaults["val_fraction"]))
    if idx:
        for key in ("test_fraction", "standardize"):
            if key in table:
                raise ConfigError(f"[task] {key} = {table[key]!r}: not used with idx data sets "
                                  f"(the t10k files are the test set; pixels are scaled to [0, 1])")
    else:
        settings["test_fraction"] = _fraction("[task] test_fraction",
                                              table.get("test_fraction", defaults["test_fraction"]))
        settings["standardize"] = _bool("[task] standardize",
                                        table.get("standardize", defaults["standardize"]))
    settings["data_seed"] = _positive_int("[task] data_seed",
                                          table.get("data_seed", defaults["data_seed"]), 0)
    if "eval_rows" in table:
        settings["eval_rows"] = _positive_int("[task] eval_rows", table["eval_rows"], 1)
    if "eval_train" in table:
        settings["eval_train"] = _bool("[task] eval_train", table["eval_train"])
    if "loss" in table:
        settings["loss"] = _string("[task] loss", table["loss"], schema.LOSSES, "loss")
    return settings


def _hidden(field: str, value: Any, model: str) -> list[int]:
    """The hidden widths of ``model`` as a list: any number of them for an mlp, exactly
    one for two_layer_linear and random_features (a number or a one-element list)."""
    kind = schema.MODELS[model].hidden
    if kind is None:
        raise ConfigError(f"{field} = {value!r}: model {model!r} has no hidden layer")
    widths = [value] if _is_int(value) else value
    if not isinstance(widths, list):
        raise ConfigError(f"{field} must be a list of widths, got {value!r} ({_type_name(value)})")
    for width in widths:
        if not _is_int(width) or width < 1:
            raise ConfigError(f"{field} = {value!r}: widths must be positive integers, "
                              f"got {width!r}")
    if kind == "width" and len(widths) != 1:
        raise ConfigError(f"{field} = {value!r}: model {model!r} has one hidden width")
    return list(widths)


# ----------------------------------------------------------------------------
# [grid]
# ----------------------------------------------------------------------------


def _axis_values(field: str, spec: Any) -> list:
    """The values of one axis: a list, a single value, or {logspace|linspace|range = ...}
    (a sampled axis's table is :func:`jopt.sweep.search.parse_axis`'s; a bad table's
    message names both kinds of form)."""
    forms = (*AXIS_FORMS, *search.AXIS_FORMS)
    if isinstance(spec, dict):
        if len(spec) != 1:
            raise ConfigError(f"{field} = {spec!r}: give exactly one of "
                              f"{', '.join(forms)} in the table")
        (form, args), = spec.items()
        if form not in AXIS_FORMS:
            raise _unknown("key", form, field, forms)
        if form == "range":
            return _range(f"{field}.range", args)
        if not (isinstance(args, list) and len(args) == 3 and is_numeric(args[0])
                and is_numeric(args[1]) and _is_int(args[2])):
            raise ConfigError(f"{field}.{form} must be [start, stop, count] (two numbers and an "
                              f"integer), got {args!r}")
        if args[2] < 1:
            raise ConfigError(f"{field}.{form} = {args!r}: empty axis (count {args[2]})")
        try:
            return (logspace if form == "logspace" else linspace)(*args)
        except ValueError as error:
            raise ConfigError(f"{field}.{form} = {args!r}: {error}") from None
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{field} = []: empty axis")
        return list(spec)
    if isinstance(spec, (int, float, str, bool)):
        return [spec]
    raise ConfigError(f"{field} must be a list or a table, got {spec!r} ({_type_name(spec)})")


def _range(field: str, args: Any) -> list[int]:
    if _is_int(args):
        start, stop, step = 0, args, 1
    elif isinstance(args, list) and len(args) in (2, 3) and all(_is_int(a) for a in args):
        start, stop, step = (*args, 1)[:3]
    else:
        raise ConfigError(f"{field} must be a count or [start, stop] (integers), got {args!r}")
    if step == 0:
        raise ConfigError(f"{field} = {args!r}: step must not be 0")
    values = list(range(start, stop, step))
    if not values:
        raise ConfigError(f"{field} = {args!r}: empty axis")
    return values


def _check_numbers(field: str, values: list) -> None:
    for value in values:
        if not is_numeric(value):
            raise ConfigError(f"{field} must hold numbers, got {value!r} ({_type_name(value)})")
        if not math.isfinite(value):
            raise ConfigError(f"{field} must hold finite numbers, got {value!r}")


def _check_axis(key: str, kind: str, values: list, settings: Mapping) -> list:
    field = f"[grid] {key}"
    if kind == "hidden":
        return [_hidden(field, v, settings["model"]) for v in values]
    if kind in ("batch_size", "seed"):
        for value in values:
            if not _is_int(value):
                raise ConfigError(f"{field} must hold integers, got {value!r} ({_type_name(value)})")
            if kind == "batch_size" and value < 1:
                raise ConfigError(f"{field} must be positive, got {value}")
            if kind == "seed" and not 0 <= value < 2 ** 32:
                raise ConfigError(f"{field} must be in [0, 2**32), got {value}")
        return values
    if kind != "any":
        _check_numbers(field, values)
    return values


def _check_optimizers(axes: Mapping, kinds: Mapping, optimizers: Sequence[str],
                      schedule: Optional[str]) -> None:
    """Each optimizer (a static value) built with the first value of every axis, then with
    each value of each axis in turn: the library's own checks (one rule for the library
    and the config), so a missing schedule argument or an impossible value is refused
    here.  Errors name the axis and the value."""
    hparams = [k for k, kind in kinds.items() if kind in ("learning_rate", "optimizer", "schedule")]
    base = {k: axes[k][0] for k in hparams if k in axes}
    for name in optimizers:
        try:
            schema.check_optimizer(name, base, schedule)
        except TypeError as error:
            raise ConfigError(f"[task] schedule = {schedule!r}: {error}") from None
        except ValueError as error:
            raise ConfigError(f"[grid]: {name} with the first values {base}: {error}") from None
        for key in base:
            for value in dict.fromkeys(axes[key]):
                try:
                    schema.check_optimizer(name, {**base, key: value}, schedule)
                except (ValueError, TypeError) as error:
                    message = str(error).splitlines()[0] if str(error) else type(error).__name__
                    raise ConfigError(f"[grid] {key} = {value!r}: {message}") from None


def _parse_grid(table: Mapping, settings: dict, search_table: Optional[Mapping] = None) -> Grid:
    if "factory" in settings:
        known = {key: "any" for key in table if key != "zip"}
        known.update({k: k for k in ("batch_size", "seed") if k in table})
    else:
        optimizers = settings["optimizer"] if isinstance(settings["optimizer"], list) \
            else [settings["optimizer"]]
        known = schema.grid_keys(optimizers, settings.get("schedule"))
    axes: dict[str, list] = {}
    sampled: dict[str, Any] = {}
    for key, spec in table.items():
        if key == "zip":
            continue
        if key not in known:
            lacking = [opt for opt in optimizers if key not in schema.OPTIMIZERS[opt]]
            if lacking and len(lacking) < len(optimizers):
                raise ConfigError(f"[grid] {key}: not an argument of every optimizer in "
                                  f"[task] optimizer (not of {', '.join(lacking)})")
            if key in TASK_KEYS:
                raise ConfigError(f"[grid] {key}: a [task] setting, not a grid axis (a list "
                                  f"[task] optimizer makes the optimizer an axis)")
            raise _unknown("key", key, "[grid]", [*known, "zip"])
        if key == "hidden" and "hidden" in settings.get("_given", ()):
            raise ConfigError("[grid] hidden: also given in [task]; give it in one table")
        field = f"[grid] {key}"
        if search.is_sampled(spec):
            sampled[key] = spec  # drawn below, then checked as a list is
            continue
        axes[key] = _check_axis(key, known[key], _axis_values(field, spec), settings)
    zips = _zip_groups(table["zip"], {**axes, **sampled}) if "zip" in table else []
    try:
        space = search.from_tables(search_table, {**axes, **sampled, "zip": zips})
    except ValueError as error:
        raise ConfigError(str(error)) from None
    for key in search.sampled_names(space):
        _check_axis(key, known[key], space.axes[key], settings)
    axes = dict(space.axes)
    if "factory" not in settings:
        if "learning_rate" not in axes:
            raise ConfigError("[grid] learning_rate is missing: every optimizer needs one "
                              "(e.g. learning_rate = { logspace = [1e-4, 1e-1, 16] })")
        _check_optimizers(axes, known, optimizers, settings.get("schedule"))
        if isinstance(settings["optimizer"], list):
            if isinstance(space, search.Sampler):
                raise ConfigError("[task] optimizer: a list of optimizers with [search]; give "
                                  "the optimizers as a grid axis of a factory's task instead")
            space = Grid({**{k: space.axes[k] for k in space.axes}, "optimizer": list(settings["optimizer"])})
            for group in zips:
                space.zip(*group)
    if "batch_size" not in axes:
        raise ConfigError("[grid] batch_size is missing: give one or more "
                          "(e.g. batch_size = [32])")
    return space


def _zip_groups(spec: Any, axes: Mapping) -> list[list[str]]:
    if isinstance(spec, list) and spec and all(isinstance(s, str) for s in spec):
        spec = [spec]
    if not (isinstance(spec, list) and spec and all(isinstance(g, list) for g in spec)):
        raise ConfigError(f"[grid] zip must be a list of lists of axis names, got {spec!r}")
    seen: set[str] = set()
    for group in spec:
        if len(group) < 2:
            raise ConfigError(f"[grid] zip = {spec!r}: a group needs at least two axes, got {group!r}")
        for name in group:
            if not isinstance(name, str):
                raise ConfigError(f"[grid] zip = {spec!r}: axis names are strings, got {name!r}")
            if name not in axes:
                raise _unknown("axis", name, "[grid] zip", list(axes))
            if name in seen:
                raise ConfigError(f"[grid] zip = {spec!r}: axis {name!r} is in two groups")
            seen.add(name)
    return spec


class SearchOption(NamedTuple):
    """A table of ``[search]`` that makes a search policy: its ``key``, the policy's
    ``make`` (a NamedTuple class with a ``check()``), the ``required`` field and what it
    means, an ``example`` and the fields whose values come from a fixed list."""

    key: str
    make: Any
    required: str
    meaning: str
    example: str
    choices: tuple = ()


SEARCH_OPTIONS = (
    SearchOption("halving", Halving, "min_budget", "the first rung, in steps",
                 "{ min_budget = 50, eta = 3 }", (("mode", search.MODES, "mode"),
                                                   ("compact", COMPACT, "value"))),
    SearchOption("pbt", PBT, "interval", "steps between exploit rounds",
                 "{ interval = 100 }", (("mode", search.MODES, "mode"),)),
)


def _parse_search_option(table: Optional[Mapping], option: SearchOption) -> tuple:
    """``([search] without ``option.key``, or None if nothing is left; the policy or
    None)``: e.g. ``[search] halving = { min_budget = 50, eta = 3 }``.  Lists become
    tuples (the policies' sequence fields)."""
    if table is None or option.key not in table:
        return table, None
    spec = table[option.key]
    field = f"[search] {option.key}"
    rest = {k: v for k, v in table.items() if k != option.key}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{field} must be a table such as {option.example}, "
                          f"got {spec!r} ({_type_name(spec)})")
    for key in spec:
        if key not in option.make._fields:
            raise _unknown("key", key, field, option.make._fields)
    if option.required not in spec:
        raise ConfigError(f"{field}.{option.required} is missing: {option.meaning}")
    for name, allowed, kind in option.choices:
        if name in spec:
            _string(f"{field}.{name}", spec[name], allowed, kind)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
    try:
        return (rest or None), option.make(**values).check()
    except ValueError as error:
        raise ConfigError(f"[search] {error}") from None


def _parse_search_options(table: Optional[Mapping]) -> tuple:
    """``([search] without its policies, {key: policy})``; halving and pbt exclude each
    other."""
    policies = {}
    for option in SEARCH_OPTIONS:
        table, policies[option.key] = _parse_search_option(table, option)
    if policies["halving"] is not None and policies["pbt"] is not None:
        raise ConfigError("[search] halving and pbt: give one of them")
    return table, policies


def _checked_pbt(pbt: PBT, budget: Mapping, grid: Grid, static: Sequence[str]) -> PBT:
    """``pbt``, or a ConfigError: an interval or burn-in not shorter than a budget in
    steps; a perturbed axis that is not a numeric axis of ``grid`` or is ``static``."""
    try:
        pbt.check(budget.get("steps"))
    except ValueError as error:
        raise ConfigError(f"[search] {error} ([budget] steps = {budget['steps']})") from None
    for name in pbt.hyperparameters or ():
        if name in static or name in UNPERTURBED:
            raise ConfigError(f"[search] pbt.hyperparameters: {name!r} is a static axis or "
                              f"the seed; only traced hyperparameters can be perturbed")
        if name not in grid.axes or not all(is_numeric(v) for v in grid.axes[name]):
            raise ConfigError(f"[search] pbt.hyperparameters: {name!r} is not a numeric axis "
                              f"of [grid] (its axes: {', '.join(grid.axes)})")
    return pbt


def _checked_halving(halving: Halving, budget: Mapping) -> Halving:
    """``halving``, or a ConfigError when its ``min_budget`` exceeds a budget in steps or
    its ``brackets`` the rungs of that budget (a budget in epochs or examples: the runner
    checks them per bucket)."""
    if "steps" not in budget:
        return halving
    steps = budget["steps"]
    if halving.min_budget > steps:
        raise ConfigError(f"[search] halving.min_budget = {halving.min_budget} is larger than "
                          f"the budget ([budget] steps = {steps})")
    eval_every = budget.get("eval_every", Budget._field_defaults["eval_every"])
    try:
        check_brackets(halving, rung_steps(halving, steps, eval_every))
    except ValueError as error:
        raise ConfigError(f"[search] {error} ([budget] steps = {steps}, "
                          f"eval_every = {eval_every})") from None
    return halving


# ----------------------------------------------------------------------------
# [budget] and [run]
# ----------------------------------------------------------------------------


def _parse_budget(table: Mapping, grid: Grid) -> dict:
    _check_keys("budget", table, BUDGET_KEYS)
    units = [unit for unit in BUDGET_UNITS if unit in table]
    if len(units) != 1:
        given = ", ".join(f"{u} = {table[u]!r}" for u in units) or "none"
        raise ConfigError(f"[budget] needs exactly one of epochs, steps, examples; got {given}")
    unit = units[0]
    budget = {unit: _positive_int(f"[budget] {unit}", table[unit])}
    if unit == "examples" and "batch_size" in grid.axes:
        largest = max(grid.axes["batch_size"])
        if budget[unit] < largest:
            raise ConfigError(f"[budget] examples = {budget[unit]} is less than one batch of the "
                              f"largest batch_size ({largest})")
    for key in ("eval_every", "patience"):
        if key in table:
            budget[key] = _positive_int(f"[budget] {key}", table[key])
    return budget


def _parse_run(table: Mapping) -> dict:
    _check_keys("run", table, RUN_KEYS)
    options: dict[str, Any] = {
        "batch_strategy": _string("[run] batch_strategy", table.get("batch_strategy", "auto"),
                                  schema.BATCH_STRATEGIES, "batch strategy")}
    if "out" in table:
        out = _string("[run] out", table["out"])
        if not out.strip():
            raise ConfigError("[run] out = '': give a folder")
        options["out"] = out
    if "chunk_seconds" in table:
        value = table["chunk_seconds"]
        if not is_numeric(value) or not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"[run] chunk_seconds must be a positive number, got {value!r}")
        options["chunk_seconds"] = value
    if "memory_limit" in table:
        options["memory_limit"] = parse_bytes("[run] memory_limit", table["memory_limit"])
    return options


def parse_bytes(field: str, value: Any) -> float:
    """A positive amount of memory: a number of bytes, or a string ``"<number> <unit>"``
    with a unit of :data:`MEMORY_UNITS` (``"8 GiB"``, ``"500MB"``)."""
    amount = value
    if isinstance(value, str):
        number, unit = value.strip(), "B"
        for name in sorted(MEMORY_UNITS, key=len, reverse=True):
            if number.endswith(name):
                number, unit = number[:-len(name)].strip(), name
                break
        try:
            amount = float(number) * MEMORY_UNITS[unit]
        except ValueError:
            amount = None
    if not is_numeric(amount) or not (amount > 0 and math.isfinite(amount)):
        raise ConfigError(f"{field} must be a positive number of bytes or a string like "
                          f"'8 GiB' (units: {', '.join(MEMORY_UNITS)}), got {value!r}")
    return float(amount)


# ----------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------


def parse_config(config: Mapping, folder: Union[str, os.PathLike] = ".") -> SweepConfig:
    """Validate a config (the dict a TOML file parses to) into a :class:`SweepConfig`,
    reading no data set; ``folder`` resolves a ``[task] factory`` file path."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"a config is a table of tables, got {_type_name(config)}")
    for name, table in config.items():
        if name not in TABLES:
            raise _unknown("table", name, "the config", TABLES)
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{name}] must be a table, got {name} = {table!r}")
    for name in ("task", "grid", "budget"):
        if name not in config:
            raise ConfigError(f"missing table [{name}]")
    task_factory = None
    if "factory" in config["task"]:
        others = sorted(set(config["task"]) - {"factory"})
        if others:
            raise ConfigError(f"[task] factory: give the task's settings in its function, not "
                              f"in [task] (found {', '.join(others)})")
        task_factory = load_factory("[task] factory", config["task"]["factory"], Path(folder))
        settings = {"factory": config["task"]["factory"]}
    else:
        settings = _parse_task(config["task"], list(config["grid"]))
    settings["_given"] = tuple(config["task"])
    try:
        search_table, policies = _parse_search_options(config.get("search"))
        halving, pbt = policies["halving"], policies["pbt"]
        grid = _parse_grid(config["grid"], settings, search_table)
        budget = _parse_budget(config["budget"], grid)
        options = _parse_run(config.get("run", {}))
        if halving is not None:
            options["halving"] = _checked_halving(halving, budget)
        if pbt is not None:
            static = STATIC_AXES if task_factory is None else ("batch_size", *task_factory.static)
            options["pbt"] = _checked_pbt(pbt, budget, grid, static)
    finally:
        settings.pop("_given", None)
    if isinstance(settings.get("optimizer"), list):
        del settings["optimizer"]  # a static grid axis
    if "hidden" in grid.axes:
        settings.pop("hidden", None)
    return SweepConfig(settings, grid, budget, options, task_factory)


def from_toml(path: Union[str, os.PathLike]) -> SweepConfig:
    """Read and validate the TOML config file ``path``; errors name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file ({error.strerror or error})") from None
    try:
        config = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {str(error).splitlines()[0]}") from None
    try:
        return parse_config(config, path.parent)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
