"""The single-batch view of the Brian2 builder (the path older code and the README use).

:func:`simulate` runs a batch of samples laid end to end in time; every sample starts
from the reset state and no spike crosses a sample boundary. Its home is
:mod:`biolstm.brian.run`, the builder's :mod:`biolstm.brian.build` (where sample
isolation lives); this module keeps :func:`build_network` (a NetworkSpec and one batch
of inputs -> Brian2 objects on the current device) and the names it always exported.

Schedule (:data:`SCHEDULE`): ``start`` (input spikes, sample reset), ``groups`` (exact
integration), ``synapses`` (spikes of the previous step from populations, of this step
from inputs), ``thresholds``, ``resets``, ``end`` (monitors). A spike therefore reaches
its targets one step after it is emitted, like Loihi's implicit recurrent delay, and
input spikes count in the step they are given. This is the order
:class:`biolstm.neurons.DiscreteModel` documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.brian.build import SCHEDULE, Built, NetworkDescription, build, from_spec, pack_inputs, sample_gate
from biolstm.brian.run import concatenate_activities, simulate
from biolstm.encoding import SpikeTrains

__all__ = [
    "SCHEDULE",
    "BrianNetwork",
    "build_network",
    "build_batch",
    "as_brian_network",
    "simulate",
    "sample_gate",
    "concatenate_activities",
]


@dataclass
class BrianNetwork:
    """The Brian2 objects built for one network and one batch of inputs.

    Attributes
    ----------
    network : brian2.Network
    groups : dict of group name to NeuronGroup
    generators : dict of input group name to its input NeuronGroup
    synapses : dict of Brian2 name to Synapses
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


def build_batch(desc: NetworkDescription, inputs: SpikeTrains) -> Built:
    """``desc`` built for the batch ``inputs``: one copy, the samples end to end, on a clock
    of its own (``biolstm_clock``) on the current device."""
    import brian2 as b2

    S = inputs.n_samples
    clock = b2.Clock(dt=desc.dt * b2.second, name="biolstm_clock")
    return build(desc, inputs.n_steps, 1, S, input_values=pack_inputs(desc, inputs, 0, S, 1, S),
                 clock=clock)


def as_brian_network(built: Built, inputs: SpikeTrains) -> BrianNetwork:
    """A :class:`BrianNetwork` view of a one-copy build (spike monitors by population)."""
    desc = built.description
    spikes = {}
    for g in desc.groups:
        if g.name in built.spike_monitors and len(g.members) == 1:
            spikes[g.members[0].name] = built.spike_monitors[g.name]
    trace_spec = {pop: (list(v), np.asarray(n)) for pop, (v, n) in desc.record.items()}
    return BrianNetwork(built.network, built.groups, built.input_groups, built.synapses, spikes,
                        built.readout_monitor, built.trace_monitors, inputs.n_samples,
                        inputs.n_steps, trace_spec)


def build_network(
    spec,
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
        Run ``network.run(duration)``; sample ``k`` occupies steps ``k*T .. (k+1)*T - 1``.
    """
    inputs.check_against(spec)
    return as_brian_network(build_batch(from_spec(spec, record), inputs), inputs)
