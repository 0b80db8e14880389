"""The data the examples share: scikit-learn's digits, split 70/15/15 and standardized."""

from jopt import data


def digits_splits(images: bool = False) -> dict:
    """``{"train", "val", "test"}``, each ``(x, y)``; with ``images``, x as 8x8x1 images."""
    splits = data.load("digits", seed=0)
    shape = (-1, 8, 8, 1) if images else (-1, 64)
    return {name: (split.x.reshape(shape), split.y) for name, split in splits._asdict().items()}
