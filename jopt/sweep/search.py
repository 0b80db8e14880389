"""Samplers beside :class:`~jopt.sweep.grid.Grid`: random and quasi-random search.

A sampler is a grid some of whose axes are *sampled*: ``n`` points drawn in the unit
cube, one coordinate per sampled axis, each mapped onto its axis::

    Random(n=64, seed=0, learning_rate=loguniform(1e-5, 1e-1), b1=uniform(0.8, 0.99),
           batch_size=[32, 128])
    QuasiRandom(n=64, seed=0, method="sobol", learning_rate=loguniform(1e-5, 1e-1), ...)

Axis kinds (Ray Tune's and Optuna's names; ``u`` is the point's coordinate in [0, 1)):

==========================  ==================================  =====================
Python                      TOML (in ``[grid]``)                value
==========================  ==================================  =====================
``uniform(low, high)``      ``{ uniform = [low, high] }``       ``low + (high - low) u``
``loguniform(low, high)``   ``{ loguniform = [low, high] }``    ``exp(log low + (log high - log low) u)``
``choice(values)``          ``{ choice = [v0, v1, ...] }``      ``values[floor(k u)]``
``randint(low, high)``      ``{ int = [low, high] }``           ``low + floor((high - low + 1) u)``
``randint(..., log=True)``  ``{ logint = [low, high] }``        ``floor(exp(log low + (log(high + 1) - log low) u))``
a list                      a list                              a grid axis
==========================  ==================================  =====================

``randint`` includes both ends, as Python's ``random.randint`` and Optuna's
``suggest_int`` do (Ray Tune's ``tune.randint`` excludes the upper one).  With ``log=True``
(Optuna's ``suggest_int(..., log=True)``, Ray Tune's ``tune.lograndint``) it is the floor
of a log-uniform draw on [low, high + 1): each integer ``k`` with probability
``log((k + 1) / k) / log((high + 1) / low)``, both ends included again (Optuna rounds a
draw on [low - 1/2, high + 1/2) instead; Ray Tune excludes ``high``).

Grid axes and sampled axes mix: **n is per combination of the grid axes**.  The
configurations are the grid's combinations in the grid's order (zipped groups as in
``Grid.zip``), each followed by its ``n`` draws: configuration ``j * n + i`` is draw ``i``
of combination ``j``, and its point is row ``j * n + i`` of one stream of points (the
draws of different combinations differ; for Sobol, each combination's block of a power
of two points is a balanced net).  With ``paired=True`` every combination gets the same
``n`` points (rows ``0 .. n-1``): a paired comparison across the grid (e.g. over seeds or
optimizers).  ``len(sampler) == n * (number of grid combinations)``.

The points: :class:`Random`: ``numpy.random.default_rng(seed).random((rows, d))``;
:class:`QuasiRandom`: ``scipy.stats.qmc.Sobol(d, scramble=scramble, rng=seed)`` (or
``Halton``), ``random(n)`` once per combination (the same stream as one call), ``d`` the
number of sampled axes, their columns in the order the axes were given.  Sobol points are
drawn by :mod:`jopt.sweep.sobol` (the same bits, without importing ``scipy.stats``).

Traced or static: as for a grid (``Grid.split``), a sampled axis whose values are all
numbers is traced unless named static; a ``choice`` of strings (or of lists) is static.

``to_dict()`` holds the sampler, its seed and the drawn values; ``from_dict`` rebuilds the
same configurations from the stored values, drawing nothing (a resume is exact whatever
the sampling code does now).  :func:`from_dict` reads any of them (a ``Grid``'s too);
:func:`reuse_draws` picks a manifest's stored sampler over a fresh one of the same
definition; :func:`from_tables` parses a config file's ``[search]`` and ``[grid]`` tables.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from jopt.sweep import sobol
from jopt.sweep.grid import Grid, is_numeric, json_ready

__all__ = ["Distribution", "Uniform", "LogUniform", "Choice", "RandInt",
           "uniform", "loguniform", "choice", "randint",
           "Sampler", "Random", "QuasiRandom", "SEARCH_KINDS", "SEARCH_KEYS", "AXIS_FORMS",
           "is_sampled", "parse_axis", "sampled_names", "from_tables", "from_dict", "definition",
           "reuse_draws", "MODES", "check_ranking", "ranked"]

SEARCH_KINDS = ("grid", "random", "sobol", "halton")
SEARCH_KEYS = ("kind", "n", "seed", "scramble", "paired")
AXIS_FORMS = ("uniform", "loguniform", "choice", "int", "logint")
QUASI_METHODS = ("sobol", "halton")


MODES = ("min", "max")
"""How a search that stops or copies configurations (successive halving, PBT) ranks them by
its metric: lowest first, or highest first."""


def check_ranking(field: str, metric: Any, mode: Any) -> None:
    """A ValueError naming ``field`` (``"halving"``, ``"pbt"``) unless ``metric`` is a
    metric's name and ``mode`` one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"{field}.mode must be 'min' or 'max', got {mode!r}")
    if not isinstance(metric, str) or not metric:
        raise ValueError(f"{field}.metric must be a metric's name, got {metric!r}")


