"""Successive halving inside the sweep's program (issue 19, item 2): the rungs keep the
best 1/eta by the plain sweep's curves, survivors equal a plain sweep, compaction
compiles once per rung size and costs fewer configuration-steps, resume (also from a
rung), bad input; HyperBand's brackets: the paper's allocation, each bracket's rungs
against the plain sweep's curves."""

import math
import os
from pathlib import Path

import numpy as np
import pytest

import jopt.sweep as sweep
from jopt.sweep import halving as halving_module
from jopt.sweep.config import ConfigError, parse_config

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATES = [float(v) for v in sweep.logspace(1e-3, 30.0, 12)]
BUDGET = sweep.Budget(steps=60, eval_every=10)
HALVING = sweep.Halving(min_budget=7, eta=3, compact="always")  # rungs at 10, 30, then 60
AUTO = HALVING._replace(compact="auto")  # compacts only where the compile pays
RUNGS = [10, 30, 60]


def grid(rates=RATES):
    return sweep.Grid(learning_rate=rates, batch_size=[16], seed=[0])


@pytest.fixture(scope="module")
def task():
    return sweep.builtin_task(model="linear", dataset="iris", optimizer="sgd")


@pytest.fixture(scope="module")
def runs(task):
    """The halved sweep (first, with no compiled program cached) and the plain one."""
    sweep.clear_cache()
    halved = sweep.run(task, grid(), budget=BUDGET, halving=HALVING, quiet=True)
    plain = sweep.run(task, grid(), budget=BUDGET, quiet=True)
    return halved, plain


def expected_rungs(curves, eta, rungs=RUNGS):
    """Successive halving replayed on a plain sweep's val_loss curves: per rung, the
    configurations pruned there, and the survivors at the end."""
    still_in = list(curves.columns)
    pruned = []
    for step in rungs[:-1]:
        values = curves.loc[step, still_in].to_numpy()
        ranked = sorted(range(len(still_in)),
                        key=lambda i: (not np.isfinite(values[i]), values[i], still_in[i]))
        keep = max(1, math.floor(len(still_in) / eta))
        kept = sorted(still_in[i] for i in ranked[:keep])
        pruned.append(sorted(set(still_in) - set(kept)))
        still_in = kept
    return pruned, still_in


def test_each_rung_keeps_the_best_third_by_the_plain_curves(runs):
    halved, plain = runs
    summary = halved.to_pandas()
    pruned, survivors = expected_rungs(plain.curves("val_loss"), HALVING.eta)
    assert [len(p) for p in pruned] == [8, 3] and len(survivors) == 1
    for rung, configs in enumerate(pruned):
        chosen = summary[summary.rung == rung]
        assert sorted(chosen.config) == configs
        assert set(chosen.status) == {"pruned"}
        assert set(chosen.steps) == {RUNGS[rung]}
    finished = summary[summary.status == "finished"]
    assert list(finished.config) == survivors and set(finished.rung) == {-1}
    assert halved.manifest["halving"]["rungs"] == {"0": RUNGS}


def test_pruned_curves_end_at_their_rung_and_agree_with_the_plain_sweep(runs):
    halved, plain = runs
    summary = halved.to_pandas()
    curves, full = halved.curves("val_loss"), plain.curves("val_loss")
    for config, rung in zip(summary.config, summary.rung):
        curve = curves[config].dropna()
        if rung >= 0:
            assert curve.index.max() == RUNGS[rung]
        np.testing.assert_allclose(curve.to_numpy(), full[config].loc[curve.index].to_numpy(),
                                   rtol=1e-5)


def test_survivors_equal_a_plain_sweep_of_them(runs, task):
    halved, _ = runs
    summary = halved.to_pandas()
    finished = summary[summary.status == "finished"]
    alone = sweep.run(task, grid(list(finished.learning_rate)), budget=BUDGET, quiet=True)
    mine = finished.reset_index(drop=True)
    theirs = alone.to_pandas()
    for column in ("final_val_loss", "final_train_loss", "best_val_loss", "final_val_accuracy"):
        np.testing.assert_allclose(mine[column], theirs[column], rtol=1e-5, err_msg=column)
    np.testing.assert_allclose(halved.curves("val_loss")[mine.config[0]].to_numpy(),
                               alone.curves("val_loss")[0].to_numpy(), rtol=1e-5)


