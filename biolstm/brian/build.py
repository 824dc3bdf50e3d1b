"""One Brian2 builder: a plain network description -> Brian2 objects for R copies x K samples.

Both kinds of network biolstm simulates lower to one :class:`NetworkDescription` --
a float :class:`~biolstm.spec.NetworkSpec` (:func:`from_spec`) and a Loihi-exact
integer :class:`~biolstm.loihi.fixed_point.QuantizedNetwork`, which describes itself
(its ``brian_description`` method, :func:`biolstm.loihi.emulate.loihi_description`;
:func:`describe` takes either, this package imports nothing of :mod:`biolstm.loihi`) --
and :func:`build` turns a description into Brian2 objects on the current device:

* **groups** (``NeuronGroup``): size, model keyword arguments, initial values, per-neuron
  values (replaceable per run), the code that puts every neuron back into its reset
  state at the start of every sample, extra operations every step; a group holds one or
  more populations (the Loihi core holds them all, like the compartments of one core);
* **projections** (``Synapses``): pre/post, indices, weights, delays and the variable
  each spike adds its weight to;
* **inputs**: a group per input whose threshold reads a bit-packed 2-d ``TimedArray``
  (:data:`BITS_PER_WORD` channels per float64 word, exact) in the ``start`` slot, so
  input spikes count in the step they are given and the inputs of a batch are one
  fixed-size array (that a compiled program takes as a run argument);
* readout and recorded traces (``StateMonitor``), spikes (``SpikeMonitor``).

**Layout.** ``R`` copies of the network live side by side (each group has ``R*N``
neurons, each projection ``R`` block-diagonal copies of its connectivity) and each copy
runs ``K`` samples end to end in time ("slots"): sample ``k*R + r`` of a run occupies
copy ``r``, steps ``k*T .. (k+1)*T - 1``. ``R = 1, K = S`` is a batch laid end to end,
as :func:`biolstm.brian.simulate` runs it.

**Sample isolation** (its one home): at the start of every sample a ``run_regularly``
operation (``start`` slot, order 1) runs the group's reset code, and every synapse
multiplies its weight by :func:`sample_gate`, which drops spikes emitted in an earlier
sample. Each sample is therefore simulated exactly as if it ran alone.

:data:`SCHEDULE` is the float network's order (``start``: inputs and sample reset,
``groups``: integration, ``synapses``: population spikes of the previous step and input
spikes of this step, ``thresholds``, ``resets``, ``end``: monitors); the Loihi
description sums synaptic input before the update (its own schedule). Brian2 orders
objects of one slot by name, so the names of the objects are part of the description.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.errors import BiolstmError

__all__ = [
    "BUILDER_VERSION",
    "BITS_PER_WORD",
    "SCHEDULE",
    "Member",
    "GroupDescription",
    "ProjectionDescription",
    "NetworkDescription",
    "Built",
    "StructureError",
    "from_spec",
    "describe",
    "build",
    "sample_gate",
    "pack_inputs",
    "weights_into",
    "default_dt",
]

BUILDER_VERSION = 5
"""Version of the code :func:`build` generates (and of the patch of
:func:`biolstm.brian.standalone.patch_network_source`); part of every compiled program's
cache key."""

BITS_PER_WORD = 52
"""Input channels packed into one float64 word of the input TimedArray (exact below 2**53)."""

SCHEDULE = ["start", "groups", "synapses", "thresholds", "resets", "end"]
"""Brian2 schedule of the float network (``Network.schedule``)."""


class StructureError(BiolstmError, ValueError):
    """A network that does not fit a compiled structure (so it needs its own build)."""


# ---------------------------------------------------------------------------------------
# the description
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A population inside a group: neurons ``start .. start + size - 1`` of every copy."""

    name: str
    start: int
    size: int
    spiking: bool


