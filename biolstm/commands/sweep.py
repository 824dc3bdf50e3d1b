"""``biolstm sweep CONFIG``: run a parameter study and collect one table.

Examples::

    biolstm sweep biolstm/data/sweeps/ahp_adaptation.toml          # local processes
    biolstm sweep study.yaml --out studies/mine --workers 4
    biolstm sweep study.toml --scheduler tcp://10.0.0.5:8786        # a Dask cluster
    biolstm sweep --example ahp_adaptation                          # a shipped example
    biolstm sweep --list                                            # runners and metrics

Rerunning the same command after an interrupt runs only the points that are missing.
"""

from __future__ import annotations

import argparse

from biolstm.commands.argtypes import positive_int

__all__ = ["add_arguments", "run"]

BRIAN2_PYLAB = False
"""This command runs no user Brian2 script: its Brian2 import skips pylab (biolstm.cli)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="sweep configuration (.toml, .yaml or .yml)")
    parser.add_argument("--example", metavar="NAME",
                        help="run a shipped example config instead (e.g. ahp_adaptation, fi_curve)")
    parser.add_argument("--out", help="output folder (default: the config's 'out', else "
                                      "biolstm-out/sweeps/<name> in the working directory)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="local worker processes (default: available CPUs; 1 = in this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a Dask distributed cluster, e.g. tcp://host:8786")
    parser.add_argument("--overwrite", action="store_true",
                        help="allow an output folder that holds another sweep")
    parser.add_argument("--no-plots", action="store_true", help="do not write the standard plots")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--dry-run", action="store_true",
                        help="list the points and which are finished, run nothing")
    parser.add_argument("--list", action="store_true", help="list runners and metrics, then exit")


def _list() -> int:
    from biolstm.studies import METRICS, RUNNERS
    from biolstm.studies.registry import import_plugins

    import_plugins([])
    print("Runners (parameter: default):")
    for r in RUNNERS.values():
        print(f"  {r.name}: {r.description}")
        print("    " + ", ".join(f"{k}={v!r}" for k, v in r.defaults.items()))
        print(f"    default metrics: {', '.join(r.metrics)}")
    print("Metrics:")
    for m in METRICS.values():
        needs = f"  [needs {', '.join(m.requires)}]" if m.requires else ""
        missing = "  (NOT AVAILABLE here)" if m.missing() else ""
        print(f"  {m.name}: {m.description}{needs}{missing}")
    return 0


def run(args: argparse.Namespace) -> int:
    from biolstm.commands import UsageError
    from biolstm.studies import example_config, load_config, run_sweep

    if args.list:
        return _list()
    if bool(args.config) == bool(args.example):
        raise UsageError("biolstm sweep: give either CONFIG or --example NAME (see 'biolstm sweep --help')")
    # a SweepError (bad config, folder of another sweep, ...) reaches biolstm.cli.main: one line, exit 2
    cfg = load_config(args.config or example_config(args.example))
    if args.dry_run:
        return _dry_run(cfg, args.out)
    result = run_sweep(cfg, args.out, workers=args.workers, scheduler=args.scheduler,
                       progress=not args.no_progress, overwrite=args.overwrite,
                       plots=not args.no_plots)
    print(f"sweep {cfg.name}: {result.n_points} points, {result.n_run} run now, "
          f"{result.n_skipped} already finished, {len(result.failures)} failed; "
          f"{result.wall_s:.1f} s")
    if len(result.table):
        wall = result.table["meta_wall_s"]
        print(f"  per point: median {wall.median():.2f} s, total {wall.sum():.1f} s of worker time")
        _print_summary(result, cfg)
    for key, tb in list(result.failures.items())[:3]:
        print(f"  point {key} failed:\n" + "\n".join("    " + line for line in tb.strip().splitlines()[-6:]))
    for path in result.files:
        print(f"  wrote {path}")
    return 1 if result.failures else 0


def _print_summary(result, cfg) -> None:
    import pandas as pd

    table = result.table
    varied = [p for p in result.param_columns if table[p].nunique() > 1]
    columns = [m for m in (cfg.plot.get("metrics") or result.metric_columns) if m in table.columns]
    numeric = [m for m in columns if pd.api.types.is_numeric_dtype(table[m])][:6]
    if not varied or not numeric:
        return
    summary = table.groupby(varied)[numeric].mean()
    with pd.option_context("display.width", 160, "display.max_columns", 12,
                           "display.float_format", "{:.3g}".format):
        print(f"  mean over seeds:\n{summary.to_string()}")


def _dry_run(cfg, out) -> int:
    from biolstm.studies.config import expand_points
    from biolstm.studies.registry import get_runner, import_plugins
    from biolstm.studies.sweep import _finished, output_folder

    import_plugins(cfg.plugins)
    runner = get_runner(cfg.runner)
    metrics = list(cfg.metrics or runner.metrics)
    points = expand_points(cfg, runner.defaults)
    folder = output_folder(cfg, out)
    done = 0
    for p in points:
        finished = _finished(folder, p, metrics)
        done += finished
        varied = {k: p.params[k] for k in cfg.parameters}
        print(f"  {p.index:4d} {p.key} seed={p.seed} {varied} {'done' if finished else 'todo'}")
    print(f"sweep {cfg.name}: {len(points)} points, {done} finished, output {folder}")
    return 0