def test_compaction_compiles_once_per_rung_size_and_costs_fewer_steps(runs, task):
    halved, plain = runs
    # on a CPU: three slices of 4 (the first rung's survivors' size), then 1
    assert halved.manifest["slices"]["0"]["size"] == 4
    assert halved.manifest["timings"]["chunk_compiles"] == 2
    assert plain.manifest["timings"]["chunk_compiles"] == 1  # the 12-configuration program
    steps = halved.manifest["timings"]["config_steps"]
    assert steps == 12 * 10 + 4 * 20 + 1 * 30
    assert steps < plain.manifest["timings"]["config_steps"] == 12 * 60
    before = sweep.chunk_compiles()
    again = sweep.run(task, grid([r * 1.1 for r in RATES]), budget=BUDGET, halving=HALVING,
                      quiet=True)
    assert sweep.chunk_compiles() == before  # other values, the same sizes: no compile
    assert (again.to_pandas().status == "pruned").sum() == 11


def test_halving_by_two_pads_the_compacted_slices(runs, task):
    """eta = 2: 12 configurations in two slices of 6, the 6 survivors in one, then 3 in
    a slice of 4, then 1: the padding (copies of the last survivor) changes nothing."""
    _, plain = runs
    halving = sweep.Halving(min_budget=10, eta=2, compact="always")
    rungs = [10, 20, 40, 60]
    halved = sweep.run(task, grid(), budget=BUDGET, halving=halving, quiet=True)
    assert halved.manifest["halving"]["rungs"] == {"0": rungs}
    assert halved.manifest["timings"]["config_steps"] == 12 * 10 + 6 * 10 + 4 * 20 + 1 * 20
    summary = halved.to_pandas()
    pruned, survivors = expected_rungs(plain.curves("val_loss"), 2, rungs)
    assert [len(p) for p in pruned] == [6, 3, 2]
    for rung, configs in enumerate(pruned):
        assert sorted(summary.config[summary.rung == rung]) == configs
    finished = summary[summary.status == "finished"]
    assert list(finished.config) == survivors
    np.testing.assert_allclose(finished.final_val_loss,
                               plain.to_pandas().final_val_loss[survivors], rtol=1e-5)


def test_rungs_survivors_and_sizes():
    assert halving_module.rung_steps(sweep.Halving(min_budget=7, eta=3), 80, 10) == [10, 30, 70, 80]
    assert halving_module.rung_steps(sweep.Halving(min_budget=10, eta=2), 100, 25) == [25, 50, 100]
    assert halving_module.rung_steps(sweep.Halving(min_budget=5, eta=1.5), 20, 5) == [5, 10, 15, 20]
    values = np.array([0.3, np.nan, 0.1, 0.3, 0.05, 0.2])
    diverged = np.array([False, True, False, False, True, False])
    # 0.05 diverged and NaN last; 0.3 tied: the lower index first
    assert list(halving_module.survivors(values, diverged, 2, "min")) == [0, 2, 5]
    assert list(halving_module.survivors(values, diverged, 3, "max")) == [0, 3]
    assert list(halving_module.survivors(values[:2], diverged[:2], 3, "min")) == [0]
    assert halving_module.compact_size(4, 1, 12) == 4
    assert halving_module.compact_size(5, 1, 12) == 8
    assert halving_module.compact_size(9, 1, 12) == 12
    assert halving_module.compact_size(3, 2, 16) == 4
    assert halving_module.compact_size(1, 2, 16) == 2


def test_resume_reads_a_halved_slice_and_recomputes_a_missing_one(runs, task, tmp_path):
    halved, _ = runs
    out = tmp_path / "run"
    first = sweep.run(task, grid(), budget=BUDGET, halving=HALVING, out=str(out), quiet=True)
    checkpoints = list((out / "checkpoints").glob("*.npz"))
    assert len(checkpoints) == 1
    again = sweep.run(task, grid(), budget=BUDGET, halving=HALVING, out=str(out), quiet=True)
    assert again.manifest["timings"].get("config_steps", 0) == 0  # read, not trained
    auto = sweep.run(task, grid(), budget=BUDGET, halving=AUTO, out=str(out), quiet=True)
    assert auto.manifest["timings"].get("config_steps", 0) == 0  # compact is not in the spec
    checkpoints[0].unlink()  # as if killed while the slice was halved: it trains again
    with pytest.warns(RuntimeWarning, match="missing"):
        third = sweep.run(task, grid(), budget=BUDGET, halving=HALVING, out=str(out), quiet=True)
    assert third.manifest["timings"]["config_steps"] == halved.manifest["timings"]["config_steps"]
    for result in (first, again, third, sweep.load(str(out))):
        frame = result.to_pandas()
        assert list(frame.status) == list(halved.to_pandas().status)
        assert list(frame.rung) == list(halved.to_pandas().rung)
        np.testing.assert_allclose(frame.final_val_loss, halved.to_pandas().final_val_loss,
                                   rtol=1e-5)


