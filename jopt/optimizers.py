"""Named optimizers, each a short chain of transforms.

Function and argument names are optax's, so switching is a change of import.  The
defaults are the published rules, which optax and ``torch.optim`` implement; where
the two disagree (Adagrad's first accumulator and epsilon, RMSprop's epsilon) jopt
takes torch's and the decks' choice, and the optax setting is one argument away.
For optax's other optimizers (``OPTAX_ALIASES``) the default is optax's rule, and where
torch writes the method otherwise (NAdam's momentum schedule, RAdam's and AMSGrad's
corrections, Rprop's timing) torch's is a named option.  The README's table lists every
default beside optax's and torch's.

Structural choices (``momentum=None``, ``weight_decay=None``, ``nesterov``, the
convention flags) select which transforms are chained; every number, ``0``
included, is data and may be traced.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import jax.numpy as jnp

from jopt.base import (GradientTransformation, PyTree, ScalarOrSchedule, chain,
                       check_finite, check_nonnegative, check_positive,
                       check_schedule_or_nonnegative, check_unit_interval,
                       hyperparameter, resolve)
from jopt.transforms import (add_decayed_weights, add_noise, clip_by_block_rms, ema, identity,
                             scale, scale_by_adadelta, scale_by_adagrad, scale_by_adam,
                             scale_by_adamax, scale_by_adan, scale_by_amsgrad, scale_by_belief,
                             scale_by_factored_rms, scale_by_learning_rate, scale_by_lion,
                             scale_by_nadam, scale_by_novograd, scale_by_optimistic_gradient,
                             scale_by_param_block_rms, scale_by_polyak, scale_by_radam,
                             scale_by_rms, scale_by_rprop, scale_by_sign, scale_by_sm3,
                             scale_by_trust_ratio, scale_by_yogi, trace)

OPTAX_ALIASES = (
    "adabelief", "adadelta", "adafactor", "adamax", "adamaxw", "adan", "amsgrad", "fromage",
    "lamb", "lars", "lion", "nadam", "nadamw", "noisy_sgd", "novograd", "optimistic_adam",
    "optimistic_adam_v2", "optimistic_gradient_descent", "polyak_sgd", "radam", "rprop",
    "sign_sgd", "signum", "sm3", "yogi",
)
"""The optimizers of optax's ``alias.py`` beyond sgd, adagrad, rmsprop, adam and adamw."""

__all__ = ["sgd", "adagrad", "rmsprop", "adam", "adamw", *OPTAX_ALIASES, "MOMENTUM_FORMS",
           "HYPERPARAMETERS"]

MOMENTUM_FORMS = ("outside", "inside", "ema")

# Each optimizer's numeric arguments that may be traced (a sweep's grid keys), declared
# here rather than read off annotations; every optimizer in __all__ has an entry.
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "sgd": ("learning_rate", "momentum", "dampening", "weight_decay"),
    "adagrad": ("learning_rate", "initial_accumulator_value", "eps", "weight_decay"),
    "rmsprop": ("learning_rate", "decay", "eps", "initial_scale", "momentum", "weight_decay"),
    "adam": ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    "adamw": ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    "adabelief": ("learning_rate", "b1", "b2", "eps", "eps_root"),
    "adadelta": ("learning_rate", "rho", "eps", "weight_decay"),
    "adafactor": ("learning_rate", "decay_rate", "decay_offset", "clipping_threshold", "momentum",
                  "weight_decay_rate", "eps"),
    "adamax": ("learning_rate", "b1", "b2", "eps", "weight_decay"),
    "adamaxw": ("learning_rate", "b1", "b2", "eps", "weight_decay"),
    "adan": ("learning_rate", "b1", "b2", "b3", "eps", "eps_root", "weight_decay"),
    "amsgrad": ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    "fromage": ("learning_rate", "min_norm"),
    "lamb": ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    "lars": ("learning_rate", "weight_decay", "trust_coefficient", "eps", "momentum"),
    "lion": ("learning_rate", "b1", "b2", "weight_decay"),
    "nadam": ("learning_rate", "b1", "b2", "eps", "eps_root", "momentum_decay", "weight_decay"),
    "nadamw": ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay", "momentum_decay"),
    "noisy_sgd": ("learning_rate", "eta", "gamma"),
    "novograd": ("learning_rate", "b1", "b2", "eps", "eps_root", "weight_decay"),
    "optimistic_adam": ("learning_rate", "optimism", "b1", "b2", "eps", "eps_root"),
    "optimistic_adam_v2": ("learning_rate", "alpha", "beta", "b1", "b2", "eps", "eps_root"),
    "optimistic_gradient_descent": ("learning_rate", "alpha", "beta"),
    "polyak_sgd": ("max_learning_rate", "scaling", "f_min", "eps"),
    "radam": ("learning_rate", "b1", "b2", "eps", "eps_root", "threshold", "weight_decay"),
    "rprop": ("learning_rate", "eta_minus", "eta_plus", "min_step_size", "max_step_size"),
    "sign_sgd": ("learning_rate",),
    "signum": ("learning_rate", "beta"),
    "sm3": ("learning_rate", "momentum"),
    "yogi": ("learning_rate", "b1", "b2", "eps"),
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


