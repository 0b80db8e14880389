"""Population-based training inside the sweep's program (issue 19, item 3): the policy's
closed forms, quantile 0 equals the plain sweep, an exploit copies state bit for bit,
the first exploit follows the plain sweep's ranking, the replay reproduces a member,
resume mid-PBT equals an uninterrupted run, bad input is one line."""

import os
import subprocess
import sys

import numpy as np
import pytest

import jopt.sweep as sweep
from jopt.sweep import pbt as pbt_module
from jopt.sweep import population as population_module
from jopt.sweep.config import ConfigError, parse_config

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUDGET = sweep.Budget(steps=60, eval_every=10)
PBT = sweep.PBT(interval=20, seed=3)
SPACE = dict(n=8, seed=0, learning_rate=sweep.loguniform(1e-3, 1.0), batch_size=[16])


def space():
    return sweep.QuasiRandom(**SPACE)


@pytest.fixture(scope="module")
def task():
    return sweep.builtin_task(model="linear", dataset="iris", optimizer="sgd")


@pytest.fixture(scope="module")
def runs(task):
    """The PBT sweep and the plain one of the same configurations."""
    return (sweep.run(task, space(), budget=BUDGET, pbt=PBT, quiet=True),
            sweep.run(task, space(), budget=BUDGET, quiet=True))


def assert_same(frame, expected):
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected.reset_index(drop=True),
                                  check_exact=True)


# -- the policy, in closed form --------------------------------------------------


def test_exploit_pairs_take_the_worst_and_best_quantile():
    values = np.array([0.5, np.nan, 0.1, 0.9, 0.3, 0.2, 0.8, 0.05])
    diverged = np.array([False, False, False, False, False, True, False, False])
    rng = np.random.default_rng(0)
    children, parents = pbt_module.exploit_pairs(values, diverged, 0.25, "min", rng)
    # ceil(0.25 * 8) = 2: the worst are the NaN (1) and the diverged (5); the best 7 and 2
    assert list(children) == [1, 5] and set(parents) <= {7, 2}
    children, parents = pbt_module.exploit_pairs(values, diverged, 0.25, "max", rng)
    assert list(children) == [1, 5] and set(parents) <= {3, 6}
    # at most half; ceil rounds a small quantile up to one member; 0 exploits nobody
    assert len(pbt_module.exploit_pairs(values[:3], diverged[:3], 0.5, "min", rng)[0]) == 1
    assert len(pbt_module.exploit_pairs(values, diverged, 0.01, "min", rng)[0]) == 1
    assert len(pbt_module.exploit_pairs(values, diverged, 0.0, "min", rng)[0]) == 0


def test_parents_are_drawn_uniformly_from_the_best():
    rng = np.random.default_rng(1)
    values = np.arange(100.0)
    drawn = np.concatenate([pbt_module.exploit_pairs(values, np.zeros(100, bool), 0.25, "min", rng)[1]
                            for _ in range(200)])
    assert drawn.max() < 25  # the best quarter
    counts = np.bincount(drawn, minlength=25)
    assert counts.min() > 0.7 * len(drawn) / 25 and counts.max() < 1.3 * len(drawn) / 25


def test_explore_multiplies_clips_shifts_and_resamples():
    policy = sweep.PBT(interval=10, resample_probability=0.0, factors=(2.0,))
    axes = {"lr": sweep.loguniform(1e-3, 1.0), "b": sweep.uniform(0.0, 0.5),
            "k": sweep.randint(1, 5), "w": [0.1, 0.2, 0.4]}
    current = {"lr": np.array([0.01, 0.7]), "b": np.array([0.1, 0.4]),
               "k": np.array([2, 4]), "w": np.array([0.1, 0.4])}
    out = pbt_module.explore(current, axes, policy, np.random.default_rng(0))
    assert np.allclose(out["lr"], [0.02, 1.0]) and np.allclose(out["b"], [0.2, 0.5])
    assert list(out["k"]) == [4, 5] and np.allclose(out["w"], [0.2, 0.4])
    down = pbt_module.explore(current, axes, policy._replace(factors=(0.5,)), np.random.default_rng(0))
    assert np.allclose(down["w"], [0.1, 0.2]) and list(down["k"]) == [1, 2]
    fresh = pbt_module.explore(current, axes, policy._replace(resample_probability=1.0),
                               np.random.default_rng(0))
    assert all(1e-3 <= v < 1.0 for v in fresh["lr"]) and set(fresh["w"]) <= {0.1, 0.2, 0.4}