@pytest.mark.parametrize("changes, expected", [
    ({"eta": 1}, "halving.eta must be a number > 1, got 1"),
    ({"eta": 0.5}, "halving.eta must be a number > 1, got 0.5"),
    ({"min_budget": 0}, "halving.min_budget must be a positive integer"),
    ({"min_budget": 61}, "halving.min_budget = 61 is larger than the budget (60 steps)"),
    ({"mode": "lowest"}, "halving.mode must be 'min' or 'max'"),
    ({"brackets": 0}, "halving.brackets must be a positive integer, got 0"),
    ({"brackets": 1.5}, "halving.brackets must be a positive integer, got 1.5"),
    ({"brackets": True}, "halving.brackets must be a positive integer, got True"),
    ({"brackets": 4}, "halving.brackets = 4 is more than the 3 rungs the budget allows "
                      "(rungs at [10, 30, 60] steps)"),
    ({"compact": "never"}, "halving.compact must be 'auto' or 'always', got 'never'"),
])
def test_bad_halving_is_one_line_naming_the_field(task, changes, expected):
    with pytest.raises(ValueError) as error:
        sweep.run(task, grid(), budget=BUDGET, halving=HALVING._replace(**changes), quiet=True)
    assert expected in str(error.value) and "\n" not in str(error.value)


CONFIG = {"task": {"model": "linear", "dataset": "iris", "optimizer": "sgd"},
          "grid": {"learning_rate": [0.1, 1.0], "batch_size": [16]},
          "budget": {"steps": 80, "eval_every": 10}}


@pytest.mark.parametrize("table, expected", [
    ({"halving": {"min_budget": 10, "eta": 1}}, "[search] halving.eta must be a number > 1, got 1"),
    ({"halving": {"min_budget": 100}},
     "[search] halving.min_budget = 100 is larger than the budget ([budget] steps = 80)"),
    ({"halving": {"min_budget": 10, "etta": 2}}, "unknown key 'etta' in [search] halving; did you mean 'eta'?"),
    ({"halving": {"eta": 3}}, "[search] halving.min_budget is missing"),
    ({"halving": {"min_budget": 10, "mode": "mx"}}, "[search] halving.mode = 'mx': unknown mode"),
    ({"halving": 10}, "[search] halving must be a table"),
    ({"halving": {"min_budget": 10, "brackets": 0}},
     "[search] halving.brackets must be a positive integer, got 0"),
    ({"halving": {"min_budget": 10, "brackets": 2.0}},
     "[search] halving.brackets must be a positive integer, got 2.0"),
    ({"halving": {"min_budget": 10, "brackets": 4}},
     "[search] halving.brackets = 4 is more than the 3 rungs the budget allows (rungs at "
     "[10, 30, 80] steps) ([budget] steps = 80, eval_every = 10)"),
    ({"halving": {"min_budget": 10, "compact": "never"}},
     "[search] halving.compact = 'never': unknown value; known: auto, always"),
])
def test_bad_halving_config_is_one_line(table, expected):
    with pytest.raises(ConfigError) as error:
        parse_config({**CONFIG, "search": table})
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)


def test_halving_config_parses_beside_a_sampler():
    config = parse_config({**CONFIG, "search": {"halving": {"min_budget": 20, "eta": 2,
                                                            "metric": "val_accuracy",
                                                            "mode": "max"}}})
    assert config.options["halving"] == sweep.Halving(min_budget=20, eta=2,
                                                      metric="val_accuracy", mode="max")
    sampled = parse_config({"task": CONFIG["task"], "budget": CONFIG["budget"],
                            "grid": {"learning_rate": {"loguniform": [1e-3, 1.0]},
                                     "batch_size": [16]},
                            "search": {"kind": "sobol", "n": 4, "halving": {"min_budget": 10}}})
    assert sampled.options["halving"].min_budget == 10 and len(sampled.grid.configs()) == 4


