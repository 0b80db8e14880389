"""The sweep runner against fit run config by config, strategies, divergence, devices (issue 5)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import Sequence

import jax
import numpy as np
import pytest

import jopt
import jopt.sweep as sweep
from jopt import data, models
from jopt.sweep import engine, runner
from jopt.sweep.tasks import sweep_program
from jopt.train import fit

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

LOSS = "softmax_cross_entropy_with_integer_labels"
SETTINGS = dict(model="mlp", hidden=[16], dataset="digits", optimizer="sgd", loss=LOSS)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", seed=0)


def fit_config(digits, config, steps, eval_every):
    opt = jopt.sgd(config["learning_rate"], momentum=config.get("momentum"))
    return fit(models.mlp([64, 16, 10]), opt, digits, loss=LOSS, batch_size=config["batch_size"],
               key=jax.random.PRNGKey(config["seed"]), steps=steps, eval_every=eval_every)


def test_sweep_equals_fit_config_by_config(digits):
    grid = sweep.Grid(learning_rate=[0.03, 0.3], momentum=[0.0, 0.9], batch_size=[32],
                      seed=[0, 1])
    result = sweep.run(sweep.builtin_task(**SETTINGS), grid,
                       budget=sweep.Budget(steps=40, eval_every=20), quiet=True)
    summary = result.to_pandas()
    assert len(summary) == 8
    for config in grid.configs()[::3]:
        row = summary[(summary.learning_rate == config["learning_rate"])
                      & (summary.momentum == config["momentum"]) & (summary.seed == config["seed"])]
        single = fit_config(digits, config, 40, 20)
        np.testing.assert_allclose(row.final_val_loss.item(), single.history["val_loss"][-1],
                                   rtol=1e-4)
        curve = result.curves("val_loss")[row.config.item()].to_numpy()
        np.testing.assert_allclose(curve, single.history["val_loss"], rtol=1e-4)


def test_mask_and_bucket_give_the_same_results():
    grid = sweep.Grid(learning_rate=[0.05, 0.2], batch_size=[16, 48], seed=[3])
    budget = sweep.Budget(steps=30, eval_every=10)
    task = sweep.builtin_task(**SETTINGS)
    buckets = sweep.run(task, grid, budget=budget, batch_strategy="bucket", quiet=True)
    bucket = buckets.to_pandas()
    mask = sweep.run(task, grid, budget=budget, batch_strategy="mask", quiet=True).to_pandas()
    # two buckets, their configs interleaved in the grid: the tables are in grid order
    np.testing.assert_array_equal(bucket.config, np.arange(4))
    np.testing.assert_array_equal(bucket.batch_size, [c["batch_size"] for c in grid.configs()])
    curves = buckets.curves_frame
    order = np.lexsort([curves.step.to_numpy(), curves.config.to_numpy()])
    np.testing.assert_array_equal(order, np.arange(len(curves)))
    np.testing.assert_allclose(mask.final_val_loss, bucket.final_val_loss, rtol=1e-4)
    np.testing.assert_allclose(mask.final_train_loss, bucket.final_train_loss, rtol=1e-4)


def test_diverging_configs_are_frozen_and_marked_and_the_others_unchanged():
    task = sweep.builtin_task(**SETTINGS)
    budget = sweep.Budget(steps=40, eval_every=10)
    grid = sweep.Grid(learning_rate=[0.1, 1e3, 1e5], batch_size=[32], seed=[0])
    result = sweep.run(task, grid, budget=budget, quiet=True).to_pandas()
    calm = sweep.run(task, sweep.Grid(learning_rate=[0.1], batch_size=[32], seed=[0]),
                     budget=budget, quiet=True).to_pandas()
    assert list(result.status) == ["finished", "diverged", "diverged"]
    assert (result.diverged_step[1:] >= 0).all() and (result.diverged_step[1:] < 40).all()
    assert result.diverged_step[0] == -1
    np.testing.assert_allclose(result.final_val_loss[0], calm.final_val_loss[0], rtol=1e-5)
    assert np.isfinite(result.final_train_loss[1:]).all()  # frozen before the blow-up


def test_one_compilation_per_bucket():
    """Two batch sizes as buckets, many chunks each: the chunk program is traced twice."""
    runner.clear_cache()
    before = sweep.chunk_compiles()
    grid = sweep.Grid(learning_rate=sweep.logspace(1e-3, 1e-1, 3), batch_size=[16, 64], seed=[0, 1])
    sweep.run(sweep.builtin_task(**SETTINGS), grid, budget=sweep.Budget(steps=60, eval_every=10),
              batch_strategy="bucket", quiet=True, chunk_seconds=1e-3)
    assert sweep.chunk_compiles() - before == 2


def test_slices_chosen_by_memory_equal_one_program_and_a_resume_keeps_them(tmp_path):
    """A memory limit of three configurations' estimate: 8 configs run in slices of 3 (of 2
    on two devices), all through one new program (the estimate reuses the unsliced run's),
    with the results of the unsliced run; the same spec run again in its folder keeps the
    recorded slicing."""
    runner.clear_cache()
    task = sweep.builtin_task(**SETTINGS)
    grid = sweep.Grid(learning_rate=[0.03, 0.1, 0.3, 1.0], batch_size=[32], seed=[0, 1])
    budget = sweep.Budget(steps=30, eval_every=10)
    whole = sweep.run(task, grid, budget=budget, quiet=True)
    per_config = whole.slices["0"]["bytes_per_config"]
    assert whole.slices["0"]["size"] == 8 and whole.slices["0"]["count"] == 1
    before = sweep.chunk_compiles()
    sliced = sweep.run(task, grid, budget=budget, quiet=True, memory_limit=3.5 * per_config,
                       out=tmp_path / "sliced")
    # the estimate reuses the whole bucket's program, compiled by the run before
    assert sweep.chunk_compiles() - before == 1
    devices = len(jax.devices())  # slices are whole multiples of the devices
    size = max(devices, 3 // devices * devices)
    assert (sliced.slices["0"]["size"], sliced.slices["0"]["count"]) == (size, -(-8 // size))
    a, b = whole.to_pandas(), sliced.to_pandas()
    np.testing.assert_array_equal(a.config, b.config)
    np.testing.assert_allclose(b.final_val_loss, a.final_val_loss, rtol=1e-6)
    assert len(sliced.curves()) == len(whole.curves())
    again = sweep.run(task, grid, budget=budget, quiet=True, out=tmp_path / "sliced")
    assert again.slices["0"]["size"] == size
    np.testing.assert_array_equal(again.to_pandas().final_val_loss, b.final_val_loss)


def test_cache_slices_hold_half_the_cache_in_even_slices_of_at_least_16_per_device():
    """The rule by hand: 8 MiB per device (half of 32 MiB over 2 devices) over 158,958
    bytes each (the reference MLP's state) is 52 per device, 104 per slice: 256 configs
    in 3 slices of 86.  A 1 MB state is floored at 16 per device, and a small one keeps
    the bucket whole."""
    mib = 2 ** 20
    assert engine.cache_slice_size(256, 2, 158_958, 32 * mib) == 86
    assert engine.cache_slice_size(1024, 2, 158_958, 32 * mib) == 104   # 10 slices
    assert engine.cache_slice_size(100, 2, 10 ** 6, 32 * mib) == 26     # 4 slices of 32 at most
    assert engine.cache_slice_size(1024, 2, 15_598, 32 * mib) == 1024
    assert engine.even_slice_size(13, 4, 2) == 4 and engine.even_slice_size(12, 5, 1) == 4


@pytest.mark.parametrize("pbt", [False, True])
def test_on_a_cpu_a_bucket_whose_state_outgrows_the_cache_runs_in_slices(monkeypatch, pbt):
    """With a cache too small for any configuration, 64 configs run in even slices of 16
    per device (their results equal the bucket's in one program, as with a larger cache);
    a PBT population is not cut (its exploits stay within its slice)."""
    task = sweep.builtin_task(**SETTINGS)
    grid = sweep.QuasiRandom(n=64, seed=0, learning_rate=sweep.loguniform(0.01, 0.3),
                             batch_size=[32])
    options = dict(budget=sweep.Budget(steps=20, eval_every=10), quiet=True)
    if pbt:
        options["pbt"] = sweep.PBT(interval=10, metric="val_loss", quantile=0.25, seed=0)
    devices = len(jax.devices())
    results = {}
    for cache in (2 ** 40, 1):
        monkeypatch.setattr(runner, "cpu_cache_bytes", lambda cache=cache: cache)
        results[cache] = sweep.run(task, grid, **options)
    whole, sliced = results[2 ** 40], results[1]
    assert whole.slices["0"]["count"] == 1
    expected = whole.slices["0"]["size"] if pbt or 64 <= 16 * devices else \
        engine.even_slice_size(64, 16 * devices, devices)
    assert sliced.slices["0"]["size"] == expected
    a, b = whole.to_pandas(), sliced.to_pandas()
    np.testing.assert_array_equal(a.config, b.config)
    np.testing.assert_allclose(b.final_val_loss, a.final_val_loss, rtol=1e-5)


def test_a_resumed_sweep_slices_as_recorded_without_measuring_the_cache(monkeypatch, tmp_path):
    """A sweep cut into cache-sized slices (a 1-byte cache), stopped in its second slice,
    resumes with the slices its manifest records: it neither reads the cache's size nor
    traces the init program to measure the state, and ends with an uninterrupted run's
    results."""
    task = sweep.builtin_task(**SETTINGS)
    grid = sweep.QuasiRandom(n=64, seed=0, learning_rate=sweep.loguniform(0.01, 0.3),
                             batch_size=[32])
    options = dict(budget=sweep.Budget(steps=20, eval_every=10), quiet=True)
    monkeypatch.setattr(runner, "cpu_cache_bytes", lambda: 1)
    uninterrupted = sweep.run(task, grid, **options)
    assert uninterrupted.slices["0"]["count"] > 1
    run_slice, calls = runner.run_slice, []

    def stopped(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return run_slice(*args, **kwargs)

    monkeypatch.setattr(runner, "run_slice", stopped)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        sweep.run(task, grid, out=out, **options)
    monkeypatch.setattr(runner, "run_slice", run_slice)

    def unasked(*args, **kwargs):
        raise AssertionError("measured again on a resume")

    monkeypatch.setattr(runner, "cpu_cache_bytes", unasked)
    monkeypatch.setattr(engine.Programs, "state_bytes_per_config", unasked)
    runner.clear_cache()
    resumed = sweep.run(task, grid, out=out, **options)
    assert resumed.slices["0"]["size"] == uninterrupted.slices["0"]["size"]
    np.testing.assert_array_equal(resumed.to_pandas().final_val_loss,
                                  uninterrupted.to_pandas().final_val_loss)


@pytest.fixture
def off_cpu(monkeypatch):
    """Every bucket's programs take the paths meant for a GPU or TPU (``on_cpu`` false:
    XLA's default compile options, jitted gathers on the devices, halved buckets run
    whole with their compacted sizes compiled ahead, no cache-sized slices), on this
    CPU; programs cached before or during are dropped."""
    original = engine.Programs.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.on_cpu = False

    runner.clear_cache()
    monkeypatch.setattr(engine.Programs, "__init__", init)
    yield
    runner.clear_cache()


def test_the_paths_off_a_cpu_give_the_results_of_the_paths_on_it(off_cpu, monkeypatch):
    """No GPU runs the tests: the off-CPU paths run here on the CPU, a plain sweep, a
    halved one (run whole, its 4 survivors compacted through the jitted gather) and a PBT
    sweep (its exploits gathered on the devices), against the same sweeps on the CPU's
    paths."""
    task = sweep.builtin_task(**SETTINGS)
    grid = sweep.Grid(learning_rate=[0.01, 0.03, 0.1, 0.3], seed=[0, 1, 2], batch_size=[32])
    budget = sweep.Budget(steps=30, eval_every=10)
    runs = {"plain": {}, "halving": dict(halving=sweep.Halving(min_budget=10, eta=3)),
            "pbt": dict(pbt=sweep.PBT(interval=10, metric="val_loss", seed=0))}
    off = {name: sweep.run(task, grid, budget=budget, quiet=True, **options)
           for name, options in runs.items()}
    # one pruning rung at step 10: the 4 survivors gathered into a program of 4
    assert off["halving"].manifest["timings"]["config_steps"] == 12 * 10 + 4 * 20
    monkeypatch.undo()
    runner.clear_cache()
    on = {name: sweep.run(task, grid, budget=budget, quiet=True, **options)
          for name, options in runs.items()}
    for name in runs:
        a, b = on[name].to_pandas(), off[name].to_pandas()
        assert list(a.status) == list(b.status), name
        np.testing.assert_allclose(b.final_val_loss, a.final_val_loss, rtol=1e-5, err_msg=name)
    assert list(on["halving"].to_pandas().rung) == list(off["halving"].to_pandas().rung)
    assert on["pbt"].manifest["pbt"]["events"] == off["pbt"].manifest["pbt"]["events"]


def test_memory_per_config_within_twice_parameters_moments_and_gradients():
    """The reference MLP 64-128-10 with adam: XLA's estimate of the chunk program per
    configuration, against 4 copies of the parameters (them, two moments, the gradient)."""
    task = sweep.builtin_task(model="mlp", hidden=[128], dataset="digits", optimizer="adam",
                              batch_size=32)
    grid = sweep.Grid(learning_rate=[1e-3, 1e-2], seed=sweep.seeds(2))
    result = sweep.run(task, grid, budget=sweep.Budget(steps=10, eval_every=10), quiet=True)
    parameters = 64 * 128 + 128 + 128 * 10 + 10
    ratio = result.slices["0"]["bytes_per_config"] / (4 * parameters * 4)
    assert 1.0 < ratio < 2.0


def test_a_plain_function_is_refused_in_one_line_before_anything_is_written(tmp_path):
    """The old ``(hparams, key) -> metrics`` form is not a task: a function given to
    ``run`` must return ``jopt.sweep.task(...)`` and take static grid axes by name."""
    def plain(hparams, key):
        return {"loss": hparams["learning_rate"]}
    grid = sweep.Grid(learning_rate=[1.0, 2.0], seed=[0, 1], batch_size=[8])
    with pytest.raises(sweep.TaskError, match="plain takes hparams, key"):
        sweep.run(plain, grid, budget=sweep.Budget(steps=1), out=tmp_path / "out", quiet=True)
    assert not (tmp_path / "out").exists()


def test_a_sweep_traces_with_old_objects_frozen_and_leaves_the_collector_as_it_was():
    """While ``run`` traces, the objects that existed before are frozen (``gc.freeze``), so
    full collections skip them; afterwards nothing stays frozen, and a caller's own
    freeze is not undone."""
    import gc
    frozen_while_tracing = []

    def loss(params, batch):
        frozen_while_tracing.append(gc.get_freeze_count())
        return jax.numpy.mean((batch[0] @ params - batch[1]) ** 2)
    x = np.linspace(-1, 1, 24).reshape(12, 2).astype(np.float32)
    task = sweep.task(lambda key: jax.random.normal(key, (2,)), loss=loss, data=(x, x.sum(1)),
                      optimizer="sgd", batch_size=4)
    grid = sweep.Grid(learning_rate=[1.0, 2.0], seed=[0, 1])
    assert gc.get_freeze_count() == 0
    frozen_while_tracing.clear()  # task() checked the loss on shapes, outside run
    sweep.run(task, grid, budget=sweep.Budget(steps=1), quiet=True)
    assert frozen_while_tracing and min(frozen_while_tracing) > 0
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        mine = gc.get_freeze_count()
        sweep.run(task, sweep.Grid(learning_rate=[3.0], seed=[7]), budget=sweep.Budget(steps=1),
                  quiet=True)
        assert gc.get_freeze_count() > mine // 2  # not unfrozen (some frozen objects died)
    finally:
        gc.unfreeze()


SCRIPT = textwrap.dedent("""
    import sys, jopt.sweep as sweep
    grid = sweep.Grid(learning_rate=[0.01, 0.1, 0.5], batch_size=[32], seed=[0, 1])
    task = sweep.builtin_task(model="mlp", hidden=[16], dataset="digits", optimizer="sgd",
                              loss="softmax_cross_entropy_with_integer_labels")
    result = sweep.run(task, grid, budget=sweep.Budget(steps=400, eval_every=10), out=sys.argv[1],
                       quiet=True, chunk_seconds=0.05, checkpoint_seconds=0.0)
    print(len(result.to_pandas()))
""")


def _run_script(tmp_path, out, env=None):
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # tests/test_sweep_kills.py kills sweeps at chosen and random moments
def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    out = tmp_path / "killed"
    process = _run_script(tmp_path, out)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(out.glob("checkpoints/*")) \
            and not list(out.glob("*.npz")) and process.poll() is None:
        time.sleep(0.05)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    again = _run_script(tmp_path, out)
    assert again.wait(timeout=600) == 0, again.stderr.read()
    fresh = _run_script(tmp_path, tmp_path / "fresh")
    assert fresh.wait(timeout=600) == 0, fresh.stderr.read()
    resumed = sweep.load(out)
    uninterrupted = sweep.load(tmp_path / "fresh")
    a, b = resumed.to_pandas(), uninterrupted.to_pandas()
    assert len(a) == len(b) == 6
    np.testing.assert_allclose(a.final_val_loss, b.final_val_loss, rtol=1e-6)
    ca, cb = resumed.curves(), uninterrupted.curves()
    assert len(ca) == len(cb)  # no row lost or duplicated
    assert not ca.duplicated(["config", "step"]).any()


def test_four_cpu_devices_give_the_same_results_as_one(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    four = _run_script(tmp_path, tmp_path / "four", env=env)
    one_env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
    one = _run_script(tmp_path, tmp_path / "one", env=one_env)
    assert four.wait(timeout=600) == 0, four.stderr.read()
    assert one.wait(timeout=600) == 0, one.stderr.read()
    a, b = sweep.load(tmp_path / "four"), sweep.load(tmp_path / "one")
    assert len(a.manifest["devices"]) == 4 and len(b.manifest["devices"]) == 1
    np.testing.assert_allclose(a.to_pandas().final_val_loss, b.to_pandas().final_val_loss,
                               rtol=1e-5)


DEVICES_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    import jopt.sweep as sweep
    x = np.random.default_rng(0).normal(size=(64, 6, 6, 1)).astype(np.float32)
    y = np.arange(64) % 3

    def init(key):
        return {"kernel": jax.random.normal(key, (3, 3, 1, 3)) * 0.1}

    def apply(params, images):
        out = jax.lax.conv_general_dilated(images, params["kernel"], (1, 1), "SAME",
                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return out.mean(axis=(1, 2))

    conv = sweep.task(init, apply=apply, loss="softmax_cross_entropy", data=(x, y),
                      optimizer="sgd", batch_size=8)
    mlp = sweep.builtin_task(model="mlp", hidden=[8], dataset="digits",
                             optimizer="sgd").build({"batch_size": 8})
    print(len(jax.devices()), len(sweep.choose_devices(None, conv, 8)),
          len(sweep.choose_devices(None, mlp, 8)), len(sweep.choose_devices(None, mlp, 1)))
""")


def test_on_two_cpu_devices_a_convolution_gets_one_and_configs_bound_the_rest(tmp_path):
    """``choose_devices`` with two host devices: a task whose loss holds a convolution
    gets one (XLA already spreads a convolution over the cores), an MLP both, and one
    configuration one device (no padding config)."""
    script = tmp_path / "devices.py"
    script.write_text(DEVICES_SCRIPT)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "1", "2", "1"]


