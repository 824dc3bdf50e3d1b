"""Run a sweep: points in parallel, each result saved atomically, then one tidy table.

Layout of the output folder::

    <out>/sweep.json            the configuration last run here (name, runner, points)
    <out>/points/<key>.json     one finished point: params, seed, metrics, run metadata
    <out>/results.csv           the tidy table (one row per point, config order)
    <out>/results.parquet       the same, if pyarrow is installed
    <out>/plots/*.png           standard plots (metric vs parameter, mean +- sd over seeds)

**Resuming.** A point's file name is a hash of runner, parameters and seed; a point
whose file exists and holds every requested metric is not run again. Files are written
with :func:`biolstm.fileio.atomic_writer` by the driver as soon as a point finishes, so
an interrupted sweep (Ctrl-C, SIGKILL, a lost node) loses at most the points that were
running, and rerunning the same command finishes the rest. The table is rebuilt from
the point files every time, so it does not depend on how often the sweep was interrupted.

**Parallelism.** ``workers=1`` runs points in this process; ``workers=N`` uses N
local processes (``concurrent.futures`` with the spawn start method, so torch and
Brian2 start clean in each); ``scheduler="tcp://host:8786"`` sends the points to a Dask
distributed cluster. Workers only compute and return plain dictionaries; the driver
writes every file, so workers need no shared file system (they do need biolstm and
the config's plugin modules installed).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from biolstm.fileio import DEFAULT_OUTPUT, atomic_write_text, atomic_writer, default_output_dir
from biolstm.studies.config import Point, SweepConfig, SweepError, expand_points, load_config
from biolstm.studies.registry import get_metric, get_runner, import_plugins

__all__ = ["SweepResult", "run_sweep", "run_point", "collect", "load_table", "POINTS_DIR"]

POINTS_DIR = "points"
META_PREFIX = "meta_"
DASK_CONNECT_TIMEOUT = "20s"
"""How long to wait for a Dask scheduler before giving up."""


@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per finished point: ``point``, ``key``, ``seed``, every runner
        parameter, every metric column, and ``meta_*`` run metadata.
    out_dir : Path
    param_columns, metric_columns, meta_columns : list of str
    n_points, n_run, n_skipped : int
        Points in the sweep, run now, and found finished from an earlier run.
    failures : dict of point key to traceback text
    files : list of Path
        Tables and plots written.
    wall_s : float
    """

    table: Any
    out_dir: Path
    param_columns: list[str]
    metric_columns: list[str]
    meta_columns: list[str]
    n_points: int
    n_run: int
    n_skipped: int
    failures: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    wall_s: float = 0.0


def _versions() -> dict[str, str]:
    import numpy

    import biolstm

    out = {"python": platform.python_version(), "biolstm": biolstm.__version__,
           "numpy": numpy.__version__}
    for mod in ("brian2", "torch"):
        if mod in sys.modules:
            out[mod] = getattr(sys.modules[mod], "__version__", "?")
    return out


def _plain_metric(name: str, value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"metric column {name!r} has a {type(value).__name__} value; metrics must "
                    f"return plain numbers, booleans or short strings")


def run_point(point: Mapping[str, Any], metrics: list[str], plugins: list[str]) -> dict[str, Any]:
    """Run one point and compute its metrics; never raises (errors are returned).

    ``point`` is ``{"key", "index", "runner", "params", "seed"}`` (plain data, so it
    travels to a process or a Dask worker). Returns the record written to the point
    file: ``key``, ``runner``, ``params``, ``seed``, ``metrics`` (column -> value),
    ``metric_names``, ``meta`` (wall time, host, pid, UTC start, versions) and
    ``error`` (a traceback, or None).
    """
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    values: dict[str, Any] = {}
    error = None
    try:
        import_plugins(plugins)
        runner = get_runner(point["runner"])
        out = runner.fn(dict(point["params"]), int(point["seed"]))
        values.update(out.metrics)
        for name in metrics:
            values.update(get_metric(name).fn(out, dict(point["params"])))
        values = {k: _plain_metric(k, v) for k, v in values.items()}
    except Exception:  # a failed point is reported, the sweep goes on
        error = traceback.format_exc()
        values = {}
    meta = {"wall_s": time.perf_counter() - t0, "host": socket.gethostname(), "pid": os.getpid(),
            "started_utc": started, **{f"version_{k}": v for k, v in _versions().items()}}
    return {"key": point["key"], "runner": point["runner"], "params": dict(point["params"]),
            "seed": int(point["seed"]), "metrics": values, "metric_names": list(metrics),
            "meta": meta, "error": error}


