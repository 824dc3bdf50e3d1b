"""NetworkSpec: the validated, serializable description every part of biolstm shares.

A :class:`NetworkSpec` holds

* :class:`Population` s -- name, size, neuron model (see :mod:`biolstm.neurons`) and
  parameter overrides with Brian2 units;
* :class:`InputGroup` s -- named groups of spike-input channels;
* :class:`Projection` s -- weight matrices ``[n_pre, n_post]`` (dense or
  ``scipy.sparse``) from an input group or population to a population, in volts
  added to the target's membrane per spike, with optional delays and an optional
  sign constraint;
* a :class:`Readout` -- which population variable is read, and when;
* the time step ``dt``.

Zero weights are absent synapses. Spikes of a population reach their targets one
step after they are emitted (Loihi's implicit recurrent delay); input spikes reach
their targets in the step they are given. A projection's ``delay`` adds to that.

The spec is saved to one ``.npz`` file (:meth:`NetworkSpec.save`): a JSON header with
the format version, and one numpy array per weight or delay matrix. Writes are atomic
(temporary file, then rename) and never overwrite an existing file unless asked.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import scipy.sparse
from brian2 import Quantity, ms, second, volt
from brian2.units.fundamentalunits import (
    DIMENSIONLESS,
    get_dimensions,
    get_or_create_dimension,
    get_unit,
    have_same_dimensions,
)

from biolstm.errors import BiolstmError
from biolstm.fileio import atomic_writer, existing_path
from biolstm.neurons import ModelError, get_model

__all__ = [
    "FORMAT_VERSION",
    "SpecError",
    "PopulationError",
    "ProjectionError",
    "SpecFileError",
    "by_name",
    "NamedNetwork",
    "Population",
    "InputGroup",
    "Projection",
    "Readout",
    "NetworkSpec",
]

FORMAT_VERSION = 1
"""Version of the ``.npz`` file layout written by :meth:`NetworkSpec.save`."""

SIGNS = ("excitatory", "inhibitory")


class SpecError(BiolstmError, ValueError):
    """A NetworkSpec that cannot be used; the message names the object and the fix."""


class PopulationError(SpecError):
    """A population or input group with a bad name, size, model or parameter."""


class ProjectionError(SpecError):
    """A projection whose endpoints, weights, delays or sign are not valid."""


class SpecFileError(SpecError):
    """A spec file that cannot be written or read."""


def by_name(items, name: str, what: str, error: type[Exception] = SpecError):
    """The item of ``items`` whose ``.name`` is ``name``.

    Raises ``error`` (default :class:`SpecError`) that names ``what`` (e.g. "population"),
    the name asked for and the names there are.
    """
    items = list(items)
    for item in items:
        if item.name == name:
            return item
    raise error(f"no {what} {name!r}; {what}s are {[item.name for item in items]}")


class NamedNetwork:
    """Lookup and counts of a network of named ``populations`` and ``projections`` (each with
    ``name``; populations with ``size``, projections with ``n_synapses``): the one home for
    :class:`NetworkSpec` and :class:`biolstm.loihi.fixed_point.QuantizedNetwork`.
    ``_missing`` is the error a lookup of an unknown name raises."""

    _missing: type[Exception] = SpecError

    def population(self, name: str):
        """The population called ``name``."""
        return by_name(self.populations, name, "population", self._missing)

    def projection(self, name: str):
        """The projection called ``name``."""
        return by_name(self.projections, name, "projection", self._missing)

    @property
    def n_neurons(self) -> int:
        """Total number of neurons over all populations."""
        return sum(p.size for p in self.populations)

    @property
    def n_synapses(self) -> int:
        """Total number of non-zero weights over all projections."""
        return sum(p.n_synapses for p in self.projections)


def _check_name(kind: str, name: Any, error: type[SpecError]) -> None:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise error(
            f"{kind} name {name!r} is not valid; use a Python identifier that does not "
            f"start with '_' (e.g. 'rec', 'ahp', 'out')"
        )


def _check_size(kind: str, name: str, size: Any, error: type[SpecError]) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise error(f"{kind} '{name}': size {size!r} must be a positive integer")
    return int(size)


@dataclass
class Population:
    """A group of neurons of one model.

    Parameters
    ----------
    name : str
        Identifier, unique in the spec.
    size : int
        Number of neurons.
    model : str
        Neuron model name: ``"lif"``, ``"ahp"``, ``"alif"`` or ``"li"`` (readout).
    params : mapping of str to Quantity
        Overrides of the model's default parameters, with Brian2 units.
    """

    name: str
    size: int
    model: str = "lif"
    params: dict[str, Quantity] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params = dict(self.params)
        self.validate()

    def validate(self) -> None:
        """Check name, size, model and parameters; raise :class:`PopulationError`."""
        _check_name("population", self.name, PopulationError)
        self.size = _check_size("population", self.name, self.size, PopulationError)
        try:
            model = get_model(self.model)
        except ModelError as err:
            raise PopulationError(f"population '{self.name}': {err}") from None
        try:
            params = model.make_params(self.params, owner=self.name)
        except ModelError as err:
            raise PopulationError(str(err)) from None
        _check_ranges(self.name, model, params)

    @property
    def neuron_model(self):
        """The :class:`biolstm.neurons.NeuronModel` of this population."""
        return get_model(self.model)

    def neuron_params(self) -> Any:
        """The model's parameter object with this population's overrides applied."""
        return self.neuron_model.make_params(self.params, owner=self.name)


def _check_ranges(name: str, model: Any, params: Any) -> None:
    """Reject parameter values that have no meaning for the model (see :class:`Population`).

    * spiking models: ``v_th > v_reset``; a threshold at or below the reset value fires
      on every step whatever the input (on Loihi the threshold above the reset must be
      positive). ``v_rest`` may lie above ``v_th`` (a tonically driven neuron).
    * ``ahp``: ``delta_I_ahp >= 0``; the current is after-*hyper*polarizing (it enters the
      membrane as ``-R_m*I_ahp``), a negative jump would excite the neuron after each spike.
    * ``alif``: ``delta_theta >= 0``; the threshold rises after each spike.
    """
    where = f"population '{name}' ({model.name})"
    if model.threshold is not None and not float(params.v_th) > float(params.v_reset):
        raise PopulationError(
            f"{where}: v_th = {params.v_th} must be above v_reset = {params.v_reset}; at or "
            f"below the reset value the neuron fires on every step whatever its input (valid: "
            f"v_th > v_reset, e.g. v_th=10*mV with the default v_reset=0*mV)"
        )
    jumps = {"ahp": ("delta_I_ahp", "an after-hyperpolarizing current must lower the membrane"),
             "alif": ("delta_theta", "the adaptive threshold must rise after a spike")}
    if model.name in jumps:
        pname, why = jumps[model.name]
        value = getattr(params, pname)
        if float(value) < 0:
            default = getattr(model.params_type(), pname)
            raise PopulationError(
                f"{where}: {pname} = {value} is negative; {why}, so the jump per spike must be "
                f">= 0 (default {default}; 0 turns the adaptation off)"
            )


@dataclass
class InputGroup:
    """A named group of spike-input channels (e.g. 80 threshold-crossing channels)."""

    name: str
    size: int

    def __post_init__(self) -> None:
        _check_name("input group", self.name, PopulationError)
        self.size = _check_size("input group", self.name, self.size, PopulationError)


def _as_si_matrix(name: str, values: Any, unit: Quantity | None, expected: Quantity, what: str,
                  keyword: str):
    """Convert a matrix given as a Quantity, or numbers plus ``unit`` (the argument ``keyword``), to SI floats."""
    if scipy.sparse.issparse(values):
        if unit is None:
            raise ProjectionError(
                f"projection '{name}': sparse {what} carry no unit; pass "
                f"{keyword} (e.g. {keyword}=mV)"
            )
        matrix = scipy.sparse.csr_matrix(values, dtype=float)
        scale = unit
    elif isinstance(values, Quantity):
        if unit is not None:
            raise ProjectionError(
                f"projection '{name}': {what} already carry a unit; do not also pass {keyword}"
            )
        matrix = np.asarray(values, dtype=float)
        scale = Quantity(1, dim=get_dimensions(values))
    else:
        if unit is None:
            raise ProjectionError(
                f"projection '{name}': {what} {type(values).__name__} have no unit; multiply "
                f"by a Brian2 unit (e.g. w*mV) or pass {keyword} (e.g. {keyword}=mV)"
            )
        matrix = np.asarray(values, dtype=float)
        scale = unit
    if not isinstance(scale, Quantity) or not have_same_dimensions(scale, expected):
        raise ProjectionError(
            f"projection '{name}': {what} have the unit {scale!r}, which is not a "
            f"{get_unit(get_dimensions(expected))} quantity; {what} must be in units like {expected!r}"
        )
    factor = float(scale)
    if scipy.sparse.issparse(matrix):
        matrix = matrix * factor
        matrix.eliminate_zeros()
        matrix.sort_indices()
        return matrix
    return matrix * factor


@dataclass
class Projection:
    """Synapses from an input group or population to a population.

    Parameters
    ----------
    name : str
        Identifier, unique in the spec.
    pre, post : str
        Names of the source (input group or population) and target population.
    weights : Quantity array, ndarray, or scipy.sparse matrix, shape (n_pre, n_post)
        Jump of the target's membrane per presynaptic spike (volt). Plain arrays and
        sparse matrices need ``weight_unit``. Zero entries are absent synapses.
    weight_unit : Quantity, optional
        Unit of plain or sparse ``weights`` (e.g. ``mV``).
    delay : Quantity, optional
        Extra delay added to the transmission (default none); a scalar, or one value
        per synapse: an array of the weights' shape (dense) or of the number of
        stored entries in CSR order (sparse). Must be a multiple of ``dt``.
    sign : {"excitatory", "inhibitory", None}
        Optional sign constraint checked on every weight (Dale's law, Loihi sign modes).

    Attributes
    ----------
    weights : ndarray or scipy.sparse.csr_matrix
        The weights in volt (SI floats).
    delay : ndarray or None
        Delays in seconds: shape ``()`` or one per synapse (see :meth:`synapses`).
    """

    name: str
    pre: str
    post: str
    weights: Any
    weight_unit: Quantity | None = None
    delay: Any = None
    sign: str | None = None

    def __post_init__(self) -> None:
        _check_name("projection", self.name, ProjectionError)
        self.weights = _as_si_matrix(self.name, self.weights, self.weight_unit, volt, "weights",
                                     "weight_unit")
        self.weight_unit = None
        if self.weights.ndim != 2:
            raise ProjectionError(
                f"projection '{self.name}': weights must be a 2-d matrix [n_pre, n_post], "
                f"got shape {self.weights.shape}"
            )
        data = self.weights.data if scipy.sparse.issparse(self.weights) else self.weights
        bad = ~np.isfinite(data)
        if bad.any():
            raise ProjectionError(
                f"projection '{self.name}': {int(bad.sum())} weight(s) are NaN or infinite "
                f"(first at flat index {int(np.flatnonzero(bad)[0])}); every weight must be finite"
            )
        if self.sign is not None:
            if self.sign not in SIGNS:
                raise ProjectionError(
                    f"projection '{self.name}': sign {self.sign!r} is not one of {SIGNS} or None"
                )
            wrong = data < 0 if self.sign == "excitatory" else data > 0
            if wrong.any():
                worst = data[wrong][np.argmax(np.abs(data[wrong]))]
                raise ProjectionError(
                    f"projection '{self.name}' is {self.sign} but {int(wrong.sum())} weight(s) "
                    f"have the other sign (largest {worst * 1e3:.4g} mV); fix the weights or "
                    f"split the projection by sign"
                )
        if self.delay is not None:
            self.delay = self._check_delay(self.delay)

    def _check_delay(self, delay: Any) -> np.ndarray:
        if not isinstance(delay, Quantity) or not have_same_dimensions(delay, second):
            raise ProjectionError(
                f"projection '{self.name}': delay {delay!r} must be a time quantity (e.g. 2*ms)"
            )
        values = np.asarray(delay, dtype=float)
        if values.ndim != 0:
            expected = (
                (self.weights.nnz,) if scipy.sparse.issparse(self.weights) else self.weights.shape
            )
            if values.shape != expected:
                raise ProjectionError(
                    f"projection '{self.name}': delay has shape {values.shape}, expected a "
                    f"scalar or {expected} (one per weight entry)"
                )
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ProjectionError(
                f"projection '{self.name}': delays must be finite and >= 0 ms, got min "
                f"{np.nanmin(values) * 1e3:.4g} ms"
            )
        return values

    @property
    def shape(self) -> tuple[int, int]:
        """(n_pre, n_post)."""
        return tuple(self.weights.shape)  # type: ignore[return-value]

    @property
    def n_synapses(self) -> int:
        """Number of non-zero weights."""
        if scipy.sparse.issparse(self.weights):
            return int(self.weights.count_nonzero())
        return int(np.count_nonzero(self.weights))

    def synapses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Non-zero synapses as ``(i_pre, j_post, weight_volt, delay_s)`` arrays.

        Sorted by ``(i_pre, j_post)``; ``delay_s`` has one entry per synapse.
        """
        if scipy.sparse.issparse(self.weights):
            coo = self.weights.tocoo()
            i, j, w = coo.row, coo.col, coo.data
            per_entry = self.delay if self.delay is not None and self.delay.ndim else None
        else:
            i, j = np.nonzero(self.weights)
            w = self.weights[i, j]
            per_entry = self.delay[i, j] if self.delay is not None and self.delay.ndim else None
        keep = w != 0
        if per_entry is not None:
            d = per_entry[keep]
        else:
            scalar = float(self.delay) if self.delay is not None else 0.0
            d = np.full(int(keep.sum()), scalar)
        i, j, w = i[keep], j[keep], w[keep]
        order = np.lexsort((j, i))
        return (
            i[order].astype(np.int64),
            j[order].astype(np.int64),
            w[order].astype(float),
            d[order].astype(float),
        )

    def dense(self) -> np.ndarray:
        """Weights as a dense ``[n_pre, n_post]`` float array in volt."""
        if scipy.sparse.issparse(self.weights):
            return self.weights.toarray()
        return np.asarray(self.weights)


@dataclass
class Readout:
    """Which variable of which population is the network's output.

    Parameters
    ----------
    population : str
        Name of the readout population (usually of model ``"li"``).
    variable : str
        State variable to read (``"v"``).
    at : {"last", "mean", "max"}
        ``"last"`` reads the value at the last step of each sample (the paper);
        ``"mean"``/``"max"`` reduce over the sample's steps.
    """

    population: str
    variable: str = "v"
    at: str = "last"

    def __post_init__(self) -> None:
        if self.at not in ("last", "mean", "max"):
            raise SpecError(f"readout: at={self.at!r} must be 'last', 'mean' or 'max'")


@dataclass
class NetworkSpec(NamedNetwork):
    """A whole network: populations, inputs, projections, readout and time step.

    Construct it from its parts, then :meth:`validate` (called by the constructor)
    checks that the parts fit together. See the module docstring for semantics.
    """

    populations: list[Population]
    projections: list[Projection] = field(default_factory=list)
    inputs: list[InputGroup] = field(default_factory=list)
    readout: Readout | None = None
    dt: Quantity = field(default_factory=lambda: 1 * ms)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.populations = list(self.populations)
        self.projections = list(self.projections)
        self.inputs = list(self.inputs)
        self.validate()

    # -- lookup --------------------------------------------------------------------
    # population(name), projection(name), n_neurons, n_synapses: from NamedNetwork
    def input_group(self, name: str) -> InputGroup:
        """The input group called ``name``."""
        return by_name(self.inputs, name, "input group")

    def source_size(self, name: str) -> int:
        """Size of an input group or population."""
        sizes = {g.name: g.size for g in self.inputs} | {p.name: p.size for p in self.populations}
        return sizes[name]

    def is_input(self, name: str) -> bool:
        """True if ``name`` is an input group (not a population)."""
        return any(g.name == name for g in self.inputs)

    def delay_steps(self, projection: Projection) -> np.ndarray:
        """Extra delay of each synapse of ``projection`` in whole steps of ``dt``."""
        _, _, _, delay = projection.synapses()
        return np.rint(delay / float(self.dt)).astype(np.int64)

    # -- validation --------------------------------------------------------------
    def validate(self) -> None:
        """Check that names are unique, endpoints exist and shapes match sizes.

        Raises
        ------
        SpecError, PopulationError, ProjectionError
            With the object, the offending value and what would be valid.
        """
        if not isinstance(self.dt, Quantity) or not have_same_dimensions(self.dt, second):
            raise SpecError(f"dt = {self.dt!r} must be a time quantity (e.g. 1*ms)")
        if not float(self.dt) > 0 or not np.isfinite(float(self.dt)):
            raise SpecError(f"dt = {self.dt!r} must be a positive, finite time")
        if not self.populations:
            raise SpecError("a NetworkSpec needs at least one population")
        for pop in self.populations:
            pop.validate()
        names = [o.name for o in self.populations] + [o.name for o in self.inputs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SpecError(
                f"names {duplicates} are used more than once; populations and input groups "
                f"need distinct names"
            )
        proj_names = [p.name for p in self.projections]
        dup_proj = sorted({n for n in proj_names if proj_names.count(n) > 1})
        if dup_proj:
            raise ProjectionError(f"projection names {dup_proj} are used more than once")
        pop_names = {p.name for p in self.populations}
        for proj in self.projections:
            if proj.pre not in names:
                raise ProjectionError(
                    f"projection '{proj.name}': pre {proj.pre!r} is neither a population nor "
                    f"an input group; valid sources are {names}"
                )
            if proj.post not in pop_names:
                raise ProjectionError(
                    f"projection '{proj.name}': post {proj.post!r} is not a population; valid "
                    f"targets are {sorted(pop_names)}"
                )
            expected = (self.source_size(proj.pre), self.source_size(proj.post))
            if proj.shape != expected:
                raise ProjectionError(
                    f"projection '{proj.name}' weight matrix is {proj.shape[0]}x{proj.shape[1]}, "
                    f"but '{proj.pre}' has {expected[0]} and '{proj.post}' has {expected[1]} "
                    f"neurons; the matrix must be [n_pre, n_post] = {expected[0]}x{expected[1]}"
                )
            if proj.delay is not None:
                steps = proj.delay / float(self.dt)
                off = np.abs(steps - np.rint(steps)) > 1e-6
                if np.any(off):
                    bad = float(np.asarray(proj.delay).reshape(-1)[np.flatnonzero(off)[0]])
                    raise ProjectionError(
                        f"projection '{proj.name}': delay {bad * 1e3:.6g} ms is not a multiple "
                        f"of dt = {float(self.dt) * 1e3:g} ms; round it to whole steps"
                    )
        for pop in self.populations:
            spiking = pop.neuron_model.threshold is not None
            if not spiking and any(p.pre == pop.name for p in self.projections):
                raise ProjectionError(
                    f"population '{pop.name}' uses the non-spiking model '{pop.model}' and "
                    f"cannot be the source of a projection"
                )
        if self.readout is not None:
            pop = self.population(self.readout.population)
            eqs_vars = pop.neuron_model.initial_values(pop.neuron_params())
            if self.readout.variable not in eqs_vars:
                raise SpecError(
                    f"readout: population '{pop.name}' ({pop.model}) has no state variable "
                    f"{self.readout.variable!r}; choose one of {sorted(eqs_vars)}"
                )

    # -- serialization -------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the spec to one ``.npz`` file, atomically.

        Parameters
        ----------
        path : path-like
            Target file; ``.npz`` is appended when missing.
        overwrite : bool
            Replace an existing file. Without it an existing file raises
            :class:`SpecFileError` and is left untouched.

        Returns
        -------
        Path
            The file written.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        if path.exists() and not overwrite:
            raise SpecFileError(
                f"{path} already exists; pass overwrite=True to replace it or choose another path"
            )
        header, arrays = self._to_header_and_arrays()
        arrays["__header__"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        with atomic_writer(path, overwrite=overwrite) as fh:
            np.savez_compressed(fh, **arrays)
        return path

    def _to_header_and_arrays(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        arrays: dict[str, np.ndarray] = {}
        projections = []
        for k, proj in enumerate(self.projections):
            entry: dict[str, Any] = {"name": proj.name, "pre": proj.pre, "post": proj.post,
                                     "sign": proj.sign, "shape": list(proj.shape)}
            if scipy.sparse.issparse(proj.weights):
                csr = proj.weights.tocsr()
                entry["format"] = "csr"
                arrays[f"p{k}_data"] = csr.data
                arrays[f"p{k}_indices"] = csr.indices
                arrays[f"p{k}_indptr"] = csr.indptr
            else:
                entry["format"] = "dense"
                arrays[f"p{k}_data"] = np.asarray(proj.weights)
            if proj.delay is not None:
                arrays[f"p{k}_delay"] = np.asarray(proj.delay)
            projections.append(entry)
        header = {
            "format": "biolstm.NetworkSpec",
            "format_version": FORMAT_VERSION,
            "dt": _quantity_to_json(self.dt),
            "populations": [
                {"name": p.name, "size": p.size, "model": p.model,
                 "params": {k: _quantity_to_json(v) for k, v in p.params.items()}}
                for p in self.populations
            ],
            "inputs": [{"name": g.name, "size": g.size} for g in self.inputs],
            "projections": projections,
            "readout": None if self.readout is None else {
                "population": self.readout.population, "variable": self.readout.variable,
                "at": self.readout.at},
            "metadata": self.metadata,
        }
        return header, arrays

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NetworkSpec":
        """Read a spec written by :meth:`save` and validate it.

        Raises
        ------
        SpecFileError
            When the file is missing, is not a biolstm spec, or has a format version
            this biolstm cannot read (newer or unknown).
        """
        path = existing_path(path, SpecFileError, "spec file")
        if path.is_dir():
            raise SpecFileError(f"{path} is a folder; a NetworkSpec is one .npz file written by NetworkSpec.save")
        if path.stat().st_size == 0:
            raise SpecFileError(
                f"{path} is empty (0 bytes), not a NetworkSpec .npz file; write one with "
                f"NetworkSpec.save (biolstm train exports network.npz)")
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise SpecFileError(
                    f"{path} holds a single numpy array, not a NetworkSpec .npz file; write one "
                    f"with NetworkSpec.save")
            with data:
                arrays = {k: data[k] for k in data.files}
        except SpecFileError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise SpecFileError(
                f"{path} is not a NetworkSpec .npz file ({type(err).__name__}: {err}); it may "
                f"be truncated or of another format; write one with NetworkSpec.save") from None
        if "__header__" not in arrays:
            raise SpecFileError(f"{path} has no NetworkSpec header; was it written by NetworkSpec.save?")
        try:
            header = json.loads(arrays.pop("__header__").tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise SpecFileError(f"{path}: the header is not valid JSON ({err})") from None
        if header.get("format") != "biolstm.NetworkSpec":
            raise SpecFileError(f"{path}: format {header.get('format')!r} is not 'biolstm.NetworkSpec'")
        version = header.get("format_version")
        if not isinstance(version, int) or version < 1:
            raise SpecFileError(f"{path}: format version {version!r} is unknown (expected 1..{FORMAT_VERSION})")
        if version > FORMAT_VERSION:
            raise SpecFileError(
                f"{path} has format version {version}, newer than this biolstm reads "
                f"({FORMAT_VERSION}); upgrade biolstm to load it"
            )
        return cls._from_header_and_arrays(header, arrays, path)

    @classmethod
    def _from_header_and_arrays(cls, header: dict, arrays: dict, path: Path) -> "NetworkSpec":
        try:
            populations = [
                Population(p["name"], p["size"], p["model"],
                           {k: _quantity_from_json(v) for k, v in p["params"].items()})
                for p in header["populations"]
            ]
            inputs = [InputGroup(g["name"], g["size"]) for g in header["inputs"]]
            projections = []
            for k, entry in enumerate(header["projections"]):
                if entry["format"] == "csr":
                    weights = scipy.sparse.csr_matrix(
                        (arrays[f"p{k}_data"], arrays[f"p{k}_indices"], arrays[f"p{k}_indptr"]),
                        shape=tuple(entry["shape"]))
                else:
                    weights = arrays[f"p{k}_data"]
                delay = arrays.get(f"p{k}_delay")
                projections.append(Projection(
                    entry["name"], entry["pre"], entry["post"], weights, weight_unit=volt,
                    delay=None if delay is None else delay * second, sign=entry["sign"]))
            readout = None if header["readout"] is None else Readout(**header["readout"])
            return cls(populations, projections, inputs, readout,
                       dt=_quantity_from_json(header["dt"]), metadata=header.get("metadata", {}))
        except KeyError as err:
            raise SpecFileError(f"{path}: missing entry {err} in the file") from None
        except (TypeError, AttributeError) as err:
            raise SpecFileError(f"{path}: the header is malformed ({err})") from None
        except SpecError as err:  # the stored network does not validate: name the file
            raise type(err)(f"{path}: {err}") from None

    def summary(self) -> str:
        """A few lines describing the network, for printing."""
        lines = [f"NetworkSpec: {self.n_neurons} neurons, {self.n_synapses} synapses, dt = {self.dt}"]
        for g in self.inputs:
            lines.append(f"  input      {g.name:<12} {g.size:>7} channels")
        for p in self.populations:
            lines.append(f"  population {p.name:<12} {p.size:>7} x {p.model}")
        for p in self.projections:
            lines.append(f"  projection {p.name:<12} {p.pre} -> {p.post}: {p.n_synapses} synapses"
                         + (f", {p.sign}" if p.sign else ""))
        if self.readout:
            lines.append(f"  readout    {self.readout.population}.{self.readout.variable} at {self.readout.at} step")
        return "\n".join(lines)


def _quantity_to_json(q: Quantity) -> dict[str, Any]:
    dim = get_dimensions(q)
    return {"value": float(q), "dim": [float(x) for x in dim._dims], "repr": repr(q)}


def _quantity_from_json(entry: Mapping[str, Any]) -> Quantity:
    dims = entry["dim"]
    dim = DIMENSIONLESS if not any(dims) else get_or_create_dimension(dims)
    return Quantity(entry["value"], dim=dim)