PROCESS_START = textwrap.dedent("""
    import json, sys
    import jax
    out, process, processes, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    quiet = sys.argv[5] == "quiet"  # else a progress bar (on process 0's stderr)
    if processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(f"localhost:{port}", num_processes=processes, process_id=process)
    import jopt.sweep as sweep
    grid = sweep.Grid(learning_rate=[0.01, 0.1, 0.5, 50.0], seed=[0, 1, 2])
    task = sweep.builtin_task(model="mlp", hidden=[16], dataset="digits", optimizer="sgd",
                              batch_size=32)
""")
"""The start of a script run in several processes: its arguments, ``jax.distributed``, the
sweep's grid and task."""

PROCESS_SCRIPT = PROCESS_START + textwrap.dedent("""
    result = sweep.run(task, grid, budget=sweep.Budget(steps=60, eval_every=10), out=out,
                       quiet=quiet, chunk_seconds=0.01, checkpoint_seconds=0.0)
    summary = result.to_pandas()
    import jax.numpy as jnp
    w = jnp.array([1.0, -2.0, 3.0])
    def batches(key, step):
        x = jax.random.normal(jax.random.fold_in(key, step), (8, 3))
        return x, x @ w
    x_val = jax.random.normal(jax.random.PRNGKey(9), (16, 3))
    user = sweep.task(lambda key: {"w": jax.random.normal(key, (3,))},
                      loss=lambda params, batch: jnp.mean((batch[0] @ params["w"] - batch[1]) ** 2),
                      data={"train": batches, "val": (x_val, x_val @ w)}, optimizer="sgd")
    plain = sweep.run(user, sweep.Grid(learning_rate=[0.01, 0.1, 0.5, 50.0], seed=[0, 1, 2]),
                      budget=sweep.Budget(steps=20, eval_every=10), quiet=True).to_pandas()
    pbt = sweep.run(task, grid, budget=sweep.Budget(steps=60, eval_every=10), quiet=True,
                    pbt=sweep.PBT(interval=20, seed=1))
    halved = sweep.run(task, grid, budget=sweep.Budget(steps=60, eval_every=10), quiet=True,
                       halving=sweep.Halving(min_budget=10, eta=3)).to_pandas()
    from jopt.sweep import runner  # caches that differ by host: the writer's sizes the slices
    runner.cpu_cache_bytes = lambda: 1 if process == 0 else 2 ** 40
    forty = sweep.Grid(learning_rate=[0.01, 0.1, 0.5, 1.0, 2.0], seed=sweep.seeds(8))
    cut = sweep.run(task, forty, budget=sweep.Budget(steps=20, eval_every=10), quiet=True)
    print(json.dumps({"devices": len(jax.devices()), "status": summary.status.tolist(),
                      "cut": cut.to_pandas().final_val_loss.tolist(),
                      "cut_size": cut.slices["0"]["size"],
                      "val_loss": summary.final_val_loss.tolist(),
                      "curve": result.curves()["val_loss"].tolist(),
                      "plain": plain.final_val_loss.tolist(),
                      "pbt": pbt.to_pandas().final_val_loss.tolist(),
                      "events": pbt.manifest["pbt"]["events"],
                      "halved": halved.final_val_loss.tolist(), "rung": halved.rung.tolist()}))
""")

