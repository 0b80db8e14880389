"""A slice whose hyperparameters change at given steps, inside its compiled program:
population-based training (:class:`~jopt.sweep.pbt.PBT`: at each exploit step the worst
configurations copy the state of the best and perturb their values) and a replay of one
configuration's schedule (:class:`~jopt.sweep.pbt.Replay`: the values change, the state
stays).

The slice trains chunk by chunk up to each change step (its row evaluated), then the
carry is gathered along the configuration axis (:attr:`~jopt.sweep.engine.Programs.gather`,
successive halving's compaction: jitted, or on a CPU through the host) and the new
values are put on the devices; the chunk program is the same (hyperparameters are
data): nothing recompiles.

The population state (:class:`Population`: the current values, the rounds done and the
exploit events) travels with every checkpoint of the slice, so a resume continues from
the last one and redraws a round it had not saved identically (the draws are keyed by the
round, :func:`~jopt.sweep.pbt.round_rng`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence, Union

import numpy as np

from jopt.sweep.engine import Programs, Running, Slice, finish_slice, run_chunks, start_slice
from jopt.sweep.pbt import PBT, Replay, exploit_pairs, explore, round_rng
from jopt.sweep.processes import from_writer, shard, to_host

__all__ = ["Population", "run_population", "population_arrays", "population_from_arrays",
           "PREFIX"]

PREFIX = "population/"
"""The prefix of the population's arrays in a slice's checkpoint."""


class Population(NamedTuple):
    """A slice's changing part: the traced values now (``host``, padded host arrays), the
    budgets in steps, how many change rounds are done, and the exploit events so far
    (dicts: ``step``, ``config`` and ``parent`` as slots of the slice, ``hparams``)."""

    host: dict
    num_steps: np.ndarray
    rounds: int
    events: list


def run_population(programs: Programs, part: Slice, policy: Union[PBT, Replay], steps: Sequence[int],
                   *, resume: Optional[tuple], checkpoint: Callable, chunk_seconds: float,
                   progress: Callable, timings: dict, rng_key: tuple = (0, 0),
                   axes: Optional[dict] = None, accepts: Optional[Callable] = None) -> tuple:
    """Run one slice with ``policy``'s changes at ``steps`` (multiples of ``eval_every``):
    ``(status, rows, final, population)``, host arrays.

    ``resume``: ``(checkpoint dict, Population)`` or None; ``checkpoint(carry, rows,
    next_block, population)`` saves (its ``every``: seconds between saves); ``rng_key``:
    ``(bucket, slice)`` for :func:`~jopt.sweep.pbt.round_rng`; ``axes``: each perturbed
    axis (a distribution or a list); ``accepts``: which explored configurations (name ->
    array of values) the optimizer accepts; a refused one keeps its parent's values."""
    saved, population = resume if resume is not None else (None, None)
    state = start_slice(programs, part, saved, timings)
    if population is None:
        population = Population(host={k: np.array(v) for k, v in part.host.items()},
                                num_steps=part.num_steps.copy(), rounds=0, events=[])
    part = _with_population(programs, part, population)
    for index, step in enumerate(steps):
        if index < population.rounds:
            continue
        block = step // programs.eval_every
        state = run_chunks(programs, part, state, until=block, chunk_seconds=chunk_seconds,
                           checkpoint=_saver(checkpoint, population), progress=progress,
                           timings=timings)
        if state.next_block < block:  # nothing left training
            break
        if isinstance(policy, PBT):
            state, population = _exploit(programs, part, state, population, policy, step,
                                         round_rng(policy.seed, *rng_key, index), axes or {},
                                         accepts)
        else:
            population = _replace_values(population, policy.values[index + 1])
        part = _with_population(programs, part, population)
    state = run_chunks(programs, part, state, until=programs.blocks, chunk_seconds=chunk_seconds,
                       checkpoint=_saver(checkpoint, population), progress=progress,
                       timings=timings)
    return (*finish_slice(programs, part, state, timings), population)


def _saver(checkpoint: Callable, population: Population) -> Callable:
    def save(carry, rows, next_block):
        checkpoint(carry, rows, next_block, population)
    save.every = checkpoint.every
    return save


def _with_population(programs: Programs, part: Slice, population: Population) -> Slice:
    """``part`` training with the population's values and budgets."""
    return part._replace(hparams=shard(population.host, programs.mesh),
                         num_steps=population.num_steps, host=population.host)


