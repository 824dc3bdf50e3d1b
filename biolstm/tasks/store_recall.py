"""STORE-RECALL: a one-bit working-memory task across a delay of hundreds of steps.

Each sample (``T = lead + 2*window + delay`` steps of ``dt``):

* ``lead`` steps of background noise;
* STORE window (``window`` steps): the ``store`` channels and the channels of the bit's
  value (``value0`` or ``value1``) fire at ``rate_hz``;
* ``delay`` steps of background noise only (``noise_hz`` on every channel);
* RECALL window (``window`` steps): the ``recall`` channels fire at ``rate_hz``;
* the answer is read from the readout at the last step (the network must output the
  stored bit).

Input groups are four blocks of ``channels`` channels, concatenated in the order
``value0, value1, store, recall`` in one input group ``"cues"``. Nothing but the network's
own state carries the bit across the delay: a LIF neuron forgets within a few ``tau_m``
(20 ms), an AHP neuron keeps a trace in ``I_ahp`` for ``tau_ahp`` (700 ms) -- the
mechanism by which Rao et al. (2022) let AHP neurons stand in for LSTM units.

The module provides the task (:class:`StoreRecallTask`) and a network builder with the
same structure as the sMNIST network (:func:`store_recall_network`). Training, scoring and
the training-free memory measure are pipelines: :mod:`biolstm.workflows.store_recall`
(``train_spiking``, ``train_lstm``, ``evaluate``, ``reservoir_memory``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from biolstm.errors import check_at_least

__all__ = [
    "INPUT_NAME",
    "GROUPS",
    "StoreRecallTask",
    "store_recall_network",
]

INPUT_NAME = "cues"
GROUPS = ("value0", "value1", "store", "recall")


@dataclass(frozen=True)
class StoreRecallTask:
    """Parameters of the task (steps are time steps of ``dt_ms``).

    Attributes
    ----------
    delay : int
        Steps between the end of STORE and the start of RECALL.
    window : int
        Length of the STORE and RECALL windows.
    lead : int
        Noise-only steps before STORE.
    channels : int
        Channels per input block (value0, value1, store, recall).
    rate_hz : float
        Rate of the active channels during a window.
    noise_hz : float
        Background rate of every channel at all times.
    dt_ms : float
        Time step.
    """

    delay: int = 200
    window: int = 20
    lead: int = 10
    channels: int = 10
    rate_hz: float = 200.0
    noise_hz: float = 2.0
    dt_ms: float = 1.0

    def __post_init__(self) -> None:
        check_at_least(self, ("delay", "lead"), 0, ValueError, owner="StoreRecallTask: ")
        check_at_least(self, ("window", "channels"), 1, ValueError, owner="StoreRecallTask: ")
        for name in ("rate_hz", "noise_hz"):
            p = getattr(self, name) * self.dt_ms * 1e-3
            if not 0 <= p <= 1:
                raise ValueError(f"StoreRecallTask: {name} * dt = {p:.3g} must lie in [0, 1]")

    @property
    def n_steps(self) -> int:
        """Steps per sample."""
        return self.lead + 2 * self.window + self.delay

    @property
    def n_inputs(self) -> int:
        """Input channels (4 blocks)."""
        return 4 * self.channels

    @property
    def store_window(self) -> slice:
        return slice(self.lead, self.lead + self.window)

    @property
    def recall_window(self) -> slice:
        start = self.lead + self.window + self.delay
        return slice(start, start + self.window)

    def block(self, group: str) -> slice:
        """Channels of one input block (``value0``, ``value1``, ``store``, ``recall``)."""
        k = GROUPS.index(group)
        return slice(k * self.channels, (k + 1) * self.channels)

    def generate(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples: spikes ``bool [n, T, 4*channels]`` and bits ``int [n]``.

        Half the samples store 0 and half 1 (shuffled), so chance is 50 %.
        """
        rng = np.random.default_rng(seed)
        bits = rng.permutation(np.arange(n) % 2)
        dt = self.dt_ms * 1e-3
        x = rng.random((n, self.n_steps, self.n_inputs)) < self.noise_hz * dt
        active = rng.random((n, self.window, self.channels))
        p = self.rate_hz * dt
        store, recall = self.store_window, self.recall_window
        x[:, store, self.block("store")] |= active < p
        value = rng.random((n, self.window, self.channels)) < p
        for b in (0, 1):
            x[:, store, self.block(f"value{b}")] |= value & (bits == b)[:, None, None]
        x[:, recall, self.block("recall")] |= rng.random((n, self.window, self.channels)) < p
        return x, bits.astype(np.int64)

    def spike_trains(self, n: int, seed: int = 0):
        """The same samples as :meth:`generate`, as :class:`~biolstm.encoding.SpikeTrains`."""
        from biolstm.encoding import SpikeTrains

        x, bits = self.generate(n, seed)
        return SpikeTrains.from_dense({INPUT_NAME: x}), bits


def store_recall_network(task: StoreRecallTask, n_regular: int = 20, n_adaptive: int = 40,
                         adaptive_model: str = "ahp", *, seed: int = 0, input_gain: float = 2.0,
                         recurrent_gain: float = 0.5, params: dict | None = None):
    """A NetworkSpec for the task: ``reg`` (LIF), ``ada`` (``adaptive_model``), ``out`` (2 LI units).

    The structure of :func:`biolstm.tasks.smnist.smnist_network`: input -> reg/ada, all
    recurrent blocks (no self-connections), reg/ada -> out, readout ``out.v`` at the last
    step. Initial weights are Gaussian, ``gain * v_th / sqrt(fan_in)`` with
    ``v_th = 10 mV``. ``adaptive_model="lif"`` gives the LIF-only control with the same
    sizes and weights. ``params``: ``{population: {name: Quantity}}`` overrides.
    """
    from brian2 import mV, ms

    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

    params = params or {}
    pops = [Population("reg", n_regular, "lif", params.get("reg", {}))] if n_regular else []
    pops.append(Population("ada", n_adaptive, adaptive_model, params.get("ada", {})))
    pops.append(Population("out", 2, "li", params.get("out", {})))
    spiking = [p for p in pops if p.model != "li"]
    rng = np.random.default_rng(seed)
    n_rec = sum(p.size for p in spiking)

    def init(n_pre, n_post, gain, fan_in, no_diag=False):
        w = rng.normal(0.0, gain * 10.0 / math.sqrt(fan_in), (n_pre, n_post))
        if no_diag:
            np.fill_diagonal(w, 0.0)
        return w * mV

    projections = [Projection(f"in_{p.name}", INPUT_NAME, p.name,
                              init(task.n_inputs, p.size, input_gain, task.n_inputs))
                   for p in spiking]
    for pre in spiking:
        for post in spiking:
            projections.append(Projection(f"{pre.name}_{post.name}", pre.name, post.name,
                                          init(pre.size, post.size, recurrent_gain, n_rec, pre is post)))
    for pre in spiking:
        projections.append(Projection(f"{pre.name}_out", pre.name, "out", init(pre.size, 2, 1.0, n_rec)))
    return NetworkSpec(pops, projections, [InputGroup(INPUT_NAME, task.n_inputs)],
                       Readout("out", "v", "last"), dt=task.dt_ms * ms,
                       metadata={"task": "store_recall", "store_recall": asdict(task)})