SEARCH_SCRIPT = PROCESS_START + textwrap.dedent("""
    import os
    import numpy as np
    from jax.experimental import multihost_utils
    from jopt.sweep import runner
    from jopt.sweep.processes import arrays_from_writer
    killed = sys.argv[6]  # the sweep that stops after a checkpoint: "halving", "pbt" or "none"
    redraw = sys.argv[7] == "redraw"  # random points drawn otherwise than by the first run

    mixed = {"f64": np.array([1e300, -0.0, np.nan]), "i64": np.array([2 ** 40], np.int64),
             "flags": np.array([True, False]), "step": np.int64(3), "none": np.zeros((0, 2))}
    sent = arrays_from_writer(mixed if process == 0 else None)
    exact = list(sent) == list(mixed) and all(
        sent[k].dtype == v.dtype and sent[k].shape == v.shape and sent[k].tobytes() == v.tobytes()
        for k, v in mixed.items())
    print(json.dumps({"sent_exact": exact}), flush=True)

    def exiting(save, name, due):
        # save, then once due: every process leaves here, the writer's checkpoint written
        def saved(*args):
            save(*args)
            if due(*args):
                multihost_utils.sync_global_devices(name)
                print(json.dumps({"killed": name}), flush=True)
                os._exit(0)
        saved.every = getattr(save, "every", None)
        return saved

    run_halving, run_population = runner.run_halving, runner.run_population
    if killed == "halving":  # at its first rung
        runner.run_halving = lambda *a, save, **k: run_halving(
            *a, save=exiting(save, killed, lambda arrays: True), **k)
    if killed == "pbt":  # at its first checkpoint after an exploit round
        runner.run_population = lambda *a, checkpoint, **k: run_population(
            *a, checkpoint=exiting(checkpoint, killed, lambda *state: state[-1].rounds > 0), **k)
    options = dict(budget=sweep.Budget(steps=60, eval_every=10), quiet=True, chunk_seconds=0.01,
                   checkpoint_seconds=0.0)
    if redraw:  # as another numpy might: a resume must run the stored draws, not these
        from jopt.sweep import search
        random_points = search.random_points
        search.random_points = lambda *a: 1 - random_points(*a)
    space = sweep.Random(n=4, seed=3, learning_rate=sweep.loguniform(1e-3, 1.0))
    drawn = sweep.run(task, space, out=f"{out}/random", **options).to_pandas()
    print(json.dumps({"drawn": drawn.learning_rate.tolist(),
                      "drawn_loss": drawn.final_val_loss.tolist()}), flush=True)
    halved = sweep.run(task, grid, halving=sweep.Halving(min_budget=10, eta=3),
                       out=f"{out}/halved", **options)
    summary = halved.to_pandas()
    print(json.dumps({"halved": summary.final_val_loss.tolist(), "status": summary.status.tolist(),
                      "rung": summary.rung.tolist(),
                      "halved_steps": halved.manifest["timings"].get("config_steps", 0)}), flush=True)
    pbt = sweep.run(task, grid, pbt=sweep.PBT(interval=20, seed=1), out=f"{out}/pbt", **options)
    print(json.dumps({"pbt": pbt.to_pandas().final_val_loss.tolist(),
                      "events": pbt.manifest["pbt"]["events"],
                      "pbt_steps": pbt.manifest["timings"]["config_steps"]}))
""")
"""A random search, a halving sweep and a PBT sweep, each with an output folder;
``argv[6]`` names the one that stops (every process leaves) right after its first rung
checkpoint or its first checkpoint after an exploit round; ``argv[7]`` "redraw" makes the
random search's sampler draw other points; ``arrays_from_writer`` is checked on the way."""