def ranked(values: Sequence[float], diverged: Sequence[bool], mode: str) -> np.ndarray:
    """The indices of ``values``, best first: lowest first for ``mode="min"``, highest for
    ``"max"``; NaN, infinite and diverged last; ties by index."""
    values = np.asarray(values, np.float64)
    score = values if mode == "min" else -values
    score = np.where(np.isfinite(score) & ~np.asarray(diverged, bool), score, np.inf)
    return np.argsort(score, kind="stable")


# ----------------------------------------------------------------------------
# axes: a point's coordinate u in [0, 1) -> a value
# ----------------------------------------------------------------------------


class Distribution:
    """A sampled axis: ``values(u)`` maps coordinates in [0, 1) to axis values;
    ``spec()`` is its TOML/JSON form ``{form: arguments}``."""

    form = ""

    def values(self, unit: np.ndarray) -> list:
        raise NotImplementedError

    def spec(self) -> dict:
        raise NotImplementedError


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on [low, high): ``low + (high - low) u``."""

    low: float
    high: float
    form = "uniform"

    def __post_init__(self):
        _check_bounds(self.form, self.low, self.high, positive=False)

    def values(self, unit: np.ndarray) -> list[float]:
        low, high = float(self.low), float(self.high)
        return [float(v) for v in low + (high - low) * np.asarray(unit, np.float64)]

    def spec(self) -> dict:
        return {self.form: [json_ready(self.low), json_ready(self.high)]}


@dataclass(frozen=True)
class LogUniform(Distribution):
    """Log-uniform on [low, high) (``0 < low``): ``exp(log low + (log high - log low) u)``."""

    low: float
    high: float
    form = "loguniform"

    def __post_init__(self):
        _check_bounds(self.form, self.low, self.high, positive=True)

    def values(self, unit: np.ndarray) -> list[float]:
        log_low, log_high = np.log(float(self.low)), np.log(float(self.high))
        return [float(v) for v in np.exp(log_low + (log_high - log_low) * np.asarray(unit, np.float64))]

    def spec(self) -> dict:
        return {self.form: [json_ready(self.low), json_ready(self.high)]}


@dataclass(frozen=True, eq=False)
class Choice(Distribution):
    """One of ``options``, each with probability ``1/k``: ``options[floor(k u)]``."""

    options: tuple
    form = "choice"

    def __post_init__(self):
        if isinstance(self.options, (str, bytes)) or not isinstance(self.options, Sequence) \
                or not self.options:
            raise ValueError(f"choice needs a non-empty list of options, got {self.options!r}")
        object.__setattr__(self, "options", tuple(self.options))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Choice) and list(self.options) == list(other.options)

    def values(self, unit: np.ndarray) -> list:
        indices = _floor_index(unit, len(self.options))
        return [self.options[i] for i in indices]

    def spec(self) -> dict:
        return {self.form: [json_ready(v) for v in self.options]}


@dataclass(frozen=True)
class RandInt(Distribution):
    """An integer in [low, high], both ends included: ``low + floor((high - low + 1) u)``,
    the floor of a uniform draw on [low, high + 1).  With ``log`` (``1 <= low``), the floor
    of a log-uniform draw on that interval, ``floor(exp(log low + (log(high + 1) - log low)
    u))``: integer ``k`` with probability ``log((k + 1) / k) / log((high + 1) / low)``."""

    low: int
    high: int
    log: bool = False

    @property
    def form(self) -> str:
        return "logint" if self.log else "int"

    def __post_init__(self):
        bounds = f"[{self.low!r}, {self.high!r}]"
        for value in (self.low, self.high):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"{self.form} needs integer bounds, got {bounds}")
        if self.low > self.high:
            raise ValueError(f"{self.form} needs low <= high, got {bounds}")
        if self.log and self.low < 1:
            raise ValueError(f"{self.form} needs positive bounds, got {bounds}")

    def values(self, unit: np.ndarray) -> list[int]:
        low, high = int(self.low), int(self.high)
        if not self.log:
            return [low + int(i) for i in _floor_index(unit, high - low + 1)]
        log_low, log_end = np.log(float(low)), np.log(float(high) + 1.0)
        drawn = np.floor(np.exp(log_low + (log_end - log_low) * np.asarray(unit, np.float64)))
        return [int(v) for v in np.clip(drawn, low, high)]  # exp's rounding stays in bounds

    def spec(self) -> dict:
        return {self.form: [int(self.low), int(self.high)]}


def uniform(low: float, high: float) -> Uniform:
    """A sampled axis uniform on [low, high)."""
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    """A sampled axis uniform in log on [low, high) (``0 < low < high``)."""
    return LogUniform(low, high)


def choice(options: Sequence[Any]) -> Choice:
    """A sampled axis taking one of ``options``, equally likely."""
    return Choice(options)


def randint(low: int, high: int, *, log: bool = False) -> RandInt:
    """A sampled axis of integers from ``low`` to ``high``, both included (as Python's
    ``random.randint``; Ray Tune's ``tune.randint`` excludes ``high``); ``log=True`` draws
    them log-uniformly (``1 <= low``: Optuna's ``suggest_int(..., log=True)``, Ray Tune's
    ``tune.lograndint``), TOML ``{ logint = [low, high] }``."""
    return RandInt(low, high, log=log)


def _check_bounds(form: str, low: Any, high: Any, *, positive: bool) -> None:
    bounds = f"[{low!r}, {high!r}]"
    if not (is_numeric(low) and is_numeric(high)):
        raise ValueError(f"{form} needs two numbers, got {bounds}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{form} needs finite bounds, got {bounds}")
    if positive and low <= 0:
        raise ValueError(f"{form} needs positive bounds, got {bounds}")
    if not low < high:
        raise ValueError(f"{form} needs low < high, got {bounds}")


def _floor_index(unit: np.ndarray, count: int) -> np.ndarray:
    """``floor(count u)`` for ``u`` in [0, 1), kept below ``count``."""
    scaled = np.floor(np.asarray(unit, np.float64) * count).astype(np.int64)
    return np.minimum(scaled, count - 1)


# ----------------------------------------------------------------------------
# points in the unit cube
# ----------------------------------------------------------------------------


def random_points(rows: int, dims: int, seed: int) -> np.ndarray:
    """``rows`` x ``dims`` uniform points: ``numpy.random.default_rng(seed).random``."""
    return np.random.default_rng(seed).random((rows, dims))


UNBALANCED_SOBOL = "The balance properties of Sobol' points require n to be a power of 2."
"""scipy's warning when a Sobol engine's first ``random(n)`` is not a power of two,
which :func:`quasirandom_points` repeats where it draws the points itself."""


def quasirandom_points(blocks: int, per_block: int, dims: int, *, method: str,
                       scramble: bool, seed: int) -> np.ndarray:
    """``blocks * per_block`` x ``dims`` points of one scipy Sobol or Halton stream,
    ``random(per_block)`` called once per block (the same points as one call).  Sobol
    points are drawn by :mod:`jopt.sweep.sobol`, bit for bit scipy's, without importing
    ``scipy.stats`` (a second); through scipy where its direction table is not found."""
    table = sobol.direction_table() if method == "sobol" else None
    if table is None or dims > len(table.poly):
        return scipy_quasirandom_points(blocks, per_block, dims, method=method,
                                        scramble=scramble, seed=seed)
    if blocks * per_block and per_block & (per_block - 1):
        warnings.warn(UNBALANCED_SOBOL, stacklevel=2)
    return sobol.points(blocks * per_block, sobol.directions(table, dims),
                        scramble=scramble, seed=seed)


def scipy_quasirandom_points(blocks: int, per_block: int, dims: int, *, method: str,
                             scramble: bool, seed: int) -> np.ndarray:
    """:func:`quasirandom_points` through ``scipy.stats.qmc`` (Halton always; Sobol where
    scipy's direction table is not found)."""
    from scipy.stats import qmc
    engine_class = {"sobol": qmc.Sobol, "halton": qmc.Halton}[method]
    # scipy >= 1.15 takes the seed as ``rng``; before, ``seed`` meant the same
    # (numpy.random.default_rng(seed)); since 1.15 ``seed=`` draws other points (1.17)
    keyword = "rng" if "rng" in inspect.signature(engine_class).parameters else "seed"
    engine = engine_class(dims, scramble=scramble, **{keyword: seed})
    return np.vstack([engine.random(per_block) for _ in range(blocks)])


# ----------------------------------------------------------------------------
# samplers
# ----------------------------------------------------------------------------


class Sampler(Grid):
    """A grid with sampled axes (see the module's docstring); :class:`Random` and
    :class:`QuasiRandom` draw the points.  A ``Grid`` to the runner and the store:
    ``configs()``, ``split(static=...)``, ``axes``, ``len()``, ``to_dict()``/``from_dict()``.

    ``axes`` maps every axis name, in the order given, to the values it takes: a grid
    axis's list, a sampled axis's distinct drawn values in the order of first draw.
    ``sampled`` maps the sampled axes to their :class:`Distribution`; ``draws`` maps them
    to the drawn values, one per point row.  A training seed axis is given in the mapping
    (``Random({"seed": seeds(4)}, n=16, seed=0, ...)``): ``seed=`` is the sampler's.
    """

    kind = ""

    def __init__(self, axes: Optional[Mapping[str, Any]] = None, *, n: int, seed: int = 0,
                 paired: bool = False, **more: Any):
        self._build(dict(axes or {}, **more), n, seed, paired)
        self._redraw()

    # -- construction ---------------------------------------------------------

    def _build(self, merged: Mapping[str, Any], n: int, seed: int, paired: bool) -> None:
        _check_count("n", n)
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not isinstance(paired, (bool, np.bool_)):
            raise ValueError(f"paired must be true or false, got {paired!r}")
        self.n, self.seed, self.paired = int(n), int(seed), bool(paired)
        self.names = list(merged)
        self.sampled = {k: v for k, v in merged.items() if isinstance(v, Distribution)}
        if not self.sampled:
            raise ValueError(f"a {type(self).__name__} sampler needs at least one sampled axis "
                             f"(uniform, loguniform, choice, randint); use Grid for grid axes only")
        grid_axes = {k: v for k, v in merged.items() if k not in self.sampled}
        self.grid = Grid(grid_axes) if grid_axes else None

    def _combinations(self) -> list[dict]:
        return self.grid.configs() if self.grid is not None else [{}]

    def _combination_count(self) -> int:
        return len(self.grid) if self.grid is not None else 1

    def _rows(self) -> int:
        """How many points the sampler draws."""
        return self.n if self.paired else self.n * self._combination_count()

    def _redraw(self) -> None:
        blocks = 1 if self.paired else self._combination_count()
        points = self._points(blocks)
        self._set_draws({name: distribution.values(points[:, column])
                         for column, (name, distribution) in enumerate(self.sampled.items())})

    def _points(self, blocks: int) -> np.ndarray:
        """``blocks * n`` x ``len(sampled)`` points in [0, 1)."""
        raise NotImplementedError

    def _set_draws(self, draws: Mapping[str, Sequence[Any]]) -> None:
        rows = self._rows()
        for name in self.sampled:
            if name not in draws:
                raise ValueError(f"no drawn values for the sampled axis {name!r}")
            if len(draws[name]) != rows:
                raise ValueError(f"sampled axis {name!r} has {len(draws[name])} drawn values, "
                                 f"expected {rows} (n = {self.n} x combinations)")
        self.draws = {name: list(draws[name]) for name in self.sampled}
        self.axes = {name: (_distinct(self.draws[name]) if name in self.sampled
                            else list(self.grid.axes[name])) for name in self.names}
        # as a grid's groups: the grid axes' groups, then the sampled axes, drawn together
        self.groups = (list(self.grid.groups) if self.grid else []) + [tuple(self.sampled)]

    def options(self) -> dict:
        """The sampler's own settings beyond ``n``, ``seed`` and ``paired`` (for ``to_dict``)."""
        return {}

    # -- the Grid interface ---------------------------------------------------

    def zip(self, *names: str) -> "Sampler":
        """Pair grid axes as ``Grid.zip`` does (sampled axes are drawn together already);
        the points are drawn again for the new combinations."""
        sampled = [name for name in names if name in self.sampled]
        if sampled:
            raise ValueError(f"cannot zip sampled axes {sampled}: only grid axes zip")
        if self.grid is None:
            raise ValueError(f"cannot zip {list(names)}: this sampler has no grid axes")
        self.grid.zip(*names)
        self._redraw()
        return self

    def __len__(self) -> int:
        return self.n * self._combination_count()

    def configs(self) -> list[dict]:
        """Every configuration: each grid combination followed by its ``n`` draws."""
        configs = []
        for j, combination in enumerate(self._combinations()):
            for i in range(self.n):
                row = i if self.paired else j * self.n + i
                values = {**combination, **{k: self.draws[k][row] for k in self.sampled}}
                configs.append({name: values[name] for name in self.names})
        return configs

    def to_dict(self) -> dict:
        """JSON-ready: the sampler (kind, n, seed, options), each axis (a grid axis's list,
        a sampled axis's ``{form: arguments}``), the zipped grid axes and the drawn values."""
        grid = self.grid.to_dict() if self.grid is not None else {"axes": {}, "zip": []}
        axes = {name: (self.sampled[name].spec() if name in self.sampled else grid["axes"][name])
                for name in self.names}
        return {"kind": self.kind, "n": self.n, "seed": self.seed, "paired": self.paired,
                **self.options(), "axes": axes, "zip": grid["zip"],
                "draws": {name: [json_ready(v) for v in values]
                          for name, values in self.draws.items()}}

    @classmethod
    def from_dict(cls, description: Mapping) -> "Sampler":
        """The sampler ``to_dict`` described, with its stored draws (nothing is drawn)."""
        kind = description.get("kind")
        sampler_class = _sampler_class(kind)
        if not issubclass(sampler_class, cls):
            raise ValueError(f"{cls.__name__}.from_dict: a {kind!r} sampler's description")
        sampler = object.__new__(sampler_class)
        sampler._restore_options(description)
        axes = {name: (parse_axis(name, spec) if isinstance(spec, Mapping) else spec)
                for name, spec in description["axes"].items()}
        sampler._build(axes, description["n"], description["seed"], description.get("paired", False))
        for group in description.get("zip", []):
            sampler.grid.zip(*group)
        sampler._set_draws(description["draws"])
        return sampler

    def _restore_options(self, description: Mapping) -> None:
        pass

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}~{self.sampled[k].form}" if k in self.sampled
                         else f"{k}[{len(self.axes[k])}]" for k in self.names)
        return f"{type(self).__name__}({axes}; n={self.n}, seed={self.seed}; {len(self)} configs)"


