"""F23-F26 (FIGURES.md section 4, adaptive methods): every claim at test size.

The figures' data come from ``experiments.lectures.adaptive`` (the notebook's code);
optax and torch.optim are the reference implementations of the conventions.
"""

import jax
import numpy as np
import optax
import pytest
import torch

import jopt

from experiments.lectures import adaptive as ada

EXACT = dict(rtol=1e-9, atol=0.0)


@pytest.fixture(scope="module")
def f23():
    return ada.f23()


@pytest.fixture(scope="module")
def f24():
    return ada.f24()


@pytest.fixture(scope="module")
def f25():
    return ada.f25()


@pytest.fixture(scope="module")
def f26():
    return ada.f26(steps=1000, seeds=range(2), samplings=("epoch", "replacement"),
                   eval_every=100)


def jopt_updates(opts, grads):
    """``label -> updates`` of jopt or optax optimizers on ``grads``: float64, one jit."""
    with jax.enable_x64(True):
        run = jax.jit(lambda g: {label: ada.run_on_gradients(opt, g)[0]
                                 for label, opt in opts.items()})
        return {label: np.asarray(updates) for label, updates in run(np.asarray(grads)).items()}


def torch_updates(make_optimizer, grads):
    """The updates of a torch.optim optimizer fed the gradients ``grads`` (float64)."""
    param = torch.zeros(grads.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([param])
    updates = []
    for grad in grads:
        before = param.detach().clone()
        param.grad = torch.as_tensor(grad, dtype=torch.float64)
        optimizer.step()
        updates.append((param.detach() - before).numpy())
    return np.array(updates)


# ----------------------------------------------------------------------------
# F23 · Adagrad
# ----------------------------------------------------------------------------


def test_f23_constant_gradient_step_times_sqrt_t_is_one(f23):
    """F23 [exact]: constant gradient, eps = 0: step t is eta/sqrt(t), eps inside or outside."""
    for curve in f23.step_sqrt_t.values():
        np.testing.assert_allclose(curve, 1.0, **EXACT)


def test_f23_deck002_two_forms_are_identical(f23):
    """F23 [exact]: deck 002's sum form and eta^t/sigma^t form agree, and are jopt's Adagrad."""
    forms = f23.two_forms
    np.testing.assert_allclose(forms["mean form"], forms["sum form"], **EXACT)
    np.testing.assert_allclose(forms["jopt"], forms["sum form"], rtol=1e-9, atol=1e-15)
    assert np.abs(forms["jopt"][:, 0]).min() > 0  # the slow coordinate moves at every step


def test_f23_first_step_moves_every_coordinate_by_eta(f23):
    """F23 [exact]: g = (2, -0.01): first steps (-1, +1) eta with G0 = 0 (decks, torch,
    optax with G0 = 0)."""
    grad = f23.small_large_grad
    np.testing.assert_allclose(f23.first_step["G0 = 0, eps -> 0 (decks 000-002)"], [-1.0, 1.0],
                               **EXACT)
    torch_default = f23.first_step["jopt default = torch (G0 = 0, eps 1e-10 outside)"]
    np.testing.assert_allclose(torch_default, -grad / (np.abs(grad) + 1e-10), **EXACT)
    np.testing.assert_allclose(torch_default, [-1.0, 1.0], atol=1e-7)
    optax_g0_zero = f23.first_step["eps_in_sqrt=True, G0 = 0 (deck 000; optax with G0 = 0)"]
    np.testing.assert_allclose(optax_g0_zero, -grad / np.sqrt(grad ** 2 + 1e-7), **EXACT)
    np.testing.assert_allclose(optax_g0_zero, [-1.0, 1.0], atol=5e-4)  # 0.9995 with eps 1e-7


def test_f23_optax_initial_accumulator_shrinks_small_gradient_steps(f23):
    """F23 [exact]: optax's G0 = 0.1 gives first steps 0.98773 eta and 0.03161 eta."""
    first = f23.first_step["initial_accumulator_value=0.1 (optax default)"]
    np.testing.assert_allclose(np.abs(first), [0.98773, 0.03161], atol=5e-6)
    optax_first = jopt_updates({"optax": optax.adagrad(f23.learning_rate)},
                               f23.small_large_grad[None])["optax"][0]
    np.testing.assert_allclose(first * f23.learning_rate, optax_first, **EXACT)


def test_f23_conventions_match_optax_and_torch():
    """F23 [exact]: jopt's default is torch's Adagrad; initial_accumulator_value and
    eps_in_sqrt select optax's, on 50 random gradients."""
    grads, rate = ada.random_gradients(), 0.3
    with jax.enable_x64(True):
        conventions = ada.adagrad_conventions(rate)
    torch_label = "jopt default = torch (G0 = 0, eps 1e-10 outside)"
    optax_labels = {"initial_accumulator_value=0.1 (optax default)": optax.adagrad(rate),
                    "eps_in_sqrt=True, G0 = 0 (deck 000; optax with G0 = 0)":
                        optax.adagrad(rate, initial_accumulator_value=0.0)}
    ours = jopt_updates({label: conventions[label] for label in [torch_label, *optax_labels]},
                        grads)
    references = jopt_updates(optax_labels, grads)
    references[torch_label] = torch_updates(lambda p: torch.optim.Adagrad(p, lr=rate), grads)
    for label, reference in references.items():
        np.testing.assert_allclose(ours[label], reference, rtol=1e-9, atol=1e-15, err_msg=label)


def test_f23_adagrad_moves_both_coordinates_equally_on_q100(f23):
    """F23 [exact]: on Q100 Adagrad's first step moves x1 and x2 by eta; GD's moves x1 by
    0.01 |x1| eta."""
    eta = f23.learning_rate
    first_move = {name: np.abs(xs[1] - xs[0]) for name, xs in f23.paths.items()}
    np.testing.assert_allclose(first_move["Adagrad"], [eta, eta], **EXACT)
    np.testing.assert_allclose(first_move["GD"], [0.1 * eta, eta], **EXACT)
    assert f23.values["Adagrad"][-1] < f23.values["GD"][-1]


# ----------------------------------------------------------------------------
# F24 · RMSprop
# ----------------------------------------------------------------------------


def label_of(conventions, start):
    return next(label for label in conventions if label.startswith(start))


def test_f24_deck000_expansion_holds_with_zero_start(f24):
    """F24 [exact]: G_t = (1 - b)(b^(t-1) g_1^2 + ... + g_t^2) is jopt's accumulator, nu_0 = 0."""
    np.testing.assert_allclose(f24.accumulator, f24.expansion, **EXACT)


def test_f24_zero_accumulator_first_steps(f24):
    """F24 [exact]: nu_0 = 0 gives steps eta/sqrt(1 - rho^t): 3.16228, 2.29416, 1.92095 (0.9);
    10.0, 7.08881, 5.80249 (0.99)."""
    steps = -f24.steps[label_of(f24.steps, "standard")]
    closed_form = 1 / np.sqrt(1 - f24.decays[:, None] ** f24.t)
    np.testing.assert_allclose(steps, closed_form, **EXACT)
    np.testing.assert_allclose(steps[:, :3], [[3.16228, 2.29416, 1.92095],
                                              [10.0, 7.08881, 5.80249]], atol=5e-6)
    np.testing.assert_allclose(-f24.steps[label_of(f24.steps, "eps_in_sqrt")], closed_form, **EXACT)


def test_f24_deck002_first_accumulator_steps_exactly_eta(f24):
    """F24 [exact]: deck 002's sigma^0 = |g^0| (init_with_first_grad) steps exactly eta."""
    steps = -f24.steps[label_of(f24.steps, "init_with_first_grad")]
    np.testing.assert_allclose(steps, 1.0, **EXACT)


def test_f24_deck001_discounted_sum_shrinks_steps_by_sqrt_one_minus_rho(f24):
    """F24 [exact]: deck 001's sum without (1 - rho): steps 1, 0.72548, 0.60746, ...
    tending to sqrt(1 - rho) eta."""
    steps = -f24.steps[label_of(f24.steps, "discounted_sum")]
    limit = np.sqrt(1 - f24.decays)
    np.testing.assert_allclose(steps, limit[:, None] / np.sqrt(1 - f24.decays[:, None] ** f24.t),
                               **EXACT)
    np.testing.assert_allclose(steps[0, :3], [1.0, 0.72548, 0.60746], atol=5e-6)
    np.testing.assert_allclose(limit, [0.31623, 0.1], atol=5e-6)
    np.testing.assert_allclose(steps[0, -1], limit[0], **EXACT)  # 0.9^200 is below rounding
    assert np.all(np.diff(steps, axis=1) < 0) and np.all(steps > limit[:, None])


def test_f24_eps_placement_first_step(f24):
    """F24 [exact]: g = -0.01: eps inside (optax, rho 0.9) 3.1607 eta; outside (torch,
    rho 0.99) 9.9999 eta."""
    inside, outside = f24.eps_first_step["inside"], f24.eps_first_step["outside"]
    np.testing.assert_allclose(inside[0], 3.1607, atol=5e-5)
    np.testing.assert_allclose(outside[1], 9.9999, atol=5e-5)
    g, eps = abs(float(f24.small_grad)), float(f24.eps)
    np.testing.assert_allclose(inside, g / np.sqrt((1 - f24.decays) * g ** 2 + eps), **EXACT)
    np.testing.assert_allclose(outside, g / (np.sqrt(1 - f24.decays) * g + eps), **EXACT)
    grad = np.array([[g * np.sign(f24.small_grad)]])
    optax_first = jopt_updates({"optax": optax.rmsprop(1.0, decay=0.9, eps=eps)},
                               grad)["optax"][0, 0]
    torch_first = torch_updates(lambda p: torch.optim.RMSprop(p, lr=1.0, alpha=0.99, eps=eps),
                                grad)[0, 0]
    np.testing.assert_allclose([optax_first, torch_first], [inside[0], outside[1]], **EXACT)


def test_f24_conventions_match_optax_and_torch():
    """F24 [exact]: jopt's default is torch's RMSprop, eps_in_sqrt=True optax's, and centered
    either's (torch: eps outside; optax: eps inside), on 50 random gradients."""
    grads, rate, decay, eps = ada.random_gradients(), 0.01, 0.95, 1e-3
    with jax.enable_x64(True):
        conventions = ada.rmsprop_conventions(rate, decay, eps)
        ours = jopt_updates({"torch": conventions["standard (jopt default, torch)"],
                             "optax": conventions["eps_in_sqrt=True (optax, deck 000)"],
                             "torch centered": conventions["centered=True"],
                             "optax centered": jopt.rmsprop(rate, decay, eps, eps_in_sqrt=True,
                                                            centered=True)}, grads)
    references = jopt_updates({"optax": optax.rmsprop(rate, decay, eps),
                               "optax centered": optax.rmsprop(rate, decay, eps, centered=True)},
                              grads)
    for label, centered in (("torch", False), ("torch centered", True)):
        references[label] = torch_updates(lambda p: torch.optim.RMSprop(
            p, lr=rate, alpha=decay, eps=eps, centered=centered), grads)
    for label, reference in references.items():
        np.testing.assert_allclose(ours[label], reference, rtol=1e-9, atol=1e-15, err_msg=label)


# ----------------------------------------------------------------------------
# F25 · Adam
# ----------------------------------------------------------------------------


def test_f25_standard_adam_steps_eta_every_step(f25):
    """F25 [exact]: constant g: Kingma & Ba's Adam moves eta g / (|g| + eps) every step."""
    steps = f25.steps["Kingma & Ba (jopt default; deck 002)"]
    np.testing.assert_allclose(steps, -1 / (1 + 1e-8), **EXACT)
    grads = np.ones((5, 1))
    np.testing.assert_allclose(jopt_updates({"optax": optax.adam(1.0)}, grads)["optax"], -1.0,
                               atol=5e-6)
    np.testing.assert_allclose(torch_updates(lambda p: torch.optim.Adam(p, lr=1.0), grads), -1.0,
                               atol=5e-6)


def test_f25_adam_matches_optax_and_torch():
    """F25 [exact]: jopt's Adam is optax's and torch's, on 50 random gradients."""
    grads, rate = ada.random_gradients(), 0.01
    with jax.enable_x64(True):
        adam = ada.adam_conventions(rate)["Kingma & Ba (jopt default; deck 002)"]
    updates = jopt_updates({"jopt": adam, "optax": optax.adam(rate)}, grads)
    np.testing.assert_allclose(updates["jopt"], updates["optax"], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(updates["jopt"],
                               torch_updates(lambda p: torch.optim.Adam(p, lr=rate), grads),
                               rtol=1e-9, atol=1e-15)


def test_f25_bias_correction_off(f25):
    """F25 [exact]: bias_correction=False: constant g gives steps (1 - b1^t)/sqrt(1 - b2^t) eta."""
    steps = -f25.steps["bias_correction=False"]
    t, b1, b2 = f25.t, f25.b1, f25.b2
    np.testing.assert_allclose(steps, (1 - b1 ** t) / (np.sqrt(1 - b2 ** t) + 1e-8), **EXACT)
    assert steps[0] > 3.16


def test_f25_deck000_corrected_copies(f25):
    """F25 [exact]: deck 000 with corrected copies: 1, 2.0643 (t=10), 1.0248 (100), 0.3977 (1000),
    tending to sqrt(1 - b2)/(1 - b1) = 0.31623."""
    steps = -f25.steps["deck 000 literally (corrected copies)"]
    np.testing.assert_allclose(steps[[0, 9, 99, 999]], [1.0, 2.0643, 1.0248, 0.3977], atol=5e-5)
    np.testing.assert_allclose(f25.deck000_limit, 0.31623, atol=5e-6)
    t, b1, b2 = f25.t, f25.b1, f25.b2
    closed_form = ((1 - b1 ** t) / (1 - b1)) / np.sqrt((1 - b2 ** t) / (1 - b2) + 1e-8)
    np.testing.assert_allclose(steps, closed_form, **EXACT)


def test_f25_deck000_is_uncorrected_adam_with_rescaled_rate_and_eps_root(f25):
    """F25 [exact]: deck 000's rule = adam(eta sqrt(1-b2)/(1-b1), eps_root=eps(1-b2),
    bias_correction=False), under a constant gradient and on random gradients."""
    jopt_form = f25.steps["deck 000 in jopt: bias_correction=False, rescaled rate, eps_root"]
    literal_form = f25.steps["deck 000 literally (corrected copies)"]
    np.testing.assert_allclose(jopt_form, literal_form, **EXACT)
    literal, ours = f25.deck000_random["literal"], f25.deck000_random["jopt"]
    assert np.max(np.abs(ours - literal)) < 1e-13 * np.max(np.abs(literal))


def test_f25_deck000_fed_back_state_is_degenerate(f25):
    """F25 [exact]: deck 000 with corrected values fed back: steps 1, 0.316, 0.091, 0.026,
    0.0074, 0.0021, tending to 0."""
    steps = -f25.steps["deck 000 literally (corrected values fed back)"]
    np.testing.assert_allclose(steps[:6], [1, 0.316, 0.091, 0.026, 0.0074, 0.0021], rtol=1e-2)
    assert np.all(np.diff(steps[:100]) < 0) and steps[20] < 1e-10  # later the state overflows


def test_f25_deck001_plus_sign_ascends(f25):
    """F25 [exact]: deck 001's '+' is a sign slip: it ascends on Q10; jopt's default descends."""
    default, plus = f25.descent["jopt default"], f25.descent["deck 001 (+)"]
    assert default[-1] < 1e-2 * default[0]
    assert plus[-1] > plus[0] and np.all(np.diff(plus) > 0)


# ----------------------------------------------------------------------------
# F26 · Four optimizers on the digits
# ----------------------------------------------------------------------------


def test_f26_ordering_sgd_adagrad_rmsprop_adam(f26):
    """F26 [seeded]: SGD > Adagrad > {RMSprop, Adam} at steps 100 and 1000, every seed,
    batches drawn with replacement and by epoch permutation."""
    assert f26.samplings == ("epoch", "replacement")
    for step in (100, 1000):
        loss = ada.loss_at(f26, step)
        assert np.all(loss["SGD"] > loss["Adagrad"]), step
        assert np.all(loss["Adagrad"] > np.maximum(loss["RMSprop"], loss["Adam"])), step


def test_f26_steps_to_half(f26):
    """F26 [seeded]: loss < 0.5: SGD not within 1000 steps, Adagrad after step 100 (428-546),
    RMSprop and Adam within 100 (39-53)."""
    below = ada.steps_below(f26, 0.5)
    assert np.all(below["SGD"] == -1)
    assert np.all((below["Adagrad"] > 100) & (below["Adagrad"] <= 1000))
    assert np.all((below["RMSprop"] > 0) & (below["RMSprop"] <= 100))
    assert np.all((below["Adam"] > 0) & (below["Adam"] <= 100))
