"""Evaluate a whole test set in Brian2 with one build per network structure.

:func:`biolstm.brian.simulate` runs one batch in one Brian2 network, samples laid end
to end. This module adds the two things a test-set evaluation needs to be fast:

**Replicas.** ``R`` copies of the network live side by side in one Brian2 network
(each population is one ``NeuronGroup`` of ``R*N`` neurons, each projection one
``Synapses`` object with ``R`` block-diagonal copies of its connectivity), and each
copy runs ``K`` samples end to end ("slots"), so one run of the program evaluates
``R*K`` samples. Copy ``r`` only ever talks to itself, spikes of a neuron reach their
targets in the same order as in the single network, and every sample starts from the
reset state: the result is *identical*, sample by sample, to
:func:`~biolstm.brian.simulate` (``tests/test_codegen.py``). More copies amortise
Brian2's per-step, per-object overhead over more neurons.

**Compile once, run many times.** For the standalone devices (``cpp_standalone``,
``cuda_standalone``) the program is generated and compiled once per *structure*:
populations, models, parameters, input sizes, connectivity pattern, delays,
``dt``, steps per sample, ``R``, ``K`` and what is recorded. Weights and input spikes
are not part of the structure: each run passes them to the compiled program through
Brian2's ``run_args`` mechanism (the standalone ``main`` sets ``proj_*.w`` and the
input ``TimedArray`` values from files before the network runs). The project lives in
a folder named after the structure's hash (by default under ``~/.cache/biolstm``),
with a manifest, so a later process with the same structure reuses it without
generating or compiling anything. New weights may use a *subset* of the compiled
connectivity (absent synapses get weight 0, which adds exactly nothing).

**Inputs** are given to each copy by a ``NeuronGroup`` whose threshold reads a
bit-packed 2-d ``TimedArray`` (52 channels per float64 word, exact) and is evaluated in
the ``start`` slot: input spikes count in the step they are given, exactly like the
runner's ``SpikeGeneratorGroup``, but with a fixed-size array that ``run_args`` can
replace for every test set.

The program writes its monitors to a results folder; they are read back directly from
the files Brian2 names in the manifest, so a compiled project also serves other
processes and survives Brian2's device being reset.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.activity import Activity, sorted_events
from biolstm.brian.backends import STANDALONE_BACKENDS, activated, require_backend
from biolstm.brian.runner import _reset_code, assemble_network
from biolstm.encoding import SpikeTrains
from biolstm.errors import BiolstmError
from biolstm.fileio import atomic_write_text
from biolstm.spec import NetworkSpec

__all__ = [
    "BITS_PER_WORD",
    "StructureError",
    "CompiledNetwork",
    "evaluate",
    "strict_float",
    "cache_root",
    "default_replicas",
]

BITS_PER_WORD = 52
"""Input channels packed into one float64 word of the input TimedArray (exact below 2**53)."""

MANIFEST = "biolstm_manifest.json"
PATTERN = "biolstm_pattern.npz"
MANIFEST_VERSION = 1


class StructureError(BiolstmError, ValueError):
    """A network that does not fit a compiled structure (so it needs its own build)."""


def cache_root() -> Path:
    """Folder of compiled projects: ``$BIOLSTM_CACHE/brian`` or ``~/.cache/biolstm/brian``."""
    base = os.environ.get("BIOLSTM_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "biolstm") / "brian"


def default_replicas(backend: str, n_samples: int) -> int:
    """Copies of the network per run: enough to amortise per-step overhead (see
    ``benchmarks/codegen.py``), never more than the samples."""
    wanted = {"cuda_standalone": 256, "genn": 256}.get(backend, 32)
    return max(1, min(wanted, n_samples))


# ---------------------------------------------------------------------------------------
# structure
# ---------------------------------------------------------------------------------------


def _params_si(pop) -> dict[str, float]:
    params = pop.neuron_params()
    return {name: float(getattr(params, name)) for name in pop.neuron_model.param_names()}


def _pattern(spec: NetworkSpec) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{projection: (i, j, delay_steps)}`` in synapse order (sorted by (i, j))."""
    out = {}
    for proj in spec.projections:
        i, j, _, _ = proj.synapses()
        out[proj.name] = (i, j, np.asarray(spec.delay_steps(proj), dtype=np.int64).reshape(-1)
                          * np.ones(len(i), dtype=np.int64))
    return out


