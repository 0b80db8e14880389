"""Training loops: :func:`minimize` (full batch, stopping rules) and :func:`fit` (mini-batches).

Both are pure functions of arrays and hyperparameters, jittable and vmappable: the
sweep runner vmaps :func:`fit` over hyperparameters and seeds.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jopt import losses
from jopt.data import SAMPLINGS, check_batch_size, check_splits, epoch_permutation, padded_batch
from jopt.transforms import average_iterates
from jopt.base import (GradientTransformation, apply_updates, check_nonnegative,
                       tree_l2_norm)

__all__ = ["minimize", "MinimizeResult", "REASONS", "reason_name", "fit", "FitResult", "evaluate",
           "evaluate_splits", "evaluate_rows", "has_classes", "resolve_loss", "fit_program",
           "FitProgram", "FitCarry", "FitSetup", "Objective", "model_objective",
           "loss_objective", "fit_init", "next_batch", "fit_step", "fit_evaluate", "fit_final",
           "run_program"]

REASONS = ("running", "gtol", "max_steps", "no_progress", "diverged")
"""Stop reasons, indexed by ``MinimizeResult.reason``:

- ``gtol``: the gradient norm fell below ``gtol`` (deck 003: "Stop when the gradient
  is close (within eps) to 0");
- ``max_steps``: the step budget ran out ("Stop after some fixed number of iterations");
- ``no_progress``: the value changed by at most ``ftol * max(1, |f|)`` for
  ``patience`` steps in a row (deck 003: stop when the loss stops decreasing);
- ``diverged``: the value or the gradient became non-finite.
"""
RUNNING, GTOL, MAX_STEPS, NO_PROGRESS, DIVERGED = range(len(REASONS))


def reason_name(reason: Any) -> Any:
    """The name of a stop reason code, or a nested list of names for an array of codes."""
    codes = jnp.asarray(reason)
    if codes.ndim == 0:
        return REASONS[int(codes)]
    return [reason_name(code) for code in codes]


class MinimizeResult(NamedTuple):
    """The result of :func:`minimize`.

    ``x``: the last iterate; ``value``, ``grad_norm``: f and ||grad f|| there; ``steps``:
    updates applied; ``reason``: an int code into :data:`REASONS` (``reason_name``
    turns it into words); ``history``: ``{"value", "grad_norm"}`` arrays of length
    ``max_steps + 1`` (entry t at iterate t, NaN after the stop).
    """

    x: Any
    value: jax.Array
    grad_norm: jax.Array
    steps: jax.Array
    reason: jax.Array
    history: dict


class _Carry(NamedTuple):
    x: Any
    opt_state: Any
    value: jax.Array
    grad: Any
    grad_norm: jax.Array
    steps: jax.Array
    reason: jax.Array
    stalled: jax.Array


def _stop_reason(value, grad_norm, steps, stalled, *, max_steps, gtol, patience):
    """The reason to stop at the current iterate, or RUNNING."""
    reason = jnp.asarray(RUNNING, jnp.int32)
    reason = jnp.where(steps >= max_steps, MAX_STEPS, reason)
    reason = jnp.where(stalled >= patience, NO_PROGRESS, reason)
    reason = jnp.where(grad_norm <= gtol, GTOL, reason)
    reason = jnp.where(jnp.isfinite(value) & jnp.isfinite(grad_norm), reason, DIVERGED)
    return reason.astype(jnp.int32)


def minimize(fun: Callable, x0: Any, opt: GradientTransformation, *, max_steps: int,
             gtol: Any = 1e-6, ftol: Optional[Any] = None, patience: int = 10,
             loop: str = "while") -> MinimizeResult:
    """Full-batch descent on ``fun`` from ``x0`` with ``opt`` until a stopping rule fires.

    At each iterate ``x_t``: evaluate ``f`` and ``g = grad f``; stop if ``||g|| <= gtol``,
    if ``t = max_steps``, if ``|f_{t-1} - f_t| <= ftol * max(1, |f_t|)`` for ``patience``
    steps in a row (only when ``ftol`` is given), or if f or g is not finite; else
    ``updates, state = opt.update(g, state, x, value=f, grad=g, value_fn=fun)``.
    Line searches and L-BFGS read ``value``, ``grad`` and ``value_fn`` from there.

    ``loop="while"`` (default) stops as soon as every element is done; ``loop="scan"``
    always runs ``max_steps`` masked steps, so reverse-mode ``jax.grad`` can pass
    through (a ``while_loop`` cannot be reverse-differentiated).  Both are jittable and
    vmappable (vmap over starting points or hyperparameters gives per-element stop
    reasons).  ``max_steps``, ``patience`` and ``loop`` are static; ``gtol`` and
    ``ftol`` may be traced.

    Cost: ``loop="scan"`` returns the history as the scan's per-step output, so a step
    costs the same whatever ``max_steps`` is, vmapped or not.  ``loop="while"`` keeps
    the history in the loop's carry: a step writes one entry in place, but under
    ``vmap`` JAX's batching of ``while_loop`` selects between the new and the old carry
    at every step, the whole history included, so a vmapped run costs
    ``O(max_steps)`` per step (``O(max_steps^2)`` in all).  Use ``loop="scan"`` for
    long vmapped runs (``docs/benchmarks.md`` has a measurement).
    """
    if not isinstance(max_steps, int) or max_steps < 0:
        raise ValueError(f"max_steps must be a non-negative int, got {max_steps!r}")
    if not isinstance(patience, int) or patience < 1:
        raise ValueError(f"patience must be a positive int, got {patience!r}")
    if loop not in ("while", "scan"):
        raise ValueError(f"loop must be 'while' or 'scan', got {loop!r}")
    check_nonnegative("gtol", gtol)
    check_nonnegative("ftol", ftol)
    value_and_grad = jax.value_and_grad(fun)

    def decide(carry, previous_value):
        if ftol is None:
            return carry._replace(reason=_stop_reason(
                carry.value, carry.grad_norm, carry.steps, carry.stalled,
                max_steps=max_steps, gtol=gtol, patience=patience))
        change = jnp.abs(previous_value - carry.value)
        no_progress = change <= ftol * jnp.maximum(1.0, jnp.abs(carry.value))
        stalled = jnp.where(no_progress, carry.stalled + 1, 0)
        reason = _stop_reason(carry.value, carry.grad_norm, carry.steps, stalled,
                              max_steps=max_steps, gtol=gtol, patience=patience)
        return carry._replace(stalled=stalled, reason=reason)

    def step(carry):
        updates, opt_state = opt.update(carry.grad, carry.opt_state, carry.x, value=carry.value,
                                        grad=carry.grad, value_fn=fun)
        x = apply_updates(carry.x, updates)
        value, grad = value_and_grad(x)
        moved = carry._replace(x=x, opt_state=opt_state, value=value, grad=grad,
                               grad_norm=tree_l2_norm(grad), steps=carry.steps + 1)
        return decide(moved, carry.value)

    value0, grad0 = value_and_grad(x0)
    dtype = jnp.result_type(value0)

    def entry(carry):
        """The history entry of an iterate: its value and gradient norm in ``dtype``."""
        return {"value": carry.value.astype(dtype), "grad_norm": carry.grad_norm.astype(dtype)}

    start = _Carry(x0, opt.init(x0), jnp.asarray(value0), grad0, tree_l2_norm(grad0),
                   jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32),
                   jnp.zeros([], jnp.int32))
    start = decide(start, jnp.asarray(jnp.inf, dtype))

    if loop == "while":
        def step_and_record(carry_and_history):
            carry, history = carry_and_history
            moved = step(carry)
            return moved, {k: history[k].at[moved.steps].set(v) for k, v in entry(moved).items()}

        nan_history = jnp.full((max_steps + 1,), jnp.nan, dtype)
        history = {k: nan_history.at[0].set(v) for k, v in entry(start).items()}
        final, history = jax.lax.while_loop(lambda c: c[0].reason == RUNNING, step_and_record,
                                            (start, history))
    else:
        def masked(carry, _):
            # history entry t + 1 is the iterate after step t, NaN once the run stopped
            moved = step(carry)
            running = carry.reason == RUNNING
            kept = jax.tree_util.tree_map(lambda new, old: jnp.where(running, new, old),
                                          moved, carry)
            return kept, {k: jnp.where(running, v, jnp.nan) for k, v in entry(moved).items()}

        final, entries = jax.lax.scan(masked, start, None, length=max_steps)
        history = {k: jnp.concatenate([v[None], entries[k]]) for k, v in entry(start).items()}
    return MinimizeResult(final.x, final.value, final.grad_norm, final.steps, final.reason,
                          history)


# ----------------------------------------------------------------------------
# fit: mini-batch training of a model on a data set
# ----------------------------------------------------------------------------


class FitResult(NamedTuple):
    """The result of :func:`fit`.

    ``params``: the parameters to use (the best on the validation set when
    ``patience`` is given, else the last iterate); ``last_params``; ``polyak_params``
    and ``ema_params``: the averages of the iterates; ``history``: arrays of length
    ``evaluations + 1`` (``step``, ``examples``, ``epoch``, ``batch_loss``,
    ``train_loss``, ``val_loss``, ``val_accuracy``; NaN where a metric does not apply);
    ``best_step``: the step of the best validation loss; ``stop_step``: where early
    stopping or divergence ended training (the budget otherwise); ``diverged``;
    ``metrics``: validation and test loss and accuracy of the last, best, Polyak and
    EMA parameters (``"test_loss/last"``, ...).
    """

    params: Any
    last_params: Any
    polyak_params: Any
    ema_params: Any
    history: dict
    best_step: jax.Array
    stop_step: jax.Array
    diverged: jax.Array
    metrics: dict


class FitCarry(NamedTuple):
    """The state of a :func:`fit` run between steps (the sweep runner checkpoints it)."""

    params: Any
    opt_state: Any
    polyak_state: Any
    ema_state: Any
    step: jax.Array            # steps of the budget done (frozen runs keep counting)
    active: jax.Array          # still training: not stopped early, not diverged
    diverged: jax.Array
    stop_step: jax.Array       # where training stopped (early stop or divergence)
    best_params: Any
    best_val: jax.Array
    best_step: jax.Array
    evals_since_best: jax.Array
    loss_limit: jax.Array      # a batch loss above this counts as divergence
    order: jax.Array           # the current epoch's permutation of the training set
    last_metrics: dict         # held-out metrics at the last evaluation
    best_metrics: dict         # ... at the evaluation of best_params


class FitProgram(NamedTuple):
    """The pieces of :func:`fit` for one configuration, pure and vmappable.

    ``init(params0) -> carry``; ``step(carry, t) -> (carry, batch_loss)`` applies step
    ``t`` (a no-op once the run stopped or its budget ``num_steps`` is spent);
    ``evaluate(carry, batch_losses) -> (carry, row)`` records a history row and applies
    early stopping; ``final_metrics(carry) -> dict``.  :func:`fit` scans them.
    """

    init: Callable
    step: Callable
    evaluate: Callable
    final_metrics: Callable


class Objective(NamedTuple):
    """How a run scores parameters on rows of data (a batch: a pytree of arrays whose
    leaves share their first axis).

    ``batch_loss(params, batch, weights, key) -> scalar``: a training batch's loss,
    the ``weights``-weighted mean over its rows (``weights`` None: every row counts);
    ``key`` is a step's random key (None where the loss takes none).
    ``per_example(params, batch) -> dict``: each row's ``loss`` and metrics (arrays of
    one value per row), averaged over a data set by :func:`evaluate_rows`.
    ``always_weighted``: ``batch_loss`` takes weights for full batches too (a model's
    loss is a weighted mean of its rows' losses either way).
    """

    batch_loss: Callable
    per_example: Callable
    always_weighted: bool = False


def resolve_loss(loss: Any) -> Callable:
    """A loss ``(outputs, targets) -> scalar``, from a callable or a name in :mod:`jopt.losses`.

    Per-example values (optax-named losses return them) are averaged.
    """
    if isinstance(loss, str) and loss in losses.__all__ and callable(getattr(losses, loss)):
        loss = getattr(losses, loss)
    if callable(loss):
        return lambda outputs, targets: jnp.mean(loss(outputs, targets))
    raise ValueError(f"loss must be a callable or one of {sorted(losses.__all__)}, got {loss!r}")


def _per_example(loss: Callable, outputs: jax.Array, targets: jax.Array) -> jax.Array:
    """``loss`` (a batch mean) of each example alone: one value per row."""
    return jax.vmap(lambda o, t: loss(o[None], t[None]))(outputs, targets)


def model_objective(model: Any, loss: Callable, classes: bool,
                    metrics: Optional[Callable] = None) -> Objective:
    """The :class:`Objective` of a model's ``apply(params, x)`` scored by ``loss(outputs,
    targets)`` (a batch mean) on batches ``(x, y)``; ``classes``: also the accuracy
    (integer labels, one output score per class); ``metrics(params, batch) -> dict``
    of means, evaluated example by example."""
    def batch_loss(params, batch, weights, key):
        xb, yb = batch
        per_example = _per_example(loss, model.apply(params, xb), yb)
        return jnp.sum(weights * per_example) / jnp.sum(weights)

    def per_example(params, batch):
        xb, yb = batch
        outputs = model.apply(params, xb)
        values = {"loss": _per_example(loss, outputs, yb)}
        if classes:
            values["accuracy"] = jnp.argmax(outputs, axis=-1) == yb
        return {**values, **_metrics_per_example(metrics, params, batch)}
    return Objective(batch_loss, per_example, always_weighted=True)


def loss_objective(loss: Callable, metrics: Optional[Callable] = None,
                   takes_key: bool = False) -> Objective:
    """The :class:`Objective` of a user's ``loss(params, batch[, key]) -> scalar`` or
    ``(scalar, dict of metrics)``, a mean over the batch's rows: a weighted batch runs it
    example by example; evaluation passes ``key=None`` (no dropout)."""
    def scalar(params, batch, key):
        value = loss(params, batch, key) if takes_key else loss(params, batch)
        return value if not isinstance(value, tuple) else value[0]

    def batch_loss(params, batch, weights, key):
        if weights is None:
            return scalar(params, batch, key)
        per_example = _each_row(lambda p, b: scalar(p, b, key), params, batch)
        return jnp.sum(weights * per_example) / jnp.sum(weights)

    def per_example(params, batch):
        def one(p, b):
            value = loss(p, b, None) if takes_key else loss(p, b)
            return {"loss": value} if not isinstance(value, tuple) else {"loss": value[0], **value[1]}
        return {**_each_row(one, params, batch), **_metrics_per_example(metrics, params, batch)}
    return Objective(batch_loss, per_example)


def _each_row(fn: Callable, params: Any, batch: Any) -> Any:
    """``fn(params, one_row_batch)`` for every row of ``batch``, vmapped."""
    return jax.vmap(lambda row: fn(params, jax.tree_util.tree_map(lambda v: v[None], row)))(batch)


def _metrics_per_example(metrics: Optional[Callable], params: Any, batch: Any) -> dict:
    return {} if metrics is None else _each_row(metrics, params, batch)


def _take(tree: Any, start: Any, rows: int) -> Any:
    return jax.tree_util.tree_map(lambda v: jax.lax.dynamic_slice_in_dim(v, start, rows), tree)


def _rows(tree: Any) -> int:
    return int(jax.tree_util.tree_leaves(tree)[0].shape[0])


def evaluate_rows(per_example: Callable, params: Any, splits: Sequence[Any],
                  block_rows: Optional[int] = None) -> list[dict]:
    """The mean of each of ``per_example``'s values over each data set of ``splits`` (NaN
    for an empty one), in one pass: their rows go through it together, ``block_rows`` at
    a time (a ``lax.scan``; default all at once), so only one block's activations are
    held.  The last block overlaps the one before and counts only its new rows."""
    splits = [tuple(split) if isinstance(split, (list, tuple)) else split for split in splits]
    data = jax.tree_util.tree_map(lambda *parts: jnp.concatenate([jnp.asarray(p) for p in parts]),
                                  *splits)
    sizes = [_rows(split) for split in splits]
    n = sum(sizes)
    block_rows = n if block_rows is None else min(block_rows, n)
    ends = np.cumsum(sizes)   # rows at or past a split's end belong to a later one
    dtype = jnp.result_type(float)
    names = jax.eval_shape(per_example, params, _take(data, 0, block_rows))

    def block(totals, start):
        first = jnp.minimum(start, n - block_rows)        # the last block ends at row n
        rows = first + jnp.arange(block_rows)
        new = rows >= start                               # rows not in an earlier block
        which = jnp.sum(rows[:, None] >= jnp.asarray(ends[:-1])[None, :], axis=1)
        members = (new[:, None] & (which[:, None] == jnp.arange(len(sizes)))).astype(dtype)
        values = per_example(params, _take(data, first, block_rows))
        return {k: totals[k] + jnp.where(new, v, 0).astype(dtype) @ members
                for k, v in values.items()}, None

    starts = block_rows * jnp.arange(-(-n // block_rows))
    totals, _ = jax.lax.scan(block, {k: jnp.zeros(len(sizes), dtype) for k in names}, starts)
    counts = jnp.asarray(sizes, dtype)
    means = {k: jnp.where(counts > 0, v / jnp.where(counts > 0, counts, 1), jnp.nan)
             for k, v in totals.items()}
    return [{k: v[i] for k, v in means.items()} for i in range(len(sizes))]


def evaluate(model: Any, loss: Callable, params: Any, x: jax.Array, y: jax.Array,
             block_rows: Optional[int] = None):
    """``(loss, accuracy)`` of ``params`` on ``(x, y)``; accuracy is NaN unless y holds
    integer class labels and the model outputs one score per class.

    With ``block_rows`` (static), the examples go through the model ``block_rows`` at a
    time (a ``lax.scan``; the last block overlaps the one before and counts only its new
    rows), so only one block's activations are held at once; ``loss`` must then be a
    mean of per-example losses, as a batch loss is.  The result is the same mean,
    summed in another order.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    if block_rows is None or block_rows >= x.shape[0]:
        outputs = model.apply(params, x)
        value = loss(outputs, y)
        if has_classes(model, params, x, y):
            accuracy = jnp.mean(jnp.argmax(outputs, axis=-1) == y)
        else:
            accuracy = jnp.asarray(jnp.nan)
        return value, accuracy.astype(jnp.result_type(value))
    return evaluate_splits(model, loss, params, [(x, y)], block_rows)[0]


