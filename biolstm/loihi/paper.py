"""The paper's sMNIST network on Loihi, built straight from LSNN/Loihi-style integer weights.

Rao, Plank, Wild & Maass (arXiv 2107.03992) ran an LSNN of 140 LIF and 100 adaptive
(two-compartment AHP) neurons with 10 non-spiking outputs on one Loihi core
(``docs/sources.md`` P1, P3). :func:`paper_network` gives that
configuration as a :class:`~biolstm.loihi.fixed_point.QuantizedNetwork` from the three
integer weight files, without a float round trip, so the Loihi mode can run it exactly as
the chip did: decays 4096/204 (current/voltage), thresholds 127*64 and 508*64, aux
compartment decay 5 and weight -96 * 2**(6-4) = -384, synapses into adaptive neurons with
weight exponent 6 - thrAdaScale = 2, refractory delay 1, readout of the output voltage at
the last step. :func:`biolstm.examples.random_paper_weights` draws weights with the shapes, density and sign
structure of the published files (for tests and benchmarks; the real weights are not shipped).
"""

from __future__ import annotations

import numpy as np

from biolstm.loihi.fixed_point import (
    DECAY_ONE,
    VTH_MANT_MAX,
    WEIGHT_MANT_MAX,
    QuantizedNetwork,
    QuantizedPopulation,
    QuantizedProjection,
)

__all__ = ["paper_network", "PAPER"]

PAPER = {
    "n_inputs": 80,
    "n_regular": 140,
    "n_adaptive": 100,
    "n_outputs": 10,
    "n_inhibitory": 59,
    "steps_per_sample": 840,
    "decay_u": 4096,
    "decay_v": 204,
    "vth_mant": 127,
    "thr_ada_scale": 4,
    "aux_decay_v": 5,
    "aux_weight_mant": 96,
}
"""Numbers of docs/sources.md P1-P3."""


def _projection(name: str, pre: str, post: str, mant: np.ndarray, weight_exp: int) -> QuantizedProjection:
    mant = np.asarray(mant)
    if not np.all(np.mod(mant, 1) == 0):
        raise ValueError(f"weights of {name!r} must be integers (Loihi mantissas); got non-integer values")
    mant = mant.astype(np.int64)
    if mant.size and (mant.min() < -(WEIGHT_MANT_MAX + 1) or mant.max() > WEIGHT_MANT_MAX):
        raise ValueError(f"weights of {name!r} span {mant.min()}..{mant.max()}; Loihi mantissas are "
                         f"{-(WEIGHT_MANT_MAX + 1)}..{WEIGHT_MANT_MAX}")
    i, j = np.nonzero(mant)
    signs = np.sign(mant[i, j])
    mode = "excitatory" if np.all(signs > 0) else "inhibitory" if np.all(signs < 0) else "mixed"
    return QuantizedProjection(name, pre, post, i.astype(np.int64), j.astype(np.int64), mant[i, j],
                               int(weight_exp), mode, 8, np.zeros(len(i), dtype=np.int64))


def paper_network(w_in: np.ndarray, w_rec: np.ndarray, w_out: np.ndarray, *,
                  n_regular: int = 140, thr_ada_scale: int = 4, dt: float = 1e-3) -> QuantizedNetwork:
    """The sMNIST LSNN exactly as the paper configured Loihi (docs/sources.md P1.1-P1.4).

    Parameters
    ----------
    w_in : ndarray [n_in, n]
        Input-port -> neuron mantissas (the file ``w_in.npy``, 80 x 240).
    w_rec : ndarray [n, n]
        Recurrent mantissas ``[source, target]``; neurons ``0..n_regular-1`` are LIF, the
        rest adaptive.
    w_out : ndarray [n, n_out]
        Neuron -> output mantissas.
    n_regular : int
        Number of LIF neurons (140).
    thr_ada_scale : int
        Adaptive threshold scale (4): threshold ``127*thr_ada_scale`` mantissa, synapses into
        adaptive neurons with weight exponent ``6 - thr_ada_scale``, aux weight exponent
        ``-thr_ada_scale``.
    dt : float
        Seconds per step of the float model (one step per pixel; 1 ms by convention).

    Returns
    -------
    QuantizedNetwork
        Populations ``reg`` (LIF), ``ada`` (AHP, two compartments), ``out`` (non-spiking);
        input group ``inp``; readout ``("out", "v", "last")``.
    """
    w_in, w_rec, w_out = (np.asarray(w) for w in (w_in, w_rec, w_out))
    n = w_rec.shape[0]
    if w_rec.shape != (n, n) or w_in.shape[1] != n or w_out.shape[0] != n or not 0 < n_regular < n:
        raise ValueError(f"weight shapes w_in {w_in.shape}, w_rec {w_rec.shape}, w_out {w_out.shape} do not "
                         f"fit one network of n neurons with {n_regular} regular ones; expected "
                         f"[n_in, n], [n, n], [n, n_out]")
    p = PAPER
    vth_ada = p["vth_mant"] * thr_ada_scale
    exp_ada = 6 - thr_ada_scale
    pops = [
        QuantizedPopulation("reg", n_regular, "lif", p["decay_u"], p["decay_v"], p["vth_mant"], 1,
                            1e-2 / (p["vth_mant"] * 64)),
        QuantizedPopulation("ada", n - n_regular, "ahp", p["decay_u"], p["decay_v"], vth_ada, 1,
                            1e-2 / (vth_ada * 64), aux_decay_u=DECAY_ONE, aux_decay_v=p["aux_decay_v"],
                            aux_weight_mant=p["aux_weight_mant"], aux_weight_exp=-thr_ada_scale),
        QuantizedPopulation("out", w_out.shape[1], "li", p["decay_u"], p["decay_v"], VTH_MANT_MAX, 1,
                            1e-2 / (p["vth_mant"] * 64), spiking=False),
    ]
    r, a = slice(0, n_regular), slice(n_regular, n)
    projections = [
        _projection("in_reg", "inp", "reg", w_in[:, r], 0),
        _projection("in_ada", "inp", "ada", w_in[:, a], exp_ada),
        _projection("reg_reg", "reg", "reg", w_rec[r, r], 0),
        _projection("reg_ada", "reg", "ada", w_rec[r, a], exp_ada),
        _projection("ada_reg", "ada", "reg", w_rec[a, r], 0),
        _projection("ada_ada", "ada", "ada", w_rec[a, a], exp_ada),
        _projection("reg_out", "reg", "out", w_out[r], 0),
        _projection("ada_out", "ada", "out", w_out[a], 0),
    ]
    return QuantizedNetwork("loihi1", dt, {"inp": w_in.shape[0]}, pops, projections,
                            readout=("out", "v", "last"),
                            conventions={"source": "docs/sources.md P1 (LSNN integer weights, no rescaling)"})
