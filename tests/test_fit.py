"""fit: mini-batch training with validation, early stopping and iterate averages (issue 4)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt
from jopt import data, models
from jopt.train import fit

LOSS = "softmax_cross_entropy_with_integer_labels"


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", seed=0)


@pytest.mark.parametrize("opt", [jopt.adam(1e-3), jopt.sgd(0.05, momentum=0.9)], ids=["adam", "sgd"])
def test_mlp_on_digits_reaches_96_percent(digits, opt):
    result = fit(models.mlp([64, 128, 10]), opt, digits, loss=LOSS, batch_size=32,
                 key=jax.random.PRNGKey(0), epochs=20)
    assert float(result.metrics["test_accuracy/last"]) >= 0.96
    # the recorded history is the loss of the recorded parameters
    assert result.history["train_loss"][-1] < 0.1 * result.history["train_loss"][0]


def test_fit_matches_a_hand_written_loop(digits):
    """Same batches (jopt.data.batch_indices), same init, same optimizer: same parameters."""
    model = models.mlp([64, 16, 10])
    opt = jopt.sgd(0.1, momentum=0.5)
    key = jax.random.PRNGKey(3)
    result = fit(model, opt, digits, loss=LOSS, batch_size=50, key=key, steps=30, eval_every=7)
    init_key, batch_key = jax.random.split(key)
    params = model.init(init_key)
    state = opt.init(params)
    x, y = map(jnp.asarray, digits.train)

    def loss(p, xb, yb):
        return jnp.mean(jopt.losses.softmax_cross_entropy_with_integer_labels(model.apply(p, xb), yb))

    @jax.jit
    def step_fn(params, state, step):
        idx = data.batch_indices(batch_key, step, len(x), 50)
        grads = jax.grad(loss)(params, x[idx], y[idx])
        updates, state = opt.update(grads, state, params)
        return jopt.apply_updates(params, updates), state
    for step in range(30):
        params, state = step_fn(params, state, step)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6),
                           result.params, params)
    assert list(result.history["step"]) == [0, 7, 14, 21, 28, 30]
    np.testing.assert_allclose(result.history["train_loss"][-1], loss(params, x, y), rtol=1e-5)


def test_fit_draws_the_initial_parameters_of_the_compiled_model_init(digits):
    """``fit`` starts from ``model.init(split(key)[0])`` compiled by ``jit``, bit for bit, as
    the sweep's init program does (a zero learning rate keeps them)."""
    model = models.mlp([64, 32, 10])
    key = jax.random.PRNGKey(5)
    result = fit(model, jopt.sgd(0.0), digits, loss=LOSS, batch_size=32, key=key, steps=2)
    expected = jax.jit(model.init)(jax.random.split(key)[0])
    jax.tree_util.tree_map(np.testing.assert_array_equal, result.last_params, expected)