@dataclass
class GroupDescription:
    """One ``NeuronGroup`` (per copy: ``size`` neurons).

    Attributes
    ----------
    name : str
        Brian2 name (``pop_<population>``, ``loihi_core``).
    size : int
        Neurons of one copy.
    kwargs : dict
        ``NeuronGroup`` keyword arguments but the size, clock and name (``model``,
        ``threshold``, ``reset``, ``refractory``, ``method``, ``namespace``).
    initial : dict
        Initial values set once (Brian2 quantities or numbers): part of the structure.
    values : dict of str to ndarray
        Per-neuron values ``[size]`` in SI units (e.g. the Loihi profiles, an external
        current), set for every run: a compiled program takes new ones without being
        compiled again.
    sample_reset : str
        Code run at the start of every sample (``start`` slot, order 1).
    reset_name : str
        Name of that operation.
    updates : list of (code, when, order, name)
        Extra operations run every step.
    members : list of Member
        The populations of the group.
    monitor_name : str
        Name of the group's ``SpikeMonitor`` (if a member spikes).
    """

    name: str
    size: int
    kwargs: dict[str, Any]
    initial: dict[str, Any]
    values: dict[str, np.ndarray]
    sample_reset: str
    reset_name: str
    updates: list[tuple[str, str, int, str]]
    members: list[Member]
    monitor_name: str

    @property
    def spiking(self) -> bool:
        """True if a member population spikes (the group gets a SpikeMonitor)."""
        return any(m.spiking for m in self.members)


@dataclass
class ProjectionDescription:
    """One ``Synapses`` object (one copy's connectivity, sorted by ``(i, j)``).

    Attributes
    ----------
    name : str
        Brian2 name (``proj_<projection>``, ``syn_core``).
    label : str
        The projection(s) as the user named them (for messages).
    pre : str
        An input name (``from_input``) or a group name.
    post : str
        A group name.
    i, j : ndarray of int64
        Source and target neuron of every synapse, within one copy of the group.
    w : ndarray of float64
        Weight of every synapse, in SI units of ``target`` (``unit``).
    delay_steps : ndarray of int64
        Synaptic delay of every synapse, in steps.
    target : str
        Variable of ``post`` a spike adds ``w`` to.
    unit : str
        Brian2 unit of ``w`` (``"volt"``, ``"1"``).
    gate : str
        Extra factor of :func:`sample_gate` (e.g. ``" * int(not_refractory_post)"``).
    from_input : bool
        True if ``pre`` is an input (spikes arrive in the step they are given; from a
        group one step later).
    """

    name: str
    label: str
    pre: str
    post: str
    i: np.ndarray
    j: np.ndarray
    w: np.ndarray
    delay_steps: np.ndarray
    target: str
    unit: str
    gate: str
    from_input: bool

    @property
    def latency(self) -> np.ndarray:
        """Steps from a spike's emission to its arrival: delay (+ 1 from a group)."""
        return self.delay_steps + (0 if self.from_input else 1)