def _structure(spec: NetworkSpec, n_steps: int, replicas: int, slots: int, backend: str,
               record: Mapping[str, tuple[Sequence[str], Sequence[int]]],
               pattern: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
               extra: Mapping[str, Any]) -> dict[str, Any]:
    import brian2

    digest = {}
    for name, (i, j, d) in pattern.items():
        h = hashlib.sha256()
        for arr in (i, j, d):
            h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
        digest[name] = h.hexdigest()
    return {
        "manifest_version": MANIFEST_VERSION,
        "backend": backend,
        "brian2": brian2.__version__,
        "dt": float(spec.dt),
        "n_steps": int(n_steps),
        "replicas": int(replicas),
        "slots": int(slots),
        "populations": [[p.name, p.size, p.model, _params_si(p)] for p in spec.populations],
        "inputs": [[g.name, g.size] for g in spec.inputs],
        "projections": [[p.name, p.pre, p.post, int(len(pattern[p.name][0])), digest[p.name]]
                        for p in spec.projections],
        "readout": [spec.readout.population, spec.readout.variable] if spec.readout else None,
        "record": {pop: [list(v), [int(x) for x in n]] for pop, (v, n) in sorted(record.items())},
        "extra": dict(extra),
    }


def _key(structure: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(structure, sort_keys=True).encode()).hexdigest()[:20]


