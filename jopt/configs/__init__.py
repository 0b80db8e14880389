"""Sweep configs shipped with jopt, so that an installed package runs a sweep anywhere.

``jopt sweep default`` runs ``default.toml`` (the README's main job: an MLP on digits,
192 configurations) and ``jopt sweep smoke`` runs ``smoke.toml`` (8 configurations of
20 steps: a check of an installation).  A name that is not a file in the working folder
is looked up here; :func:`path` gives the file, to copy and edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

__all__ = ["FOLDER", "names", "path", "resolve"]

FOLDER = Path(__file__).resolve().parent


def names() -> list[str]:
    """The shipped configs' names (file names without ``.toml``), sorted."""
    return sorted(p.stem for p in FOLDER.glob("*.toml"))


def path(name: str) -> Path:
    """The file of the shipped config ``name`` (``"default"`` or ``"default.toml"``).

    Raises ``KeyError`` naming the known configs for any other name.
    """
    stem = name[:-len(".toml")] if name.endswith(".toml") else name
    if stem not in names():
        raise KeyError(f"no shipped config {name!r} (shipped: {', '.join(names())})")
    return FOLDER / f"{stem}.toml"


def resolve(config: Union[str, Path]) -> Path:
    """What ``jopt sweep CONFIG`` reads: ``config`` itself when it exists or names a folder
    (``runs/my.toml``), else the shipped config of that name, else ``config`` unchanged
    (the caller then says that there is no such file)."""
    given = Path(config)
    if given.exists() or len(given.parts) != 1:
        return given
    try:
        return path(str(config))
    except KeyError:
        return given
