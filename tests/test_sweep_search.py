"""Random and quasi-random samplers beside Grid (jopt.sweep.search): the draws against
numpy's and scipy's own generators, the to_dict round trip that draws nothing, the
config tables, and a sampler through the runner."""

import json
import math
import sys
import warnings

import numpy as np
import pytest

from jopt.sweep import search, sobol
from jopt.sweep.grid import Grid
from jopt.sweep.search import (QuasiRandom, Random, choice, from_dict, from_tables, loguniform,
                               randint, uniform)

OPTIONS = ["sgd", "adam", "lion"]


def axes() -> dict:
    """One axis of each kind, a grid axis between them."""
    return {"learning_rate": loguniform(1e-5, 1e-1), "b1": uniform(0.8, 0.99),
            "batch_size": [32, 128], "optimizer": choice(OPTIONS), "hidden": randint(8, 11)}


def mapped(points: np.ndarray) -> dict:
    """The closed forms of the module's docstring applied to the columns of ``points``."""
    lr, b1, opt, hidden = points.T
    return {"learning_rate": np.exp(np.log(1e-5) + (np.log(1e-1) - np.log(1e-5)) * lr),
            "b1": 0.8 + (0.99 - 0.8) * b1,
            "optimizer": [OPTIONS[int(math.floor(u * 3))] for u in opt],
            "hidden": [8 + int(math.floor(u * 4)) for u in hidden]}


def assert_configs_hold(configs: list[dict], expected: dict, batch_sizes: list) -> None:
    np.testing.assert_allclose([c["learning_rate"] for c in configs], expected["learning_rate"],
                               rtol=1e-13)
    np.testing.assert_allclose([c["b1"] for c in configs], expected["b1"], rtol=1e-15)
    assert [c["optimizer"] for c in configs] == expected["optimizer"]
    assert [c["hidden"] for c in configs] == expected["hidden"]
    assert [c["batch_size"] for c in configs] == batch_sizes


@pytest.mark.parametrize("method", ["sobol", "halton"])
@pytest.mark.parametrize("scramble", [True, False])
def test_quasirandom_draws_equal_scipy_qmc_for_the_same_seed(method, scramble):
    """Two grid combinations (batch sizes) of 8 draws: rows 0-7 and 8-15 of scipy's stream."""
    qmc = pytest.importorskip("scipy.stats.qmc")
    engine = {"sobol": qmc.Sobol, "halton": qmc.Halton}[method](4, scramble=scramble, rng=7)
    expected = mapped(engine.random(16))
    sampler = QuasiRandom(n=8, seed=7, method=method, scramble=scramble, **axes())
    assert len(sampler) == 16
    assert_configs_hold(sampler.configs(), expected, [32] * 8 + [128] * 8)


