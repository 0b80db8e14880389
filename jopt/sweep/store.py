"""The result store of a sweep: one output folder, every write atomic.

Layout of ``out/``::

    manifest.json       the spec, its hash, versions, devices, timestamps, status
    summary.parquet     one row per configuration
    curves.parquet      tidy: one row per configuration and logged step
    checkpoints/B.npz   the state of bucket ``B`` after its last chunk

Every file is written to a temporary file in the same folder and moved into place with
``os.replace``, so a reader (or a run killed at any moment) sees either the old file or
the new one, never half of one.  Opening a folder that holds a manifest of the same spec
(same :func:`spec_hash`), made by the same code (:data:`RESULT_VERSIONS`: jopt's version
and source, jax's, jaxlib's, numpy's), is a resume; a different spec or code is refused
with :class:`SpecMismatchError` unless ``overwrite=True``, which first removes the old
results and checkpoints (only the files this module writes; nothing else in the folder).

Checksums.  The manifest records the sha256 and size of every checkpoint and table
(``files``) and a checksum of itself (``checksum``).  A file is registered in two manifest
writes around its ``os.replace`` (first under ``writing``, then under ``files``), so a
run killed between them leaves a file that matches one of the two.  A checkpoint that is
missing, truncated, altered or unreadable is ignored with a ``RuntimeWarning`` naming it
(its slice starts again from its first step); a damaged table of a finished sweep makes
:func:`load` refuse in one line (:class:`DamagedFileError`), and a rerun of the same spec
recomputes it; a damaged manifest is refused in one line (:class:`DamagedManifestError`:
the folder's sweep cannot be identified; ``overwrite=True`` starts again).

Partial results.  When a slice starts, the manifest records which configurations it
holds (``slice_configs``).  :func:`load` of a killed or running sweep returns the rows
of the finished slices (``summary.parquet``) and, from the checkpoints, every
configuration of a started slice with its curves up to the checkpoint and status
``running``; configurations of slices without a checkpoint yet are absent.

Columns.  ``summary``: ``config`` (int id, the position in ``Grid.configs()``), one
column per grid axis, ``status`` (one of :data:`STATUSES`), ``diverged_step`` (-1 if
none), with successive halving ``rung`` (where a ``pruned`` one stopped; -1) and
``bracket`` (its HyperBand bracket; 0 without brackets), and
metrics named ``final_<metric>`` and ``best_<metric>`` (e.g. ``final_val_loss``,
``best_val_loss``).  ``curves``: :data:`CURVE_COLUMNS`.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import io
import json
import os
import platform
import re
import shutil
import uuid
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from jopt.sweep import pbt, search
from jopt.sweep.results import assemble

__all__ = [
    "SPEC_VERSION", "STATUSES", "CURVE_COLUMNS", "MANIFEST", "SUMMARY", "CURVES", "CHECKPOINTS",
    "PLOTS", "spec_hash", "canonical", "atomic_write", "Store", "SpecMismatchError",
    "SweepResult", "load", "DamagedFileError", "DamagedManifestError", "checksum",
    "manifest_checksum", "file_problem", "stored_grid", "RESULT_VERSIONS", "source_digest",
]

SPEC_VERSION = 1
STATUSES = ("finished", "diverged", "stopped_early", "pruned", "running")
CURVE_COLUMNS = ("config", "step", "epoch", "examples", "train_loss", "val_loss", "val_accuracy",
                 "batch_loss")
MANIFEST, SUMMARY, CURVES, CHECKPOINTS = ("manifest.json", "summary.parquet", "curves.parquet",
                                          "checkpoints")
PLOTS = ("curves.png", "heatmap.png")  # written by jopt.plot.plot_sweep; removed on overwrite
RESULT_VERSIONS = ("jopt", "jopt_source", "jax", "jaxlib", "numpy")
"""The entries of the manifest's ``versions`` that decide a sweep's numbers: a folder made
with others is not resumed or reused (a development install keeps its version number
while its code changes, hence ``jopt_source``, :func:`source_digest`)."""

PathLike = Union[str, os.PathLike]
_BUCKET = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


class SpecMismatchError(ValueError):
    """The output folder holds a sweep of another spec, or one made by other code
    (:data:`RESULT_VERSIONS`): pass ``overwrite=True`` / ``--overwrite``."""


class DamagedFileError(ValueError):
    """A file of the output folder is missing, truncated or altered: its checksum is not
    the manifest's, or it cannot be read.  The message is one line naming the file."""


