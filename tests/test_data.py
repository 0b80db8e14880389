"""jopt.data: splits, standardization, the shared synthetic problems of FIGURES.md, the IDX
reader and writer, MNIST folders, mini-batch samplers and bad-input errors."""

import gzip
import importlib
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sklearn.datasets

from jopt import data

KEY = jax.random.PRNGKey(0)


def _sorted_rows(x):
    return x[np.lexsort(x.T[::-1])]


# ----------------------------------------------------------------------------
# load and split
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name, loader, num_classes", [
    ("digits", sklearn.datasets.load_digits, 10), ("iris", sklearn.datasets.load_iris, 3),
    ("wine", sklearn.datasets.load_wine, 3),
    ("breast_cancer", sklearn.datasets.load_breast_cancer, 2),
    ("diabetes", sklearn.datasets.load_diabetes, None)])
def test_load_splits_cover_the_data_set_disjointly(name, loader, num_classes):
    x, y = loader(return_X_y=True)
    n = len(x)
    splits = data.load(name, standardize=False)
    n_test, n_val = round(0.15 * n), round(0.15 * n)
    assert [len(s.x) for s in splits] == [n - n_test - n_val, n_val, n_test]
    assert all(len(s.x) == len(s.y) for s in splits)
    assert splits.train.x.dtype == np.float32
    assert splits.train.y.dtype == (np.int32 if num_classes else np.float32)
    # together the three splits are the data set, each example once
    rows = np.concatenate([np.column_stack([s.x, s.y]) for s in splits])
    original = np.column_stack([x, y]).astype(np.float32)
    np.testing.assert_allclose(_sorted_rows(rows), _sorted_rows(original))
    if num_classes:  # stratified: each split keeps the class proportions (to rounding)
        counts = np.bincount(y, minlength=num_classes)
        for s in splits:
            expected = counts * len(s.y) / n
            assert np.all(np.abs(np.bincount(s.y, minlength=num_classes) - expected) < 2)


@pytest.mark.parametrize("name, loader", [
    ("digits", sklearn.datasets.load_digits), ("iris", sklearn.datasets.load_iris),
    ("wine", sklearn.datasets.load_wine),
    ("breast_cancer", sklearn.datasets.load_breast_cancer)])
def test_bundled_files_read_as_scikit_learn_reads_them(name, loader):
    x, y = loader(return_X_y=True)
    ours = data.load(name, standardize=False, val_fraction=0, test_fraction=0).train
    rows = np.column_stack([ours.x, ours.y])
    np.testing.assert_array_equal(_sorted_rows(rows),
                                  _sorted_rows(np.column_stack([x, y]).astype(np.float32)))


def test_loading_digits_does_not_import_scikit_learn(monkeypatch):
    """With ``sklearn.datasets`` unimportable, the bundled files still load."""
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import raises ImportError
    with pytest.raises(ImportError):
        importlib.import_module("sklearn.datasets")
    assert data.load("digits").train.x.shape[1] == 64


def test_a_bundled_file_whose_header_disagrees_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("3,2,a,b\n1,2,0\n3,4,1\n")
    with pytest.raises(ValueError, match="bad.csv.*3 x 2"):
        data.read_bundled_csv(str(path))


def test_split_is_seeded_and_disjoint():
    x, y = np.arange(100, dtype=np.float32)[:, None], np.arange(100) % 4
    a, b = data.split(x, y, seed=3), data.split(x, y, seed=3)
    for s, t in zip(a, b):
        np.testing.assert_array_equal(s.x, t.x)
    other = data.split(x, y, seed=4)
    assert not np.array_equal(a.train.x, other.train.x)
    ids = [set(s.x[:, 0].astype(int)) for s in a]
    assert sum(map(len, ids)) == 100 and set.union(*ids) == set(range(100))
    np.testing.assert_array_equal(a.train.y, a.train.x[:, 0].astype(int) % 4)  # rows stay paired
    stratified = data.split(x, y, seed=3, val_fraction=0.2, test_fraction=0.2, stratify=True)
    assert [np.bincount(s.y).tolist() for s in stratified] == [[15] * 4, [5] * 4, [5] * 4]
    empty_val = data.split(x, y, val_fraction=0.0)
    assert empty_val.val.x.shape == (0, 1) and len(empty_val.train.x) == 85