# ----------------------------------------------------------------------------
# optax's other optimizers (alias.py), under its names, arguments and defaults
# ----------------------------------------------------------------------------


def nadam(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
          eps_root: Any = 0.0, mu_dtype: Any = None, *, momentum_decay: Optional[Any] = None,
          weight_decay: Optional[Any] = None) -> GradientTransformation:
    """NAdam (Dozat 2016, "Incorporating Nesterov momentum into Adam")::

        m^_t = b1 m_t / (1 - b1^(t+1)) + (1 - b1) g_t / (1 - b1^t),  v^_t as Adam's
        x_{t+1} = x_t - eta_t m^_t / (sqrt(v^_t + eps_root) + eps)

    As optax's ``nadam`` (``adam(nesterov=True)``).  ``momentum_decay=psi`` is torch's
    ``NAdam``: Dozat's schedule ``mu_t = b1 (1 - 0.5 * 0.96^(t psi))`` in place of the
    constant ``b1`` (torch's default psi is 4e-3); see :func:`jopt.transforms.scale_by_nadam`.
    ``weight_decay`` is torch's L2 penalty, as :func:`adam`'s.
    """
    return chain(_l2(weight_decay), _nadam_scaling(b1, b2, eps, eps_root, mu_dtype, momentum_decay),
                 scale_by_learning_rate(learning_rate))


def _nadam_scaling(b1, b2, eps, eps_root, mu_dtype, momentum_decay) -> GradientTransformation:
    if momentum_decay is None:
        return scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=True)
    return scale_by_nadam(b1, b2, eps, eps_root, mu_dtype, momentum_decay)


def nadamw(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
           eps_root: Any = 0.0, mu_dtype: Any = None, weight_decay: ScalarOrSchedule = 1e-4,
           mask: Union[None, PyTree, Callable] = None, *,
           momentum_decay: Optional[Any] = None) -> GradientTransformation:
    """NAdam with decoupled weight decay: ``x -= eta_t (nadam_step_t + weight_decay x_t)``.

    As optax's ``nadamw`` (``adamw(nesterov=True)``); ``momentum_decay`` is torch's
    ``NAdam(decoupled_weight_decay=True)`` momentum schedule, as in :func:`nadam`.
    """
    return chain(_nadam_scaling(b1, b2, eps, eps_root, mu_dtype, momentum_decay),
                 add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))


def adamax(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *,
           eps_in_max: bool = True, weight_decay: Optional[Any] = None) -> GradientTransformation:
    """AdaMax (Kingma & Ba 2015, Algorithm 2)::

        m_t = b1 m_{t-1} + (1 - b1) g_t,   u_t = max(b2 u_{t-1}, |g_t| + eps)
        x_{t+1} = x_t - eta_t (m_t / (1 - b1^t)) / u_t

    As optax's ``adamax`` and torch's ``Adamax`` (whose ``weight_decay`` is the L2 penalty
    here).  ``eps_in_max=False``: ``/(u_t + eps)`` with ``u_t = max(b2 u_{t-1}, |g_t|)``.
    """
    return chain(_l2(weight_decay), scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max),
                 scale_by_learning_rate(learning_rate))