def test_early_stopping_restores_the_best_validation_parameters(digits):
    """A large model trained long overfits; patience stops it and returns the best iterate."""
    model = models.mlp([64, 256, 10])
    result = fit(model, jopt.adam(3e-3), digits, loss=LOSS, batch_size=16,
                 key=jax.random.PRNGKey(1), epochs=40, patience=3)
    val = result.history["val_loss"]
    best = int(np.nanargmin(val))
    assert int(result.best_step) == int(result.history["step"][best])
    assert int(result.stop_step) < 40 * (len(digits.train.x) // 16)
    # stopped `patience` evaluations after the best one
    assert int(result.stop_step) == int(result.history["step"][best + 3])
    x, y = map(jnp.asarray, digits.val)
    val_loss = lambda p: jnp.mean(jopt.losses.softmax_cross_entropy_with_integer_labels(model.apply(p, x), y))
    np.testing.assert_allclose(val_loss(result.params), val[best], rtol=1e-5)
    assert val_loss(result.last_params) > val_loss(result.params)
    # after the stop the parameters are frozen: the last recorded rows repeat
    assert np.all(result.history["train_loss"][best + 3:] == result.history["train_loss"][best + 3])
    # the metrics of the last and best parameters, recorded when evaluated, are theirs
    xt, yt = map(jnp.asarray, digits.test)
    accuracy = lambda p, x, y: jnp.mean(jnp.argmax(model.apply(p, x), -1) == y)
    for name, params in (("best", result.params), ("last", result.last_params)):
        np.testing.assert_allclose(result.metrics[f"val_loss/{name}"], val_loss(params), rtol=1e-5)
        test_loss = jnp.mean(jopt.losses.softmax_cross_entropy_with_integer_labels(
            model.apply(params, xt), yt))
        np.testing.assert_allclose(result.metrics[f"test_loss/{name}"], test_loss, rtol=1e-5)
        np.testing.assert_allclose(result.metrics[f"test_accuracy/{name}"],
                                   accuracy(params, xt, yt), atol=1e-6)


def test_fit_vmaps_over_learning_rates_and_keys(digits):
    model = models.mlp([64, 16, 10])
    lrs = jnp.array([0.01, 0.3])
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    run = lambda lr, key: fit(model, jopt.sgd(lr, momentum=0.9), digits, loss=LOSS, batch_size=32,
                              key=key, steps=40, eval_every=20)
    batched = jax.vmap(run)(lrs, keys)
    for i in range(2):
        single = run(lrs[i], keys[i])
        np.testing.assert_allclose(batched.history["val_loss"][i], single.history["val_loss"],
                                   rtol=1e-4)


def test_polyak_and_ema_averages_are_averages_of_the_iterates():
    """On a 1-D quadratic with a fixed batch, the averages equal the closed-form means."""
    x = np.ones((4, 1), np.float32)
    y = np.zeros(4, np.float32)
    splits = data.Splits(data.Dataset(x, y), data.Dataset(x, y), data.Dataset(x, y))
    model = models.linear(1, 1, bias=False)
    result = fit(model, jopt.sgd(0.1), splits, loss="mean_squared_error", batch_size=4,
                 key=jax.random.PRNGKey(0), steps=10, ema_decay=0.5,
                 params=jax.tree_util.tree_map(lambda p: jnp.full_like(p, 2.0),
                                               model.init(jax.random.PRNGKey(0))))
    # loss mean((w - 0)^2) -> w_t = 2 * (1 - 0.2)^t
    iterates = 2 * 0.8 ** np.arange(11)
    leaf = lambda tree: float(jax.tree_util.tree_leaves(tree)[0].ravel()[0])
    np.testing.assert_allclose(leaf(result.last_params), iterates[-1], rtol=1e-5)
    np.testing.assert_allclose(leaf(result.polyak_params), iterates.mean(), rtol=1e-5)
    ema = iterates[0]
    for value in iterates[1:]:
        ema = 0.5 * ema + 0.5 * value
    np.testing.assert_allclose(leaf(result.ema_params), ema, rtol=1e-5)


def test_fit_in_float64_matches_the_closed_form():
    """With 64-bit types on, fit runs (its int32 counters stay int32) and full-batch GD on
    least squares follows w_t = w* + (1 - 2 lr)^t (w_0 - w*), to float64 precision."""
    with jax.enable_x64(True):
        x = np.ones((4, 1))
        y = np.full(4, 3.0)
        splits = data.Splits(data.Dataset(x, y), data.Dataset(x, y), data.Dataset(x, y))
        model = models.linear(1, 1, bias=False, dtype=jnp.float64)
        result = fit(model, jopt.sgd(0.1), splits, loss="mean_squared_error", batch_size=4,
                     key=jax.random.PRNGKey(0), steps=10)
        w = jax.tree_util.tree_leaves(result.last_params)[0]
        assert w.dtype == jnp.float64
        np.testing.assert_allclose(float(w.ravel()[0]), 3.0 * (1 - 0.8 ** 10), rtol=1e-12)


def test_non_finite_loss_freezes_and_marks_divergence(digits):
    result = fit(models.mlp([64, 16, 10]), jopt.sgd(1e4), digits, loss=LOSS, batch_size=32,
                 key=jax.random.PRNGKey(0), steps=50, eval_every=10)
    assert bool(result.diverged)
    assert int(result.stop_step) < 50
    assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(result.last_params))