def test_standardization_is_fitted_on_the_training_split():
    raw = data.load("wine", standardize=False, seed=5)
    scaled = data.load("wine", seed=5)
    mean, std = raw.train.x.mean(0), raw.train.x.std(0)
    for r, s in zip(raw, scaled):
        np.testing.assert_allclose(s.x, (r.x - mean) / std, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(s.y, r.y)
    np.testing.assert_allclose(scaled.train.x.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(scaled.train.x.std(0), 1, rtol=1e-4)
    assert np.abs(scaled.test.x.mean(0)).max() > 0.05  # the test split is not re-centred


def test_standardize_function_and_the_feature_scaling_figure():
    # FIGURES.md F12: the raw Hessian of 1/2 mean (y - b - w'x)^2 has eigenvalues
    # (0.873, 1.054, 9159), kappa = 10 488; standardized (0.945, 1.000, 1.055)
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(0, 1, 100), rng.normal(0, 100, 100)])

    def hessian_eigenvalues(features):
        design = np.column_stack([np.ones(len(features)), features])
        return np.linalg.eigvalsh(design.T @ design / len(features))

    np.testing.assert_allclose(hessian_eigenvalues(x), [0.873, 1.054, 9159], rtol=1e-3)
    x_std, other, (mean, std) = data.standardize(x, x[:10] + 1.0)
    np.testing.assert_allclose(hessian_eigenvalues(x_std), [0.945, 1.000, 1.055], atol=5e-4)
    np.testing.assert_allclose(mean, x.mean(0))
    np.testing.assert_allclose(std, x.std(0))
    np.testing.assert_allclose(other, (x[:10] + 1.0 - mean) / std)  # the train statistics
    constant, _ = data.standardize(np.array([[1.0, 2.0], [1.0, 4.0]]))
    np.testing.assert_array_equal(constant, [[0.0, -1.0], [0.0, 1.0]])  # std 0: only centred


def test_unknown_data_set_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        data.load("mnist")
    assert "'mnist'" in str(error.value)
    assert all(name in str(error.value) for name in data.DATASETS)
    assert {"digits", "breast_cancer", "diabetes", "iris", "wine", "linreg"} <= set(data.DATASETS)


def test_bad_split_fractions_are_named():
    with pytest.raises(ValueError, match="val_fraction must be in \\[0, 1\\), got 1.5"):
        data.load("iris", val_fraction=1.5)
    with pytest.raises(ValueError, match="test_fraction.*-0.1"):
        data.load("iris", test_fraction=-0.1)
    with pytest.raises(ValueError, match="leave no training example"):
        data.load("iris", val_fraction=0.5, test_fraction=0.5 - 1e-9)


# ----------------------------------------------------------------------------
# Synthetic problems
# ----------------------------------------------------------------------------


def test_linreg_matches_figures():
    x, y, w_star = data.linear_regression()
    assert x.shape == (1000, 10) and y.shape == (1000,) and w_star.shape == (10,)
    rng = np.random.default_rng(0)  # the draw order written in FIGURES.md
    np.testing.assert_array_equal(x, rng.normal(size=(1000, 10)))
    np.testing.assert_array_equal(w_star, rng.normal(size=10))
    eigenvalues = np.linalg.eigvalsh(x.T @ x / 1000)
    assert round(eigenvalues.min(), 3) == 0.811 and round(eigenvalues.max(), 3) == 1.164
    assert np.trace(x.T @ x / 1000) == pytest.approx(9.96, abs=5e-3)
    w_hat = np.linalg.lstsq(x, y, rcond=None)[0]
    assert 0.5 * np.mean((y - x @ w_hat) ** 2) == pytest.approx(0.12438, abs=5e-6)
    splits = data.load("linreg", standardize=False)
    assert sum(len(s.y) for s in splits) == 1000 and splits.train.y.dtype == np.float32


