"""Registries of sweep runners and metrics: where new kinds of runs and measures plug in.

A **runner** turns one parameter set and a seed into a :class:`RunOutput` (a network,
its simulated :class:`~biolstm.activity.Activity`, and any numbers it measured itself,
e.g. test accuracy after training). A **metric** turns a :class:`RunOutput` into named
numbers, the columns of the sweep table. Both are registered by name::

    from biolstm.studies import RunOutput, register_metric, register_runner

    @register_runner("my_model", defaults={"gain": 1.0, "n_neurons": 50},
                     metrics=("rates",), description="my network under Poisson drive")
    def my_model(params, seed):
        spec, inputs = ...                   # build from params, draw with seed
        return RunOutput(spec=spec, activity=simulate(spec, inputs, progress=False))

    @register_metric("synchrony", description="population Fano factor")
    def synchrony(out, params):
        return {"fano_factor": ...}

Put such code in a module and list it under ``plugins`` in the sweep config so that
every worker process (local or Dask) imports it before running a point.

Column names carry their unit as the last part (``rate_adaptive_hz``,
``mean_I_ahp_adaptive_pA``, ``energy_per_inference_uJ``); the plots turn it into an axis
label.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = [
    "RunOutput",
    "Runner",
    "Metric",
    "RUNNERS",
    "METRICS",
    "register_runner",
    "register_metric",
    "get_runner",
    "get_metric",
    "import_plugins",
]


@dataclass
class RunOutput:
    """What one point of a sweep produced.

    Attributes
    ----------
    spec : NetworkSpec or None
        The network that ran.
    activity : Activity or None
        Its simulated activity (spikes, readout, traces).
    metrics : dict of str to number
        Numbers the runner measured itself (copied into the table as they are).
    extras : dict
        Anything the metrics need besides spec and activity (labels, windows, ...).
    """

    spec: Any = None
    activity: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Runner:
    """A registered kind of sweep point.

    Attributes
    ----------
    name : str
    fn : callable ``(params: dict, seed: int) -> RunOutput``
    defaults : dict
        Every parameter with its default; the type of the default (int, float, bool,
        str) is the parameter's type. A sweep may set only these names.
    metrics : tuple of str
        Metrics computed when the config lists none.
    description : str
    """

    name: str
    fn: Callable[[dict, int], RunOutput]
    defaults: Mapping[str, Any]
    metrics: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Metric:
    """A registered measure of a :class:`RunOutput`.

    Attributes
    ----------
    name : str
    fn : callable ``(out: RunOutput, params: dict) -> dict[str, number]``
    description : str
    requires : tuple of str
        Modules that must be importable (checked before a sweep starts, so a missing
        optional part fails at once with a clear message, not after hours).
    """

    name: str
    fn: Callable[[RunOutput, dict], dict[str, Any]]
    description: str = ""
    requires: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        """Required modules that cannot be imported here."""
        out = []
        for mod in self.requires:
            try:
                found = importlib.util.find_spec(mod) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                out.append(mod)
        return out


RUNNERS: dict[str, Runner] = {}
"""Registered runners by name (built-ins: :mod:`biolstm.studies.runners`)."""

METRICS: dict[str, Metric] = {}
"""Registered metrics by name (built-ins: :mod:`biolstm.studies.metrics`)."""


def register_runner(name: str, *, defaults: Mapping[str, Any], metrics: tuple[str, ...] = (),
                    description: str = "") -> Callable:
    """Decorator registering ``fn(params, seed) -> RunOutput`` as runner ``name``."""

    def decorate(fn: Callable) -> Callable:
        RUNNERS[name] = Runner(name, fn, dict(defaults), tuple(metrics),
                               description or (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return decorate


def register_metric(name: str, *, description: str = "", requires: tuple[str, ...] = ()) -> Callable:
    """Decorator registering ``fn(out, params) -> dict`` as metric ``name``."""

    def decorate(fn: Callable) -> Callable:
        METRICS[name] = Metric(name, fn, description or (fn.__doc__ or "").strip().splitlines()[0],
                               tuple(requires))
        return fn

    return decorate


def _builtins() -> None:
    importlib.import_module("biolstm.studies.runners")
    importlib.import_module("biolstm.studies.metrics")


def get_runner(name: str) -> Runner:
    """The runner ``name``, with an error that lists the registered ones."""
    _builtins()
    from biolstm.studies.config import SweepError

    if name not in RUNNERS:
        raise SweepError(f"unknown runner {name!r}; registered runners are {sorted(RUNNERS)} "
                         f"(a plugin module can register more)")
    return RUNNERS[name]


def get_metric(name: str) -> Metric:
    """The metric ``name``, with an error that lists the registered ones."""
    _builtins()
    from biolstm.studies.config import SweepError

    if name not in METRICS:
        raise SweepError(f"unknown metric {name!r}; registered metrics are {sorted(METRICS)}")
    return METRICS[name]


def import_plugins(modules: list[str] | tuple[str, ...]) -> None:
    """Import the built-in runners/metrics and the given plugin modules."""
    _builtins()
    from biolstm.studies.config import SweepError

    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as err:
            raise SweepError(f"plugin module {mod!r} cannot be imported ({err}); put it on "
                             f"PYTHONPATH of the driver and of every worker") from None
