"""Data: bundled and synthetic data sets, seeded splits, an IDX reader, batch samplers.

Data sets are NumPy arrays on the host: a :class:`Dataset` is an ``(x, y)`` pair and
:class:`Splits` holds ``train``, ``val`` and ``test``.  ``x`` is float32 of shape
``(n, d)``; ``y`` is int32 class labels for classification and float32 targets for
regression.  Nothing reads the network: :func:`load` serves scikit-learn's bundled
files and jopt's synthetic problems, :func:`load_idx` and :func:`load_mnist` read
MNIST-format files the user already has.

The synthetic generators reproduce docs/FIGURES.md's shared problems with NumPy's
``default_rng(seed)`` and the draw order written there, in float64.

The samplers (:func:`batch_indices`, :func:`epoch_batches`) are pure JAX functions of
a key and a step number, jittable with a traced step, for ``fit``'s ``lax.scan``.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import os
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import threefry_2x32

from jopt.base import is_concrete

__all__ = [
    "Dataset", "Splits", "DATASETS", "SAMPLINGS",
    # loading and splitting
    "load", "split", "standardize",
    # synthetic problems
    "Quadratic", "quadratic", "LinearRegression", "linear_regression", "DoubleDescent",
    "double_descent", "saxe_hierarchical", "SaxeTeacher", "saxe_linear",
    # IDX files
    "load_idx", "save_idx", "load_mnist", "find_mnist_file", "IDX_DTYPES", "MNIST_FILES",
    # samplers
    "steps_per_epoch", "epoch_permutation", "epoch_words", "epoch_batches", "batch_indices", "padded_batch",
    # validation
    "check_dataset", "check_splits", "check_batch_size",
]


class Dataset(NamedTuple):
    """Inputs ``x`` of shape ``(n, d)`` and targets or labels ``y`` of shape ``(n,)``."""

    x: np.ndarray
    y: np.ndarray


class Splits(NamedTuple):
    """Disjoint train, validation and test sets, each a :class:`Dataset` ``(x, y)``."""

    train: Dataset
    val: Dataset
    test: Dataset


# ----------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------


def check_dataset(x: Any, y: Any, name: str = "train", *, allow_empty: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` if ``x`` and ``y`` cannot be trained on.

    Checks: as many rows in ``x`` as entries in ``y``, at least one example (unless
    ``allow_empty``), and no NaN or infinite value in either (the first one found is
    named with its index).
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"{name}: x and y must have a leading example axis, got shapes "
                         f"{x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{name}: x has {len(x)} examples but y has {len(y)}")
    if len(x) == 0 and not allow_empty:
        raise ValueError(f"{name}: the data set is empty (0 examples)")
    for field, values in (("x", x), ("y", y)):
        if np.issubdtype(values.dtype, np.inexact) and not np.all(np.isfinite(values)):
            bad = np.argwhere(~np.isfinite(values))
            index = tuple(int(i) for i in bad[0])
            raise ValueError(f"{name}.{field} has {len(bad)} non-finite values; the first is "
                             f"{values[index].item()!r} at index {index}")


def check_splits(splits: Splits) -> None:
    """:func:`check_dataset` on each split; validation and test sets may be empty."""
    for name, (x, y) in zip(Splits._fields, splits):
        check_dataset(x, y, name, allow_empty=name != "train")


def check_batch_size(batch_size: Any, n: int, name: str = "batch_size") -> None:
    """Raise ``ValueError`` unless ``batch_size`` is an integer in ``[1, n]``."""
    if isinstance(batch_size, (np.ndarray, jax.Array)) and batch_size.ndim == 0 \
            and np.issubdtype(batch_size.dtype, np.integer):
        batch_size = int(batch_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {batch_size!r}")
    if not 1 <= batch_size <= n:
        raise ValueError(f"{name} must be between 1 and the number of examples ({n}), "
                         f"got {batch_size}")


def _check_fraction(name: str, value: Any) -> None:
    if not (isinstance(value, (int, float, np.number)) and 0 <= value < 1):
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


# ----------------------------------------------------------------------------
# Splitting and standardization
# ----------------------------------------------------------------------------


def _holdout(rng: np.random.Generator, n: int, size: int,
             labels: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled index arrays ``(rest, held_out)`` with ``len(held_out) == size``.

    With ``labels``, stratified: each class gives its share of ``size`` (largest
    remainders round, ties broken at random), so class proportions are kept.
    """
    if labels is None:
        order = rng.permutation(n)
        return order[size:], order[:size]
    classes, counts = np.unique(labels, return_counts=True)
    quota = size * counts / n
    take = np.floor(quota).astype(int)
    remainders = quota - take + rng.uniform(0, 1e-9, len(quota))
    take[np.argsort(-remainders)[:size - take.sum()]] += 1
    held_out = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:k]
                               for c, k in zip(classes, take)])
    rest = np.setdiff1d(np.arange(n), held_out)
    return rng.permutation(rest), rng.permutation(held_out)