def adamaxw(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
            weight_decay: ScalarOrSchedule = 1e-4, mask: Union[None, PyTree, Callable] = None, *,
            eps_in_max: bool = True) -> GradientTransformation:
    """AdaMax with decoupled weight decay: ``x -= eta_t (adamax_step_t + weight_decay x_t)``
    (optax's ``adamaxw``; Loshchilov & Hutter 2019)."""
    return chain(scale_by_adamax(b1, b2, eps, eps_in_max=eps_in_max),
                 add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))


def amsgrad(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
            eps_root: Any = 0.0, mu_dtype: Any = None, bias_correction_mu: bool = True,
            bias_correction_nu: bool = True, *, max_before_correction: bool = False,
            weight_decay: Optional[Any] = None) -> GradientTransformation:
    """AMSGrad (Reddi, Kale & Kumar 2018): Adam dividing by the running maximum of ``v^``.

    As optax's ``amsgrad``; ``max_before_correction=True`` is torch's
    ``Adam(amsgrad=True)`` (the maximum of the raw ``v``, then corrected), and
    ``weight_decay`` its L2 penalty.  See :func:`jopt.transforms.scale_by_amsgrad`.
    """
    return chain(_l2(weight_decay),
                 scale_by_amsgrad(b1, b2, eps, eps_root, mu_dtype, bias_correction_mu,
                                  bias_correction_nu, max_before_correction=max_before_correction),
                 scale_by_learning_rate(learning_rate))


def radam(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8,
          eps_root: Any = 0.0, threshold: Any = 5.0, *, nesterov: bool = False,
          eps_before_correction: bool = False,
          weight_decay: Optional[Any] = None) -> GradientTransformation:
    """RAdam (Liu et al. 2020, "On the variance of the adaptive learning rate and beyond"):
    Adam whose adaptive step is rectified by ``r_t``, and plain momentum SGD while the
    variance estimate is unreliable (``rho_t < threshold``).

    As optax's ``radam``; ``eps_before_correction=True`` is torch's ``RAdam`` (and
    ``weight_decay`` its L2 penalty).  See :func:`jopt.transforms.scale_by_radam`.
    """
    return chain(_l2(weight_decay),
                 scale_by_radam(b1, b2, eps, eps_root, threshold, nesterov=nesterov,
                                eps_before_correction=eps_before_correction),
                 scale_by_learning_rate(learning_rate))