def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _run_processes(tmp_path, out, processes: int, devices_each: int, bar: bool = False,
                   script: str = PROCESS_SCRIPT, args: Sequence[str] = ()) -> list:
    """The sweeps of ``script`` (``args`` after its own arguments) in ``processes`` processes
    under jax.distributed (local collectives), each with ``devices_each`` CPU devices
    (``bar``: not quiet): what each printed (its lines of JSON together), and its standard
    error as ``printed["stderr"]``."""
    text, script = script, tmp_path / "process_script.py"
    script.write_text(text)
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_each}")
    port = str(_free_port())
    command = [sys.executable, str(script), str(out)]
    mode = "bar" if bar else "quiet"
    running = [subprocess.Popen(command + [str(i), str(processes), port, mode, *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(processes)]
    printed = []
    for process in running:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        printed.append(dict({k: v for line in lines for k, v in line.items()}, stderr=stderr))
    return printed


def test_two_processes_under_jax_distributed_give_the_results_of_one(tmp_path):
    """Two processes with one CPU device each (``jax.distributed``, collectives over gloo)
    run the sweep of one process with two devices: the same results on both processes,
    one output folder written by process 0 (and a progress bar there only); a user's task
    drawing its own batches, population-based training (the same exploits everywhere) and
    successive halving (its slices ranked together, the survivors gathered through the
    host), and the cache-sized slices of a process whose cache the other does not share,
    too."""
    (one,) = _run_processes(tmp_path, tmp_path / "one", processes=1, devices_each=2)
    first, second = _run_processes(tmp_path, tmp_path / "two", processes=2, devices_each=1,
                                   bar=True)
    assert "sweep (12 configs)" in first["stderr"] and "sweep (" not in second["stderr"]
    assert one["devices"] == first["devices"] == 2
    assert "diverged" in one["status"] and "finished" in one["status"]
    for printed in (first, second):
        assert printed["status"] == one["status"]
        np.testing.assert_array_equal(printed["val_loss"], one["val_loss"])
        np.testing.assert_array_equal(printed["curve"], one["curve"])
        np.testing.assert_array_equal(printed["plain"], one["plain"])  # a user's task
        np.testing.assert_array_equal(printed["pbt"], one["pbt"])
        assert printed["events"] == one["events"]
        np.testing.assert_array_equal(printed["halved"], one["halved"])
        assert printed["rung"] == one["rung"]
        # 40 configs whose state outgrows process 0's cache: 16 per device, 2 slices of 20
        assert printed["cut_size"] == one["cut_size"] == 20
        np.testing.assert_array_equal(printed["cut"], one["cut"])
    # 12, then 4, then 1: the 3 diverged leave at the first rung unpruned (rung -1)
    assert sorted(one["rung"]) == [-1] * 4 + [0] * 5 + [1] * 3
    # the diverging learning rate (50) is replaced at the first exploit
    assert {e["config"] for e in one["events"] if e["step"] == 20} == {9, 10, 11}
    written = sweep.load(tmp_path / "two")
    np.testing.assert_array_equal(written.to_pandas().final_val_loss, one["val_loss"])
    assert len(written.manifest["devices"]) == 2 and not written.manifest.get("resumes")


@pytest.mark.slow  # two more pairs of processes; the default run checks one pair
def test_two_processes_rerun_into_their_folder_resume_to_the_same_results(tmp_path):
    """A rerun of the two processes into their folder resumes there (quiet: no bar)."""
    (one,) = _run_processes(tmp_path, tmp_path / "one", processes=1, devices_each=2)
    _run_processes(tmp_path, tmp_path / "two", processes=2, devices_each=1)
    again = _run_processes(tmp_path, tmp_path / "two", processes=2, devices_each=1)
    assert not any("sweep (" in printed["stderr"] for printed in again)
    assert sweep.load(tmp_path / "two").manifest["resumes"] == 1
    for printed in again:
        np.testing.assert_array_equal(printed["val_loss"], one["val_loss"])
        np.testing.assert_array_equal(printed["pbt"], one["pbt"])


def test_a_sweep_of_the_same_shape_reuses_the_compiled_programs():
    """Other learning rates and seeds on the same task and budget: nothing is traced again
    (hyperparameters are data), and the results equal those of a sweep compiled afresh."""
    budget = sweep.Budget(steps=30, eval_every=10)
    runner.clear_cache()
    sweep.run(sweep.builtin_task(**SETTINGS), sweep.Grid(learning_rate=[0.01, 0.1], seed=[0, 1],
                                                         batch_size=[32]),
              budget=budget, quiet=True)
    before = sweep.chunk_compiles()
    other = sweep.Grid(learning_rate=[0.03, 0.3], seed=[2, 3], batch_size=[32])
    reused = sweep.run(sweep.builtin_task(**SETTINGS), other, budget=budget, quiet=True)
    assert sweep.chunk_compiles() == before
    runner.clear_cache()
    fresh = sweep.run(sweep.builtin_task(**SETTINGS), other, budget=budget, quiet=True)
    assert sweep.chunk_compiles() == before + 1
    np.testing.assert_array_equal(reused.to_pandas().final_val_loss, fresh.to_pandas().final_val_loss)
    # another budget is another program
    sweep.run(sweep.builtin_task(**SETTINGS), other, budget=sweep.Budget(steps=20, eval_every=10),
              quiet=True)
    assert sweep.chunk_compiles() == before + 2


def test_a_task_without_batch_size_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="batch_size is missing"):
        sweep.run(sweep.builtin_task(**SETTINGS), sweep.Grid(learning_rate=[0.1]),
                  budget=sweep.Budget(steps=10, eval_every=5), out=tmp_path / "out", quiet=True)
    assert not (tmp_path / "out").exists()


def test_the_init_program_draws_the_initial_weights_of_model_init():
    """The init program is compiled with fast-compile options on a CPU: its parameters are
    still bit for bit those of ``model.init(split(PRNGKey(seed))[0])`` compiled by ``jit``
    (run op by op, the normal draws' last bit can differ: XLA fuses their scaling)."""
    from jopt import models
    settings = dict(SETTINGS, hidden=[32])
    budget = sweep.Budget(steps=10, eval_every=5)
    task = sweep_program(sweep.builtin_task(**settings).build({"batch_size": 32}), budget, batch_size=32)
    mesh = engine.mesh_for()
    seeds = [0, 1, 7, 123]
    configs = [{"learning_rate": 0.1, "seed": s} for s in seeds]
    size = engine.slice_size_for(len(configs), mesh.devices.size, None)
    part = engine.make_slice(configs, ["learning_rate", "seed"], size, task, mesh)
    programs = engine.Programs(task, budget, mesh, blocks=2)
    (fit_carry, _), _ = programs.compiled_init(part.hparams)(part.hparams)
    model = models.mlp([64, 32, 10])
    init = jax.jit(lambda seed: model.init(jax.random.split(jax.random.PRNGKey(seed))[0]))
    for i, seed in enumerate(seeds):
        expected = init(seed)
        got = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[i], fit_carry.params)
        jax.tree_util.tree_map(np.testing.assert_array_equal, got, expected)


