"""Random networks with the shape of the paper's sMNIST network, for benchmarks and tests.

Until trained weights ship, throughput is measured on a random network with the
shape of the sequential-MNIST network of Rao et al. (``../shared/reference/paper_model.md``
§1-2): 80 input channels, 140 LIF and 100 AHP neurons (the paper's adaptive neurons),
10 leaky-integrator readout units, about 20 % connection density, 840 steps per
sample, and weights scaled so that the spiking neurons fire about 0.05 spikes per
neuron and step (the paper's activity level; see :func:`smnist_shaped_network`).

``scale`` multiplies every population and the input channels while keeping the
*in-degree* of every neuron fixed (the connection probability falls as
``density/scale``), so that synapse count, activity per neuron and weights stay
comparable from 240 to 24,000 spiking neurons.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from biolstm.encoding import SpikeTrains
from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

__all__ = [
    "SMNIST_STEPS",
    "SMNIST_CUE_STEPS",
    "smnist_shaped_network",
    "smnist_shaped_inputs",
]

SMNIST_STEPS = 840
"""Steps per sMNIST sample: 784 pixels and 56 output-cue steps (paper_model.md §2)."""
SMNIST_CUE_STEPS = 56

# Weight distributions (mV) found by calibrating the activity to ~0.05 spikes per
# neuron and step with the default input density (benchmarks/codegen.py prints the
# measured rates next to every throughput number).
_W_IN_MEAN, _W_IN_SD = 1.3, 0.6
_W_REC_MEAN, _W_REC_SD = 0.10, 0.9
_W_OUT_SD = 0.5


def _random_sparse(rng: np.random.Generator, n_pre: int, n_post: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of a random ``n_pre x n_post`` pattern with density ``p``.

    Drawn as a binomial number of distinct positions, so memory is proportional to
    the number of synapses, not to ``n_pre*n_post``.
    """
    total = n_pre * n_post
    k = int(rng.binomial(total, min(p, 1.0)))
    if p >= 0.05:
        flat = np.flatnonzero(rng.random(total) < p)
    else:
        flat = np.unique(rng.integers(0, total, size=k, dtype=np.int64))
    return flat // n_post, flat % n_post


def _projection(rng, name, pre, post, n_pre, n_post, p, mean, sd, sign=None) -> Projection:
    from brian2 import mV

    i, j = _random_sparse(rng, n_pre, n_post, p)
    w = rng.normal(mean, sd, len(i))
    if sign == "excitatory":
        w = np.abs(w)
    w[w == 0] = 1e-3  # a drawn synapse stays a synapse
    matrix = scipy.sparse.csr_matrix((w, (i, j)), shape=(n_pre, n_post))
    return Projection(name, pre, post, matrix, weight_unit=mV, sign=sign)


def smnist_shaped_network(seed: int = 0, scale: float = 1.0, density: float = 0.2) -> NetworkSpec:
    """A random network with the sMNIST network's shape (untrained).

    Parameters
    ----------
    seed : int
        Seed of the weights and connectivity.
    scale : float
        Multiplies the 80 inputs, 140 LIF and 100 AHP neurons (the 10 readout units
        stay 10); ``scale=100`` gives 24,000 spiking neurons.
    density : float
        Connection probability at ``scale=1``; ``density/scale`` otherwise, so the
        in-degree is the same at every scale.

    Returns
    -------
    NetworkSpec
        Populations ``lif`` (140·scale), ``ahp`` (100·scale, paper AHP parameters),
        ``out`` (10, ``li``); input group ``pixels`` (80·scale); projections from the
        input to both spiking populations, all four recurrent ones, and both spiking
        populations to the readout. Readout: ``out.v`` at the last step.
    """
    if not scale > 0:
        raise ValueError(f"scale = {scale!r} must be > 0")
    if not 0 < density <= 1:
        raise ValueError(f"density = {density!r} must lie in (0, 1]")
    rng = np.random.default_rng(seed)
    n_in, n_lif, n_ahp = (max(1, int(round(n * scale))) for n in (80, 140, 100))
    n_out = 10
    p = min(1.0, density / scale)
    sizes = {"pixels": n_in, "lif": n_lif, "ahp": n_ahp, "out": n_out}
    projections = [
        _projection(rng, "in_lif", "pixels", "lif", n_in, n_lif, p, _W_IN_MEAN, _W_IN_SD, "excitatory"),
        _projection(rng, "in_ahp", "pixels", "ahp", n_in, n_ahp, p, _W_IN_MEAN, _W_IN_SD, "excitatory"),
    ]
    for pre in ("lif", "ahp"):
        for post in ("lif", "ahp"):
            projections.append(_projection(rng, f"{pre}_{post}", pre, post, sizes[pre], sizes[post], p,
                                           _W_REC_MEAN, _W_REC_SD))
    for pre in ("lif", "ahp"):
        projections.append(_projection(rng, f"{pre}_out", pre, "out", sizes[pre], n_out,
                                       min(1.0, density), 0.0, _W_OUT_SD))
    return NetworkSpec(
        populations=[Population("lif", n_lif, "lif"), Population("ahp", n_ahp, "ahp"),
                     Population("out", n_out, "li")],
        inputs=[InputGroup("pixels", n_in)],
        projections=projections,
        readout=Readout("out"),
        metadata={"name": f"random sMNIST-shaped network (scale {scale:g}, seed {seed})",
                  "untrained": True},
    )


def smnist_shaped_inputs(n_samples: int, seed: int = 0, scale: float = 1.0,
                         n_steps: int = SMNIST_STEPS, p_event: float = 0.04) -> SpikeTrains:
    """Random input with the statistics of the threshold-crossing sMNIST encoding.

    The paper's encoder (paper_model.md §2) never uses channels 0 and 1, lets channels
    2..78 spike on threshold crossings between consecutive pixels (steps 0..782), and
    fires the last channel (the output cue) at every one of the last 56 steps (a quarter
    of the steps for samples shorter than 224 steps). Here the
    crossing channels spike independently with probability ``p_event`` per step (about
    2,400 events per sample at the default, the order of a real digit's crossings).
    With ``scale != 1`` every group of 80 channels is repeated.

    Returns
    -------
    SpikeTrains
        Input group ``pixels`` with ``80*scale`` channels, ``n_samples`` samples of ``n_steps``.
    """
    n_in = max(1, int(round(80 * scale)))
    rng = np.random.default_rng(seed)
    cue_start = n_steps - min(SMNIST_CUE_STEPS, n_steps // 4)
    events = []
    channel = np.arange(n_in)
    crossing = np.isin(channel % 80, np.arange(2, 79))
    cue = channel % 80 == 79
    for s in range(n_samples):
        dense = np.zeros((n_steps, n_in), dtype=bool)
        last_pixel_step = max(cue_start - 1, 0)  # the last pixel has no successor
        dense[:last_pixel_step, crossing] = rng.random((last_pixel_step, int(crossing.sum()))) < p_event
        dense[cue_start:, cue] = True
        st, ch = np.nonzero(dense)
        events.append(np.stack([np.full(len(st), s), st, ch], axis=1))
    return SpikeTrains(n_samples, n_steps, {"pixels": n_in}, {"pixels": np.concatenate(events)})
