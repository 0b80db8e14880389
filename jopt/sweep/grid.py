"""Hyperparameter grids: named axes, their product (or zipped groups), and their split
into traced axes (vmapped in one program) and static axes (one program per bucket).

An axis is a list of values.  :func:`logspace`, :func:`linspace` and :func:`seeds`
build the usual ones.  ``Grid(learning_rate=logspace(1e-4, 1e-1, 16), batch_size=[8, 32],
seed=seeds(4))`` is the cartesian product (16 x 2 x 4 = 128 configurations);
``Grid(...).zip("learning_rate", "momentum")`` pairs two axes of equal length instead.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Grid", "logspace", "linspace", "seeds", "is_numeric", "json_ready"]


def logspace(start: float, stop: float, num: int) -> list[float]:
    """``num`` values from ``start`` to ``stop`` (both included), equally spaced in log."""
    if not (start > 0 and stop > 0):
        raise ValueError(f"logspace needs positive endpoints, got [{start!r}, {stop!r}]")
    _check_num("logspace", num)
    return [float(v) for v in np.geomspace(start, stop, num)]


def linspace(start: float, stop: float, num: int) -> list[float]:
    """``num`` values from ``start`` to ``stop`` (both included), equally spaced."""
    _check_num("linspace", num)
    return [float(v) for v in np.linspace(start, stop, num)]


def seeds(count: int, start: int = 0) -> list[int]:
    """The seeds ``start, ..., start + count - 1``."""
    _check_num("seeds", count)
    return list(range(start, start + count))


def _check_num(name: str, num: Any) -> None:
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ValueError(f"{name} needs a positive integer count, got {num!r}")


def is_numeric(value: Any) -> bool:
    """A number that can be traced: int or float (not bool), or a NumPy scalar of one."""
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


class Grid:
    """Named axes of hyperparameter values and how they combine.

    ``configs()`` lists every configuration as a dict, in a fixed order: the product of
    the groups (a group is one axis, or several zipped axes), the first group varying
    slowest.  ``static`` names the axes that must not be traced (shape or choice axes:
    batch size, width, optimizer name); non-numeric axes are static whatever it says.
    """

    def __init__(self, axes: Mapping[str, Sequence[Any]] | None = None, **more: Sequence[Any]):
        merged = dict(axes or {}, **more)
        if not merged:
            raise ValueError("a grid needs at least one axis")
        self.axes: dict[str, list] = {}
        for name, values in merged.items():
            values = list(values) if not isinstance(values, (str, bytes)) else [values]
            if not values:
                raise ValueError(f"grid axis {name!r} is empty")
            self.axes[name] = values
        self.groups: list[tuple[str, ...]] = [(name,) for name in self.axes]

    def zip(self, *names: str) -> "Grid":
        """Pair the axes ``names`` element by element (they must have equal lengths)."""
        for name in names:
            if name not in self.axes:
                raise ValueError(f"cannot zip unknown axis {name!r}; axes: {sorted(self.axes)}")
        lengths = {name: len(self.axes[name]) for name in names}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"zipped axes must have equal lengths, got {lengths}")
        grouped = set(names)
        first = min(i for i, group in enumerate(self.groups) if grouped & set(group))
        rest = [g for g in self.groups if not grouped & set(g)]
        merged = tuple(n for g in self.groups for n in g if n in grouped)
        self.groups = rest[:first] + [merged] + rest[first:]
        return self

    def __len__(self) -> int:
        return math.prod(len(self.axes[group[0]]) for group in self.groups)

    def configs(self) -> list[dict]:
        """Every configuration, as a dict of axis name to value."""
        per_group = [[dict(zip(group, values)) for values in zip(*(self.axes[n] for n in group))]
                     for group in self.groups]
        return [dict(item for part in combo for item in part.items())
                for combo in itertools.product(*per_group)]

    def split(self, static: Iterable[str] = ()) -> tuple[list[str], list[str]]:
        """``(traced, static)`` axis names: numeric axes are traced unless named static."""
        static = set(static)
        traced_names, static_names = [], []
        for name, values in self.axes.items():
            numeric = all(is_numeric(v) for v in values)
            (traced_names if numeric and name not in static else static_names).append(name)
        return traced_names, static_names

    def to_dict(self) -> dict:
        """A JSON-ready description: the axes and the zipped groups."""
        return {"axes": {k: [json_ready(v) for v in vs] for k, vs in self.axes.items()},
                "zip": [list(g) for g in self.groups if len(g) > 1]}

    @classmethod
    def from_dict(cls, description: Mapping) -> "Grid":
        grid = cls(description["axes"])
        for group in description.get("zip", []):
            grid.zip(*group)
        return grid

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}[{len(v)}]" for k, v in self.axes.items())
        return f"Grid({axes}; {len(self)} configs)"


def json_ready(value: Any) -> Any:
    """A JSON-ready version of a grid value: a NumPy scalar as a Python number, a tuple as a list."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value