@pytest.mark.parametrize("table, expected", [
    ("{ min_budget = 10, eta = 1 }", "[search] halving.eta must be a number > 1, got 1"),
    ("{ min_budget = 10, brackets = 3 }",  # eval_every 50: rungs at 50 and 80 steps
     "[search] halving.brackets = 3 is more than the 2 rungs the budget allows "
     "(rungs at [50, 80] steps) ([budget] steps = 80, eval_every = 50)"),
    ('{ min_budget = 10, compact = "never" }',
     "[search] halving.compact = 'never': unknown value; known: auto, always"),
])
def test_cli_bad_halving_exits_2_and_writes_nothing(tmp_path, table, expected, jopt_cli):
    path = tmp_path / "bad.toml"
    path.write_text('[task]\nmodel = "linear"\ndataset = "iris"\noptimizer = "sgd"\n'
                    '[grid]\nlearning_rate = [0.1]\nbatch_size = [16]\n'
                    f'[budget]\nsteps = 80\n[search]\nhalving = {table}\n')
    done = jopt_cli("sweep", str(path), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jopt: error: "), done.stderr
    assert lines[0].endswith(expected)
    assert sorted(os.listdir(tmp_path)) == ["bad.toml"]


def test_plot_sweep_draws_the_rungs(runs, task, tmp_path):
    pytest.importorskip("matplotlib")
    from jopt.plot import PlotSkipped, plot_rungs, plot_sweep
    sweep.run(task, grid(), budget=BUDGET, halving=HALVING, out=str(tmp_path), quiet=True)
    written = plot_sweep(tmp_path, quiet=True)
    assert tmp_path / "rungs.png" in written
    assert (tmp_path / "rungs.png").stat().st_size > 1000
    with pytest.raises(PlotSkipped, match="no successive halving"):
        plot_rungs(runs[1], tmp_path / "none.png")


def test_the_rung_plot_counts_a_configuration_at_the_rungs_it_trained_to():
    """A pruned configuration reached its rung; a survivor, the last; one that diverged
    (or stopped early), the last rung within the steps it trained, or none (-1: grey, and
    counted at no rung): the dashed lines' labels are how many reached each."""
    from jopt.plot import reached_rungs
    rungs = [20, 40, 80, 120]
    rung = np.array([0, 1, -1, -1, -1, -1])
    steps = np.array([20, 40, 120, 1, 50, 80])
    assert list(reached_rungs(rung, steps, rungs)) == [0, 1, 3, -1, 1, 2]


def test_slice_steps_count_each_slice_between_rungs():
    """What a halved bucket's progress bar counts: between rungs, the slices the
    configurations still in fill, times the steps."""
    assert halving_module.slice_steps(256, 64, 4, [100, 400, 500]) == 4 * 100 + 300 + 100
    assert halving_module.slice_steps(12, 4, 3, RUNGS) == 3 * 10 + 20 + 30
    assert halving_module.slice_steps(3, 1, 3, RUNGS, first_rung=1) == 3 * 30 + 30
    assert halving_module.slice_steps(12, 12, 3, RUNGS) == 60  # one slice: the budget


def test_planned_sizes_are_the_compacted_sizes():
    assert halving_module.planned_sizes(12, 3, 2, 1, 12) == [4, 1]
    assert halving_module.planned_sizes(12, 2, 3, 1, 12) == [8, 4, 1]
    assert halving_module.planned_sizes(81, 3, 3, 1, 81) == [32, 16, 4]
    assert halving_module.planned_sizes(3, 3, 4, 2, 4) == [2]


def test_halved_slices_are_the_first_survivors_halved_to_fit_the_cache():
    """256 at eta 4: the 64 first survivors fill one slice; 1024: 256 survivors halved
    twice to fit a cache-sized 104, so they fill four slices of 64; 12 at eta 3 on one
    device: the 4 survivors' size, 3 slices."""
    assert halving_module.halving_slice_size(256, 4, 2, 104) == 64
    assert halving_module.halving_slice_size(1024, 4, 2, 104) == 64
    assert halving_module.halving_slice_size(1024, 4, 2, 10 ** 6) == 256
    assert halving_module.halving_slice_size(12, 3, 1, 12) == 4


def test_a_halved_bucket_whose_survivors_outgrow_the_cache_runs_in_smaller_slices(task,
                                                                                 monkeypatch):
    """128 configurations at eta 2 (64 first survivors) with a cache too small for any:
    slices of 16 per device instead of the survivors' 64, the same rungs, survivors and
    results as with a cache that holds them."""
    import jax
    space = sweep.QuasiRandom(n=128, seed=0, learning_rate=sweep.loguniform(0.01, 1.0),
                              batch_size=[32])
    halving = sweep.Halving(min_budget=10, eta=2)
    results = {}
    for cache in (2 ** 40, 1):
        monkeypatch.setattr(sweep.runner, "cpu_cache_bytes", lambda cache=cache: cache)
        results[cache] = sweep.run(task, space, budget=sweep.Budget(steps=20, eval_every=10),
                                   halving=halving, quiet=True)
    devices = len(jax.devices())
    assert results[2 ** 40].slices["0"]["size"] == 64
    assert results[1].slices["0"]["size"] == 16 * devices
    a, b = results[2 ** 40].to_pandas(), results[1].to_pandas()
    for column in ("status", "rung", "config"):
        assert list(a[column]) == list(b[column]), column
    np.testing.assert_allclose(b.final_val_loss, a.final_val_loss, rtol=1e-5)


def test_unknown_metric_is_refused_before_anything_is_written(task, tmp_path):
    with pytest.raises(sweep.TaskError, match="halving.metric = 'val_f1'.*val_loss"):
        sweep.run(task, grid(), budget=BUDGET, halving=HALVING._replace(metric="val_f1"),
                  out=str(tmp_path / "out"), quiet=True)
    assert not (tmp_path / "out").exists()


def whole_bucket(configs, eta, n_devices, most):
    """``halving_slice_size`` where a bucket runs whole (as it does off a CPU)."""
    return configs + n_devices


def test_a_bucket_halved_whole_prunes_as_in_slices(runs, task, monkeypatch):
    """The bucket in one program (off a CPU; here by patching the CPU's slice size):
    the same rungs and survivors as in slices, one compile per rung size (12, 4, 1)."""
    halved, _ = runs
    monkeypatch.setattr(sweep.runner, "halving_slice_size", whole_bucket)
    sweep.clear_cache()
    whole = sweep.run(task, grid(), budget=BUDGET, halving=HALVING, quiet=True)
    assert whole.manifest["slices"]["0"]["size"] == 12
    assert whole.manifest["timings"]["chunk_compiles"] == 3
    assert whole.manifest["timings"]["config_steps"] == halved.manifest["timings"]["config_steps"]
    mine, theirs = whole.to_pandas(), halved.to_pandas()
    for column in ("status", "rung", "steps", "config"):
        assert list(mine[column]) == list(theirs[column]), column
    np.testing.assert_allclose(mine.final_val_loss, theirs.final_val_loss, rtol=1e-5)


@pytest.mark.parametrize("parked", [False, True])
def test_memory_slices_are_ranked_together(runs, task, monkeypatch, parked):
    """Six slices of 2 (``max_configs``): every rung ranks all twelve configurations, so
    the rungs and survivors are those of the bucket halved at once; with ``parked``
    (what a GPU does with memory slices: the slices not training wait on the host) the
    tables are bit for bit those without."""
    halved, _ = runs
    options = dict(budget=BUDGET, halving=HALVING, max_configs=2, quiet=True)
    if parked:
        monkeypatch.setattr(halving_module, "parks", lambda programs, members: members > 1)
    sliced = sweep.run(task, grid(), **options)
    assert sliced.manifest["slices"]["0"] == {**sliced.manifest["slices"]["0"], "size": 2,
                                              "count": 6}
    mine, theirs = sliced.to_pandas(), halved.to_pandas()
    for column in ("status", "rung", "steps", "config"):
        assert list(mine[column]) == list(theirs[column]), column
    np.testing.assert_allclose(mine.final_val_loss, theirs.final_val_loss, rtol=1e-5)
    if parked:
        monkeypatch.undo()
        pd = pytest.importorskip("pandas")
        pd.testing.assert_frame_equal(mine, sweep.run(task, grid(), **options).to_pandas(),
                                      check_exact=True)


def test_halving_interrupted_mid_rung_resumes_to_the_uninterrupted_results(task, tmp_path,
                                                                          monkeypatch):
    """Slices of 2, halved together; the run stops in the first rung, after the first
    slice's pruned results are read and before the rung's checkpoint.  The rerun trains
    from the start: the results equal an uninterrupted run's."""
    pd = pytest.importorskip("pandas")
    options = dict(budget=BUDGET, halving=HALVING, max_configs=2, quiet=True)
    whole = sweep.run(task, grid(), **options)
    finish = halving_module.finish_slice
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return finish(*args)

    monkeypatch.setattr(halving_module, "finish_slice", interrupted)
    out = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        sweep.run(task, grid(), out=out, **options)
    monkeypatch.setattr(halving_module, "finish_slice", finish)
    assert len(sweep.load(out).to_pandas()) == 0  # nothing finished yet
    resumed = sweep.run(task, grid(), out=out, **options)
    assert resumed.manifest["timings"]["config_steps"] == whole.manifest["timings"]["config_steps"]
    for frame, expected in ((resumed.to_pandas(), whole.to_pandas()),
                            (resumed.curves_frame, whole.curves_frame)):
        pd.testing.assert_frame_equal(frame.reset_index(drop=True),
                                      expected.reset_index(drop=True), check_dtype=False)


# ---------------------------------------------------------------------------
# HyperBand's brackets
# ---------------------------------------------------------------------------

BRACKETS = HALVING._replace(brackets=3)  # 7, 3 and 2 of the 12 configurations
BRACKET_SIZES = [7, 3, 2]                # 12 * (9/3, 3/2, 1/1) / 5.5 = 6.55, 3.27, 2.18


def paper_sizes(eta, rungs):
    """Li et al. (2018), Algorithm 1: bracket s = s_max .. 0 gets
    ceil((s_max + 1) / (s + 1) * eta**s) configurations (s_max + 1 = rungs); in jopt's
    numbering bracket 0 is the paper's s_max."""
    return [math.ceil(rungs / (s + 1) * eta ** s) for s in range(rungs - 1, -1, -1)]


def test_bracket_sizes_follow_the_papers_allocation():
    # where the paper's numbers need no rounding, the same proportions exactly:
    # eta 3, 5 rungs: 81, 33.75, 15, 7.5, 5 (times 4)
    exact = [5 / (s + 1) * 3 ** s * 4 for s in range(4, -1, -1)]
    assert halving_module.bracket_sizes(int(sum(exact)), 5, 5, 3) == exact
    # as many configurations as the paper's rounded-up brackets: the paper's numbers
    assert paper_sizes(3, 5) == [81, 34, 15, 8, 5] and paper_sizes(2, 4) == [8, 6, 4, 4]
    assert halving_module.bracket_sizes(143, 5, 5, 3) == paper_sizes(3, 5)
    assert halving_module.bracket_sizes(22, 4, 4, 2) == paper_sizes(2, 4)
    # fewer brackets than rungs: the most aggressive ones, in the same proportions (9/3 : 3/2)
    assert halving_module.bracket_sizes(9, 2, 3, 3) == [6, 3]
    assert halving_module.bracket_sizes(12, 3, 3, 3) == BRACKET_SIZES
    for configs in range(1, 40):  # always the whole bucket, each within 1 of its share
        sizes = halving_module.bracket_sizes(configs, 4, 4, 2)
        share = configs * np.array([8 / 4, 4 / 3, 2 / 2, 1 / 1]) / (2 + 4 / 3 + 2)
        assert sum(sizes) == configs and np.all(np.abs(np.array(sizes) - share) < 1)


def dealt(sizes):
    """The documented dealing, by sorting (place, bracket) pairs."""
    return [bracket for _, bracket in sorted(((j + 0.5) / n, bracket)
                                             for bracket, n in enumerate(sizes)
                                             for j in range(n))]


def test_brackets_are_dealt_over_the_whole_grid():
    assert list(halving_module.assign_brackets(BRACKET_SIZES)) == [0, 1, 0, 2, 0, 0, 1, 0, 2, 0, 1, 0]
    for sizes in ([324, 135, 60, 30, 20], [1, 1, 0], [5, 5], [2, 7, 1, 4]):
        assert list(halving_module.assign_brackets(sizes)) == dealt(sizes)


@pytest.fixture(scope="module")
def bracketed(task):
    """The sweep with three brackets, with no compiled program cached."""
    sweep.clear_cache()
    return sweep.run(task, grid(), budget=BUDGET, halving=BRACKETS, quiet=True)


def test_each_bracket_keeps_the_best_third_at_each_of_its_rungs(runs, bracketed):
    _, plain = runs
    summary = bracketed.to_pandas()
    assert list(summary.bracket) == dealt(BRACKET_SIZES)
    curves = plain.curves("val_loss")
    for bracket in range(3):
        mine = summary[summary.bracket == bracket]
        pruned, kept = expected_rungs(curves[list(mine.config)], HALVING.eta, RUNGS[bracket:])
        assert [len(p) for p in pruned] == [[5, 1], [2], []][bracket]
        for offset, configs in enumerate(pruned):  # rung: the bucket's index of the rung
            chosen = mine[mine.rung == bracket + offset]
            assert sorted(chosen.config) == configs and set(chosen.status) == {"pruned"}
            assert set(chosen.steps) == {RUNGS[bracket + offset]}
        assert sorted(mine.config[mine.rung == -1]) == kept
    halving = bracketed.manifest["halving"]
    assert halving["rungs"] == {"0": RUNGS}
    assert halving["bracket_rungs"] == {"0": [RUNGS, RUNGS[1:], RUNGS[2:]]}
    assert halving["bracket_configs"] == {"0": BRACKET_SIZES}


def test_bracket_survivors_equal_the_plain_sweep(runs, bracketed):
    _, plain = runs
    summary, full = bracketed.to_pandas(), plain.to_pandas()
    kept = summary[summary.rung == -1]
    assert len(kept) == 1 + 1 + 2
    reference = full.set_index("config").loc[kept.config]
    assert list(kept.status) == list(reference.status)
    for column in ("final_val_loss", "final_train_loss", "best_val_loss", "final_val_accuracy"):
        np.testing.assert_allclose(kept[column], reference[column], rtol=1e-5, err_msg=column)
    curves, plain_curves = bracketed.curves("val_loss"), plain.curves("val_loss")
    for config in kept.config:
        np.testing.assert_allclose(curves[config].to_numpy(), plain_curves[config].to_numpy(),
                                   rtol=1e-5)


def test_brackets_compile_once_per_slice_size(bracketed):
    # on a CPU, bracket 0: 7 in four slices of 2 (one padding slot), then 2, then 1;
    # bracket 1: 3 in slices of 1, then 1; bracket 2 (no rung prunes it): one slice of 2
    assert bracketed.manifest["timings"]["chunk_compiles"] == 2  # sizes 2 and 1
    assert bracketed.manifest["timings"]["config_steps"] == (8 * 10 + 2 * 20 + 1 * 30) + \
        (3 * 30 + 1 * 30) + 2 * 60


def test_too_many_brackets_for_a_bucket_is_one_line(task, tmp_path):
    """A budget in epochs: the rungs are known per bucket, in the runner, before anything
    is written (a TaskError: the command line's exit status 2)."""
    budget = sweep.Budget(epochs=1, eval_every=2)  # iris, batch 16: 6 steps, rungs at 2, 6
    with pytest.raises(sweep.TaskError) as error:
        sweep.run(task, grid(), budget=budget, halving=sweep.Halving(min_budget=2, brackets=3),
                  out=str(tmp_path / "out"), quiet=True)
    assert str(error.value) == ("halving.brackets = 3 is more than the 2 rungs the budget "
                                "allows (rungs at [2, 6] steps)")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def auto(task):
    """The halved sweep with ``compact="auto"``, with no compiled program cached: on this
    tiny task a compile costs far more than the steps a compaction saves."""
    sweep.clear_cache()
    return sweep.run(task, grid(), budget=BUDGET, halving=AUTO, quiet=True)


@pytest.mark.parametrize("halving, killed_after, steps_left", [
    (HALVING, 1, 4 * 20 + 1 * 30),   # after rung 0 (10 steps): 4 configurations go on
    pytest.param(HALVING, 2, 1 * 30, marks=pytest.mark.slow),  # after rung 1: 1 goes on
    pytest.param(BRACKETS, 1, (2 * 20 + 1 * 30) + (3 * 30 + 1 * 30) + 2 * 60,
                 marks=pytest.mark.slow),  # in bracket 0
    pytest.param(AUTO, 1, 4 * 50, marks=pytest.mark.slow),  # 4 go on in one slice of 4
    (AUTO, 2, 4 * 30),  # not compacted: the slice of 4 goes on
])
def test_a_sweep_killed_after_a_rung_resumes_from_it(runs, bracketed, auto, task, tmp_path,
                                                     monkeypatch, halving, killed_after,
                                                     steps_left):
    """The run is killed right after its ``killed_after``-th rung checkpoint; the rerun
    goes on from that rung (the configuration-steps left) and its tables equal an
    uninterrupted run's, bit for bit."""
    pd = pytest.importorskip("pandas")
    from jopt.sweep.store import Store
    whole = {HALVING: runs[0], BRACKETS: bracketed, AUTO: auto}[halving]
    if halving == AUTO:  # "auto" compacts into sizes compiled already: none here
        sweep.clear_cache()
    save = Store.save_checkpoint
    rung_checkpoints = []

    def killed(self, name, arrays):
        path = save(self, name, arrays)
        if any(k.startswith(halving_module.RUNG_CHECKPOINT) for k in arrays):
            rung_checkpoints.append(name)
            if len(rung_checkpoints) == killed_after:
                raise KeyboardInterrupt
        return path

    out = str(tmp_path / "run")
    monkeypatch.setattr(Store, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        sweep.run(task, grid(), budget=BUDGET, halving=halving, out=out, quiet=True)
    monkeypatch.setattr(Store, "save_checkpoint", save)
    resumed = sweep.run(task, grid(), budget=BUDGET, halving=halving, out=out, quiet=True)
    assert resumed.manifest["timings"]["config_steps"] == steps_left
    for result in (resumed, sweep.load(out)):
        pd.testing.assert_frame_equal(result.to_pandas(), whole.to_pandas(), check_exact=True,
                                      check_dtype=result is resumed)
        pd.testing.assert_frame_equal(result.curves_frame, whole.curves_frame, check_exact=True,
                                      check_dtype=result is resumed)


def png_width(path):
    """The width in pixels of a PNG file (its IHDR chunk)."""
    return int.from_bytes(Path(path).read_bytes()[16:20], "big")


def test_plot_draws_one_panel_per_bracket(runs, bracketed, tmp_path):
    pytest.importorskip("matplotlib")
    from jopt.plot import plot_rungs
    three = plot_rungs(bracketed, tmp_path / "rungs.png")
    one = plot_rungs(runs[0], tmp_path / "one.png")
    assert png_width(three) > 1.3 * png_width(one)  # three panels side by side


# ---------------------------------------------------------------------------
# compact = "auto": compaction only where it pays
# ---------------------------------------------------------------------------

def test_auto_skips_compaction_on_a_tiny_task_and_prunes_the_same(runs, auto, task):
    """One chunk program (slices of 4): the first rung's 4 survivors fill one slice, which
    the last rung leaves as it is (its 3 pruned slots run on), and the same pruning as
    ``"always"``: statuses, rungs, steps, and curves that end at the rung and agree with
    the plain sweep's; the survivor's results equal the plain sweep's."""
    halved, plain = runs
    assert auto.manifest["timings"]["chunk_compiles"] == 1
    assert auto.manifest["timings"]["config_steps"] == 12 * 10 + 4 * 50
    mine, always, full = auto.to_pandas(), halved.to_pandas(), plain.to_pandas()
    for column in ("config", "status", "rung", "steps"):
        assert list(mine[column]) == list(always[column]), column
    curves, full_curves = auto.curves("val_loss"), plain.curves("val_loss")
    for config, rung in zip(mine.config, mine.rung):
        curve = curves[config].dropna()
        assert curve.index.max() == (RUNGS[rung] if rung >= 0 else RUNGS[-1])
        np.testing.assert_allclose(curve.to_numpy(),
                                   full_curves[config].loc[curve.index].to_numpy(), rtol=1e-5)
    finished = mine[mine.status == "finished"]
    assert len(finished) == 1
    reference = full.set_index("config").loc[finished.config]
    for column in ("final_val_loss", "final_train_loss", "best_val_loss", "final_val_accuracy"):
        np.testing.assert_allclose(finished[column], reference[column], rtol=1e-5, err_msg=column)


@pytest.mark.parametrize("remaining, current, new, per_step, compile_seconds, worth", [
    (100, 64, 16, 1e-4, 2.0, False),   # saves 100 * 48 * 1e-4 = 0.48 s < 2 s
    (400, 256, 64, 1e-4, 2.0, True),   # saves 400 * 192 * 1e-4 = 7.68 s > 2 s
    (100, 64, 16, 1e-4, 0.0, True),    # the size is compiled already: any saving pays
    (100, 64, 64, 1e-4, 0.0, False),   # nothing saved
    (0, 64, 16, 1e-4, 0.0, False),     # nothing left to run
    (100, 64, 16, 5e-4, 2.4, False),   # saves exactly 2.4 s: not more than it costs
])
def test_worth_compacting_compares_the_saving_with_the_compile(remaining, current, new, per_step,
                                                               compile_seconds, worth):
    assert halving_module.worth_compacting(remaining, current, new, per_step,
                                           compile_seconds) is worth


def test_auto_compacts_into_sizes_compiled_already(task):
    """Once ``"always"`` has compiled the sizes 4 and 1, a compaction costs no compile, so
    ``"auto"`` compacts at both rungs (any saving pays) with ``"always"``'s results."""
    always = sweep.run(task, grid(), budget=BUDGET, halving=HALVING, quiet=True)
    before = sweep.chunk_compiles()
    auto = sweep.run(task, grid(), budget=BUDGET, halving=AUTO, quiet=True)
    assert sweep.chunk_compiles() == before
    assert auto.manifest["timings"]["config_steps"] == 12 * 10 + 4 * 20 + 1 * 30
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(auto.to_pandas(), always.to_pandas(), check_exact=True)