def _point_path(out_dir: Path, key: str) -> Path:
    return out_dir / POINTS_DIR / f"{key}.json"


def _read_point(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _finished(out_dir: Path, point: Point, metrics: list[str]) -> bool:
    rec = _read_point(_point_path(out_dir, point.key))
    return (rec is not None and rec.get("error") is None and rec.get("seed") == point.seed
            and rec.get("params") == point.params and set(metrics) <= set(rec.get("metric_names", [])))


def _claim(out_dir: Path, cfg: SweepConfig, points: list[Point], overwrite: bool) -> None:
    """Write ``sweep.json``; refuse a folder that holds a different sweep unless asked."""
    path = out_dir / "sweep.json"
    if path.exists() and not overwrite:
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
        if (old.get("config", {}).get("name"), old.get("config", {}).get("runner")) != (cfg.name, cfg.runner):
            raise SweepError(
                f"{out_dir} holds the sweep {old.get('config', {}).get('name')!r} (runner "
                f"{old.get('config', {}).get('runner')!r}); choose another --out folder or pass "
                f"overwrite=True (--overwrite) to share it")
    record = {"config": cfg.identity(), "plot": cfg.plot, "plugins": cfg.plugins,
              "source": portable_source(cfg.source), "points": [p.key for p in points]}
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True), overwrite=True)


def _save_point(out_dir: Path, record: dict[str, Any]) -> None:
    path = _point_path(out_dir, record["key"])
    # Replacing is safe: a file under the same key holds the same computation, or is an
    # unreadable/incomplete leftover that must go.
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True), overwrite=True)


def _executor_results(todo: list[Point], metrics: list[str], plugins: list[str], workers: int,
                      scheduler: str | None) -> Iterator[dict[str, Any]]:
    payload = [{"key": p.key, "index": p.index, "runner": p.runner, "params": p.params,
                "seed": p.seed} for p in todo]
    if scheduler:
        try:
            from distributed import Client
            from distributed import as_completed as dask_completed
        except ImportError:
            raise SweepError("--scheduler needs Dask distributed: pip install 'dask[distributed]'") from None
        try:
            client = Client(scheduler, set_as_default=False, timeout=DASK_CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler!r} ({err}); start one "
                             f"with 'dask scheduler' and workers with 'dask worker {scheduler}'") from None
        try:
            from biolstm.studies._dask import PrepareWorker

            client.register_plugin(PrepareWorker(plugins))
            futures = [client.submit(run_point, p, metrics, plugins, key=f"biolstm-point-{p['key']}",
                                     pure=False) for p in payload]
            for fut in dask_completed(futures, loop=client.loop):
                yield fut.result()
        finally:
            client.close()
        return
    if workers <= 1:
        for p in payload:
            yield run_point(p, metrics, plugins)
        return
    import multiprocessing

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_end_with_parent, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(run_point, p, metrics, plugins) for p in payload]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            for fut in futures:
                fut.cancel()
            raise


PARENT_POLL_S = 0.5
"""How often a local worker checks that the driver still runs (where prctl is missing)."""