def test_double_descent_setup():
    rf = data.double_descent()
    assert rf.train.x.shape == (100, 10) and rf.train.y.shape == (100,)
    assert rf.test.x.shape == (2000, 10) and rf.val.x.shape == (0, 10)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(rf.w_star, rng.normal(size=10) / np.sqrt(10))
    np.testing.assert_array_equal(rf.train.x, rng.normal(size=(100, 10)))
    np.testing.assert_array_equal(rf.test.y, rf.test.x @ rf.w_star)  # noiseless test targets
    noise = rf.train.y - rf.train.x @ rf.w_star
    assert 0.05 < noise.std() < 0.15
    with_val = data.double_descent(n_val=200)
    assert with_val.val.x.shape == (200, 10)
    for a, b in ((rf.train, with_val.train), (rf.test, with_val.test)):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)


def test_quadratic_with_given_eigenvalues():
    q10 = data.quadratic([1.0, 10.0])
    assert float(q10(jnp.array([-8.0, 2.0]))) == pytest.approx(52.0)  # FIGURES.md Q10
    eigenvalues = np.arange(1, 1001) / 1000
    qh = data.quadratic(eigenvalues)  # QH: f0 = 500
    assert float(qh(jnp.asarray(eigenvalues ** -0.5))) == pytest.approx(500.0, rel=1e-5)
    rotated = data.quadratic([0.5, 2.0, 7.0], rotation_seed=1, minimizer=[1.0, -2.0, 3.0])
    np.testing.assert_allclose(np.linalg.eigvalsh(rotated.A), [0.5, 2.0, 7.0], rtol=1e-12)
    assert np.abs(rotated.A - np.diag(np.diag(rotated.A))).max() > 0.1  # not axis-aligned
    x_star = jnp.array([1.0, -2.0, 3.0])
    assert abs(float(rotated(x_star))) < 1e-5
    np.testing.assert_allclose(rotated.grad(x_star), 0, atol=1e-5)
    x = jnp.array([0.3, 0.1, -0.4])
    np.testing.assert_allclose(jax.grad(rotated)(x), rotated.grad(x), rtol=1e-5)
    expected = 0.5 * (np.asarray(x) - x_star) @ rotated.A @ (np.asarray(x) - x_star)
    assert float(rotated(x)) == pytest.approx(float(expected), rel=1e-5)


def test_saxe_hierarchical_modes():
    x, y = data.saxe_hierarchical(depth=3)
    np.testing.assert_array_equal(x, np.eye(8))
    assert y.shape == (8, 15) and np.all(y.sum(1) == 4)  # root, two inner nodes, the leaf
    singular_values = np.linalg.svd(y, compute_uv=False)
    np.testing.assert_allclose(singular_values, np.sqrt([15, 7, 3, 3, 1, 1, 1, 1]), rtol=1e-12)
    # items 0 and 1 share three nodes, items 0 and 4 only the root
    assert y[0] @ y[1] == 3 and y[0] @ y[4] == 1


def test_saxe_linear_teacher():
    teacher = data.saxe_linear()
    n = len(teacher.x)
    np.testing.assert_allclose(teacher.x.T @ teacher.x / n, np.eye(8), atol=1e-12)  # whitened
    np.testing.assert_allclose(teacher.y.T @ teacher.x / n, teacher.gamma, atol=1e-12)
    np.testing.assert_allclose(np.linalg.svd(teacher.gamma, compute_uv=False)[:4], [4, 3, 2, 1],
                               rtol=1e-12)
    u = np.linalg.qr(np.random.default_rng(0).normal(size=(8, 8)))[0][:, :4]  # U drawn first
    np.testing.assert_array_equal(teacher.u, u)
    np.testing.assert_allclose(teacher.v.T @ teacher.v, np.eye(4), atol=1e-12)


