"""jopt.losses against the decks' worked examples (FIGURES.md F41-F44), closed forms,
optax.losses (same names, same per-example semantics), torch and scikit-learn."""

import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import sklearn.metrics
from jopt import losses as eager_losses


class _Jitted:
    """``jopt.losses`` with each function under ``jax.jit``: one compilation per call
    signature instead of one per primitive, so the tests run several times faster on
    a CPU, and the losses are exercised the way training uses them."""

    def __getattr__(self, name):
        fn = getattr(eager_losses, name)
        static = ("reduction",) if "reduction" in inspect.signature(fn).parameters else ()
        return jax.jit(fn, static_argnames=static)


losses = _Jitted()


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _rng_arrays(seed=0, n=6, k=4):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)).astype(np.float32) * 3
    labels = rng.integers(0, k, size=n).astype(np.int32)
    soft = rng.dirichlet(np.ones(k), size=n).astype(np.float32)
    return logits, labels, soft


# ----------------------------------------------------------------------------
# F42: entropy and cross-entropy, the worked numbers (deck 003)
# ----------------------------------------------------------------------------


def test_uniform_four_class_cross_entropy_is_minus_ln_quarter(x64):
    uniform = jnp.full(4, 0.25)
    one_hot = jnp.eye(4)[2]
    assert losses.cross_entropy(uniform, one_hot) == pytest.approx(-math.log(0.25), rel=1e-12)
    assert losses.cross_entropy(uniform, one_hot) == pytest.approx(1.386294, abs=5e-7)
    # P = Q = uniform gives the same 1.39; so do integer labels and zero logits
    assert losses.cross_entropy(uniform, uniform) == pytest.approx(math.log(4), rel=1e-12)
    assert losses.cross_entropy(uniform, jnp.array(2)) == pytest.approx(math.log(4), rel=1e-12)
    assert losses.cross_entropy_with_logits(jnp.zeros(4), jnp.array(2)) == \
        pytest.approx(math.log(4), rel=1e-12)


def test_zero_probability_on_the_true_class_is_infinite():
    q = jnp.array([0.0, 0.5, 0.5, 0.0])
    assert losses.cross_entropy(q, jnp.eye(4)[0]) == jnp.inf
    assert losses.cross_entropy(q, jnp.array(3)) == jnp.inf
    # a zero where P is zero costs nothing: 0 log 0 = 0
    assert losses.cross_entropy(q, jnp.eye(4)[1]) == pytest.approx(math.log(2), rel=1e-6)
    per_example = losses.cross_entropy(jnp.stack([q, q]), jnp.array([0, 1]), reduction="none")
    assert per_example[0] == jnp.inf and np.isfinite(per_example[1])


def test_cross_entropy_is_not_symmetric(x64):
    p, q = jnp.array([0.5, 0.5]), jnp.array([0.9, 0.1])
    h_pq = losses.cross_entropy(q, p)  # H(P, Q) = -sum P log Q
    h_qp = losses.cross_entropy(p, q)
    assert h_pq == pytest.approx(-(0.5 * math.log(0.9) + 0.5 * math.log(0.1)), rel=1e-12)
    assert h_pq == pytest.approx(1.203973, abs=5e-7)
    assert h_qp == pytest.approx(0.693147, abs=5e-7)


def test_entropy_values(x64):
    assert losses.entropy(jnp.full(4, 0.25)) == pytest.approx(math.log(4), rel=1e-12)  # 2 bits
    assert losses.entropy(jnp.eye(4)[1]) == 0.0  # 0 log 0 = 0, not nan
    assert losses.entropy(jnp.array([0.5, 0.5])) == pytest.approx(0.693147, abs=5e-7)
    batch = jnp.stack([jnp.full(4, 0.25), jnp.eye(4)[0]])
    np.testing.assert_allclose(losses.entropy(batch, reduction="none"), [math.log(4), 0.0])
    assert losses.entropy(batch) == pytest.approx(math.log(4) / 2, rel=1e-12)


# ----------------------------------------------------------------------------
# F41: softmax with cross-entropy
# ----------------------------------------------------------------------------


