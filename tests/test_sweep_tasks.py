"""jopt.sweep.task: a user's own training setup.  Bad pieces are one line naming them and
the shapes, before anything compiles or is written; a changed model in a used folder is
refused (its programs' fingerprint is in the spec); a user task trains as the built-in
task does, under bucket and mask strategies, with early stopping and its own metrics."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jopt
import jopt.sweep as sweep
from jopt import data, models

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int32)


def linear(width_out=2, bias=True):
    def init(key):
        params = {"w": jax.random.normal(key, (4, width_out)) * 0.1}
        return {**params, "b": jnp.zeros(width_out)} if bias else params

    def apply(params, x):
        return x @ params["w"] + (params["b"] if "b" in params else 0)
    return init, apply


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("make, expected", [
    (lambda: sweep.task(lambda key: {"w": jnp.zeros((4, 2), jnp.int32)},
                        apply=lambda p, x: x @ p["w"], data=(X, Y)),
     ["int32", "['w']", "(4, 2)", "float"]),
    (lambda: sweep.task(lambda key: {"w": jnp.zeros((4, 2)), "n": "relu"},
                        apply=lambda p, x: x @ p["w"], data=(X, Y)),
     ["non-array", "['n']", "str"]),
    (lambda: sweep.task(linear()[0], loss=lambda p, b: b[0] @ p["w"], data=(X, Y)),
     ["scalar", "(2, 2)"]),
    (lambda: sweep.task(linear()[0], apply=linear()[1], data=(X, Y[:50])),
     ["x has", "60", "50"]),
    (lambda: sweep.task(linear()[0], apply=linear()[1], data={"train": (X, Y), "val": (X[:5], Y[:4])}),
     ["'val'", "(5, 4)", "(4,)"]),
    (lambda: sweep.task(linear()[0], apply=linear()[1], data=(X, Y + 2)),
     ["labels", "2 to 3", "2 outputs"]),
    (lambda: sweep.task(linear()[0], apply=linear()[1], data=(X, Y), eval_train="false"),
     ["eval_train", "'false'", "True or False"]),
    (lambda: sweep.task(linear()[0], apply=lambda p, x: x @ p["w"][:3], data=(X, Y)),
     ["apply(params, x) failed", "(2, 4)"]),
    (lambda: sweep.task(lambda key: {"params": {"w": jnp.zeros((4, 2))},
                                     "batch_stats": {"mean": jnp.zeros(2)}},
                        apply=lambda p, x: x, data=(X, Y)),
     ["batch_stats", "variables['params']", "LayerNorm"]),
    (lambda: sweep.task(linear()[0], apply=linear()[1], data=(X, Y), loss="apply_reduction"),
     ["loss 'apply_reduction'"]),
    (lambda: sweep.task(linear()[0], apply=linear()[1], data=(X, Y), optimizer="adma"),
     ["'adma'", "adam"]),
], ids=["integer leaf", "non-array leaf", "non-scalar loss", "x and y lengths",
        "split lengths", "labels outside outputs", "eval_train not a boolean", "apply fails",
        "batch norm", "not a loss",
        "unknown optimizer"])
def test_a_bad_piece_is_one_line_naming_it(make, expected):
    with pytest.raises(sweep.TaskError) as error:
        make()
    message = one_line(error)
    for part in expected:
        assert part in message, (part, message)


def test_a_missing_schedule_argument_or_bad_value_is_refused_before_anything_is_written(tmp_path):
    init, apply = linear()
    task = sweep.task(init, apply=apply, data=(X, Y), optimizer="adam",
                      schedule="cosine_decay_schedule")
    grid = sweep.Grid(learning_rate=[0.1], batch_size=[8])
    with pytest.raises(sweep.TaskError, match="decay_steps"):
        sweep.run(task, grid, budget=sweep.Budget(steps=4), out=tmp_path / "a", quiet=True)
    bad = sweep.task(init, apply=apply, data=(X, Y), optimizer="adam")
    with pytest.raises(sweep.TaskError, match=r"config 1 \(learning_rate=0.1, b1=1.5\).*b1"):
        sweep.run(bad, sweep.Grid(learning_rate=[0.1], b1=[0.9, 1.5], batch_size=[8]),
                  budget=sweep.Budget(steps=4), out=tmp_path / "b", quiet=True)
    with pytest.raises(sweep.TaskError, match="'momentum' is not a hyperparameter of adam"):
        sweep.run(bad, sweep.Grid(learning_rate=[0.1], momentum=[0.9], batch_size=[8]),
                  budget=sweep.Budget(steps=4), out=tmp_path / "c", quiet=True)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_the_grid_learning_rate_is_the_peak_of_a_warmup_schedule():
    opt = sweep.make_optimizer("sgd", {"learning_rate": 0.5, "warmup_steps": 10,
                                       "decay_steps": 100}, "warmup_cosine_decay_schedule")
    params = jnp.zeros(())
    state = opt.init(params)
    steps = []
    for _ in range(12):
        updates, state = opt.update(jnp.ones(()), state, params)
        steps.append(-float(updates))
    expected = jopt.schedules.warmup_cosine_decay_schedule(0.0, 0.5, 10, 100)
    np.testing.assert_allclose(steps, [float(expected(t)) for t in range(12)], rtol=1e-6)
    assert max(steps) == pytest.approx(0.5, rel=1e-3)


def test_a_changed_model_in_a_used_folder_is_refused_and_the_folder_kept(tmp_path):
    out = tmp_path / "out"
    grid = sweep.Grid(learning_rate=[0.1, 0.3], batch_size=[8])
    budget = sweep.Budget(steps=6, eval_every=3)
    init, apply = linear()
    first = sweep.run(sweep.task(init, apply=apply, data=(X, Y)), grid, budget=budget, out=out,
                      quiet=True)
    manifest = (out / "manifest.json").read_text()
    again = sweep.run(sweep.task(init, apply=apply, data=(X, Y)), grid, budget=budget, out=out,
                      quiet=True)  # the same programs: a resume, the same results
    np.testing.assert_array_equal(again.to_pandas().final_val_loss, first.to_pandas().final_val_loss)
    for changed in (sweep.task(*linear(bias=False)[:1], apply=linear(bias=False)[1], data=(X, Y)),
                    sweep.task(init, apply=lambda p, x: jnp.tanh(apply(p, x)), data=(X, Y)),
                    sweep.task(init, apply=apply, data=(X, 1 - Y))):
        with pytest.raises(sweep.SpecMismatchError, match="--overwrite"):
            sweep.run(changed, grid, budget=budget, out=out, quiet=True)
        assert json.loads((out / "manifest.json").read_text())["spec_hash"] == \
            json.loads(manifest)["spec_hash"]
    assert json.loads((out / "manifest.json").read_text())["status"] == "finished"


def test_a_user_task_equals_the_builtin_task_under_both_batch_strategies():
    splits = data.load("iris", seed=0)
    model = models.mlp([4, 8, 3])
    user = sweep.task(model.init, apply=model.apply, loss="softmax_cross_entropy", data=splits)
    builtin = sweep.builtin_task(model="mlp", hidden=[8], dataset="iris", optimizer="adam")
    grid = sweep.Grid(learning_rate=[0.01, 0.1], batch_size=[8, 16], seed=[0, 1])
    budget = sweep.Budget(steps=20, eval_every=10, patience=1)
    for strategy in ("bucket", "mask"):
        got = sweep.run(user, grid, budget=budget, batch_strategy=strategy, quiet=True).to_pandas()
        want = sweep.run(builtin, grid, budget=budget, batch_strategy=strategy,
                         quiet=True).to_pandas()
        np.testing.assert_allclose(got.final_val_loss, want.final_val_loss, rtol=1e-5)
        assert got.status.tolist() == want.status.tolist()


def test_early_stopping_reports_where_it_stopped_and_the_best_parameters_metrics():
    init, apply = linear()
    task = sweep.task(init, apply=apply, data=(X, Y), test_fraction=0.2)
    grid = sweep.Grid(learning_rate=[3.0], batch_size=[8], seed=[0])
    result = sweep.run(task, grid, budget=sweep.Budget(steps=200, eval_every=5, patience=2),
                       quiet=True)
    row = result.to_pandas().iloc[0]
    curve = result.curves("val_loss")[0]
    assert row.status == "stopped_early" and 0 < row.steps == row.stop_step < 200
    assert row.best_val_loss == pytest.approx(curve.min())
    assert row.best_step == curve.idxmin()
    assert row.stop_step == curve.index[-1]   # no evaluation after it stopped is new
    assert {"best_test_loss", "final_test_loss"} <= set(result.to_pandas())


def test_without_the_training_set_pass_the_rows_lose_train_loss_and_nothing_else():
    """``eval_train=False``: no ``train_loss`` anywhere (a halving cannot rank by it), the
    same training (batch losses) and validation curves, a divergence still caught; the
    task's fingerprint differs, so a folder of the other kind is not resumed."""
    from jopt.sweep.tasks import fingerprint
    init, apply = linear()
    grid = sweep.Grid(learning_rate=[0.01, 0.3, 1e4], batch_size=[8], seed=[0, 1])
    budget = sweep.Budget(steps=30, eval_every=10)
    tasks = {flag: sweep.task(init, apply=apply, data=(X, Y), test_fraction=0.2,
                              eval_train=flag, divergence_factor=3.0) for flag in (True, False)}
    assert fingerprint(tasks[True], ["learning_rate"]) != fingerprint(tasks[False], ["learning_rate"])
    results = {flag: sweep.run(t, grid, budget=budget, quiet=True) for flag, t in tasks.items()}
    full, skipped = results[True], results[False]
    assert full.curves_frame.train_loss.notna().all()
    assert "train_loss" not in skipped.curves_frame and "final_train_loss" not in skipped.to_pandas()
    for metric in ("batch_loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(skipped.curves_frame[metric], full.curves_frame[metric],
                                   rtol=1e-6)
    np.testing.assert_allclose(skipped.to_pandas().best_test_loss, full.to_pandas().best_test_loss,
                               rtol=1e-6)
    assert skipped.to_pandas().status.tolist() == ["finished"] * 4 + ["diverged"] * 2
    with pytest.raises(ValueError, match="halving.metric = 'train_loss': not a metric") as error:
        sweep.run(sweep.task(init, apply=apply, data=(X, Y), eval_train=False), grid,
                  budget=budget, quiet=True,
                  halving=sweep.Halving(min_budget=10, eta=3, metric="train_loss"))
    one_line(error)