def test_explore_keeps_a_continuous_axis_below_its_upper_end_as_the_program_holds_it():
    """A draw of uniform(0.8, 1.0) is below 1; so is every perturbation of one, also once
    cast to the float32 the program holds (a b1 of 1 is no Adam), and a resampled one."""
    axes = {"b1": sweep.uniform(0.8, 1.0), "lr": sweep.loguniform(1e-3, 1.0)}
    current = {"b1": np.array([0.95, 0.99, 0.81], np.float32),
               "lr": np.array([0.5, 0.9, 2e-3], np.float32)}
    for policy in (sweep.PBT(interval=10, resample_probability=0.0, factors=(1.2,)),
                   sweep.PBT(interval=10, resample_probability=1.0)):
        out = pbt_module.explore(current, axes, policy, np.random.default_rng(0))
        for name, axis in axes.items():
            assert out[name].dtype == np.float32
            assert np.all(out[name] >= np.float32(axis.low)) and np.all(out[name] < axis.high)
    up = pbt_module.explore(current, axes, sweep.PBT(interval=10, resample_probability=0.0,
                                                     factors=(1.2,)), np.random.default_rng(0))
    top = np.nextafter(np.float32(1.0), np.float32(0.0))  # 1 - 2**-24
    assert list(up["b1"]) == [top, top, np.float32(float(np.float32(0.81)) * 1.2)]
    assert up["lr"][1] == top


def test_a_perturbation_the_optimizer_refuses_keeps_the_parents_values():
    """warmup_steps and decay_steps perturbed apart (each resampled from its axis) can
    make decay_steps <= warmup_steps, which warmup_cosine_decay_schedule refuses: such a
    member keeps its parent's values, so every exploit leaves a valid configuration (and
    with this seed some would not be without the check)."""
    task = sweep.builtin_task(model="linear", dataset="iris", optimizer="sgd",
                              schedule="warmup_cosine_decay_schedule")
    space = sweep.Random(n=16, seed=2, learning_rate=sweep.loguniform(1e-3, 1e-1),
                         warmup_steps=sweep.randint(5, 50), decay_steps=sweep.randint(30, 100),
                         batch_size=[16])
    assert all(c["decay_steps"] > c["warmup_steps"] for c in space.configs())
    policy = sweep.PBT(interval=10, quantile=0.5, resample_probability=1.0, seed=0,
                       hyperparameters=("warmup_steps", "decay_steps"))
    result = sweep.run(task, space, budget=BUDGET, pbt=policy, quiet=True)
    events = result.manifest["pbt"]["events"]
    assert len(events) == 8 * 5  # 8 children in each of the rounds at steps 10 .. 50
    assert all(e["hparams"]["decay_steps"] > e["hparams"]["warmup_steps"] for e in events)
    assert set(result.to_pandas().status) == {"finished"}


def test_schedule_follows_the_lineage():
    events = [{"step": 20, "config": 1, "parent": 0, "hparams": {"lr": 0.5}},
              {"step": 40, "config": 2, "parent": 1, "hparams": {"lr": 0.25}},
              {"step": 60, "config": 1, "parent": 3, "hparams": {"lr": 9.0}}]
    initial = {c: {"lr": float(c)} for c in range(4)}
    rows = pbt_module.schedule_rows(events, initial, 2)
    assert rows == [{"step": 0, "config": 0, "lr": 0.0}, {"step": 20, "config": 1, "lr": 0.5},
                    {"step": 40, "config": 2, "lr": 0.25}]
    assert pbt_module.schedule_rows(events, initial, 3) == [{"step": 0, "config": 3, "lr": 3.0}]


# -- in the runner --------------------------------------------------------------


def test_quantile_zero_equals_the_plain_sweep(task, runs):
    _, plain = runs
    control = sweep.run(task, space(), budget=BUDGET, pbt=PBT._replace(quantile=0.0), quiet=True)
    summary = control.to_pandas()
    assert set(summary.exploits) == {0} and set(summary.parent) == {-1}
    assert control.manifest["pbt"]["events"] == []
    assert_same(summary.drop(columns=["exploits", "parent"]), plain.to_pandas())
    assert_same(control.curves_frame, plain.curves_frame)


def test_first_exploit_replaces_the_worst_quarter_by_the_plain_curves(runs):
    result, plain = runs
    assert result.manifest["pbt"]["steps"] == {"0": [20, 40]}
    at_20 = plain.curves("val_loss").loc[20]
    worst = sorted(at_20.sort_values(kind="stable").index[-2:])  # ceil(0.25 * 8) = 2
    best = set(at_20.sort_values(kind="stable").index[:2])
    first = [e for e in result.manifest["pbt"]["events"] if e["step"] == 20]
    assert sorted(e["config"] for e in first) == worst
    assert {e["parent"] for e in first} <= best
    # until the first exploit, the PBT run is the plain one
    curves = result.curves_frame
    assert_same(curves[curves.step <= 20], plain.curves_frame[plain.curves_frame.step <= 20])


