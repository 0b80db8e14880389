"""Training loops: :func:`minimize` (full batch, stopping rules) and :func:`fit` (mini-batches).

Both are pure functions of arrays and hyperparameters, jittable and vmappable: the
sweep runner vmaps :func:`fit` over hyperparameters and seeds.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp

from jopt.base import (GradientTransformation, apply_updates, check_nonnegative,
                       tree_l2_norm)

__all__ = ["minimize", "MinimizeResult", "REASONS", "reason_name", "fit", "FitResult", "evaluate",
           "resolve_loss"]

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
    history: dict


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

    def record(history, t, value, grad_norm):
        return {"value": history["value"].at[t].set(value),
                "grad_norm": history["grad_norm"].at[t].set(grad_norm)}

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
        grad_norm = tree_l2_norm(grad)
        steps = carry.steps + 1
        moved = carry._replace(x=x, opt_state=opt_state, value=value, grad=grad,
                               grad_norm=grad_norm, steps=steps,
                               history=record(carry.history, steps, value, grad_norm))
        return decide(moved, carry.value)

    value0, grad0 = value_and_grad(x0)
    dtype = jnp.result_type(value0)
    nan_history = jnp.full((max_steps + 1,), jnp.nan, dtype)
    history = record({"value": nan_history, "grad_norm": nan_history}, 0, value0,
                     tree_l2_norm(grad0))
    start = _Carry(x0, opt.init(x0), jnp.asarray(value0), grad0, tree_l2_norm(grad0),
                   jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32),
                   jnp.zeros([], jnp.int32), history)
    start = decide(start, jnp.asarray(jnp.inf, dtype))

    if loop == "while":
        final = jax.lax.while_loop(lambda c: c.reason == RUNNING, step, start)
    else:
        def masked(carry, _):
            moved = step(carry)
            running = carry.reason == RUNNING
            return jax.tree_util.tree_map(lambda new, old: jnp.where(running, new, old),
                                          moved, carry), None
        final, _ = jax.lax.scan(masked, start, None, length=max_steps)
    return MinimizeResult(final.x, final.value, final.grad_norm, final.steps, final.reason,
                          final.history)


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


class _FitCarry(NamedTuple):
    params: Any
    opt_state: Any
    polyak_state: Any
    ema_state: Any
    step: jax.Array
    active: jax.Array          # still training: not stopped early, not diverged
    diverged: jax.Array
    stop_step: jax.Array
    best_params: Any
    best_val: jax.Array
    best_step: jax.Array
    evals_since_best: jax.Array


def resolve_loss(loss: Any) -> Callable:
    """A loss function, given as a callable ``loss(outputs, targets) -> scalar`` or by name."""
    if callable(loss):
        return loss
    from jopt import losses
    if isinstance(loss, str) and loss in losses.__all__ and callable(getattr(losses, loss)):
        return getattr(losses, loss)
    raise ValueError(f"loss must be a callable or one of {sorted(losses.__all__)}, got {loss!r}")


def evaluate(model: Any, loss: Callable, params: Any, x: jax.Array, y: jax.Array):
    """``(loss, accuracy)`` of ``params`` on ``(x, y)``; accuracy is NaN unless y holds
    integer class labels and the model outputs one score per class."""
    outputs = model.apply(params, x)
    value = loss(outputs, y)
    if jnp.issubdtype(jnp.asarray(y).dtype, jnp.integer) and outputs.ndim == 2:
        accuracy = jnp.mean(jnp.argmax(outputs, axis=-1) == y)
    else:
        accuracy = jnp.asarray(jnp.nan)
    return value, accuracy.astype(jnp.result_type(value))


def _check_int(name: str, value: Any, low: int, high: Optional[int] = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
            hasattr(value, "dtype") and jnp.issubdtype(value.dtype, jnp.integer) and jnp.ndim(value) == 0):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


def fit(model: Any, opt: GradientTransformation, splits: Any, *, loss: Any, batch_size: int,
        key: jax.Array, epochs: Optional[int] = None, steps: Optional[int] = None,
        sampling: str = "epoch", eval_every: Optional[int] = None,
        patience: Optional[int] = None, params: Any = None, ema_decay: Any = 0.99,
        average_start: Any = 0) -> FitResult:
    """Mini-batch training of ``model`` with ``opt`` on ``splits = (train, val, test)``.

    Each step draws a batch of ``batch_size`` training examples
    (:func:`jopt.data.batch_indices`: ``sampling="epoch"`` walks a fresh permutation
    each epoch, dropping the incomplete last batch; ``"replacement"`` draws uniformly
    with replacement), takes the gradient of ``loss(model.apply(params, xb), yb)`` and
    applies ``opt``.  Every ``eval_every`` steps (default: once per epoch) it records the
    training and validation loss and accuracy.  With ``patience``, training stops
    (the parameters freeze) after ``patience`` evaluations without a better validation
    loss, and ``params`` is the best one seen (deck 003: "the set of parameters that
    did best"; deck 001: "early stopping").  A non-finite batch loss freezes the
    parameters before that step and sets ``diverged``.  Polyak (from step
    ``average_start``) and EMA (``ema_decay``) averages of the iterates are kept beside
    the last iterate (deck 001: "iterate (Polyak) averaging").

    The budget is ``steps``, or ``epochs`` times ``len(train) // batch_size``.  The whole
    run is one ``lax.scan`` of ``lax.scan``s inside ``jit``; no Python control flow
    touches a traced value, so ``jax.vmap`` over hyperparameters and keys works::

        jax.vmap(lambda lr, k: fit(model, jopt.adam(lr), splits, loss=..., batch_size=32,
                                   key=k, epochs=5))(lrs, keys)
    """
    from jopt.data import batch_indices, check_dataset
    from jopt.transforms import average_iterates

    loss_fn = resolve_loss(loss)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = splits
    for name, (x, y) in (("train", (x_train, y_train)), ("val", (x_val, y_val)),
                         ("test", (x_test, y_test))):
        check_dataset(x, y, name=name)
    n = len(x_train)
    _check_int("batch_size", batch_size, 1, n)
    if (epochs is None) == (steps is None):
        raise ValueError(f"give exactly one of epochs and steps, got epochs={epochs!r}, steps={steps!r}")
    if sampling not in ("epoch", "replacement"):
        raise ValueError(f"sampling must be 'epoch' or 'replacement', got {sampling!r}")
    steps_per_epoch = n // batch_size
    if epochs is not None:
        _check_int("epochs", epochs, 1)
        total_steps = epochs * steps_per_epoch
    else:
        _check_int("steps", steps, 1)
        total_steps = steps
    eval_every = min(steps_per_epoch if eval_every is None else eval_every, total_steps)
    _check_int("eval_every", eval_every, 1)
    has_val = len(x_val) > 0
    if patience is not None:
        _check_int("patience", patience, 1)
        if not has_val:
            raise ValueError("patience needs a validation split, got an empty one")
    n_chunks, tail = divmod(total_steps, eval_every)

    polyak = average_iterates(None, average_start)
    ema = average_iterates(ema_decay)
    batch_loss_fn = lambda p, xb, yb: loss_fn(model.apply(p, xb), yb)

    def train_step(key, data, carry, step):
        x, y = data
        idx = batch_indices(key, step, n, batch_size, sampling)
        batch_loss, grads = jax.value_and_grad(batch_loss_fn)(carry.params, x[idx], y[idx])
        updates, opt_state = opt.update(grads, carry.opt_state, carry.params)
        params = apply_updates(carry.params, updates)
        _, polyak_state = polyak.update(updates, carry.polyak_state, carry.params)
        _, ema_state = ema.update(updates, carry.ema_state, carry.params)
        finite = jnp.isfinite(batch_loss)
        go = carry.active & finite
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(go, a, b), new, old)
        moved = carry._replace(params=keep(params, carry.params),
                               opt_state=keep(opt_state, carry.opt_state),
                               polyak_state=keep(polyak_state, carry.polyak_state),
                               ema_state=keep(ema_state, carry.ema_state),
                               step=carry.step + 1,
                               active=go,
                               diverged=carry.diverged | (carry.active & ~finite),
                               stop_step=jnp.where(carry.active & ~finite, step, carry.stop_step))
        return moved, jnp.where(carry.active, batch_loss, jnp.nan)

    def evaluation(data, carry, batch_losses):
        train, val = data
        train_loss, _ = evaluate(model, loss_fn, carry.params, *train)
        if has_val:
            val_loss, val_accuracy = evaluate(model, loss_fn, carry.params, *val)
        else:
            val_loss = val_accuracy = jnp.asarray(jnp.nan, jnp.result_type(train_loss))
        better = carry.active & (val_loss < carry.best_val)
        since = jnp.where(better, 0, carry.evals_since_best + 1)
        carry = carry._replace(
            best_params=jax.tree_util.tree_map(lambda a, b: jnp.where(better, a, b),
                                               carry.params, carry.best_params),
            best_val=jnp.where(better, val_loss, carry.best_val),
            best_step=jnp.where(better, carry.step, carry.best_step),
            evals_since_best=since)
        if patience is not None:
            stop = carry.active & (since >= patience)
            carry = carry._replace(active=carry.active & ~stop,
                                   stop_step=jnp.where(stop, carry.step, carry.stop_step))
        row = {"step": carry.step, "batch_loss": jnp.nanmean(batch_losses) if batch_losses is not None
               else jnp.asarray(jnp.nan, jnp.result_type(train_loss)),
               "train_loss": train_loss, "val_loss": val_loss, "val_accuracy": val_accuracy}
        return carry, row

    def run(params0, key, train, val):
        chunk_steps = jnp.arange(eval_every)

        def chunk(carry, _):
            carry, losses_ = jax.lax.scan(lambda c, s: train_step(key, train, c, s), carry,
                                          carry.step + chunk_steps)
            return evaluation((train, val), carry, losses_)

        carry = _FitCarry(params0, opt.init(params0), polyak.init(params0), ema.init(params0),
                          jnp.zeros([], jnp.int32), jnp.ones([], bool), jnp.zeros([], bool),
                          jnp.asarray(total_steps, jnp.int32), params0,
                          jnp.asarray(jnp.inf), jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32))
        carry, first = evaluation((train, val), carry, None)
        carry, rows = jax.lax.scan(chunk, carry, None, length=n_chunks)
        rows = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, rows)
        if tail:
            carry, tail_losses = jax.lax.scan(lambda c, s: train_step(key, train, c, s), carry,
                                              carry.step + jnp.arange(tail))
            carry, last = evaluation((train, val), carry, tail_losses)
            rows = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b[None]]), rows, last)
        return carry, rows

    init_key, batch_key = jax.random.split(key)
    params0 = model.init(init_key) if params is None else params
    train = (jnp.asarray(x_train), jnp.asarray(y_train))
    val = (jnp.asarray(x_val), jnp.asarray(y_val))
    carry, rows = jax.jit(run)(params0, batch_key, train, val)

    history = dict(rows)
    history["examples"] = history["step"] * batch_size
    history["epoch"] = history["step"] / steps_per_epoch
    chosen = carry.best_params if patience is not None else carry.params
    candidates = {"last": carry.params, "best": carry.best_params,
                  "polyak": polyak_params(carry), "ema": ema_params(carry)}
    metrics = {}
    for split_name, (x, y) in (("val", (x_val, y_val)), ("test", (x_test, y_test))):
        if len(x) == 0:
            continue
        for name, candidate in candidates.items():
            value, accuracy = evaluate(model, loss_fn, candidate, jnp.asarray(x), jnp.asarray(y))
            metrics[f"{split_name}_loss/{name}"] = value
            metrics[f"{split_name}_accuracy/{name}"] = accuracy
    return FitResult(chosen, carry.params, polyak_params(carry), ema_params(carry), history,
                     carry.best_step, carry.stop_step, carry.diverged, metrics)


def polyak_params(carry: _FitCarry) -> Any:
    return carry.polyak_state.average


def ema_params(carry: _FitCarry) -> Any:
    return carry.ema_state.average
