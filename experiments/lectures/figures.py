"""Every lecture figure by id, and rendering to PNG files (``python -m experiments.figures``).

:data:`MODULES` lists the lecture modules in deck order; each has ``FIGURES``, a dict
``id -> (data_fn, plot_fn)``.  :func:`render` calls ``plot_fn(data_fn())``, the same two
calls a notebook cell makes, and saves ``<id>.png``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Callable, Iterable, Optional

MODULES = ("gradient_descent", "line_search", "momentum", "adaptive", "schedules",
           "sgd", "backprop", "linear_networks")


def _number(figure_id: str) -> int:
    return int(re.fullmatch(r"F(\d+)", figure_id).group(1))


def registry() -> dict[str, tuple[Callable, Callable]]:
    """``id -> (data_fn, plot_fn)`` for every figure, in id order (F1, F2, ..., F49)."""
    found = {}
    for name in MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        for figure_id, pair in module.FIGURES.items():
            if figure_id in found:
                raise RuntimeError(f"figure {figure_id} is defined twice (in {name})")
            found[figure_id] = pair
    return dict(sorted(found.items(), key=lambda item: _number(item[0])))


def parse_ids(text: Optional[str], known: Iterable[str]) -> list[str]:
    """``"F16,f17"`` -> ``["F16", "F17"]``; ``None`` -> every known id.

    Raises ``ValueError`` naming the first id that is not a known figure.
    """
    known = list(known)
    if text is None:
        return known
    ids = [part.strip().upper() for part in text.split(",") if part.strip()]
    if not ids:
        raise ValueError(f"--only: no figure ids in {text!r}")
    for figure_id in ids:
        if figure_id not in known:
            raise ValueError(f"--only: unknown figure id {figure_id!r} "
                             f"(known: {known[0]}..{known[-1]})" if known else
                             f"--only: unknown figure id {figure_id!r}")
    return ids


def render(ids: Iterable[str], out: Path, *, dpi: int = 110,
           log: Callable[[str], None] = print) -> list[Path]:
    """Draw each figure of ``ids`` and save it as ``out/<id>.png``; the paths written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = registry()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for figure_id in ids:
        data_fn, plot_fn = figures[figure_id]
        figure = plot_fn(data_fn())
        path = out / f"{figure_id}.png"
        temporary = out / f".{figure_id}.png.tmp"
        figure.savefig(temporary, dpi=dpi, format="png")
        temporary.replace(path)
        plt.close(figure)
        written.append(path)
        log(str(path))
    return written
