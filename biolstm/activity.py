"""Activity: what a simulation of a NetworkSpec produced, in a simulator-neutral form.

The Brian2 runner (:mod:`biolstm.brian`) and the torch models return the same
:class:`Activity`, so accuracy, firing rates and the Loihi energy model read one
format. Times are integer steps of ``dt``; state values are SI floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # Brian2 is imported where a Quantity is made: reading an Activity needs none
    from brian2 import Quantity

__all__ = ["Activity", "sorted_events"]


def sorted_events(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate spike rows ``(sample, step, neuron)`` and sort them, int64 ``[n, 3]``."""
    ev = np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros((0, 3), np.int64)
    return ev[np.lexsort((ev[:, 2], ev[:, 1], ev[:, 0]))]


@dataclass
class Activity:
    """Spikes, readout and recorded traces of a batch of samples.

    Attributes
    ----------
    dt : float
        Time step in seconds.
    n_samples, n_steps : int
        Batch size and steps per sample.
    population_sizes : dict of str to int
        Size of every population (spiking or not).
    spikes : dict of str to ndarray, shape (n_events, 3), int64
        Spikes of each spiking population as rows ``(sample, step, neuron)``, sorted.
    input_counts : dict of str to ndarray, shape (n_samples, n_steps)
        Input spikes injected per step, per input group.
    readout : ndarray, shape (n_samples, n_steps, n_units), or None
        Readout variable after each step (SI units, e.g. volt).
    readout_population, readout_variable : str or None
        What :attr:`readout` holds.
    readout_at : str
        ``"last"``, ``"mean"`` or ``"max"``: how :meth:`readout_values` reduces a sample.
    traces : dict of str to ndarray, shape (n_samples, n_steps, n_recorded)
        Recorded state variables keyed ``"population.variable"`` (SI units).
    trace_neurons : dict of str to ndarray
        Neuron indices recorded for each trace.
    backend : str
        Simulator that produced it (``"numpy"``, ``"cpp_standalone"``, ``"torch"`` ...).
    timings : dict of str to float
        Wall-clock seconds of the phases (build, run, ...).
    """

    dt: float
    n_samples: int
    n_steps: int
    population_sizes: dict[str, int]
    spikes: dict[str, np.ndarray]
    input_counts: dict[str, np.ndarray] = field(default_factory=dict)
    readout: np.ndarray | None = None
    readout_population: str | None = None
    readout_variable: str | None = None
    readout_at: str = "last"
    traces: dict[str, np.ndarray] = field(default_factory=dict)
    trace_neurons: dict[str, np.ndarray] = field(default_factory=dict)
    backend: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: Any, inputs: Any, spikes: dict[str, np.ndarray], **fields: Any) -> "Activity":
        """An Activity of ``spec`` run on ``inputs`` (a SpikeTrains batch).

        Derives ``dt``, ``n_samples``, ``n_steps``, ``population_sizes``,
        ``input_counts`` and the readout description from ``spec`` and ``inputs``;
        ``fields`` give the rest (``readout``, ``traces``, ``backend``, ...).
        """
        ro = spec.readout
        return cls(
            dt=float(spec.dt), n_samples=inputs.n_samples, n_steps=inputs.n_steps,
            population_sizes={p.name: p.size for p in spec.populations},
            spikes=spikes,
            input_counts={g.name: inputs.counts_per_step(g.name) for g in spec.inputs},
            readout_population=ro.population if ro else None,
            readout_variable=ro.variable if ro else None,
            readout_at=ro.at if ro else "last",
            **fields,
        )

    # -- spikes ------------------------------------------------------------------
    def spike_counts(self, population: str) -> np.ndarray:
        """Spikes of ``population`` per sample and step, ``[n_samples, n_steps]``."""
        ev = self._events(population)
        counts = np.zeros((self.n_samples, self.n_steps), dtype=np.int64)
        np.add.at(counts, (ev[:, 0], ev[:, 1]), 1)
        return counts

    def neuron_counts(self, population: str) -> np.ndarray:
        """Spikes of each neuron per sample, ``[n_samples, n_neurons]``."""
        ev = self._events(population)
        counts = np.zeros((self.n_samples, self.population_sizes[population]), dtype=np.int64)
        np.add.at(counts, (ev[:, 0], ev[:, 2]), 1)
        return counts

    def total_spikes(self, population: str | None = None) -> int:
        """Number of spikes of one population, or of all spiking populations."""
        if population is not None:
            return int(len(self._events(population)))
        return int(sum(len(ev) for ev in self.spikes.values()))

    def rate_per_step(self, population: str) -> float:
        """Mean spikes per neuron per step (the paper's network: about 0.05)."""
        size = self.population_sizes[population]
        return self.total_spikes(population) / (size * self.n_samples * self.n_steps)

    def rate(self, population: str) -> Quantity:
        """Mean firing rate per neuron in hertz."""
        from brian2 import second

        return self.rate_per_step(population) / (self.dt * second)

    def spike_times(self, population: str, sample: int = 0) -> tuple[Quantity, np.ndarray]:
        """Spike times (from the sample's start) and neuron indices of one sample."""
        from brian2 import second

        ev = self._events(population)
        ev = ev[ev[:, 0] == sample]
        return ev[:, 1] * self.dt * second, ev[:, 2]

    def _events(self, population: str) -> np.ndarray:
        if population not in self.spikes:
            raise KeyError(
                f"no spikes recorded for {population!r}; spiking populations are {sorted(self.spikes)}"
            )
        return self.spikes[population]

    # -- readout -----------------------------------------------------------------
    def readout_values(self) -> np.ndarray:
        """Readout per sample, ``[n_samples, n_units]``, reduced as :attr:`readout_at` says."""
        if self.readout is None:
            raise ValueError("this activity has no readout; give the NetworkSpec a Readout")
        if self.readout_at == "last":
            return self.readout[:, -1, :]
        if self.readout_at == "mean":
            return self.readout.mean(axis=1)
        return self.readout.max(axis=1)

    def predictions(self) -> np.ndarray:
        """Predicted class per sample: argmax of :meth:`readout_values`."""
        return np.argmax(self.readout_values(), axis=1)

    def rates(self) -> list[dict[str, Any]]:
        """Per spiking population: ``population``, ``neurons``, ``spikes`` (all samples),
        ``spikes_per_neuron_per_step`` and ``rate_hz`` (one dict per population)."""
        return [
            {
                "population": pop,
                "neurons": self.population_sizes[pop],
                "spikes": self.total_spikes(pop),
                "spikes_per_neuron_per_step": self.rate_per_step(pop),
                "rate_hz": self.rate_per_step(pop) / self.dt,   # = float(self.rate(pop))
            }
            for pop in self.spikes
        ]

    def rates_table(self):
        """:meth:`rates` as a pandas DataFrame (one row per spiking population)."""
        import pandas as pd

        return pd.DataFrame(self.rates())
