"""Combining transformations over parts of the parameters: optax's ``partition``,
``masked`` and ``named_chain``, under optax's names and with optax's meaning.

- :func:`masked` applies a transformation to the leaves a mask selects and passes the
  others through unchanged; the inner transformation sees the masked-out leaves as
  :class:`MaskedNode` (an empty node: no leaves, no state).
- :func:`partition` gives every parameter a label and applies ``transforms[label]``
  to the parameters with that label (one masked transformation per label).
- :func:`named_chain` is :func:`jopt.chain` with named states.

Masks and labels may be trees of the parameters' structure or a prefix of it (a label
for a whole subtree), or functions ``params -> tree``.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, NamedTuple, Union

import jax

from jopt.base import (GradientTransformation, GradientTransformationExtraArgs, OptState, PyTree,
                       with_extra_args_support)

__all__ = ["masked", "MaskedState", "MaskedNode", "partition", "multi_transform",
           "PartitionState", "named_chain"]


class MaskedNode(NamedTuple):
    """Stands in for a masked-out subtree: a node with no leaves."""


class MaskedState(NamedTuple):
    inner_state: Any


class PartitionState(NamedTuple):
    inner_states: Mapping[Hashable, MaskedState]


def _tree_of(spec: Union[PyTree, Callable[[PyTree], PyTree]], tree: PyTree) -> PyTree:
    """A mask or label tree given as a tree or as a function of the parameters."""
    return spec(tree) if callable(spec) else spec


def _mask_out(tree: PyTree, mask_tree: PyTree) -> PyTree:
    """``tree`` with the subtrees where ``mask_tree`` (a prefix of it) is false replaced by
    :class:`MaskedNode`."""
    return jax.tree_util.tree_map(lambda keep, sub: sub if keep else MaskedNode(),
                                  mask_tree, tree)


def _mask_extra_args(extra_args: dict, updates: PyTree, mask_tree: PyTree) -> dict:
    """The extra arguments shaped like ``updates`` (e.g. a per-parameter gradient) masked too."""
    structure = jax.tree_util.tree_structure(updates)
    return {name: _mask_out(value, mask_tree)
            if jax.tree_util.tree_structure(value) == structure else value
            for name, value in extra_args.items()}


def masked(inner: GradientTransformation, mask: Union[PyTree, Callable[[PyTree], PyTree]], *,
           mask_compatible_extra_args: bool = False) -> GradientTransformationExtraArgs:
    """Apply ``inner`` to the leaves where ``mask`` is true; pass the others unchanged.

    optax's ``masked``: the inner transformation is initialized and updated on the
    masked tree, whose masked-out subtrees are :class:`MaskedNode`, so it keeps state
    only for the selected leaves.  ``mask`` is a tree of booleans (the parameters'
    structure or a prefix of it) or a function of the parameters (of the updates, in
    ``update``) returning one.  With ``mask_compatible_extra_args=True``, extra
    arguments with the updates' structure are masked as well.
    """
    inner = with_extra_args_support(inner)

    def init(params):
        return MaskedState(inner.init(_mask_out(params, _tree_of(mask, params))))

    def update(updates, state, params=None, **extra_args):
        mask_tree = _tree_of(mask, updates)
        if mask_compatible_extra_args:
            extra_args = _mask_extra_args(extra_args, updates, mask_tree)
        masked_params = None if params is None else _mask_out(params, mask_tree)
        new_masked, inner_state = inner.update(_mask_out(updates, mask_tree), state.inner_state,
                                               masked_params, **extra_args)
        new_updates = jax.tree_util.tree_map(lambda keep, new, old: new if keep else old,
                                             mask_tree, new_masked, updates)
        return new_updates, MaskedState(inner_state)
    return GradientTransformationExtraArgs(init, update)


def partition(transforms: Mapping[Hashable, GradientTransformation],
              param_labels: Union[PyTree, Callable[[PyTree], PyTree]], *,
              mask_compatible_extra_args: bool = False) -> GradientTransformationExtraArgs:
    """Apply ``transforms[label]`` to the parameters labelled ``label`` (optax's ``partition``).

    ``param_labels`` is a tree of labels (the parameters' structure or a prefix of it)
    or a function of the parameters returning one.  Every label must be a key of
    ``transforms``; ``init`` raises ``ValueError`` otherwise.  Each transformation is
    :func:`masked` to its parameters, so it keeps state only for them.  For example
    ``partition({"train": adam(1e-3), "frozen": set_to_zero()}, labels)`` freezes the
    parameters labelled ``"frozen"``.
    """
    def labelled(labels: PyTree, label: Hashable) -> GradientTransformationExtraArgs:
        mask_tree = jax.tree_util.tree_map(lambda leaf: leaf == label, labels)
        return masked(transforms[label], mask_tree,
                      mask_compatible_extra_args=mask_compatible_extra_args)

    def init(params):
        labels = _tree_of(param_labels, params)
        unknown = set(jax.tree_util.tree_leaves(labels)) - set(transforms)
        if unknown:
            raise ValueError(f"param_labels holds labels {sorted(map(repr, unknown))} that are not "
                             f"keys of transforms ({sorted(map(repr, transforms))})")
        return PartitionState({label: labelled(labels, label).init(params)
                               for label in transforms})

    def update(updates, state, params=None, **extra_args):
        labels = _tree_of(param_labels, updates)
        inner_states = {}
        for label in transforms:
            updates, inner_states[label] = labelled(labels, label).update(
                updates, state.inner_states[label], params, **extra_args)
        return updates, PartitionState(inner_states)
    return GradientTransformationExtraArgs(init, update)


multi_transform = partition
"""optax's former name of :func:`partition`."""


def named_chain(*transforms: tuple[str, GradientTransformation]) -> GradientTransformationExtraArgs:
    """Apply the transformations one after the other, their states in a dict by name.

    optax's ``named_chain``: ``named_chain(("clip", clip(1.0)), ("adam", adam(1e-3)))``.
    Extra arguments reach every transformation that accepts them.
    """
    named = [(name, with_extra_args_support(transform)) for name, transform in transforms]

    def init(params) -> dict[str, OptState]:
        return {name: transform.init(params) for name, transform in named}

    def update(updates, state, params=None, **extra_args):
        new_state = {}
        for name, transform in named:
            updates, new_state[name] = transform.update(updates, state[name], params,
                                                        **extra_args)
        return updates, new_state
    return GradientTransformationExtraArgs(init, update)