def split(x: Any, y: Any, *, seed: int = 0, val_fraction: float = 0.15,
          test_fraction: float = 0.15, stratify: bool = False) -> Splits:
    """Seeded, disjoint train/validation/test splits of ``(x, y)``.

    The test set holds ``round(test_fraction * n)`` examples, the validation set
    ``round(val_fraction * n)``, the training set the rest; each in a random order.
    ``stratify=True`` keeps the class proportions of ``y`` in every split.
    """
    x, y = np.asarray(x), np.asarray(y)
    check_dataset(x, y, "data")
    _check_fraction("val_fraction", val_fraction)
    _check_fraction("test_fraction", test_fraction)
    n = len(x)
    n_test, n_val = round(test_fraction * n), round(val_fraction * n)
    if n - n_test - n_val < 1:
        raise ValueError(f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) "
                         f"leave no training example out of {n}")
    rng = np.random.default_rng(seed)
    labels = y if stratify else None
    rest, test = _holdout(rng, n, n_test, labels)
    train, val = _holdout(rng, len(rest), n_val, None if labels is None else labels[rest])
    train, val = rest[train], rest[val]
    return Splits(*(Dataset(x[i], y[i]) for i in (train, val, test)))


def standardize(train_x: Any, *others: Any) -> tuple:
    """Feature standardization fitted on ``train_x``: ``(x - mean) / std`` per column.

    Returns ``(train_x', *others', (mean, std))``: the mean and standard deviation are
    those of ``train_x`` and are applied to every array, so no statistic of the
    validation or test data leaks into training.  A constant column (``std = 0``) is
    only centred.  Deck 002 "Feature scaling" ("make different features have the same
    scaling"); FIGURES.md F12: the Hessian's condition number drops from ~10^4 to ~1.
    """
    arrays = [np.asarray(x) for x in (train_x, *others)]
    mean = arrays[0].mean(axis=0)
    std = arrays[0].std(axis=0)
    std = np.where(std > 0, std, 1).astype(mean.dtype)
    return (*(((x - mean) / std).astype(mean.dtype) for x in arrays), (mean, std))


_standardize = standardize  # ``load``'s argument of that name shadows the function


# ----------------------------------------------------------------------------
# Synthetic problems (FIGURES.md "Shared problems")
# ----------------------------------------------------------------------------


class Quadratic(NamedTuple):
    """``f(x) = 1/2 x'Ax - b'x + c``; call it on ``x``.  A pytree of its arrays."""

    A: np.ndarray
    b: np.ndarray
    c: np.ndarray

    def __call__(self, x: jax.Array) -> jax.Array:
        a, b, c = (jnp.asarray(v) for v in self)
        return 0.5 * x @ (a @ x) - b @ x + c

    def grad(self, x: jax.Array) -> jax.Array:
        """``A x - b``."""
        return jnp.asarray(self.A) @ x - jnp.asarray(self.b)


