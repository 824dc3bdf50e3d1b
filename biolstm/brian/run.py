"""Execute a built network and collect its monitors into one Activity, for every layout.

:func:`simulate` (a float NetworkSpec), :func:`evaluate` (a test set, copies side by
side) and the Loihi-exact mode (:func:`biolstm.loihi.emulate.simulate_quantized`) all
lower their network to a :class:`~biolstm.brian.build.NetworkDescription` and call
:func:`run_description`:

* on ``numpy`` and ``cython`` the description is built once (:func:`biolstm.brian.build.build`)
  with all samples of the batch and run with one ``Network.run``;
* on ``cpp_standalone`` and ``cuda_standalone`` it runs a compiled program from the
  structure-keyed cache (:mod:`biolstm.brian.standalone`): generated and compiled once per
  structure, then every batch of weights and inputs is a run of the same program.

Either way :func:`collect_run` turns the raw monitor arrays of one run (``R`` copies x
``K`` slots) into per-sample spikes, readout and traces.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.activity import Activity
from biolstm.brian.backends import STANDALONE_BACKENDS, activated
from biolstm.brian.build import NetworkDescription, build, default_dt, describe, pack_inputs
from biolstm.encoding import SpikeTrains

__all__ = [
    "RawRun",
    "Collector",
    "collect_run",
    "run_description",
    "simulate",
    "evaluate",
    "default_replicas",
    "default_slots",
    "concatenate_activities",
]


def default_replicas(backend: str, n_samples: int) -> int:
    """Copies of the network per run of :func:`evaluate`, never more than the samples.

    Copies amortise the per-step overhead of every Brian2 code object over more neurons:
    decisive in Python (``numpy``/``cython``: 32) and on a GPU (256); in C++ that overhead
    is small (about 31 calls per step for the sMNIST network) while every copy adds its
    synapses to the memory a step touches and to the program's start-up, so
    ``cpp_standalone`` uses 4 (the README's code-generation section has the measurements).
    """
    wanted = {"cuda_standalone": 256, "genn": 256, "cpp_standalone": 4}.get(backend, 32)
    return max(1, min(wanted, n_samples))


def default_slots(n_samples: int, replicas: int, most: int = 32) -> int:
    """Samples per copy and run of a compiled program: the next power of two of
    ``ceil(n_samples / replicas)``, at most ``most`` (slots amortise the program's start-up,
    and a handful of programs serve every test-set size)."""
    need = max(1, math.ceil(n_samples / replicas))
    slots = 1
    while slots < min(need, most):
        slots *= 2
    return slots


# ---------------------------------------------------------------------------------------
# collecting
# ---------------------------------------------------------------------------------------


@dataclass
class RawRun:
    """The monitors of one run, as plain arrays.

    Attributes
    ----------
    spikes : dict
        ``{group: (neuron_index [n], time_s [n])}`` of every spike monitor.
    readout : ndarray or None
        ``[K*T, R*width]`` readout values (SI or integer units).
    traces : dict
        ``{"population.variable": [K*T, R*width]}``.
    """

    spikes: dict[str, tuple[np.ndarray, np.ndarray]]
    readout: np.ndarray | None = None
    traces: dict[str, np.ndarray] = field(default_factory=dict)


class Collector:
    """Accumulates the runs of one batch of ``n_samples`` into an :class:`Activity`."""

    def __init__(self, desc: NetworkDescription, inputs: SpikeTrains) -> None:
        self.desc, self.inputs = desc, inputs
        S, T = inputs.n_samples, inputs.n_steps
        self.parts: dict[str, list[np.ndarray]] = {p: [] for p in desc.spiking_populations}
        self.readout = None
        if desc.readout is not None:
            self.readout = np.zeros((S, T, desc.population_sizes[desc.readout[0]]))
        self.traces = {f"{pop}.{var}": np.zeros((S, T, len(neurons)))
                       for pop, (variables, neurons) in desc.record.items() for var in variables}

    def add(self, raw: RawRun, first: int, count: int, replicas: int, slots: int) -> None:
        """Add one run's monitors: samples ``first .. first+count-1`` (copy-major slots)."""
        collect_run(self.desc, raw, first, count, replicas, slots, self.inputs.n_steps,
                    self.parts, self.readout, self.traces)

    def activity(self, backend: str, timings: Mapping[str, float],
                 metadata: Mapping[str, Any] | None = None) -> Activity:
        desc = self.desc

        def values(x):
            return np.rint(x).astype(np.int64) if desc.integer_units else x

        readout = values(self.readout) if self.readout is not None else None
        ro = desc.readout
        return Activity(
            dt=float(desc.dt), n_samples=self.inputs.n_samples, n_steps=self.inputs.n_steps,
            population_sizes=desc.population_sizes,
            spikes={name: _in_order(parts, self.inputs.n_steps, desc.population_sizes[name])
                    for name, parts in self.parts.items()},
            input_counts={name: self.inputs.counts_per_step(name) for name in desc.inputs},
            readout=readout,
            readout_population=ro[0] if ro else None,
            readout_variable=ro[1] if ro else None,
            readout_at=ro[2] if ro else "last",
            traces={k: values(v) for k, v in self.traces.items()},
            trace_neurons={f"{pop}.{var}": np.asarray(neurons)
                           for pop, (variables, neurons) in desc.record.items() for var in variables},
            backend=backend,
            timings=dict(timings),
            metadata={**desc.metadata, **dict(metadata or {})},
        )


def _rows_sorted(rows: np.ndarray) -> bool:
    """Are the rows ``(sample, step, neuron)`` in lexicographic order (ties allowed)?"""
    if len(rows) < 2:
        return True
    d = rows[1:] - rows[:-1]
    later = d[:, 0] > 0
    same = d[:, 0] == 0
    later |= same & (d[:, 1] > 0)
    later |= same & (d[:, 1] == 0) & (d[:, 2] >= 0)
    return bool(later.all())


def _in_order(parts: list[np.ndarray], n_steps: int, n_neurons: int) -> np.ndarray:
    """Spike rows ``(sample, step, neuron)`` of consecutive runs, sorted, as int64.

    :func:`collect_run` orders each run's rows by sample (within a sample the monitors give
    them by step and neuron), and runs hold disjoint sample ranges but may finish in any order
    (two processes): so the parts are put in the order of their first sample, checked part by
    part (small temporaries) and joined; otherwise a stable sort by sample orders them, and a
    full sort is the fallback.
    """
    if not parts:
        return np.zeros((0, 3), np.int64)
    parts = sorted((p for p in parts if len(p)), key=lambda p: int(p[0, 0])) or parts[:1]
    if all(_rows_sorted(p) for p in parts) and all(
            _rows_sorted(np.stack([a[-1], b[0]])) for a, b in zip(parts, parts[1:])):
        return np.concatenate(parts, dtype=np.int64)
    ev = np.concatenate(parts).astype(np.int64, copy=False)
    if np.any(ev[1:, 0] < ev[:-1, 0]):
        sample = ev[:, 0]
        if sample.max() < 2 ** 16:  # numpy's stable sort of 16-bit keys is a radix sort: ~5x faster
            sample = sample.astype(np.uint16)
        ev = ev[np.argsort(sample, kind="stable")]
    key = (ev[:, 0] * n_steps + ev[:, 1]) * n_neurons + ev[:, 2]
    if np.any(key[1:] < key[:-1]):
        ev = ev[np.argsort(key, kind="stable")]
    return ev


def collect_run(desc: NetworkDescription, raw: RawRun, first: int, count: int, replicas: int,
                slots: int, n_steps: int, parts: dict[str, list[np.ndarray]],
                readout: np.ndarray | None, traces: dict[str, np.ndarray]) -> None:
    """Unpack one run of ``replicas`` copies x ``slots`` slots into per-sample arrays.

    Spike ``(i, t)`` of group ``g`` is sample ``first + (step // T) * R + i // N_g``, step
    ``step % T`` of that sample, neuron ``i % N_g`` (minus its population's start);
    samples ``>= first + count`` (empty slots of the last run) are dropped. Readout and
    traces ``[K*T, R*width]`` become ``[count, T, width]`` at ``first`` of ``readout`` /
    ``traces[key]``.
    """
    R, K, T = replicas, slots, n_steps
    dt = float(desc.dt)
    # int32 throughout (a run holds < 2**31 steps and neurons): half the memory traffic of
    # int64 on millions of spikes; the rows become int64 once, in _in_order
    for gname, (i, t) in raw.spikes.items():
        gd = desc.group(gname)
        local = np.asarray(i).astype(np.int32, copy=False)
        ts = np.rint(np.asarray(t, dtype=np.float64) / dt).astype(np.int32)
        if R > 1:
            copy, local = np.divmod(local, np.int32(gd.size))
        if K > 1:
            slot, step = np.divmod(ts, np.int32(T))
            q = slot * np.int32(R) + copy if R > 1 else slot
        else:
            step, q = ts, copy if R > 1 else np.zeros_like(ts)
        if R > 1:  # time order -> sample order; stable, so each sample keeps (step, neuron) order
            order = np.argsort(q.astype(np.uint16) if R * K < 2**16 else q, kind="stable")  # radix sort
            q, step, local = q[order], step[order], local[order]
        keep = None if len(q) == 0 or q.max() < count else q < count   # None: every spike kept
        which = (np.searchsorted([m.start for m in gd.members], local, side="right") - 1
                 if len(gd.members) > 1 else None)
        for k, m in enumerate(gd.members):
            if not m.spiking:
                continue
            sel = keep if which is None else (which == k if keep is None else keep & (which == k))
            rows = (q, step, local) if sel is None else (q[sel], step[sel], local[sel])
            parts[m.name].append(np.stack([rows[0] + np.int32(first), rows[1], rows[2] - np.int32(m.start)],
                                          axis=1))

    def per_sample(values: np.ndarray, width: int) -> np.ndarray:
        v = np.asarray(values).reshape(K, T, R, width).transpose(0, 2, 1, 3).reshape(K * R, T, width)
        return v[:count]

    if readout is not None and raw.readout is not None:
        readout[first:first + count] = per_sample(raw.readout, readout.shape[2])
    for key, values in raw.traces.items():
        traces[key][first:first + count] = per_sample(values, traces[key].shape[2])


def _raw_from_monitors(built) -> RawRun:
    desc = built.description
    spikes = {name: (np.asarray(mon.i[:]), np.asarray(mon.t_[:])) for name, mon in built.spike_monitors.items()}
    readout = None
    if built.readout_monitor is not None:
        readout = np.asarray(getattr(built.readout_monitor, desc.readout[1] + "_")[:]).T
    traces = {}
    for pop, mon in built.trace_monitors.items():
        for var in desc.record[pop][0]:
            traces[f"{pop}.{var}"] = np.asarray(getattr(mon, var + "_")[:]).T
    return RawRun(spikes, readout, traces)


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------


class _ProgressReport:
    """Brian2 ``report`` callback that drives a tqdm bar."""

    def __init__(self, desc: str) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=100, desc=desc, unit="%", leave=False)

    def __call__(self, elapsed, completed, start, duration) -> None:
        self.bar.update(int(completed * 100) - self.bar.n)
        if completed >= 1:
            self.bar.close()


