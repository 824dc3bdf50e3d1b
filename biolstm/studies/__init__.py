"""Parameter studies: ``biolstm sweep CONFIG`` and :func:`run_sweep`.

A sweep varies model and network parameters (tau_AHP, AHP strength, fraction of
adaptive neurons, network size, dt, weight bits, ...) on a grid or by random
sampling, runs each point (a Brian2 simulation, or a training run) once per seed, and
collects one tidy pandas table (CSV, and Parquet when pyarrow is installed) with the
parameters, the metrics and run metadata, plus standard plots.

* :mod:`~biolstm.studies.config`   -- the TOML/YAML config and its expansion into points
* :mod:`~biolstm.studies.registry` -- runner and metric registries (plug-in points)
* :mod:`~biolstm.studies.runners`  -- built-in runners (Poisson-driven network, current step)
* :mod:`~biolstm.studies.metrics`  -- built-in metrics (rates, adaptation, Loihi, ...)
* :mod:`~biolstm.studies.sweep`    -- resumable, parallel execution (processes or Dask)
* :mod:`~biolstm.studies.plots`    -- standard plots

Example configs ship in ``biolstm/data/sweeps/`` (:func:`example_config`).
"""

from __future__ import annotations

from pathlib import Path

from biolstm.studies.config import Point, SweepConfig, SweepError, expand_points, load_config
from biolstm.studies.registry import (
    METRICS,
    RUNNERS,
    Metric,
    Runner,
    RunOutput,
    get_metric,
    get_runner,
    register_metric,
    register_runner,
)
from biolstm.studies.sweep import SweepResult, collect, load_table, run_point, run_sweep

__all__ = [
    "SweepConfig", "SweepError", "Point", "load_config", "expand_points",
    "RunOutput", "Runner", "Metric", "RUNNERS", "METRICS", "register_runner",
    "register_metric", "get_runner", "get_metric",
    "SweepResult", "run_sweep", "run_point", "collect", "load_table",
    "EXAMPLES_DIR", "example_config",
]

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "sweeps"
"""Folder of the example sweep configurations shipped with biolstm."""


def example_config(name: str = "ahp_adaptation") -> Path:
    """Path of a shipped example config (``ahp_adaptation``, ``fi_curve``, ...)."""
    for suffix in (".toml", ".yaml", ".yml"):
        path = EXAMPLES_DIR / f"{name}{suffix}"
        if path.exists():
            return path
    names = sorted(p.stem for p in EXAMPLES_DIR.glob("*.*"))
    raise SweepError(f"no example sweep {name!r}; examples are {names}")
