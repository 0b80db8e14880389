"""The ``jopt`` command line (also ``python -m jopt``).

    jopt sweep CONFIG.toml [--out DIR] [--overwrite] [--quiet]
                           [--compile-cache DIR | --no-compile-cache]
    jopt sweep default | smoke         (the configs shipped with jopt, in jopt/configs/)
    jopt plot DIR [--metric NAME]

The command offers what the installed package can do on its own; the lecture figures and
the benchmarks are scripts of the repository (``python -m experiments.figures``,
``python -m experiments.bench``).

``jopt sweep`` validates the config file (a bad one: one line ``jopt: error: ...`` on
stderr, exit status 2, nothing written), runs the sweep into DIR (``--out``, else the
config's ``[run] out``, else ``results/<config name>``), prints the best configurations
and writes the plots.  Re-running the same command resumes an interrupted sweep; a
different config in a used folder is refused (exit status 2) unless ``--overwrite``.
Compiled programs are kept in a cache folder (``--compile-cache DIR``,
:func:`jopt.devices.default_cache_dir`), so that a later sweep of the same programs
starts without compiling; ``--no-compile-cache`` turns that off.

Every core of a CPU.  XLA runs a CPU program on one device, and a sweep's configs are
sharded over the devices, so ``jopt sweep`` asks XLA for one host device per core by
setting ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` before JAX starts,
unless ``XLA_FLAGS`` is already set (then it is left alone: set the flag there yourself).
A library user calls :func:`jopt.devices.use_every_core` before the first JAX
computation.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Optional, Sequence

from jopt import configs
from jopt.devices import default_cache_dir, use_compilation_cache, use_every_core

__all__ = ["main", "use_every_core"]

PROG = "jopt"
EXIT_USAGE = 2



def _error(message: str, status: int = EXIT_USAGE) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return status


# ----------------------------------------------------------------------------
# jopt sweep
# ----------------------------------------------------------------------------


def _ranking(result) -> tuple:
    """``(metric, mode)`` the table ranks by: the search's (successive halving's or PBT's,
    e.g. an accuracy, highest first), else the validation loss, else the training loss;
    ``(None, None)`` when the summary holds none of them."""
    summary = result.summary
    searched = [(s["metric"], s.get("mode", "min")) for s in
                (result.manifest.get(name) for name in ("halving", "pbt")) if s]
    for metric, mode in searched + [("val_loss", "min"), ("train_loss", "min")]:
        if f"final_{metric}" in summary.columns and summary[f"final_{metric}"].notna().any():
            return metric, mode
    return None, None


def _best_table(result, n: int = 5) -> str:
    summary = result.summary
    metric, mode = _ranking(result)
    if metric is None:
        return "no finished configuration with a final loss"
    best = result.best(metric, n=n, mode=mode)
    columns = ["config", *result.axes]
    columns += [c for c in (f"final_{metric}", "final_val_accuracy", f"best_{metric}", "status",
                            "rung", "exploits", "parent")
                if c in summary.columns and c not in columns]
    table = best[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}")
    if "exploits" in summary.columns:  # PBT: the axis columns hold the initial values
        table += ("\n(population-based training: the hyperparameter columns are each "
                  "configuration's initial values; jopt.sweep.load(OUT).schedule(config) "
                  "gives the schedule that trained it)")
    counts = ""
    if "status" in summary.columns:
        tally = summary["status"].value_counts()
        counts = " (" + ", ".join(f"{int(k)} {s}" for s, k in tally.items()) + ")"
    highest = " (highest first)" if mode == "max" else ""
    header = (f"best {len(best)} of {len(summary)} configurations{counts}, "
              f"by final {metric.replace('_', ' ')}{highest}:")
    return f"{header}\n{table}"


def _distributed_options(args: argparse.Namespace) -> Optional[str]:
    """What is wrong with ``--coordinator``, ``--num-processes`` and ``--process-id``
    (given all together, or none), or None."""
    given = [args.coordinator, args.num_processes, args.process_id]
    if all(value is None for value in given):
        return None
    names = ("--coordinator", "--num-processes", "--process-id")
    missing = [name for name, value in zip(names, given) if value is None]
    if missing:
        return (f"{', '.join(missing)} missing: --coordinator, --num-processes and "
                "--process-id go together")
    if args.num_processes < 1:
        return f"--num-processes must be at least 1, got {args.num_processes}"
    if not 0 <= args.process_id < args.num_processes:
        return (f"--process-id must be in 0..{args.num_processes - 1} "
                f"(--num-processes {args.num_processes}), got {args.process_id}")
    if not args.coordinator.rpartition(":")[2].isdigit():
        return f"--coordinator must be HOST:PORT, got {args.coordinator!r}"
    return None


def _start_processes(args: argparse.Namespace) -> None:
    """``jax.distributed.initialize`` for a sweep over several processes (hosts): with
    the three flags, or ``--distributed`` alone (the cluster's environment: SLURM, Open
    MPI, Kubernetes, Cloud TPU).  On CPUs the processes gather results over gloo."""
    if args.coordinator is None and not args.distributed:
        return
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if args.coordinator is None:
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(args.coordinator, num_processes=args.num_processes,
                                   process_id=args.process_id)


def _cache_compiled_programs(args: argparse.Namespace) -> Optional[str]:
    """Turn on the compilation cache (:func:`jopt.devices.use_compilation_cache`) unless
    ``--no-compile-cache``: a problem with ``--compile-cache DIR`` is an error (the line);
    with the default folder, a warning, and the sweep compiles as without a cache."""
    if args.no_compile_cache:
        return None
    try:
        with warnings.catch_warnings(record=True) as warned:  # each one line, as ours
            warnings.simplefilter("always")
            use_compilation_cache(args.compile_cache)
        for warning in warned:
            print(f"{PROG}: warning: {warning.message}", file=sys.stderr)
    except OSError as error:
        if args.compile_cache is not None:
            return f"--compile-cache {args.compile_cache}: {error.strerror or error}"
        print(f"{PROG}: warning: no compilation cache ({default_cache_dir()}: "
              f"{error.strerror or error}); compiling every program", file=sys.stderr)
    return None


def _sweep(args: argparse.Namespace) -> int:
    use_every_core()  # before anything starts a JAX backend
    problem = _distributed_options(args)
    if problem is not None:
        return _error(problem)
    _start_processes(args)
    from jopt.sweep.config import ConfigError, from_toml, run_config
    from jopt.sweep.store import SpecMismatchError
    from jopt.sweep.tasks import TaskError
    path = configs.resolve(args.config)
    if not path.exists():
        return _error(f"{args.config}: no such config file, nor a config shipped with jopt "
                      f"({', '.join(configs.names())})")
    try:
        config = from_toml(path)
    except ConfigError as error:
        return _error(error)
    out = Path(args.out or config.options.get("out") or Path("results") / Path(args.config).stem)
    if out.exists() and not out.is_dir():
        return _error(f"--out {out}: a file, not a folder for sweep results")
    problem = _cache_compiled_programs(args)
    if problem is not None:
        return _error(problem)
    try:
        result = run_config(config, out=out, overwrite=args.overwrite,
                            quiet=True if args.quiet else None)
    except (SpecMismatchError, TaskError) as error:
        return _error(error)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; partial results in {out}; run the same command again "
              f"to resume", file=sys.stderr)
        return 130

    import jax
    if jax.process_index() > 0:  # process 0 prints, writes the results and draws the plots
        return 0
    print(_best_table(result))
    print(f"results: {out / 'summary.parquet'}, {out / 'curves.parquet'} "
          f"(jopt.sweep.load({str(out)!r}))")
    from jopt.plot import plot_sweep
    plots = plot_sweep(out)
    if plots:
        print("plots: " + ", ".join(str(p) for p in plots))
    return 0


# ----------------------------------------------------------------------------
# jopt plot
# ----------------------------------------------------------------------------


def _plot(args: argparse.Namespace) -> int:
    from jopt.plot import plot_sweep
    try:
        plots = plot_sweep(args.dir, metric=args.metric)
    except (FileNotFoundError, ValueError) as error:
        return _error(error)
    for path in plots:
        print(path)
    return 0 if plots else 1


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="jopt: vectorized hyperparameter sweeps and their plots.",
        epilog="On a CPU, 'jopt sweep' sets XLA_FLAGS=--xla_force_host_platform_device_count="
               "<cores> unless XLA_FLAGS is set, so that a sweep uses every core.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sweep = commands.add_parser("sweep", help="run the sweep of a TOML config file",
                                description="Run the sweep of a TOML config file; re-running "
                                            "resumes it.")
    sweep.add_argument("config", metavar="CONFIG.toml",
                       help="the config file, or the name of a config shipped with jopt: "
                            + ", ".join(configs.names()))
    sweep.add_argument("--out", metavar="DIR",
                       help="output folder (default: [run] out, else results/<config name>)")
    sweep.add_argument("--overwrite", action="store_true",
                       help="replace the results of a different config in DIR")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    cache = sweep.add_mutually_exclusive_group()
    cache.add_argument("--compile-cache", metavar="DIR",
                       help="keep compiled programs in DIR, so a later run of the same "
                            "programs loads them instead of compiling (default: "
                            "$JOPT_CACHE_DIR, else $XDG_CACHE_HOME/jopt/xla, else "
                            "~/.cache/jopt/xla)")
    cache.add_argument("--no-compile-cache", action="store_true",
                       help="compile every program, keep none")
    several = sweep.add_argument_group(
        "several processes (hosts)", "each process runs the same command on its devices' "
        "share of the configurations; process 0 writes DIR and prints")
    several.add_argument("--coordinator", metavar="HOST:PORT",
                         help="process 0's address (jax.distributed.initialize)")
    several.add_argument("--num-processes", type=int, metavar="N", help="how many processes")
    several.add_argument("--process-id", type=int, metavar="I", help="this process, 0..N-1")
    several.add_argument("--distributed", action="store_true",
                         help="take the three from the cluster's environment (SLURM, Open MPI, "
                              "Kubernetes, Cloud TPU)")
    sweep.set_defaults(run=_sweep)

    plot = commands.add_parser("plot", help="draw the plots of a sweep's output folder")
    plot.add_argument("dir", metavar="DIR", help="the sweep's output folder")
    plot.add_argument("--metric", default=None,
                      help="the curve and heatmap metric (default: val_loss, else train_loss)")
    plot.set_defaults(run=_plot)

    return parser


@contextlib.contextmanager
def _warnings_as_lines():
    """Warnings printed as the command's other messages, ``jopt: warning: MESSAGE``, not as
    Python's file, line and source line (a Sobol ``n`` that is not a power of two, ...)."""
    shown = warnings.formatwarning
    warnings.formatwarning = lambda message, *_, **__: f"{PROG}: warning: {message}\n"
    try:
        yield
    finally:
        warnings.formatwarning = shown


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``jopt`` command line with ``argv`` (default ``sys.argv[1:]``); the exit status."""
    args = _parser().parse_args(argv)
    try:
        with _warnings_as_lines():
            status = args.run(args)
        sys.stdout.flush()  # inside the try: a closed pipe fails here, not at exit
        return status
    except BrokenPipeError:
        # the reader of stdout left (``jopt sweep ... | head``): stop quietly, as Unix tools
        # do; what the sweep wrote to its folder is complete (atomic writes)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