@pytest.mark.parametrize("dims", [1, 2, 4, 7, 21])
@pytest.mark.parametrize("scramble", [True, False])
def test_sobol_points_are_scipys_bit_for_bit_in_successive_blocks(dims, scramble):
    """jopt draws Sobol points itself (jopt.sweep.sobol): every float equal to scipy's, for
    one call and for successive ``random(n)`` calls (the first point, then the Gray-code
    steps, continue from block to block)."""
    qmc = pytest.importorskip("scipy.stats.qmc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # n not a power of two
        for n in (1, 3, 8, 64, 100):
            for seed in (0, 1, 12345):
                for blocks in (1, 3):
                    engine = qmc.Sobol(dims, scramble=scramble, rng=seed)
                    expected = np.vstack([engine.random(n) for _ in range(blocks)])
                    drawn = search.quasirandom_points(blocks, n, dims, method="sobol",
                                                      scramble=scramble, seed=seed)
                    np.testing.assert_array_equal(drawn, expected,
                                                  err_msg=f"n={n} seed={seed} blocks={blocks}")


def test_sobol_points_do_not_import_scipy_stats_and_halton_still_does(monkeypatch):
    qmc = pytest.importorskip("scipy.stats.qmc")
    halton = search.quasirandom_points(2, 4, 3, method="halton", scramble=True, seed=1)
    np.testing.assert_array_equal(halton, qmc.Halton(3, scramble=True, rng=1).random(8))
    monkeypatch.setitem(sys.modules, "scipy.stats", None)  # importing it raises ImportError
    drawn = search.quasirandom_points(2, 4, 3, method="sobol", scramble=True, seed=1)
    assert drawn.shape == (8, 3) and np.all((0 <= drawn) & (drawn < 1))


def test_sobol_points_go_through_scipy_where_its_direction_table_is_not_found(monkeypatch):
    qmc = pytest.importorskip("scipy.stats.qmc")
    table = sobol.direction_table()
    assert table is not None and table.poly.shape == (21201,) and table.vinit.shape == (21201, 18)
    assert not sobol.is_usable(sobol.DirectionTable(table.poly[:, None], table.vinit))
    monkeypatch.setattr(sobol, "direction_table", lambda: None)
    drawn = search.quasirandom_points(2, 4, 3, method="sobol", scramble=True, seed=1)
    np.testing.assert_array_equal(drawn, qmc.Sobol(3, rng=1).random(8))


def test_a_first_sobol_block_not_a_power_of_two_warns_as_scipy_does():
    pytest.importorskip("scipy")
    with pytest.warns(UserWarning, match="power of 2"):
        search.quasirandom_points(2, 3, 2, method="sobol", scramble=True, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search.quasirandom_points(3, 4, 2, method="sobol", scramble=True, seed=0)


def test_each_combinations_block_of_sobol_points_is_stratified():
    """n = 16 per combination, three combinations: in each block, every interval
    [k/16, (k+1)/16) of each coordinate holds exactly one point (a (0, 4, 1)-net)."""
    pytest.importorskip("scipy")
    sampler = QuasiRandom(n=16, seed=5, a=uniform(0, 1), b=uniform(0, 1), batch_size=[1, 2, 3])
    configs = sampler.configs()
    for block in range(3):
        part = configs[16 * block:16 * (block + 1)]
        assert {c["batch_size"] for c in part} == {block + 1}
        for name in ("a", "b"):
            assert sorted(int(c[name] * 16) for c in part) == list(range(16))


def test_random_draws_equal_numpy_default_rng_for_the_same_seed():
    expected = mapped(np.random.default_rng(3).random((10, 4)))
    sampler = Random(n=5, seed=3, **axes())
    assert_configs_hold(sampler.configs(), expected, [32] * 5 + [128] * 5)


def test_paired_draws_repeat_the_same_n_points_in_every_combination():
    qmc = pytest.importorskip("scipy.stats.qmc")
    expected = mapped(qmc.Sobol(4, rng=1).random(4))
    sampler = QuasiRandom(n=4, seed=1, paired=True, **axes())
    assert_configs_hold(sampler.configs(), {k: list(v) * 2 for k, v in expected.items()},
                        [32] * 4 + [128] * 4)


def test_each_axis_maps_the_ends_of_the_unit_interval_onto_its_range():
    unit = np.array([0.0, 0.5, np.nextafter(1.0, 0.0)])
    np.testing.assert_allclose(uniform(-2, 6).values(unit), [-2, 2, 6], rtol=1e-15)
    np.testing.assert_allclose(loguniform(1e-4, 1).values(unit), [1e-4, 1e-2, 1], rtol=1e-12)
    assert randint(-1, 2).values(unit) == [-1, 1, 2]
    assert randint(5, 5).values(unit) == [5, 5, 5]
    assert randint(1, 9, log=True).values(unit) == [1, 3, 9]   # floor(sqrt(10)) at the middle
    assert randint(7, 7, log=True).values(unit) == [7, 7, 7]
    assert choice(["a", "b"]).values(unit) == ["a", "b", "b"]


@pytest.mark.parametrize("low, high", [(1, 7), (16, 1024), (3, 4)])
def test_a_log_integer_axis_gives_each_integer_its_log_width(low, high):
    """A million evenly spaced coordinates: integer k's share is the log-width of [k, k + 1)
    within [low, high + 1), ``log((k + 1) / k) / log((high + 1) / low)``, to 1e-5 (the
    spacing); every value in [low, high], both ends reached."""
    unit = (np.arange(1_000_000) + 0.5) / 1_000_000
    values = np.array(randint(low, high, log=True).values(unit))
    assert values.min() == low and values.max() == high
    ks = np.arange(low, high + 1)
    shares = np.bincount(values - low, minlength=len(ks)) / len(unit)
    np.testing.assert_allclose(shares, np.log((ks + 1) / ks) / np.log((high + 1) / low), atol=2e-6)


def test_randint_and_choice_draw_each_value_about_equally_often():
    """4000 draws, k values: each count within 5 standard deviations of 4000 / k."""
    sampler = Random(n=4000, seed=0, hidden=randint(1, 4), optimizer=choice(OPTIONS))
    for name, values in (("hidden", [1, 2, 3, 4]), ("optimizer", OPTIONS)):
        drawn = [c[name] for c in sampler.configs()]
        assert sorted(set(drawn)) == sorted(values)
        p = 1 / len(values)
        for value in values:
            assert abs(drawn.count(value) - 4000 * p) < 5 * math.sqrt(4000 * p * (1 - p))


def test_n_is_per_combination_of_the_grid_axes_in_grid_order():
    sampler = Random({"seed": [0, 1, 2]}, n=4, seed=9, learning_rate=uniform(0, 1),
                     batch_size=[8, 16])
    configs = sampler.configs()
    assert len(sampler) == len(configs) == 24
    combos = Grid(seed=[0, 1, 2], batch_size=[8, 16]).configs()
    assert [{k: c[k] for k in ("seed", "batch_size")} for c in configs] == \
        [combo for combo in combos for _ in range(4)]
    assert list(configs[0]) == ["seed", "learning_rate", "batch_size"]  # the order given
    assert len({c["learning_rate"] for c in configs}) == 24  # every combination its own draws


def test_zip_pairs_grid_axes_and_refuses_sampled_ones():
    sampler = Random(n=2, seed=0, learning_rate=uniform(0, 1), batch_size=[8, 16],
                     momentum=[0.0, 0.9]).zip("batch_size", "momentum")
    assert len(sampler) == 4
    assert [(c["batch_size"], c["momentum"]) for c in sampler.configs()] == \
        [(8, 0.0), (8, 0.0), (16, 0.9), (16, 0.9)]
    np.testing.assert_allclose([c["learning_rate"] for c in sampler.configs()],
                               np.random.default_rng(0).random(4), rtol=1e-15)
    with pytest.raises(ValueError, match="sampled"):
        sampler.zip("learning_rate", "batch_size")


def test_numeric_sampled_axes_are_traced_and_a_choice_of_strings_static():
    sampler = Random(n=3, seed=0, **axes())
    assert sampler.split() == (["learning_rate", "b1", "batch_size", "hidden"], ["optimizer"])
    assert sampler.split(static=["batch_size", "hidden"]) == \
        (["learning_rate", "b1"], ["batch_size", "optimizer", "hidden"])
    numbers = Random(n=8, seed=0, momentum=choice([0.0, 0.9]))
    assert numbers.split() == (["momentum"], [])
    assert sorted(numbers.axes["momentum"]) == [0.0, 0.9]  # the distinct drawn values


@pytest.mark.parametrize("make", [
    lambda: Random({"seed": [0, 1]}, n=3, seed=5, **axes()),
    lambda: QuasiRandom(n=4, seed=2, method="halton", scramble=False, paired=True, **axes()),
    lambda: QuasiRandom(n=2, seed=0, learning_rate=loguniform(1e-3, 1), hidden=[[8], [16, 8]],
                        momentum=[0.0, 0.9], width=[1, 2]).zip("momentum", "width"),
])
def test_from_dict_of_to_dict_rebuilds_the_configs_from_the_stored_draws(make, monkeypatch):
    sampler = make()
    description = json.loads(json.dumps(sampler.to_dict()))  # as the manifest keeps it
    assert description["kind"] == sampler.kind and description["seed"] == sampler.seed
    assert set(description["draws"]) == set(sampler.sampled)

    def no_drawing(*args, **kwargs):
        raise AssertionError("from_dict drew new points")
    monkeypatch.setattr(search, "random_points", no_drawing)
    monkeypatch.setattr(search, "quasirandom_points", no_drawing)
    rebuilt = from_dict(description)
    assert type(rebuilt) is type(sampler)
    assert rebuilt.configs() == json.loads(json.dumps(sampler.configs()))
    assert rebuilt.to_dict() == description
    # the stored values are what counts, not what the sampler would draw now
    description["draws"]["learning_rate"][0] = 0.5
    assert from_dict(description).configs()[0]["learning_rate"] == 0.5


def test_reuse_draws_takes_the_stored_draws_of_the_same_definition_only():
    sampler = Random(n=3, seed=0, learning_rate=uniform(0, 1), batch_size=[8])
    stored = json.loads(json.dumps(sampler.to_dict()))
    stored["draws"]["learning_rate"] = [0.25, 0.5, 0.75]  # as an older numpy might have drawn
    resumed = search.reuse_draws(Random(n=3, seed=0, learning_rate=uniform(0, 1), batch_size=[8]),
                                 stored)
    assert [c["learning_rate"] for c in resumed.configs()] == [0.25, 0.5, 0.75]
    other = Random(n=3, seed=1, learning_rate=uniform(0, 1), batch_size=[8])
    assert search.reuse_draws(other, stored) is other
    assert search.reuse_draws(other, None) is other
    grid = Grid(learning_rate=[0.1])
    assert search.reuse_draws(grid, stored) is grid


def test_from_dict_refuses_draws_of_the_wrong_length():
    description = Random(n=3, seed=0, learning_rate=uniform(0, 1)).to_dict()
    description["draws"]["learning_rate"].pop()
    with pytest.raises(ValueError, match="learning_rate.*2 drawn values, expected 3"):
        from_dict(description)


def test_from_dict_reads_a_grid_too():
    grid = Grid(learning_rate=[0.1, 0.2], batch_size=[8, 16]).zip("learning_rate", "batch_size")
    assert from_dict(grid.to_dict()).configs() == grid.configs()


def test_from_tables_builds_the_sampler_of_the_toml_tables():
    tables = {"learning_rate": {"loguniform": [1e-5, 1e-1]}, "b1": {"uniform": [0.8, 0.99]},
              "batch_size": [32, 128], "optimizer": {"choice": OPTIONS},
              "hidden": {"int": [8, 11]}}
    space = from_tables({"kind": "sobol", "n": 8, "seed": 7}, tables)
    direct = QuasiRandom(n=8, seed=7, method="sobol", **axes())
    assert isinstance(space, QuasiRandom) and space.configs() == direct.configs()
    assert search.sampled_names(space) == ["learning_rate", "b1", "optimizer", "hidden"]
    random = from_tables({"kind": "random", "n": 5, "seed": 3, "paired": True}, tables)
    assert random.configs() == Random(n=5, seed=3, paired=True, **axes()).configs()
    grid = from_tables(None, {"learning_rate": [0.1, 0.2], "batch_size": [8, 16],
                              "zip": [["learning_rate", "batch_size"]]})
    assert type(grid) is Grid and len(grid) == 2 and search.sampled_names(grid) == []
    assert type(from_tables({"kind": "grid"}, {"seed": [0, 1]})) is Grid


def test_a_log_integer_axis_in_the_tables_and_its_stored_form():
    """``{ logint = [low, high] }`` is ``randint(low, high, log=True)``; the manifest's form
    of the sampler rebuilds the same configurations, drawing nothing."""
    space = from_tables({"kind": "random", "n": 6, "seed": 2}, {"k": {"logint": [2, 300]}})
    direct = Random(n=6, seed=2, k=randint(2, 300, log=True))
    assert space.configs() == direct.configs()
    assert space.sampled["k"] == randint(2, 300, log=True) != randint(2, 300)
    stored = json.loads(json.dumps(space.to_dict()))
    assert stored["axes"]["k"] == {"logint": [2, 300]}
    assert from_dict(stored).configs() == direct.configs()


LR = {"learning_rate": {"loguniform": [1e-5, 1e-1]}}


@pytest.mark.parametrize("search_table, grid_table, field", [
    ({"kind": "bayes", "n": 4}, LR, "[search] kind = 'bayes'"),
    ({"n": 4}, LR, "[search] kind is missing"),
    ({"kind": "random", "n": 4, "sed": 1}, LR, "[search] sed"),
    ({"kind": "random"}, LR, "[search] n is missing"),
    ({"kind": "random", "n": 0}, LR, "[search] n = 0"),
    ({"kind": "sobol", "n": 4.0}, LR, "[search] n = 4.0"),
    ({"kind": "random", "n": 4, "seed": -1}, LR, "[search] seed = -1"),
    ({"kind": "random", "n": 4, "scramble": True}, LR, "[search] scramble = True"),
    ({"kind": "halton", "n": 4, "scramble": "yes"}, LR, "[search] scramble = 'yes'"),
    ({"kind": "grid", "n": 4}, {"seed": [0]}, "[search] n = 4"),
    ({"kind": "grid"}, LR, "[grid] learning_rate = {'loguniform'"),
    (None, LR, "[grid] learning_rate = {'loguniform'"),
    ({"kind": "random", "n": 4}, {"seed": [0, 1]}, "no sampled axis"),
    ({"kind": "random", "n": 4}, {"learning_rate": {"loguniform": [0, 1e-1]}},
     "[grid] learning_rate.loguniform = [0, 0.1]: loguniform needs positive bounds"),
    ({"kind": "random", "n": 4}, {"learning_rate": {"uniform": [0.1, 0.1]}},
     "[grid] learning_rate.uniform = [0.1, 0.1]: uniform needs low < high"),
    ({"kind": "random", "n": 4}, {"b1": {"uniform": [0.1]}}, "[grid] b1.uniform must be [low, high]"),
    ({"kind": "random", "n": 4}, {"b1": {"uniform": ["a", 1]}}, "[grid] b1.uniform = ['a', 1]"),
    ({"kind": "random", "n": 4}, {"b1": {"uniform": [0, float("inf")]}}, "finite"),
    ({"kind": "random", "n": 4}, {"hidden": {"int": [8, 4]}}, "[grid] hidden.int = [8, 4]"),
    ({"kind": "random", "n": 4}, {"hidden": {"int": [8, 16.5]}}, "[grid] hidden.int = [8, 16.5]"),
    ({"kind": "random", "n": 4}, {"optimizer": {"choice": []}}, "[grid] optimizer.choice = []"),
    ({"kind": "random", "n": 4}, {"k": {"logint": [0, 8]}},
     "[grid] k.logint = [0, 8]: logint needs positive bounds"),
    ({"kind": "random", "n": 4}, {"k": {"logint": [8, 4]}},
     "[grid] k.logint = [8, 4]: logint needs low <= high"),
    ({"kind": "random", "n": 4}, {"k": {"logint": [1, 2.5]}},
     "[grid] k.logint = [1, 2.5]: logint needs integer"),
    ({"kind": "random", "n": 4}, {"lr": {"loguniforn": [1e-5, 1]}}, "did you mean 'loguniform'"),
    ({"kind": "random", "n": 4}, {**LR, "seed": []}, "[grid] seed = []"),
    ({"kind": "random", "n": 4}, {**LR, "a": [1], "zip": [["learning_rate", "a"]]},
     "[grid] zip = [['learning_rate', 'a']]: cannot zip sampled axes"),
])
def test_from_tables_bad_input_raises_one_line_naming_the_field(search_table, grid_table, field):
    with pytest.raises(ValueError) as error:
        from_tables(search_table, grid_table)
    message = str(error.value)
    assert field in message and "\n" not in message


@pytest.mark.parametrize("make, message", [
    (lambda: Random(n=4, seed=0, batch_size=[8]), "at least one sampled axis"),
    (lambda: Random(n=0, learning_rate=uniform(0, 1)), "n must be a positive integer, got 0"),
    (lambda: QuasiRandom(n=4, method="lattice", learning_rate=uniform(0, 1)), "'lattice'"),
    (lambda: loguniform(-1e-3, 1), "loguniform needs positive bounds, got [-0.001, 1]"),
    (lambda: randint(0, 2.5), "int needs integer bounds"),
    (lambda: choice("abc"), "choice needs a non-empty list"),
])
def test_bad_samplers_and_axes_raise_value_error(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert message in str(error.value)


# ----------------------------------------------------------------------------
# through the runner
# ----------------------------------------------------------------------------


def test_a_quasirandom_sampler_with_a_static_choice_runs_each_draw_in_its_bucket():
    """Traced draws vmapped inside each static bucket (a choice of optimizers): the rows
    in the sampler's order, each with its drawn values."""
    pytest.importorskip("pandas")
    import jopt.sweep as sweep
    task = sweep.builtin_task(model="linear", dataset="iris")
    sampler = QuasiRandom(n=4, seed=0, learning_rate=loguniform(1e-3, 1),
                          optimizer=choice(["sgd", "adam"]), batch_size=[16])
    summary = sweep.run(task, sampler, budget=sweep.Budget(steps=4, eval_every=2),
                        quiet=True).to_pandas()
    configs = sampler.configs()
    np.testing.assert_array_equal(summary.config, np.arange(4))
    assert list(summary.optimizer) == [c["optimizer"] for c in configs]
    assert len(set(summary.optimizer)) == 2
    np.testing.assert_array_equal(summary.learning_rate, [c["learning_rate"] for c in configs])
    assert list(summary.status) == ["finished"] * 4


def test_a_random_sampler_runs_as_the_grid_of_its_draws_and_the_manifest_keeps_them(tmp_path):
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    import jopt.sweep as sweep
    task = sweep.builtin_task(model="mlp", hidden=[16], dataset="digits", optimizer="sgd",
                              loss="softmax_cross_entropy_with_integer_labels")
    budget = sweep.Budget(steps=20, eval_every=10)
    sampler = Random({"seed": [0]}, n=3, seed=4, learning_rate=loguniform(1e-2, 3e-1),
                     momentum=uniform(0.0, 0.9), batch_size=[32])
    result = sweep.run(task, sampler, budget=budget, out=tmp_path / "run", quiet=True)
    summary = result.to_pandas()
    configs = sampler.configs()
    np.testing.assert_array_equal(summary.learning_rate, [c["learning_rate"] for c in configs])
    np.testing.assert_array_equal(summary.momentum, [c["momentum"] for c in configs])
    assert list(summary.status) == ["finished"] * 3
    assert result.axes == ["seed", "learning_rate", "momentum", "batch_size"]
    grid = Grid(learning_rate=[c["learning_rate"] for c in configs],
                momentum=[c["momentum"] for c in configs], batch_size=[32], seed=[0])
    plain = sweep.run(task, grid.zip("learning_rate", "momentum"), budget=budget,
                      quiet=True).to_pandas()
    np.testing.assert_allclose(summary.final_val_loss, plain.final_val_loss, rtol=1e-5)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    stored = from_dict(manifest["spec"]["grid"])
    assert stored.configs() == configs and stored.seed == 4


def test_a_resume_runs_the_stored_draws_even_when_the_sampler_now_draws_otherwise(
        tmp_path, monkeypatch):
    """The sampling code changed between the runs (another numpy, say): the rerun into the
    same folder takes the manifest's draws, so it resumes instead of refusing a new spec."""
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    import jopt.sweep as sweep
    task = sweep.builtin_task(model="linear", dataset="iris", optimizer="sgd")
    budget = sweep.Budget(steps=20, eval_every=10)
    make = lambda: Random(n=3, seed=4, learning_rate=loguniform(1e-2, 3e-1), batch_size=[16])
    first = sweep.run(task, make(), budget=budget, out=tmp_path / "run", quiet=True)
    monkeypatch.setattr(search, "random_points", lambda rows, dims, seed: np.full((rows, dims), 0.5))
    assert make().configs() != Random.from_dict(first.manifest["spec"]["grid"]).configs()
    again = sweep.run(task, make(), budget=budget, out=tmp_path / "run", quiet=True)
    assert list(again.to_pandas().learning_rate) == list(first.to_pandas().learning_rate)
    assert again.manifest["timings"].get("config_steps", 0) == 0  # finished: nothing rerun