@pytest.mark.parametrize("eval_train", [True, False])
def test_the_divergence_limit_is_a_multiple_of_the_first_training_else_validation_loss(eval_train):
    """At the step-0 evaluation the limit becomes ``divergence_factor`` times the mean
    cross-entropy of the initial parameters on the training set, or, without that pass,
    on the validation set (computed here by hand)."""
    from jopt import losses
    from jopt.sweep.tasks import sweep_program
    init, apply = linear()
    t = sweep.task(init, apply=apply, data=(X, Y), eval_train=eval_train, divergence_factor=3.0,
                   batch_size=8)
    program = sweep_program(t, sweep.Budget(steps=10, eval_every=5))
    hparams = {"learning_rate": jnp.float32(0.1)}
    carry = program.init(hparams, jax.random.PRNGKey(0))
    (fit_carry, _), row = program.evaluate(carry, hparams, jnp.full((5,), jnp.nan))
    x, y = t.train if eval_train else dict(t.held_out)["val"]
    first = losses.softmax_cross_entropy_with_integer_labels(apply(fit_carry.params, x), y).mean()
    assert float(fit_carry.loss_limit) == pytest.approx(3.0 * float(first), rel=1e-6)
    assert ("train_loss" in row) == eval_train


def test_a_loss_with_metrics_and_a_dropout_key():
    seen = []

    def loss(params, batch, key):
        x, y = batch
        if key is not None:
            x = x * jax.random.bernoulli(key, 0.9, x.shape) / 0.9
        seen.append(key is None)
        logits = x @ params["w"]
        value = jnp.mean(jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(logits, y[:, None], 1)[:, 0])
        return value, {"margin": jnp.mean(jnp.abs(logits[:, 1] - logits[:, 0]))}
    task = sweep.task(lambda key: {"w": jax.random.normal(key, (4, 2)) * 0.1}, loss=loss,
                      data=(X, Y))
    result = sweep.run(task, sweep.Grid(learning_rate=[0.1], batch_size=[8]),
                       budget=sweep.Budget(steps=10, eval_every=5), quiet=True)
    assert {"val_margin", "val_loss"} <= set(result.curves().columns)
    assert np.isfinite(result.to_pandas().final_val_margin).all()
    assert True in seen and False in seen  # evaluated without a key, trained with one