def _end_with_parent(parent_pid: int) -> None:
    """Initializer of every local worker: end it when the driver process ends.

    A driver killed with SIGKILL cannot shut its pool down, and its workers would run
    (and keep the multiprocessing resource tracker alive) until their points finish.
    On Linux the kernel sends the worker SIGKILL when its parent dies
    (``prctl(PR_SET_PDEATHSIG)``, man 2 prctl); elsewhere, and as a fallback, a daemon
    thread polls ``os.getppid()`` every :data:`PARENT_POLL_S` seconds and exits the
    worker once the driver is gone. Once the workers are gone the resource tracker
    sees its pipe close and exits too.
    """
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the polling thread below still ends the worker
    if os.getppid() != parent_pid:  # the driver died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="biolstm-parent-watch", daemon=True).start()


def _default_workers(n_todo: int) -> int:
    from biolstm.brian.backends import usable_cpus

    return max(1, min(usable_cpus(), n_todo))


def resolve(config: SweepConfig | Mapping[str, Any] | str | os.PathLike) -> SweepConfig:
    """A :class:`SweepConfig` from a config object, a mapping or a file path."""
    if isinstance(config, SweepConfig):
        return config
    if isinstance(config, Mapping):
        return SweepConfig.from_mapping(config)
    return load_config(config)


def output_folder(cfg: SweepConfig, out: str | os.PathLike | None, *, create: bool = False) -> Path:
    """``out``, else the config's ``out``, else ``biolstm-out/sweeps/<name>``.

    The default lies in the working directory (:func:`biolstm.fileio.default_output_dir`,
    created only with ``create``), never in biolstm's committed ``results/``
    (``scripts/studies_results.py`` writes those with an explicit ``out``).
    """
    if out or cfg.out:
        return Path(out or cfg.out)
    if create:
        return default_output_dir("sweeps", cfg.name)
    return DEFAULT_OUTPUT / "sweeps" / cfg.name


def portable_source(source: str | None) -> str | None:
    """``source`` (a config file path) without this machine's folders, for files others read.

    A shipped example becomes ``biolstm/data/sweeps/<file>``, a file under the working
    directory its relative path, anything else its file name.
    """
    if not source:
        return source
    path = Path(source).resolve()
    package = Path(__file__).resolve().parents[1]
    for base, prefix in ((package, Path("biolstm")), (Path.cwd().resolve(), Path())):
        try:
            return (prefix / path.relative_to(base)).as_posix()
        except ValueError:
            continue
    return path.name


def run_sweep(
    config: SweepConfig | Mapping[str, Any] | str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    plots: bool = True,
) -> SweepResult:
    """Run every unfinished point of a sweep and collect the table.

    Parameters
    ----------
    config : SweepConfig, mapping or path
        The sweep (a ``.toml``/``.yaml`` file path, its parsed content, or a config).
    out : path, optional
        Output folder (default: the config's ``out``, else ``biolstm-out/sweeps/<name>``
        in the working directory).
    workers : int, optional
        Local worker processes (default: the CPUs available, at most the points to
        run; 1 runs in this process). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:port``).
    progress : bool
        Show a progress bar over points.
    overwrite : bool
        Allow a folder that holds another sweep (its point files are kept).
    plots : bool
        Write the standard plots.

    Returns
    -------
    SweepResult
    """
    t_start = time.perf_counter()
    cfg = resolve(config)
    import_plugins(cfg.plugins)
    runner = get_runner(cfg.runner)
    metrics = list(cfg.metrics or runner.metrics)
    for name in metrics:
        missing = get_metric(name).missing()
        if missing:
            raise SweepError(f"metric {name!r} needs the module(s) {missing}, which cannot be "
                             f"imported here; install that part of biolstm or drop the metric")
    points = expand_points(cfg, runner.defaults)
    out_dir = output_folder(cfg, out, create=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    _claim(out_dir, cfg, points, overwrite)
    todo, seen = [], set()
    for p in points:
        if p.key not in seen and not _finished(out_dir, p, metrics):
            todo.append(p)
        seen.add(p.key)
    n_skipped = len(seen) - len(todo)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(seen), initial=n_skipped, desc=f"sweep {cfg.name}", unit="point")
    failures: dict[str, str] = {}
    n_workers = workers if workers is not None else _default_workers(len(todo))
    try:
        if todo:
            for record in _executor_results(todo, metrics, cfg.plugins, n_workers, scheduler):
                if record["error"] is None:
                    _save_point(out_dir, record)
                else:
                    failures[record["key"]] = record["error"]
                if bar is not None:
                    bar.update(1)
                    if failures:
                        bar.set_postfix(failed=len(failures))
    finally:
        if bar is not None:
            bar.close()
    result = collect(out_dir, cfg, points, metrics)
    result.n_run = len(todo) - len(failures)
    result.n_skipped = n_skipped
    result.failures = failures
    result.files = _write_tables(result)
    if plots and len(result.table):
        from biolstm.studies.plots import plot_sweep

        result.files += plot_sweep(result.table, cfg, result.param_columns, result.metric_columns,
                                   out_dir / "plots")
    result.wall_s = time.perf_counter() - t_start
    return result