def test_an_exploit_copies_the_whole_state_bit_for_bit(task):
    """No perturbation (factor 1, no resampling): a child continues exactly as its parent."""
    copy_only = PBT._replace(interval=30, factors=(1.0,), resample_probability=0.0)
    result = sweep.run(task, space(), budget=BUDGET, pbt=copy_only, quiet=True)
    events = result.manifest["pbt"]["events"]
    assert len(events) == 2
    wide = result.curves("val_loss")
    summary = result.to_pandas().set_index("config")
    for event in events:
        child, parent = event["config"], event["parent"]
        assert np.float32(event["hparams"]["learning_rate"]) == \
            np.float32(summary.loc[parent, "learning_rate"])
        np.testing.assert_array_equal(wide.loc[40:, child].to_numpy(), wide.loc[40:, parent].to_numpy())
        for column in ("final_val_loss", "final_train_loss", "final_val_accuracy"):
            assert summary.loc[child, column] == summary.loc[parent, column]
        assert summary.loc[child, "parent"] == parent and summary.loc[child, "exploits"] == 1


def test_replay_trains_the_schedule_to_the_member_s_result(task, runs):
    result, _ = runs
    summary = result.to_pandas().set_index("config")
    member = int(summary[summary.exploits > 0].final_val_loss.idxmin())
    pieces = result.schedule(member)
    assert list(pieces.columns) == ["step", "config", "learning_rate"]
    assert pieces.step.iloc[0] == 0 and pieces.config.iloc[-1] == member and len(pieces) >= 2
    replayed = sweep.replay(task, result, member).to_pandas().iloc[0]
    for column in ("final_val_loss", "final_train_loss"):
        assert replayed[column] == pytest.approx(summary.loc[member, column], rel=1e-5)


def test_resume_mid_pbt_equals_an_uninterrupted_run(task, runs, tmp_path, monkeypatch):
    """The run stops in the second exploit round (after checkpoints of the first); the
    rerun continues from the last checkpoint and redraws that round identically."""
    whole, _ = runs
    explore = population_module.explore
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return explore(*args)

    options = dict(budget=BUDGET, pbt=PBT, quiet=True, chunk_seconds=0.0, checkpoint_seconds=0.0)
    monkeypatch.setattr(population_module, "explore", interrupted)
    out = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        sweep.run(task, space(), out=out, **options)
    monkeypatch.setattr(population_module, "explore", explore)
    assert set(sweep.load(out).to_pandas().status) == {"running"}
    resumed = sweep.run(task, space(), out=out, **options)
    assert resumed.manifest["timings"]["config_steps"] == 8 * (60 - 40)  # from round 2 on
    assert_same(resumed.to_pandas(), whole.to_pandas())
    assert_same(resumed.curves_frame, whole.curves_frame)
    assert resumed.manifest["pbt"]["events"] == whole.manifest["pbt"]["events"]
    assert sweep.load(out).manifest["pbt"]["events"] == whole.manifest["pbt"]["events"]


def test_each_slice_is_a_population_and_user_tasks_work(runs):
    """A plain-JAX task in two slices of four: each slice exploits within itself."""
    import jax
    import jax.numpy as jnp
    from jopt import data
    splits = data.load("iris")
    task = sweep.task(lambda key: {"w": 0.1 * jax.random.normal(key, (4, 3)), "b": jnp.zeros(3)},
                      apply=lambda p, x: x @ p["w"] + p["b"], loss="softmax_cross_entropy_with_integer_labels",
                      data=splits, optimizer="sgd")
    result = sweep.run(task, space(), budget=BUDGET, pbt=PBT, max_configs=4, quiet=True)
    assert result.slices["0"]["count"] == 2
    events = result.manifest["pbt"]["events"]
    assert events and all((e["config"] < 4) == (e["parent"] < 4) for e in events)
    assert all(sum(e["step"] == s and e["config"] < 4 for e in events) == 1 for s in (20, 40))


