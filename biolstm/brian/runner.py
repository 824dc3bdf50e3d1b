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

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.activity import Activity
from biolstm.brian.backends import activated
from biolstm.encoding import SpikeTrains
from biolstm.spec import NetworkSpec

__all__ = ["SCHEDULE", "BrianNetwork", "build_network", "simulate"]

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

    for grp in spec.inputs:
        ev = inputs.events[grp.name]
        times = (ev[:, 0] * T + ev[:, 1]) * dt
        generators[grp.name] = b2.SpikeGeneratorGroup(
            grp.size, ev[:, 2], times, when="start", order=0, clock=clock, name=f"input_{grp.name}")

    for pop in spec.populations:
        model = pop.neuron_model
        params = pop.neuron_params()
        kwargs = model.brian_kwargs(params)
        namespace = kwargs["namespace"]
        reset_code = _reset_code(model, params, namespace)
        group = b2.NeuronGroup(pop.size, clock=clock, name=f"pop_{pop.name}", **kwargs)
        for var, value in model.initial_values(params).items():
            setattr(group, var, value)
        group.run_regularly(reset_code, dt=T * dt, when="start", order=1, name=f"reset_{pop.name}")
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
        gate = "int((t_in_timesteps % {T}) >= lat)".format(T=T)
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

    readout_monitor = None
    if spec.readout is not None:
        readout_monitor = b2.StateMonitor(
            groups[spec.readout.population], spec.readout.variable, record=True,
            when="end", name="readout")

    objects = [*generators.values(), *groups.values(), *synapses.values(),
               *spike_monitors.values(), *trace_monitors.values()]
    if readout_monitor is not None:
        objects.append(readout_monitor)
    network = b2.Network(*objects, name="biolstm_network")
    network.schedule = SCHEDULE
    return BrianNetwork(network, groups, generators, synapses, spike_monitors, readout_monitor,
                        trace_monitors, S, T, trace_spec)


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
    import brian2 as b2

    timings: dict[str, float] = {}
    with activated(backend, directory) as project:
        t0 = time.perf_counter()
        built = build_network(spec, inputs, record)
        timings["build_s"] = time.perf_counter() - t0
        duration = inputs.n_samples * inputs.n_steps * spec.dt
        t0 = time.perf_counter()
        if project is None:
            report = _ProgressReport(f"Brian2 {backend}") if progress else None
            built.network.run(duration, report=report, report_period=1 * b2.second)
            if report is not None:
                report.bar.close()
            timings["run_s"] = time.perf_counter() - t0
        else:
            built.network.run(duration)
            timings["codegen_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            if progress:
                from tqdm.auto import tqdm

                tqdm.write(f"cpp_standalone: compiling and running in {project}")
            b2.device.build(directory=str(project), compile=True, run=True, with_output=False)
            timings["compile_and_run_s"] = time.perf_counter() - t0
        activity = _collect(spec, inputs, built, backend, timings)
    return activity


def _collect(spec: NetworkSpec, inputs: SpikeTrains, built: BrianNetwork, backend: str,
             timings: dict[str, float]) -> Activity:
    dt = float(spec.dt)
    T = inputs.n_steps
    S = inputs.n_samples
    spikes = {}
    for name, mon in built.spike_monitors.items():
        step = np.rint(np.asarray(mon.t[:]) / dt).astype(np.int64)
        neuron = np.asarray(mon.i[:], dtype=np.int64)
        ev = np.stack([step // T, step % T, neuron], axis=1) if len(step) else np.zeros((0, 3), np.int64)
        order = np.lexsort((ev[:, 2], ev[:, 1], ev[:, 0]))
        spikes[name] = ev[order]
    readout = None
    if built.readout_monitor is not None:
        values = np.asarray(getattr(built.readout_monitor, spec.readout.variable)[:])
        readout = values.T.reshape(S, T, -1)
    traces, trace_neurons = {}, {}
    for pop, (variables, neurons) in built.trace_spec.items():
        mon = built.trace_monitors[pop]
        for var in variables:
            values = np.asarray(getattr(mon, var)[:])
            traces[f"{pop}.{var}"] = values.T.reshape(S, T, -1)
            trace_neurons[f"{pop}.{var}"] = neurons
    return Activity(
        dt=dt,
        n_samples=S,
        n_steps=T,
        population_sizes={p.name: p.size for p in spec.populations},
        spikes=spikes,
        input_counts={g.name: inputs.counts_per_step(g.name) for g in spec.inputs},
        readout=readout,
        readout_population=spec.readout.population if spec.readout else None,
        readout_variable=spec.readout.variable if spec.readout else None,
        readout_at=spec.readout.at if spec.readout else "last",
        traces=traces,
        trace_neurons=trace_neurons,
        backend=backend,
        timings=timings,
    )
