"""jopt: first-order optimization in JAX.

Optimizers are pure ``(init, update)`` pairs composed into chains (as in optax), every
numeric hyperparameter is data (traceable under ``jit``, ``vmap`` and ``grad``), and
the lectures' update-rule conventions are named options.  The repository's README.md
is the guide (the API, the conventions, sweeps) and docs/ holds the figure catalogue
and the benchmark notes.  :mod:`jopt.sweep` runs vectorized hyperparameter sweeps (also
the ``jopt`` command); :mod:`jopt.devices` gives a CPU's cores to JAX before it starts.
"""

from jopt import data, devices, losses, models, schedules, transforms
from jopt.base import (ChainState, EmptyState, GradientTransformation,
                       GradientTransformationExtraArgs, Schedule, apply_updates, chain, find_state,
                       incremental_update, init_empty_state, periodic_update, set_to_zero,
                       stateless, stateless_with_tree_map, tree_l2_norm, tree_vdot,
                       with_extra_args_support)
from jopt.combine import (MaskedNode, MaskedState, PartitionState, masked, multi_transform,
                          named_chain, partition)
from jopt.optimizers import (adabelief, adadelta, adafactor, adagrad, adam, adamax, adamaxw, adamw,
                             adan, amsgrad, fromage, lamb, lars, lion, nadam, nadamw, noisy_sgd,
                             novograd, optimistic_adam, optimistic_adam_v2,
                             optimistic_gradient_descent, polyak_sgd, radam, rmsprop, rprop, sgd,
                             sign_sgd, signum, sm3, yogi)
from jopt.schedules import (constant_schedule, cosine_decay_schedule, exponential_decay, floor,
                            inverse_time_decay, join_schedules, linear_schedule,
                            piecewise_constant_schedule, polynomial_schedule, power_decay,
                            warmup, warmup_cosine_decay_schedule, warmup_constant_schedule,
                            warmup_exponential_decay_schedule, sgdr_schedule,
                            piecewise_interpolate_schedule, linear_onecycle_schedule,
                            cosine_onecycle_schedule)
from jopt.data import Dataset, Splits
from jopt.lbfgs import LbfgsState, lbfgs
from jopt.linesearch import (BacktrackingState, exact_quadratic_step,
                             scale_by_backtracking_linesearch, scale_by_exact_quadratic_step)
from jopt.models import Model
from jopt.train import FitResult, MinimizeResult, fit, minimize, reason_name
from jopt.wrappers import (ApplyIfFiniteState, InjectHyperparamsState, MultiSteps,
                            MultiStepsState, apply_if_finite, inject_hyperparams)
from jopt.transforms import (AddNoiseState, AverageState, EmaState, FactoredState,
                             ScaleByAdaDeltaState, ScaleByAdagradState, ScaleByAdamState,
                             ScaleByAdanState, ScaleByAmsgradState, ScaleByBeliefState,
                             ScaleByLionState, ScaleByNadamState, ScaleByNovogradState,
                             ScaleByOptimisticGradientState, ScaleByRmsState, ScaleByRpropState,
                             ScaleByScheduleState, ScaleBySM3State, TraceState,
                             add_decayed_weights, add_l1_penalty, add_noise, average_iterates,
                             clip, clip_by_block_rms, clip_by_global_norm, ema, identity, scale,
                             scale_by_adadelta, scale_by_adagrad, scale_by_adam, scale_by_adamax,
                             scale_by_adan, scale_by_amsgrad, scale_by_belief,
                             scale_by_factored_rms, scale_by_learning_rate, scale_by_lion,
                             scale_by_nadam, scale_by_novograd, scale_by_optimistic_gradient,
                             scale_by_param_block_norm, scale_by_param_block_rms,
                             scale_by_polyak, scale_by_radam, scale_by_rms, scale_by_rprop,
                             scale_by_rss, scale_by_schedule, scale_by_sign, scale_by_sm3,
                             scale_by_stddev, scale_by_trust_ratio, scale_by_yogi, trace)