def test_compile_options_this_xla_does_not_know_give_a_warning_and_its_defaults(monkeypatch):
    """XLA's option names change between versions: with one this jaxlib does not know, the
    programs compile with XLA's defaults (a warning says so) and train as with the usual
    options, up to rounding."""
    grid = sweep.Grid(learning_rate=[0.01, 0.1, 3.0], seed=[0, 1], batch_size=[32])
    budget = sweep.Budget(steps=20, eval_every=10)
    runner.clear_cache()
    usual = sweep.run(sweep.builtin_task(**SETTINGS), grid, budget=budget, quiet=True).to_pandas()
    unknown = {"xla_an_option_no_version_has": True}
    monkeypatch.setattr(engine, "INIT_COMPILER_OPTIONS", unknown)
    monkeypatch.setattr(engine, "CHUNK_COMPILER_OPTIONS", unknown)
    runner.clear_cache()
    with pytest.warns(RuntimeWarning, match="refused one of the compile options"):
        fallback = sweep.run(sweep.builtin_task(**SETTINGS), grid, budget=budget,
                             quiet=True).to_pandas()
    runner.clear_cache()
    assert fallback.status.tolist() == usual.status.tolist()
    np.testing.assert_allclose(fallback.final_val_loss, usual.final_val_loss, rtol=1e-4)