def test_softmax_cross_entropy_gradient_is_softmax_minus_y_exactly(x64):
    a = jnp.array([2.0, 1.0, 0.1, -1.0])
    y = jnp.eye(4)[2]  # e_3
    expected = jax.nn.softmax(a) - y
    for labels in (y, jnp.array(2)):
        grad = jax.grad(lambda a: losses.softmax_cross_entropy(a, labels))(a)
        np.testing.assert_array_equal(grad, expected)
    # for a batch, the mean loss's gradient is (softmax - y) / n
    logits, labels, _ = _rng_arrays()
    grad = jax.grad(lambda z: losses.cross_entropy_with_logits(z, labels))(jnp.asarray(logits))
    np.testing.assert_allclose(grad, (jax.nn.softmax(logits) - jax.nn.one_hot(labels, 4)) / 6,
                               rtol=1e-5, atol=1e-7)


def test_two_class_softmax_is_the_logistic_loss(x64):
    for a in (-3.0, -0.2, 0.0, 1.7, 40.0):
        two_class = losses.cross_entropy_with_logits(jnp.array([a, 0.0]), jnp.array(0))
        assert two_class == pytest.approx(-math.log(1 / (1 + math.exp(-a))), rel=1e-12, abs=1e-300)
        binary = losses.binary_cross_entropy_with_logits(a, 1.0)
        assert two_class == pytest.approx(float(binary), rel=1e-12)
        assert two_class == pytest.approx(float(losses.logistic_loss(a, 1.0)), rel=1e-12)
    # softmax is invariant to adding a constant to the logits
    logits, labels, _ = _rng_arrays()
    np.testing.assert_allclose(losses.softmax_cross_entropy(logits + 100.0, labels),
                               losses.softmax_cross_entropy(logits, labels), rtol=1e-4)


# ----------------------------------------------------------------------------
# F44: stable logistic losses
# ----------------------------------------------------------------------------


def test_logistic_losses_are_finite_for_huge_logits():
    z = jnp.array([1000.0, -1000.0, 1000.0, -1000.0])
    y = jnp.array([1.0, 1.0, 0.0, 0.0])
    values = losses.sigmoid_binary_cross_entropy(z, y)
    np.testing.assert_array_equal(values, [0.0, 1000.0, 1000.0, 0.0])
    grad = jax.grad(lambda z: losses.binary_cross_entropy_with_logits(z, y, reduction="sum"))(z)
    np.testing.assert_array_equal(grad, jax.nn.sigmoid(z) - y)  # (0, -1, 1, 0)
    pm = 2 * y - 1
    np.testing.assert_array_equal(losses.logistic_loss(z, pm, reduction="none"), values)
    assert np.all(np.isfinite(jax.grad(lambda z: losses.logistic_loss(z, pm))(z)))
    # the naive formula is what overflows
    naive = -(y * jnp.log(jax.nn.sigmoid(z)) + (1 - y) * jnp.log(1 - jax.nn.sigmoid(z)))
    assert not np.all(np.isfinite(naive))


def test_logistic_loss_with_pm1_labels_is_bce_with_01_labels(x64):
    rng = np.random.default_rng(1)
    z, y01 = rng.normal(size=50) * 4, rng.integers(0, 2, size=50).astype(float)
    np.testing.assert_allclose(losses.logistic_loss(z, 2 * y01 - 1, reduction="none"),
                               losses.sigmoid_binary_cross_entropy(z, y01), rtol=1e-12)
    # against scikit-learn's log loss on the probabilities
    assert losses.binary_cross_entropy_with_logits(z, y01) == pytest.approx(
        sklearn.metrics.log_loss(y01, 1 / (1 + np.exp(-z))), rel=1e-9)
    # deck 004: d/da ln sigmoid(a x + b) = (1 - sigmoid(a x + b)) x
    x, b = rng.normal(size=50), 0.3
    grad = jax.grad(lambda a: -losses.binary_cross_entropy_with_logits(a * x + b, jnp.ones(50),
                                                                       reduction="sum"))(0.7)
    assert grad == pytest.approx(np.sum((1 - 1 / (1 + np.exp(-(0.7 * x + b)))) * x), rel=1e-12)


# ----------------------------------------------------------------------------
# F43: the 0-1 loss and SSE on hard outputs
# ----------------------------------------------------------------------------