def collect(out_dir: str | os.PathLike, cfg: SweepConfig, points: list[Point] | None = None,
            metrics: list[str] | None = None) -> SweepResult:
    """Build the tidy table from the point files of ``cfg`` found in ``out_dir``."""
    import pandas as pd

    out_dir = Path(out_dir)
    runner = get_runner(cfg.runner)
    if points is None:
        points = expand_points(cfg, runner.defaults)
    metrics = list(metrics if metrics is not None else (cfg.metrics or runner.metrics))
    rows, metric_cols, meta_cols = [], [], []
    param_cols = list(runner.defaults)
    for p in points:
        if not _finished(out_dir, p, metrics):
            continue
        rec = _read_point(_point_path(out_dir, p.key))
        for col in rec["metrics"]:
            if col not in metric_cols:
                metric_cols.append(col)
        for col in rec["meta"]:
            if META_PREFIX + col not in meta_cols:
                meta_cols.append(META_PREFIX + col)
        clash = sorted(set(rec["metrics"]) & (set(param_cols) | {"point", "key", "seed"}))
        if clash:
            raise SweepError(f"metric column(s) {clash} have the name of a parameter; rename the metric")
        rows.append({"point": p.index, "key": p.key, "seed": p.seed, **p.params, **rec["metrics"],
                     **{META_PREFIX + k: v for k, v in rec["meta"].items()}})
    columns = ["point", "key", "seed", *param_cols, *metric_cols, *meta_cols]
    table = pd.DataFrame(rows, columns=columns)
    return SweepResult(table=table, out_dir=out_dir, param_columns=param_cols,
                       metric_columns=metric_cols, meta_columns=meta_cols,
                       n_points=len({p.key for p in points}), n_run=0, n_skipped=0)


def _write_tables(result: SweepResult) -> list[Path]:
    files = []
    path = result.out_dir / "results.csv"
    with atomic_writer(path, overwrite=True, mode="w") as fh:
        result.table.to_csv(fh, index=False)
    files.append(path)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return files
    path = result.out_dir / "results.parquet"
    with atomic_writer(path, overwrite=True) as fh:
        result.table.to_parquet(fh, index=False)
    files.append(path)
    return files


def load_table(out_dir: str | os.PathLike):
    """Read ``results.parquet`` (if present) or ``results.csv`` of a sweep folder."""
    import pandas as pd

    out_dir = Path(out_dir)
    if (out_dir / "results.parquet").exists():
        return pd.read_parquet(out_dir / "results.parquet")
    if (out_dir / "results.csv").exists():
        return pd.read_csv(out_dir / "results.csv")
    raise SweepError(f"{out_dir} has no results.csv; run the sweep first")
