"""The package stands alone: jopt's wheel, installed without the clone, runs its command.

The test builds the wheel from a copy of what the wheel is made of (``pyproject.toml``,
``README.md``, ``jopt/``: the clone gets no ``build/`` folder), installs it with
``pip --no-index --no-deps`` into a new virtual environment in a temporary folder, and
runs ``jopt --help`` and the smoke sweep there, from a folder outside the clone.  No
network: the new environment finds jax, numpy and the optional dependencies in this
environment's site-packages (listed in a ``.pth`` file, which appends them to its path;
the packages installed in the new environment come first, and an editable jopt of this
environment is not activated, since ``.pth`` files of appended folders are not read).
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(command, cwd, timeout=300):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "XLA_FLAGS", "PYTHONHOME", "VIRTUAL_ENV")}
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def site_packages() -> list[str]:
    """This environment's folders of installed packages (not the clone, not an editable path)."""
    folders = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    folders += [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    return list(dict.fromkeys(p for p in folders if Path(p).is_dir()))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(venv_bin, outside)``: a new environment with jopt's wheel installed, and an empty
    folder outside the clone to run it in."""
    tmp = tmp_path_factory.mktemp("package")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "jopt", source / "jopt", ignore=shutil.ignore_patterns("__pycache__"))
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                 "--no-build-isolation", "--wheel-dir", tmp / "dist", source], cwd=tmp)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("jopt-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        files = archive.namelist()
    assert "jopt/configs/smoke.toml" in files and "jopt/configs/default.toml" in files
    assert "jopt/py.typed" in files and "jopt/sweep/runner.py" in files
    assert not [f for f in files if f.split("/")[0] in ("experiments", "tests", "notebooks")]

    venv = tmp / "venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  cwd=tmp).stdout.strip()
    Path(purelib, "outer-environment.pth").write_text("\n".join(site_packages()) + "\n")
    # --ignore-installed: pip sees this environment's jopt through the .pth file and must not
    # try to replace it (it would refuse anyway: it is outside the new environment)
    done = run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index",
                "--no-deps", "--ignore-installed", wheel], cwd=tmp)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    outside = tmp / "outside"
    outside.mkdir()
    return venv / "bin", outside


def test_the_installed_package_is_the_wheel_and_has_no_experiments(installed):
    bin_dir, outside = installed
    done = run([bin_dir / "python", "-c", "import jopt, jopt.sweep; print(jopt.__file__)\n"
                "import importlib.util; print(importlib.util.find_spec('experiments'))"],
               cwd=outside)
    assert done.returncode == 0, done.stderr
    where, experiments = done.stdout.split()
    assert Path(where).is_relative_to(bin_dir.parent), where  # not the clone's jopt
    assert experiments == "None"


def test_jopt_help_lists_what_the_package_can_do(installed):
    bin_dir, outside = installed
    done = run([bin_dir / "jopt", "--help"], cwd=outside)
    assert done.returncode == 0, done.stderr
    commands = done.stdout.split("positional arguments:")[1].split("options:")[0]
    assert "sweep" in commands and "plot" in commands
    assert "figures" not in commands and "bench" not in commands


def test_the_smoke_sweep_runs_from_a_folder_outside_the_clone(installed):
    bin_dir, outside = installed
    done = run([bin_dir / "jopt", "sweep", "smoke", "--quiet", "--out", "smoke"], cwd=outside)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best 5 of 8 configurations" in done.stdout
    out = outside / "smoke"
    for name in ("manifest.json", "summary.parquet", "curves.parquet", "curves.png",
                 "heatmap.png"):
        assert (out / name).is_file(), name
    plotted = run([bin_dir / "jopt", "plot", "smoke"], cwd=outside)
    assert plotted.returncode == 0, plotted.stderr
    assert sorted(p.name for p in outside.iterdir()) == ["smoke"]


def test_the_devices_module_imports_no_jax():
    """``jopt/devices.py`` can be imported before anything starts JAX (it imports none)."""
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('devices', {str(ROOT / 'jopt' / 'devices.py')!r})\n"
            "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
            "print('jax' in sys.modules)")
    done = run([sys.executable, "-c", code], cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr


def test_a_config_name_is_a_file_here_else_a_shipped_config(tmp_path, monkeypatch):
    from jopt import configs
    assert {"default", "smoke", "search"} <= set(configs.names())
    assert configs.resolve("smoke") == configs.path("smoke") == configs.FOLDER / "smoke.toml"
    assert configs.resolve("default.toml") == configs.FOLDER / "default.toml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke.toml").write_text("[task]\n")
    assert configs.resolve("smoke.toml") == Path("smoke.toml")  # the file here wins
    assert configs.resolve("nope") == Path("nope")  # the reader says it does not exist
    assert configs.resolve("sub/default.toml") == Path("sub/default.toml")  # a path stays one
    with pytest.raises(KeyError, match="shipped: .*default.*smoke"):
        configs.path("nope")


def test_the_readme_commands_are_what_ci_and_the_package_run():
    """The README's first command sweeps a config the package ships; its second is what
    ``.ci/run`` runs (in a fresh venv in a temporary folder)."""
    from jopt import configs
    block = (ROOT / "README.md").read_text().split("```")[1].strip().splitlines()
    sweep_line, test_line = block
    config = sweep_line.split("jopt sweep ")[1].split()[0]
    assert configs.resolve(config) == configs.path(config)
    create, install, test = test_line.split(" && ")
    assert create == "python3 -m venv .venv"
    ci = (ROOT / ".ci" / "run").read_text()
    ran = [line.split(" || ")[0] for line in ci.splitlines() if line.startswith('"$venv/bin/')]
    assert ran == [step.replace(".venv/bin/pip", '"$venv/bin/pip"')
                   .replace(".venv/bin/python", '"$venv/bin/python"') for step in (install, test)]
