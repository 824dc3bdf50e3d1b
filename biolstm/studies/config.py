"""Sweep configuration: read a TOML or YAML file, validate it, expand it into points.

A configuration names a *runner* (what one point does, see :mod:`biolstm.studies.runners`),
the parameters to vary, the seeds, and the metrics to compute. Example (TOML)::

    name = "ahp_adaptation"
    runner = "poisson_network"
    sampling = "grid"                 # or "random" (then give n_points)
    seeds = [0, 1]                    # or: repeats = 2 (seeds 0, 1)
    metrics = ["rates", "adaptation"]

    [fixed]                           # runner parameters held constant
    n_neurons = 100

    [parameters]                      # the varied ones
    tau_ahp_ms = [100, 300, 700]                       # grid: a list ...
    delta_I_ahp_pA = {start = 0, stop = 48, num = 5}   # ... or a linear/log range

    [plot]
    x = "tau_ahp_ms"
    hue = "delta_I_ahp_pA"

Random sampling draws ``n_points`` parameter sets with ``sampling_seed``; each varied
parameter is ``{low, high, log = false, integer = false}`` or ``{choices = [...]}``.
Parameter names carry their unit (``tau_ahp_ms``), so the result table holds plain
numbers and its columns say what they mean.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from biolstm.errors import BiolstmError

__all__ = ["SweepError", "SweepConfig", "Point", "load_config", "expand_points"]

SAMPLINGS = ("grid", "random")
_TOP_KEYS = {"name", "runner", "sampling", "seeds", "repeats", "n_points", "sampling_seed",
             "metrics", "fixed", "parameters", "plot", "plugins", "out", "description"}


class SweepError(BiolstmError, ValueError):
    """A sweep configuration or output folder that cannot be used."""


@dataclass
class SweepConfig:
    """A validated sweep description (see the module docstring for the file format).

    Attributes
    ----------
    name : str
        Name of the study (default output folder ``biolstm-out/sweeps/<name>``).
    runner : str
        Key of :data:`biolstm.studies.runners.RUNNERS`.
    parameters : dict
        Varied parameters: for a grid a list of values or ``{start, stop, num, log}``;
        for random sampling ``{low, high, log, integer}`` or ``{choices}`` (a list is
        taken as choices).
    fixed : dict
        Runner parameters held constant (others keep the runner's defaults).
    sampling : {"grid", "random"}
    n_points : int or None
        Number of random parameter sets (random sampling only).
    sampling_seed : int
        Seed of the random sampling of parameter sets.
    seeds : list of int
        Every parameter set runs once per seed (weights, inputs, training).
    metrics : list of str
        Keys of :data:`biolstm.studies.metrics.METRICS` (default: the runner's).
    plot : dict
        ``x``, ``hue`` (parameter names) and ``metrics`` (columns) of the standard plots.
    plugins : list of str
        Modules imported before running (in every worker) that register more runners
        or metrics.
    out : str or None
        Output folder (relative to the working directory); the CLI's ``--out`` wins.
    description : str
    source : str or None
        File the configuration was read from.
    """

    name: str
    runner: str
    parameters: dict[str, Any]
    fixed: dict[str, Any] = field(default_factory=dict)
    sampling: str = "grid"
    n_points: int | None = None
    sampling_seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0])
    metrics: list[str] = field(default_factory=list)
    plot: dict[str, Any] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)
    out: str | None = None
    description: str = ""
    source: str | None = None

    def identity(self) -> dict[str, Any]:
        """What defines the sweep's points (used to refuse mixing two sweeps in one folder)."""
        d = asdict(self)
        for key in ("plot", "out", "description", "source", "plugins"):
            d.pop(key)
        return json.loads(json.dumps(d, sort_keys=True))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str | None = None) -> "SweepConfig":
        """Validate a parsed configuration (the content of a TOML/YAML file)."""
        where = f"sweep config {source}" if source else "sweep config"
        if not isinstance(data, Mapping):
            raise SweepError(f"{where}: the top level must be a table/mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise SweepError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(_TOP_KEYS)}")
        for key in ("name", "runner"):
            if not isinstance(data.get(key), str) or not data.get(key):
                example = "ahp_adaptation" if key == "name" else "poisson_network"
                raise SweepError(f"{where}: '{key}' must be a non-empty string (e.g. {key} = "
                                 f"\"{example}\")")
        name = data["name"]
        if not all(c.isalnum() or c in "-_." for c in name):
            raise SweepError(f"{where}: name {name!r} may contain only letters, digits, '-', '_', '.'")
        sampling = data.get("sampling", "grid")
        if sampling not in SAMPLINGS:
            raise SweepError(f"{where}: sampling {sampling!r} must be one of {list(SAMPLINGS)}")
        params = data.get("parameters", {}) or {}
        fixed = data.get("fixed", {}) or {}
        for key, value in (("parameters", params), ("fixed", fixed), ("plot", data.get("plot", {}) or {})):
            if not isinstance(value, Mapping):
                raise SweepError(f"{where}: '{key}' must be a table/mapping")
        both = sorted(set(params) & set(fixed))
        if both:
            raise SweepError(f"{where}: parameter(s) {both} are both fixed and varied; keep one")
        if "seeds" in data and "repeats" in data:
            raise SweepError(f"{where}: give either 'seeds' (a list) or 'repeats' (a count), not both")
        if "repeats" in data:
            repeats = data["repeats"]
            if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
                raise SweepError(f"{where}: repeats = {repeats!r} must be a positive integer")
            seeds = list(range(repeats))
        else:
            seeds = data.get("seeds", [0])
            if isinstance(seeds, int) and not isinstance(seeds, bool):
                seeds = [seeds]
            if (not isinstance(seeds, list) or not seeds
                    or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
                raise SweepError(f"{where}: seeds = {seeds!r} must be a non-empty list of integers >= 0")
            if len(set(seeds)) != len(seeds):
                raise SweepError(f"{where}: seeds {seeds} repeat a value")
        n_points = data.get("n_points")
        if sampling == "random":
            if not isinstance(n_points, int) or isinstance(n_points, bool) or n_points < 1:
                raise SweepError(f"{where}: random sampling needs n_points = a positive integer, "
                                 f"got {n_points!r}")
        elif n_points is not None:
            raise SweepError(f"{where}: n_points is only used with sampling = \"random\"")
        metrics = data.get("metrics", [])
        if isinstance(metrics, str):
            metrics = [metrics]
        plugins = data.get("plugins", [])
        if isinstance(plugins, str):
            plugins = [plugins]
        cfg = cls(
            name=name, runner=data["runner"], parameters=dict(params), fixed=dict(fixed),
            sampling=sampling, n_points=n_points, sampling_seed=int(data.get("sampling_seed", 0)),
            seeds=list(seeds), metrics=list(metrics), plot=dict(data.get("plot", {}) or {}),
            plugins=list(plugins), out=data.get("out"), description=str(data.get("description", "")),
            source=source)
        for pname, spec in cfg.parameters.items():
            _values_or_distribution(pname, spec, sampling, where)
        return cfg


def load_config(path: str | Path) -> SweepConfig:
    """Read a sweep configuration from a ``.toml``, ``.yaml`` or ``.yml`` file."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"sweep config {path} does not exist")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise SweepError(f"sweep config {path}: not valid TOML ({err})") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SweepError(f"sweep config {path}: reading YAML needs pyyaml (pip install pyyaml), "
                             f"or write the config as TOML") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise SweepError(f"sweep config {path}: not valid YAML ({err})") from None
    else:
        raise SweepError(f"sweep config {path}: unknown format {suffix!r}; use .toml, .yaml or .yml")
    return SweepConfig.from_mapping(data or {}, source=str(path))


# --------------------------------------------------------------------------------------
# Expansion into points
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One run of a sweep: a full parameter set and a seed.

    Attributes
    ----------
    index : int
        Position in the sweep (parameter set major, seed minor); the table's order.
    runner : str
    params : dict
        Every runner parameter (defaults filled in), plain JSON values.
    seed : int
    key : str
        Hash of runner, parameters and seed: the name of the point's result file.
    """

    index: int
    runner: str
    params: dict[str, Any]
    seed: int
    key: str


def point_key(runner: str, params: Mapping[str, Any], seed: int) -> str:
    """Stable 16-hex-digit hash of ``(runner, params, seed)``."""
    import hashlib

    blob = json.dumps({"runner": runner, "params": dict(params), "seed": int(seed)},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars; integral floats of integer parameters stay floats."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _values_or_distribution(name: str, spec: Any, sampling: str, where: str):
    """Check one varied parameter; return its grid values or a sampler description."""
    if sampling == "grid":
        if isinstance(spec, list):
            if not spec:
                raise SweepError(f"{where}: parameter {name} has an empty list of values")
            return [_plain(v) for v in spec]
        if isinstance(spec, Mapping) and {"start", "stop", "num"} <= set(spec):
            extra = sorted(set(spec) - {"start", "stop", "num", "log", "integer"})
            if extra:
                raise SweepError(f"{where}: parameter {name}: unknown range key(s) {extra}")
            num = spec["num"]
            if not isinstance(num, int) or num < 1:
                raise SweepError(f"{where}: parameter {name}: num = {num!r} must be a positive integer")
            start, stop = float(spec["start"]), float(spec["stop"])
            if spec.get("log", False):
                if start <= 0 or stop <= 0:
                    raise SweepError(f"{where}: parameter {name}: a log range needs start, stop > 0")
                values = np.geomspace(start, stop, num)
            else:
                values = np.linspace(start, stop, num)
            if spec.get("integer", False):
                return sorted({int(round(v)) for v in values})
            return [float(v) for v in values]
        raise SweepError(
            f"{where}: grid parameter {name} = {spec!r} must be a list of values or "
            f"{{start, stop, num[, log, integer]}}")
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, Mapping):
        raise SweepError(f"{where}: random parameter {name} = {spec!r} must be {{low, high}} or "
                         f"{{choices = [...]}}")
    if "choices" in spec:
        if set(spec) != {"choices"} or not spec["choices"]:
            raise SweepError(f"{where}: parameter {name}: give only a non-empty 'choices' list")
        return dict(spec)
    if not {"low", "high"} <= set(spec) or set(spec) - {"low", "high", "log", "integer"}:
        raise SweepError(f"{where}: random parameter {name} = {dict(spec)!r} needs low and high "
                         f"(optional log, integer) or choices")
    low, high = float(spec["low"]), float(spec["high"])
    if not low < high:
        raise SweepError(f"{where}: parameter {name}: low = {low} must be < high = {high}")
    if spec.get("log", False) and low <= 0:
        raise SweepError(f"{where}: parameter {name}: log sampling needs low > 0")
    return dict(spec)


def _sample(name: str, dist: Mapping[str, Any], rng: np.random.Generator) -> Any:
    if "choices" in dist:
        choices = dist["choices"]
        return _plain(choices[int(rng.integers(len(choices)))])
    low, high = float(dist["low"]), float(dist["high"])
    if dist.get("log", False):
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    if dist.get("integer", False):
        return int(round(value))
    return float(value)


def parameter_sets(cfg: SweepConfig) -> list[dict[str, Any]]:
    """The varied parameter sets of ``cfg``, in order (grid: last parameter fastest)."""
    names = list(cfg.parameters)
    where = f"sweep '{cfg.name}'"
    if cfg.sampling == "grid":
        grids = [_values_or_distribution(n, cfg.parameters[n], "grid", where) for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*grids)]
    rng = np.random.default_rng(cfg.sampling_seed)
    dists = {n: _values_or_distribution(n, cfg.parameters[n], "random", where) for n in names}
    return [{n: _sample(n, dists[n], rng) for n in names} for _ in range(cfg.n_points)]


def expand_points(cfg: SweepConfig, defaults: Mapping[str, Any]) -> list[Point]:
    """All points of the sweep: every parameter set times every seed.

    ``defaults`` are the runner's parameters; a name in ``fixed`` or ``parameters`` that
    the runner does not know is an error that lists the valid names. Values are
    converted to the type of the default (int, float, bool, str).
    """
    unknown = sorted((set(cfg.fixed) | set(cfg.parameters)) - set(defaults))
    if unknown:
        raise SweepError(
            f"sweep '{cfg.name}': runner '{cfg.runner}' has no parameter(s) {unknown}; its "
            f"parameters are {sorted(defaults)}")
    points = []
    for pset in parameter_sets(cfg):
        params = dict(defaults)
        params.update({k: _coerce(cfg, k, v, defaults[k]) for k, v in cfg.fixed.items()})
        params.update({k: _coerce(cfg, k, v, defaults[k]) for k, v in pset.items()})
        for seed in cfg.seeds:
            points.append(Point(len(points), cfg.runner, params, int(seed),
                                point_key(cfg.runner, params, seed)))
    return points


def _coerce(cfg: SweepConfig, name: str, value: Any, default: Any) -> Any:
    value = _plain(value)
    bad = SweepError(f"sweep '{cfg.name}': parameter {name} = {value!r} must be a "
                     f"{type(default).__name__} like its default {default!r}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise bad
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad
        return value
    return value
