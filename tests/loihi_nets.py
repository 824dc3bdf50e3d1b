"""Hand-built QuantizedNetworks for the Loihi-mode tests (no quantizer needed)."""

from __future__ import annotations

import numpy as np

from biolstm.loihi.fixed_point import QuantizedNetwork, QuantizedPopulation, QuantizedProjection


def projection(name, pre, post, mant, weight_exp=0, delay=0, sign_mode="mixed"):
    """QuantizedProjection from a dense integer mantissa matrix [n_pre, n_post] (0 = no synapse)."""
    mant = np.asarray(mant, dtype=np.int64)
    i, j = np.nonzero(mant)
    return QuantizedProjection(name, pre, post, i.astype(np.int64), j.astype(np.int64),
                               mant[i, j], int(weight_exp), sign_mode, 8,
                               np.full(len(i), int(delay), dtype=np.int64))


def lif(name, size, decay_u, decay_v, vth_mant, refractory_delay=1, bias_mant=0, bias_exp=0):
    return QuantizedPopulation(name, size, "lif", int(decay_u), int(decay_v), int(vth_mant),
                               int(refractory_delay), 1e-3 / (int(vth_mant) * 64),
                               bias_mant=bias_mant, bias_exp=bias_exp)


def ahp(name, size, decay_u=4096, decay_v=204, vth_mant=508, aux_decay_v=5, aux_weight_mant=96,
        aux_weight_exp=-4, aux_decay_u=4096, refractory_delay=1):
    return QuantizedPopulation(name, size, "ahp", decay_u, decay_v, vth_mant, refractory_delay,
                               1e-3 / (vth_mant * 64), aux_decay_u=aux_decay_u, aux_decay_v=aux_decay_v,
                               aux_weight_mant=aux_weight_mant, aux_weight_exp=aux_weight_exp)


def readout(name, size, decay_v=204):
    return QuantizedPopulation(name, size, "li", 4096, decay_v, 2**17 - 1, 1, 1e-3 / 8128, spiking=False)