class Random(Sampler):
    """Random search: ``numpy.random.default_rng(seed).random((rows, d))`` mapped onto the
    sampled axes (see :mod:`jopt.sweep.search`)."""

    kind = "random"

    def _points(self, blocks: int) -> np.ndarray:
        return random_points(blocks * self.n, len(self.sampled), self.seed)


class QuasiRandom(Sampler):
    """Quasi-random search: scipy's (scrambled) Sobol or Halton points mapped onto the
    sampled axes (see :mod:`jopt.sweep.search`).  Needs scipy (``pip install jopt[search]``).
    Sobol points are balanced in blocks of a power of two: give such an ``n``."""

    def __init__(self, axes: Optional[Mapping[str, Any]] = None, *, n: int, seed: int = 0,
                 method: str = "sobol", scramble: bool = True, paired: bool = False, **more: Any):
        self._set_options(method, scramble)
        super().__init__(axes, n=n, seed=seed, paired=paired, **more)

    def _set_options(self, method: str, scramble: bool) -> None:
        if method not in QUASI_METHODS:
            raise ValueError(f"method must be one of {QUASI_METHODS}, got {method!r}")
        if not isinstance(scramble, (bool, np.bool_)):
            raise ValueError(f"scramble must be true or false, got {scramble!r}")
        self.method, self.scramble = method, bool(scramble)
        self.kind = method

    def _restore_options(self, description: Mapping) -> None:
        self._set_options(description["kind"], description.get("scramble", True))

    def options(self) -> dict:
        return {"scramble": self.scramble}

    def _points(self, blocks: int) -> np.ndarray:
        return quasirandom_points(blocks, self.n, len(self.sampled), method=self.method,
                                  scramble=self.scramble, seed=self.seed)


