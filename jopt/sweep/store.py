"""The result store of a sweep: one output folder, every write atomic.

Layout of ``out/``::

    manifest.json       the spec, its hash, versions, devices, timestamps, status
    summary.parquet     one row per configuration
    curves.parquet      tidy: one row per configuration and logged step
    checkpoints/B.npz   the state of bucket ``B`` after its last chunk

Every file is written to a temporary file in the same folder and moved into place with
``os.replace``, so a reader (or a run killed at any moment) sees either the old file or
the new one, never half of one.  Opening a folder that holds a manifest of the same spec
(same :func:`spec_hash`) is a resume; a different spec is refused with
:class:`SpecMismatchError` unless ``overwrite=True``, which first removes the old
results and checkpoints (only the files this module writes; nothing else in the folder).

Columns.  ``summary``: ``config`` (int id, the position in ``Grid.configs()``), one
column per grid axis, ``status`` (one of :data:`STATUSES`), ``diverged_step`` (-1 if
none), with successive halving ``rung`` (where a ``pruned`` one stopped; -1), and metrics named ``final_<metric>`` and ``best_<metric>`` (e.g.
``final_val_loss``, ``best_val_loss``).  ``curves``: :data:`CURVE_COLUMNS`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

__all__ = [
    "SPEC_VERSION", "STATUSES", "CURVE_COLUMNS", "MANIFEST", "SUMMARY", "CURVES", "CHECKPOINTS",
    "PLOTS", "spec_hash", "canonical", "atomic_write", "Store", "SpecMismatchError",
    "SweepResult", "load",
]

SPEC_VERSION = 1
STATUSES = ("finished", "diverged", "stopped_early", "pruned", "running")
CURVE_COLUMNS = ("config", "step", "epoch", "examples", "train_loss", "val_loss", "val_accuracy",
                 "batch_loss")
MANIFEST, SUMMARY, CURVES, CHECKPOINTS = ("manifest.json", "summary.parquet", "curves.parquet",
                                          "checkpoints")
PLOTS = ("curves.png", "heatmap.png")  # written by jopt.plot.plot_sweep; removed on overwrite

PathLike = Union[str, os.PathLike]
_BUCKET = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


class SpecMismatchError(ValueError):
    """The output folder holds a sweep of another spec (pass ``overwrite=True`` / ``--overwrite``)."""


# ----------------------------------------------------------------------------
# Spec hashing
# ----------------------------------------------------------------------------


def canonical(value: Any, where: str = "spec") -> Any:
    """``value`` as plain JSON data: NumPy scalars and arrays to numbers and lists,
    tuples to lists, paths to strings, a Grid to its ``to_dict()``, a function to its
    qualified name.  Anything else raises ``TypeError`` naming where it is."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): canonical(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted(canonical(v, where) for v in value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return canonical(value.to_dict(), where)
    if isinstance(value, np.dtype):
        return value.name
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    raise TypeError(f"{where}: cannot put a {type(value).__name__} in a sweep spec: {value!r}")