@dataclass
class NetworkDescription:
    """What :func:`build` needs, in plain values.

    Attributes
    ----------
    dt : float
        Time step in seconds.
    inputs : dict of str to int
        Input groups and their channels, in order.
    groups, projections : lists
        :class:`GroupDescription` and :class:`ProjectionDescription`.
    readout : (population, variable, at) or None
    record : dict
        ``{population: (variables, neuron_indices)}`` traces recorded every step.
    schedule : list of str
        Brian2 schedule.
    name : str
        Brian2 name of the ``Network``.
    integer_units : bool
        Readout and traces hold integers (the Loihi mode): collected as int64.
    metadata : dict
        Copied into every Activity's metadata.
    kind : str
        ``"spec"`` or ``"loihi"`` (for listings).
    """

    dt: float
    inputs: dict[str, int]
    groups: list[GroupDescription]
    projections: list[ProjectionDescription]
    readout: tuple[str, str, str] | None
    record: dict[str, tuple[list[str], list[int]]]
    schedule: list[str]
    name: str = "biolstm_network"
    integer_units: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    kind: str = "spec"

    # -- lookups ------------------------------------------------------------------------
    def group(self, name: str) -> GroupDescription:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)

    def member(self, population: str) -> tuple[GroupDescription, Member]:
        """The group holding ``population`` and its place in it."""
        for g in self.groups:
            for m in g.members:
                if m.name == population:
                    return g, m
        raise KeyError(population)

    @property
    def population_sizes(self) -> dict[str, int]:
        """Neurons of every population, in order."""
        return {m.name: m.size for g in self.groups for m in g.members}

    @property
    def spiking_populations(self) -> list[str]:
        return [m.name for g in self.groups for m in g.members if m.spiking]

    @property
    def n_neurons(self) -> int:
        return sum(g.size for g in self.groups)

    @property
    def n_synapses(self) -> int:
        return sum(len(p.i) for p in self.projections)

    def source_size(self, pre: str) -> int:
        return self.inputs[pre] if pre in self.inputs else self.group(pre).size

    def without_models(self) -> "NetworkDescription":
        """A copy without the groups' Brian2 arguments (``kwargs``, ``initial``: equations and
        quantities): everything running a compiled program and collecting its monitors reads,
        in plain values, so it pickles and loads without importing Brian2
        (:mod:`biolstm.brian.prepared`). It cannot be built or keyed (:meth:`structure`)."""
        return dataclasses.replace(self, groups=[dataclasses.replace(g, kwargs={}, initial={})
                                                 for g in self.groups])

    # -- structure ----------------------------------------------------------------------
    def pattern(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``{projection: (i, j, delay_steps)}`` of every projection, in synapse order."""
        return {p.name: (p.i, p.j, p.delay_steps) for p in self.projections}

    def structure(self) -> dict[str, Any]:
        """Everything a compiled program depends on but weights, per-neuron values and
        inputs, as JSON values (connectivity as a hash per projection)."""
        def digest(p: ProjectionDescription) -> str:
            h = hashlib.sha256()
            for arr in (p.i, p.j, p.delay_steps):
                h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
            return h.hexdigest()

        return {
            "kind": self.kind,
            "dt": float(self.dt),
            "schedule": list(self.schedule),
            "name": self.name,
            "inputs": [[k, int(v)] for k, v in self.inputs.items()],
            "populations": [_group_structure(g) for g in self.groups],
            "projections": [[p.name, p.label, p.pre, p.post, p.target, p.unit, p.gate,
                             bool(p.from_input), int(len(p.i)), digest(p)] for p in self.projections],
            "readout": list(self.readout) if self.readout else None,
            "record": {pop: [list(v), [int(x) for x in n]] for pop, (v, n) in sorted(self.record.items())},
            "integer_units": bool(self.integer_units),
        }


def _plain(value: Any) -> Any:
    """A JSON value for a namespace entry or initial value (number and SI dimensions)."""
    dim = getattr(value, "dim", None)
    if dim is not None:
        return [float(np.asarray(value)), str(dim)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return repr(value)


def _group_structure(g: GroupDescription) -> dict[str, Any]:
    kwargs = {}
    for k, v in sorted(g.kwargs.items()):
        if k == "namespace":
            kwargs[k] = {n: _plain(x) for n, x in sorted(v.items())}
        elif k == "refractory":
            kwargs[k] = _plain(v)
        else:
            kwargs[k] = str(v)
    return {
        "name": g.name, "size": int(g.size), "kwargs": kwargs,
        "initial": {k: _plain(v) for k, v in sorted(g.initial.items())},
        "values": sorted(g.values), "sample_reset": g.sample_reset, "reset_name": g.reset_name,
        "updates": [list(u) for u in g.updates],
        "members": [[m.name, m.start, m.size, m.spiking] for m in g.members],
        "monitor_name": g.monitor_name,
    }


def structure_key(structure: Mapping[str, Any]) -> str:
    """Short hash of a JSON structure (names a compiled program)."""
    return hashlib.sha256(json.dumps(structure, sort_keys=True).encode()).hexdigest()[:20]


def structure_difference(mine: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """Top-level entries of two structures that differ (connectivity hashes ignored)."""
    def without_pattern(s):
        out = dict(s)
        if "projections" in out:
            out["projections"] = [p[:8] for p in out["projections"]]
        return out

    a, b = without_pattern(mine), without_pattern(other)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


# ---------------------------------------------------------------------------------------
# NetworkSpec -> description
# ---------------------------------------------------------------------------------------


def _reset_code(model, params, namespace: dict) -> str:
    lines = []
    # sorted: initial_values follows a set (the order changes with the hash seed), and the
    # code is part of a compiled program's key
    for var, value in sorted(model.initial_values(params).items()):
        key = f"biolstm_init_{var}"
        namespace[key] = value
        lines.append(f"{var} = {key}")
    if model.threshold is not None and float(params.t_ref) > 0:
        lines.append("lastspike = -1e9*second")
        lines.append("not_refractory = True")
    return "\n".join(lines)


def _normalised_record(record) -> dict[str, tuple[list[str], list[int]]]:
    return {k: (list(v), [int(x) for x in np.asarray(n).reshape(-1)]) for k, (v, n) in dict(record or {}).items()}


def from_spec(spec, record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None
              ) -> NetworkDescription:
    """The description of a float NetworkSpec: one group per population.

    Parameters
    ----------
    spec : NetworkSpec
    record : mapping, optional
        ``{population: (variables, neuron_indices)}`` state traces to record each step.
    """
    record = _normalised_record(record)
    names = [p.name for p in spec.populations]
    unknown = sorted(set(record) - set(names))
    if unknown:
        raise ValueError(f"record: no population(s) {unknown}; populations are {sorted(names)}")
    dt = float(spec.dt)
    groups = []
    for pop in spec.populations:
        model = pop.neuron_model
        params = pop.neuron_params()
        kwargs = model.brian_kwargs(params)
        reset = _reset_code(model, params, kwargs["namespace"])
        groups.append(GroupDescription(
            name=f"pop_{pop.name}", size=int(pop.size), kwargs=kwargs,
            initial=dict(model.initial_values(params)), values={}, sample_reset=reset,
            reset_name=f"reset_{pop.name}", updates=[],
            members=[Member(pop.name, 0, int(pop.size), model.threshold is not None)],
            monitor_name=f"spikes_{pop.name}"))
    projections = []
    for proj in spec.projections:
        post = spec.population(proj.post)
        gate = ""
        if post.neuron_model.threshold is not None and float(post.neuron_params().t_ref) >= 2 * dt:
            gate = " * int(not_refractory_post)"
        i, j, w, _ = proj.synapses()
        steps = np.asarray(spec.delay_steps(proj), dtype=np.int64).reshape(-1) * np.ones(len(i), np.int64)
        from_input = spec.is_input(proj.pre)
        projections.append(ProjectionDescription(
            name=f"proj_{proj.name}", label=proj.name,
            pre=proj.pre if from_input else f"pop_{proj.pre}", post=f"pop_{proj.post}",
            i=np.asarray(i, np.int64), j=np.asarray(j, np.int64), w=np.asarray(w, np.float64),
            delay_steps=steps, target=post.neuron_model.membrane, unit="volt", gate=gate,
            from_input=from_input))
    readout = (spec.readout.population, spec.readout.variable, spec.readout.at) if spec.readout else None
    return NetworkDescription(
        dt=dt, inputs={g.name: int(g.size) for g in spec.inputs}, groups=groups,
        projections=projections, readout=readout, record=record, schedule=list(SCHEDULE))


def describe(network, record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None
             ) -> NetworkDescription:
    """A :class:`NetworkDescription` of a description, a network that describes itself or a NetworkSpec.

    A network that describes itself has a method ``brian_description(record)`` that returns
    its :class:`NetworkDescription` (the Loihi-exact
    :class:`~biolstm.loihi.fixed_point.QuantizedNetwork` does): this package needs to know
    nothing else about it. Any other network is a NetworkSpec (:func:`from_spec`).
    """
    if isinstance(network, NetworkDescription):
        if record:
            raise ValueError("record is part of a NetworkDescription; describe the network with it")
        return network
    describe_itself = getattr(network, "brian_description", None)
    if describe_itself is not None:
        return describe_itself(record)
    return from_spec(network, record)


# ---------------------------------------------------------------------------------------
# description -> Brian2 objects
# ---------------------------------------------------------------------------------------


def sample_gate(n_steps: int, latency: int | None = None) -> str:
    """Brian2 expression, 1 or 0, that drops spikes emitted in an earlier sample.

    ``latency``: the steps between a spike's emission and its arrival (delay + 1 for
    populations, delay for inputs) when all synapses share it; otherwise (None) the
    synapse needs an integer variable ``lat`` (constant) that holds it. A spike arriving
    at step ``t`` of a sample was emitted in the same sample exactly when ``t >= lat``.
    """
    lat = "lat" if latency is None else str(int(latency))
    return f"int((t_in_timesteps % {int(n_steps)}) >= {lat})"


@dataclass
class Built:
    """The Brian2 objects of one description, ``replicas`` copies x ``slots`` samples."""

    description: NetworkDescription
    network: Any
    input_arrays: dict[str, Any]      # input name -> TimedArray
    input_groups: dict[str, Any]      # input name -> NeuronGroup
    groups: dict[str, Any]            # group name -> NeuronGroup
    synapses: dict[str, Any]          # projection name -> Synapses
    spike_monitors: dict[str, Any]    # group name -> SpikeMonitor
    readout_monitor: Any
    trace_monitors: dict[str, Any]    # population -> StateMonitor
    n_steps: int
    replicas: int
    slots: int

    @property
    def duration(self):
        """Simulated time of one run (Brian2 quantity)."""
        import brian2 as b2

        return self.slots * self.n_steps * self.description.dt * b2.second


def words(n_channels: int) -> int:
    """float64 words that hold ``n_channels`` input bits."""
    return max(1, math.ceil(n_channels / BITS_PER_WORD))


@contextlib.contextmanager
def default_dt(dt: float):
    """Set ``brian2.defaultclock.dt`` (seconds) for the enclosed block, then restore it."""
    import brian2 as b2

    previous = b2.defaultclock.dt
    b2.defaultclock.dt = dt * b2.second
    try:
        yield
    finally:
        b2.defaultclock.dt = previous


def _copies(indices: np.ndarray, size: int, replicas: int) -> np.ndarray:
    return (np.arange(replicas)[:, None] * size + np.asarray(indices)[None, :]).ravel()


def build(desc: NetworkDescription, n_steps: int, replicas: int = 1, slots: int = 1, *,
          input_values: Mapping[str, np.ndarray] | None = None, clock: Any = None) -> Built:
    """Create the Brian2 objects of ``replicas`` copies x ``slots`` samples (current device).

    Every object runs on ``clock``, by default ``brian2.defaultclock`` (brian2cuda's
    synapse template refers to it by name): call inside :func:`default_dt` ``(desc.dt)``.

    Parameters
    ----------
    desc : NetworkDescription
    n_steps : int
        ``T``, steps per sample.
    replicas, slots : int
        ``R`` copies side by side, ``K`` samples per copy one after another.
    input_values : mapping, optional
        ``{input: [K*T, R*words]}`` packed input bits (:func:`pack_inputs`); zeros if
        not given (a compiled program gets them as run arguments).
    clock : brian2.Clock, optional
        A clock whose ``dt`` is ``desc.dt``.

    Returns
    -------
    Built
    """
    import brian2 as b2

    R, K, T = int(replicas), int(slots), int(n_steps)
    clock = clock if clock is not None else b2.defaultclock
    input_arrays, input_groups, groups = {}, {}, {}
    synapses, spike_monitors, trace_monitors = {}, {}, {}
    for name, C in desc.inputs.items():
        W = words(C)
        values = np.zeros((K * T, R * W)) if input_values is None else input_values[name]
        ta = b2.TimedArray(values, dt=desc.dt * b2.second, name=f"biolstm_in_{name}")
        g = b2.NeuronGroup(
            R * C, "word : integer (constant)\nbitval : 1 (constant)",
            threshold=f"({ta.name}(t, word) / bitval) % 2.0 >= 1.0", reset="",
            namespace={ta.name: ta}, clock=clock, name=f"input_{name}")
        g.thresholder["spike"].when = "start"
        g.thresholder["spike"].order = 0
        idx = np.arange(R * C)
        g.word = (idx // C) * W + (idx % C) // BITS_PER_WORD
        g.bitval = 2.0 ** ((idx % C) % BITS_PER_WORD)
        input_arrays[name] = ta
        input_groups[name] = g

    # one clock ticks at every sample start for all sample resets (each extra clock costs the
    # network loop a little every step)
    sample_clock = b2.Clock(dt=T * desc.dt * b2.second, name="biolstm_sample_clock")
    for gd in desc.groups:
        group = b2.NeuronGroup(R * gd.size, clock=clock, name=gd.name, **gd.kwargs)
        for var, value in gd.initial.items():
            setattr(group, var, value)
        for var, value in gd.values.items():  # SI values
            setattr(group, f"{var}_", np.tile(np.asarray(value, dtype=float), R))
        for code, when, order, name in gd.updates:
            group.run_regularly(code, when=when, order=order, name=name)
        group.run_regularly(gd.sample_reset, clock=sample_clock, when="start", order=1, name=gd.reset_name)
        groups[gd.name] = group
        if gd.spiking:
            spike_monitors[gd.name] = b2.SpikeMonitor(group, record=True, name=gd.monitor_name)

    for pop, (variables, neurons) in desc.record.items():
        gd, m = desc.member(pop)
        full = _copies(np.asarray(neurons, dtype=np.int64) + m.start, gd.size, R)
        trace_monitors[pop] = b2.StateMonitor(groups[gd.name], list(variables), record=full,
                                              when="end", name=f"trace_{pop}")

    readout_monitor = None
    if desc.readout is not None:
        gd, m = desc.member(desc.readout[0])
        rec = True if (m.start, m.size) == (0, gd.size) else _copies(np.arange(m.start, m.start + m.size), gd.size, R)
        readout_monitor = b2.StateMonitor(groups[gd.name], desc.readout[1], record=rec,
                                          when="end", name="readout")

    for p in desc.projections:
        if len(p.i) == 0:  # no synapses: nothing to build (Brian2 cannot connect none)
            continue
        source = input_groups[p.pre] if p.from_input else groups[p.pre]
        latency = p.latency
        # one latency for every synapse (no or equal delays): a constant of the code, so the
        # gate is the same for every event of a step and no per-synapse array is read
        uniform = bool(np.all(latency == latency[0]))
        syn = b2.Synapses(
            source, groups[p.post],
            model=f"w : {p.unit} (constant)" + ("" if uniform else "\nlat : integer (constant)"),
            on_pre=f"{p.target}_post += w * {sample_gate(T, int(latency[0]) if uniform else None)}{p.gate}",
            clock=clock, name=p.name)
        syn.connect(i=_copies(p.i, desc.source_size(p.pre), R), j=_copies(p.j, desc.group(p.post).size, R))
        syn.w_ = np.tile(p.w, R)
        if not uniform:
            syn.lat = np.tile(latency, R)
        if np.any(p.delay_steps > 0):
            syn.delay = np.tile(p.delay_steps, R) * desc.dt * b2.second
        synapses[p.name] = syn

    objects = [*input_groups.values(), *groups.values(), *synapses.values(),
               *spike_monitors.values(), *trace_monitors.values()]
    if readout_monitor is not None:
        objects.append(readout_monitor)
    network = b2.Network(*objects, name=desc.name)
    network.schedule = list(desc.schedule)
    return Built(desc, network, input_arrays, input_groups, groups, synapses, spike_monitors,
                 readout_monitor, trace_monitors, T, R, K)


# ---------------------------------------------------------------------------------------
# inputs and weights in the layout of a build
# ---------------------------------------------------------------------------------------


def pack_inputs(desc: NetworkDescription, inputs, first: int, count: int, replicas: int,
                slots: int) -> dict[str, np.ndarray]:
    """Input TimedArray values for samples ``first .. first+count-1``: ``[K*T, R*words]``.

    Sample ``first + k*R + r`` runs in copy ``r``, slot ``k``.
    """
    R, K, T = replicas, slots, inputs.n_steps
    out = {}
    for name, C in desc.inputs.items():
        W = words(C)
        ev = inputs.events[name]
        lo, hi = np.searchsorted(ev[:, 0], [first, first + count])
        ev = ev[lo:hi]
        q = ev[:, 0] - first
        row = (q // R) * T + ev[:, 1]
        col = (q % R) * W + ev[:, 2] // BITS_PER_WORD
        bits = np.zeros((K * T, R * W), dtype=np.uint64)
        np.bitwise_or.at(bits, (row, col), np.left_shift(np.uint64(1), (ev[:, 2] % BITS_PER_WORD).astype(np.uint64)))
        out[name] = bits.astype(np.float64)
    return out


def weights_into(desc: NetworkDescription,
                 pattern: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Weights of ``desc`` in the synapse order of a compiled ``pattern`` (0 where absent).

    Raises :class:`StructureError` for a synapse the pattern lacks or a changed delay.
    """
    out = {}
    for p in desc.projections:
        ci, cj, csteps = pattern[p.name]
        n_post = desc.group(p.post).size
        compiled = np.asarray(ci, np.int64) * n_post + np.asarray(cj, np.int64)
        wanted = p.i * n_post + p.j
        if len(compiled) == len(wanted) and np.array_equal(compiled, wanted):
            if not np.array_equal(csteps, p.delay_steps):
                raise StructureError(
                    f"projection '{p.label}': delays differ from the compiled ones; delays are part "
                    f"of the structure, build a new CompiledNetwork")
            out[p.name] = p.w
            continue
        pos = np.searchsorted(compiled, wanted)
        pos_ok = np.minimum(pos, max(len(compiled) - 1, 0))
        found = (pos < len(compiled)) & (compiled[pos_ok] == wanted) if len(compiled) else np.zeros(len(wanted), bool)
        if not found.all():
            bad = np.flatnonzero(~found)
            raise StructureError(
                f"projection '{p.label}': {len(bad)} synapse(s) are not in the compiled "
                f"connectivity (first: pre {int(p.i[bad[0]])} -> post {int(p.j[bad[0]])}); a network "
                f"with new connections needs its own build (a new CompiledNetwork)")
        if np.any(np.asarray(csteps)[pos] != p.delay_steps):
            raise StructureError(
                f"projection '{p.label}': delays differ from the compiled ones; delays are part "
                f"of the structure, build a new CompiledNetwork")
        values = np.zeros(len(compiled))
        values[pos] = p.w
        out[p.name] = values
    return out
