"""Input spike trains for a batch of samples, and simple encoders.

:class:`SpikeTrains` is what every simulator in biolstm takes as input: for each
input group of a :class:`~biolstm.spec.NetworkSpec`, the spikes of every sample as
integer ``(sample, step, channel)`` events, with all samples of the batch having the
same number of steps. Each sample is simulated from the reset state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from biolstm.errors import BiolstmError

if TYPE_CHECKING:  # spike trains are plain arrays: running a compiled program imports no Brian2
    from brian2 import Quantity

    from biolstm.spec import NetworkSpec

__all__ = ["SpikeTrains", "InputError", "poisson_spike_trains"]


class InputError(BiolstmError, ValueError):
    """Input spikes that do not fit the network or are malformed."""


@dataclass
class SpikeTrains:
    """Spike input for a batch of samples.

    Attributes
    ----------
    n_samples : int
        Number of samples in the batch.
    n_steps : int
        Time steps per sample (all samples have the same length).
    sizes : dict of str to int
        Number of channels of each input group.
    events : dict of str to ndarray, shape (n_events, 3), int64
        Spikes of each input group as rows ``(sample, step, channel)``, sorted.
        At most one spike per channel and step.
    """

    n_samples: int
    n_steps: int
    sizes: dict[str, int]
    events: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        if self.n_samples < 1 or self.n_steps < 1:
            raise InputError(
                f"SpikeTrains needs at least one sample and one step, got "
                f"n_samples={self.n_samples}, n_steps={self.n_steps}"
            )
        if set(self.sizes) != set(self.events):
            raise InputError(f"sizes {sorted(self.sizes)} and events {sorted(self.events)} name different groups")
        for name, ev in list(self.events.items()):
            ev = np.asarray(ev, dtype=np.int64).reshape(-1, 3)
            limits = (self.n_samples, self.n_steps, self.sizes[name])
            for col, (label, limit) in enumerate(zip(("sample", "step", "channel"), limits)):
                if ev.size and (ev[:, col].min() < 0 or ev[:, col].max() >= limit):
                    raise InputError(
                        f"input '{name}': {label} indices span {ev[:, col].min()}..{ev[:, col].max()}, "
                        f"valid is 0..{limit - 1}"
                    )
            # one int64 key per spike in (sample, step, channel) order: strictly increasing
            # keys are sorted rows without repeats (np.argwhere's output is), else sort once
            key = (ev[:, 0] * self.n_steps + ev[:, 1]) * self.sizes[name] + ev[:, 2]
            step = np.diff(key)
            if not np.all(step > 0):
                order = np.argsort(key, kind="stable")
                ev, step = ev[order], np.diff(key[order])
            if np.any(step == 0):
                raise InputError(
                    f"input '{name}' has more than one spike on the same channel in the same "
                    f"step; a channel fires at most once per step"
                )
            self.events[name] = ev

    @classmethod
    def from_dense(cls, arrays: Mapping[str, np.ndarray]) -> "SpikeTrains":
        """Build from boolean arrays ``[n_samples, n_steps, n_channels]`` per input group."""
        shapes = {name: np.shape(a) for name, a in arrays.items()}
        if not shapes:
            raise InputError("from_dense needs at least one input group")
        for name, shape in shapes.items():
            if len(shape) != 3:
                raise InputError(f"input '{name}': dense spikes must be [n_samples, n_steps, n_channels], got shape {shape}")
        first = next(iter(shapes.values()))
        if any(s[:2] != first[:2] for s in shapes.values()):
            raise InputError(f"input groups differ in samples/steps: {shapes}")
        events = {name: np.argwhere(np.asarray(a) != 0) for name, a in arrays.items()}
        sizes = {name: int(s[2]) for name, s in shapes.items()}
        return cls(int(first[0]), int(first[1]), sizes, events)

    def dense(self, name: str) -> np.ndarray:
        """Spikes of input group ``name`` as a bool array ``[n_samples, n_steps, n_channels]``."""
        out = np.zeros((self.n_samples, self.n_steps, self.sizes[name]), dtype=bool)
        ev = self.events[name]
        out[ev[:, 0], ev[:, 1], ev[:, 2]] = True
        return out

    def counts_per_step(self, name: str) -> np.ndarray:
        """Number of input spikes per sample and step, ``[n_samples, n_steps]``."""
        ev = self.events[name]
        counts = np.zeros((self.n_samples, self.n_steps), dtype=np.int64)
        np.add.at(counts, (ev[:, 0], ev[:, 1]), 1)
        return counts

    def subset(self, samples: Sequence[int] | slice) -> "SpikeTrains":
        """A batch with only the given samples, renumbered from 0."""
        index = np.arange(self.n_samples)[samples]
        remap = np.full(self.n_samples, -1)
        remap[index] = np.arange(len(index))
        events = {}
        for name, ev in self.events.items():
            keep = ev[np.isin(ev[:, 0], index)].copy()
            keep[:, 0] = remap[keep[:, 0]]
            events[name] = keep
        return SpikeTrains(len(index), self.n_steps, dict(self.sizes), events)

    def check_against(self, spec: NetworkSpec) -> None:
        """Raise :class:`InputError` unless the groups and sizes match ``spec.inputs``."""
        expected = {g.name: g.size for g in spec.inputs}
        if set(expected) != set(self.sizes):
            raise InputError(
                f"the network's input groups are {sorted(expected)}, the spike trains give "
                f"{sorted(self.sizes)}; provide spikes for exactly the network's input groups"
            )
        for name, size in expected.items():
            if self.sizes[name] != size:
                raise InputError(
                    f"input '{name}' has {self.sizes[name]} channels in the spike trains but "
                    f"{size} in the network"
                )


def poisson_spike_trains(
    name: str,
    n_channels: int,
    rate: Quantity,
    n_steps: int,
    dt: Quantity,
    n_samples: int = 1,
    seed: int | None = 0,
) -> SpikeTrains:
    """Independent Poisson (Bernoulli per step) spike trains.

    Parameters
    ----------
    name : str
        Input group name.
    n_channels : int
        Channels in the group.
    rate : Quantity (hertz)
        Rate of every channel; the spike probability per step is ``rate*dt`` (must be <= 1).
    n_steps, n_samples : int
        Steps per sample and samples.
    dt : Quantity (second)
        Time step.
    seed : int or None
        Seed of numpy's generator (reproducible by default).
    """
    from brian2 import Quantity, second
    from brian2.units.fundamentalunits import have_same_dimensions

    from biolstm.spec import SpecError

    if not isinstance(rate, Quantity) or not have_same_dimensions(rate, 1 / second):
        raise SpecError(f"rate {rate!r} must be in hertz (e.g. 20*Hz)")
    p = float(rate * dt)
    if not 0 <= p <= 1:
        raise InputError(f"rate*dt = {p:.3g} must lie in [0, 1]; lower the rate or dt")
    rng = np.random.default_rng(seed)
    spikes = rng.random((n_samples, n_steps, n_channels)) < p
    return SpikeTrains.from_dense({name: spikes})