def test_the_chunk_program_trains_as_with_xla_default_options():
    """The chunk program is compiled with LLVM's -O1 on a CPU (``CHUNK_COMPILER_OPTIONS``):
    two chunks of it give the statuses (divergence, its step) of the program compiled with
    XLA's defaults exactly, and the parameters, optimizer states and evaluations of the
    configurations that did not diverge up to rounding (the two compile some arithmetic
    differently in the last bit)."""
    budget = sweep.Budget(steps=60, eval_every=20)
    task = sweep_program(sweep.builtin_task(**dict(SETTINGS, hidden=[32])).build({"batch_size": 32}),
                         budget, batch_size=32)
    mesh = engine.mesh_for()
    configs = [{"learning_rate": lr, "seed": s} for lr in (1e-3, 3e-2, 3.0) for s in (0, 1)]
    size = engine.slice_size_for(len(configs), mesh.devices.size, None)
    part = engine.make_slice(configs, ["learning_rate", "seed"], size, task, mesh)
    programs = engine.Programs(task, budget, mesh, blocks=3)
    init = programs.compiled_init(part.hparams)
    lowered = programs.chunk.lower(*programs.abstract(init(part.hparams)),
                                   programs.abstract(part.hparams), np.int32(0), np.int32(1))
    results = []
    for options in (None, engine.CHUNK_COMPILER_OPTIONS):
        chunk = lowered.compile(options)
        carry, rows, _ = chunk(*init(part.hparams), part.hparams, np.int32(0), np.int32(1))
        results.append(chunk(carry, rows, part.hparams, np.int32(1), np.int32(2)))
    (carry, rows, status), (carry_o1, rows_o1, status_o1) = results
    jax.tree_util.tree_map(np.testing.assert_array_equal, status_o1, status)
    assert np.asarray(status[1])[:len(configs)].tolist() == [False] * 4 + [True] * 2  # lr 3.0
    # the diverging configs' last steps are chaotic: their parameters are compared only as
    # far as their statuses go
    close = lambda got, want: np.testing.assert_allclose(np.asarray(got)[:4], np.asarray(want)[:4],
                                                         rtol=1e-4, atol=1e-6)
    jax.tree_util.tree_map(close, (carry_o1, rows_o1), (carry, rows))