def test_sse_of_sign_is_twice_the_error_rate_and_has_zero_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    y = np.where(x @ np.array([1.0, -0.5]) + 0.8 * rng.normal(size=50) > 0, 1.0, -1.0)
    w = jnp.array([0.3, 1.0])

    def sse_of_sign(w):  # deck 003: L = 1/(2N) sum (y - sign(w'x))^2
        return losses.squared_loss(losses.predict_sign(x @ w), y)

    error_rate = losses.zero_one_loss(x @ w, y)
    assert 0.1 < error_rate < 0.9
    assert sse_of_sign(w) == pytest.approx(2 * float(error_rate), rel=1e-6)
    assert error_rate == pytest.approx(np.mean(np.sign(x @ np.asarray(w)) != y))
    np.testing.assert_array_equal(jax.grad(sse_of_sign)(w), [0.0, 0.0])
    # with y_hat = w'x the squared loss has the gradient -(1/N) sum (y - w'x) x
    grad = jax.grad(lambda w: losses.squared_loss(x @ w, y))(w)
    np.testing.assert_allclose(grad, -((y - x @ np.asarray(w)) @ x) / 50, rtol=1e-5)


def test_predict_sign_maps_zero_to_minus_one():
    np.testing.assert_array_equal(losses.predict_sign(jnp.array([-2.0, 0.0, 3.0])), [-1, -1, 1])


def test_zero_one_loss_and_accuracy_shapes_and_references():
    logits, labels, _ = _rng_arrays(n=40, k=5)
    reference = sklearn.metrics.accuracy_score(labels, logits.argmax(1))
    assert losses.accuracy(logits, labels) == pytest.approx(reference)
    assert losses.accuracy(logits, jax.nn.one_hot(labels, 5)) == pytest.approx(reference)
    assert losses.zero_one_loss(logits, labels) == pytest.approx(1 - reference)
    assert losses.zero_one_loss(logits, labels, reduction="sum") == \
        np.sum(logits.argmax(1) != labels)
    # one score per example: labels in {-1, 1} or {0, 1}, shape (n,) or (n, 1)
    scores = jnp.array([[-1.0], [0.0], [2.0], [0.5]])
    assert losses.accuracy(scores, jnp.array([-1, -1, 1, -1])) == 0.75
    assert losses.accuracy(scores, jnp.array([0, 0, 1, 0])) == 0.75
    assert losses.accuracy(scores[:, 0], jnp.array([1, 0, 0, 1])) == 0.5
    # a single example's logits with a scalar label
    assert losses.accuracy(jnp.array([0.1, 2.0, -1.0]), jnp.array(1)) == 1.0


def test_zero_one_loss_is_exact_in_float64():
    """F43's identity 1/(2N) sum (y - sign)^2 = 2 * error rate holds to float64 precision."""
    with jax.enable_x64(True):
        scores, labels = jnp.array([1.0, -1.0, 1.0]), jnp.array([1.0, 1.0, -1.0])
        rate = losses.zero_one_loss(scores, labels)
        assert rate.dtype == jnp.float64 and float(rate) == 2 / 3
        sse = jnp.mean((labels - losses.predict_sign(scores)) ** 2) / 2
        assert float(sse) == 2 * float(rate)
    assert losses.accuracy(jnp.ones(3, jnp.bfloat16), jnp.ones(3)).dtype == jnp.float32


# ----------------------------------------------------------------------------
# Squared errors
# ----------------------------------------------------------------------------


def test_squared_errors_against_closed_forms_and_sklearn(x64):
    rng = np.random.default_rng(2)
    pred, target = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    diff2 = (pred - target) ** 2
    np.testing.assert_allclose(losses.squared_error(pred, target), diff2, rtol=1e-12)
    np.testing.assert_allclose(losses.l2_loss(pred, target), diff2 / 2, rtol=1e-12)
    assert losses.sum_of_squares(pred, target) == pytest.approx(diff2.sum(), rel=1e-12)
    assert eager_losses.sse is eager_losses.sum_of_squares
    assert losses.mean_squared_error(pred, target) == pytest.approx(
        sklearn.metrics.mean_squared_error(target, pred), rel=1e-12)
    # squared_loss: 1/2 ||y_hat_i - y_i||^2 per example, averaged over examples
    np.testing.assert_allclose(losses.squared_loss(pred, target, reduction="none"),
                               diff2.sum(1) / 2, rtol=1e-12)
    assert losses.squared_loss(pred, target) == pytest.approx(diff2.sum() / 14, rel=1e-12)
    assert losses.squared_loss(pred[:, 0], target[:, 0]) == pytest.approx(
        diff2[:, 0].mean() / 2, rel=1e-12)


def test_one_output_models_are_squeezed_not_broadcast():
    pred, target = jnp.arange(5.0).reshape(5, 1), jnp.arange(5.0) + 1
    assert losses.mean_squared_error(pred, target) == 1.0  # broadcasting would give (5, 5)
    assert losses.squared_error(pred, target).shape == (5,)
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(5,\)"):
        losses.squared_error(jnp.zeros((5, 2)), jnp.zeros(5))


