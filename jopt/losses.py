"""Losses and metrics: plain functions of ``(prediction, target)``.

Two families of names, and the difference matters:

- **jopt's names** reduce by default, like ``torch.nn.functional``: ``reduction`` is
  ``"mean"`` (default), ``"sum"`` or ``"none"`` (the per-example values).
- **optax's names** (``squared_error``, ``l2_loss``, ``sigmoid_binary_cross_entropy``,
  ``softmax_cross_entropy``, ``softmax_cross_entropy_with_integer_labels``,
  ``hinge_loss``) keep optax's semantics: they return per-example (or elementwise)
  values, ``reduction="none"`` by default, so code ported from ``optax.losses`` gives
  the same numbers.  They take ``reduction`` too.

Each function, its per-example value and its default reduction:

- ``squared_error(pred, target)``: ``(y_hat - y)^2`` elementwise; none (optax).
- ``l2_loss(pred, target)``: ``1/2 (y_hat - y)^2`` elementwise; none (optax).
- ``sum_of_squares(pred, target)``, alias ``sse``: ``sum (y_hat - y)^2`` over all elements.
- ``mean_squared_error(pred, target)``: ``mean (y_hat - y)^2`` over all elements (torch's
  ``mse_loss``; no 1/2).
- ``squared_loss(pred, target)``: ``1/2 ||y_hat_i - y_i||^2`` per example; mean (deck 003).
- ``zero_one_loss(scores, labels)``: ``1[prediction != label]``; mean (the error rate).
- ``accuracy(scores, labels)``: ``1[prediction == label]``; mean.
- ``logistic_loss(scores, labels)``: ``log(1 + exp(-y s))``, ``y`` in {-1, +1}; mean.
- ``sigmoid_binary_cross_entropy(logits, labels)``: ``-y log s(z) - (1 - y) log(1 - s(z))``,
  ``y`` in [0, 1]; none (optax).
- ``binary_cross_entropy_with_logits(logits, labels)``: the same; mean (torch's name).
- ``softmax_cross_entropy(logits, labels)``: ``-sum_j y_j log softmax(a)_j``, integer or
  one-hot labels; none (optax).
- ``softmax_cross_entropy_with_integer_labels(logits, labels)``: the same; none (optax).
- ``cross_entropy_with_logits(logits, labels)``: the same; mean.
- ``cross_entropy(probs, labels)``: ``-sum_j y_j log q_j`` from probabilities; mean.
- ``hinge_loss(scores, labels)``: ``max(0, 1 - y s)``, ``y`` in {-1, +1}; none (optax).
- ``hinge(scores, labels)``: the same; mean.
- ``entropy(probs)``: ``-sum_j p_j log p_j``; mean over distributions.

Shapes.  The leading axis indexes examples.  Elementwise losses return the shape of
their inputs; ``"mean"`` and ``"sum"`` reduce over every element, like torch.  Losses
over classes (the cross-entropies, ``entropy``) take the classes on the last axis and
return one value per example.  ``squared_loss`` sums over an example's output axes
(``1/2 ||y_hat_i - y_i||^2``) and then reduces over examples.  A prediction of shape
``(n, 1)`` against a target of shape ``(n,)`` (a one-output model) is squeezed to
``(n,)`` rather than broadcast to ``(n, n)``; any other shape mismatch is an error.

Logarithms are natural.  ``0 log 0 = 0`` (``entropy`` of a one-hot distribution is 0).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

__all__ = [
    "REDUCTIONS", "apply_reduction",
    # squared errors
    "squared_error", "l2_loss", "sum_of_squares", "sse", "mean_squared_error", "squared_loss",
    # classification
    "predict_sign", "zero_one_loss", "accuracy", "logistic_loss", "sigmoid_binary_cross_entropy",
    "binary_cross_entropy_with_logits", "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels", "cross_entropy_with_logits", "cross_entropy",
    "hinge_loss", "hinge", "entropy",
]

REDUCTIONS = ("mean", "sum", "none")


def apply_reduction(values: jax.Array, reduction: str) -> jax.Array:
    """``values`` averaged (``"mean"``), summed (``"sum"``) or as they are (``"none"``)."""
    if reduction == "mean":
        return jnp.mean(values)
    if reduction == "sum":
        return jnp.sum(values)
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _matched(pred: Any, target: Any) -> tuple[jax.Array, jax.Array]:
    """``pred`` and ``target`` as arrays of one shape; a trailing axis of size 1 is squeezed."""
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    if pred.shape == target.shape + (1,):
        pred = pred[..., 0]
    elif target.shape == pred.shape + (1,):
        target = target[..., 0]
    if pred.shape != target.shape:
        raise ValueError(f"prediction of shape {pred.shape} and target of shape "
                         f"{target.shape} differ (they are not broadcast)")
    return pred, target


def _is_class_index(scores: jax.Array, labels: jax.Array) -> bool:
    """Whether ``labels`` are class indices for ``scores`` with classes on the last axis.

    Decided by shape: labels with one axis fewer than the scores are indices (and must
    be integers); labels of the scores' shape are probabilities (one-hot or soft).
    """
    if labels.ndim == scores.ndim - 1 and labels.shape == scores.shape[:-1]:
        if not jnp.issubdtype(labels.dtype, jnp.integer):
            raise TypeError(f"labels of shape {labels.shape} for scores of shape {scores.shape} "
                            f"are class indices and must be integers, got {labels.dtype}")
        return True
    if labels.shape == scores.shape:
        return False
    raise ValueError(f"labels of shape {labels.shape} fit neither class indices "
                     f"{scores.shape[:-1]} nor probabilities {scores.shape} for scores "
                     f"of shape {scores.shape}")


# ----------------------------------------------------------------------------
# Squared errors
# ----------------------------------------------------------------------------


def squared_error(pred: Any, target: Any, *, reduction: str = "none") -> jax.Array:
    """Elementwise ``(y_hat - y)^2`` (optax's ``squared_error``: no reduction by default)."""
    pred, target = _matched(pred, target)
    return apply_reduction(jnp.square(pred - target), reduction)


def l2_loss(pred: Any, target: Any, *, reduction: str = "none") -> jax.Array:
    """Elementwise ``1/2 (y_hat - y)^2`` (optax's ``l2_loss``: no reduction by default)."""
    return apply_reduction(0.5 * squared_error(pred, target), reduction)


def sum_of_squares(pred: Any, target: Any) -> jax.Array:
    """The sum of squared errors ``SSE = sum_i (y_i - y_hat_i)^2`` over every element.

    Deck 003 calls ``L = 1/(2N) sum_i (y_i - y_hat_i)^2`` the "sum of squared errors
    loss function"; that is :func:`squared_loss`, ``SSE / (2N)``.
    """
    return squared_error(pred, target, reduction="sum")


sse = sum_of_squares


def mean_squared_error(pred: Any, target: Any) -> jax.Array:
    """``mean (y_hat - y)^2`` over every element, without the 1/2 (torch's ``MSELoss``,
    scikit-learn's ``mean_squared_error``; deck 000's ``L(beta) = 1/n sum (y_i - h_i beta)^2``).
    """
    return squared_error(pred, target, reduction="mean")


def squared_loss(pred: Any, target: Any, *, reduction: str = "mean") -> jax.Array:
    """Per example ``1/2 ||y_hat_i - y_i||^2`` (summed over output axes), reduced over examples.

    With the default ``"mean"`` this is deck 003's ``L = 1/(2N) sum_i (y_i - y_hat_i)^2``
    ("Measuring loss for a linear unit") and the LINREG loss of FIGURES.md.  Deck 001's
    ``R = 1/N sum ||y - Q W x||^2`` (F46) is twice it.
    """
    per_element = l2_loss(pred, target)
    per_example = jnp.sum(per_element, axis=tuple(range(1, per_element.ndim)))
    return apply_reduction(per_example, reduction)


# ----------------------------------------------------------------------------
# Classification: hard decisions
# ----------------------------------------------------------------------------


def predict_sign(scores: Any) -> jax.Array:
    """Deck 003's hypothesis ``h(x) = 1 if 0 < w'x else -1`` (so a score of 0 gives -1)."""
    scores = jnp.asarray(scores)
    return jnp.where(scores > 0, 1, -1).astype(scores.dtype)


def _correct(scores: Any, labels: Any) -> jax.Array:
    """Whether each example is classified right (a boolean per example).

    - Scores with classes on the last axis (``(n, k)``, ``k > 1``) predict ``argmax``;
      labels are class indices ``(n,)`` or one-hot / probabilities ``(n, k)`` (their
      ``argmax`` is the class).
    - One score per example (``(n,)`` or ``(n, 1)``) predicts the positive class when
      ``score > 0`` (:func:`predict_sign`); labels may be in {-1, +1} or {0, 1}:
      positive means ``label > 0``.
    """
    scores, labels = jnp.asarray(scores), jnp.asarray(labels)
    has_classes = scores.ndim >= 1 and scores.shape[-1] > 1
    if has_classes and (scores.ndim >= 2 or labels.ndim == scores.ndim - 1):
        if _is_class_index(scores, labels):
            return jnp.argmax(scores, axis=-1) == labels
        return jnp.argmax(scores, axis=-1) == jnp.argmax(labels, axis=-1)
    scores, labels = _matched(scores, labels)
    return (scores > 0) == (labels > 0)


def _metric_dtype(scores: Any) -> Any:
    """float32, or float64 for float64 scores: the dtype a rate or count is averaged in."""
    dtype = jnp.asarray(scores).dtype
    return jnp.promote_types(dtype, jnp.float32) if jnp.issubdtype(dtype, jnp.floating) \
        else jnp.float32


def zero_one_loss(scores: Any, labels: Any, *, reduction: str = "mean") -> jax.Array:
    """``1[prediction != label]``: the error rate with ``"mean"``, the error count with ``"sum"``.

    Deck 003 "The 0 1 Loss function": "a count of mislabeled items", a step function
    whose gradient is 0 wherever it exists.  For labels in {-1, +1} and ``y_hat =``
    :func:`predict_sign`, ``1/(2N) sum (y - y_hat)^2 = 2 * zero_one_loss`` (F43).
    See :func:`_correct` for the shapes of scores and labels.
    """
    return apply_reduction(1.0 - _correct(scores, labels).astype(_metric_dtype(scores)), reduction)


def accuracy(scores: Any, labels: Any, *, reduction: str = "mean") -> jax.Array:
    """The fraction classified right, ``1 - zero_one_loss`` (a metric, not a loss)."""
    return apply_reduction(_correct(scores, labels).astype(_metric_dtype(scores)), reduction)


# ----------------------------------------------------------------------------
# Classification: logistic losses
# ----------------------------------------------------------------------------


def logistic_loss(scores: Any, labels: Any, *, reduction: str = "mean") -> jax.Array:
    """``log(1 + exp(-y s)) = -log sigmoid(y s)`` for labels ``y`` in {-1, +1}.

    Deck 001's "logistic loss instead of (0/1)-classification error".  Computed as
    ``-log_sigmoid(y s)``, finite and with a finite gradient for any finite score.
    Equal to :func:`binary_cross_entropy_with_logits` with labels ``(y + 1) / 2``.
    """
    scores, labels = _matched(scores, labels)
    return apply_reduction(-jax.nn.log_sigmoid(labels * scores), reduction)


def sigmoid_binary_cross_entropy(logits: Any, labels: Any, *,
                                 reduction: str = "none") -> jax.Array:
    """``-y log sigmoid(z) - (1 - y) log(1 - sigmoid(z))`` elementwise, labels in [0, 1].

    Deck 004's logistic-regression loss (F44).  optax's name and semantics (no
    reduction by default).  Computed from log-sigmoids, so logits of +-1000 give
    finite values and gradients ``sigmoid(z) - y``.
    """
    logits, labels = _matched(logits, labels)
    log_p, log_not_p = jax.nn.log_sigmoid(logits), jax.nn.log_sigmoid(-logits)
    return apply_reduction(-(labels * log_p + (1.0 - labels) * log_not_p), reduction)


def binary_cross_entropy_with_logits(logits: Any, labels: Any, *,
                                     reduction: str = "mean") -> jax.Array:
    """:func:`sigmoid_binary_cross_entropy`, averaged by default (torch's name and default)."""
    return sigmoid_binary_cross_entropy(logits, labels, reduction=reduction)


# ----------------------------------------------------------------------------
# Classification: softmax and cross-entropy
# ----------------------------------------------------------------------------


def softmax_cross_entropy(logits: Any, labels: Any, *, reduction: str = "none") -> jax.Array:
    """``-sum_j y_j log softmax(a)_j`` per example, classes on the last axis.

    ``labels`` are either probabilities (one-hot or soft) of the logits' shape, as in
    optax's ``softmax_cross_entropy``, or integer class indices of the logits' shape
    without the last axis, as in ``softmax_cross_entropy_with_integer_labels``: the
    shape decides.  optax's semantics: per-example values unless ``reduction`` says
    otherwise.  Deck 003 "Cross Entropy Loss Function": with one-hot ``y`` the
    gradient with respect to the logits is ``softmax(a) - y`` (F41).
    """
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    if _is_class_index(logits, labels):
        per_example = -jnp.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    else:
        per_example = -jnp.sum(labels * log_probs, axis=-1)
    return apply_reduction(per_example, reduction)


def softmax_cross_entropy_with_integer_labels(logits: Any, labels: Any, *,
                                              reduction: str = "none") -> jax.Array:
    """:func:`softmax_cross_entropy` for integer labels ``(n,)`` and logits ``(n, k)`` (optax's)."""
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    if labels.shape != logits.shape[:-1]:
        raise ValueError(f"integer labels must have shape {logits.shape[:-1]} for logits "
                         f"of shape {logits.shape}, got {labels.shape}")
    return softmax_cross_entropy(logits, labels, reduction=reduction)


def cross_entropy_with_logits(logits: Any, labels: Any, *, reduction: str = "mean") -> jax.Array:
    """:func:`softmax_cross_entropy` (integer or one-hot labels), averaged by default."""
    return softmax_cross_entropy(logits, labels, reduction=reduction)


def cross_entropy(probs: Any, labels: Any, *, reduction: str = "mean") -> jax.Array:
    """``H(P, Q) = -sum_j P_j log Q_j`` from probabilities ``Q = probs``, ``P = labels``.

    Deck 003 "Cross Entropy" (not symmetric: ``H(P, Q) = cross_entropy(Q, P)``).
    ``labels`` are probabilities of the shape of ``probs`` or integer class indices.
    A zero probability on a class with ``P_j > 0`` gives ``inf`` (deck 003's "= inf"
    example); ``P_j = 0`` terms are 0 whatever ``Q_j``.  Prefer the logits form
    (:func:`cross_entropy_with_logits`) for training: it cannot overflow.
    """
    probs, labels = jnp.asarray(probs), jnp.asarray(labels)
    if _is_class_index(probs, labels):
        labels = jax.nn.one_hot(labels, probs.shape[-1], dtype=probs.dtype)
    return apply_reduction(-jnp.sum(xlogy(labels, probs), axis=-1), reduction)


def entropy(probs: Any, *, reduction: str = "mean") -> jax.Array:
    """``H(P) = -sum_j P_j log P_j`` over the last axis, with ``0 log 0 = 0``.

    Deck 003 "Entropy": ``H(uniform over 4) = ln 4``, ``H(one-hot) = 0`` (F42).
    ``entropy(p) = cross_entropy(p, p)``.
    """
    return cross_entropy(probs, probs, reduction=reduction)


# ----------------------------------------------------------------------------
# Hinge
# ----------------------------------------------------------------------------


def hinge_loss(scores: Any, labels: Any, *, reduction: str = "none") -> jax.Array:
    """``max(0, 1 - y s)`` elementwise for labels in {-1, +1} (optax's ``hinge_loss``)."""
    scores, labels = _matched(scores, labels)
    return apply_reduction(jnp.maximum(0.0, 1.0 - labels * scores), reduction)


def hinge(scores: Any, labels: Any, *, reduction: str = "mean") -> jax.Array:
    """:func:`hinge_loss`, averaged by default."""
    return hinge_loss(scores, labels, reduction=reduction)
