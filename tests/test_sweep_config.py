"""Sweep config files: a table of bad configs (each a one-line ConfigError naming the field
and the value), the CLI's exit status 2 with nothing written, and good configs parsing
into the right grid, budget and static axes."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from jopt.sweep.config import STATIC_AXES, ConfigError, SweepConfig, from_toml, parse_config
from jopt.sweep.schema import grid_keys
from jopt.sweep.grid import Grid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "jopt", "configs")  # shipped in the wheel

TASK = """
[task]
model = "mlp"
hidden = [16]
activation = "relu"
dataset = "digits"
loss = "softmax_cross_entropy"
optimizer = "adam"
"""
GRID = """
[grid]
learning_rate = { logspace = [1e-4, 1e-1, 4] }
batch_size = [8, 32]
seed = { range = 2 }
"""
BUDGET = """
[budget]
steps = 20
eval_every = 10
"""


def config_text(task=TASK, grid=GRID, budget=BUDGET, extra=""):
    return task + grid + budget + extra


def with_line(section, old, new):
    assert old in section, old
    return section.replace(old, new)


# (id, TOML text, substrings the one-line message must contain: the field and the value)
BAD_CONFIGS = [
    ("unknown grid key", config_text(grid=GRID + "learing_rate = [0.1]\n"),
     ["'learing_rate'", "[grid]", "did you mean 'learning_rate'"]),
    ("unknown task key", config_text(task=TASK + "modle = 'mlp'\n"),
     ["'modle'", "[task]", "did you mean 'model'"]),
    ("unknown budget key", config_text(budget=BUDGET + "epoch = 3\n"),
     ["'epoch'", "[budget]", "did you mean 'epochs'"]),
    ("unknown table", config_text(extra="[bugdet]\nsteps = 3\n"),
     ["[bugdet]", "did you mean [budget]"]),
    ("wrong type learning rate", config_text(grid=with_line(
        GRID, "learning_rate = { logspace = [1e-4, 1e-1, 4] }", 'learning_rate = "fast"')),
     ["learning_rate", "'fast'"]),
    ("empty axis", config_text(grid=with_line(GRID, "batch_size = [8, 32]", "batch_size = []")),
     ["batch_size", "[]", "empty"]),
    ("empty range", config_text(grid=with_line(GRID, "seed = { range = 2 }", "seed = { range = 0 }")),
     ["seed", "range", "0"]),
    ("negative learning rate", config_text(grid=with_line(
        GRID, "learning_rate = { logspace = [1e-4, 1e-1, 4] }", "learning_rate = [0.1, -0.01]")),
     ["learning_rate", "-0.01", ">= 0"]),
    ("zero learning rate in logspace", config_text(grid=with_line(
        GRID, "learning_rate = { logspace = [1e-4, 1e-1, 4] }",
        "learning_rate = { logspace = [0.0, 1e-1, 4] }")),
     ["learning_rate", "logspace", "0.0"]),
    ("zero batch size", config_text(grid=with_line(GRID, "batch_size = [8, 32]", "batch_size = [0, 8]")),
     ["batch_size", "0", "positive"]),
    ("float batch size", config_text(grid=with_line(GRID, "batch_size = [8, 32]", "batch_size = [8.5]")),
     ["batch_size", "8.5"]),
    ("unknown optimizer", config_text(task=with_line(TASK, 'optimizer = "adam"', 'optimizer = "adamm"')),
     ["optimizer", "'adamm'", "did you mean 'adam'", "sgd"]),
    ("unknown model", config_text(task=with_line(TASK, 'model = "mlp"', 'model = "cnn"')),
     ["model", "'cnn'", "two_layer_linear"]),
    ("unknown dataset", config_text(task=with_line(TASK, 'dataset = "digits"', 'dataset = "mnist"')),
     ["dataset", "'mnist'", "digits", "idx:FOLDER"]),
    ("missing idx folder", config_text(task=with_line(
        TASK, 'dataset = "digits"', 'dataset = "idx:/no/such/folder"')),
     ["dataset", "'idx:/no/such/folder'", "no such folder"]),
    ("unknown loss", config_text(task=with_line(
        TASK, 'loss = "softmax_cross_entropy"', 'loss = "crossentropy"')),
     ["loss", "'crossentropy'", "softmax_cross_entropy"]),
    ("unknown activation", config_text(task=with_line(TASK, 'activation = "relu"', 'activation = "gelu"')),
     ["activation", "'gelu'", "relu"]),
    ("bad hidden width", config_text(task=with_line(TASK, "hidden = [16]", "hidden = [16, -4]")),
     ["hidden", "-4"]),
    ("two budget units", config_text(budget=BUDGET + "epochs = 3\n"),
     ["[budget]", "exactly one of", "epochs = 3", "steps = 20"]),
    ("no budget unit", config_text(budget="[budget]\neval_every = 10\n"),
     ["[budget]", "exactly one of", "none"]),
    ("string budget", config_text(budget=with_line(BUDGET, "steps = 20", 'steps = "20"')),
     ["steps", "'20'", "integer"]),
    ("zero eval_every", config_text(budget=with_line(BUDGET, "eval_every = 10", "eval_every = 0")),
     ["eval_every", "0", "positive"]),
    ("b1 out of range", config_text(grid=GRID + "b1 = [0.9, 1.5]\n"), ["b1", "1.5"]),
    ("argument of another optimizer", config_text(grid=GRID + "momentum = [0.9]\n"),
     ["momentum", "[grid]"]),
    ("zip of an unknown axis", config_text(grid=GRID + 'zip = [["learning_rate", "sed"]]\n'),
     ["zip", "'sed'", "did you mean 'seed'"]),
    ("zip of unequal lengths", config_text(grid=GRID + 'zip = [["learning_rate", "seed"]]\n'),
     ["zip", "learning_rate", "seed", "equal lengths"]),
    ("bad axis form", config_text(grid=with_line(
        GRID, "learning_rate = { logspace = [1e-4, 1e-1, 4] }",
        "learning_rate = { logspcae = [1e-4, 1e-1, 4] }")),
     ["learning_rate", "'logspcae'", "did you mean 'logspace'"]),
    ("misspelt sampled axis form", config_text(grid=with_line(
        GRID, "learning_rate = { logspace = [1e-4, 1e-1, 4] }",
        "learning_rate = { loguniforn = [1e-4, 1e-1] }"), extra='[search]\nkind = "random"\nn = 4\n'),
     ["learning_rate", "'loguniforn'", "did you mean 'loguniform'"]),
    ("unknown axis form", config_text(grid=with_line(
        GRID, "learning_rate = { logspace = [1e-4, 1e-1, 4] }",
        "learning_rate = { gaussian = [1e-4, 1e-1] }"), extra='[search]\nkind = "random"\nn = 4\n'),
     ["learning_rate", "'gaussian'", "logspace", "loguniform", "choice"]),
    ("bad batch strategy", config_text(extra='[run]\nbatch_strategy = "padded"\n'),
     ["batch_strategy", "'padded'", "mask"]),
    ("bad fraction", config_text(task=TASK + "val_fraction = 1.5\n"), ["val_fraction", "1.5"]),
    ("learning rate missing", config_text(grid="[grid]\nbatch_size = [8]\n"),
     ["learning_rate", "missing"]),
    ("batch size missing", config_text(grid="[grid]\nlearning_rate = [0.1]\n"),
     ["batch_size", "missing"]),
    ("missing table", TASK + GRID, ["missing", "[budget]"]),
    ("grid key in task", config_text(task=TASK + "batch_size = 32\n"),
     ["[task] batch_size", "32", "[grid]"]),
    ("task key in grid", config_text(grid=GRID + 'optimizer = ["sgd"]\n'),
     ["[grid] optimizer", "[task]"]),
    ("invalid TOML", config_text(grid=GRID + "learning_rate = [0.1\n"), ["invalid TOML"]),
    ("examples below one batch", config_text(budget="[budget]\nexamples = 16\n"),
     ["examples", "16", "32"]),
    ("bad memory unit", config_text(extra='[run]\nmemory_limit = "8 GB2"\n'),
     ["memory_limit", "'8 GB2'", "GiB"]),
    ("negative memory", config_text(extra="[run]\nmemory_limit = -1\n"), ["memory_limit", "-1"]),
    ("eval rows zero", config_text(task=TASK + "eval_rows = 0\n"), ["eval_rows", "0"]),
    ("eval_train not a boolean", config_text(task=TASK + 'eval_train = "no"\n'),
     ["[task] eval_train", "'no'", "true or false"]),
    ("schedule missing an argument", config_text(
        task=TASK + 'schedule = "cosine_decay_schedule"\n'),
     ["schedule", "cosine_decay_schedule", "decay_steps"]),
    ("warmup longer than the decay", config_text(
        task=TASK + 'schedule = "warmup_cosine_decay_schedule"\n',
        grid=GRID + "warmup_steps = [5]\ndecay_steps = [20, 4]\n"),
     ["decay_steps = 4", "warmup_steps"]),
    ("a loss that is no loss", config_text(task=with_line(
        TASK, 'loss = "softmax_cross_entropy"', 'loss = "apply_reduction"')),
     ["loss", "'apply_reduction'"]),
    ("factory module missing", "[task]\nfactory = 'no_such_module_xyz:make'\n" + GRID + BUDGET,
     ["[task] factory", "no_such_module_xyz", "cannot import"]),
    ("factory file missing", "[task]\nfactory = 'nothere.py:make'\n" + GRID + BUDGET,
     ["[task] factory", "nothere.py", "no such file"]),
    ("factory function missing", "[task]\nfactory = 'json:no_such_function'\n" + GRID + BUDGET,
     ["[task] factory", "no function 'no_such_function'"]),
    ("factory beside settings", "[task]\nfactory = 'json:dumps'\nmodel = 'mlp'\n" + GRID + BUDGET,
     ["[task] factory", "model"]),
]

# refused when the sweep starts (they need the data set), before anything is written
RUN_BAD_CONFIGS = [
    ("batch larger than the data", config_text(grid=with_line(
        GRID, "batch_size = [8, 32]", "batch_size = [8, 5000]")),
     ["batch_size", "5000", "1257"]),
    ("factory returns something else", "[task]\nfactory = 'json:JSONEncoder'\n" + GRID + BUDGET,
     ["JSONEncoder", "not a jopt.sweep.task"]),
]


@pytest.mark.parametrize("text, expected", [c[1:] for c in BAD_CONFIGS],
                         ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_gives_one_line_naming_field_and_value(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ConfigError) as error:
        from_toml(path)
    message = str(error.value)
    assert "\n" not in message, message
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert sorted(os.listdir(tmp_path)) == before  # nothing written
    assert isinstance(error.value, ValueError)


def test_at_least_fifteen_bad_configs():
    assert len(BAD_CONFIGS) >= 15


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nothere.toml"):
        from_toml(tmp_path / "nothere.toml")


# ----------------------------------------------------------------------------
# The command line: exit status 2, one line on stderr, nothing written
# ----------------------------------------------------------------------------


def run_cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "jopt", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_warnings_are_one_line_each(tmp_path):
    """A warning reads as the command's other messages (``jopt: warning: ...``), without
    Python's file, line number and source line: here Sobol's n = 10, not a power of two,
    before a bad b1 stops the sweep."""
    (tmp_path / "sobol.toml").write_text(
        TASK + '[grid]\nlearning_rate = { loguniform = [1e-3, 1e-1] }\n'
        'b1 = { uniform = [1.5, 2.0] }\nbatch_size = [8]\n'
        '[search]\nkind = "sobol"\nn = 10\n' + BUDGET)
    done = run_cli("sweep", "sobol.toml", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0] == ("jopt: warning: The balance properties of Sobol' points require n to "
                        "be a power of 2."), done.stderr
    assert len(lines) == 2 and lines[1].startswith("jopt: error: ") and "b1" in lines[1]


@pytest.mark.parametrize("case", ["unknown task key", "batch larger than the data",
                                  "factory returns something else",
                                  pytest.param("unknown grid key", marks=pytest.mark.slow),
                                  pytest.param("two budget units", marks=pytest.mark.slow)])
def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path, case, jopt_cli):
    text, expected = next(c[1:] for c in BAD_CONFIGS + RUN_BAD_CONFIGS if c[0] == case)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    out = tmp_path / "out"
    before = sorted(os.listdir(tmp_path))
    done = jopt_cli("sweep", str(path), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("jopt: error: ")
    for part in expected:
        assert part in lines[0]
    assert done.stdout == ""
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("flags, expected", [
    (["--num-processes", "2"], ["--coordinator, --process-id missing"]),
    (["--coordinator", "localhost:1234", "--num-processes", "2", "--process-id", "2"],
     ["--process-id", "0..1", "got 2"]),
    (["--coordinator", "localhost:1234", "--num-processes", "0", "--process-id", "0"],
     ["--num-processes", "got 0"]),
    (["--coordinator", "localhost", "--num-processes", "2", "--process-id", "0"],
     ["--coordinator", "HOST:PORT", "'localhost'"]),
    (["--compile-cache", os.devnull + "/cache"], ["--compile-cache", os.devnull + "/cache"]),
])
def test_cli_bad_process_flags_exit_2_and_write_nothing(tmp_path, flags, expected, jopt_cli):
    """The flags of a sweep over several processes are checked before anything starts."""
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(steps=4))
    done = jopt_cli("sweep", str(config), "--out", str(tmp_path / "out"), *flags, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jopt: error: "), done.stderr
    assert all(part in lines[0] for part in expected), lines[0]
    assert sorted(os.listdir(tmp_path)) == ["tiny.toml"]


def test_cli_missing_config_exits_2(tmp_path):
    """(A subprocess: the exit status of the command itself; the other bad-input cases
    run ``jopt.cli.main`` in this process.)"""
    done = run_cli("sweep", "nope.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "nope.toml" in done.stderr
    assert os.listdir(tmp_path) == []


def test_cli_plot_of_a_folder_without_a_sweep(tmp_path, jopt_cli):
    done = jopt_cli("plot", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and str(tmp_path) in done.stderr


def test_cpu_cache_bytes_reads_the_last_level_from_sysfs(tmp_path):
    """The largest level's size (K and M units), other files in the folder ignored; the
    default where the folder is missing."""
    from jopt.devices import DEFAULT_CPU_CACHE_BYTES, cpu_cache_bytes
    try:
        core = min(os.sched_getaffinity(0))
    except AttributeError:
        core = 0
    caches = tmp_path / f"cpu{core}" / "cache"
    for index, (level, size) in enumerate([(1, "48K"), (3, "96M"), (2, "2048K")]):
        (caches / f"index{index}").mkdir(parents=True)
        (caches / f"index{index}" / "level").write_text(f"{level}\n")
        (caches / f"index{index}" / "size").write_text(f"{size}\n")
    (caches / "uevent").write_text("")
    assert cpu_cache_bytes(str(tmp_path)) == 96 * 2 ** 20
    assert cpu_cache_bytes(str(tmp_path / "missing")) == DEFAULT_CPU_CACHE_BYTES


def test_cli_sets_xla_flags_only_when_unset(monkeypatch):
    from jopt.devices import use_every_core
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    value = use_every_core()
    assert value is not None and value.startswith("--xla_force_host_platform_device_count=")
    assert int(value.split("=")[1]) >= 1
    monkeypatch.setenv("XLA_FLAGS", "--xla_something_else")
    assert use_every_core() is None
    assert os.environ["XLA_FLAGS"] == "--xla_something_else"


# ----------------------------------------------------------------------------
# Good configs
# ----------------------------------------------------------------------------


def test_default_config_is_the_main_job():
    config = from_toml(os.path.join(CONFIGS, "default.toml"))
    assert isinstance(config, SweepConfig) and isinstance(config.grid, Grid)
    assert len(config.grid) == 16 * 3 * 4
    assert config.grid.axes["batch_size"] == [8, 32, 128]
    assert config.grid.axes["seed"] == [0, 1, 2, 3]
    lrs = config.grid.axes["learning_rate"]
    assert len(lrs) == 16 and lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-1)
    assert config.static_axes == ["batch_size"]
    assert config.traced_axes == ["learning_rate", "seed"]
    assert config.task_settings["model"] == "mlp" and config.task_settings["hidden"] == [128]
    assert config.task_settings["dataset"] == "digits"
    assert config.task_settings["optimizer"] == "adam"
    assert "epochs" in config.budget and "eval_every" in config.budget
    assert config.options["batch_strategy"] == "auto"


def test_smoke_config_is_small():
    config = from_toml(os.path.join(CONFIGS, "smoke.toml"))
    assert len(config.grid) <= 16
    assert config.budget.get("steps", 10 ** 9) <= 100


def test_optimizer_list_and_hidden_axis_are_static(tmp_path):
    path = tmp_path / "static.toml"
    path.write_text("""