def run_runtime(desc: NetworkDescription, inputs: SpikeTrains, backend: str, *, replicas: int = 1,
                progress: bool = True, metadata: Mapping[str, Any] | None = None) -> Activity:
    """All samples of ``inputs`` in one Brian2 network on ``numpy``/``cython``.

    ``replicas`` copies side by side, ``ceil(S / replicas)`` samples end to end in each.
    ``timings``: ``build_s`` (creating the objects), ``run_s`` (``Network.run``),
    ``collect_s``.
    """
    import brian2 as b2

    S, T = inputs.n_samples, inputs.n_steps
    R = max(1, min(int(replicas), S))
    K = max(1, math.ceil(S / R))
    timings: dict[str, float] = {}
    with default_dt(desc.dt), activated(backend):
        t0 = time.perf_counter()
        built = build(desc, T, R, K, input_values=pack_inputs(desc, inputs, 0, S, R, K))
        timings["build_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = _ProgressReport(f"Brian2 {backend}") if progress else None
        built.network.run(built.duration, report=report, report_period=1 * b2.second, namespace={})
        if report is not None:
            report.bar.close()
        timings["run_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        collector = Collector(desc, inputs)
        collector.add(_raw_from_monitors(built), 0, S, R, K)
        timings["collect_s"] = time.perf_counter() - t0
        del built
    # free this batch's Brian2 objects now, so that the next batch can use their names
    gc.collect()
    return collector.activity(backend, timings, {**dict(metadata or {}), "replicas": R, "slots": K})


def run_description(desc: NetworkDescription, inputs: SpikeTrains, backend: str = "numpy", *,
                    replicas: int | None = None, slots: int | None = None, progress: bool = True,
                    directory: str | None = None, strict_float: bool | None = None,
                    cuda_options: dict | None = None, layout_metadata: bool = True) -> Activity:
    """Run every sample of ``inputs`` through ``desc`` on ``backend``.

    Parameters
    ----------
    desc : NetworkDescription
    inputs : SpikeTrains
    backend : str
        ``numpy``/``cython`` (one Brian2 network) or ``cpp_standalone``/``cuda_standalone``
        (a program from the cache of :mod:`biolstm.brian.standalone`).
    replicas, slots : int, optional
        Layout. Runtime: ``replicas`` copies (default 1; samples end to end). Standalone:
        default :func:`biolstm.brian.standalone.simulate_layout`.
    progress : bool
    directory : str, optional
        Standalone project folder instead of the cache.
    strict_float : bool, optional
        Standalone: compile without ``-ffast-math`` (:func:`biolstm.brian.standalone.strict_float`);
        default: the current Brian2 preferences as they are.
    cuda_options : dict, optional
        ``gpu_id`` / ``compute_capability`` for ``cuda_standalone``.
    layout_metadata : bool
        Put ``replicas``/``slots`` (and for standalone the program's key) into the metadata.
    """
    if dict(inputs.sizes) != dict(desc.inputs):
        from biolstm.encoding import InputError

        raise InputError(f"the network's input groups are {dict(desc.inputs)}, the spike trains give "
                         f"{dict(inputs.sizes)}; provide spikes for exactly the network's input groups")
    if backend in STANDALONE_BACKENDS:
        if backend == "genn":
            from biolstm.brian.backends import BackendUnavailableError

            raise BackendUnavailableError(
                "backend 'genn' runs in its own environment (.venv-genn, brian2 2.5.4), not in this "
                "Python: use biolstm.brian.genn.run_spec(spec, inputs) or "
                "biolstm.loihi.emulate.run_genn(qnet, inputs)")
        from biolstm.brian import standalone

        net = standalone.simulate_program(desc, inputs.n_steps, inputs.n_samples, backend,
                                          replicas=replicas, slots=slots, directory=directory,
                                          strict_float=strict_float, cuda_options=cuda_options)
        act = net.build(progress=progress).run(inputs, progress=progress)
    else:
        act = run_runtime(desc, inputs, backend, replicas=replicas or 1, progress=progress)
    if not layout_metadata:
        for key in ("replicas", "slots"):
            act.metadata.pop(key, None)
    return act


def simulate(
    spec,
    inputs: SpikeTrains,
    backend: str = "numpy",
    *,
    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
    progress: bool = True,
    directory: str | None = None,
) -> Activity:
    """Run every sample of ``inputs`` through ``spec`` in Brian2 and collect the activity.

    Every sample starts from the reset state and no spike crosses a sample boundary
    (:mod:`biolstm.brian.build`), so the result does not depend on how the samples are
    laid out. On ``numpy``/``cython`` all samples run end to end in one Brian2 network;
    on ``cpp_standalone``/``cuda_standalone`` they run through a compiled program from the
    cache (:mod:`biolstm.brian.standalone`): compiled once per network structure, with
    the current Brian2 compiler preferences, and reused for new weights and inputs.

    Parameters
    ----------
    spec : NetworkSpec
    inputs : SpikeTrains
        The batch; each sample starts from the reset state.
    backend : {"numpy", "cython", "cpp_standalone", "cuda_standalone"}
        Brian2 code-generation target (see :mod:`biolstm.brian.backends`).
    record : mapping, optional
        Extra state traces ``{population: (variables, neuron_indices)}``.
    progress : bool
        Show a progress bar.
    directory : str, optional
        Project folder for the standalone backends (default: the program cache).

    Returns
    -------
    Activity
        Spikes per population, input counts, readout traces and requested traces;
        ``timings`` ``build_s``/``run_s`` (runtime) or ``codegen_s``, ``compile_s`` (0 when
        the program came from the cache), ``run_s``, ``network_run_s``, ``io_s``
        (standalone); standalone ``metadata`` names the program (``key``, ``project``,
        ``compiled_here``).

    Raises
    ------
    BackendUnavailableError
        If the backend cannot run here (the message says what to install).
    """
    from biolstm.brian.backends import require_backend

    require_backend(backend)
    inputs.check_against(spec)
    desc = describe(spec, record)
    return run_description(desc, inputs, backend, progress=progress, directory=directory,
                           layout_metadata=False)


def evaluate(spec, inputs: SpikeTrains, backend: str = "cpp_standalone", *,
             replicas: int | None = None, slots: int | None = None,
             record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
             directory: str | None = None, progress: bool = True,
             cuda_options: dict | None = None) -> Activity:
    """Evaluate a test set: many samples per build and per run, same result as :func:`simulate`.

    Parameters
    ----------
    spec : NetworkSpec (or QuantizedNetwork)
    inputs : SpikeTrains
        The test set.
    backend : str
        ``numpy``/``cython``: one Brian2 network with ``replicas`` copies that runs all
        samples in one ``run()``; ``cpp_standalone``/``cuda_standalone``: a
        :class:`~biolstm.brian.standalone.CompiledNetwork` (built once per structure,
        reused from the cache), compiled with IEEE-strict floating point so that every
        copy computes bit-identically to the network alone.
    replicas : int, optional
        Copies of the network side by side (default :func:`default_replicas`).
    slots : int, optional
        Samples per copy and run (standalone default :func:`default_slots`; runtime: all
        samples in one run).
    record, directory, progress, cuda_options
        As in :class:`~biolstm.brian.standalone.CompiledNetwork` and :func:`simulate`.

    Returns
    -------
    Activity
    """
    from biolstm.brian.standalone import strict_float

    R = replicas or default_replicas(backend, inputs.n_samples)
    desc = describe(spec, record)
    if backend in STANDALONE_BACKENDS:
        if backend == "genn":
            raise ValueError("evaluate: the genn backend has no run_args (brian2genn needs brian2 "
                             "2.5 in its own environment, see 'make genn'); use "
                             "biolstm.brian.genn.run_spec(spec, inputs)")
        K = slots or default_slots(inputs.n_samples, R)
        return run_description(desc, inputs, backend, replicas=R, slots=K, progress=progress,
                               directory=directory, strict_float=True, cuda_options=cuda_options)
    with strict_float(backend == "cython"):
        return run_runtime(desc, inputs, backend, replicas=R, progress=progress)


def concatenate_activities(parts: Sequence[Activity]) -> Activity:
    """Join activities of consecutive batches (same network, same steps) into one.

    Sample indices of part ``k`` are shifted by the samples of the parts before it;
    timings are summed (and ``batches`` counts the parts).
    """
    if not parts:
        raise ValueError("concatenate_activities needs at least one Activity")
    first = parts[0]
    for part in parts[1:]:
        if part.n_steps != first.n_steps or part.population_sizes != first.population_sizes:
            raise ValueError("activities to join must come from the same network and steps per sample")
    offsets = np.cumsum([0] + [p.n_samples for p in parts[:-1]])

    def shifted(events: Sequence[np.ndarray]) -> np.ndarray:
        out = []
        for ev, off in zip(events, offsets):
            ev = np.array(ev, dtype=np.int64, copy=True)
            ev[:, 0] += off
            out.append(ev)
        return np.concatenate(out) if out else np.zeros((0, 3), np.int64)

    timings: dict[str, float] = {}
    for part in parts:
        for key, value in part.timings.items():
            timings[key] = timings.get(key, 0.0) + value
    timings["batches"] = len(parts)
    return Activity(
        dt=first.dt,
        n_samples=int(sum(p.n_samples for p in parts)),
        n_steps=first.n_steps,
        population_sizes=dict(first.population_sizes),
        spikes={name: shifted([p.spikes[name] for p in parts]) for name in first.spikes},
        input_counts={name: np.concatenate([p.input_counts[name] for p in parts]) for name in first.input_counts},
        readout=None if first.readout is None else np.concatenate([p.readout for p in parts]),
        readout_population=first.readout_population,
        readout_variable=first.readout_variable,
        readout_at=first.readout_at,
        traces={name: np.concatenate([p.traces[name] for p in parts]) for name in first.traces},
        trace_neurons=dict(first.trace_neurons),
        backend=first.backend,
        timings=timings,
        metadata=dict(first.metadata),
    )