def _status(programs: Programs, state: Running) -> tuple:
    """The slice's (active, diverged, stop_step), also when no chunk ran (a resume at a
    change step)."""
    if state.status is not None:
        return state.status
    return tuple(map(to_host, programs.status(state.carry)))


def _exploit(programs: Programs, part: Slice, state: Running, population: Population,
             policy: PBT, step: int, rng: np.random.Generator, axes: dict,
             accepts: Optional[Callable]) -> tuple:
    """One exploit round at ``step``: ``(state, population)`` after the worst members copied
    the best ones' state and values and perturbed them (a perturbation ``accepts`` refuses
    is undone: that member keeps its parent's values)."""
    real = part.size
    status = _status(programs, state)
    values = to_host(state.rows[policy.metric])[:real, step // programs.eval_every]
    children, parents = exploit_pairs(values, status[1][:real], policy.quantile, policy.mode, rng)
    children, parents = (np.asarray(a) for a in from_writer((children, parents)))
    if len(children) == 0:
        return state._replace(status=status), population._replace(rounds=population.rounds + 1)
    source = np.arange(len(population.num_steps))
    source[children] = parents
    carry = programs.gather(state.carry, source.astype(np.int32))
    host = {k: v[source] for k, v in population.host.items()}
    perturbed = explore({name: host[name][children] for name in axes}, axes, policy, rng)
    for name, new in perturbed.items():
        host[name][children] = np.asarray(new).astype(host[name].dtype)
    if accepts is not None and perturbed:
        refused = ~accepts({k: v[children] for k, v in host.items()})
        for name in perturbed:
            host[name][children[refused]] = population.host[name][parents[refused]]
    events = population.events + [
        {"step": int(step), "config": int(child), "parent": int(parent),
         "hparams": {k: v[child].item() for k, v in host.items()}}
        for child, parent in zip(children, parents)]
    state = state._replace(carry=carry, status=tuple(s[source] for s in status))
    return state, Population(host=host, num_steps=population.num_steps[source],
                             rounds=population.rounds + 1, events=events)


def _replace_values(population: Population, values: dict) -> Population:
    """A replay's change: every configuration takes ``values`` (the state stays)."""
    host = {k: np.full_like(v, values[k]) if k in values else v for k, v in population.host.items()}
    return population._replace(host=host, rounds=population.rounds + 1)


def population_arrays(population: Population) -> dict:
    """The population as checkpoint arrays (under :data:`PREFIX`)."""
    arrays = {f"{PREFIX}host/{k}": v for k, v in population.host.items()}
    arrays[f"{PREFIX}num_steps"] = population.num_steps
    arrays[f"{PREFIX}rounds"] = np.asarray(population.rounds)
    events = population.events
    arrays[f"{PREFIX}events/step"] = np.asarray([e["step"] for e in events], np.int64)
    arrays[f"{PREFIX}events/config"] = np.asarray([e["config"] for e in events], np.int64)
    arrays[f"{PREFIX}events/parent"] = np.asarray([e["parent"] for e in events], np.int64)
    for name, values in population.host.items():
        arrays[f"{PREFIX}events/hparams/{name}"] = np.asarray(
            [e["hparams"][name] for e in events], values.dtype)
    return arrays


def population_from_arrays(arrays: dict) -> Optional[Population]:
    """The population a checkpoint holds, or None (a checkpoint without one)."""
    if f"{PREFIX}rounds" not in arrays:
        return None
    def part(kind: str) -> dict:
        prefix = f"{PREFIX}{kind}/"
        return {k[len(prefix):]: np.array(v) for k, v in arrays.items() if k.startswith(prefix)}
    host, hparams = part("host"), part("events/hparams")
    steps, configs, parents = (arrays[f"{PREFIX}events/{k}"] for k in ("step", "config", "parent"))
    events = [{"step": int(steps[i]), "config": int(configs[i]), "parent": int(parents[i]),
               "hparams": {k: v[i].item() for k, v in hparams.items()}}
              for i in range(len(steps))]
    return Population(host=host, num_steps=np.array(arrays[f"{PREFIX}num_steps"]),
                      rounds=int(arrays[f"{PREFIX}rounds"]), events=events)