# ----------------------------------------------------------------------------
# optax names: optax's values and per-example semantics
# ----------------------------------------------------------------------------


def test_optax_named_losses_match_optax():
    logits, labels, soft = _rng_arrays()
    one_hot = jax.nn.one_hot(labels, 4)
    rng = np.random.default_rng(3)
    pred, target = rng.normal(size=(2, 6, 2)).astype(np.float32)
    z, y01 = rng.normal(size=6).astype(np.float32) * 5, rng.integers(0, 2, 6).astype(np.float32)
    pairs = [
        (losses.squared_error(pred, target), optax.losses.squared_error(pred, target)),
        (losses.l2_loss(pred, target), optax.losses.l2_loss(pred, target)),
        (losses.sigmoid_binary_cross_entropy(z, y01),
         optax.losses.sigmoid_binary_cross_entropy(z, y01)),
        (losses.softmax_cross_entropy(logits, one_hot),
         optax.losses.softmax_cross_entropy(logits, one_hot)),
        (losses.softmax_cross_entropy(logits, soft),
         optax.losses.softmax_cross_entropy(logits, soft)),
        (losses.softmax_cross_entropy(logits, labels),
         optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels)),
        (losses.softmax_cross_entropy_with_integer_labels(logits, labels),
         optax.losses.softmax_cross_entropy_with_integer_labels(logits, labels)),
        (losses.hinge_loss(z, 2 * y01 - 1), optax.losses.hinge_loss(z, 2 * y01 - 1)),
    ]
    for ours, theirs in pairs:
        assert ours.shape == theirs.shape  # per-example values: no reduction
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_jopt_named_losses_reduce_like_sklearn():
    logits, labels, _ = _rng_arrays()
    probs = np.asarray(jax.nn.softmax(logits))
    reference = sklearn.metrics.log_loss(labels, probs, labels=range(4))
    assert losses.cross_entropy_with_logits(logits, labels) == pytest.approx(reference, rel=1e-5)
    assert losses.cross_entropy(probs, labels) == pytest.approx(reference, rel=1e-5)
    assert losses.cross_entropy_with_logits(logits, labels, reduction="sum") == \
        pytest.approx(6 * reference, rel=1e-5)
    z, y = logits[:, 0], (labels % 2).astype(np.float32)
    assert losses.binary_cross_entropy_with_logits(z, y) == pytest.approx(
        sklearn.metrics.log_loss(y, 1 / (1 + np.exp(-z))), rel=1e-5)
    assert losses.hinge(z, 2 * y - 1) == pytest.approx(
        sklearn.metrics.hinge_loss(2 * y - 1, z), rel=1e-6)


def test_reductions():
    logits, labels, _ = _rng_arrays()
    per_example = losses.softmax_cross_entropy(logits, labels)
    assert per_example.shape == (6,)
    assert losses.softmax_cross_entropy(logits, labels, reduction="mean") == \
        pytest.approx(float(per_example.mean()), rel=1e-6)
    assert losses.cross_entropy_with_logits(logits, labels, reduction="sum") == \
        pytest.approx(float(per_example.sum()), rel=1e-6)
    with pytest.raises(ValueError, match="reduction.*'mean', 'sum', 'none'.*'average'"):
        losses.cross_entropy_with_logits(logits, labels, reduction="average")


def test_label_shapes_and_dtypes_are_checked():
    logits, labels, _ = _rng_arrays()
    with pytest.raises(TypeError, match="integers"):
        losses.softmax_cross_entropy(logits, labels.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(6, 3\)"):
        losses.softmax_cross_entropy(logits, np.zeros((6, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(6,\)"):
        losses.softmax_cross_entropy_with_integer_labels(logits, labels[:5])


def test_losses_jit_and_vmap():
    logits, labels, _ = _rng_arrays()
    jitted = jax.jit(losses.cross_entropy_with_logits)(logits, labels)
    eager = eager_losses.cross_entropy_with_logits(logits, labels)
    assert float(jitted) == pytest.approx(float(eager), rel=1e-6)
    per_example = jax.vmap(losses.softmax_cross_entropy)(logits, labels)
    np.testing.assert_allclose(per_example, losses.softmax_cross_entropy(logits, labels), rtol=1e-6)