# ----------------------------------------------------------------------------
# IDX files
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("array", [
    np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28),
    np.array([7, 2, 1, 0, 4], dtype=np.uint8),
    np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
    np.array([-70000, 5, 3], dtype=np.int32),
    np.array([[-3, 300]], dtype=np.int16),
    np.array([-1.5e300, 2.0], dtype=np.float64),
    np.array([-128, 127], dtype=np.int8),
], ids=["uint8-images", "uint8-labels", "float32", "int32", "int16", "float64", "int8"])
def test_idx_round_trip(tmp_path, suffix, array):
    path = tmp_path / f"array-idx{suffix}"
    data.save_idx(path, array)
    loaded = data.load_idx(path)
    assert loaded.dtype == array.dtype and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_idx_bytes_follow_the_mnist_layout(tmp_path):
    path = tmp_path / "labels"
    data.save_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])
    data.save_idx(path, np.array([[1.0]], dtype=np.float32))
    assert path.read_bytes() == bytes([0, 0, 0x0D, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0x3F, 0x80, 0, 0])
    path.write_bytes(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0xFF, 0xFF, 0xFF, 0xFE]))
    np.testing.assert_array_equal(data.load_idx(path), [256, -2])  # big-endian int32


def _idx_bytes(array):
    return bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, ">u4").tobytes() + array.tobytes()


@pytest.mark.parametrize("contents, message", [
    (b"\x01\x02\x08\x01\x00\x00\x00\x01\x05", "wrong magic number 0x01020801"),
    (bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 5]), "unknown IDX type code 0x0A.*0x08 \\(uint8\\)"),
    (_idx_bytes(np.zeros((3, 4), np.uint8))[:-1], "truncated: shape \\(3, 4\\).*12 bytes.*11"),
    (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "truncated header: 3 dimensions need 16 bytes.*8"),
    (b"\x00\x00", "truncated: 2 bytes"),
    (_idx_bytes(np.zeros(3, np.uint8)) + b"\x00", "1 unexpected bytes after the data"),
    (gzip.compress(_idx_bytes(np.zeros(30, np.uint8)))[:-6], "corrupt gzip"),
], ids=["magic", "dtype-code", "truncated-data", "truncated-header", "short", "trailing", "gzip"])
def test_corrupt_idx_files_raise_naming_the_file(tmp_path, contents, message):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(contents)
    with pytest.raises(ValueError, match=message) as error:
        data.load_idx(path)
    assert str(path) in str(error.value)


def test_save_idx_rejects_unsupported_dtypes(tmp_path):
    with pytest.raises(ValueError, match="int64.*uint8"):
        data.save_idx(tmp_path / "x", np.arange(3, dtype=np.int64))


def _write_mnist(folder, n_train=24, n_test=10, gz=("train-images-idx3-ubyte",), labels=None):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 4, 3), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 3).astype(np.uint8)
        if labels is None else labels,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 4, 3), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 3).astype(np.uint8),
    }
    for name, array in arrays.items():
        data.save_idx(folder / (name + (".gz" if name in gz else "")), array)
    return arrays


def test_load_mnist_from_a_folder(tmp_path):
    arrays = _write_mnist(tmp_path)
    splits = data.load_mnist(tmp_path, val_fraction=0.25, seed=1)
    assert [s.x.shape for s in splits] == [(18, 12), (6, 12), (10, 12)]
    assert splits.train.x.dtype == np.float32 and splits.train.y.dtype == np.int32
    assert 0 <= splits.train.x.min() and splits.train.x.max() <= 1
    test_images = arrays["t10k-images-idx3-ubyte"].reshape(10, 12)
    np.testing.assert_allclose(splits.test.x, test_images / 255, rtol=1e-6)
    np.testing.assert_array_equal(splits.test.y, arrays["t10k-labels-idx1-ubyte"])
    # train + val are the training files, rows still paired with their labels
    train_rows = np.column_stack([arrays["train-images-idx3-ubyte"].reshape(24, 12) / 255,
                                  arrays["train-labels-idx1-ubyte"]])
    carved = np.concatenate([np.column_stack([s.x, s.y]) for s in splits[:2]])
    np.testing.assert_allclose(_sorted_rows(carved), _sorted_rows(train_rows), rtol=1e-6)
    assert np.bincount(splits.val.y).tolist() == [2, 2, 2]  # stratified


