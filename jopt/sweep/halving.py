"""Successive halving inside a sweep's program, with compaction.

A bucket's configurations train together up to the first rung (``min_budget`` steps,
rounded up to an evaluation boundary); there the configurations still in are ranked by
``metric`` read at the rung's evaluation row (NaN, infinite or diverged last; ties by
configuration index), the best ``max(1, floor(n / eta))`` go on and the others stop with
status ``pruned`` and their rung index (summary column ``rung``; -1 for the others).
The rungs are at ``min_budget * eta**k`` steps and end at the full budget.

Pruned configurations do not run under a mask: their final metrics and rows are read
from the uncompacted slice, then the survivors are gathered (one jitted gather along the
configuration axis, :attr:`~jopt.sweep.engine.Programs.gather`) into a slice of
:func:`compact_size` configurations, a power of two, so the chunk program compiles at
most once per rung size.  The carry, the rows, the traced hyperparameters (on the
devices and on the host), the budgets in steps and a slot -> configuration map are
gathered alike.  The compacted sizes are known before the first rung
(:func:`planned_sizes`): their programs compile in a thread while the bucket trains
(:meth:`~jopt.sweep.engine.Programs.compile_ahead`).  Each configuration's key comes from its hyperparameters
(:func:`~jopt.sweep.engine.config_key`), so a survivor's results equal those of a plain
sweep.

The ranking is the writer's (:func:`~jopt.sweep.processes.from_writer`).  A bucket in
several memory slices halves each slice on its own.  Checkpoints: a halved slice is
saved once it is done, with everything its results need; a sweep killed while a slice
was being halved trains that slice again from the start on resume (never a mix).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jopt.sweep.engine import Programs, Slice, finish_slice, pad, run_chunks, start_slice
from jopt.sweep.processes import from_writer, to_host
from jopt.sweep.tasks import TaskError

__all__ = ["Halving", "MODES", "rung_steps", "survivors", "compact_size", "planned_sizes",
           "run_halving", "check_metric"]

MODES = ("min", "max")


class Halving(NamedTuple):
    """Successive halving: rungs at ``min_budget * eta**k`` steps (rounded up to the
    budget's ``eval_every``), keeping the best ``1/eta`` of the configurations by
    ``metric`` (a row the task records: ``val_loss``, ``val_accuracy``, ``train_loss``,
    ...) in ``mode`` (``"min"`` or ``"max"``) at each.  ``brackets``: HyperBand's
    brackets; only 1 (plain successive halving) is implemented."""

    min_budget: int
    eta: float = 3
    metric: str = "val_loss"
    mode: str = "min"
    brackets: int = 1

    def check(self, steps: Optional[int] = None) -> "Halving":
        """``self``, or a ValueError naming the field: ``eta > 1``, a positive integer
        ``min_budget`` at most ``steps`` (the budget, when known in steps), a known mode."""
        eta = self.eta
        if isinstance(eta, bool) or not isinstance(eta, (int, float, np.integer, np.floating)) \
                or not math.isfinite(eta) or eta <= 1:
            raise ValueError(f"halving.eta must be a number > 1, got {eta!r}")
        budget = self.min_budget
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
            raise ValueError(f"halving.min_budget must be a positive integer (steps), got {budget!r}")
        if steps is not None and budget > steps:
            raise ValueError(f"halving.min_budget = {budget} is larger than the budget ({steps} steps)")
        if self.mode not in MODES:
            raise ValueError(f"halving.mode must be 'min' or 'max', got {self.mode!r}")
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"halving.metric must be a metric's name, got {self.metric!r}")
        if self.brackets != 1:
            raise ValueError(f"halving.brackets = {self.brackets!r}: only 1 is implemented "
                             "(HyperBand's brackets are not)")
        return self


def check_metric(halving: Halving, program: Any, hparams: dict, eval_every: int) -> None:
    """A :class:`~jopt.sweep.tasks.TaskError` unless ``program`` (a
    :class:`~jopt.sweep.tasks.SweepTask`) records ``halving.metric`` in its rows, for one
    configuration's ``hparams``; from shapes only (nothing compiles or runs)."""
    def row(h):
        carry = program.init(h, jax.random.PRNGKey(0))
        return program.evaluate(carry, h, jnp.zeros((eval_every,)))[1]

    reported = list(jax.eval_shape(row, hparams))
    if halving.metric not in reported:
        known = ", ".join(sorted(k for k in reported if k != "step"))
        raise TaskError(f"halving.metric = {halving.metric!r}: not a metric the task reports "
                         f"(it reports {known})")


def rung_steps(halving: Halving, steps: int, eval_every: int) -> list[int]:
    """The rungs in steps: ``min_budget * eta**k`` rounded up to a multiple of
    ``eval_every``, increasing, below ``steps``; then ``steps`` (the full budget)."""
    rungs: list[int] = []
    k = 0
    while True:
        step = math.ceil(halving.min_budget * halving.eta ** k / eval_every) * eval_every
        if step >= steps:
            return rungs + [steps]
        if not rungs or step > rungs[-1]:
            rungs.append(int(step))
        k += 1


def survivors(values: np.ndarray, diverged: np.ndarray, eta: float, mode: str) -> np.ndarray:
    """The indices (ascending) of the best ``max(1, floor(n / eta))`` of ``values``:
    lowest first for ``mode="min"``, highest for ``"max"``; NaN, infinite and diverged
    last; ties by index."""
    values = np.asarray(values, np.float64)
    score = values if mode == "min" else -values
    score = np.where(np.isfinite(score) & ~np.asarray(diverged, bool), score, np.inf)
    keep = max(1, int(len(score) // eta))
    return np.sort(np.argsort(score, kind="stable")[:keep])


def compact_size(survivors: int, n_devices: int, current: int) -> int:
    """The slice size for ``survivors`` configurations: the next power of two, rounded up
    to a multiple of the devices, at most ``current``."""
    size = 1 << max(0, int(survivors) - 1).bit_length()
    size = math.ceil(size / n_devices) * n_devices
    return min(size, current)


def planned_sizes(configs: int, eta: float, rungs: int, n_devices: int, size: int) -> list[int]:
    """The slice sizes that ``rungs`` pruning rungs will compact ``configs``
    configurations (in a slice of ``size``) into, when every configuration reaches them."""
    sizes = []
    for _ in range(rungs):
        configs = max(1, int(configs // eta))
        smaller = compact_size(configs, n_devices, size)
        if smaller < size:
            sizes.append(smaller)
        size = smaller
    return sizes


class _Piece(NamedTuple):
    """Results of some of a slice's configurations: ``slots`` (their places in the
    original slice), ``status`` (active, diverged, stop_step), ``rows``, ``final`` and
    ``rung`` (-1 unless pruned)."""

    slots: np.ndarray
    status: tuple
    rows: dict
    final: dict
    rung: np.ndarray


def _never(*_: Any) -> None:
    """No checkpoint while a slice is halved (see the module's notes)."""


_never.every = math.inf


def run_halving(programs: Programs, part: Slice, halving: Halving, rungs: Sequence[int], *,
                chunk_seconds: float, progress: Callable, timings: dict) -> tuple:
    """Run one slice with successive halving: ``(status, rows, final, rung)`` of its real
    configurations in their order, host arrays (``rung``: the pruned ones' rung index,
    else -1).  ``rungs``: :func:`rung_steps` of the slice's budget."""
    state = start_slice(programs, part, None, timings)
    ahead = programs.compile_ahead(part.hparams, planned_sizes(
        part.size, halving.eta, len(rungs) - 1, programs.mesh.devices.size, len(part.num_steps)))
    slots = np.arange(len(part.num_steps))
    pieces = []
    for index, step in enumerate(rungs[:-1]):
        block = step // programs.eval_every
        state = run_chunks(programs, part, state, until=block, chunk_seconds=chunk_seconds,
                           checkpoint=_never, progress=progress, timings=timings)
        if state.next_block < block:  # nothing left training
            break
        real = part.size
        active, diverged, _ = (s[:real] for s in state.status)
        values = to_host(state.rows[halving.metric])[:real, block]
        kept = np.zeros(real, np.int32)
        kept[survivors(values, diverged, halving.eta, halving.mode)] = 1
        kept = np.asarray(from_writer(kept)).astype(bool)
        if kept.all():
            continue
        status, rows, final = finish_slice(programs, part, state, timings)
        leaving = np.flatnonzero(~kept)
        # pruned: still training (not diverged, not stopped early, budget not spent)
        pruned = (status[0] & ~status[1] & (part.num_steps > step))[leaving]
        stop_step = np.where(pruned, step, status[2][leaving])
        pieces.append(_Piece(
            slots=slots[leaving], status=(status[0][leaving], status[1][leaving], stop_step),
            rows={k: v[leaving] for k, v in rows.items()},
            final={k: v[leaving] for k, v in final.items()},
            rung=np.where(pruned, index, -1)))
        state, part, slots = _compact(programs, state, part, slots, np.flatnonzero(kept))
    state = run_chunks(programs, part, state, until=programs.blocks, chunk_seconds=chunk_seconds,
                       checkpoint=_never, progress=progress, timings=timings)
    status, rows, final = finish_slice(programs, part, state, timings)
    ahead.exception()  # its compiles done (a rung that pruned nothing left one unused)
    real = np.arange(part.size)
    pieces.append(_Piece(slots[real], tuple(s[real] for s in status),
                         {k: v[real] for k, v in rows.items()},
                         {k: v[real] for k, v in final.items()}, np.full(part.size, -1)))
    return _merge(pieces)


def _compact(programs: Programs, state: Any, part: Slice, slots: np.ndarray,
             kept: np.ndarray) -> tuple:
    """``(state, part, slots)`` of the ``kept`` configurations (positions in ``part``)
    gathered into a slice of :func:`compact_size` configurations (padded with the last)."""
    size = compact_size(len(kept), programs.mesh.devices.size, len(part.num_steps))
    chosen = pad(kept, size).astype(np.int32)
    carry, rows, hparams = programs.gather((state.carry, state.rows, part.hparams), chosen)
    state = state._replace(carry=carry, rows=rows,
                           status=tuple(s[chosen] for s in state.status))
    part = Slice(hparams, len(kept), part.num_steps[chosen],
                 {k: v[chosen] for k, v in part.host.items()})
    return state, part, slots[chosen]


def _merge(pieces: list) -> tuple:
    """The pieces' results in the order of their slots (which cover ``0 .. n-1``)."""
    slots = np.concatenate([p.slots for p in pieces])
    order = np.argsort(slots, kind="stable")
    join = lambda arrays: np.concatenate(arrays)[order]
    status = tuple(join([p.status[i] for p in pieces]) for i in range(3))
    rows = {k: join([p.rows[k] for p in pieces]) for k in pieces[0].rows}
    final = {k: join([p.final[k] for p in pieces]) for k in pieces[0].final}
    return status, rows, final, join([p.rung for p in pieces])