[task]
dataset = "iris"
optimizer = ["sgd", "adam"]

[grid]
learning_rate = { linspace = [0.01, 0.1, 3] }
weight_decay = [0.0, 1e-4]
hidden = [[8], [16, 8]]
batch_size = 16
seed = { range = [10, 13] }

[budget]
epochs = 2
patience = 3

[run]
batch_strategy = "mask"
chunk_seconds = 0.25
memory_limit = "1.5 GiB"
out = "runs/static"
""")
    config = from_toml(path)
    assert len(config.grid) == 3 * 2 * 2 * 1 * 3 * 2
    assert config.grid.axes["seed"] == [10, 11, 12]
    assert config.grid.axes["batch_size"] == [16]
    assert config.grid.axes["optimizer"] == ["sgd", "adam"]
    assert config.grid.axes["hidden"] == [[8], [16, 8]]
    assert set(config.static_axes) == {"batch_size", "hidden", "optimizer"}
    assert set(config.traced_axes) == {"learning_rate", "weight_decay", "seed"}
    assert "optimizer" not in config.task_settings and "hidden" not in config.task_settings
    assert config.budget == {"epochs": 2, "patience": 3}
    assert config.options == {"batch_strategy": "mask", "chunk_seconds": 0.25,
                              "memory_limit": 1.5 * 2 ** 30, "out": "runs/static"}


def test_zip_and_schedule_arguments():
    config = parse_config({
        "task": {"dataset": "linreg", "model": "linear", "optimizer": "sgd",
                 "schedule": "cosine_decay_schedule"},
        "grid": {"learning_rate": [0.1, 0.01], "momentum": [0.9, 0.5], "decay_steps": [100],
                 "batch_size": [16],
                 "zip": [["learning_rate", "momentum"]]},
        "budget": {"steps": 50}})
    assert len(config.grid) == 2
    assert "loss" not in config.task_settings  # the task decides, from the labels
    assert [c["momentum"] for c in config.grid.configs()] == [0.9, 0.5]
    assert config.static_axes == ["batch_size"]


def test_grid_keys_follow_the_optimizer_signature():
    adam = grid_keys(["adam"])
    assert {"learning_rate", "b1", "b2", "eps", "batch_size", "seed"} <= set(adam)
    assert "mu_dtype" not in adam and "nesterov" not in adam
    assert "momentum" in grid_keys(["sgd"])
    assert "momentum" not in grid_keys(["sgd", "adam"])  # not an argument of both
    assert "decay_steps" in grid_keys(["adam"], "cosine_decay_schedule")


def test_idx_dataset_parses_without_reading_its_files(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()  # empty: parsing reads no data set
    task = {"dataset": f"idx:{folder}", "optimizer": "adam"}
    config = parse_config({"task": task, "grid": {"learning_rate": [0.1], "batch_size": [100]},
                           "budget": {"steps": 5}})
    assert config.task_settings["val_fraction"] == pytest.approx(1 / 12)


def test_static_axes_constant():
    assert set(STATIC_AXES) >= {"batch_size", "hidden", "optimizer"}


# ----------------------------------------------------------------------------
# End to end through the lead's runner (jopt.sweep.run_config)
# ----------------------------------------------------------------------------

TINY = """
[task]
model = "mlp"
hidden = [8]
dataset = "iris"
optimizer = "adam"