def test_load_mnist_errors(tmp_path):
    _write_mnist(tmp_path, labels=np.zeros(23, np.uint8))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz holds 24 images but "
                                         ".*train-labels-idx1-ubyte holds 23 labels"):
        data.load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        data.load_mnist(tmp_path)


# ----------------------------------------------------------------------------
# Samplers
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sampled():
    """Every sampler's indices for steps 0..8 (n = 12, batch 4: three epochs) computed by
    a ``lax.scan`` over a traced step inside one ``jit``, and 2000 batches of 5 out of 5
    drawn with replacement under ``vmap``."""

    def run():
        def body(carry, step):
            return carry, {s: data.batch_indices(KEY, step, 12, 4, s) for s in data.SAMPLINGS}
        scanned = jax.lax.scan(body, 0, jnp.arange(9))[1]
        draws = jax.vmap(lambda step: data.batch_indices(KEY, step, 5, 5, "replacement"))
        return scanned, draws(jnp.arange(2000))

    scanned, draws = jax.jit(run)()
    return jax.tree_util.tree_map(np.asarray, scanned), np.asarray(draws)


def test_samplers_run_with_a_traced_step_inside_scan(sampled):
    scanned, _ = sampled
    for sampling in data.SAMPLINGS:
        assert scanned[sampling].shape == (9, 4) and scanned[sampling].dtype == np.int32
        looped = [data.batch_indices(KEY, step, 12, 4, sampling) for step in (0, 4, 8)]
        np.testing.assert_array_equal(scanned[sampling][[0, 4, 8]], looped)  # eager = traced
    np.testing.assert_array_equal(scanned["sequential"][:4], [[0, 1, 2, 3], [4, 5, 6, 7],
                                                              [8, 9, 10, 11], [0, 1, 2, 3]])


def test_epoch_sampling_covers_each_index_once_per_epoch(sampled):
    epochs = sampled[0]["epoch"].reshape(3, 12)
    for indices in epochs:
        assert sorted(indices.tolist()) == list(range(12))
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled each epoch
    np.testing.assert_array_equal(data.epoch_batches(KEY, 1, 12, 4).ravel(), epochs[1])
    np.testing.assert_array_equal(data.epoch_permutation(KEY, 2, 12), epochs[2])
    # an incomplete last batch is dropped: 3 batches of 3 out of 10, all distinct
    batches = np.asarray(data.epoch_batches(KEY, 0, 10, 3))
    assert batches.shape == (3, 3) and len(set(batches.ravel().tolist())) == 9
    assert data.steps_per_epoch(10, 3) == 3


def test_padded_batch_with_a_traced_batch_size():
    # batch sizes as data: 3 and 4 out of 12, padded to 4 rows, in one vmapped program
    def batches(batch_size):
        def body(carry, step):
            return carry, {s: data.padded_batch(KEY, step, 12, batch_size, 4, s)
                           for s in ("epoch", "sequential")}
        return jax.lax.scan(body, 0, jnp.arange(8))[1]

    out = jax.jit(jax.vmap(batches))(jnp.array([3, 4]))
    for row, batch_size in enumerate((3, 4)):
        for sampling in ("epoch", "sequential"):
            indices, weights = (np.asarray(a[row]) for a in out[sampling])
            np.testing.assert_array_equal(weights.sum(1), batch_size)
            np.testing.assert_array_equal(weights[:, :batch_size], 1)
            real = indices[:, :batch_size]
            expected = [data.batch_indices(KEY, step, 12, batch_size, sampling)
                        for step in range(8)]
            np.testing.assert_array_equal(real, expected)
            assert indices.min() >= 0 and indices.max() < 12
    with pytest.raises(ValueError, match="batch_size must be between 1 and .*4.*got 5"):
        data.padded_batch(KEY, 0, 12, 5, 4)