def adabelief(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-16,
              eps_root: Any = 1e-16, *, nesterov: bool = False) -> GradientTransformation:
    """AdaBelief (Zhuang et al. 2020): Adam with ``v`` the running variance of ``g`` about
    its running mean.  As optax's; see :func:`jopt.transforms.scale_by_belief`."""
    return chain(scale_by_belief(b1, b2, eps, eps_root, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


def yogi(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999,
         eps: Any = 1e-3) -> GradientTransformation:
    """Yogi (Zaheer et al. 2018, "Adaptive methods for nonconvex optimization"): Adam whose
    ``v`` moves by ``(1 - b2) g²`` toward ``g²``.  As optax's; see
    :func:`jopt.transforms.scale_by_yogi`."""
    return chain(scale_by_yogi(b1, b2, eps), scale_by_learning_rate(learning_rate))


def adan(learning_rate: ScalarOrSchedule, b1: Any = 0.98, b2: Any = 0.92, b3: Any = 0.99,
         eps: Any = 1e-8, eps_root: Any = 1e-8, weight_decay: ScalarOrSchedule = 0.0,
         mask: Union[None, PyTree, Callable] = None) -> GradientTransformation:
    """Adan (Xie et al. 2022, "Adaptive Nesterov momentum algorithm"), with decoupled
    weight decay as optax's ``adan``: ``x -= eta_t (adan_step_t + weight_decay x_t)``.
    See :func:`jopt.transforms.scale_by_adan`."""
    return chain(scale_by_adan(b1, b2, b3, eps, eps_root), add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


def lion(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.99, mu_dtype: Any = None,
         weight_decay: ScalarOrSchedule = 1e-3,
         mask: Union[None, PyTree, Callable] = None) -> GradientTransformation:
    """Lion (Chen et al. 2023): ``x -= eta_t (sign(b1 m + (1 - b1) g) + weight_decay x)``,
    then ``m = b2 m + (1 - b2) g``.  As optax's (weight decay 1e-3, decoupled); see
    :func:`jopt.transforms.scale_by_lion`."""
    return chain(scale_by_lion(b1, b2, mu_dtype), add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


def lamb(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-6,
         eps_root: Any = 0.0, weight_decay: ScalarOrSchedule = 0.0,
         mask: Union[None, PyTree, Callable] = None) -> GradientTransformation:
    """LAMB (You et al. 2020, "Large batch optimization for deep learning")::

        r_t = adam_step_t + weight_decay x_t,   x_{t+1} = x_t - eta_t ||x_t|| / ||r_t|| r_t

    per leaf (the trust ratio 1 where a norm is 0).  As optax's ``lamb``."""
    return chain(scale_by_adam(b1, b2, eps, eps_root), add_decayed_weights(weight_decay, mask),
                 scale_by_trust_ratio(), scale_by_learning_rate(learning_rate))


def lars(learning_rate: ScalarOrSchedule, weight_decay: ScalarOrSchedule = 0.0,
         weight_decay_mask: Union[bool, PyTree, Callable] = True, trust_coefficient: Any = 0.001,
         eps: Any = 0.0, trust_ratio_mask: Union[bool, PyTree, Callable] = True,
         momentum: Any = 0.9, nesterov: bool = False) -> GradientTransformation:
    """LARS (You, Gitman & Ginsburg 2017, "Large batch training of convolutional networks")::

        r_t = g_t + weight_decay x_t,   r_t <- trust_coefficient ||x_t|| / (||r_t|| + eps) r_t
        m_t = momentum m_{t-1} + eta_t r_t,   x_{t+1} = x_t - m_t

    per leaf; the masks choose the leaves that get weight decay and the trust ratio.  As
    optax's ``lars`` (the rate inside the momentum buffer, as its chain has it)."""
    check_unit_interval("momentum", momentum)
    return chain(add_decayed_weights(weight_decay, weight_decay_mask),
                 scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps,
                                      mask=trust_ratio_mask),
                 scale_by_learning_rate(learning_rate), trace(momentum, nesterov))


def fromage(learning_rate: ScalarOrSchedule, min_norm: Any = 1e-6) -> GradientTransformation:
    """Fromage (Bernstein et al. 2020, "On the distance between two neural networks")::

        x_{t+1} = (x_t - eta_t ||x_t|| / ||g_t|| g_t) / sqrt(1 + eta_t²)

    per leaf (norms floored at ``min_norm``).  As optax's ``fromage``."""
    check_schedule_or_nonnegative("learning_rate", learning_rate)

    def shrink(count):  # 1 / sqrt(1 + eta_t²), computed when the update runs
        return 1 / jnp.sqrt(1 + jnp.square(hyperparameter(resolve(learning_rate, count))))

    def step_rate(count):
        return shrink(count) * hyperparameter(resolve(learning_rate, count))

    def decay(count):
        return 1 - shrink(count)

    return chain(scale_by_trust_ratio(min_norm), scale_by_learning_rate(step_rate),
                 add_decayed_weights(decay, flip_sign=True))


def sign_sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """signSGD (Bernstein et al. 2018): ``x_{t+1} = x_t - eta_t sign(g_t)``."""
    return chain(scale_by_sign(), scale_by_learning_rate(learning_rate))


def signum(learning_rate: ScalarOrSchedule, beta: Any = 0.9,
           accumulator_dtype: Any = None) -> GradientTransformation:
    """Signum (Bernstein et al. 2018): ``m_t = beta m_{t-1} + (1 - beta) g_t``,
    ``x_{t+1} = x_t - eta_t sign(m_t)``.  As optax's ``signum``."""
    check_unit_interval("beta", beta)  # by its own name, not ema's "decay"
    return chain(ema(beta, False, accumulator_dtype), scale_by_sign(),
                 scale_by_learning_rate(learning_rate))


def novograd(learning_rate: ScalarOrSchedule, b1: Any = 0.9, b2: Any = 0.25, eps: Any = 1e-6,
             eps_root: Any = 0.0, weight_decay: Any = 0.0) -> GradientTransformation:
    """NovoGrad (Ginsburg et al. 2019): per-leaf second moments, the weight decay inside
    the momentum.  As optax's; see :func:`jopt.transforms.scale_by_novograd`."""
    return chain(scale_by_novograd(b1, b2, eps, eps_root, weight_decay),
                 scale_by_learning_rate(learning_rate))


def noisy_sgd(learning_rate: ScalarOrSchedule, eta: Any = 0.01, gamma: Any = 0.55,
              key: Any = None, *, seed: Optional[int] = None) -> GradientTransformation:
    """Gradient descent with annealed Gaussian noise (Neelakantan et al. 2015)::

        x_{t+1} = x_t - eta_t (g_t + sqrt(eta / t^gamma) N(0, 1))

    As optax's ``noisy_sgd`` (the same draws for the same key); see
    :func:`jopt.transforms.add_noise`."""
    return chain(add_noise(eta, gamma, key, seed=seed), scale_by_learning_rate(learning_rate))


def rprop(learning_rate: Any, eta_minus: Any = 0.5, eta_plus: Any = 1.2,
          min_step_size: Any = 1e-6, max_step_size: Any = 50.0, *,
          lagged: bool = True) -> GradientTransformation:
    """Rprop (Riedmiller & Braun 1993): per-coordinate step sizes that grow by ``eta_plus``
    while the gradient keeps its sign and shrink by ``eta_minus`` when it flips;
    ``x -= step_size * sign(g)``.  ``learning_rate`` is the initial step size.

    As optax's ``rprop``, which applies each step one update late (its first update is
    0); ``lagged=False`` is the paper's and torch's ``Rprop``.  See
    :func:`jopt.transforms.scale_by_rprop`."""
    return chain(scale_by_rprop(learning_rate, eta_minus, eta_plus, min_step_size, max_step_size,
                                lagged=lagged),
                 scale(-1.0))


def sm3(learning_rate: ScalarOrSchedule, momentum: Any = 0.9) -> GradientTransformation:
    """SM3 (Anil et al. 2019): Adagrad with a memory-efficient cover of per-axis maxima,
    and momentum.  As optax's ``sm3`` (which takes a number; jopt also a schedule).  See
    :func:`jopt.transforms.scale_by_sm3`."""
    check_unit_interval("momentum", momentum)  # by its own name, not scale_by_sm3's "b1"
    return chain(scale_by_sm3(momentum), scale_by_learning_rate(learning_rate))


def adafactor(learning_rate: Optional[ScalarOrSchedule] = None, min_dim_size_to_factor: int = 128,
              decay_rate: Any = 0.8, decay_offset: Any = 0,
              multiply_by_parameter_scale: bool = True,
              clipping_threshold: Optional[Any] = 1.0, momentum: Optional[Any] = None,
              dtype_momentum: Any = jnp.float32,
              weight_decay_rate: Optional[ScalarOrSchedule] = None,
              eps: Any = 1e-30, factored: bool = True,
              weight_decay_mask: Union[None, PyTree, Callable] = None) -> GradientTransformation:
    """Adafactor (Shazeer & Stern 2018, "Adaptive learning rates with sublinear memory cost")::

        u = factored_rms_scaling(g)              (jopt.transforms.scale_by_factored_rms)
        u <- u / max(1, rms(u) / clipping_threshold)           (clipping_threshold given)
        u <- learning_rate * u                                 (learning_rate given)
        u <- u * max(rms(x), 1e-3)                             (multiply_by_parameter_scale)
        u <- momentum ema of u, no debiasing                   (momentum given)
        x_{t+1} = x_t - (u + weight_decay_rate x_t)

    As optax's ``adafactor``.  ``min_dim_size_to_factor`` and ``factored`` fix the
    state's shapes: static.  ``None`` (and the booleans) choose the chain's transforms.
    """
    if momentum is not None:
        check_unit_interval("momentum", momentum)  # the transforms' own names differ
    check_positive("eps", eps)
    check_finite("decay_offset", decay_offset)
    return chain(scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor,
                                       eps),
                 identity() if clipping_threshold is None
                 else clip_by_block_rms(clipping_threshold),
                 identity() if learning_rate is None
                 else scale_by_learning_rate(learning_rate, flip_sign=False),
                 scale_by_param_block_rms() if multiply_by_parameter_scale else identity(),
                 identity() if momentum is None else ema(momentum, False, dtype_momentum),
                 identity() if weight_decay_rate is None
                 else add_decayed_weights(weight_decay_rate, weight_decay_mask),
                 scale(-1.0))


def adadelta(learning_rate: Optional[ScalarOrSchedule] = None, rho: Any = 0.9, eps: Any = 1e-6,
             weight_decay: ScalarOrSchedule = 0.0,
             weight_decay_mask: Union[None, PyTree, Callable] = None) -> GradientTransformation:
    """Adadelta (Zeiler 2012)::

        E[g²]_t = rho E[g²]_{t-1} + (1 - rho) g_t²
        d_t = sqrt(E[dx²]_{t-1} + eps) / sqrt(E[g²]_t + eps) g_t
        E[dx²]_t = rho E[dx²]_{t-1} + (1 - rho) d_t²,     x_{t+1} = x_t - eta_t d_t

    with ``g`` including the L2 penalty ``weight_decay x``: optax's and torch's rule.
    ``learning_rate=None`` is a rate of 1 (the paper's and torch's default ``lr=1.0``):
    a descent step.  optax 0.2.8's ``adadelta(None)`` skips the scaling and with it the
    sign flip, so it ascends; jopt does not copy that.
    """
    return chain(add_decayed_weights(weight_decay, weight_decay_mask), scale_by_adadelta(rho, eps),
                 scale_by_learning_rate(1.0 if learning_rate is None else learning_rate))


def optimistic_gradient_descent(learning_rate: ScalarOrSchedule, alpha: Any = 1.0,
                                beta: Any = 1.0) -> GradientTransformation:
    """Optimistic gradient descent (Popov 1980; Mokhtari et al. 2020), for min-max games::

        x_{t+1} = x_t - eta_t ((alpha + beta) g_t - beta g_{t-1})

    As optax's; see :func:`jopt.transforms.scale_by_optimistic_gradient`."""
    return chain(scale_by_optimistic_gradient(alpha, beta), scale_by_learning_rate(learning_rate))


def optimistic_adam_v2(learning_rate: ScalarOrSchedule, *, alpha: Any = 1.0, beta: Any = 1.0,
                       b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, eps_root: Any = 0.0,
                       mu_dtype: Any = None, nesterov: bool = True) -> GradientTransformation:
    """Optimistic Adam (Daskalakis et al. 2018): the optimistic correction applied to
    NAdam's step, ``x -= eta_t ((alpha + beta) a_t - beta a_{t-1})``, ``a`` Adam's scaled
    step.  As optax's ``optimistic_adam_v2``."""
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 scale_by_optimistic_gradient(alpha, beta), scale_by_learning_rate(learning_rate))


def optimistic_adam(learning_rate: Any, optimism: Optional[Any] = None, b1: Any = 0.9,
                    b2: Any = 0.999, eps: Any = 1e-8, eps_root: Any = 0.0, mu_dtype: Any = None,
                    *, nesterov: bool = True) -> GradientTransformation:
    """optax's older ``optimistic_adam``: ``optimistic_adam_v2`` with ``alpha =
    learning_rate``, ``beta = optimism`` (default the learning rate) and a unit rate,
    ``x -= (lr + optimism) a_t - optimism a_{t-1}``.  A number, not a schedule, as optax's."""
    check_nonnegative("learning_rate", learning_rate)
    check_nonnegative("optimism", optimism)
    if callable(learning_rate):
        raise TypeError("optimistic_adam takes a number; for a schedule use optimistic_adam_v2")
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 scale_by_optimistic_gradient(learning_rate,
                                              learning_rate if optimism is None else optimism),
                 scale_by_learning_rate(1.0))


def polyak_sgd(max_learning_rate: Any = 1.0, scaling: ScalarOrSchedule = 1.0, f_min: Any = 0.0,
               eps: Any = 0.0, variant: str = "sps") -> GradientTransformation:
    """SGD with the Polyak step size (SPS_max, Loizou et al. 2021)::

        x_{t+1} = x_t - min((f(x_t) - f_min) / (||s g_t||² + eps), max_learning_rate) s g_t

    ``s = scaling`` (as optax's chain, the norm is the scaled gradient's).  ``update``
    needs ``value=f(x)``.  See :func:`jopt.transforms.scale_by_polyak`."""
    check_schedule_or_nonnegative("scaling", scaling)
    return chain(scale_by_learning_rate(scaling),
                 scale_by_polyak(f_min, max_learning_rate, eps, variant))