def _orthogonal(rng: np.random.Generator, size: int) -> np.ndarray:
    """The ``Q`` of ``numpy.linalg.qr`` of a standard normal matrix (no sign fixing)."""
    return np.linalg.qr(rng.normal(size=(size, size)))[0]


def quadratic(eigenvalues: Sequence[float], *, rotation_seed: Optional[int] = None,
              minimizer: Optional[Sequence[float]] = None) -> Quadratic:
    """A quadratic with Hessian ``A = Q diag(eigenvalues) Q'`` and minimum value 0.

    ``Q`` is the identity (an axis-aligned quadratic, FIGURES.md Q10, Q100, QH), or a
    random orthogonal matrix from ``default_rng(rotation_seed)``.  ``b = A x*`` and
    ``c = 1/2 x*'A x*`` for ``x* = minimizer`` (default 0), so that
    ``f(x) = 1/2 (x - x*)'A(x - x*)``.  Example: ``quadratic([1, 10])`` is Q10,
    ``f(x) = 1/2 (x1^2 + 10 x2^2)``.  float64 NumPy arrays.
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    if eigenvalues.ndim != 1 or len(eigenvalues) == 0 or not np.all(np.isfinite(eigenvalues)):
        raise ValueError(f"eigenvalues must be a non-empty vector of finite numbers, "
                         f"got {eigenvalues!r}")
    d = len(eigenvalues)
    q = np.eye(d) if rotation_seed is None else _orthogonal(np.random.default_rng(rotation_seed), d)
    a = (q * eigenvalues) @ q.T
    a = 0.5 * (a + a.T)
    x_star = np.zeros(d) if minimizer is None else np.asarray(minimizer, dtype=np.float64)
    if x_star.shape != (d,):
        raise ValueError(f"minimizer must have shape ({d},), got {x_star.shape}")
    b = a @ x_star
    return Quadratic(a, b, np.asarray(0.5 * x_star @ b))


class LinearRegression(NamedTuple):
    """Inputs ``x`` ``(n, d)``, targets ``y`` ``(n,)`` and the true weights ``w_star``."""

    x: np.ndarray
    y: np.ndarray
    w_star: np.ndarray


def linear_regression(n: int = 1000, d: int = 10, noise: float = 0.5,
                      seed: int = 0) -> LinearRegression:
    """FIGURES.md LINREG: noisy linear regression, ``y = X w* + noise * e``.

    Draw order: ``rng = default_rng(seed)``; ``X = rng.normal(size=(n, d))``;
    ``w* = rng.normal(size=d)``; ``y = X w* + noise * rng.normal(size=n)``.  With the
    defaults ``H = X'X/n`` has eigenvalues in [0.811, 1.164] and the minimum of the
    loss ``1/2 mean (y - x'w)^2`` is ``L* = 0.12438``.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w_star = rng.normal(size=d)
    y = x @ w_star + noise * rng.normal(size=n)
    return LinearRegression(x, y, w_star)


class DoubleDescent(NamedTuple):
    """FIGURES.md RF data: ``train``, ``val`` (empty unless asked), ``test`` and ``w_star``."""

    train: Dataset
    val: Dataset
    test: Dataset
    w_star: np.ndarray


def double_descent(n: int = 100, p: int = 10, noise: float = 0.1, n_test: int = 2000,
                   seed: int = 0, *, n_val: int = 0) -> DoubleDescent:
    """FIGURES.md RF: the regression data of the double-descent figures (F47-F49).

    Draw order: ``rng = default_rng(seed)``; ``w* = rng.normal(size=p) / sqrt(p)``;
    ``X_tr = rng.normal(size=(n, p))``; ``X_te = rng.normal(size=(n_test, p))``;
    ``y_tr = X_tr w* + noise * rng.normal(size=n)``; ``y_te = X_te w*`` (noiseless).
    Then, with ``n_val > 0``, noisy validation points (F49):
    ``X_val = rng.normal(size=(n_val, p))``, ``y_val = X_val w* + noise * rng.normal(size=n_val)``;
    drawing them does not change the other sets.  The features are
    :func:`jopt.models.random_features` (feature draw ``r``: integer key ``1000 + r``).
    """
    rng = np.random.default_rng(seed)
    w_star = rng.normal(size=p) / np.sqrt(p)
    x_train = rng.normal(size=(n, p))
    x_test = rng.normal(size=(n_test, p))
    y_train = x_train @ w_star + noise * rng.normal(size=n)
    x_val = rng.normal(size=(n_val, p))
    y_val = x_val @ w_star + noise * rng.normal(size=n_val)
    return DoubleDescent(Dataset(x_train, y_train), Dataset(x_val, y_val),
                         Dataset(x_test, x_test @ w_star), w_star)


def saxe_hierarchical(depth: int = 3) -> Dataset:
    """Saxe et al.'s hierarchical data set: ``2^depth`` items, features from a binary tree.

    Inputs are one-hot items (``x = I``).  There is one feature per node of a complete
    binary tree of the given depth (``2^(depth+1) - 1`` features: the root, shared by
    all items, then e.g. "animal"/"plant", "bird"/"fish"/"tree"/"flower", then one per
    item), and an item has the features of the nodes on its path from the root.  With
    ``depth=3``: 8 items, 15 features, and the singular values of ``y`` are
    ``sqrt(15), sqrt(7), sqrt(3) (x2), 1 (x4)``: broader distinctions are stronger
    modes and are learned first (deck 001 "Two-Layer Linear Network"; Saxe, McClelland
    & Ganguli 2014/2019).  float64.
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer, got {depth!r}")
    items = np.arange(2 ** depth)
    # level l has 2^l nodes; item i sits under node i >> (depth - l) of level l
    features = [np.eye(2 ** level)[items >> (depth - level)] for level in range(depth + 1)]
    return Dataset(np.eye(len(items)), np.concatenate(features, axis=1))


class SaxeTeacher(NamedTuple):
    """F46's teacher: whitened ``x``, ``y = x gamma'``, ``gamma = u diag(sigmas) v'``."""

    x: np.ndarray
    y: np.ndarray
    gamma: np.ndarray
    u: np.ndarray
    sigmas: np.ndarray
    v: np.ndarray


def saxe_linear(sigmas: Sequence[float] = (4.0, 3.0, 2.0, 1.0), in_dim: int = 8,
                out_dim: int = 8, seed: int = 0) -> SaxeTeacher:
    """FIGURES.md F46: a linear teacher ``Gamma = U diag(sigmas) V'`` with whitened inputs.

    Draw order: ``rng = default_rng(seed)``; ``U`` = the first ``r`` columns of the
    ``Q`` of ``qr(rng.normal(size=(out_dim, out_dim)))``, then ``V`` likewise from an
    ``(in_dim, in_dim)`` draw, then an orthogonal ``O`` from a third (FIGURES.md does
    not say how ``O`` is drawn).  Inputs ``X = sqrt(in_dim) O`` (``in_dim`` examples,
    rows), so that ``X'X/N = I`` (whitened), and ``Y = X Gamma'``, so ``Y'X/N = Gamma``.
    """
    sigmas = np.asarray(sigmas, dtype=np.float64)
    r = len(sigmas)
    if r > min(in_dim, out_dim):
        raise ValueError(f"sigmas has {r} values, more than min(in_dim, out_dim) = "
                         f"{min(in_dim, out_dim)}")
    rng = np.random.default_rng(seed)
    u = _orthogonal(rng, out_dim)[:, :r]
    v = _orthogonal(rng, in_dim)[:, :r]
    x = np.sqrt(in_dim) * _orthogonal(rng, in_dim)
    gamma = (u * sigmas) @ v.T
    return SaxeTeacher(x, x @ gamma.T, gamma, u, sigmas, v)


# ----------------------------------------------------------------------------
# load: bundled and synthetic data sets by name
# ----------------------------------------------------------------------------


def sklearn_data_file(name: str) -> Optional[str]:
    """The path of scikit-learn's bundled data file ``name`` (``sklearn/datasets/data/``),
    found without importing scikit-learn; None when it is not installed or the file is
    not there."""
    spec = importlib.util.find_spec("sklearn")  # a top-level package: not imported
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "datasets", "data", name)
        if os.path.isfile(path):
            return path
    return None