def spec_hash(spec: Mapping) -> str:
    """The sha256 (hex) of the canonical JSON dump of ``spec`` and :data:`SPEC_VERSION`.

    Key order does not matter; ``1`` and ``1.0`` differ (as they do in a TOML file).
    """
    text = json.dumps({"spec_version": SPEC_VERSION, "spec": canonical(spec)}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------
# Atomic writes
# ----------------------------------------------------------------------------


def atomic_write(path: PathLike, write: Union[bytes, str, Callable[[Any], None]]) -> Path:
    """Write ``path`` atomically: a temporary file in the same folder, fsync, ``os.replace``.

    ``write`` is the content (bytes or text) or a function that writes to the binary
    file object it is given (``lambda f: np.savez(f, ...)``).  On any error the temporary
    file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as f:
            if isinstance(write, str):
                f.write(write.encode())
            elif isinstance(write, (bytes, bytearray)):
                f.write(write)
            else:
                write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_parquet(path: Path, frame: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.Table.from_pandas(frame, preserve_index=False)
    atomic_write(path, lambda f: pq.write_table(table, f))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _versions() -> dict:
    import jax
    import jaxlib
    import jopt
    versions = {"jopt": jopt.__version__, "jax": jax.__version__,
                "jaxlib": getattr(jaxlib, "__version__", None) or jaxlib.version.__version__,
                "numpy": np.__version__, "python": platform.python_version()}
    for name in ("pandas", "pyarrow"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return versions


def _devices() -> list[str]:
    import jax
    return [str(d) for d in jax.devices()]


def _read_manifest(out: Path) -> Optional[dict]:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable manifest ({error})") from None


# ----------------------------------------------------------------------------
# The store
# ----------------------------------------------------------------------------


class Store:
    """An output folder of one sweep.  Make one with :meth:`Store.open`.

    Attributes: ``out`` (the folder, a Path), ``spec`` (canonical), ``hash``,
    ``manifest`` (the dict written to ``manifest.json``), ``resumed`` (True when the
    folder already held this spec's manifest).
    """

    def __init__(self, out: Path, spec: dict, manifest: dict, resumed: bool):
        self.out = out
        self.spec = spec
        self.hash = manifest["spec_hash"]
        self.manifest = manifest
        self.resumed = resumed

    @classmethod
    def open(cls, out: PathLike, spec: Mapping, *, overwrite: bool = False) -> "Store":
        """Create or reopen the folder ``out`` for ``spec`` and write its manifest.

        Same spec hash as the manifest there: a resume (``store.resumed``), unless
        ``overwrite``.  Another spec: :class:`SpecMismatchError`, unless ``overwrite``,
        which removes the old manifest, results, checkpoints and plots first.
        """
        out = Path(out)
        spec = canonical(spec)
        digest = spec_hash(spec)
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out} is a file, not a folder for sweep results")
        out.mkdir(parents=True, exist_ok=True)
        old = _read_manifest(out)
        if old is not None and old.get("spec_hash") != digest and not overwrite:
            raise SpecMismatchError(
                f"{out} holds results of a different sweep spec (hash {str(old.get('spec_hash'))[:12]}, "
                f"this one {digest[:12]}); pass --overwrite (overwrite=True) to replace them, "
                f"or choose another output folder")
        resumed = old is not None and not overwrite
        if overwrite:
            cls._remove_results(out)
        now = _now()
        manifest = {
            "spec_version": SPEC_VERSION,
            "spec_hash": digest,
            "spec": spec,
            "versions": _versions(),
            "devices": _devices(),
            "created": old.get("created", now) if resumed else now,
            "updated": now,
            "status": "running",
        }
        if resumed:
            manifest["resumes"] = int(old.get("resumes", 0)) + 1
            if "slices" in old:  # how the first run sliced its buckets: a resume must match
                manifest["slices"] = old["slices"]
        store = cls(out, spec, manifest, resumed)
        store._write_manifest()
        return store

    @staticmethod
    def _remove_results(out: Path) -> None:
        for name in (MANIFEST, SUMMARY, CURVES, *PLOTS):
            (out / name).unlink(missing_ok=True)
        if (out / CHECKPOINTS).is_dir():
            shutil.rmtree(out / CHECKPOINTS)

    def _write_manifest(self) -> None:
        self.manifest["updated"] = _now()
        atomic_write(self.out / MANIFEST, json.dumps(self.manifest, indent=2) + "\n")

    def update_manifest(self, **fields: Any) -> None:
        """Add or change top-level manifest fields (JSON data) and rewrite it."""
        self.manifest.update(canonical(fields, "manifest"))
        self._write_manifest()

    # -- checkpoints --------------------------------------------------------

    def checkpoint_path(self, bucket: str) -> Path:
        if not isinstance(bucket, str) or not _BUCKET.fullmatch(bucket):
            raise ValueError(f"bucket name must be a short name of letters, digits, '_', '.', "
                             f"'-', got {bucket!r}")
        return self.out / CHECKPOINTS / f"{bucket}.npz"

    def load_checkpoint(self, bucket: str) -> Optional[dict[str, np.ndarray]]:
        """The arrays last saved for ``bucket``, or None if it has no checkpoint."""
        path = self.checkpoint_path(bucket)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as saved:
            return {name: saved[name] for name in saved.files}

    def save_checkpoint(self, bucket: str, arrays: Mapping[str, Any]) -> Path:
        """Save ``arrays`` (name -> array; no object arrays) as ``checkpoints/<bucket>.npz``."""
        path = self.checkpoint_path(bucket)
        plain = {}
        for name, value in arrays.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"checkpoint array names must be non-empty strings, got {name!r}")
            array = np.asarray(value)
            if array.dtype == object:
                raise ValueError(f"checkpoint array {name!r} of bucket {bucket!r} has dtype object")
            plain[name] = array
        path.parent.mkdir(exist_ok=True)
        return atomic_write(path, lambda f: np.savez(f, **plain))

    def checkpoints(self) -> list[str]:
        """The names of the buckets that have a checkpoint."""
        folder = self.out / CHECKPOINTS
        return sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []

    # -- results --------------------------------------------------------------

    def write_partial(self, summary: Any, curves: Any) -> None:
        """Write ``summary.parquet`` and ``curves.parquet``; the manifest stays "running"."""
        _write_parquet(self.out / SUMMARY, summary)
        _write_parquet(self.out / CURVES, curves)
        self._write_manifest()

    def finish(self, summary: Any, curves: Any) -> "SweepResult":
        """Write the final results and mark the manifest "finished"."""
        _write_parquet(self.out / SUMMARY, summary)
        _write_parquet(self.out / CURVES, curves)
        self.manifest["status"] = "finished"
        self.manifest["finished"] = _now()
        self._write_manifest()
        return SweepResult(summary, curves, self.manifest, self.out)

    def __repr__(self) -> str:
        state = "resumed" if self.resumed else "new"
        return f"Store({str(self.out)!r}, {state}, hash {self.hash[:12]})"


# ----------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------

_NOT_AXES = {"config", "status", "diverged_step", "steps", "stop_step", "best_step", "rung"}


class SweepResult:
    """The results of a sweep: ``summary`` (one row per config), ``curves_frame`` (tidy
    curves), ``manifest`` and ``out`` (the folder, or None for an in-memory sweep).

    ``to_pandas()`` is the summary; ``best(metric)`` the best rows; ``curves(metric)``
    the curves of one metric as a wide frame (steps x configs), or all of them tidy.
    """

    def __init__(self, summary: Any, curves: Any = None, manifest: Optional[dict] = None,
                 out: Optional[PathLike] = None):
        import pandas as pd
        self.summary = summary
        self.curves_frame = pd.DataFrame(columns=list(CURVE_COLUMNS)) if curves is None else curves
        self.manifest = dict(manifest or {})
        self.out = None if out is None else Path(out)

    @property
    def axes(self) -> list[str]:
        """The hyperparameter columns of the summary (the grid's axes)."""
        grid_axes = self.manifest.get("spec", {}).get("grid", {}).get("axes")
        if isinstance(grid_axes, dict):
            return [name for name in grid_axes if name in self.summary.columns]
        return [c for c in self.summary.columns
                if c not in _NOT_AXES and not c.startswith(("final_", "best_"))]

    @property
    def timings(self) -> dict:
        """Seconds spent initializing, compiling, running and reading the final metrics,
        and ``chunk_compiles``: how many chunk programs this run compiled."""
        return dict(self.manifest.get("timings", {}))

    @property
    def slices(self) -> dict:
        """Per bucket, the slice plan: slice size, number of slices, bytes per config."""
        return dict(self.manifest.get("slices", {}))

    @property
    def status(self) -> str:
        """The manifest's status: "finished", or "running" for partial results."""
        return self.manifest.get("status", "unknown")

    def __len__(self) -> int:
        return len(self.summary)

    def to_pandas(self) -> Any:
        """The summary: one row per configuration."""
        return self.summary

    def metric_column(self, metric: str) -> str:
        """The summary column of ``metric``: itself, else ``final_<metric>``, else ``best_<metric>``."""
        for column in (metric, f"final_{metric}", f"best_{metric}"):
            if column in self.summary.columns:
                return column
        known = [c for c in self.summary.columns if c.startswith(("final_", "best_"))]
        raise ValueError(f"no metric {metric!r} in the summary; metrics: {', '.join(known) or 'none'}")

    def best(self, metric: str = "val_loss", n: int = 1, mode: Optional[str] = None) -> Any:
        """The ``n`` best rows of the summary by ``metric``, diverged configs excluded.

        ``metric`` is a summary column or a metric name (``"val_loss"`` reads
        ``final_val_loss``; ask ``"best_val_loss"`` for the best value seen).  ``mode``
        is ``"min"`` or ``"max"``; by default ``"max"`` for accuracies, else ``"min"``.
        Rows whose metric is NaN are left out.
        """
        column = self.metric_column(metric)
        if mode is None:
            mode = "max" if "accuracy" in column else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        rows = self.summary
        if "status" in rows.columns:
            rows = rows[rows["status"] != "diverged"]
        rows = rows[rows[column].notna()]
        return rows.sort_values(column, ascending=mode == "min", kind="mergesort").head(n)

    def curves(self, metric: Optional[str] = None) -> Any:
        """All curves (tidy: one row per config and logged step) when ``metric`` is None;
        else the curves of ``metric`` as a wide frame: index ``step``, one column per config."""
        frame = self.curves_frame
        if metric is None:
            return frame
        if metric not in frame.columns or metric in ("config", "step"):
            metrics = [c for c in frame.columns if c not in ("config", "step")]
            raise ValueError(f"no curve {metric!r}; curves: {', '.join(metrics)}")
        frame = frame.drop_duplicates(["config", "step"], keep="last")
        return frame.pivot(index="step", columns="config", values=metric)

    def __repr__(self) -> str:
        counts = ""
        if "status" in self.summary.columns:
            tally = self.summary["status"].value_counts()
            counts = ": " + ", ".join(f"{int(k)} {s}" for s, k in tally.items())
        best = ""
        try:
            row = self.best("val_loss")
            if len(row):
                column = self.metric_column("val_loss")
                best = (f"; best {column} {float(row[column].iloc[0]):.4g} "
                        f"(config {row['config'].iloc[0]})")
        except (ValueError, KeyError):
            pass
        where = f", out={str(self.out)!r}" if self.out else ""
        return f"SweepResult({len(self.summary)} configs{counts}{best}; {self.status}{where})"


def load(out_dir: PathLike) -> SweepResult:
    """Read the sweep in ``out_dir`` back: finished, or partial (a killed or running run).

    Missing ``summary.parquet`` / ``curves.parquet`` (a run stopped before its first
    chunk ended) give empty frames.  A folder without ``manifest.json`` raises
    ``FileNotFoundError`` naming it.
    """
    import pandas as pd
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: no such folder of sweep results")
    manifest = _read_manifest(out)
    if manifest is None:
        raise FileNotFoundError(f"{out}: no {MANIFEST}; not a folder of sweep results")
    summary = (pd.read_parquet(out / SUMMARY, engine="pyarrow") if (out / SUMMARY).exists()
               else pd.DataFrame(columns=["config", "status", "diverged_step"]))
    curves = (pd.read_parquet(out / CURVES, engine="pyarrow") if (out / CURVES).exists()
              else pd.DataFrame(columns=list(CURVE_COLUMNS)))
    return SweepResult(summary, curves, manifest, out)