def _sampler_class(kind: Any) -> type:
    if kind == "random":
        return Random
    if kind in QUASI_METHODS:
        return QuasiRandom
    raise ValueError(f"unknown sampler kind {kind!r}; one of {SEARCH_KINDS[1:]}")


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _distinct(values: Sequence[Any]) -> list:
    """The distinct values, in the order of first appearance (lists allowed)."""
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(repr(value), value)
    return list(seen.values())


def sampled_names(space: Grid) -> list[str]:
    """The sampled axes of a sampler; none for a plain ``Grid``."""
    return list(space.sampled) if isinstance(space, Sampler) else []


def definition(description: Mapping) -> dict:
    """A ``to_dict()`` without its drawn values: what the user asked for."""
    return {key: value for key, value in description.items() if key != "draws"}


def reuse_draws(space: Grid, stored: Optional[Mapping]) -> Grid:
    """On a resume: the space a manifest stored (``stored``, its ``to_dict()``) when it is
    the same definition as ``space``, rebuilt from its stored draws; else ``space``.  So a
    resumed sweep runs what the first run drew even if the sampling code now draws
    otherwise (another scipy, another numpy)."""
    if stored is None or not isinstance(space, Sampler) or "draws" not in stored:
        return space
    current = json.loads(json.dumps(space.to_dict()))
    return from_dict(stored) if definition(stored) == definition(current) else space


