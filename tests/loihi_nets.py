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


def paper_float_spec(w_in, w_rec, w_out, n_regular=140):
    """The float NetworkSpec an LSNN importer makes from integer weights (brief: issue 4's rule).

    Weights w/127 * v_th; tau_m and tau_ahp are the chip's effective time constants; delta_I_ahp
    makes the per-step AHP input -384/32512 of v_th in the exact discretisation; volt_per_unit
    hints so that the quantizer gives the integers back.
    """
    import math

    from brian2 import mV, ms, pA, volt

    from biolstm.neurons import get_model
    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

    vth = 10 * mV
    tau_m = -1 / math.log(1 - 204 / 4096) * ms
    tau_a = -1 / math.log(1 - 5 / 4096) * ms
    probe = get_model("ahp").make_params({"tau_m": tau_m, "tau_ahp": tau_a, "delta_I_ahp": 1 * pA})
    disc = get_model("ahp").discrete(probe, 1 * ms)
    volt_per_amp = disc.transition[disc.input_index, disc.state_names.index("I_ahp")]
    delta = 384 / 32512 * float(vth) / (-volt_per_amp)
    n = w_rec.shape[0]
    r, a = slice(0, n_regular), slice(n_regular, n)
    blocks = {"in_reg": ("inp", "reg", w_in[:, r]), "in_ada": ("inp", "ada", w_in[:, a]),
              "reg_reg": ("reg", "reg", w_rec[r, r]), "reg_ada": ("reg", "ada", w_rec[r, a]),
              "ada_reg": ("ada", "reg", w_rec[a, r]), "ada_ada": ("ada", "ada", w_rec[a, a]),
              "reg_out": ("reg", "out", w_out[r]), "ada_out": ("ada", "out", w_out[a])}
    return NetworkSpec(
        populations=[Population("reg", n_regular, "lif", {"tau_m": tau_m, "v_th": vth}),
                     Population("ada", n - n_regular, "ahp", {"tau_m": tau_m, "v_th": vth, "tau_ahp": tau_a,
                                                              "delta_I_ahp": delta * 1e12 * pA}),
                     Population("out", w_out.shape[1], "li", {"tau_m": tau_m})],
        inputs=[InputGroup("inp", w_in.shape[0])],
        projections=[Projection(k, pre, post, np.asarray(w, float) / 127 * float(vth), weight_unit=volt)
                     for k, (pre, post, w) in blocks.items()],
        readout=Readout("out"),
        metadata={"loihi": {"volt_per_unit": {"reg": 0.01 / 8128, "ada": 0.01 / 32512, "out": 0.01 / 8128}}},
    )