def has_classes(model: Any, params: Any, x: jax.Array, y: jax.Array) -> bool:
    """Whether accuracy applies: integer labels and one output score per class."""
    return bool(jnp.issubdtype(jnp.asarray(y).dtype, jnp.integer)) and \
        len(jax.eval_shape(model.apply, params, jnp.asarray(x)[:1]).shape) == 2


def evaluate_splits(model: Any, loss: Callable, params: Any, splits: Sequence[Any],
                    block_rows: Optional[int] = None) -> list:
    """:func:`evaluate` of each ``(x, y)`` in ``splits`` (NaN for an empty one), in one
    pass (:func:`evaluate_rows`).  ``loss`` must be a mean of per-example losses; each
    split's loss is the mean of its rows' losses (summed in another order)."""
    x = jnp.concatenate([jnp.asarray(x) for x, _ in splits])
    y = jnp.concatenate([jnp.asarray(y) for _, y in splits])
    classes = has_classes(model, params, x, y)
    means = evaluate_rows(model_objective(model, loss, classes).per_example, params, splits,
                          block_rows)
    nan = jnp.asarray(jnp.nan, jnp.result_type(float))
    return [(m["loss"], m.get("accuracy", nan)) for m in means]


def _check_count(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _where(condition: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)


class FitSetup(NamedTuple):
    """What every configuration of a training run shares (static, or arrays of data).

    ``train``: the training rows (a pytree of arrays, e.g. ``(x, y)``) or None when
    ``batches(key, step) -> batch`` draws them; ``held_out``: ``((name, rows), ...)``
    the non-empty held-out sets each evaluation sees ("val" first, if any); ``rows``:
    a batch's rows, padded (static); ``masked``: batches carry weights (a traced batch
    size padded to ``rows``); ``sampling``: :data:`jopt.data.SAMPLINGS`;
    ``divergence_factor``: a batch loss above this times the first training loss
    diverges; ``averages``: keep Polyak (from ``average_start``) and EMA
    (``ema_decay``) averages of the iterates; ``eval_rows``: rows per evaluation block;
    ``eval_train``: each evaluation also passes over the whole training set (the rows'
    ``train_loss``); without it the divergence limit is set from the first validation loss;
    ``metric_names``: the per-example values of the objective (``loss`` first).
    """

    objective: Objective
    train: Any
    held_out: tuple
    rows: int
    masked: bool = False
    sampling: str = "epoch"
    patience: Optional[int] = None
    divergence_factor: Any = jnp.inf
    averages: bool = True
    ema_decay: Any = 0.99
    average_start: Any = 0
    eval_rows: Optional[int] = None
    batches: Optional[Callable] = None
    takes_key: bool = False
    eval_train: bool = True


def _averagers(setup: FitSetup):
    return average_iterates(None, setup.average_start), average_iterates(setup.ema_decay)


def _metric_template(setup: FitSetup, params: Any, dtype: Any) -> dict:
    """NaN for every held-out metric, ``"<split>_<metric>"``."""
    if not setup.held_out:
        return {}
    names = jax.eval_shape(setup.objective.per_example, params,
                           _take(setup.held_out[0][1], 0, 1))
    return {f"{split}_{name}": jnp.asarray(jnp.nan, dtype)
            for split, _ in setup.held_out for name in names}


def fit_init(setup: FitSetup, opt: GradientTransformation, params0: Any) -> FitCarry:
    """The carry before the first step."""
    dtype = jnp.result_type(float)
    polyak, ema = _averagers(setup)
    template = _metric_template(setup, params0, dtype)
    n = 0 if setup.train is None else _rows(setup.train)
    return FitCarry(params=params0, opt_state=opt.init(params0),
                    polyak_state=polyak.init(params0) if setup.averages else None,
                    ema_state=ema.init(params0) if setup.averages else None,
                    step=jnp.zeros([], jnp.int32), active=jnp.ones([], bool),
                    diverged=jnp.zeros([], bool), stop_step=jnp.asarray(-1, jnp.int32),
                    best_params=params0, best_val=jnp.asarray(jnp.inf, dtype),
                    best_step=jnp.zeros([], jnp.int32), evals_since_best=jnp.zeros([], jnp.int32),
                    loss_limit=jnp.asarray(jnp.inf, dtype), order=jnp.arange(n, dtype=jnp.int32),
                    last_metrics=template, best_metrics=template)


def next_batch(setup: FitSetup, carry: FitCarry, key: jax.Array, t: Any,
               batch_size: Any) -> tuple:
    """``(carry, batch, weights)`` of step ``t``: the user's ``batches(key, t)``, or rows of
    the training set by :func:`jopt.data.padded_batch` (weights None unless masked).
    With epoch sampling the permutation is drawn at each epoch's first step and kept in
    the carry, so steps run in order from ``t = 0`` (or a carry of a later step)."""
    if setup.batches is not None:
        return carry, setup.batches(key, t), None
    n = _rows(setup.train)
    if setup.sampling != "epoch":
        indices, weights = padded_batch(key, t, n, batch_size, setup.rows, setup.sampling)
    else:
        per_epoch = n // batch_size
        # a new permutation at each epoch's first step only; with a static batch size the
        # predicate is the same for every config, so under vmap the cond stays a branch
        order = jax.lax.cond(t % per_epoch == 0,
                             lambda: epoch_permutation(key, t // per_epoch, n).astype(jnp.int32),
                             lambda: carry.order)
        position = jnp.arange(setup.rows, dtype=jnp.int32)
        indices = order[((t % per_epoch) * batch_size + position) % n]
        weights = (position < batch_size).astype(jnp.float32)
        carry = carry._replace(order=order)
    batch = jax.tree_util.tree_map(lambda v: v[indices], setup.train)
    return carry, batch, weights


def fit_step(setup: FitSetup, opt: GradientTransformation, carry: FitCarry, key: jax.Array,
             t: Any, batch_size: Any, num_steps: Any = None) -> tuple:
    """Step ``t``: ``(carry, batch_loss)``.  Steps past ``num_steps`` (a per-run budget,
    may be traced), or of a run that stopped, leave the parameters (and averages) as
    they are.  A batch loss that is not finite, or above the loss limit, freezes the run
    and marks it diverged."""
    carry, batch, weights = next_batch(setup, carry, key, t, batch_size)
    if setup.batches is not None or not (setup.masked or setup.objective.always_weighted):
        weights = None
    else:
        x_dtype = jax.tree_util.tree_leaves(batch)[0].dtype
        weights = weights.astype(x_dtype if jnp.issubdtype(x_dtype, jnp.floating) else jnp.float32)
    step_key = jax.random.fold_in(jax.random.fold_in(key, t), 1) if setup.takes_key else None
    value, grads = jax.value_and_grad(setup.objective.batch_loss)(carry.params, batch, weights,
                                                                  step_key)
    updates, opt_state = opt.update(grads, carry.opt_state, carry.params)
    params = apply_updates(carry.params, updates)
    polyak, ema = _averagers(setup)
    polyak_state = polyak.update(updates, carry.polyak_state, carry.params)[1] \
        if setup.averages else None
    ema_state = ema.update(updates, carry.ema_state, carry.params)[1] if setup.averages else None
    within = jnp.ones([], bool) if num_steps is None else t < num_steps
    running = carry.active & within
    finite = jnp.isfinite(value) & (value <= carry.loss_limit)
    go = running & finite
    blew_up = running & ~finite
    # the optimizer state is not masked: once ``go`` is false it stays false (the
    # budget is spent, or the run stopped or diverged for good), so the state of a
    # frozen run is never read again; a select over it would cost a pass per step
    moved = carry._replace(
        params=_where(go, params, carry.params), opt_state=opt_state,
        polyak_state=_where(go, polyak_state, carry.polyak_state),
        ema_state=_where(go, ema_state, carry.ema_state),
        step=carry.step + within.astype(jnp.int32), active=carry.active & ~blew_up,
        diverged=carry.diverged | blew_up,
        stop_step=jnp.where(blew_up, t, carry.stop_step).astype(jnp.int32))
    return moved, jnp.where(running, value, jnp.nan)


def _early_stop(setup: FitSetup, carry: FitCarry, val_loss: jax.Array, held_out: dict) -> FitCarry:
    """Keep the best parameters by validation loss; stop after ``patience`` evaluations
    without a better one."""
    better = carry.active & (val_loss < carry.best_val)
    since = jnp.where(better, 0, carry.evals_since_best + 1)
    # best_params stays the initial parameters until a better validation loss, so the
    # step-0 evaluation's metrics are also theirs until then
    recorded = better | (carry.step == 0)
    carry = carry._replace(best_params=_where(better, carry.params, carry.best_params),
                           best_val=jnp.where(better, val_loss, carry.best_val),
                           best_step=jnp.where(better, carry.step, carry.best_step),
                           evals_since_best=since, last_metrics=held_out,
                           best_metrics=_where(recorded, held_out, carry.best_metrics))
    if setup.patience is None:
        return carry
    stop = carry.active & (since >= setup.patience)
    return carry._replace(active=carry.active & ~stop,
                          stop_step=jnp.where(stop, carry.step, carry.stop_step))


def fit_evaluate(setup: FitSetup, carry: FitCarry, batch_losses: Any) -> tuple:
    """An evaluation: ``(carry, row)``, the row the step, the mean batch loss of the block,
    the training loss (unless ``setup.eval_train`` is off) and the validation metrics
    (``val_<name>``; NaN without a validation set).  Sets the divergence limit at step 0
    and applies early stopping."""
    on_train = setup.train is not None and setup.eval_train
    splits = ([setup.train] if on_train else []) + [rows for _, rows in setup.held_out]
    means = evaluate_rows(setup.objective.per_example, carry.params, splits, setup.eval_rows)
    train = means.pop(0) if on_train else None
    dtype = carry.best_val.dtype
    nan = jnp.asarray(jnp.nan, dtype)
    held_out = {f"{name}_{k}": v.astype(dtype)
                for (name, _), values in zip(setup.held_out, means) for k, v in values.items()}
    train_loss = nan if train is None else train["loss"]
    val_loss = held_out.get("val_loss", nan)
    # the divergence limit: a multiple of the first training loss, else of the first
    # validation loss (the same model on rows of the same kind), else none
    first = train_loss if on_train else val_loss if "val_loss" in held_out else None
    if setup.train is not None and first is not None:
        limit = jnp.where(carry.step == 0, setup.divergence_factor * first, carry.loss_limit)
        carry = carry._replace(loss_limit=limit.astype(carry.loss_limit.dtype))
    carry = _early_stop(setup, carry, val_loss, held_out)
    reports_train = setup.train is None or on_train  # a batch function's rows: NaN
    row = {"step": carry.step,
           "batch_loss": nan if batch_losses is None else jnp.nanmean(batch_losses),
           **({"train_loss": train_loss} if reports_train else {}), "val_loss": val_loss,
           **{k: v for k, v in held_out.items() if k.startswith("val_") and k != "val_loss"}}
    return carry, row


def fit_final(setup: FitSetup, carry: FitCarry) -> dict:
    """Held-out metrics of the last and the best parameters (as evaluated then: a run
    ends with an evaluation), ``"<split>_<metric>/last"`` and ``".../best"``, and, with
    averages, of the Polyak and EMA averages (evaluated here)."""
    metrics = {}
    for name, recorded in (("last", carry.last_metrics), ("best", carry.best_metrics)):
        for key, value in recorded.items():
            metrics[f"{key}/{name}"] = value
    if not setup.averages or not setup.held_out:
        return metrics
    for name, candidate in (("polyak", carry.polyak_state.average),
                            ("ema", carry.ema_state.average)):
        evaluated = evaluate_rows(setup.objective.per_example, candidate,
                                  [rows for _, rows in setup.held_out], setup.eval_rows)
        for (split, _), values in zip(setup.held_out, evaluated):
            for key, value in values.items():
                metrics[f"{split}_{key}/{name}"] = value
    return metrics


def fit_program(model: Any, opt: GradientTransformation, data: Any, *, loss: Callable,
                batch_size: Any, key: jax.Array, sampling: str = "epoch",
                patience: Optional[int] = None, ema_decay: Any = 0.99, average_start: Any = 0,
                num_steps: Any = None, max_batch: Optional[int] = None,
                divergence_factor: Any = jnp.inf, averages: bool = True,
                eval_rows: Optional[int] = None) -> FitProgram:
    """The :class:`FitProgram` of one run of ``model`` on ``data = (train, val, test)``
    arrays: :func:`fit_init`, :func:`fit_step`, :func:`fit_evaluate` and
    :func:`fit_final` of its :class:`FitSetup`.  ``max_batch`` pads batches to that many
    rows with zero weights (a traced ``batch_size``)."""
    (x_train, y_train), val, test = data
    classes = _model_has_classes(model, x_train, y_train)
    setup = FitSetup(objective=model_objective(model, loss, classes), train=(x_train, y_train),
                     held_out=tuple((name, split) for name, split in (("val", val), ("test", test))
                                    if split[0].shape[0] > 0),
                     rows=batch_size if max_batch is None else max_batch,
                     masked=max_batch is not None, sampling=sampling, patience=patience,
                     divergence_factor=divergence_factor, averages=averages, ema_decay=ema_decay,
                     average_start=average_start, eval_rows=eval_rows)
    return FitProgram(init=lambda params0: fit_init(setup, opt, params0),
                      step=lambda carry, t: fit_step(setup, opt, carry, key, t, batch_size,
                                                     num_steps),
                      evaluate=lambda carry, losses: fit_evaluate(setup, carry, losses),
                      final_metrics=lambda carry: fit_final(setup, carry))


def _model_has_classes(model: Any, x: Any, y: Any) -> bool:
    """:func:`has_classes` from the model's initial parameters' shapes (no parameters at hand)."""
    return has_classes(model, jax.eval_shape(model.init, jax.random.PRNGKey(0)), x, y)


def run_program(program: FitProgram, carry: FitCarry, start: Any, eval_every: int,
                evaluations: int, tail: int = 0):
    """Steps ``start, start + 1, ...``: ``evaluations`` blocks of ``eval_every`` steps, each
    followed by an evaluation, then ``tail`` more steps and a last evaluation.

    Returns ``(carry, rows)``, ``rows`` a dict of arrays with one entry per evaluation.
    """
    def block(carry, first_step):
        carry, batch_losses = jax.lax.scan(program.step, carry, first_step + jnp.arange(eval_every))
        return program.evaluate(carry, batch_losses)

    starts = start + eval_every * jnp.arange(evaluations)
    carry, rows = jax.lax.scan(block, carry, starts)
    if tail:
        carry, batch_losses = jax.lax.scan(program.step, carry,
                                           start + evaluations * eval_every + jnp.arange(tail))
        carry, last = program.evaluate(carry, batch_losses)
        rows = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b[None]]), rows, last)
    return carry, rows