def from_dict(description: Mapping) -> Grid:
    """A ``Grid`` or a sampler from its ``to_dict()`` (no ``kind``, or ``"grid"``: a Grid)."""
    if description.get("kind", "grid") == "grid":
        return Grid.from_dict(description)
    return Sampler.from_dict(description)


# ----------------------------------------------------------------------------
# config files: [search] and the sampled axes of [grid]
# ----------------------------------------------------------------------------


def is_sampled(spec: Any) -> bool:
    """Whether a ``[grid]`` value is a sampled axis: a one-key table of :data:`AXIS_FORMS`."""
    return isinstance(spec, Mapping) and len(spec) == 1 and next(iter(spec)) in AXIS_FORMS


def parse_axis(field: str, spec: Any) -> Distribution:
    """A sampled axis from its table, e.g. ``{"loguniform": [1e-5, 1e-1]}``; a bad one raises
    ``ValueError`` naming ``field`` and the value."""
    if not (isinstance(spec, Mapping) and len(spec) == 1):
        raise ValueError(f"{field} = {spec!r}: give exactly one of {', '.join(AXIS_FORMS)}")
    (form, arguments), = spec.items()
    if form not in AXIS_FORMS:
        near = difflib.get_close_matches(str(form), AXIS_FORMS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"{field}: unknown axis form {form!r}{hint}; one of {', '.join(AXIS_FORMS)}")
    if not isinstance(arguments, (list, tuple)):
        raise ValueError(f"{field}.{form} must be a list, got {arguments!r}")
    if form != "choice" and len(arguments) != 2:
        raise ValueError(f"{field}.{form} must be [low, high], got {list(arguments)!r}")
    make = {"uniform": Uniform, "loguniform": LogUniform, "int": RandInt,
            "logint": lambda low, high: RandInt(low, high, log=True)}.get(form)
    try:
        return Choice(arguments) if form == "choice" else make(*arguments)
    except ValueError as error:
        raise ValueError(f"{field}.{form} = {list(arguments)!r}: {error}") from None


