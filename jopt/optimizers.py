"""Named optimizers, each a short chain of transforms.

Function and argument names are optax's, so switching is a change of import.  The
defaults are the published rules, which optax and ``torch.optim`` implement; where
the two disagree (Adagrad's first accumulator and epsilon, RMSprop's epsilon) jopt
takes torch's and the decks' choice, and the optax setting is one argument away.
The README's table lists every default beside optax's and torch's.

Structural choices (``momentum=None``, ``weight_decay=None``, ``nesterov``, the
convention flags) select which transforms are chained; every number, ``0``
included, is data and may be traced.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

from jopt.base import GradientTransformation, PyTree, ScalarOrSchedule, chain, check_unit_interval
from jopt.transforms import (add_decayed_weights, ema, identity, scale, scale_by_adagrad,
                             scale_by_adam, scale_by_learning_rate, scale_by_rms, trace)

__all__ = ["sgd", "adagrad", "rmsprop", "adam", "adamw", "MOMENTUM_FORMS", "HYPERPARAMETERS"]

MOMENTUM_FORMS = ("outside", "inside", "ema")

# Each optimizer's numeric arguments that may be traced (a sweep's grid keys), declared
# here rather than read off annotations; every optimizer in __all__ has an entry.
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "sgd": ("learning_rate", "momentum", "dampening", "weight_decay"),
    "adagrad": ("learning_rate", "initial_accumulator_value", "eps", "weight_decay"),
    "rmsprop": ("learning_rate", "decay", "eps", "initial_scale", "momentum", "weight_decay"),
    "adam": ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    "adamw": ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
}


def _l2(weight_decay: Optional[Any]) -> GradientTransformation:
    """The gradient of an L2 penalty (torch's coupled ``weight_decay``), or nothing."""
    return identity() if weight_decay is None else add_decayed_weights(weight_decay)


def sgd(learning_rate: ScalarOrSchedule, momentum: Optional[Any] = None, nesterov: bool = False,
        accumulator_dtype: Any = None, *, dampening: Any = 0.0,
        weight_decay: Optional[Any] = None,
        momentum_form: str = "outside") -> GradientTransformation:
    """Gradient descent, with optional heavy-ball or Nesterov momentum.

    Without momentum: ``x_{t+1} = x_t - eta_t g_t`` (all five decks).  With
    ``momentum=beta``, by ``momentum_form``:

    - ``"outside"`` (default; optax's ``sgd``, torch's ``SGD``; Polyak 1964):
      ``m_t = beta m_{t-1} + g_t``, ``x_{t+1} = x_t - eta_t m_t``.
    - ``"inside"`` (decks 000, 002, 003, 004: ``v = gamma v + eta g; x -= v``):
      ``m_t = beta m_{t-1} + eta_t g_t``, ``x_{t+1} = x_t - m_t``.  The same iterates
      for a constant rate, different ones once the rate changes (F20).
    - ``"ema"`` (deck 001: ``m = a m - (1 - a) grad``, ``m_hat = m / (1 - a^t)``):
      ``x_{t+1} = x_t - eta_t m_hat_t``; its step is ``eta ||g||``, not
      ``eta ||g|| / (1 - beta)`` (F18).

    ``nesterov=True`` is the reformulated Nesterov momentum of optax and torch
    (Sutskever et al. 2013): the step is ``g_t + beta m_t``.  Its iterates are the
    look-ahead points ``x + beta v`` of the classic form ``v = beta v - eta grad f(x + beta v);
    x += v`` that deck 001 describes (F21).  ``dampening`` is torch's.
    ``weight_decay`` adds the L2 penalty's gradient ``weight_decay * x`` to ``g`` (torch).
    """
    if momentum_form not in MOMENTUM_FORMS:
        raise ValueError(f"momentum_form must be one of {MOMENTUM_FORMS}, got {momentum_form!r}")
    if momentum is not None:
        check_unit_interval("momentum", momentum)  # by its own name, not trace's "decay"
    if momentum is None:
        return chain(_l2(weight_decay), scale_by_learning_rate(learning_rate))
    if momentum_form == "inside":
        return chain(_l2(weight_decay),
                     trace(momentum, nesterov, accumulator_dtype, dampening=dampening,
                           learning_rate=learning_rate),
                     scale(-1.0))
    if momentum_form == "ema":
        if nesterov:
            raise ValueError("nesterov=True needs momentum_form 'outside' or 'inside', got 'ema'")
        return chain(_l2(weight_decay), ema(momentum, True, accumulator_dtype),
                     scale_by_learning_rate(learning_rate))
    return chain(_l2(weight_decay),
                 trace(momentum, nesterov, accumulator_dtype, dampening=dampening),
                 scale_by_learning_rate(learning_rate))


def adagrad(learning_rate: ScalarOrSchedule, initial_accumulator_value: Any = 0.0,
            eps: Any = 1e-10, *, eps_in_sqrt: bool = False,
            weight_decay: Optional[Any] = None) -> GradientTransformation:
    """Adagrad (Duchi, Hazan & Singer 2011)::

        G_t = G_{t-1} + g_t²,    x_{t+1} = x_t - eta_t g_t / (sqrt(G_t) + eps)

    Defaults as torch's ``Adagrad`` and decks 000–002 (``G_0 = 0``; eps outside the
    root, as deck 001's delta).  optax's ``adagrad`` is ``initial_accumulator_value=0.1,
    eps=1e-7, eps_in_sqrt=True`` (F23).  See :func:`jopt.transforms.scale_by_adagrad`.
    """
    return chain(_l2(weight_decay),
                 scale_by_adagrad(initial_accumulator_value, eps, eps_in_sqrt),
                 scale_by_learning_rate(learning_rate))


def rmsprop(learning_rate: ScalarOrSchedule, decay: Any = 0.9, eps: Any = 1e-8,
            initial_scale: Any = 0.0, eps_in_sqrt: bool = False, centered: bool = False,
            momentum: Optional[Any] = None, nesterov: bool = False,
            bias_correction: bool = False, *, discounted_sum: bool = False,
            init_with_first_grad: bool = False,
            weight_decay: Optional[Any] = None) -> GradientTransformation:
    """RMSprop (Tieleman & Hinton 2012, lecture 6e)::

        nu_t = decay nu_{t-1} + (1 - decay) g_t²,    x_{t+1} = x_t - eta_t g_t / (sqrt(nu_t) + eps)

    eps outside the root as torch's ``RMSprop`` (optax: ``eps_in_sqrt=True``); decay
    0.9 as optax and deck 000 (torch: ``alpha=0.99``).  ``centered``,
    ``bias_correction``, ``discounted_sum`` (deck 001) and ``init_with_first_grad``
    (deck 002) are described in :func:`jopt.transforms.scale_by_rms`.  ``momentum``
    applies heavy-ball momentum to the scaled step, as torch does.
    """
    if momentum is not None:
        check_unit_interval("momentum", momentum)  # by its own name, not trace's "decay"
    return chain(_l2(weight_decay),
                 scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, bias_correction,
                              centered=centered, discounted_sum=discounted_sum,
                              init_with_first_grad=init_with_first_grad),
                 identity() if momentum is None else trace(momentum, nesterov),
                 scale_by_learning_rate(learning_rate))