def test_the_progress_bar_counts_configs_alive_in_every_slice():
    """Configs alive: those of the running slice not done, plus every config of the slices
    not started yet; the best loss is the smallest finite one seen."""
    bar = runner.Progress(total=100, configs=10, quiet=False)
    bar.start_slice(4)
    bar.update_from(10, 3, {"val_loss": np.array([[0.5, np.nan], [np.inf, 0.25]])})
    assert bar.bar.n == 10 and "alive=9" in bar.bar.postfix and "best=0.25" in bar.bar.postfix
    bar.start_slice(4)
    bar.update_from(10, 4, {"val_loss": np.array([[0.75]])})
    assert "alive=6" in bar.bar.postfix and "best=0.25" in bar.bar.postfix
    bar.close()


def test_per_config_values_are_computed_on_the_host_elementwise():
    """A task's num_steps / batch_size / steps_per_epoch on the stacked hyperparameters:
    an array per configuration, a constant broadcast, anything else refused by name."""
    stacked = {"batch_size": np.array([8, 32, 128], np.int32)}
    budget = sweep.Budget(epochs=2, eval_every=5)
    np.testing.assert_array_equal(
        engine.per_config(lambda h: budget.steps_for(1000, h["batch_size"]), stacked, 3), [250, 62, 14])
    np.testing.assert_array_equal(engine.per_config(lambda h: 7, stacked, 3), [7, 7, 7])

    def steps_by_layer(h):
        return np.stack([h["batch_size"], h["batch_size"]])
    with pytest.raises(ValueError, match=r"steps_by_layer gave shape \(2, 3\) for 3"):
        engine.per_config(steps_by_layer, stacked, 3)