def fit(model: Any, opt: GradientTransformation, splits: Any, *, loss: Any, batch_size: int,
        key: jax.Array, epochs: Optional[int] = None, steps: Optional[int] = None,
        sampling: str = "epoch", eval_every: Optional[int] = None,
        patience: Optional[int] = None, params: Any = None, ema_decay: Any = 0.99,
        average_start: Any = 0) -> FitResult:
    """Mini-batch training of ``model`` with ``opt`` on ``splits = (train, val, test)``.

    Each step draws a batch of ``batch_size`` training examples
    (:func:`jopt.data.batch_indices`: ``sampling="epoch"`` walks a fresh permutation
    each epoch, dropping the incomplete last batch; ``"replacement"`` draws uniformly
    with replacement; ``"sequential"`` never shuffles), takes the gradient of the mean
    of ``loss`` over the batch and applies ``opt``.  Every ``eval_every`` steps (default:
    once per epoch) it records the training and validation loss and accuracy.  With
    ``patience``, training stops (the parameters freeze) after ``patience`` evaluations
    without a better validation loss, and ``params`` is the best one seen (deck 003:
    "the set of parameters that did best"; deck 001: "early stopping").  A non-finite
    batch loss freezes the parameters before that step and sets ``diverged``.  Polyak
    (from step ``average_start``) and EMA (``ema_decay``) averages of the iterates are
    kept beside the last iterate (deck 001: "iterate (Polyak) averaging").

    The budget is ``steps``, or ``epochs`` times ``len(train) // batch_size``.  The
    parameters come from ``model.init`` with the first half of ``key`` unless given;
    the batches from the second half.  The run is one ``lax.scan`` of ``lax.scan``s
    inside ``jit``, with no Python control flow on traced values, so ``jax.vmap`` over
    hyperparameters and keys works::

        jax.vmap(lambda lr, k: fit(model, jopt.adam(lr), splits, loss=..., batch_size=32,
                                   key=k, epochs=5))(lrs, keys)
    """

    loss_fn = resolve_loss(loss)
    check_splits(splits)
    n = len(splits[0][0])
    check_batch_size(batch_size, n)
    if (epochs is None) == (steps is None):
        raise ValueError(f"give exactly one of epochs and steps, got epochs={epochs!r}, steps={steps!r}")
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    steps_per_epoch = n // batch_size
    if epochs is not None:
        _check_count("epochs", epochs)
        total_steps = epochs * steps_per_epoch
    else:
        _check_count("steps", steps)
        total_steps = steps
    if eval_every is not None:
        _check_count("eval_every", eval_every)
    eval_every = min(steps_per_epoch if eval_every is None else eval_every, total_steps)
    if patience is not None:
        _check_count("patience", patience)
        if len(splits[1][0]) == 0:
            raise ValueError("patience needs a validation split, got an empty one")
    evaluations, tail = divmod(total_steps, eval_every)

    def run(params0, batch_key, data):
        program = fit_program(model, opt, data, loss=loss_fn, batch_size=batch_size,
                              key=batch_key, sampling=sampling, patience=patience,
                              ema_decay=ema_decay, average_start=average_start)
        carry, first = program.evaluate(program.init(params0), None)
        carry, rows = run_program(program, carry, 0, eval_every, evaluations, tail)
        rows = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, rows)
        return carry, rows, program.final_metrics(carry)

    init_key, batch_key = jax.random.split(key)
    # compiled, as the sweep's init program is: run op by op, a normal draw's last bit
    # can differ (XLA fuses its scaling)
    params0 = jax.jit(model.init)(init_key) if params is None else params
    data = tuple((jnp.asarray(x), jnp.asarray(y)) for x, y in splits)
    carry, rows, metrics = jax.jit(run)(params0, batch_key, data)
    history = dict(rows)
    history["examples"] = history["step"] * batch_size
    history["epoch"] = history["step"] / steps_per_epoch
    chosen = carry.best_params if patience is not None else carry.params
    stop_step = jnp.where(carry.stop_step >= 0, carry.stop_step, total_steps)
    return FitResult(chosen, carry.params, carry.polyak_state.average, carry.ema_state.average,
                     history, carry.best_step, stop_step, carry.diverged, metrics)