[grid]
learning_rate = [1e-2, 1e-1]
batch_size = [16]

[budget]
steps = {steps}
eval_every = 2
"""


def needs_runner():
    import jopt.sweep
    if not hasattr(jopt.sweep, "run_config"):
        pytest.skip("jopt.sweep.run_config is not available yet")


@pytest.mark.slow
def test_cli_sweep_end_to_end(tmp_path):
    """Runs, prints the best configs and the paths, refuses another config in the same
    folder (exit status 2, one line, results untouched), and replots."""
    needs_runner()
    config, out = tmp_path / "tiny.toml", tmp_path / "out"
    config.write_text(TINY.format(steps=4))
    done = run_cli("sweep", str(config), "--out", str(out), "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "best 2 of 2 configurations" in done.stdout
    assert str(out / "summary.parquet") in done.stdout and str(out / "heatmap.png") in done.stdout
    for name in ("manifest.json", "summary.parquet", "curves.parquet", "curves.png", "heatmap.png"):
        assert (out / name).stat().st_size > 0, name

    from jopt.sweep.store import load
    result = load(out)
    assert result.status == "finished" and len(result) == 2
    assert result.manifest["spec"]["task"]["dataset"] == "iris"

    config.write_text(TINY.format(steps=6))
    refused = run_cli("sweep", str(config), "--out", str(out), cwd=tmp_path)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "--overwrite" in lines[0] and str(out) in lines[0]
    assert load(out).manifest["spec_hash"] == result.manifest["spec_hash"]

    (out / "curves.png").unlink()
    replot = run_cli("plot", str(out), cwd=tmp_path)
    assert replot.returncode == 0, replot.stderr
    assert (out / "curves.png").exists()


def test_cli_refuses_a_folder_of_results_made_with_another_jax(tmp_path, jopt_cli):
    """A finished sweep's folder whose manifest says another jax made it: the same config
    rerun there is refused in one line, exit status 2, its tables untouched (not read back
    as this jax's results); ``--overwrite`` recomputes them."""
    needs_runner()
    from jopt.sweep import store
    config, out = tmp_path / "tiny.toml", tmp_path / "out"
    config.write_text(TINY.format(steps=4))
    assert jopt_cli("sweep", str(config), "--out", str(out), "--quiet", cwd=tmp_path).returncode == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["versions"]["jax"] = "0.4.0"
    manifest["checksum"] = store.manifest_checksum(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))
    files = {name: (out / name).read_bytes() for name in ("manifest.json", "summary.parquet")}
    refused = jopt_cli("sweep", str(config), "--out", str(out), "--quiet", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "jax 0.4.0" in lines[0] and "--overwrite" in lines[0], lines
    assert {name: (out / name).read_bytes() for name in files} == files
    again = jopt_cli("sweep", str(config), "--out", str(out), "--quiet", "--overwrite",
                     cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert store.load(out).manifest["versions"]["jax"] != "0.4.0"


def test_cli_keeps_compiled_programs_for_the_next_run(tmp_path, jopt_cli):
    """A second run of the same sweep loads its programs from the compilation cache and
    gets the first run's results; an unusable default cache folder is a warning."""
    needs_runner()
    from jopt.sweep.store import load
    config, cache = tmp_path / "tiny.toml", tmp_path / "cache"
    config.write_text(TINY.format(steps=4))
    results = []
    for out in ("first", "second"):
        done = run_cli("sweep", str(config), "--out", str(tmp_path / out), "--quiet",
                       "--compile-cache", str(cache), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        results.append(load(tmp_path / out))
    first, second = results
    assert first.timings["cache_loads"] == 0 and any(cache.iterdir())
    assert second.timings["cache_loads"] >= 2  # its init and chunk programs at least
    assert second.timings["chunk_compiles"] == first.timings["chunk_compiles"] == 1
    pd.testing.assert_frame_equal(second.summary, first.summary)
    pd.testing.assert_frame_equal(second.curves("val_loss"), first.curves("val_loss"))

    unusable = os.devnull + "/cache"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JOPT_CACHE_DIR", unusable)
        done = jopt_cli("sweep", str(config), "--out", str(tmp_path / "third"), "--quiet",
                        cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1 and "warning: no compilation cache" in done.stderr
    assert unusable in done.stderr
    assert load(tmp_path / "third").timings["cache_loads"] == 0


def test_without_filelock_the_cache_still_keeps_programs_and_says_it_is_unbounded(tmp_path):
    """JAX bounds its cache under a file lock: with a size set and no ``filelock`` it
    reads and writes nothing.  Without ``filelock`` (made unimportable here) the cache
    keeps its programs, unbounded, and the command says so in one line."""
    needs_runner()
    from jopt.sweep.store import load
    config, cache = tmp_path / "tiny.toml", tmp_path / "cache"
    config.write_text(TINY.format(steps=4))
    command = ("import sys; sys.modules['filelock'] = None; from jopt.cli import main; "
               "sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for out in ("first", "second"):
        done = subprocess.run([sys.executable, "-c", command, "sweep", str(config), "--out",
                               str(tmp_path / out), "--quiet", "--compile-cache", str(cache)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert "warning: the compilation cache in" in done.stderr and "filelock" in done.stderr
    assert load(tmp_path / "second").timings["cache_loads"] >= 2


def test_default_cache_dir_follows_the_environment(monkeypatch):
    from jopt.devices import default_cache_dir
    monkeypatch.setenv("JOPT_CACHE_DIR", "/somewhere/jopt")
    assert default_cache_dir() == "/somewhere/jopt"
    monkeypatch.delenv("JOPT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert default_cache_dir() == os.path.join("/xdg", "jopt", "xla")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "jopt", "xla")
