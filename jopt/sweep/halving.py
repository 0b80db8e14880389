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

Slices.  Each rung ranks all of a bucket's configurations, whatever the slices it runs
in (memory slices, or on a CPU :func:`halving_slice_size`'s): the slices train to the
rung one after another, then the survivors of all of them are gathered through the host
into as few slices as hold them, of the same size (no compile), or of a compacted size
where that pays.  Off a CPU the slices that are not training wait on the host
(:func:`parks`), so that the devices hold one slice at a time, as the memory plan
assumed.

The ranking and the decision to compact are the writer's
(:func:`~jopt.sweep.processes.from_writer`).  Checkpoints: the halving hands its caller,
after each rung (after compaction), everything it needs to go on (per slice, under
``m<i>/``: the carry, rows, status, slots, which slots are still live, the
hyperparameters and budgets; and the pruned configurations' results so far: arrays named
under :data:`RUNG_CHECKPOINT`); given those arrays back, :func:`run_halving` continues
from that rung, with results equal to an uninterrupted run's.  Under ``jax.distributed``
every process builds those arrays (gathering the shards of every process's devices: a
collective) and calls ``save``, and the runner's writer writes them; a resume goes on from
the writer's arrays, the same on every process
(:func:`~jopt.sweep.processes.arrays_from_writer`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import numpy as np

from jopt.sweep.engine import (Programs, Running, Slice, even_slice_size, finish_slice, pad,
                               resized, run_chunks, start_slice)
from jopt.sweep.processes import from_writer, shard, to_host
from jopt.sweep.search import check_ranking, ranked

__all__ = ["Halving", "COMPACT", "worth_compacting", "rung_steps", "survivors", "compact_size",
           "halving_slice_size", "slice_steps", "planned_sizes", "parks", "checkpoint_configs",
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


def halving_slice_size(configs: int, eta: float, n_devices: int, most: int) -> int:
    """The slice size of ``configs`` configurations halved on a CPU: about that of the
    first rung's survivors (:func:`compact_size`), halved while above ``most`` (the
    cache's size, :func:`~jopt.sweep.engine.cache_slice_size`) so that the survivors
    still fill whole slices, the slices made even
    (:func:`~jopt.sweep.engine.even_slice_size`).  A CPU program's speed per
    configuration does not grow with its width, so the first rung trains the slices one
    after another, and from then on the survivors fill whole slices: one program size,
    where running them all at once would compile a second for the survivors."""
    size = compact_size(max(1, int(configs // eta)), n_devices, configs + n_devices)
    while size > most and size // 2 >= n_devices:
        size //= 2
    return even_slice_size(configs, size, n_devices)


def slice_steps(configs: int, slice_size: int, eta: float, rungs: Sequence[int],
                first_rung: int = 0) -> int:
    """The steps the slices of ``configs`` halved configurations run, one slice after
    another (what a progress bar counts): between rungs, the steps times the slices of
    ``slice_size`` the configurations still in fill, each rung keeping
    ``max(1, floor(n / eta))`` (as if none stopped early or diverged)."""
    steps, previous = 0, 0
    for step in rungs[first_rung:]:
        steps += math.ceil(configs / slice_size) * (step - previous)
        previous, configs = step, max(1, int(configs // eta))
    return steps


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


class _Member(NamedTuple):
    """One slice of the configurations being halved together: the slice, its state
    (carry and rows on the devices, or on the host while :func:`_parked`), each slot's
    position among the configurations (``slots``; a padding slot repeats the last real
    one) and which of its real slots are still being halved (``live``)."""

    part: Slice
    state: Running
    slots: np.ndarray
    live: np.ndarray


def run_halving(programs: Programs, parts: Sequence[Slice], halving: Halving,
                rungs: Sequence[int], *, chunk_seconds: float, progress: Callable,
                timings: dict, first_rung: int = 0, save: Optional[Callable[[dict], Any]] = None,
                resume: Optional[dict] = None) -> tuple:
    """Successive halving of the configurations of ``parts`` (a bucket's slices, all of
    one program size, in order) from rung ``first_rung`` on (HyperBand's bracket
    ``first_rung``; 0: plain successive halving): ``(status, rows, final, rung)`` of their
    real configurations in order, host arrays (``rung``: the index in ``rungs`` of the
    rung that pruned one, else -1).  ``rungs``: :func:`rung_steps` of the bucket's budget.

    Each rung ranks every configuration of every slice: the slices train to it one after
    another, then the survivors are gathered into as few slices as hold them (through the
    host; a size smaller than the slices' only where :func:`worth_compacting` or
    ``compact="always"`` says so).  Off a CPU, a slice that is not training waits on the
    host, so the devices hold one slice at a time, as the memory plan assumed.

    ``save``: called after each rung (after compaction) with host arrays, named under
    :data:`RUNG_CHECKPOINT`, that hold everything needed to go on (on every process of a
    ``jax.distributed`` run: taking them gathers the shards of every process); ``resume``:
    such arrays from an earlier run (or None, or arrays without them: training starts
    from the first step), from which it goes on (the same arrays on every process)."""
    configs = sum(part.size for part in parts)
    if resume is not None and checkpoint_configs(resume) == configs:
        done, members, pieces = _from_checkpoint(programs, resume, timings)
    else:  # none, or one of other slices (an earlier jopt halved each slice on its own)
        done, members, pieces = first_rung, _start(programs, parts, timings), []
    size = len(members[0].part.num_steps)
    planned = planned_sizes(sum(int(m.live.sum()) for m in members), halving.eta,
                            len(rungs) - 1 - done, programs.mesh.devices.size, size)
    ahead = programs.compile_ahead(members[0].part.hparams,
                                   planned if _compiles_ahead(programs, halving) else [])
    for index in range(done, len(rungs) - 1):
        step = rungs[index]
        block = step // programs.eval_every
        park = parks(programs, len(members))
        members = [_trained(programs, m, block, park, chunk_seconds, progress, timings)
                   for m in members]
        if all(m.state.next_block < block for m in members):  # nothing left training
            break
        kept = _ranked_survivors(members, halving, block)
        if not all(k.all() for k in kept):
            pieces += [_pruned(programs, m, m.live.nonzero()[0][~k], step, index, timings)
                       for m, k in zip(members, kept) if not k.all()]
            members = _regrouped(programs, halving, members, kept, step, rungs[-1] - step, park,
                                 timings)
        if save is not None:
            save(_to_checkpoint(index + 1, members, pieces))
    for member in members:  # one at a time: parked members stay on the host until theirs
        member = _trained(programs, member, programs.blocks, False, chunk_seconds, progress,
                          timings)
        status, rows, final = finish_slice(programs, member.part, member.state, timings)
        real = np.flatnonzero(member.live)
        pieces.append(_Piece(member.slots[real], tuple(s[real] for s in status),
                             {k: v[real] for k, v in rows.items()},
                             {k: v[real] for k, v in final.items()}, np.full(len(real), -1)))
    ahead.exception()  # its compiles done (a rung that pruned nothing left one unused)
    return _merge(pieces)


def parks(programs: Programs, members: int) -> bool:
    """Whether ``members`` members wait on the host while another trains: where there
    are several, off a CPU (on a CPU the devices' memory is the host's)."""
    return members > 1 and not programs.on_cpu


def _start(programs: Programs, parts: Sequence[Slice], timings: dict) -> list:
    """The members of ``parts`` from their first step (parked, where :func:`parks`), their
    slots numbered in order."""
    park = parks(programs, len(parts))
    members, first = [], 0
    for part in parts:
        padded = len(part.num_steps)
        slots = first + np.minimum(np.arange(padded), part.size - 1)
        state = start_slice(programs, part, None, timings)
        members.append(_Member(part, _parked(state) if park else state, slots,
                               np.ones(part.size, bool)))
        first += part.size
    return members


def _parked(state: Running) -> Running:
    """``state`` with its carry and rows copied to the host (the devices' freed)."""
    host = lambda tree: jax.tree_util.tree_map(to_host, tree)
    return state._replace(carry=host(state.carry), rows=host(state.rows))


def _on_devices(programs: Programs, state: Running) -> Running:
    """``state`` with its carry and rows on the devices (a no-op where they are)."""
    if isinstance(jax.tree_util.tree_leaves(state.carry)[0], jax.Array):
        return state
    return state._replace(carry=shard(state.carry, programs.mesh),
                          rows=shard(state.rows, programs.mesh))


def _trained(programs: Programs, member: _Member, until: int, park: bool,
             chunk_seconds: float, progress: Callable, timings: dict) -> _Member:
    """``member`` trained to evaluation block ``until`` (parked after, with ``park``)."""
    state = run_chunks(programs, member.part, _on_devices(programs, member.state), until=until,
                       chunk_seconds=chunk_seconds, checkpoint=_never, progress=progress,
                       timings=timings)
    return member._replace(state=_parked(state) if park else state)


def _ranked_survivors(members: list, halving: Halving, block: int) -> list:
    """For each member, which of its live slots go on from the rung at evaluation
    ``block``: the best of all members' live slots together (the writer's choice)."""
    inside = [np.flatnonzero(m.live) for m in members]
    values = np.concatenate([to_host(m.state.rows[halving.metric])[i, block]
                             for m, i in zip(members, inside)])
    diverged = np.concatenate([m.state.status[1][i] for m, i in zip(members, inside)])
    kept = np.zeros(len(values), np.int32)
    kept[survivors(values, diverged, halving.eta, halving.mode)] = 1
    kept = np.asarray(from_writer(kept)).astype(bool)
    return np.split(kept, np.cumsum([len(i) for i in inside])[:-1])


def _regrouped(programs: Programs, halving: Halving, members: list, kept: list, step: int,
               remaining_steps: int, park: bool, timings: dict) -> list:
    """The members after a rung that pruned some: one slice as before, compacted where
    that pays, else with the pruned left in their slots (no longer live); several
    slices, their survivors gathered through the host into as few slices as hold them."""
    survivors_left = sum(int(k.sum()) for k in kept)
    if len(members) == 1:
        (member,), (keep,) = members, kept
        inside = np.flatnonzero(member.live)
        if _compacts(programs, halving, member.part, survivors_left, remaining_steps, timings):
            state, part, slots = _compact(programs, member.state, member.part, member.slots,
                                          inside[keep])
            return [_Member(part, state, slots, np.ones(part.size, bool))]
        live = member.live.copy()  # the pruned keep their slots; their later rows are unread
        live[inside[~keep]] = False
        return [member._replace(part=_spent(member.part, inside[~keep], step), live=live)]
    size = len(members[0].part.num_steps)
    if survivors_left <= size and _compacts(programs, halving, members[0].part, survivors_left,
                                            remaining_steps, timings):
        size = compact_size(survivors_left, programs.mesh.devices.size, size)
    chosen = [np.flatnonzero(m.live)[k] for m, k in zip(members, kept)]
    return _gathered(programs, members, chosen, size, park)


def _gathered(programs: Programs, members: list, chosen: list, size: int, park: bool) -> list:
    """The slots ``chosen`` of each member (positions in its slice), gathered on the host
    into slices of ``size`` (the last padded with its last configuration)."""
    take = lambda tree, rows: jax.tree_util.tree_map(lambda v: np.take(to_host(v), rows, axis=0),
                                                     tree)
    joined = lambda trees: jax.tree_util.tree_map(lambda *v: np.concatenate(v), *trees)
    carry = joined([take(m.state.carry, c) for m, c in zip(members, chosen)])
    rows = joined([take(m.state.rows, c) for m, c in zip(members, chosen)])
    host = joined([take(m.part.host, c) for m, c in zip(members, chosen)])
    num_steps = np.concatenate([m.part.num_steps[c] for m, c in zip(members, chosen)])
    slots = np.concatenate([m.slots[c] for m, c in zip(members, chosen)])
    status = tuple(np.concatenate([m.state.status[i][c] for m, c in zip(members, chosen)])
                   for i in range(3))
    first = members[0].state
    regrouped = []
    for start in range(0, len(slots), size):
        real = min(size, len(slots) - start)
        rows_here = pad(np.arange(start, start + real), size)
        host_here = take(host, rows_here)
        part = Slice(shard(host_here, programs.mesh), real, num_steps[rows_here], host_here)
        state = Running(take(carry, rows_here), take(rows, rows_here),
                        max(m.state.next_block for m in members), first.blocks_per_chunk,
                        tuple(s[rows_here] for s in status))
        state = state if park else _on_devices(programs, state)
        regrouped.append(_Member(part, state, slots[rows_here], np.ones(real, bool)))
    return regrouped


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


def _pruned(programs: Programs, member: _Member, leaving: np.ndarray, step: int, index: int,
            timings: dict) -> _Piece:
    """The results of the configurations at ``leaving`` (positions in ``member``'s slice),
    which leave at rung ``index`` (``step`` steps): pruned there unless they had stopped
    already (diverged, stopped early, or their budget spent)."""
    part = member.part
    status, rows, final = finish_slice(programs, part, _on_devices(programs, member.state),
                                       timings)
    pruned = (status[0] & ~status[1] & (part.num_steps > step))[leaving]
    stop_step = np.where(pruned, step, status[2][leaving])
    return _Piece(slots=member.slots[leaving],
                  status=(status[0][leaving], status[1][leaving], stop_step),
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


def _to_checkpoint(done: int, members: list, pieces: list) -> dict:
    """What the halving needs to go on after ``done`` rungs: each member's state (carry,
    rows, next block, chunk length, status), slice (host hyperparameters, real size,
    budgets), slots and live slots, under ``m<i>/``, and the results of the configurations
    pruned so far."""
    arrays = _named("", {"done": done, "members": len(members)})
    for i, member in enumerate(members):
        state, part = member.state, member.part
        prefix = f"m{i}/"
        arrays.update(_named(prefix, {"next_block": state.next_block,
                                      "blocks_per_chunk": state.blocks_per_chunk,
                                      "size": part.size, "num_steps": part.num_steps,
                                      "slots": member.slots, "live": member.live}))
        leaves = jax.tree_util.tree_leaves(state.carry)
        arrays.update(_named(prefix + "carry/", dict(enumerate(leaves))))
        arrays.update(_named(prefix + "rows/", state.rows))
        arrays.update(_named(prefix + "status/", dict(enumerate(state.status))))
        arrays.update(_named(prefix + "hparams/", part.host))
    if pieces:
        pruned = _joined(pieces)
        arrays.update(_named("pruned/", {"slots": pruned.slots, "rung": pruned.rung}))
        arrays.update(_named("pruned/status/", dict(enumerate(pruned.status))))
        arrays.update(_named("pruned/rows/", pruned.rows))
        arrays.update(_named("pruned/final/", pruned.final))
    return arrays


def checkpoint_configs(arrays: dict) -> int:
    """How many configurations a rung checkpoint (:func:`run_halving`'s ``save``) covers:
    those still being halved and those pruned (0 for arrays without one)."""
    saved = _unnamed(arrays, "")
    if "done" not in saved:
        return 0
    prefixes = [f"m{i}/" for i in range(int(saved["members"]))] if "members" in saved else [""]
    live = sum(int(np.sum(saved[prefix + "live"])) if prefix + "live" in saved
               else int(saved[prefix + "size"]) for prefix in prefixes)
    return live + len(saved.get("pruned/slots", ()))


def _member_from(programs: Programs, arrays: dict, prefix: str, park: bool,
                 timings: dict) -> _Member:
    """One member of :func:`_to_checkpoint`'s arrays (its names under ``prefix``), its
    state on the devices (its chunk program compiled), or on the host with ``park``."""
    saved = _unnamed(arrays, prefix)
    host = _unnamed(arrays, prefix + "hparams/")
    part = Slice(shard(host, programs.mesh), int(saved["size"]), saved["num_steps"], host)
    carry = _unnamed(arrays, prefix + "carry/")
    resume = {"carry": [carry[str(i)] for i in range(len(carry))],
              "rows": _unnamed(arrays, prefix + "rows/"), "next_block": saved["next_block"]}
    status = _unnamed(arrays, prefix + "status/")
    if park:
        template, _ = programs.state_shapes(part.hparams)
        state = Running(jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template),
                                                     resume["carry"]),
                        resume["rows"], int(saved["next_block"]))
    else:
        state = start_slice(programs, part, resume, timings)
    state = state._replace(blocks_per_chunk=int(saved["blocks_per_chunk"]),
                           status=tuple(status[str(i)] for i in range(3)))
    live = saved["live"].astype(bool) if "live" in saved else np.ones(part.size, bool)
    return _Member(part, state, saved["slots"], live)


def _from_checkpoint(programs: Programs, arrays: dict, timings: dict) -> tuple:
    """``(done, members, pieces)`` from :func:`_to_checkpoint`'s arrays (or those of a
    single slice, saved before there were members: its names without ``m0/``)."""
    saved = _unnamed(arrays, "")
    prefixes = [f"m{i}/" for i in range(int(saved["members"]))] if "members" in saved else [""]
    park = parks(programs, len(prefixes))
    members = [_member_from(programs, arrays, prefix, park, timings) for prefix in prefixes]
    pieces = []
    if f"{RUNG_CHECKPOINT}pruned/slots" in arrays:
        pruned = _unnamed(arrays, "pruned/status/")
        pieces.append(_Piece(slots=saved["pruned/slots"], rung=saved["pruned/rung"],
                             status=tuple(pruned[str(i)] for i in range(3)),
                             rows=_unnamed(arrays, "pruned/rows/"),
                             final=_unnamed(arrays, "pruned/final/")))
    return int(saved["done"]), members, pieces
