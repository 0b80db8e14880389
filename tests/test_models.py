"""jopt.models: shapes, initialization statistics, activations, frozen random features,
plain-pytree parameters (FIGURES.md DIGITS-MLP, F38, F40, F46-F48)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jopt import data, models

KEY = jax.random.PRNGKey(0)


def _shapes(tree):
    return jax.tree_util.tree_map(lambda leaf: leaf.shape, tree)


def test_linear_and_logistic_shapes():
    x = jnp.ones((7, 5))
    scalar_out = models.linear(5)
    params = scalar_out.init(KEY)
    assert _shapes(params) == {"w": (5,), "b": ()}
    assert scalar_out.apply(params, x).shape == (7,)
    assert models.linear(5, 3).apply(models.linear(5, 3).init(KEY), x).shape == (7, 3)
    assert _shapes(models.linear(5, bias=False).init(KEY)) == {"w": (5,)}
    # zero start by default (the decks' linear models start from 0)
    assert all(np.all(leaf == 0) for leaf in jax.tree_util.tree_leaves(params))
    binary, softmax = models.logistic(5), models.logistic(5, num_classes=10)
    assert binary.apply(binary.init(KEY), x).shape == (7,)
    assert softmax.apply(softmax.init(KEY), x).shape == (7, 10)
    with pytest.raises(ValueError, match="num_classes.*1"):
        models.logistic(5, num_classes=1)


@pytest.fixture(scope="module")
def digits_mlp():
    model = models.mlp([64, 128, 10])
    return model, model.init(KEY)


def _numpy_params(sizes, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    return [{"w": rng.normal(size=(m, n)).astype(np.float32), **({"b": rng.normal(size=n)
             .astype(np.float32)} if bias else {})} for m, n in zip(sizes[:-1], sizes[1:])]


def test_mlp_shapes_and_forward_pass_match_numpy(digits_mlp):
    model, params = digits_mlp
    assert _shapes(params) == [{"w": (64, 128), "b": (128,)}, {"w": (128, 10), "b": (10,)}]
    x = np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32)
    p = _numpy_params([64, 128, 10])
    expected = np.maximum(x @ p[0]["w"] + p[0]["b"], 0) @ p[1]["w"] + p[1]["b"]
    np.testing.assert_allclose(model.apply(p, x), expected, rtol=1e-4, atol=1e-4)
    assert model.apply(params, x[0]).shape == (10,)  # one example without a batch axis


def test_mlp_per_layer_activations_and_no_bias():
    # F40's 5-7-6-3 net: tanh, then sigmoid, then the output layer
    model = models.mlp([5, 7, 6, 3], ["tanh", "sigmoid"])
    assert _shapes(jax.eval_shape(model.init, KEY)) == [
        {"w": (5, 7), "b": (7,)}, {"w": (7, 6), "b": (6,)}, {"w": (6, 3), "b": (3,)}]
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    p = _numpy_params([5, 7, 6, 3])
    h1 = np.tanh(x @ p[0]["w"] + p[0]["b"])
    h2 = 1 / (1 + np.exp(-(h1 @ p[1]["w"] + p[1]["b"])))
    np.testing.assert_allclose(model.apply(p, x), h2 @ p[2]["w"] + p[2]["b"], rtol=1e-5, atol=1e-5)
    # F38's 10-layer net has no biases
    deep = models.mlp([64] * 11, "sigmoid", init="lecun", bias=False)
    assert _shapes(jax.eval_shape(deep.init, KEY)) == [{"w": (64, 64)}] * 10
    p = _numpy_params([3, 4, 2], bias=False)
    np.testing.assert_allclose(models.mlp([3, 4, 2], bias=False).apply(p, x[:, :3]),
                               np.maximum(x[:, :3] @ p[0]["w"], 0) @ p[1]["w"],
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="one per hidden layer"):
        models.mlp([5, 7, 6, 3], ["tanh"])


@pytest.mark.parametrize("init, std", [
    ("he", math.sqrt(2 / 400)), ("lecun", math.sqrt(1 / 400)), ("glorot", math.sqrt(2 / 900)),
    ("xavier", math.sqrt(2 / 900)), ("normal", 1.0)])
def test_init_statistics(init, std):
    # 200 000 draws: the sample std is within 0.5 % (about 3 standard errors)
    w = np.asarray(models.init_weights(KEY, 400, 500, init))
    assert w.shape == (400, 500)
    assert abs(w.std() / std - 1) < 5e-3
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size)
    scaled = np.asarray(models.init_weights(KEY, 400, 500, init, scale=0.01))
    np.testing.assert_allclose(scaled, 0.01 * w, rtol=1e-5)


def test_mlp_default_init_is_he_with_zero_biases():
    (layer,) = models.mlp([400, 500]).init(KEY)
    w = np.asarray(layer["w"])
    assert abs(w.std() / math.sqrt(2 / 400) - 1) < 5e-3
    assert np.all(np.asarray(layer["b"]) == 0)
    (small,) = models.mlp([400, 500], init="lecun", scale=0.1).init(KEY)
    assert abs(np.asarray(small["w"]).std() / (0.1 * math.sqrt(1 / 400)) - 1) < 5e-3


def test_orthogonal_and_zeros_init():
    q = np.asarray(models.init_weights(KEY, 16, 4, "orthogonal", scale=2.0))
    np.testing.assert_allclose(q.T @ q, 4 * np.eye(4), atol=1e-5)
    assert np.all(np.asarray(models.init_weights(KEY, 3, 2, "zeros")) == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_draws_equal_the_2d_draws_bit_for_bit(dtype):
    # the draws are made flat and reshaped (faster to compile); the values are JAX's 2-D ones
    key = jax.random.PRNGKey(3)
    with jax.enable_x64(dtype == np.float64):
        for fan_in, fan_out in [(5, 3), (3, 5)]:
            normal = np.asarray(jax.random.normal(key, (fan_in, fan_out), dtype))
            for init, std in [("he", math.sqrt(2 / fan_in)), ("normal", 1.0)]:
                w = models.init_weights(key, fan_in, fan_out, init, scale=0.5, dtype=dtype)
                assert w.dtype == dtype
                np.testing.assert_array_equal(w, 0.5 * std * normal)
            orthogonal = jax.nn.initializers.orthogonal()(key, (fan_in, fan_out), dtype)
            np.testing.assert_array_equal(
                models.init_weights(key, fan_in, fan_out, "orthogonal", scale=2.0, dtype=dtype),
                2.0 * orthogonal)
        alpha = models.random_feature_weights(4, 6, key)
        assert alpha.dtype == jnp.result_type(float)  # JAX's default float, as before
        np.testing.assert_array_equal(alpha, jax.random.normal(key, (4, 6)) / np.sqrt(4))


def test_activations_closed_forms():
    z = np.linspace(-6, 6, 25).astype(np.float32)
    expected = {"identity": z, "relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)),
                "tanh": np.tanh(z), "softplus": np.log1p(np.exp(z))}
    assert set(models.ACTIVATIONS) == set(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(models.activation_fn(name)(z), values, rtol=1e-5, atol=1e-6)
    # F38: sigma'(0) = 1/4 is the maximum, sigma'(5) = 6.648e-3; softplus' = sigma
    d_sigmoid = jax.vmap(jax.grad(models.activation_fn("sigmoid")))
    assert d_sigmoid(jnp.array([0.0]))[0] == pytest.approx(0.25)
    assert d_sigmoid(jnp.array([5.0]))[0] == pytest.approx(6.648e-3, rel=1e-3)
    d_softplus = jax.vmap(jax.grad(models.activation_fn("softplus")))(z)
    np.testing.assert_allclose(d_softplus, expected["sigmoid"], rtol=1e-6)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError) as error:
        models.mlp([2, 3, 1], activation="swish")
    message = str(error.value)
    assert "'swish'" in message
    assert all(name in message for name in ("identity", "relu", "sigmoid", "softplus", "tanh"))
    with pytest.raises(ValueError, match="'kaiming'.*glorot.*he.*lecun.*normal.*zeros"):
        models.mlp([2, 3, 1], init="kaiming")
    with pytest.raises(ValueError, match="'gelu'.*identity"):
        models.two_layer_linear(2, 3, 1, activation="gelu")
    with pytest.raises(ValueError, match=r"sizes.*\[64, 0, 10\]"):
        models.mlp([64, 0, 10])
    with pytest.raises(ValueError, match="in_dim.*-1"):
        models.linear(-1)


def test_two_layer_linear_is_q_f_w_x():
    big = models.two_layer_linear(64, 128, 10).init(KEY)  # the digits MLP's shapes: compiled once
    assert _shapes(big) == {"W": (128, 64), "Q": (10, 128)}
    # small random start: entries N(0, 0.01^2)
    assert abs(np.asarray(big["W"]).std() / 0.01 - 1) < 0.05
    assert abs(np.asarray(big["Q"]).std() / 0.01 - 1) < 0.1
    model = models.two_layer_linear(8, 16, 6)
    x = np.random.default_rng(2).normal(size=(5, 8)).astype(np.float32)
    rng = np.random.default_rng(3)
    p = {"W": rng.normal(size=(16, 8)).astype(np.float32),
         "Q": rng.normal(size=(6, 16)).astype(np.float32)}
    np.testing.assert_allclose(model.apply(p, x), x @ (p["Q"] @ p["W"]).T, rtol=1e-4, atol=1e-4)
    tanh_net = models.two_layer_linear(8, 16, 6, activation="tanh")
    np.testing.assert_allclose(tanh_net.apply(p, x), np.tanh(x @ p["W"].T) @ p["Q"].T,
                               rtol=1e-4, atol=1e-4)


def test_random_features_frozen_layer_is_not_in_params():
    model = models.random_features(10, 50, 7)  # an integer key: a NumPy seed
    params = model.init(KEY)
    assert _shapes(params) == {"w": (50,)}
    assert np.all(np.asarray(params["w"]) == 0)  # beta^(0) = 0
    x = np.random.default_rng(3).normal(size=(20, 10)).astype(np.float32)
    alpha = models.random_feature_weights(10, 50, 7)
    np.testing.assert_array_equal(alpha,
                                  np.random.default_rng(7).normal(size=(10, 50)) / np.sqrt(10))
    beta = {"w": jnp.linspace(-1, 1, 50)}
    np.testing.assert_allclose(model.apply(beta, x),
                               np.maximum(x @ alpha, 0) @ np.asarray(beta["w"]),
                               rtol=1e-4, atol=1e-4)
    # the gradient has the head's structure only; other features give other outputs
    grads = jax.grad(lambda p: jnp.sum(model.apply(p, x) ** 2))(beta)
    assert _shapes(grads) == {"w": (50,)}
    other = models.random_features(10, 50, 8)
    assert not np.allclose(other.apply(beta, x), model.apply(beta, x))
    # a JAX key draws alpha_k ~ N(0, I/10) with JAX's generator
    jax_alpha = np.asarray(models.random_feature_weights(64, 128, KEY))
    assert jax_alpha.shape == (64, 128) and abs(jax_alpha.std() * math.sqrt(64) - 1) < 0.05


def test_random_features_reproduce_the_double_descent_numbers():
    # FIGURES.md F48, data seed 0: median test MSE over feature draws 1000 + r, r < 20
    train, _, test, _ = data.double_descent()

    def median_test_mse(d):
        errors = []
        for r in range(20):
            alpha = models.random_feature_weights(10, d, 1000 + r)
            h_train, h_test = np.maximum(train.x @ alpha, 0), np.maximum(test.x @ alpha, 0)
            beta = np.linalg.lstsq(h_train, train.y, rcond=None)[0]
            errors.append(np.mean((h_test @ beta - test.y) ** 2))
        return np.median(errors)

    assert median_test_mse(10) == pytest.approx(0.288, abs=5e-4)
    assert median_test_mse(100) == pytest.approx(6.82, abs=5e-3)  # the peak at d = n
    # the model computes the same features (in float32)
    alpha = models.random_feature_weights(10, 100, 1000)
    np.testing.assert_allclose(models.relu_features(alpha, test.x[:5].astype(np.float32)),
                               np.maximum(test.x[:5] @ alpha, 0), rtol=1e-4, atol=1e-5)


def test_params_are_plain_pytrees_that_grad_and_optax_accept(digits_mlp):
    model, params = digits_mlp
    assert isinstance(params, list) and all(isinstance(layer, dict) for layer in params)
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree_util.tree_leaves(params))
    x = jnp.ones((4, 64))
    grads = jax.jit(jax.grad(lambda p: jnp.sum(model.apply(p, x) ** 2)))(params)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(params)
    assert float(jnp.sum(jnp.abs(grads[0]["w"]))) > 0
    opt = optax.sgd(0.1)
    updates, _ = opt.update(grads, opt.init(params))
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new[1]["w"], params[1]["w"] - 0.1 * grads[1]["w"], rtol=1e-6)
    # a batch of initializations for a sweep over seeds
    stacked = jax.vmap(models.linear(5, 3, init="he").init)(jax.random.split(KEY, 3))
    assert stacked["w"].shape == (3, 5, 3)
    assert not np.allclose(stacked["w"][0], stacked["w"][1])
