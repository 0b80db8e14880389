"""Population-based training: the policy (which members copy which, how they perturb) and
the lineage it leaves.  The loop that applies it inside a sweep's program is
:mod:`jopt.sweep.population`.

PBT (Jaderberg et al., 2017, "Population Based Training of Neural Networks",
arXiv:1711.09846), with the defaults of Ray Tune's ``PopulationBasedTraining``: every
``interval`` steps (from ``burn_in`` on) the configurations of a slice are ranked by
``metric``; each of the worst ``ceil(quantile * n)`` (at most half) copies the whole state
of one of the best ``ceil(quantile * n)``, drawn uniformly (*exploit*): parameters,
optimizer state, step counters, data order, early-stopping state and hyperparameters;
then it perturbs each hyperparameter in ``hyperparameters`` (*explore*):

- with probability ``resample_probability`` a fresh draw from its axis (a sampled axis's
  distribution; a grid axis's list, uniformly);
- else a factor drawn uniformly from ``factors``: a ``uniform``/``loguniform`` axis is
  multiplied by it and clipped to [low, high), its draws' interval (``high`` excluded as
  the program holds the value, in float32: ``b1`` of ``uniform(0.8, 1.0)`` stays below
  1), an ``int`` (or ``logint``) axis multiplied, rounded and clipped to [low, high]; a
  ``choice`` or a grid list moves one place up the list (factor > 1), down (< 1) or stays
  (= 1), clipped at the ends (Ray Tune shifts by a random +-1).

Every value stays in the search space.  A perturbed configuration whose optimizer refuses
its values (a value its axis allows but the optimizer does not, or a combination such as
``decay_steps <= warmup_steps``) keeps its parent's values instead: nothing the sweep's
check would refuse reaches the compiled program.  Ranked
worst, whatever their metric: NaN or infinite values and diverged configurations (a
diverged member is replaced by a copy of a good one).  Hyperparameters are data in the
compiled program: nothing recompiles.

Because the copy is the whole state (the data order included), a member's final weights
are exactly what one training run from its root ancestor's initial state would give
with the hyperparameters changed at the exploit steps: :func:`schedule_rows` lists that
piecewise-constant schedule and :func:`jopt.sweep.replay` retrains it from scratch.

The random draws of exploit round ``r`` of slice ``s`` of bucket ``b`` come from
``numpy.random.default_rng([seed, b, s, r])``: a resumed run redraws them identically.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from jopt.sweep.search import (Choice, Distribution, LogUniform, RandInt, Uniform,
                              check_ranking, ranked)

__all__ = ["PBT", "Replay", "UNPERTURBED", "exploit_steps", "exploit_pairs", "explore",
           "perturbable", "round_rng", "schedule_rows"]

UNPERTURBED = ("seed", "batch_size")
"""Traced axes that PBT never perturbs by default: the seed only chooses the initial state,
and the batch size changes how steps count."""


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


class PBT(NamedTuple):
    """Population-based training (see :mod:`jopt.sweep.pbt`): every ``interval`` steps
    (rounded up to the budget's ``eval_every``) from ``burn_in`` on, the worst
    ``quantile`` of a slice's configurations by ``metric`` (``mode`` ``"min"`` or
    ``"max"``) copy the state of the best ``quantile`` and perturb ``hyperparameters``
    (default: every traced axis but the seed and the batch size).  ``quantile = 0``
    exploits nobody: the plain sweep, in PBT's intervals."""

    interval: int
    metric: str = "val_loss"
    mode: str = "min"
    quantile: float = 0.25
    resample_probability: float = 0.25
    factors: tuple = (1.2, 0.8)
    burn_in: int = 0
    hyperparameters: Optional[tuple] = None
    seed: int = 0

    def check(self, steps: Optional[int] = None) -> "PBT":
        """``self``, or a ValueError naming the field and the value."""
        if not _is_int(self.interval) or self.interval < 1:
            raise ValueError(f"pbt.interval must be a positive integer (steps), got {self.interval!r}")
        if steps is not None and self.interval >= steps:
            raise ValueError(f"pbt.interval = {self.interval} is not shorter than the budget "
                             f"({steps} steps): no exploit would happen")
        if not _is_int(self.burn_in) or self.burn_in < 0:
            raise ValueError(f"pbt.burn_in must be a non-negative integer (steps), got {self.burn_in!r}")
        if steps is not None and self.burn_in >= steps:
            raise ValueError(f"pbt.burn_in = {self.burn_in} is not shorter than the budget "
                             f"({steps} steps)")
        if not _is_number(self.quantile) or not 0 <= self.quantile <= 0.5:
            raise ValueError(f"pbt.quantile must be in [0, 0.5] (0: no exploitation), "
                             f"got {self.quantile!r}")
        if not _is_number(self.resample_probability) or not 0 <= self.resample_probability <= 1:
            raise ValueError(f"pbt.resample_probability must be in [0, 1], "
                             f"got {self.resample_probability!r}")
        factors = self.factors
        if isinstance(factors, (str, bytes)) or not isinstance(factors, Sequence) or not factors \
                or not all(_is_number(f) and f > 0 for f in factors):
            raise ValueError(f"pbt.factors must be a non-empty list of positive numbers, got {factors!r}")
        check_ranking("pbt", self.metric, self.mode)
        names = self.hyperparameters
        if names is not None and (isinstance(names, (str, bytes)) or not isinstance(names, Sequence)
                                  or not all(isinstance(n, str) for n in names)):
            raise ValueError(f"pbt.hyperparameters must be a list of axis names, got {names!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ValueError(f"pbt.seed must be a non-negative integer, got {self.seed!r}")
        return self

    def settings(self) -> dict:
        """JSON-ready, for the spec and the manifest."""
        return {**self._asdict(), "factors": [float(f) for f in self.factors],
                "hyperparameters": None if self.hyperparameters is None else list(self.hyperparameters)}


class Replay(NamedTuple):
    """A hyperparameter schedule to train one configuration with (:func:`jopt.sweep.replay`):
    from ``steps[i]`` on, the traced hyperparameters ``values[i]`` (``steps[0] == 0``)."""

    steps: tuple
    values: tuple

    def settings(self) -> dict:
        return {"steps": [int(s) for s in self.steps],
                "values": [{k: float(v) for k, v in row.items()} for row in self.values]}


def perturbable(pbt: PBT, traced: Sequence[str], static: Sequence[str]) -> list[str]:
    """The axes ``pbt`` perturbs: its ``hyperparameters``, each a traced axis (one line
    naming a static or unknown one), or every traced axis but :data:`UNPERTURBED`."""
    if pbt.hyperparameters is None:
        names = [name for name in traced if name not in UNPERTURBED]
        if not names:
            raise ValueError("pbt: the grid has no traced hyperparameter to perturb "
                             f"(traced axes: {', '.join(traced) or 'none'})")
        return names
    for name in pbt.hyperparameters:
        if name in static:
            raise ValueError(f"pbt.hyperparameters: {name!r} is a static axis (one compiled "
                             "program per value); only traced axes can be perturbed")
        if name == "batch_size":
            raise ValueError("pbt.hyperparameters: 'batch_size' changes how steps count; "
                             "it cannot be perturbed")
        if name not in traced:
            raise ValueError(f"pbt.hyperparameters: {name!r} is not an axis of the grid "
                             f"(traced axes: {', '.join(traced)})")
    return list(pbt.hyperparameters)


def exploit_steps(pbt: PBT, steps: int, eval_every: int) -> list[int]:
    """The steps of the exploit rounds: multiples of the interval (rounded up to
    ``eval_every``) from ``burn_in`` on, before ``steps``."""
    interval = math.ceil(pbt.interval / eval_every) * eval_every
    return [t for t in range(interval, steps, interval) if t >= pbt.burn_in]


def round_rng(seed: int, bucket: int, part: int, round_index: int) -> np.random.Generator:
    """The random numbers of one exploit round (see the module's docstring)."""
    return np.random.default_rng([seed, bucket, part, round_index])


def exploit_pairs(values: np.ndarray, diverged: np.ndarray, quantile: float, mode: str,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(children, parents)``: the worst ``ceil(quantile * n)`` (at most ``n // 2``) of
    ``values``, ascending, and for each a parent drawn uniformly from the best as many.
    NaN, infinite and diverged rank worst; ties by index."""
    n = len(values)
    count = 0 if quantile == 0 else min(math.ceil(quantile * n), n // 2)
    if count == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = ranked(values, diverged, mode)
    best, worst = order[:count], np.sort(order[n - count:])
    return worst, best[rng.integers(count, size=count)]


def explore(current: Mapping[str, np.ndarray], axes: Mapping[str, Any], pbt: PBT,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each child's perturbed values: ``current`` maps each perturbed axis to the copied
    values (one per child), ``axes`` to the axis (a :class:`~jopt.sweep.search.Distribution`
    or a grid axis's list).  Draws child by child, axis by axis, in order."""
    names = list(current)
    children = len(next(iter(current.values()))) if names else 0
    out = {name: np.array(current[name], copy=True) for name in names}
    for child in range(children):
        for name in names:
            value = out[name][child].item()
            if rng.random() < pbt.resample_probability:
                new = _resample(axes[name], rng)
            else:
                new = _perturb(axes[name], value, pbt.factors[rng.integers(len(pbt.factors))])
            out[name][child] = _inside(axes[name], new, out[name].dtype)
    return out


def _inside(axis: Any, value: Any, dtype: np.dtype) -> Any:
    """``value`` kept in its axis's draws' interval: [low, high] for an integer axis,
    [low, high) for a uniform or log-uniform one as ``dtype`` holds it (the largest
    ``dtype`` value below ``high`` at most); a list's or a choice's values as they are."""
    if isinstance(axis, RandInt):
        return int(np.clip(value, axis.low, axis.high))
    if not isinstance(axis, (Uniform, LogUniform)):
        return value
    top = np.asarray(axis.high, dtype)
    if top >= axis.high:
        top = np.nextafter(top, np.asarray(axis.low, dtype))
    return float(np.clip(value, axis.low, top))


def _resample(axis: Any, rng: np.random.Generator) -> Any:
    if isinstance(axis, Distribution):
        return axis.values(rng.random(1))[0]
    return axis[rng.integers(len(axis))]


def _perturb(axis: Any, value: Any, factor: float) -> Any:
    if isinstance(axis, (Uniform, LogUniform)):
        return value * factor  # clipped by _inside
    if isinstance(axis, RandInt):
        return round(value * factor)  # clipped by _inside
    options = list(axis.options if isinstance(axis, Choice) else axis)
    place = int(np.argmin([abs(float(option) - float(value)) for option in options]))
    place += int(np.sign(factor - 1))
    return options[min(max(place, 0), len(options) - 1)]


def schedule_rows(events: Sequence[Mapping], initial: Mapping[int, Mapping[str, Any]],
                  config: int) -> list[dict]:
    """The hyperparameter schedule that trained ``config``'s final state, one row per
    piece: ``{"step": first step, "config": whose training it was, **values}``.

    ``events``: the exploit events (``step``, ``config``, ``parent``, ``hparams``: the
    copied-and-perturbed values); ``initial``: each configuration's starting values.  A
    configuration last exploited at step ``t`` from ``p`` continues ``p``'s schedule up
    to ``t``, recursively."""
    by_config: dict[int, list] = {}
    for event in events:
        by_config.setdefault(int(event["config"]), []).append(event)
    rows: list[dict] = []
    until = math.inf
    while True:
        earlier = [e for e in by_config.get(config, []) if e["step"] < until]
        if not earlier:
            rows.append({"step": 0, "config": config, **initial[config]})
            return rows[::-1]
        last = max(earlier, key=lambda e: e["step"])
        rows.append({"step": int(last["step"]), "config": config, **last["hparams"]})
        config, until = int(last["parent"]), last["step"]