# -- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("changes, expected", [
    (dict(quantile=0.6), "pbt.quantile must be in \\[0, 0.5\\]"),
    (dict(quantile=-0.1), "pbt.quantile"),
    (dict(interval=60), "pbt.interval = 60 is not shorter than the budget"),
    (dict(interval=0), "pbt.interval must be a positive integer"),
    (dict(resample_probability=1.5), "pbt.resample_probability"),
    (dict(factors=()), "pbt.factors"),
    (dict(mode="lowest"), "pbt.mode"),
    (dict(hyperparameters=("batch_size",)), "'batch_size' is a static axis"),
    (dict(hyperparameters=("momentum",)), "'momentum' is not an axis of the grid"),
    (dict(metric="val_f1"), "pbt.metric = 'val_f1': not a metric the task reports"),
])
def test_bad_pbt_is_one_line_naming_the_field(task, tmp_path, changes, expected):
    with pytest.raises(ValueError, match=expected) as raised:
        sweep.run(task, space(), budget=BUDGET, pbt=PBT._replace(**changes),
                  out=str(tmp_path / "out"), quiet=True)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_halving_and_pbt_together_are_refused(task):
    with pytest.raises(ValueError, match="halving and pbt"):
        sweep.run(task, space(), budget=BUDGET, pbt=PBT, halving=sweep.Halving(min_budget=10),
                  quiet=True)


def config_table(pbt, grid=None):
    return {"task": {"model": "linear", "dataset": "iris", "optimizer": "sgd"},
            "grid": grid or {"learning_rate": {"loguniform": [1e-3, 1.0]}, "batch_size": [16]},
            "search": {"kind": "sobol", "n": 8, "pbt": pbt},
            "budget": {"steps": 60, "eval_every": 10}}


@pytest.mark.parametrize("pbt, expected", [
    ({"quantile": 0.25}, "pbt.interval is missing"),
    ({"interval": 20, "quantile": 0.75}, "pbt.quantile must be in"),
    ({"interval": 100}, "pbt.interval = 100 is not shorter than the budget"),
    ({"interval": 20, "factor": [1.2]}, "unknown key 'factor'.*factors"),
    ({"interval": 20, "hyperparameters": ["batch_size"]}, "'batch_size' is a static axis"),
    ({"interval": 20, "hyperparameters": ["momentum"]}, "'momentum' is not a numeric axis"),
    (3, "pbt must be a table"),
])
def test_bad_pbt_config_is_one_line(pbt, expected):
    with pytest.raises(ConfigError, match=expected) as raised:
        parse_config(config_table(pbt))
    assert "\n" not in str(raised.value)


def test_pbt_config_runs_from_the_cli_and_plots(tmp_path):
    """The command ranks its table of the best configurations by PBT's metric and mode
    (here the validation accuracy, highest first).  (A bad [search] pbt table is refused
    at parse time, above; the CLI turns every ConfigError into one line and exit 2:
    tests/test_sweep_config.py.)"""
    config = tmp_path / "pbt.toml"
    config.write_text('[task]\nmodel = "linear"\ndataset = "iris"\noptimizer = "sgd"\n'
                      '[grid]\nlearning_rate = { loguniform = [1e-3, 1.0] }\nbatch_size = [16]\n'
                      '[search]\nkind = "sobol"\nn = 8\npbt = { interval = 20, seed = 3, '
                      'metric = "val_accuracy", mode = "max" }\n'
                      '[budget]\nsteps = 60\neval_every = 10\n')
    env = dict(os.environ, PYTHONPATH=ROOT, XLA_FLAGS="--xla_force_host_platform_device_count=1")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "jopt.cli", "sweep", str(config), "--out", str(out),
                           "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = sweep.load(out)
    assert result.manifest["pbt"]["interval"] == 20 and result.manifest["pbt"]["events"]
    assert (out / "pbt.png").stat().st_size > 10_000  # the sweep command draws the plots
    lines = done.stdout.splitlines()
    assert lines[0].endswith("by final val accuracy (highest first):"), done.stdout
    shown = [int(line.split()[0]) for line in lines[2:7]]
    expected = result.summary[result.summary.status != "diverged"].sort_values(
        "final_val_accuracy", ascending=False, kind="mergesort")["config"].head(5)
    assert shown == list(expected)


def test_the_shipped_search_config_is_a_sobol_population_with_pbt():
    """``jopt sweep search``: 64 Sobol points of AdamW's four hyperparameters, PBT every
    100 steps, no pass over the training set (parsed only; the CLI test above runs a PBT
    config)."""
    from jopt import configs
    from jopt.sweep.config import from_toml
    config = from_toml(configs.path("search"))
    assert config.options["pbt"] == sweep.PBT(interval=100, quantile=0.25)
    assert config.task().build({"batch_size": 32}).eval_train is False
    assert len(config.grid) == 64
    assert set(sweep.search.sampled_names(config.grid)) == {"learning_rate", "b1", "b2",
                                                             "weight_decay"}
