"""Build a Brian2 network from a NetworkSpec, run a batch of samples, return Activity.

All samples of a batch run in **one** Brian2 network and one ``run()`` call (one
compiled program on ``cpp_standalone``): sample ``k`` occupies steps
``k*T .. (k+1)*T - 1``. At the start of every sample a ``run_regularly`` operation
puts every neuron back into its reset state (the paper resets the whole Loihi core
between samples), and every synapse ignores spikes emitted in an earlier sample, so
each sample is simulated exactly as if it ran alone.

Schedule (``Network.schedule``): ``start`` (input spikes, sample reset), ``groups``
(exact integration), ``synapses`` (spikes of the previous step from populations, of
this step from inputs), ``thresholds``, ``resets``, ``end`` (monitors). A spike
therefore reaches its targets one step after it is emitted, like Loihi's implicit
recurrent delay, and input spikes count in the step they are given. This is the
order :class:`biolstm.neurons.DiscreteModel` documents.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from biolstm.activity import Activity
from biolstm.brian.backends import activated
from biolstm.encoding import SpikeTrains
from biolstm.spec import NetworkSpec

__all__ = [
    "SCHEDULE",
    "BrianNetwork",
    "build_network",
    "simulate",
    "input_generators",
    "sample_gate",
    "add_sample_reset",
    "execute",
    "collect_activity",
    "concatenate_activities",
]

SCHEDULE = ["start", "groups", "synapses", "thresholds", "resets", "end"]


@dataclass
class BrianNetwork:
    """The Brian2 objects built for one NetworkSpec and one batch of inputs.

    Attributes
    ----------
    network : brian2.Network
    groups : dict of population name to NeuronGroup
    generators : dict of input group name to SpikeGeneratorGroup
    synapses : dict of projection name to Synapses
    spike_monitors : dict of population name to SpikeMonitor
    readout_monitor : StateMonitor or None
    trace_monitors : dict of population name to StateMonitor
    n_samples, n_steps : int
    """

    network: Any
    groups: dict[str, Any]
    generators: dict[str, Any]
    synapses: dict[str, Any]
    spike_monitors: dict[str, Any]
    readout_monitor: Any
    trace_monitors: dict[str, Any]
    n_samples: int
    n_steps: int
    trace_spec: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)

    @property
    def duration(self):
        """Simulated time of the whole batch (Brian2 quantity)."""
        return self.n_samples * self.n_steps * self.network.objects[0].clock.dt


def _reset_code(model, params, namespace: dict) -> str:
    lines = []
    for var, value in model.initial_values(params).items():
        key = f"biolstm_init_{var}"
        namespace[key] = value
        lines.append(f"{var} = {key}")
    if model.threshold is not None and float(params.t_ref) > 0:
        lines.append("lastspike = -1e9*second")
        lines.append("not_refractory = True")
    return "\n".join(lines)


def input_generators(sizes: Mapping[str, int], inputs: SpikeTrains, clock) -> dict[str, Any]:
    """One ``SpikeGeneratorGroup`` per input group, samples laid end to end in time.

    Sample ``k``'s spike at step ``s`` fires at step ``k*T + s`` in the ``start`` slot,
    so it reaches its targets in the same step (through the synapses slot).

    Parameters
    ----------
    sizes : mapping of str to int
        Channels of every input group, in creation order.
    inputs : SpikeTrains
        The batch (already checked against ``sizes``).
    clock : brian2.Clock
        The network's clock (``dt`` = one step).
    """
    import brian2 as b2

    T = inputs.n_steps
    dt = clock.dt
    generators = {}
    for name, size in sizes.items():
        ev = inputs.events[name]
        times = (ev[:, 0] * T + ev[:, 1]) * dt
        generators[name] = b2.SpikeGeneratorGroup(
            size, ev[:, 2], times, when="start", order=0, clock=clock, name=f"input_{name}")
    return generators


def sample_gate(n_steps: int) -> str:
    """Brian2 expression, 1 or 0, that drops spikes emitted in an earlier sample.

    The synapse needs an integer variable ``lat`` (constant): the steps between a
    spike's emission and its arrival (delay + 1 for populations, delay for inputs).
    A spike arriving at step ``t`` of a sample was emitted in the same sample exactly
    when ``t >= lat``.
    """
    return f"int((t_in_timesteps % {int(n_steps)}) >= lat)"


def add_sample_reset(group, code: str, n_steps: int, dt, name: str) -> Any:
    """Run ``code`` on ``group`` at the start of every sample (``start`` slot, order 1)."""
    return group.run_regularly(code, dt=n_steps * dt, when="start", order=1, name=name)


def build_network(
    spec: NetworkSpec,
    inputs: SpikeTrains,
    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
) -> BrianNetwork:
    """Create the Brian2 objects for ``spec`` driven by ``inputs`` (on the current device).

    Parameters
    ----------
    spec : NetworkSpec
    inputs : SpikeTrains
        One group of events per input group of ``spec``.
    record : mapping, optional
        ``{population: (variables, neuron_indices)}`` state traces to record each step.

    Returns
    -------
    BrianNetwork
    """
    import brian2 as b2

    inputs.check_against(spec)
    dt = spec.dt
    T = inputs.n_steps
    S = inputs.n_samples
    record = dict(record or {})
    groups: dict[str, Any] = {}
    generators: dict[str, Any] = {}
    synapses: dict[str, Any] = {}
    spike_monitors: dict[str, Any] = {}
    trace_monitors: dict[str, Any] = {}
    trace_spec: dict[str, tuple[list[str], np.ndarray]] = {}
    clock = b2.Clock(dt=dt, name="biolstm_clock")

    generators.update(input_generators({g.name: g.size for g in spec.inputs}, inputs, clock))

    for pop in spec.populations:
        model = pop.neuron_model
        params = pop.neuron_params()
        kwargs = model.brian_kwargs(params)
        namespace = kwargs["namespace"]
        reset_code = _reset_code(model, params, namespace)
        group = b2.NeuronGroup(pop.size, clock=clock, name=f"pop_{pop.name}", **kwargs)
        for var, value in model.initial_values(params).items():
            setattr(group, var, value)
        add_sample_reset(group, reset_code, T, dt, f"reset_{pop.name}")
        groups[pop.name] = group
        if model.threshold is not None:
            spike_monitors[pop.name] = b2.SpikeMonitor(group, record=True, name=f"spikes_{pop.name}")
        if pop.name in record:
            variables, neurons = record[pop.name]
            neurons = np.asarray(neurons, dtype=int)
            trace_monitors[pop.name] = b2.StateMonitor(
                group, list(variables), record=neurons, when="end", name=f"trace_{pop.name}")
            trace_spec[pop.name] = (list(variables), neurons)
    unknown = sorted(set(record) - set(groups))
    if unknown:
        raise ValueError(f"record: no population(s) {unknown}; populations are {sorted(groups)}")

    for proj in spec.projections:
        post = spec.population(proj.post)
        membrane = post.neuron_model.membrane
        gate = sample_gate(T)
        post_params = post.neuron_params()
        if post.neuron_model.threshold is not None and float(post_params.t_ref) >= 2 * float(dt):
            gate += " * int(not_refractory_post)"
        i, j, w, _ = proj.synapses()
        if len(i) == 0:  # an all-zero projection has no synapses (Brian2 cannot connect none)
            continue
        source = generators.get(proj.pre) or groups[proj.pre]
        syn = b2.Synapses(
            source, groups[proj.post],
            model="w : volt (constant)\nlat : integer (constant)",
            on_pre=f"{membrane}_post += w * {gate}",
            clock=clock, name=f"proj_{proj.name}")
        steps = spec.delay_steps(proj)
        syn.connect(i=i, j=j)
        syn.w = w * b2.volt
        syn.lat = steps + (0 if spec.is_input(proj.pre) else 1)
        if np.any(steps > 0):
            syn.delay = steps * dt
        synapses[proj.name] = syn

    network, readout_monitor = assemble_network(spec, generators, groups, synapses,
                                                spike_monitors, trace_monitors)
    return BrianNetwork(network, groups, generators, synapses, spike_monitors, readout_monitor,
                        trace_monitors, S, T, trace_spec)


def assemble_network(spec: NetworkSpec, sources: dict, groups: dict, synapses: dict,
                     spike_monitors: dict, trace_monitors: dict):
    """The Brian2 ``Network`` of built objects, with the readout monitor and biolstm's schedule.

    Returns ``(network, readout_monitor)``; the monitor (``None`` without a readout)
    records ``spec.readout.variable`` of its population at the end of every step.
    """
    import brian2 as b2

    readout_monitor = None
    if spec.readout is not None:
        readout_monitor = b2.StateMonitor(
            groups[spec.readout.population], spec.readout.variable, record=True,
            when="end", name="readout")
    objects = [*sources.values(), *groups.values(), *synapses.values(),
               *spike_monitors.values(), *trace_monitors.values()]
    if readout_monitor is not None:
        objects.append(readout_monitor)
    network = b2.Network(*objects, name="biolstm_network")
    network.schedule = SCHEDULE
    return network, readout_monitor


class _ProgressReport:
    """Brian2 ``report`` callback that drives a tqdm bar."""

    def __init__(self, desc: str) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=100, desc=desc, unit="%", leave=False)

    def __call__(self, elapsed, completed, start, duration) -> None:
        self.bar.update(int(completed * 100) - self.bar.n)
        if completed >= 1:
            self.bar.close()


def simulate(
    spec: NetworkSpec,
    inputs: SpikeTrains,
    backend: str = "numpy",
    *,
    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
    progress: bool = True,
    directory: str | None = None,
) -> Activity:
    """Run every sample of ``inputs`` through ``spec`` in Brian2 and collect the activity.

    Parameters
    ----------
    spec : NetworkSpec
    inputs : SpikeTrains
        The batch; each sample starts from the reset state.
    backend : {"numpy", "cython", "cpp_standalone"}
        Brian2 code-generation target (see :mod:`biolstm.brian.backends`).
    record : mapping, optional
        Extra state traces ``{population: (variables, neuron_indices)}``.
    progress : bool
        Show a progress bar.
    directory : str, optional
        Project folder for ``cpp_standalone`` (a temporary folder by default).

    Returns
    -------
    Activity
        Spikes per population, input counts, readout traces and requested traces.

    Raises
    ------
    BackendUnavailableError
        If the backend cannot run here (the message says what to install).
    """
    return execute(
        lambda: build_network(spec, inputs, record),
        inputs.n_samples * inputs.n_steps * spec.dt,
        backend,
        lambda built, timings: _collect(spec, inputs, built, backend, timings),
        progress=progress,
        directory=directory,
    )


def execute(
    build: Callable[[], BrianNetwork],
    duration: Any,
    backend: str,
    collect: Callable[[BrianNetwork, dict[str, float]], Activity],
    *,
    progress: bool = True,
    directory: str | None = None,
) -> Activity:
    """Build, run and collect one batch on ``backend`` (shared by every Brian2 mode).

    Parameters
    ----------
    build : callable
        Creates the Brian2 objects on the current device and returns a :class:`BrianNetwork`.
    duration : Quantity
        Simulated time of the whole batch.
    backend : {"numpy", "cython", "cpp_standalone"}
    collect : callable
        ``collect(built, timings) -> Activity``; runs while the device still holds the
        results (``cpp_standalone`` forgets them when the block is left).
    progress : bool
        Progress bar (runtime backends) or a line naming the standalone project.
    directory : str, optional
        Project folder for ``cpp_standalone``.

    Returns
    -------
    Activity
        With ``timings``: ``build_s`` and ``run_s`` (runtime) or ``codegen_s``,
        ``compile_and_run_s`` and, as Brian2 reports them, ``compile_s`` (make) and
        ``run_s`` (the compiled binary) (standalone); ``collect_s`` for reading the results.
    """
    import brian2 as b2

    timings: dict[str, float] = {}
    with activated(backend, directory) as project:
        t0 = time.perf_counter()
        built = build()
        timings["build_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if project is None:
            report = _ProgressReport(f"Brian2 {backend}") if progress else None
            built.network.run(duration, report=report, report_period=1 * b2.second, namespace={})
            if report is not None:
                report.bar.close()
            timings["run_s"] = time.perf_counter() - t0
        else:
            built.network.run(duration, namespace={})
            timings["codegen_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            if progress:
                from tqdm.auto import tqdm

                tqdm.write(f"cpp_standalone: compiling and running in {project}")
            b2.device.build(directory=str(project), compile=True, run=True, with_output=False)
            timings["compile_and_run_s"] = time.perf_counter() - t0
            device_timers = getattr(b2.device, "timers", {})
            if isinstance(device_timers.get("compile"), dict) and device_timers["compile"].get("make") is not None:
                timings["compile_s"] = float(device_timers["compile"]["make"])
            if device_timers.get("run_binary") is not None:
                timings["run_s"] = float(device_timers["run_binary"])
        t0 = time.perf_counter()
        activity = collect(built, timings)
        activity.timings["collect_s"] = time.perf_counter() - t0
        del built
    # Free this batch's Brian2 objects now: their names (and so the names of the generated
    # C++ files) are then reused by the next batch, and a standalone project folder that is
    # used again only recompiles the files whose contents changed.
    gc.collect()
    return activity


def _collect(spec: NetworkSpec, inputs: SpikeTrains, built: BrianNetwork, backend: str,
             timings: dict[str, float]) -> Activity:
    readout = (spec.readout.population, spec.readout.variable, spec.readout.at) if spec.readout else None
    return collect_activity(built, inputs, dt=float(spec.dt),
                            population_sizes={p.name: p.size for p in spec.populations},
                            readout=readout, backend=backend, timings=timings)


def collect_activity(
    built: BrianNetwork,
    inputs: SpikeTrains,
    *,
    dt: float,
    population_sizes: Mapping[str, int],
    readout: tuple[str, str, str] | None,
    backend: str,
    timings: dict[str, float],
    dtype: Any = None,
    metadata: Mapping[str, Any] | None = None,
) -> Activity:
    """Read the monitors of a finished batch into an :class:`Activity`.

    Spike times become ``(sample, step, neuron)`` rows; readout and traces become
    ``[n_samples, n_steps, k]`` arrays, converted to ``dtype`` when given (the Loihi
    mode stores integers).
    """
    T = inputs.n_steps
    S = inputs.n_samples

    def as_array(values):
        values = np.asarray(values)
        return np.rint(values).astype(dtype) if dtype is not None else values

    spikes = {}
    for name, mon in built.spike_monitors.items():
        step = np.rint(np.asarray(mon.t[:]) / dt).astype(np.int64)
        neuron = np.asarray(mon.i[:], dtype=np.int64)
        # monitors record in time order and, within a step, in neuron order: sort only if not
        key = step * (int(neuron.max()) + 1 if len(neuron) else 1) + neuron
        if len(key) > 1 and np.any(key[1:] < key[:-1]):
            order = np.argsort(key, kind="stable")
            step, neuron = step[order], neuron[order]
        spikes[name] = np.stack([step // T, step % T, neuron], axis=1) if len(step) else np.zeros((0, 3), np.int64)
    readout_values = None
    if built.readout_monitor is not None and readout is not None:
        values = as_array(getattr(built.readout_monitor, readout[1])[:])
        readout_values = values.T.reshape(S, T, -1)
    traces, trace_neurons = {}, {}
    for pop, (variables, neurons) in built.trace_spec.items():
        mon = built.trace_monitors[pop]
        for var in variables:
            values = as_array(getattr(mon, var)[:])
            traces[f"{pop}.{var}"] = values.T.reshape(S, T, -1)
            trace_neurons[f"{pop}.{var}"] = neurons
    return Activity(
        dt=dt,
        n_samples=S,
        n_steps=T,
        population_sizes=dict(population_sizes),
        spikes=spikes,
        input_counts={name: inputs.counts_per_step(name) for name in inputs.sizes},
        readout=readout_values,
        readout_population=readout[0] if readout else None,
        readout_variable=readout[1] if readout else None,
        readout_at=readout[2] if readout else "last",
        traces=traces,
        trace_neurons=trace_neurons,
        backend=backend,
        timings=timings,
        metadata=dict(metadata or {}),
    )


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