def test_replacement_sampling_is_uniform_with_repeats(sampled):
    scanned, indices = sampled
    assert scanned["replacement"].min() >= 0 and scanned["replacement"].max() < 12
    assert indices.min() == 0 and indices.max() == 4
    counts = np.bincount(indices.ravel(), minlength=5)
    assert np.all(np.abs(counts / 10000 - 0.2) < 0.02)  # 5 standard errors
    repeats = np.mean([len(set(row)) < 5 for row in indices])
    assert repeats == pytest.approx(1 - math.factorial(5) / 5 ** 5, abs=0.03)  # P(a repeat) = 0.96


def test_epoch_permutations_are_uniform():
    # the 24 permutations of 4 items over 24,000 epochs: Pearson's chi-square with 23
    # degrees of freedom, below its 0.999 quantile (49.7); and for n = 1257 (two rounds
    # of packed sorts) every epoch is a permutation and each position's mean is (n-1)/2
    orders = np.asarray(jax.jit(jax.vmap(lambda e: data.epoch_permutation(KEY, e, 4)))(
        jnp.arange(24000)))
    counts = np.unique(orders, axis=0, return_counts=True)[1]
    assert len(counts) == 24 and ((counts - 1000) ** 2 / 1000).sum() < 49.7
    big = np.asarray(jax.jit(jax.vmap(lambda e: data.epoch_permutation(KEY, e, 1257)))(
        jnp.arange(400)))
    assert big.dtype == np.int32 and (np.sort(big, axis=1) == np.arange(1257)).all()
    standard_error = np.sqrt((1257 ** 2 - 1) / 12 / 400)
    assert np.abs(big.mean(axis=0) - 628).max() < 5 * standard_error


def test_epoch_words_are_one_stream_per_epoch_for_either_key_type():
    words = np.asarray(jax.vmap(lambda e: data.epoch_words(KEY, e, 1001))(jnp.arange(50)))
    assert words.shape == (50, 1001) and words.dtype == np.uint32
    assert len(np.unique(words)) > 50 * 1001 - 5        # 32-bit words: ~0.6 repeats expected
    assert abs((words & 1).mean() - 0.5) < 0.01
    typed = data.epoch_words(jax.random.wrap_key_data(KEY), 3, 1001)
    np.testing.assert_array_equal(typed, words[3])
    np.testing.assert_array_equal(data.epoch_words(KEY, 3, 10), words[3, :10])  # a prefix


# ----------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, 11, 2.5, True])
def test_bad_batch_sizes_are_named(batch_size):
    with pytest.raises(ValueError, match=f"batch_size.*{batch_size!r}"):
        data.batch_indices(KEY, 0, 10, batch_size)


def test_unknown_sampling_lists_the_known_ones():
    with pytest.raises(ValueError, match="'shuffle'.*epoch, replacement, sequential"):
        data.batch_indices(KEY, 0, 10, 2, "shuffle")


def test_check_dataset_names_the_field_and_value():
    x, y = np.ones((5, 2)), np.zeros(5)
    data.check_dataset(x, y)
    with pytest.raises(ValueError, match="train: x has 5 examples but y has 4"):
        data.check_dataset(x, y[:4])
    bad = x.copy()
    bad[3, 1] = np.nan
    message = r"val\.x has 1 non-finite values; the first is nan at index \(3, 1\)"
    with pytest.raises(ValueError, match=message):
        data.check_dataset(bad, y, "val")
    with pytest.raises(ValueError, match=r"train\.y .*inf at index \(2,\)"):
        data.check_dataset(x, np.array([0, 0, np.inf, 0, 0]))
    with pytest.raises(ValueError, match="empty"):
        data.check_dataset(x[:0], y[:0])
    splits = data.split(x, y, val_fraction=0.0, test_fraction=0.0)
    data.check_splits(splits)  # empty validation and test sets are allowed
    with pytest.raises(ValueError, match="test: x has 1 examples but y has 0"):
        data.check_splits(splits._replace(test=data.Dataset(x[:1], y[:0])))