__version__ = "0.1.0"

__all__ = [
    # protocol
    "GradientTransformation", "ChainState", "EmptyState", "Schedule", "chain", "apply_updates",
    "find_state", "tree_l2_norm", "tree_vdot", "GradientTransformationExtraArgs",
    "with_extra_args_support", "init_empty_state", "stateless", "stateless_with_tree_map",
    "set_to_zero", "incremental_update", "periodic_update",
    # combining and wrapping transformations
    "masked", "MaskedState", "MaskedNode", "partition", "multi_transform", "PartitionState",
    "named_chain", "inject_hyperparams", "InjectHyperparamsState", "apply_if_finite",
    "ApplyIfFiniteState", "MultiSteps", "MultiStepsState",
    # transforms
    "identity", "scale", "scale_by_learning_rate", "scale_by_schedule", "trace", "ema",
    "scale_by_adagrad", "scale_by_rss", "scale_by_rms", "scale_by_stddev", "scale_by_adam",
    "add_decayed_weights", "add_l1_penalty", "clip", "clip_by_global_norm", "average_iterates",
    "TraceState", "EmaState", "ScaleByAdagradState", "ScaleByRmsState", "ScaleByAdamState",
    "ScaleByScheduleState", "AverageState",
    "scale_by_sign", "scale_by_trust_ratio", "scale_by_param_block_norm",
    "scale_by_param_block_rms", "clip_by_block_rms", "scale_by_amsgrad", "scale_by_adamax",
    "scale_by_nadam", "scale_by_radam", "scale_by_belief", "scale_by_yogi", "scale_by_adan",
    "scale_by_lion", "scale_by_adadelta", "scale_by_novograd", "scale_by_optimistic_gradient",
    "scale_by_rprop", "scale_by_sm3", "add_noise", "scale_by_polyak", "scale_by_factored_rms",
    "ScaleByAmsgradState", "ScaleByNadamState", "ScaleByBeliefState", "ScaleByAdanState",
    "ScaleByLionState", "ScaleByAdaDeltaState", "ScaleByNovogradState",
    "ScaleByOptimisticGradientState", "ScaleByRpropState", "ScaleBySM3State", "AddNoiseState",
    "FactoredState",
    # optimizers
    "sgd", "adagrad", "rmsprop", "adam", "adamw", "adabelief", "adadelta", "adafactor", "adamax",
    "adamaxw", "adan", "amsgrad", "fromage", "lamb", "lars", "lion", "nadam", "nadamw",
    "noisy_sgd", "novograd", "optimistic_adam", "optimistic_adam_v2",
    "optimistic_gradient_descent", "polyak_sgd", "radam", "rprop", "sign_sgd", "signum", "sm3",
    "yogi",
    # schedules
    "constant_schedule", "linear_schedule", "polynomial_schedule", "exponential_decay",
    "piecewise_constant_schedule", "cosine_decay_schedule", "warmup_cosine_decay_schedule",
    "inverse_time_decay", "power_decay", "join_schedules", "warmup", "floor",
    "warmup_constant_schedule", "warmup_exponential_decay_schedule", "sgdr_schedule",
    "piecewise_interpolate_schedule", "linear_onecycle_schedule", "cosine_onecycle_schedule",
    # line search, L-BFGS
    "scale_by_backtracking_linesearch", "scale_by_exact_quadratic_step", "exact_quadratic_step",
    "BacktrackingState", "lbfgs", "LbfgsState",
    # training
    "minimize", "MinimizeResult", "reason_name", "fit", "FitResult", "Model", "Dataset", "Splits",
    # modules
    "schedules", "transforms", "losses", "models", "data", "devices", "sweep",
]


def __getattr__(name):
    # jopt.sweep needs pandas and pyarrow for its results: imported on first use
    if name == "sweep":
        import importlib
        return importlib.import_module("jopt.sweep")
    raise AttributeError(f"module 'jopt' has no attribute {name!r}")