def _search_settings(table: Optional[Mapping]) -> dict:
    """``[search]`` checked, defaults filled in: kind, n, seed, scramble, paired."""
    if table is None:
        return {"kind": "grid"}
    for key in table:
        if key not in SEARCH_KEYS:
            near = difflib.get_close_matches(str(key), SEARCH_KEYS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"[search] {key}: unknown key{hint}; known: {', '.join(SEARCH_KEYS)}")
    if "kind" not in table:
        raise ValueError(f"[search] kind is missing: one of {', '.join(SEARCH_KINDS)}")
    kind = table["kind"]
    if kind not in SEARCH_KINDS:
        raise ValueError(f"[search] kind = {kind!r}: unknown; one of {', '.join(SEARCH_KINDS)}")
    if kind == "grid":
        extra = [key for key in table if key != "kind"]
        if extra:
            raise ValueError(f"[search] {extra[0]} = {table[extra[0]]!r}: only for kind "
                             f"random, sobol or halton (kind = \"grid\")")
        return {"kind": "grid"}
    if "n" not in table:
        raise ValueError(f"[search] n is missing: how many configurations to draw per "
                         f"combination of the grid axes (kind = {kind!r})")
    if "scramble" in table and kind == "random":
        raise ValueError(f"[search] scramble = {table['scramble']!r}: only for kind sobol or halton")
    settings = {"kind": kind, "n": table["n"], "seed": table.get("seed", 0),
                "paired": table.get("paired", False)}
    if kind in QUASI_METHODS:
        settings["scramble"] = table.get("scramble", True)
    for key in ("n", "seed"):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "n" else 0):
            what = "a positive integer" if key == "n" else "a non-negative integer"
            raise ValueError(f"[search] {key} = {value!r}: must be {what}")
    for key in ("scramble", "paired"):
        if key in settings and not isinstance(settings[key], bool):
            raise ValueError(f"[search] {key} = {settings[key]!r}: must be true or false")
    return settings