def read_bundled_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x float64, y int)`` of one of scikit-learn's bundled classification files:
    ``digits.csv.gz`` (rows of features then the label) or a ``.csv`` whose first line is
    ``n_samples, n_features, class names...``, as ``sklearn.datasets`` reads them."""
    if path.endswith(".gz"):
        with gzip.open(path, "rt") as lines:
            table = np.loadtxt(lines, delimiter=",")
    else:
        with open(path, encoding="utf-8") as lines:
            n_samples, n_features = (int(v) for v in next(csv.reader(lines))[:2])
            table = np.loadtxt(lines, delimiter=",", ndmin=2)
        if table.shape != (n_samples, n_features + 1):
            raise ValueError(f"{path}: {table.shape} values, its header says "
                             f"{n_samples} x {n_features} and a label")
    return table[:, :-1], table[:, -1].astype(int)


def _sklearn(loader: str, bundled: Optional[str] = None) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """``load_raw`` of a scikit-learn data set: its ``bundled`` file read directly when
    there is one (importing scikit-learn takes longer than a sweep of digits compiles),
    else ``sklearn.datasets.<loader>``."""
    def load_raw():
        path = sklearn_data_file(bundled) if bundled else None
        if path is not None:
            return read_bundled_csv(path)
        import sklearn.datasets  # an optional dependency: jopt[data]
        return getattr(sklearn.datasets, loader)(return_X_y=True)
    return load_raw


_DATASETS: dict[str, tuple[Callable[[], tuple[np.ndarray, np.ndarray]], str]] = {
    # 1797 x 64, 10 classes, 0..16
    "digits": (_sklearn("load_digits", "digits.csv.gz"), "classification"),
    # 569 x 30, 2 classes
    "breast_cancer": (_sklearn("load_breast_cancer", "breast_cancer.csv"), "classification"),
    "iris": (_sklearn("load_iris", "iris.csv"), "classification"),  # 150 x 4, 3 classes
    "wine": (_sklearn("load_wine", "wine_data.csv"), "classification"),  # 178 x 13, 3 classes
    # 442 x 10, scaled by scikit-learn's own function
    "diabetes": (_sklearn("load_diabetes"), "regression"),
    "linreg": (lambda: linear_regression()[:2], "regression"),  # FIGURES.md LINREG, 1000 x 10
}
DATASETS = tuple(sorted(_DATASETS))


def load(name: str, *, seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.15,
         standardize: bool = True) -> Splits:
    """The data set ``name`` (one of :data:`DATASETS`), split and optionally standardized.

    scikit-learn's bundled ``digits``, ``breast_cancer``, ``iris``, ``wine``
    (classification: stratified splits, int32 labels) and ``diabetes`` (regression),
    and FIGURES.md's ``linreg`` (always the same 1000 examples; ``seed`` picks the
    split).  ``standardize=True`` applies :func:`standardize` fitted on the training
    split.  ``x`` is float32, ``y`` int32 labels or float32 targets.
    """
    if name not in _DATASETS:
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(DATASETS)}")
    load_raw, task = _DATASETS[name]
    x, y = load_raw()
    y = y.astype(np.int32) if task == "classification" else y.astype(np.float32)
    splits = split(x.astype(np.float32), y, seed=seed, val_fraction=val_fraction,
                   test_fraction=test_fraction, stratify=task == "classification")
    if standardize:
        *xs, _ = _standardize(*(s.x for s in splits))
        splits = Splits(*(Dataset(x, s.y) for x, s in zip(xs, splits)))
    return splits


# ----------------------------------------------------------------------------
# IDX files (the MNIST format)
# ----------------------------------------------------------------------------

# The third byte of the magic number codes the element type; data are big-endian.
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _idx_code(dtype: np.dtype) -> Optional[int]:
    for code, idx_dtype in IDX_DTYPES.items():
        if idx_dtype.newbyteorder("=") == dtype.newbyteorder("="):
            return code
    return None


def load_idx(path: Any) -> np.ndarray:
    """The array stored in the IDX file ``path`` (plain, or gzip-compressed: detected by content).

    IDX: a magic number ``0x00 0x00 <type> <ndim>``, ``ndim`` big-endian uint32 sizes,
    then the elements, big-endian, row-major.  Types: :data:`IDX_DTYPES`.  Returns a
    native-byte-order array.  Raises ``ValueError`` naming the file for a wrong magic
    number, an unknown type code, a truncated header or data, bytes after the data, or
    a corrupt gzip stream.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: corrupt gzip data ({error})") from None
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated: {len(raw)} bytes, shorter than the 4-byte "
                         f"magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: wrong magic number 0x{raw[:4].hex()}: an IDX file starts "
                         f"with two zero bytes, a type code and the number of dimensions")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({d.name})" for c, d in IDX_DTYPES.items())
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}; known codes: {known}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path}: truncated header: {ndim} dimensions need {header_size} "
                         f"bytes, the file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header_size
    if found < expected:
        raise ValueError(f"{path}: truncated: shape {shape} of {dtype.name} needs {expected} "
                         f"bytes of data, the file has {found}")
    if found > expected:
        raise ValueError(f"{path}: {found - expected} unexpected bytes after the data of "
                         f"shape {shape}")
    data = np.frombuffer(raw, dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def save_idx(path: Any, array: Any) -> None:
    """Write ``array`` to the IDX file ``path``, gzip-compressed if the name ends in ``.gz``.

    The dtype must be one of :data:`IDX_DTYPES`'s (uint8, int8, int16, int32,
    float32, float64); cast first otherwise.
    """
    path, array = os.fspath(path), np.asarray(array)
    code = _idx_code(array.dtype)
    if code is None:
        known = ", ".join(d.name for d in IDX_DTYPES.values())
        raise ValueError(f"cannot write {array.dtype} to the IDX file {path}; IDX types: {known}")
    if array.ndim > 255:
        raise ValueError(f"an IDX file holds at most 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    raw = header + np.ascontiguousarray(array, IDX_DTYPES[code]).tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(raw) if path.endswith(".gz") else raw)


MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def find_mnist_file(folder: str, name: str) -> str:
    """The path of MNIST's file ``name`` (a value of :data:`MNIST_FILES`) in ``folder``:
    ``folder/name`` or ``folder/name.gz`` (also the common ``-idx`` -> ``.idx`` variant)."""
    candidates = [name, name + ".gz"]
    dotted = name.replace("-idx", ".idx")
    candidates += [dotted, dotted + ".gz"]
    for candidate in candidates:
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"MNIST file {name} (or {name}.gz) not found in {folder}")


def _images_and_labels(images_path: str, labels_path: str) -> Dataset:
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3:
        raise ValueError(f"{images_path}: images must have 3 dimensions (count, rows, "
                         f"columns), got shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: labels must have 1 dimension, got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds "
                         f"{len(labels)} labels")
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    return Dataset(x, labels.astype(np.int32))


def load_mnist(folder: Any, *, val_fraction: float = 1 / 12, seed: int = 0) -> Splits:
    """MNIST (or Fashion-MNIST, or any data set in its four files) from ``folder``.

    Reads :data:`MNIST_FILES` (each optionally ``.gz``).  Images are flattened and
    scaled to [0, 1] (float32), labels int32.  The validation set is carved from the
    training files (stratified; ``1/12`` of 60 000 is 5 000), the test set is the
    ``t10k`` files.  A missing file raises ``FileNotFoundError`` naming it; images and
    labels of different counts raise ``ValueError`` naming both files.
    """
    folder = os.fspath(folder)
    paths = {key: find_mnist_file(folder, name) for key, name in MNIST_FILES.items()}
    train = _images_and_labels(paths["train_images"], paths["train_labels"])
    test = _images_and_labels(paths["test_images"], paths["test_labels"])
    train, val, _ = split(*train, seed=seed, val_fraction=val_fraction, test_fraction=0.0,
                          stratify=True)
    return Splits(train, val, test)


# ----------------------------------------------------------------------------
# Mini-batch samplers: pure functions of (key, step), jittable with a traced step
# ----------------------------------------------------------------------------

SAMPLINGS = ("epoch", "replacement", "sequential")


def steps_per_epoch(n: int, batch_size: int) -> int:
    """``n // batch_size``: the incomplete last batch of an epoch is dropped."""
    check_batch_size(batch_size, n)
    return n // batch_size


def epoch_permutation(key: jax.Array, epoch: Any, n: int) -> jax.Array:
    """The permutation of ``range(n)`` (int32) for epoch ``epoch``: from ``fold_in(key, epoch)``.

    The algorithm of ``jax.random.permutation`` (sort by random keys, in rounds, each
    sort stable, so a pair tied in every round keeps its order), with each round's key
    and position packed into one uint32 word: ``random << b | position`` for
    ``b = bit_length(n - 1)``.  XLA sorts a single integer array several times faster
    than ``sort_key_val``'s pair of arrays on a CPU (docs/benchmarks.md), and the
    tie-break by position is the stable sort's.
    With ``32 - b`` random bits per round, ``ceil(3 log2 n / (32 - b))`` rounds leave a
    given pair tied in all of them with probability at most ``n^-3``, as JAX's choice
    of rounds does with 32 bits.  The random words are :func:`epoch_words`.  For
    ``n > 2^24`` it is ``jax.random.permutation(fold_in(key, epoch), n)``.
    """
    position_bits = max(1, (n - 1).bit_length())
    if position_bits > 24:
        return jax.random.permutation(jax.random.fold_in(key, epoch), n).astype(jnp.int32)
    random_bits = 32 - position_bits
    rounds = max(1, -(-3 * (n - 1).bit_length() // random_bits))
    draws = epoch_words(key, epoch, rounds * n).reshape(rounds, n)
    positions = jnp.arange(n, dtype=jnp.uint32)
    position_mask = jnp.uint32((1 << position_bits) - 1)
    order = None
    for draw in draws:
        packed = (draw & ~position_mask) | positions
        moved = (jnp.sort(packed) & position_mask).astype(jnp.int32)
        order = moved if order is None else order[moved]
    return order


def epoch_words(key: jax.Array, epoch: Any, size: int) -> jax.Array:
    """``size`` random uint32 words for epoch ``epoch`` of ``key``'s stream.

    For a Threefry key (JAX's default; a legacy ``uint32[2]`` key or a typed one), the
    Threefry-2x32 hash of the counters ``(epoch, 0), (epoch, 1), ...``, both output words
    of each, pair by pair (so fewer words are a prefix of more): one hash per epoch,
    where ``jax.random.bits(fold_in(key, epoch), ...)`` hashes twice (the fold, then the
    bits), which costs compile time inside a training loop.  Distinct epochs use
    disjoint counters.  Other key types get ``jax.random.bits(fold_in(key, epoch), (size,))``.
    """
    typed = jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    if typed and str(jax.random.key_impl(key)) == "threefry2x32":
        key, typed = jax.random.key_data(key), False
    if typed or key.shape != (2,):
        return jax.random.bits(jax.random.fold_in(key, epoch), (size,), jnp.uint32)
    pairs = -(-size // 2)
    counters = jnp.concatenate([jnp.full((pairs,), epoch, jnp.uint32),
                                jnp.arange(pairs, dtype=jnp.uint32)])
    hashed = threefry_2x32((key[0], key[1]), counters)  # both words of each pair, in halves
    return hashed.reshape(2, pairs).T.reshape(-1)[:size]  # pair by pair: a prefix is stable


def epoch_batches(key: jax.Array, epoch: Any, n: int, batch_size: int) -> jax.Array:
    """All the batches of epoch ``epoch``: shape ``(n // batch_size, batch_size)``.

    Row ``i`` is ``batch_indices(key, epoch * (n // batch_size) + i, n, batch_size)``.
    The ``n % batch_size`` examples at the end of the permutation are left out of this
    epoch (a different set each epoch).
    """
    per_epoch = steps_per_epoch(n, batch_size)
    return epoch_permutation(key, epoch, n)[:per_epoch * batch_size].reshape(per_epoch, batch_size)


def batch_indices(key: jax.Array, step: Any, n: int, batch_size: int,
                  sampling: str = "epoch") -> jax.Array:
    """The indices (int32, shape ``(batch_size,)``) of mini-batch number ``step``.

    ``step`` may be traced (inside ``jit``, ``lax.scan``, ``vmap``); ``n``,
    ``batch_size`` and ``sampling`` are static.  With ``k = n // batch_size`` batches
    per epoch:

    - ``"epoch"`` (random reshuffling; deck 001 "permute instances and break-up into
      mini-batches"): epoch ``e = step // k`` uses the permutation of
      ``fold_in(key, e)`` (:func:`epoch_permutation`) and the step takes its slice
      ``step % k``.  Every example appears at most once per epoch, exactly once when
      ``batch_size`` divides ``n``; the last incomplete batch is dropped.
    - ``"replacement"`` (deck 004 "drawn uniformly"): ``batch_size`` indices uniform
      on ``range(n)``, with replacement, from ``fold_in(key, step)``.
    - ``"sequential"`` (no shuffling; F34's "unlearning"): slice ``step % k`` of
      ``range(n)``, in the data's order.
    """
    check_batch_size(batch_size, n)
    return padded_batch(key, step, n, batch_size, batch_size, sampling)[0]


def padded_batch(key: jax.Array, step: Any, n: int, batch_size: Any, rows: int,
                 sampling: str = "epoch") -> tuple[jax.Array, jax.Array]:
    """Batch ``step`` padded to ``rows`` indices: ``(indices, weights)``, both of shape ``(rows,)``.

    For a batch size that is data (traced: the sweep's ``mask`` strategy runs many
    batch sizes in one program).  The first ``batch_size`` indices are
    :func:`batch_indices`'s batch and have weight 1; the other ``rows - batch_size``
    are valid indices with weight 0 (float32), so a weighted mean of per-example
    losses is the batch's mean loss.  ``rows`` is static, ``1 <= batch_size <= rows
    <= n`` (checked when concrete).
    """
    check_batch_size(rows, n, "rows")
    if is_concrete(batch_size):
        check_batch_size(batch_size, rows)
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; known: {', '.join(SAMPLINGS)}")
    position = jnp.arange(rows, dtype=jnp.int32)
    weights = (position < batch_size).astype(jnp.float32)
    if sampling == "replacement":
        indices = jax.random.randint(jax.random.fold_in(key, step), (rows,), 0, n, jnp.int32)
        return indices, weights
    per_epoch = n // batch_size
    window = ((step % per_epoch) * batch_size + position) % n
    if sampling == "sequential":
        return window.astype(jnp.int32), weights
    return epoch_permutation(key, step // per_epoch, n)[window], weights