def test_a_static_seed_draws_as_a_traced_one():
    """A seed made a static axis (a bucket per seed) seeds its configurations as a traced
    seed does: not seed 0 for every bucket."""
    grid = sweep.Grid(learning_rate=[0.1], batch_size=[32], seed=[0, 1])
    budget = sweep.Budget(steps=20, eval_every=10)
    task = sweep.builtin_task(**SETTINGS)
    traced = sweep.run(task, grid, budget=budget, quiet=True).to_pandas()
    static = sweep.run(task, grid, budget=budget, static=("seed",), quiet=True).to_pandas()
    assert traced.final_val_loss[0] != traced.final_val_loss[1]
    np.testing.assert_allclose(static.final_val_loss, traced.final_val_loss, rtol=1e-5)


@pytest.mark.slow  # four runs of SEARCH_SCRIPT, three of them in two processes
def test_two_processes_killed_in_halving_and_pbt_resume_from_their_checkpoints(tmp_path):
    """Two processes killed right after a halving sweep's first rung checkpoint, rerun into
    its folder and killed in a PBT sweep after an exploit round, rerun again: each sweep
    goes on from the writer's checkpoint (read by it, sent to the other process) to the
    results of one process with two devices, uninterrupted, bit for bit, training fewer
    configuration-steps than a whole run.  A random search in the folder is rerun with a
    sampler that now draws other points: it runs the draws the manifest stored."""
    def run(folder: str, processes: int, killed: str, redraw: str = "draw") -> list:
        return _run_processes(tmp_path, tmp_path / folder, processes=processes,
                              devices_each=2 // processes, script=SEARCH_SCRIPT,
                              args=[killed, redraw])
    (one,) = run("one", 1, "none")
    first = run("two", 2, "halving")            # killed at the halving's first rung
    second = run("two", 2, "pbt", "redraw")     # the halving resumed; killed in the PBT
    third = run("two", 2, "none", "redraw")     # the PBT resumed; the halving read
    assert all(p["sent_exact"] for p in [one] + first)
    assert [(p["killed"], "halved" in p) for p in first] == [("halving", False)] * 2
    assert [(p["killed"], "pbt" in p) for p in second] == [("pbt", False)] * 2
    assert sorted(one["rung"]) == [-1] * 4 + [0] * 5 + [1] * 3  # it pruned at both rungs
    assert {e["step"] for e in one["events"]} == {20, 40}  # events before and after the kill
    for printed in first + second + third:  # the stored draws, not the sampler's new ones
        assert printed["drawn"] == one["drawn"]
        np.testing.assert_array_equal(printed["drawn_loss"], one["drawn_loss"])
    for printed in second + third:
        np.testing.assert_array_equal(printed["halved"], one["halved"])
        assert printed["status"] == one["status"] and printed["rung"] == one["rung"]
    for printed in second:
        assert 0 < printed["halved_steps"] < one["halved_steps"]
    for printed in third:
        np.testing.assert_array_equal(printed["pbt"], one["pbt"])
        assert printed["events"] == one["events"]
        assert 0 < printed["pbt_steps"] < one["pbt_steps"]
        assert printed["halved_steps"] == 0  # its results read from the checkpoint
    assert sweep.load(tmp_path / "two" / "halved").manifest["resumes"] == 2
    assert sweep.load(tmp_path / "two" / "pbt").manifest["resumes"] == 1


def test_a_finished_sweep_rerun_reads_its_tables_and_compiles_nothing(tmp_path):
    """A finished sweep rerun into its folder with its own spec: the tables it wrote, no
    program compiled or run (no task or program cached either); a PBT sweep's exploit
    events, which its schedules need, are kept."""
    import pandas as pd
    budget = sweep.Budget(steps=40, eval_every=10)
    grid = sweep.Grid(learning_rate=[0.01, 0.1, 0.5, 50.0], seed=[0, 1], batch_size=[32])
    options = dict(budget=budget, out=tmp_path / "pbt", quiet=True,
                   pbt=sweep.PBT(interval=20, seed=0))
    first = sweep.run(sweep.builtin_task(**SETTINGS), grid, **options)
    assert first.manifest["pbt"]["events"]
    runner.clear_cache()
    compiles = sweep.chunk_compiles()
    again = sweep.run(sweep.builtin_task(**SETTINGS), grid, **options)
    assert sweep.chunk_compiles() == compiles
    assert again.manifest["timings"]["config_steps"] == 0 and again.manifest["resumes"] == 1
    pd.testing.assert_frame_equal(again.to_pandas(), first.to_pandas())
    pd.testing.assert_frame_equal(again.curves_frame, first.curves_frame)
    assert again.manifest["pbt"] == first.manifest["pbt"]
    replaced = first.manifest["pbt"]["events"][0]["config"]
    pd.testing.assert_frame_equal(again.schedule(replaced), first.schedule(replaced))
    assert sweep.load(tmp_path / "pbt").manifest["pbt"] == first.manifest["pbt"]