def from_tables(search: Optional[Mapping], grid: Mapping) -> Grid:
    """The search space of a config file: a ``Grid``, a :class:`Random` or a
    :class:`QuasiRandom`.

    ``search`` is the ``[search]`` table, or ``None`` when the file has none (a grid).
    Its keys: ``kind`` (required: ``"grid"``, ``"random"``, ``"sobol"`` or ``"halton"``);
    for the samplers ``n`` (required, an integer >= 1: configurations drawn per
    combination of the grid axes), ``seed`` (integer >= 0, default 0), ``paired`` (bool,
    default false: the same ``n`` draws in every combination); ``scramble`` (bool,
    default true; sobol and halton only).  ``kind = "grid"`` takes no other key.

    ``grid`` is the ``[grid]`` table with each grid axis already a non-empty list (the
    caller expands ``{ logspace = ... }``, ``{ linspace = ... }``, ``{ range = ... }`` and
    single values) and each sampled axis a one-key table (:func:`is_sampled`):
    ``{ uniform = [low, high] }``, ``{ loguniform = [low, high] }`` (``0 < low``),
    ``{ choice = [v0, ...] }``, ``{ int = [low, high] }`` (integers, both included); an
    optional ``zip`` is a list of lists of grid axis names (names checked by the caller).
    Axis names are not checked here; the drawn values are ``space.axes[name]`` for
    ``name in sampled_names(space)``, for the caller's per-key checks (positive learning
    rate, ``b1`` in [0, 1), integer batch sizes).  Grid axes keep their order; sampled
    axes draw their coordinates in the table's order.

    Bad input raises ``ValueError``, one line naming the field and the value: an unknown
    ``[search]`` key or kind, a missing kind or n, ``n < 1``, a negative or non-integer
    seed, a non-bool scramble/paired, scramble with kind random; a sampled axis with an
    unknown form, bounds that are not two finite numbers with ``low < high`` (integers
    with ``low <= high`` for int), a loguniform bound <= 0, an empty choice; a sampled
    axis with kind grid (or no ``[search]``); a sampler with no sampled axis; a zip of a
    sampled axis or of axes of unequal lengths.
    """
    settings = _search_settings(search)
    axes: dict[str, Any] = {}
    for name, spec in grid.items():
        if name == "zip":
            continue
        field = f"[grid] {name}"
        if isinstance(spec, Mapping):
            if settings["kind"] == "grid" and is_sampled(spec):
                raise ValueError(f"{field} = {dict(spec)!r}: a sampled axis; give [search] kind "
                                 f"= \"random\", \"sobol\" or \"halton\" and n")
            axes[name] = parse_axis(field, spec)
        elif isinstance(spec, list) and spec:
            axes[name] = spec
        else:
            raise ValueError(f"{field} = {spec!r}: a non-empty list of values or a sampled axis "
                             f"({', '.join(f'{{ {form} = ... }}' for form in AXIS_FORMS)})")
    kind = settings.pop("kind")
    if kind == "grid":
        space = Grid(axes)
    else:
        if not any(isinstance(v, Distribution) for v in axes.values()):
            raise ValueError(f"[search] kind = {kind!r}: no sampled axis in [grid] "
                             f"(e.g. learning_rate = {{ loguniform = [1e-5, 1e-1] }})")
        if kind == "random":
            space = Random(axes, **settings)
        else:
            space = QuasiRandom(axes, method=kind, **settings)
    for group in grid.get("zip", []):
        try:
            space.zip(*group)
        except ValueError as error:
            raise ValueError(f"[grid] zip = {grid['zip']!r}: {error}") from None
    return space
