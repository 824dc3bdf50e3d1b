"""The recurrent network of LIF and adaptive neurons of Bellec et al. 2018 / Rao et al. 2022.

:func:`lsnn_network` builds it as a :class:`~biolstm.spec.NetworkSpec` with random initial
weights for any number of input channels, with or without a leaky readout; the sMNIST
network (:func:`biolstm.tasks.smnist.smnist_network`) and the bAbI sentence and question
encoders (:mod:`biolstm.tasks.babi_network`) are instances of it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["lsnn_network"]

V_TH_MV = 10.0
"""Threshold scale of the initial weights (mV; the neuron models' default ``v_th``)."""


def lsnn_network(
    n_inputs: int,
    n_regular: int,
    n_adaptive: int,
    adaptive_model: str = "ahp",
    *,
    n_outputs: int = 0,
    input_name: str = "input",
    density: float = 1.0,
    seed: int = 0,
    input_gain: float = 1.0,
    recurrent_gain: float = 1.0,
    params: dict | None = None,
    metadata: dict | None = None,
):
    """Populations ``reg`` (``lif``), ``ada`` (``adaptive_model``) and, if ``n_outputs``, ``out`` (``li``).

    Projections: ``input_name`` -> reg/ada, all four recurrent blocks (no
    self-connections), reg/ada -> out (dense). Initial weights are Gaussian,
    ``gain * v_th / sqrt(fan_in * density)``, masked to ``density`` (a fixed random mask;
    readout weights are dense). Readout: ``out.v`` at the last step, if there is an ``out``.

    Parameters
    ----------
    n_inputs : int
        Input channels.
    n_regular, n_adaptive : int
        Population sizes (``n_regular`` may be 0).
    adaptive_model : {"ahp", "alif", "lif"}
    n_outputs : int
        Leaky readout units (0: no readout population).
    density : float
        Fraction of non-zero input and recurrent weights, in (0, 1].
    seed : int
        Seeds the initial weights and masks.
    input_gain, recurrent_gain : float
        Scale of the initial Gaussian weights, ``gain * v_th / sqrt(fan_in * density)``.
    params : dict, optional
        ``{population: {param: Quantity}}`` overrides of the neuron defaults.
    """
    from brian2 import mV

    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

    if not 0 < density <= 1:
        raise ValueError(f"density={density} must be in (0, 1]")
    params = params or {}
    pops = [Population("reg", n_regular, "lif", params.get("reg", {}))] if n_regular else []
    pops.append(Population("ada", n_adaptive, adaptive_model, params.get("ada", {})))
    if n_outputs:
        pops.append(Population("out", n_outputs, "li", params.get("out", {})))
    spiking = [p for p in pops if p.model != "li"]
    rng = np.random.default_rng(seed)
    n_rec = sum(p.size for p in spiking)

    def init(n_pre, n_post, gain, dens, fan_in, no_diag=False):
        w = rng.normal(0.0, gain * V_TH_MV / math.sqrt(fan_in * dens), (n_pre, n_post))
        if dens < 1:
            w *= rng.random((n_pre, n_post)) < dens
        if no_diag:
            np.fill_diagonal(w, 0.0)
        return w * mV

    projections = []
    for post in spiking:
        projections.append(Projection(f"in_{post.name}", input_name, post.name,
                                      init(n_inputs, post.size, input_gain, density, n_inputs)))
    for pre in spiking:
        for post in spiking:
            projections.append(Projection(
                f"{pre.name}_{post.name}", pre.name, post.name,
                init(pre.size, post.size, recurrent_gain, density, n_rec, pre is post)))
    if n_outputs:
        for pre in spiking:
            projections.append(Projection(f"{pre.name}_out", pre.name, "out",
                                          init(pre.size, n_outputs, 1.0, 1.0, n_rec)))
    return NetworkSpec(pops, projections, [InputGroup(input_name, n_inputs)],
                       Readout("out", "v", "last") if n_outputs else None,
                       metadata=dict(metadata or {}))