class DamagedManifestError(DamagedFileError, SpecMismatchError):
    """``manifest.json`` is damaged: the folder's sweep cannot be identified, so it is
    refused as another spec's would be (``overwrite=True`` / ``--overwrite`` starts again)."""


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


def _parquet_bytes(frame: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


# ----------------------------------------------------------------------------
# Checksums
# ----------------------------------------------------------------------------


def checksum(data: bytes) -> dict:
    """``{"sha256": hex digest, "bytes": length}`` of ``data``: a file's entry in the manifest."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _file_checksum(path: Path) -> dict:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"sha256": digest.hexdigest(), "bytes": size}


def file_problem(path: PathLike, committed: Optional[dict], writing: Optional[dict] = None
                 ) -> Optional[str]:
    """Why the file ``path`` does not hold what the manifest recorded, or None if it does.

    ``committed``: its checksum in the manifest's ``files`` (None: never written whole);
    ``writing``: the checksum of a write in flight (a run killed between the file's
    ``os.replace`` and the manifest's update leaves either content).  An absent file is a
    problem only if it was written whole once; a present one must match one of the two."""
    path = Path(path)
    if not path.exists():
        return "is missing" if committed else None
    recorded = [entry for entry in (committed, writing) if entry]
    if not recorded:
        return "is not recorded in the manifest"
    actual = _file_checksum(path)
    if actual in recorded:
        return None
    if all(actual["bytes"] != entry["bytes"] for entry in recorded):
        return (f"is damaged (truncated or extended: {actual['bytes']} bytes, the manifest "
                f"recorded {recorded[0]['bytes']})")
    return "is damaged (altered: its sha256 is not the manifest's)"


def manifest_checksum(manifest: Mapping) -> str:
    """The sha256 of the manifest's canonical JSON, its own ``checksum`` field left out."""
    body = {key: value for key, value in manifest.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """The sha256 (hex) of jopt's Python files as installed, by their paths in the package."""
    import jopt
    root = Path(jopt.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _versions() -> dict:
    import jax
    import jaxlib
    import jopt
    versions = {"jopt": jopt.__version__, "jopt_source": source_digest(), "jax": jax.__version__,
                "jaxlib": getattr(jaxlib, "__version__", None) or jaxlib.version.__version__,
                "numpy": np.__version__, "python": platform.python_version()}
    for name in ("pandas", "pyarrow"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    return versions


def _check_versions(out: Path, made_with: Any, running: dict) -> None:
    """Refuse (:class:`SpecMismatchError`) a folder whose results were made with other
    :data:`RESULT_VERSIONS` than ``running``'s: resuming would mix the two codes' numbers,
    and reusing its tables would give the other code's."""
    made_with = made_with if isinstance(made_with, dict) else {}
    changed = [name for name in RESULT_VERSIONS if made_with.get(name) != running[name]]
    if not changed:
        return
    name = changed[0]
    if name != "jopt_source":
        what = f"{name} {made_with.get(name) or 'unrecorded'}, not this {running[name]}"
    elif made_with.get(name):
        what = "jopt's Python files as they were (they have changed since)"
    else:
        what = "a jopt that did not record its Python files"
    raise SpecMismatchError(f"{out} holds results made with {what}: pass --overwrite "
                            f"(overwrite=True) to recompute them, or choose another output folder")


def _devices() -> list[str]:
    import jax
    return [str(d) for d in jax.devices()]


def _read_manifest(out: Path) -> Optional[dict]:
    """The manifest in ``out``, None if there is none; :class:`DamagedManifestError` if it
    cannot be parsed or its checksum does not match (a manifest of a jopt older than the
    checksums has neither ``checksum`` nor ``files``, and is read as it is)."""
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _damaged_manifest(path, f"not readable JSON: {str(error).splitlines()[0]}") from None
    if not isinstance(manifest, dict):
        raise _damaged_manifest(path, "not a JSON object")
    if "checksum" in manifest or "files" in manifest:
        if manifest.get("checksum") != manifest_checksum(manifest):
            raise _damaged_manifest(path, "altered: its checksum does not match its content")
    return manifest


def stored_grid(out: Optional[PathLike]) -> Optional[dict]:
    """The search space (``to_dict()``) of the spec in ``out``'s manifest; None when there
    is no folder, no manifest, or a damaged one (opening the store reports that)."""
    if out is None or not Path(out).is_dir():
        return None
    try:
        manifest = _read_manifest(Path(out))
    except DamagedFileError:
        return None
    grid = (manifest or {}).get("spec", {}).get("grid")
    return grid if isinstance(grid, dict) else None


def _damaged_manifest(path: Path, why: str) -> DamagedManifestError:
    return DamagedManifestError(
        f"{path} is damaged ({why}); the sweep in {path.parent} cannot be identified: pass "
        f"--overwrite (overwrite=True) to run it again from scratch, or choose another folder")


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
        ``overwrite``; a damaged table is then named in a ``RuntimeWarning`` (the run
        rewrites it).  Another spec, or a damaged manifest: :class:`SpecMismatchError`
        (:class:`DamagedManifestError`), unless ``overwrite``, which removes the old
        manifest, results, checkpoints and plots first.
        """
        out = Path(out)
        spec = canonical(spec)
        digest = spec_hash(spec)
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out} is a file, not a folder for sweep results")
        out.mkdir(parents=True, exist_ok=True)
        old = _read_manifest(out) if not overwrite else None
        if old is not None and old.get("spec_hash") != digest:
            raise SpecMismatchError(
                f"{out} holds results of a different sweep spec (hash {str(old.get('spec_hash'))[:12]}, "
                f"this one {digest[:12]}); pass --overwrite (overwrite=True) to replace them, "
                f"or choose another output folder")
        versions = _versions()
        if old is not None:
            _check_versions(out, old.get("versions"), versions)
        resumed = old is not None
        if overwrite:
            cls._remove_results(out)
        now = _now()
        manifest = {
            "spec_version": SPEC_VERSION,
            "spec_hash": digest,
            "spec": spec,
            "versions": versions,
            "devices": _devices(),
            "created": old.get("created", now) if resumed else now,
            "updated": now,
            # a finished folder rerun with its own spec stays finished: the rerun rewrites
            # its tables only when it ends (a failed rerun leaves it as it was)
            "status": "finished" if resumed and not overwrite and old.get("status") == "finished"
            else "running",
            "files": {},
        }
        if resumed:
            manifest["resumes"] = int(old.get("resumes", 0)) + 1
            # how the first run sliced its buckets (a resume must match), what it wrote, and
            # what its results need beside the tables (a finished sweep's rungs, PBT events)
            for key in ("slices", "slice_configs", "files", "writing", "halving", "pbt"):
                if key in old:
                    manifest[key] = old[key]
        store = cls(out, spec, manifest, resumed)
        store._settle_writes()
        for name in (SUMMARY, CURVES):
            problem = store.file_problem(name)
            if problem:
                warnings.warn(f"{out / name} {problem}; this run recomputes it", RuntimeWarning,
                              stacklevel=2)
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
        self.manifest["checksum"] = manifest_checksum(self.manifest)
        atomic_write(self.out / MANIFEST, json.dumps(self.manifest, indent=2) + "\n")

    def update_manifest(self, **fields: Any) -> None:
        """Add or change top-level manifest fields (JSON data) and rewrite it."""
        self.manifest.update(canonical(fields, "manifest"))
        self._write_manifest()

    # -- files and their checksums ------------------------------------------

    def finished_tables(self) -> Optional[tuple]:
        """``(summary, curves)`` of a finished sweep rerun with its own spec, or None: not
        finished, or a file (a table, a checkpoint) is not as the manifest recorded it,
        which the rerun then recomputes as a resume does."""
        checkpoints = [name for name in self.manifest.get("files", {})
                       if name not in (SUMMARY, CURVES)]
        if not self.resumed or self.manifest.get("status") != "finished" or \
                any(self.file_problem(name) for name in checkpoints):
            return None
        try:  # each table checked against its checksum as it is read
            return tuple(_read_table(self.out, self.manifest, name) for name in (SUMMARY, CURVES))
        except DamagedFileError:
            return None

    def file_problem(self, name: str) -> Optional[str]:
        """Why the file ``name`` (relative to the folder) does not hold what the manifest
        recorded (:func:`file_problem`), or None."""
        return file_problem(self.out / name, self.manifest.get("files", {}).get(name),
                            self.manifest.get("writing", {}).get(name))

    def _settle_writes(self) -> None:
        """Writes a killed run left in flight: a file that holds the new content is
        registered; otherwise the old registration stands."""
        for name, entry in self.manifest.pop("writing", {}).items():
            path = self.out / name
            if path.exists() and _file_checksum(path) == entry:
                self.manifest["files"][name] = entry

    def _write_files(self, contents: Mapping[str, bytes], **fields: Any) -> None:
        """Write the files ``contents`` (name -> bytes) atomically, each registered with its
        checksum: announced under ``writing`` before its ``os.replace`` and moved to
        ``files`` after it, with ``fields``, in one manifest update."""
        writing = self.manifest.setdefault("writing", {})
        writing.update({name: checksum(data) for name, data in contents.items()})
        self._write_manifest()
        for name, data in contents.items():
            atomic_write(self.out / name, data)
        files = self.manifest.setdefault("files", {})
        for name in contents:
            files[name] = writing.pop(name)
        if not writing:
            del self.manifest["writing"]
        self.manifest.update(fields)
        self._write_manifest()

    # -- slices and checkpoints -------------------------------------------------

    def start_slice(self, bucket: str, configs: Any, batch_size: Any, steps_per_epoch: Any) -> None:
        """Record that the slice checkpointed as ``bucket`` holds the configurations
        ``configs`` (their positions in the grid), with their batch sizes and steps per
        epoch: what :func:`load` needs to read its checkpoint as partial results."""
        self.checkpoint_path(bucket)  # a valid name
        record = canonical({"configs": configs, "batch_size": batch_size,
                            "steps_per_epoch": steps_per_epoch}, "slice")
        recorded = self.manifest.setdefault("slice_configs", {})
        if recorded.get(bucket) != record:
            recorded[bucket] = record
            self._write_manifest()

    def checkpoint_path(self, bucket: str) -> Path:
        return self.out / _checkpoint_name(bucket)

    def load_checkpoint(self, bucket: str) -> Optional[dict[str, np.ndarray]]:
        """The arrays last saved for ``bucket``, or None if it has none.  A checkpoint that
        is missing, truncated, altered or unreadable is None too, with a ``RuntimeWarning``
        naming it: its slice starts again."""
        return _read_checkpoint(self.out, self.manifest, bucket)

    def save_checkpoint(self, bucket: str, arrays: Mapping[str, Any]) -> Path:
        """Save ``arrays`` (name -> array; no object arrays) as ``checkpoints/<bucket>.npz``."""
        name = _checkpoint_name(bucket)
        plain = {}
        for key, value in arrays.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"checkpoint array names must be non-empty strings, got {key!r}")
            array = np.asarray(value)
            if array.dtype == object:
                raise ValueError(f"checkpoint array {key!r} of bucket {bucket!r} has dtype object")
            plain[key] = array
        data = _npz_bytes(plain)
        (self.out / CHECKPOINTS).mkdir(exist_ok=True)
        self._write_files({name: data})
        return self.out / name

    def checkpoints(self) -> list[str]:
        """The names of the buckets that have a checkpoint."""
        folder = self.out / CHECKPOINTS
        return sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []

    # -- results --------------------------------------------------------------

    def write_partial(self, summary: Any, curves: Any) -> None:
        """Write ``summary.parquet`` and ``curves.parquet``; the manifest stays "running".  A
        finished folder's tables are rewritten only by :meth:`finish`."""
        if self.manifest.get("status") == "finished":
            return
        self._write_files({SUMMARY: _parquet_bytes(summary), CURVES: _parquet_bytes(curves)})

    def finish(self, summary: Any, curves: Any) -> "SweepResult":
        """Write the final results and mark the manifest "finished"."""
        self._write_files({SUMMARY: _parquet_bytes(summary), CURVES: _parquet_bytes(curves)},
                          status="finished", finished=_now())
        return SweepResult(summary, curves, self.manifest, self.out)

    def __repr__(self) -> str:
        state = "resumed" if self.resumed else "new"
        return f"Store({str(self.out)!r}, {state}, hash {self.hash[:12]})"


def _checkpoint_name(bucket: str) -> str:
    """``checkpoints/<bucket>.npz``, the checkpoint's name relative to the folder."""
    if not isinstance(bucket, str) or not _BUCKET.fullmatch(bucket):
        raise ValueError(f"bucket name must be a short name of letters, digits, '_', '.', "
                         f"'-', got {bucket!r}")
    return f"{CHECKPOINTS}/{bucket}.npz"


_UNREADABLE = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError)


def _read_checkpoint(out: Path, manifest: Mapping, bucket: str, prefix: str = ""
                     ) -> Optional[dict[str, np.ndarray]]:
    """The arrays (those whose names start with ``prefix``) of ``bucket``'s checkpoint in
    ``out`` if it holds what ``manifest`` recorded; else None, with a ``RuntimeWarning``
    naming the file when one was expected."""
    name = _checkpoint_name(bucket)
    path = out / name
    problem = file_problem(path, manifest.get("files", {}).get(name),
                           manifest.get("writing", {}).get(name))
    if problem is None and not path.exists():
        return None
    if problem is None:
        try:
            with np.load(path, allow_pickle=False) as saved:
                return {key: saved[key] for key in saved.files if key.startswith(prefix)}
        except _UNREADABLE as error:
            problem = f"is unreadable ({type(error).__name__})"
    warnings.warn(f"{path} {problem}; ignored: its slice is computed again from the start",
                  RuntimeWarning, stacklevel=3)
    return None


# ----------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------

_NOT_AXES = {"config", "status", "diverged_step", "steps", "stop_step", "best_step", "rung",
             "bracket", "exploits", "parent"}


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
        ``chunk_compiles``: how many chunk programs this run compiled, and
        ``cache_loads``: how many of its programs came from the compilation cache instead
        (:func:`jopt.devices.use_compilation_cache`)."""
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

    def schedule(self, config: int) -> Any:
        """Population-based training: the hyperparameter schedule that trained ``config``'s
        final state, one row per piece: ``step`` (where it starts), ``config`` (whose
        training it was: the lineage) and the traced hyperparameters
        (:func:`~jopt.sweep.pbt.schedule_rows`).  :func:`jopt.sweep.replay` retrains it."""
        import pandas as pd
        record = self.manifest.get("pbt")
        if not record:
            raise ValueError("this sweep used no population-based training: no schedule")
        known = set(int(c) for c in self.summary["config"])
        if isinstance(config, bool) or not isinstance(config, (int, np.integer)) or int(config) not in known:
            raise ValueError(f"config {config!r} is not a configuration of this sweep")
        names = list(record["traced"])
        rows = self.summary.set_index("config")[names]
        initial = {int(c): {name: value.item() if hasattr(value, "item") else value
                            for name, value in values.items()} for c, values in rows.iterrows()}
        return pd.DataFrame(pbt.schedule_rows(record["events"], initial, int(config)),
                            columns=["step", "config"] + names)

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

    A finished sweep: its tables, checked against the manifest's checksums; a table that
    is missing, truncated, altered or unreadable raises :class:`DamagedFileError` (one
    line naming it: a rerun of the same spec into the folder recomputes it).

    A partial sweep (manifest status ``running``): the rows of the slices that finished
    (``summary.parquet``, ``curves.parquet``) and, read from their checkpoints, the
    configurations of the slices that started, with status ``running`` and their curves
    up to the checkpoint (``final_*`` / ``best_*`` so far; metrics the task computes only
    at the end are NaN).  Configurations of slices without a checkpoint yet are absent.  A damaged
    file is left out with a ``RuntimeWarning`` naming it.  Nothing written yet: empty
    frames.  A folder without ``manifest.json`` raises ``FileNotFoundError`` naming it;
    a damaged manifest :class:`DamagedManifestError`.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"{out}: no such folder of sweep results")
    manifest = _read_manifest(out)
    if manifest is None:
        raise FileNotFoundError(f"{out}: no {MANIFEST}; not a folder of sweep results")
    if manifest.get("status") == "finished":
        summary, curves = (_read_table(out, manifest, name) for name in (SUMMARY, CURVES))
        return SweepResult(summary, curves, manifest, out)
    summary, curves = _partial_tables(out, manifest)
    return SweepResult(summary, curves, manifest, out)


def _read_table(out: Path, manifest: Mapping, name: str) -> Any:
    """The table ``name`` of the folder, or :class:`DamagedFileError` saying why not."""
    import pandas as pd
    path = out / name
    if "files" in manifest:  # not a manifest of a jopt older than the checksums
        problem = file_problem(path, manifest["files"].get(name),
                               manifest.get("writing", {}).get(name))
        if problem is None and not path.exists():
            problem = "is missing"
        if problem:
            raise _damaged_table(path, problem)
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except Exception as error:  # noqa: BLE001  (pyarrow's errors vary: ArrowInvalid, OSError, ...)
        raise _damaged_table(path, f"is unreadable ({type(error).__name__})") from None


def _damaged_table(path: Path, problem: str) -> DamagedFileError:
    return DamagedFileError(f"{path} {problem}; run the same sweep spec into {path.parent} "
                            "again to recompute it")


def _partial_tables(out: Path, manifest: Mapping) -> tuple:
    """``(summary, curves)`` of a sweep that has not finished: the finished slices' rows,
    then the started slices' rows from their checkpoints, ordered by config (and step)."""
    import pandas as pd
    summary = pd.DataFrame(columns=["config", "status", "diverged_step"])
    curves = pd.DataFrame(columns=list(CURVE_COLUMNS))
    if (out / SUMMARY).exists() or (out / CURVES).exists():
        try:
            summary, curves = (_read_table(out, manifest, name) for name in (SUMMARY, CURVES))
        except DamagedFileError as error:
            warnings.warn(f"{error} (partial results are read from the checkpoints instead)",
                          RuntimeWarning, stacklevel=3)
    grid_description = manifest.get("spec", {}).get("grid")
    if not isinstance(grid_description, Mapping) or not manifest.get("slice_configs"):
        return summary, curves
    grid = search.from_dict(grid_description)
    # a run killed between the two tables' os.replace leaves one a slice ahead of the other:
    # a slice is finished when both hold it, else it is read from its checkpoint
    finished = set(summary["config"].tolist()) & set(curves["config"].tolist())
    parts = _running_parts(out, manifest, grid.configs(), finished)
    if not parts:
        return summary, curves
    running, running_curves = assemble(parts, grid)
    running["status"] = "running"
    summary = _concat_ordered([_without(summary, running["config"]), running], ["config"])
    curves = _concat_ordered([_without(curves, running["config"]), running_curves],
                             ["config", "step"])
    return summary, curves


def _without(frame: Any, configs: Any) -> Any:
    """The rows of ``frame`` not of ``configs``."""
    return frame[~frame["config"].isin(configs)]


def _running_parts(out: Path, manifest: Mapping, configs: list[dict], finished: set) -> list[dict]:
    """The started slices not among the ``finished`` configs whose checkpoints are sound, as
    :func:`jopt.sweep.results.assemble` takes them (status: active, not diverged);
    ``configs``: the grid's."""
    parts = []
    for bucket, record in manifest["slice_configs"].items():
        indices = np.asarray(record["configs"], np.int64)
        if set(indices.tolist()) <= finished:
            continue
        arrays = _read_checkpoint(out, manifest, bucket, prefix="rows/")
        if arrays is not None and "rows/step" in arrays:  # (a runner's checkpoint)
            parts.append(_running_part(record, indices, arrays, configs))
    return parts


def _running_part(record: Mapping, indices: np.ndarray, arrays: Mapping, configs: list) -> dict:
    """One started slice's checkpoint as a part of :func:`jopt.sweep.results.assemble`."""
    n = len(indices)
    rows = {key[len("rows/"):]: value[:n] for key, value in arrays.items()
            if key.startswith("rows/")}
    return {"indices": indices, "configs": [configs[i] for i in indices],
            "status": (np.ones(n, bool), np.zeros(n, bool), np.full(n, -1, np.int64)),
            "rows": rows, "final": {},
            "batch_size": np.broadcast_to(np.asarray(record["batch_size"]), (n,)),
            "steps_per_epoch": np.broadcast_to(np.asarray(record["steps_per_epoch"]), (n,))}


def _concat_ordered(frames: list, keys: list[str]) -> Any:
    """The frames one under the other (empty ones left out), rows ordered by ``keys``."""
    import pandas as pd
    frames = [frame for frame in frames if len(frame)]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)