@pytest.mark.parametrize("kwargs, field", [
    ({"batch_size": 0}, "batch_size"), ({"batch_size": 5000}, "batch_size"),
    ({"epochs": 0}, "epochs"), ({"epochs": None, "steps": -1}, "steps"),
    ({"sampling": "random"}, "sampling"), ({"patience": 0}, "patience"),
    ({"loss": "no_such_loss"}, "loss"),
])
def test_fit_bad_input_names_the_field(digits, kwargs, field):
    args = {"loss": LOSS, "batch_size": 32, "key": jax.random.PRNGKey(0), "epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=field):
        fit(models.mlp([64, 8, 10]), jopt.sgd(0.1), digits, **args)


def test_fit_rejects_mismatched_and_non_finite_data(digits):
    (x, y), val, test = digits
    with pytest.raises(ValueError, match="train"):
        fit(models.mlp([64, 8, 10]), jopt.sgd(0.1), data.Splits(data.Dataset(x, y[:-1]), val, test),
            loss=LOSS, batch_size=32, key=jax.random.PRNGKey(0), epochs=1)
    bad = x.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="nan"):
        fit(models.mlp([64, 8, 10]), jopt.sgd(0.1), data.Splits(data.Dataset(bad, y), val, test),
            loss=LOSS, batch_size=32, key=jax.random.PRNGKey(0), epochs=1)


@pytest.mark.parametrize("block_rows", [1, 7, 64, 1000])
def test_evaluation_in_blocks_equals_one_pass(digits, block_rows):
    """Blocks of rows (the last overlapping the one before: 270 is no multiple of 7 or 64)
    give the one-pass mean loss and accuracy; for regression the accuracy stays NaN."""
    from jopt.train import evaluate, resolve_loss
    x, y = digits.val
    model = models.mlp([64, 16, 10])
    params = model.init(jax.random.PRNGKey(3))
    loss = resolve_loss("softmax_cross_entropy_with_integer_labels")
    whole = evaluate(model, loss, params, x, y)
    blocked = jax.jit(lambda p: evaluate(model, loss, p, x, y, block_rows))(params)
    np.testing.assert_allclose(blocked[0], whole[0], rtol=1e-6)
    assert float(blocked[1]) == pytest.approx(float(whole[1]), abs=1e-7)
    outputs = np.asarray(model.apply(params, x))
    assert float(blocked[1]) == pytest.approx(np.mean(outputs.argmax(-1) == y), abs=1e-7)
    linear = models.linear(64)
    targets = jnp.asarray(x[:, 0])
    mse = resolve_loss("mean_squared_error")
    value, accuracy = evaluate(linear, mse, linear.init(jax.random.PRNGKey(0)), x, targets, block_rows)
    reference = np.mean((np.asarray(linear.apply(linear.init(jax.random.PRNGKey(0)), x)) - x[:, 0]) ** 2)
    np.testing.assert_allclose(value, reference, rtol=1e-5)
    assert np.isnan(accuracy)


@pytest.mark.parametrize("block_rows", [None, 5, 64, 4000])
def test_evaluating_several_splits_in_one_pass_equals_each_alone(digits, block_rows):
    """evaluate_splits: the rows of train, val, an empty split and test go through the
    model together; each split's loss and accuracy equal NumPy's on that split alone
    (blocks of 5 and 64 straddle the splits' boundaries), the empty one's are NaN."""
    from jopt.train import evaluate_splits, resolve_loss
    model = models.mlp([64, 16, 10])
    params = model.init(jax.random.PRNGKey(4))
    loss = resolve_loss("softmax_cross_entropy_with_integer_labels")
    empty = (digits.val.x[:0], digits.val.y[:0])
    splits = [digits.train, digits.val, empty, digits.test]
    got = jax.jit(lambda p: evaluate_splits(model, loss, p, splits, block_rows))(params)
    for (x, y), (value, accuracy) in zip(splits, got):
        if len(x) == 0:
            assert np.isnan(value) and np.isnan(accuracy)
            continue
        logits = np.asarray(model.apply(params, x), np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        np.testing.assert_allclose(value, -np.mean(log_probs[np.arange(len(y)), y]), rtol=1e-5)
        assert float(accuracy) == pytest.approx(np.mean(logits.argmax(1) == y), abs=1e-7)
    # regression targets: the accuracies are NaN, the losses the splits' mean squared errors
    linear = models.linear(64)
    linear_params = linear.init(jax.random.PRNGKey(0))
    targets = [(x, x[:, 0]) for x, _ in (digits.train, digits.val)]
    mse = resolve_loss("mean_squared_error")
    for (x, t), (value, accuracy) in zip(targets, evaluate_splits(linear, mse, linear_params,
                                                                  targets, block_rows)):
        reference = np.mean((np.asarray(linear.apply(linear_params, x)) - t) ** 2)
        np.testing.assert_allclose(value, reference, rtol=1e-5)
        assert np.isnan(accuracy)
