"""Successive halving inside a sweep's program, with compaction, and HyperBand's brackets.

A bucket's configurations train together up to the first rung (``min_budget`` steps,
rounded up to an evaluation boundary); there the configurations still in are ranked by
``metric`` read at the rung's evaluation row (NaN, infinite or diverged last; ties by
configuration index), the best ``max(1, floor(n / eta))`` go on and the others stop with
status ``pruned`` and their rung index (summary column ``rung``; -1 for the others).
The rungs are at ``min_budget * eta**k`` steps and end at the full budget.

Brackets (HyperBand, Li et al. 2018).  With ``brackets = k`` a bucket's configurations
are split into ``k`` successive halvings that start at different rungs: bracket ``s``
(``0 .. k - 1``) starts at rung ``s`` (``min_budget * eta**s``, rounded up as the others)
and prunes at each later rung, so bracket 0 is the most aggressive and the last prunes
least (with ``k`` equal to the number of rungs, it trains its configurations to the full
budget unpruned).  Bracket ``s`` gets configurations in proportion to
``eta**p / (p + 1)`` where ``p = len(rungs) - 1 - s`` is its number of pruning rungs: the
paper's ``n = ceil((s_max + 1) / (p + 1) * eta**p)``, whose brackets each spend about the
same configuration-steps, without the rounding (:func:`bracket_sizes`: largest
remainders).  Which configurations: the bucket's, in grid order, are dealt out so that
each bracket's spread evenly over the grid (:func:`assign_brackets`); each bracket then
runs through :func:`run_halving` as a group of its own (summary column ``bracket``; 0
for every configuration without brackets).  The ``rung`` column counts the bucket's
rungs, whichever bracket a configuration is in.

A pruned configuration's final metrics and rows are read from the slice at its rung;
then the survivors may be gathered (one gather along the configuration axis,
:attr:`~jopt.sweep.engine.Programs.gather`: jitted, or on a CPU through the host) into
a slice of :func:`compact_size` configurations, a power of two, so the chunk program
compiles at most once per rung size.  The carry, the rows, the traced hyperparameters (on the devices and on the host),
the budgets in steps and a slot -> configuration map are gathered alike.

Compaction is a compile of a new size, which can cost more than the steps it saves.
With ``compact="auto"`` a rung compacts only when :func:`worth_compacting` says the
running time saved (the steps left, times the configurations dropped, times the seconds
per configuration-step measured on the slice's chunks so far) exceeds the new size's
compile cost (none when it is compiled already, else the measured compile time of the
program the slice runs in now); ``"always"`` compacts at every rung.  A rung that does not
compact leaves the pruned configurations in their slots (marked not ``live``): they run
on, and their later rows are discarded.  The compacted sizes are known before the first
rung (:func:`planned_sizes`): their programs compile in a thread while the bucket trains
(:meth:`~jopt.sweep.engine.Programs.compile_ahead`), except under ``"auto"`` on a CPU,
where that thread would take cores from the chunks for sizes the rule will likely skip.  Each configuration's key comes from its hyperparameters
(:func:`~jopt.sweep.engine.config_key`), so a survivor's results equal those of a plain
sweep.

The ranking and the decision to compact are the writer's
(:func:`~jopt.sweep.processes.from_writer`).  A bucket in
several memory slices halves each slice on its own.  Checkpoints: a slice being halved
hands its caller, after each rung (after compaction), everything it needs to go on
(the carry, rows, status, slots, which slots are still live, the pruned configurations'
results so far, the slice's hyperparameters and budgets: arrays named under
:data:`RUNG_CHECKPOINT`); given those arrays back, :func:`run_halving` continues from
that rung, with results equal to an uninterrupted run's.  Under ``jax.distributed`` the runner saves none: a slice killed
while being halved is trained again from its start there.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import numpy as np

from jopt.sweep.engine import (Programs, Running, Slice, finish_slice, pad, resized, run_chunks,
                               start_slice)
from jopt.sweep.processes import from_writer, shard, to_host
from jopt.sweep.search import check_ranking, ranked

__all__ = ["Halving", "COMPACT", "worth_compacting", "rung_steps", "survivors", "compact_size", "planned_sizes",
           "run_halving", "check_brackets", "bracket_sizes", "assign_brackets",
           "RUNG_CHECKPOINT"]

COMPACT = ("auto", "always")


class Halving(NamedTuple):
    """Successive halving: rungs at ``min_budget * eta**k`` steps (rounded up to the
    budget's ``eval_every``), keeping the best ``1/eta`` of the configurations by
    ``metric`` (a row the task records: ``val_loss``, ``val_accuracy``, ``train_loss``,
    ...) in ``mode`` (``"min"`` or ``"max"``) at each.  ``brackets``: HyperBand's
    brackets, at most the number of rungs (1: plain successive halving; see the module's
    notes).  ``compact``: ``"auto"`` gathers the survivors into a smaller program at a
    rung only where that pays (:func:`worth_compacting`), ``"always"`` at every rung."""

    min_budget: int
    eta: float = 3
    metric: str = "val_loss"
    mode: str = "min"
    brackets: int = 1
    compact: str = "auto"

    def check(self, steps: Optional[int] = None) -> "Halving":
        """``self``, or a ValueError naming the field: ``eta > 1``, a positive integer
        ``min_budget`` at most ``steps`` (the budget, when known in steps), a known mode,
        a positive integer ``brackets`` (:func:`check_brackets` compares it with the
        rungs)."""
        eta = self.eta
        if isinstance(eta, bool) or not isinstance(eta, (int, float, np.integer, np.floating)) \
                or not math.isfinite(eta) or eta <= 1:
            raise ValueError(f"halving.eta must be a number > 1, got {eta!r}")
        budget = self.min_budget
        if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
            raise ValueError(f"halving.min_budget must be a positive integer (steps), got {budget!r}")
        if steps is not None and budget > steps:
            raise ValueError(f"halving.min_budget = {budget} is larger than the budget ({steps} steps)")
        check_ranking("halving", self.metric, self.mode)
        brackets = self.brackets
        if isinstance(brackets, bool) or not isinstance(brackets, (int, np.integer)) or brackets < 1:
            raise ValueError(f"halving.brackets must be a positive integer, got {brackets!r}")
        if self.compact not in COMPACT:
            raise ValueError(f"halving.compact must be 'auto' or 'always', got {self.compact!r}")
        return self

    def spec(self) -> dict:
        """The settings that decide the results, for the output folder's spec: all but
        ``compact``, which only packs the same configurations into other programs, so a
        folder written with either value resumes with the other."""
        return {k: v for k, v in self._asdict().items() if k != "compact"}


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


def check_brackets(halving: Halving, rungs: Sequence[int]) -> None:
    """A ValueError naming ``halving.brackets`` when there are more brackets than
    ``rungs`` (:func:`rung_steps` of the budget): bracket ``s`` starts at rung ``s``."""
    if halving.brackets > len(rungs):
        raise ValueError(f"halving.brackets = {halving.brackets} is more than the {len(rungs)} "
                         f"rungs the budget allows (rungs at {list(rungs)} steps)")


def bracket_sizes(configs: int, brackets: int, rungs: int, eta: float) -> list[int]:
    """How many of ``configs`` configurations each bracket ``s = 0 .. brackets - 1`` gets,
    with ``rungs`` rungs (the full budget's included): in proportion to
    ``eta**p / (p + 1)``, ``p = rungs - 1 - s`` the bracket's pruning rungs (HyperBand's
    allocation, under which every bracket spends about the same configuration-steps),
    rounded by largest remainders (ties: the lower bracket), so they sum to ``configs``."""
    pruning = rungs - 1 - np.arange(brackets)
    weights = np.asarray(eta, np.float64) ** pruning / (pruning + 1)
    quotas = configs * weights / weights.sum()
    sizes = np.floor(quotas).astype(np.int64)
    remainders = quotas - sizes
    order = np.lexsort((np.arange(brackets), -remainders))  # largest first, ties: lower bracket
    sizes[order[:configs - int(sizes.sum())]] += 1
    return [int(n) for n in sizes]


def assign_brackets(sizes: Sequence[int]) -> np.ndarray:
    """Each configuration's bracket, for a bucket's configurations in grid order: the
    ``j``-th configuration of bracket ``s`` (``j = 0 .. sizes[s] - 1``) is placed at
    ``(j + 1/2) / sizes[s]`` of the way through the bucket (ties: the lower bracket
    first), so that every bracket samples the whole grid, not one end of it."""
    places = np.concatenate([(np.arange(n) + 0.5) / n for n in sizes if n > 0] or [np.zeros(0)])
    brackets = np.repeat(np.arange(len(sizes)), sizes)
    return brackets[np.argsort(places, kind="stable")]


def survivors(values: np.ndarray, diverged: np.ndarray, eta: float, mode: str) -> np.ndarray:
    """The indices (ascending) of the best ``max(1, floor(n / eta))`` of ``values``:
    lowest first for ``mode="min"``, highest for ``"max"``; NaN, infinite and diverged
    last; ties by index."""
    keep = max(1, int(len(values) // eta))
    return np.sort(ranked(values, diverged, mode)[:keep])


def worth_compacting(remaining_steps: int, current: int, new: int,
                     seconds_per_config_step: float, compile_seconds: float) -> bool:
    """Whether gathering a slice of ``current`` configurations into one of ``new`` pays:
    the running time it saves over the ``remaining_steps`` (``remaining_steps * (current -
    new) * seconds_per_config_step``) exceeds what the new size costs to compile
    (``compile_seconds``: 0 when its programs are compiled already)."""
    return remaining_steps * (current - new) * seconds_per_config_step > compile_seconds


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


RUNG_CHECKPOINT = "rung/"
"""The prefix of the names of the arrays :func:`run_halving` hands ``save`` after a rung."""


def _never(*_: Any) -> None:
    """No checkpoint between a halved slice's rungs (``save`` takes one at each rung)."""


_never.every = math.inf


def run_halving(programs: Programs, part: Slice, halving: Halving, rungs: Sequence[int], *,
                chunk_seconds: float, progress: Callable, timings: dict, first_rung: int = 0,
                save: Optional[Callable[[dict], Any]] = None,
                resume: Optional[dict] = None) -> tuple:
    """Run one slice with successive halving from rung ``first_rung`` on (HyperBand's
    bracket ``first_rung``; 0: plain successive halving): ``(status, rows, final, rung)``
    of its real configurations in their order, host arrays (``rung``: the index in
    ``rungs`` of the rung that pruned one, else -1).  ``rungs``: :func:`rung_steps` of the
    bucket's budget.

    ``save``: called after each rung (after compaction) with host arrays, named under
    :data:`RUNG_CHECKPOINT`, that hold everything the slice needs to go on; ``resume``:
    such arrays from an earlier run of this slice (or None, or arrays without them: the
    slice starts from its first step), from which it goes on."""
    if resume is not None and f"{RUNG_CHECKPOINT}done" in resume:
        done, state, part, slots, live, pieces = _from_checkpoint(programs, resume, timings)
    else:
        done, state, slots, pieces = (first_rung, start_slice(programs, part, None, timings),
                                      np.arange(len(part.num_steps)), [])
        live = np.ones(part.size, bool)
    planned = planned_sizes(int(live.sum()), halving.eta, len(rungs) - 1 - done,
                            programs.mesh.devices.size, len(part.num_steps))
    ahead = programs.compile_ahead(part.hparams, planned if _compiles_ahead(programs, halving)
                                   else [])
    for index in range(done, len(rungs) - 1):
        step = rungs[index]
        block = step // programs.eval_every
        state = run_chunks(programs, part, state, until=block, chunk_seconds=chunk_seconds,
                           checkpoint=_never, progress=progress, timings=timings)
        if state.next_block < block:  # nothing left training
            break
        inside = np.flatnonzero(live)  # positions still being halved
        diverged = state.status[1][inside]
        values = to_host(state.rows[halving.metric])[inside, block]
        kept = np.zeros(len(inside), np.int32)
        kept[survivors(values, diverged, halving.eta, halving.mode)] = 1
        kept = np.asarray(from_writer(kept)).astype(bool)
        if not kept.all():
            pieces.append(_pruned(programs, part, state, slots, inside[~kept],
                                  step, index, timings))
            if _compacts(programs, halving, part, int(kept.sum()), rungs[-1] - step, timings):
                state, part, slots = _compact(programs, state, part, slots, inside[kept])
                live = np.ones(part.size, bool)
            else:  # the pruned keep their slots; their later rows are never read
                live[inside[~kept]] = False
                part = _spent(part, inside[~kept], step)
        if save is not None:
            save(_to_checkpoint(index + 1, state, part, slots, live, pieces))
    state = run_chunks(programs, part, state, until=programs.blocks, chunk_seconds=chunk_seconds,
                       checkpoint=_never, progress=progress, timings=timings)
    status, rows, final = finish_slice(programs, part, state, timings)
    ahead.exception()  # its compiles done (a rung that pruned nothing left one unused)
    real = np.flatnonzero(live)
    pieces.append(_Piece(slots[real], tuple(s[real] for s in status),
                         {k: v[real] for k, v in rows.items()},
                         {k: v[real] for k, v in final.items()}, np.full(len(real), -1)))
    return _merge(pieces)


def _spent(part: Slice, leaving: np.ndarray, step: int) -> Slice:
    """``part`` with the budgets of the configurations at ``leaving`` ended at ``step``
    on the host: they run on in their slots, but the chunks' bookkeeping (the
    configurations alive, stopping once none is) counts them done."""
    num_steps = part.num_steps.copy()
    num_steps[leaving] = np.minimum(num_steps[leaving], step)
    return part._replace(num_steps=num_steps)


def _compiles_ahead(programs: Programs, halving: Halving) -> bool:
    """Whether to compile the planned sizes in a thread: not on a CPU under ``"auto"``,
    where the thread takes cores from the chunks for sizes the rungs will likely skip."""
    return halving.compact == "always" or not programs.on_cpu


def _compacts(programs: Programs, halving: Halving, part: Slice, kept: int,
              remaining_steps: int, timings: dict) -> bool:
    """Whether to gather ``kept`` configurations of ``part`` into a smaller slice at a
    rung with ``remaining_steps`` to go: always under ``"always"``; under ``"auto"``
    where :func:`worth_compacting` says so, from this slice's chunks' measured speed and
    the measured compile time of the program it runs in now (a compile of another size
    costs about as much).  The writer's decision."""
    current = len(part.num_steps)
    new = compact_size(kept, programs.mesh.devices.size, current)
    if halving.compact == "always":
        return True
    steps = timings.get("config_steps", 0)
    per_config_step = timings.get("run_seconds", 0.0) / steps if steps else 0.0
    compile_seconds = 0.0 if programs.is_compiled(resized(part.hparams, new)) else \
        programs.compile_seconds(part.hparams) or 0.0
    worth = worth_compacting(remaining_steps, current, new, per_config_step, compile_seconds)
    return bool(from_writer(np.array([worth], np.int32))[0])


def _pruned(programs: Programs, part: Slice, state: Running, slots: np.ndarray,
            leaving: np.ndarray, step: int, index: int, timings: dict) -> _Piece:
    """The results of the configurations at ``leaving`` (positions in ``part``), which
    leave at rung ``index`` (``step`` steps): pruned there unless they had stopped already
    (diverged, stopped early, or their budget spent)."""
    status, rows, final = finish_slice(programs, part, state, timings)
    pruned = (status[0] & ~status[1] & (part.num_steps > step))[leaving]
    stop_step = np.where(pruned, step, status[2][leaving])
    return _Piece(slots=slots[leaving], status=(status[0][leaving], status[1][leaving], stop_step),
                  rows={k: v[leaving] for k, v in rows.items()},
                  final={k: v[leaving] for k, v in final.items()},
                  rung=np.where(pruned, index, -1))


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


def _joined(pieces: list) -> _Piece:
    """The pieces as one, in their order."""
    join = lambda arrays: np.concatenate(arrays)
    return _Piece(slots=join([p.slots for p in pieces]),
                  status=tuple(join([p.status[i] for p in pieces]) for i in range(3)),
                  rows={k: join([p.rows[k] for p in pieces]) for k in pieces[0].rows},
                  final={k: join([p.final[k] for p in pieces]) for k in pieces[0].final},
                  rung=join([p.rung for p in pieces]))


def _merge(pieces: list) -> tuple:
    """The pieces' results in the order of their slots (which cover ``0 .. n-1``)."""
    whole = _joined(pieces)
    order = np.argsort(whole.slots, kind="stable")
    return (tuple(s[order] for s in whole.status), {k: v[order] for k, v in whole.rows.items()},
            {k: v[order] for k, v in whole.final.items()}, whole.rung[order])


def _named(prefix: str, values: dict) -> dict:
    """``values`` as host arrays named ``RUNG_CHECKPOINT + prefix + name``."""
    return {f"{RUNG_CHECKPOINT}{prefix}{name}": to_host(value) for name, value in values.items()}


def _unnamed(arrays: dict, prefix: str) -> dict:
    """The arrays of :func:`_named`'s ``prefix``, by their names."""
    prefix = RUNG_CHECKPOINT + prefix
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _to_checkpoint(done: int, state: Running, part: Slice, slots: np.ndarray, live: np.ndarray,
                   pieces: list) -> dict:
    """What a slice being halved needs to go on after ``done`` rungs: its state (carry,
    rows, next block, chunk length, status), the slice (compacted or not: host
    hyperparameters, real size, budgets), its slots, which of them are still being halved
    (``live``: where a rung did not compact, the pruned keep their slots), and the results
    of the configurations it pruned."""
    leaves = jax.tree_util.tree_leaves(state.carry)
    arrays = _named("", {"done": done, "next_block": state.next_block,
                         "blocks_per_chunk": state.blocks_per_chunk, "size": part.size,
                         "num_steps": part.num_steps, "slots": slots,
                         "live": live})
    arrays.update(_named("carry/", dict(enumerate(leaves))))
    arrays.update(_named("rows/", state.rows))
    arrays.update(_named("status/", dict(enumerate(state.status))))
    arrays.update(_named("hparams/", part.host))
    if pieces:
        pruned = _joined(pieces)
        arrays.update(_named("pruned/", {"slots": pruned.slots, "rung": pruned.rung}))
        arrays.update(_named("pruned/status/", dict(enumerate(pruned.status))))
        arrays.update(_named("pruned/rows/", pruned.rows))
        arrays.update(_named("pruned/final/", pruned.final))
    return arrays


def _from_checkpoint(programs: Programs, arrays: dict, timings: dict) -> tuple:
    """``(done, state, part, slots, live, pieces)`` from :func:`_to_checkpoint`'s arrays, the
    state on the devices (its chunk program compiled)."""
    saved = _unnamed(arrays, "")
    host = _unnamed(arrays, "hparams/")
    part = Slice(shard(host, programs.mesh), int(saved["size"]), saved["num_steps"], host)
    carry = _unnamed(arrays, "carry/")
    resume = {"carry": [carry[str(i)] for i in range(len(carry))],
              "rows": _unnamed(arrays, "rows/"), "next_block": saved["next_block"]}
    status = _unnamed(arrays, "status/")
    state = start_slice(programs, part, resume, timings)._replace(
        blocks_per_chunk=int(saved["blocks_per_chunk"]),
        status=tuple(status[str(i)] for i in range(3)))
    pieces = []
    if f"{RUNG_CHECKPOINT}pruned/slots" in arrays:
        pruned = _unnamed(arrays, "pruned/status/")
        pieces.append(_Piece(slots=saved["pruned/slots"], rung=saved["pruned/rung"],
                             status=tuple(pruned[str(i)] for i in range(3)),
                             rows=_unnamed(arrays, "pruned/rows/"),
                             final=_unnamed(arrays, "pruned/final/")))
    live = saved["live"].astype(bool) if "live" in saved else np.ones(part.size, bool)
    return int(saved["done"]), state, part, saved["slots"], live, pieces