def _non_pattern_parts(structure: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(structure)
    out["projections"] = [p[:3] for p in structure["projections"]]
    return out


@contextlib.contextmanager
def _default_dt(dt):
    """Set ``brian2.defaultclock.dt`` for the enclosed block, then restore it."""
    import brian2 as b2

    previous = b2.defaultclock.dt
    b2.defaultclock.dt = dt
    try:
        yield
    finally:
        b2.defaultclock.dt = previous


@contextlib.contextmanager
def strict_float(enabled: bool = True, backend: str = "cpp_standalone"):
    """Compile with IEEE-strict floating point for the enclosed block.

    Brian2 compiles with ``-ffast-math`` (and GCC contracts ``a*b + c`` into fused
    multiply-adds). The compiler may then vectorise a state-update loop and treat the
    neurons of the vector body and of the scalar remainder differently, so the last bit
    of a neuron's membrane can depend on where it sits in memory -- and a network copy
    at another offset is no longer bit-identical to the network alone (measured: 1 ulp
    differences in ``v`` of 22 % of the recorded values). Inside this block the C++
    flags drop ``-ffast-math`` and add ``-ffp-contract=off``; for ``cuda_standalone``
    nvcc gets ``--fmad=false`` instead of ``-use_fast_math``. The state updates this
    affects take a few per cent of the run time (synaptic events dominate).
    """
    import brian2 as b2

    if not enabled:
        yield
        return
    keys = ["codegen.cpp.extra_compile_args_gcc"]
    if backend == "cuda_standalone":
        import brian2cuda  # noqa: F401 - registers the nvcc preference

        keys.append("devices.cuda_standalone.cuda_backend.extra_compile_args_nvcc")
    saved = {k: list(b2.prefs[k]) for k in keys}
    try:
        gcc = [f for f in saved[keys[0]] if f != "-ffast-math"]
        b2.prefs[keys[0]] = gcc + ["-fno-fast-math", "-ffp-contract=off"]
        if len(keys) > 1:
            nvcc = [f for f in saved[keys[1]] if f != "-use_fast_math"]
            b2.prefs[keys[1]] = nvcc + ["--fmad=false"]
        yield
    finally:
        for k, v in saved.items():
            b2.prefs[k] = v


# ---------------------------------------------------------------------------------------
# the replicated Brian2 network
# ---------------------------------------------------------------------------------------


@dataclass
class _Built:
    network: Any
    input_arrays: dict[str, Any]        # input group -> TimedArray
    groups: dict[str, Any]
    synapses: dict[str, Any]
    spike_monitors: dict[str, Any]
    readout_monitor: Any
    trace_monitors: dict[str, Any]
    duration: Any


def _words(n_channels: int) -> int:
    return max(1, math.ceil(n_channels / BITS_PER_WORD))


def _build(spec: NetworkSpec, n_steps: int, replicas: int, slots: int,
           record: Mapping[str, tuple[Sequence[str], Sequence[int]]],
           pattern: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
           weights: Mapping[str, np.ndarray],
           input_values: Mapping[str, np.ndarray] | None = None) -> _Built:
    """Create the Brian2 objects of ``replicas`` copies x ``slots`` samples (current device)."""
    import brian2 as b2

    R, K, T = replicas, slots, n_steps
    dt = spec.dt
    # brian2cuda's synapse template refers to ``defaultclock`` by name, so every object
    # runs on it (the callers set and restore its dt, see _default_dt)
    clock = b2.defaultclock
    input_arrays, input_groups, groups = {}, {}, {}
    synapses, spike_monitors, trace_monitors = {}, {}, {}
    for grp in spec.inputs:
        C, W = grp.size, _words(grp.size)
        values = (np.zeros((K * T, R * W)) if input_values is None else input_values[grp.name])
        ta = b2.TimedArray(values, dt=dt, name=f"biolstm_in_{grp.name}")
        g = b2.NeuronGroup(
            R * C, "word : integer (constant)\nbitval : 1 (constant)",
            threshold=f"({ta.name}(t, word) / bitval) % 2.0 >= 1.0", reset="",
            namespace={ta.name: ta}, clock=clock, name=f"input_{grp.name}")
        g.thresholder["spike"].when = "start"
        g.thresholder["spike"].order = 0
        idx = np.arange(R * C)
        g.word = (idx // C) * W + (idx % C) // BITS_PER_WORD
        g.bitval = 2.0 ** ((idx % C) % BITS_PER_WORD)
        input_arrays[grp.name] = ta
        input_groups[grp.name] = g

    for pop in spec.populations:
        model = pop.neuron_model
        params = pop.neuron_params()
        kwargs = model.brian_kwargs(params)
        reset_code = _reset_code(model, params, kwargs["namespace"])
        group = b2.NeuronGroup(R * pop.size, clock=clock, name=f"pop_{pop.name}", **kwargs)
        for var, value in model.initial_values(params).items():
            setattr(group, var, value)
        group.run_regularly(reset_code, dt=T * dt, when="start", order=1, name=f"reset_{pop.name}")
        groups[pop.name] = group
        if model.threshold is not None:
            spike_monitors[pop.name] = b2.SpikeMonitor(group, record=True, name=f"spikes_{pop.name}")
        if pop.name in record:
            variables, neurons = record[pop.name]
            neurons = np.asarray(neurons, dtype=int)
            full = (np.arange(R)[:, None] * pop.size + neurons[None, :]).ravel()
            trace_monitors[pop.name] = b2.StateMonitor(
                group, list(variables), record=full, when="end", name=f"trace_{pop.name}")

    for proj in spec.projections:
        if len(pattern[proj.name][0]) == 0:  # no synapses: nothing to build (Brian2 cannot connect none)
            continue
        post = spec.population(proj.post)
        gate = f"int((t_in_timesteps % {T}) >= lat)"
        if post.neuron_model.threshold is not None and float(post.neuron_params().t_ref) >= 2 * float(dt):
            gate += " * int(not_refractory_post)"
        source = input_groups.get(proj.pre) or groups[proj.pre]
        syn = b2.Synapses(
            source, groups[proj.post],
            model="w : volt (constant)\nlat : integer (constant)",
            on_pre=f"{post.neuron_model.membrane}_post += w * {gate}",
            clock=clock, name=f"proj_{proj.name}")
        i, j, steps = pattern[proj.name]
        n_pre, n_post = spec.source_size(proj.pre), post.size
        offsets = np.arange(R)
        syn.connect(i=(offsets[:, None] * n_pre + i[None, :]).ravel(),
                    j=(offsets[:, None] * n_post + j[None, :]).ravel())
        syn.w = np.tile(weights[proj.name], R) * b2.volt
        syn.lat = np.tile(steps + (0 if spec.is_input(proj.pre) else 1), R)
        if np.any(steps > 0):
            syn.delay = np.tile(steps, R) * dt
        synapses[proj.name] = syn

    network, readout_monitor = assemble_network(spec, input_groups, groups, synapses,
                                                spike_monitors, trace_monitors)
    return _Built(network, input_arrays, groups, synapses, spike_monitors, readout_monitor,
                  trace_monitors, K * T * dt)


def _pack_inputs(spec: NetworkSpec, inputs: SpikeTrains, first: int, count: int,
                 replicas: int, slots: int) -> dict[str, np.ndarray]:
    """Input TimedArray values for samples ``first .. first+count-1``: ``[K*T, R*W]``.

    Sample ``first + k*R + r`` runs in copy ``r``, slot ``k``.
    """
    R, K, T = replicas, slots, inputs.n_steps
    out = {}
    for grp in spec.inputs:
        W = _words(grp.size)
        ev = inputs.events[grp.name]
        lo, hi = np.searchsorted(ev[:, 0], [first, first + count])
        ev = ev[lo:hi]
        q = ev[:, 0] - first
        row = (q // R) * T + ev[:, 1]
        col = (q % R) * W + ev[:, 2] // BITS_PER_WORD
        bits = np.zeros((K * T, R * W), dtype=np.uint64)
        np.bitwise_or.at(bits, (row, col), np.left_shift(np.uint64(1), (ev[:, 2] % BITS_PER_WORD).astype(np.uint64)))
        out[grp.name] = bits.astype(np.float64)
    return out


def _weights_into(spec: NetworkSpec, pattern: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
                  ) -> dict[str, np.ndarray]:
    """Weights of ``spec`` in the synapse order of the compiled ``pattern`` (0 where absent)."""
    out = {}
    for proj in spec.projections:
        ci, cj, csteps = pattern[proj.name]
        i, j, w, _ = proj.synapses()
        n_post = spec.population(proj.post).size
        compiled = ci * n_post + cj
        wanted = i * n_post + j
        pos = np.searchsorted(compiled, wanted)
        pos_ok = np.minimum(pos, max(len(compiled) - 1, 0))
        found = (pos < len(compiled)) & (compiled[pos_ok] == wanted) if len(compiled) else np.zeros(len(wanted), bool)
        if not found.all():
            bad = np.flatnonzero(~found)
            raise StructureError(
                f"projection '{proj.name}': {len(bad)} synapse(s) are not in the compiled "
                f"connectivity (first: pre {int(i[bad[0]])} -> post {int(j[bad[0]])}); a network "
                f"with new connections needs its own build (a new CompiledNetwork)")
        steps = np.asarray(spec.delay_steps(proj), dtype=np.int64).reshape(-1) * np.ones(len(i), np.int64)
        if np.any(csteps[pos] != steps):
            raise StructureError(
                f"projection '{proj.name}': delays differ from the compiled ones; delays are part "
                f"of the structure, build a new CompiledNetwork")
        values = np.zeros(len(compiled))
        values[pos] = w
        out[proj.name] = values
    return out


# ---------------------------------------------------------------------------------------
# compiled standalone program
# ---------------------------------------------------------------------------------------


class CompiledNetwork:
    """A standalone Brian2 program built once for one network structure.

    Parameters
    ----------
    spec : NetworkSpec
        The network; its weights are only the initial ones (every :meth:`run` passes
        the weights of the spec it is given).
    n_steps : int
        Steps per sample.
    backend : {"cpp_standalone", "cuda_standalone"}
        Standalone device.
    replicas : int
        ``R``: copies of the network side by side in one Brian2 network.
    slots : int
        ``K``: samples each copy runs one after another in one run of the program.
        One run evaluates ``R*K`` samples; a test set needs ``ceil(S/(R*K))`` runs of the
        same program.
    record : mapping, optional
        Extra traces ``{population: (variables, neuron_indices)}``.
    directory : path, optional
        Project folder; default ``cache_root()/<backend>-<structure hash>``.
    cuda_options : dict, optional
        ``gpu_id`` / ``compute_capability`` for ``cuda_standalone``.
    make_jobs : int, optional
        Parallel compiler jobs (default: the number of CPUs).
    strict_float : bool
        Compile without ``-ffast-math`` and FMA contraction (:func:`strict_float`), so
        that every copy computes bit-identically to the network alone (default True).

    Attributes
    ----------
    key : str
        Hash of the structure (names the default project folder).
    compiled_here : bool
        True if :meth:`build` generated and compiled the program (False: reused).
    timings : dict
        ``codegen_s`` and ``compile_s`` of the build (0 when reused).
    """

    def __init__(self, spec: NetworkSpec, n_steps: int, *, backend: str = "cpp_standalone",
                 replicas: int = 32, slots: int = 1,
                 record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
                 directory: str | os.PathLike | None = None, cuda_options: dict | None = None,
                 make_jobs: int | None = None, strict_float: bool = True) -> None:
        if backend not in ("cpp_standalone", "cuda_standalone"):
            raise ValueError(
                f"CompiledNetwork: backend {backend!r} is not supported; use 'cpp_standalone' or "
                f"'cuda_standalone' (for numpy/cython use biolstm.brian.evaluate)")
        for label, value in (("n_steps", n_steps), ("replicas", replicas), ("slots", slots)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"CompiledNetwork: {label} = {value!r} must be a positive integer")
        self.spec = spec
        self.n_steps = int(n_steps)
        self.backend = backend
        self.replicas = int(replicas)
        self.slots = int(slots)
        self.record = {k: (list(v), [int(x) for x in n]) for k, (v, n) in dict(record or {}).items()}
        unknown = sorted(set(self.record) - {p.name for p in spec.populations})
        if unknown:
            raise ValueError(f"record: no population(s) {unknown}; populations are "
                             f"{[p.name for p in spec.populations]}")
        self.cuda_options = dict(cuda_options or {})
        self.make_jobs = make_jobs or os.cpu_count() or 1
        self.strict_float = bool(strict_float)
        self.pattern = _pattern(spec)
        extra: dict[str, Any] = {"strict_float": self.strict_float}
        if backend == "cuda_standalone":
            extra["cuda"] = {k: self.cuda_options[k] for k in sorted(self.cuda_options)}
        self.structure = _structure(spec, self.n_steps, self.replicas, self.slots, backend,
                                    self.record, self.pattern, extra)
        self.key = _key(self.structure)
        self.directory = Path(directory) if directory is not None else cache_root() / f"{backend}-{self.key}"
        self.compiled_here = False
        self.timings: dict[str, float] = {"codegen_s": 0.0, "compile_s": 0.0}
        self.manifest: dict[str, Any] | None = None

    # -- properties ----------------------------------------------------------------
    @property
    def samples_per_run(self) -> int:
        """Samples one run of the program evaluates (``replicas * slots``)."""
        return self.replicas * self.slots

    @property
    def binary(self) -> Path:
        """The compiled program (``main`` in the project folder)."""
        return self.directory / "main"

    def is_built(self) -> bool:
        """True if the project folder holds this structure's manifest and program."""
        path = self.directory / MANIFEST
        if not (path.is_file() and self.binary.is_file() and (self.directory / PATTERN).is_file()):
            return False
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        return manifest.get("key") == self.key

    # -- build -----------------------------------------------------------------------
    def build(self, *, progress: bool = True) -> "CompiledNetwork":
        """Generate and compile the program unless this structure is already built.

        Works without a GPU for ``cuda_standalone`` (build only). Returns ``self``.
        """
        require_backend(self.backend, build_only=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        with _locked(self.directory / ".biolstm.lock"):
            if self.is_built():
                self.manifest = json.loads((self.directory / MANIFEST).read_text())
                self.compiled_here = False
                self.timings = {"codegen_s": 0.0, "compile_s": 0.0}
                return self
            self._generate_and_compile(progress)
        return self

    def _generate_and_compile(self, progress: bool) -> None:
        import brian2 as b2

        (self.directory / MANIFEST).unlink(missing_ok=True)
        if progress:
            from tqdm.auto import tqdm

            tqdm.write(f"{self.backend}: generating and compiling {self.replicas} cop"
                       f"{'y' if self.replicas == 1 else 'ies'} x {self.slots} slot(s) of "
                       f"{self.spec.n_neurons} neurons in {self.directory}")
        weights = {name: w for name, w in _weights_into(self.spec, self.pattern).items()}
        saved_make = b2.prefs["devices.cpp_standalone.extra_make_args_unix"]
        t0 = time.perf_counter()
        with strict_float(self.strict_float, self.backend), _default_dt(self.spec.dt), \
                activated(self.backend, self.directory, build_only=True, cuda_options=self.cuda_options):
            b2.prefs["devices.cpp_standalone.extra_make_args_unix"] = [f"-j{self.make_jobs}"]
            try:
                built = _build(self.spec, self.n_steps, self.replicas, self.slots, self.record,
                               self.pattern, weights)
                built.network.run(built.duration)
                device = b2.get_device()
                device.build(directory=str(self.directory), compile=True, run=False,
                             with_output=False)
                total = time.perf_counter() - t0
                make = (getattr(device, "timers", {}) or {}).get("compile", {}).get("make")
                manifest = self._manifest(device, built)
            finally:
                b2.prefs["devices.cpp_standalone.extra_make_args_unix"] = saved_make
        compile_s = float(make) if make is not None else float("nan")
        self.timings = {"codegen_s": total - (compile_s if make is not None else 0.0),
                        "compile_s": compile_s}
        manifest["timings"] = self.timings
        np.savez(self.directory / PATTERN, **{f"{n}.{k}": a for n, arrs in self.pattern.items()
                                             for k, a in zip("ijd", arrs)})
        atomic_write_text(self.directory / MANIFEST, json.dumps(manifest, indent=1), overwrite=True)
        self.manifest = manifest
        self.compiled_here = True

    def _manifest(self, device, built: _Built) -> dict[str, Any]:
        def array(var) -> dict[str, str]:
            return {"file": device.get_array_filename(var), "dtype": np.dtype(var.dtype).str}

        spikes = {name: {"i": array(mon.variables["i"]), "t": array(mon.variables["t"])}
                  for name, mon in built.spike_monitors.items()}
        traces = {}
        for pop, mon in built.trace_monitors.items():
            for var in self.record[pop][0]:
                traces[f"{pop}.{var}"] = array(mon.variables[var])
        readout = array(built.readout_monitor.variables[self.spec.readout.variable]) \
            if built.readout_monitor is not None else None
        return {
            "key": self.key,
            "structure": self.structure,
            "spikes": spikes,
            "readout": readout,
            "traces": traces,
            "weights": {name: f"{syn.name}.w" for name, syn in built.synapses.items()},
            "inputs": {name: f"{ta.name}.values" for name, ta in built.input_arrays.items()},
            "sizes": {p.name: p.size for p in self.spec.populations},
        }

    # -- run ----------------------------------------------------------------------------
    def check(self, spec: NetworkSpec) -> dict[str, np.ndarray]:
        """Weights of ``spec`` in compiled synapse order; :class:`StructureError` if ``spec``
        does not fit this build (other populations, parameters, sizes, new synapses)."""
        theirs = _structure(spec, self.n_steps, self.replicas, self.slots, self.backend,
                            self.record, _pattern(spec), self.structure["extra"])
        mine, other = _non_pattern_parts(self.structure), _non_pattern_parts(theirs)
        if mine != other:
            diff = sorted(k for k in mine if mine[k] != other.get(k))
            raise StructureError(
                f"the network differs from the compiled structure in {diff}; only weights "
                f"(on the compiled synapses) and inputs can change without a new build")
        return _weights_into(spec, self.pattern)

    def run(self, inputs: SpikeTrains, spec: NetworkSpec | None = None, *,
            progress: bool = True, keep_files: bool = False) -> Activity:
        """Evaluate every sample of ``inputs`` with the weights of ``spec``, no compilation.

        Parameters
        ----------
        inputs : SpikeTrains
            Any number of samples of ``n_steps`` steps.
        spec : NetworkSpec, optional
            Network with new weights (default: the one given at construction); must
            fit the compiled structure (:meth:`check`).
        progress : bool
            Progress bar over samples.
        keep_files : bool
            Keep the run folder (inputs, weights, results) for inspection.

        Returns
        -------
        Activity
            As :func:`biolstm.brian.simulate` returns it; ``timings`` has ``codegen_s``,
            ``compile_s`` (0 when the build was reused), ``run_s`` (the program, wall),
            ``network_run_s`` (the part of it inside Brian2's ``Network.run``, as the
            program reports it; the rest is start-up: loading arrays, creating synapses),
            ``io_s`` (packing inputs, reading results) and ``runs``.
        """
        if self.manifest is None:
            self.build(progress=progress)
        require_backend(self.backend)
        spec = spec or self.spec
        weights = self.check(spec)
        inputs.check_against(spec)
        if inputs.n_steps != self.n_steps:
            raise StructureError(f"inputs have {inputs.n_steps} steps per sample, the program was "
                                 f"compiled for {self.n_steps}")
        S, per_run = inputs.n_samples, self.samples_per_run
        workdir = Path(tempfile.mkdtemp(prefix=f"run_{os.getpid()}_", dir=self.directory))
        t_io = time.perf_counter()
        args = []
        for name, w in weights.items():
            if name not in self.manifest["weights"]:  # a projection without synapses
                continue
            path = workdir / f"w_{name}.dat"
            np.tile(w, self.replicas).astype(np.float64).tofile(path)
            args.append(f"{self.manifest['weights'][name]}={path}")
        io_s = time.perf_counter() - t_io
        run_s = 0.0
        self._network_run_s = 0.0
        parts: dict[str, list] = {name: [] for name in self.manifest["spikes"]}
        readout = np.zeros((S, self.n_steps, self.manifest["structure"]["populations"][
            [p.name for p in spec.populations].index(spec.readout.population)][1])) if spec.readout else None
        traces = {key: np.zeros((S, self.n_steps, len(self.record[key.split(".")[0]][1])))
                  for key in self.manifest["traces"]}
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=S, desc=f"Brian2 {self.backend}", unit="sample", leave=False)
        try:
            for first in range(0, S, per_run):
                count = min(per_run, S - first)
                t0 = time.perf_counter()
                run_args = list(args)
                for name, values in _pack_inputs(spec, inputs, first, count, self.replicas,
                                                  self.slots).items():
                    path = workdir / f"in_{name}.dat"
                    values.tofile(path)
                    run_args.append(f"{self.manifest['inputs'][name]}={path}")
                results = workdir / "results"
                if results.exists():
                    shutil.rmtree(results)
                results.mkdir()
                t1 = time.perf_counter()
                self._call(results, run_args)
                t2 = time.perf_counter()
                self._collect(spec, results, first, count, parts, readout, traces)
                io_s += (t1 - t0) + (time.perf_counter() - t2)
                run_s += t2 - t1
                if bar is not None:
                    bar.update(count)
        finally:
            if bar is not None:
                bar.close()
            if not keep_files:
                shutil.rmtree(workdir, ignore_errors=True)
        spikes = {name: sorted_events(ev) for name, ev in parts.items()}
        timings = dict(self.timings)
        timings.update(run_s=run_s, network_run_s=self._network_run_s, io_s=io_s,
                       runs=float(math.ceil(S / per_run)))
        return Activity.from_spec(
            spec, inputs, spikes,
            readout=readout,
            traces=traces,
            trace_neurons={key: np.asarray(self.record[key.split(".")[0]][1]) for key in traces},
            backend=self.backend,
            timings=timings,
            metadata={"compiled_here": self.compiled_here, "project": str(self.directory),
                      "replicas": self.replicas, "slots": self.slots, "key": self.key},
        )

    def _call(self, results: Path, run_args: list[str]) -> None:
        cmd = [str(self.binary), "--results_dir", str(results) + os.sep, *run_args]
        proc = subprocess.run(cmd, cwd=self.directory, capture_output=True, text=True)
        if proc.returncode != 0 or "Error" in proc.stderr:
            raise RuntimeError(
                f"the compiled {self.backend} program in {self.directory} failed (exit code "
                f"{proc.returncode}): {(proc.stderr or proc.stdout).strip()[-2000:]}")
        info = results / "last_run_info.txt"
        if info.is_file():
            self._network_run_s += float(info.read_text().split()[0])

    def _collect(self, spec, results: Path, first: int, count: int, parts, readout, traces) -> None:
        R, K, T = self.replicas, self.slots, self.n_steps
        dt = float(spec.dt)
        sizes = self.manifest["sizes"]

        def load(entry):
            path = results / entry["file"]
            if not path.exists():  # Brian2 leaves an empty dynamic array's file empty or absent
                return np.zeros(0, dtype=np.dtype(entry["dtype"]))
            return np.fromfile(path, dtype=np.dtype(entry["dtype"]))

        for name, files in self.manifest["spikes"].items():
            i = load(files["i"]).astype(np.int64)
            g = np.rint(load(files["t"]) / dt).astype(np.int64)
            q = (g // T) * R + i // sizes[name]
            ev = np.stack([first + q, g % T, i % sizes[name]], axis=1)
            parts[name].append(ev[q < count])

        def per_sample(values: np.ndarray, width: int) -> np.ndarray:
            v = values.reshape(K, T, R, width).transpose(0, 2, 1, 3).reshape(K * R, T, width)
            return v[:count]

        if readout is not None and self.manifest["readout"] is not None:
            n_out = readout.shape[2]
            readout[first:first + count] = per_sample(load(self.manifest["readout"]), n_out)
        for key, entry in self.manifest["traces"].items():
            width = traces[key].shape[2]
            traces[key][first:first + count] = per_sample(load(entry), width)


@contextlib.contextmanager
def _locked(path: Path):
    """Exclusive lock on ``path`` (one build per project folder at a time)."""
    import fcntl

    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------
# one entry point for every backend
# ---------------------------------------------------------------------------------------


def evaluate(spec: NetworkSpec, inputs: SpikeTrains, backend: str = "cpp_standalone", *,
             replicas: int | None = None, slots: int | None = None,
             record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
             directory: str | os.PathLike | None = None, progress: bool = True,
             cuda_options: dict | None = None) -> Activity:
    """Evaluate a test set: many samples per build and per run, same result as :func:`simulate`.

    Parameters
    ----------
    spec : NetworkSpec
    inputs : SpikeTrains
        The test set.
    backend : str
        ``numpy``/``cython``: one Brian2 network with ``replicas`` copies that runs all
        samples in one ``run()``; ``cpp_standalone``/``cuda_standalone``: a
        :class:`CompiledNetwork` (built once per structure, reused from its cache folder).
    replicas : int, optional
        Copies of the network side by side (default :func:`default_replicas`).
    slots : int, optional
        Samples per copy and run (standalone default 4; runtime: all samples in one run).
    record, directory, progress, cuda_options
        As in :class:`CompiledNetwork` and :func:`simulate`.

    Returns
    -------
    Activity
    """
    R = replicas or default_replicas(backend, inputs.n_samples)
    if backend in STANDALONE_BACKENDS:
        if backend == "genn":
            raise ValueError("evaluate: the genn backend has no run_args (brian2genn needs brian2 "
                             "2.5 in its own environment, see 'make genn'); use "
                             "biolstm.brian.genn.run_spec(spec, inputs)")
        K = slots or max(1, min(4, math.ceil(inputs.n_samples / R)))
        net = CompiledNetwork(spec, inputs.n_steps, backend=backend, replicas=R, slots=K,
                              record=record, directory=directory, cuda_options=cuda_options)
        return net.build(progress=progress).run(inputs, spec, progress=progress)
    return _evaluate_runtime(spec, inputs, backend, R, record, progress)


def _evaluate_runtime(spec, inputs, backend, replicas, record, progress) -> Activity:
    import brian2 as b2

    from biolstm.brian.runner import _ProgressReport

    record = {k: (list(v), [int(x) for x in n]) for k, (v, n) in dict(record or {}).items()}
    S = inputs.n_samples
    R = max(1, min(replicas, S))
    K = math.ceil(S / R)
    pattern = _pattern(spec)
    timings: dict[str, float] = {}
    with strict_float(backend == "cython"), _default_dt(spec.dt), activated(backend):
        t0 = time.perf_counter()
        built = _build(spec, inputs.n_steps, R, K, record, pattern, _weights_into(spec, pattern),
                       _pack_inputs(spec, inputs, 0, S, R, K))
        timings["build_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = _ProgressReport(f"Brian2 {backend}") if progress else None
        built.network.run(built.duration, report=report, report_period=1 * b2.second)
        if report is not None:
            report.bar.close()
        timings["run_s"] = time.perf_counter() - t0
        T, dt = inputs.n_steps, float(spec.dt)
        spikes = {}
        for name, mon in built.spike_monitors.items():
            i = np.asarray(mon.i[:], dtype=np.int64)
            g = np.rint(np.asarray(mon.t[:]) / dt).astype(np.int64)
            n = spec.population(name).size
            q = (g // T) * R + i // n
            ev = np.stack([q, g % T, i % n], axis=1)[q < S]
            spikes[name] = ev[np.lexsort((ev[:, 2], ev[:, 1], ev[:, 0]))]

        def per_sample(values, width):
            return np.asarray(values).T.reshape(K, T, R, width).transpose(0, 2, 1, 3).reshape(K * R, T, width)[:S]

        readout = None
        if built.readout_monitor is not None:
            readout = per_sample(getattr(built.readout_monitor, spec.readout.variable)[:],
                                 spec.population(spec.readout.population).size)
            readout = np.asarray(readout)
        traces, trace_neurons = {}, {}
        for pop, mon in built.trace_monitors.items():
            variables, neurons = record[pop]
            for var in variables:
                traces[f"{pop}.{var}"] = np.asarray(per_sample(getattr(mon, var)[:], len(neurons)))
                trace_neurons[f"{pop}.{var}"] = np.asarray(neurons)
    return Activity.from_spec(
        spec, inputs, spikes,
        readout=readout,
        traces=traces, trace_neurons=trace_neurons,
        backend=backend, timings=timings,
        metadata={"replicas": R, "slots": K},
    )