def adam(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
         eps_root: Any = 0.0, mu_dtype: Any = None, *, nesterov: bool = False,
         bias_correction: bool = True,
         weight_decay: Optional[Any] = None) -> GradientTransformation:
    """Adam (Kingma & Ba 2015, Algorithm 1; deck 002 quotes it)::

        m_t = b1 m_{t-1} + (1 - b1) g_t,   v_t = b2 v_{t-1} + (1 - b2) g_t²
        x_{t+1} = x_t - eta_t (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t) + eps_root) + eps)

    Defaults as optax and torch.  ``weight_decay`` is torch's ``Adam`` L2 penalty
    (added to g before the moments); for decoupled decay use :func:`adamw`.
    See :func:`jopt.transforms.scale_by_adam` for ``nesterov`` (NAdam),
    ``bias_correction=False`` and deck 000's variant.
    """
    return chain(_l2(weight_decay),
                 scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov,
                               bias_correction=bias_correction),
                 scale_by_learning_rate(learning_rate))


def adamw(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
          eps_root: Any = 0.0, mu_dtype: Any = None, weight_decay: Any = 1e-4,
          mask: Union[None, PyTree, Callable] = None, *, nesterov: bool = False,
          bias_correction: bool = True) -> GradientTransformation:
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019)::

        x_{t+1} = x_t - eta_t (adam_step_t + weight_decay x_t)

    As optax's ``adamw`` (default ``weight_decay=1e-4``; torch's ``AdamW`` default is
    1e-2, with the same rule ``x -= eta wd x`` before the Adam step).
    """
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov,
                               bias_correction=bias_correction),
                 add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))
