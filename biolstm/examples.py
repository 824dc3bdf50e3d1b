"""Example networks and inputs for tests, benchmarks and the docs (none is trained).

* :func:`smnist_shaped_network`, :func:`smnist_shaped_inputs`: random float networks and
  inputs with the shape of the paper's sMNIST network (below);
* :func:`random_paper_weights`: random LSNN-style integer weights of the published shapes
  (for :func:`biolstm.loihi.paper.paper_network`) and :func:`paper_float_spec`, the float
  NetworkSpec an LSNN importer makes from them;
* :func:`example_lif_pair`: a small 2-class LIF network and its hand-quantized Loihi version;
* :func:`loihi_projection`, :func:`loihi_lif`, :func:`loihi_ahp`, :func:`loihi_readout`:
  building blocks of hand-made :class:`~biolstm.loihi.fixed_point.QuantizedNetwork` s;
* :func:`small_network`, :func:`small_inputs`: the small float network (refractory LIF, AHP,
  readout, a delayed projection) and Poisson inputs the runner and code-generation tests share;
* :func:`tiny_chain`, :func:`tiny_chain_activity`: a 2-input, 2+2-LIF chain and one hand-made
  3-step sample of its activity, whose energy sums the Loihi energy and report tests derive by hand.

Random networks with the shape of the paper's sMNIST network:

Until trained weights ship, throughput is measured on a random network with the
shape of the sequential-MNIST network of Rao et al. (``docs/sources.md``
P1-2): 80 input channels, 140 LIF and 100 AHP neurons (the paper's adaptive neurons),
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
from biolstm.loihi.fixed_point import QuantizedNetwork, QuantizedPopulation, QuantizedProjection
from biolstm.loihi.paper import PAPER
from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

__all__ = [
    "SMNIST_STEPS",
    "SMNIST_CUE_STEPS",
    "smnist_shaped_network",
    "smnist_shaped_inputs",
    "random_paper_weights",
    "paper_float_spec",
    "example_lif_pair",
    "loihi_projection",
    "loihi_lif",
    "loihi_ahp",
    "loihi_readout",
    "small_network",
    "small_inputs",
    "tiny_chain",
    "tiny_chain_activity",
]

SMNIST_STEPS = 840
"""Steps per sMNIST sample: 784 pixels and 56 output-cue steps (docs/sources.md P2)."""
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

    The paper's encoder (docs/sources.md P2) never uses channels 0 and 1, lets channels
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


def random_paper_weights(seed: int = 0, *, density: float = 0.2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random integer weights with the published files' shapes and sign structure.

    ``w_in`` [80, 240] (rows 0-1 zero), ``w_rec`` [240, 240] (zero diagonal; rows 0-58
    inhibitory, the others excitatory), ``w_out`` [240, 10]; about ``density`` non-zeros,
    magnitudes 1..255. Not trained: for tests and speed measurements only.
    """
    rng = np.random.default_rng(seed)
    p = PAPER
    n = p["n_regular"] + p["n_adaptive"]

    def draw(shape, scale):
        mag = np.clip(np.rint(rng.exponential(scale, shape)), 1, 255)
        return np.where(rng.random(shape) < density, mag, 0).astype(np.int64)

    w_in = draw((p["n_inputs"], n), 60) * rng.choice([-1, 1], (p["n_inputs"], n), p=[0.3, 0.7])
    w_in[:2] = 0
    w_rec = draw((n, n), 15)
    w_rec[: p["n_inhibitory"]] = -np.clip(3 * w_rec[: p["n_inhibitory"]], 0, 255)
    np.fill_diagonal(w_rec, 0)
    w_out = draw((n, p["n_outputs"]), 150)
    w_out[: p["n_inhibitory"]] *= -1
    return w_in, w_rec, w_out


def example_lif_pair(seed: int = 0, n_samples: int = 40, n_steps: int = 200, *, weight_step: int = 1,
                     p_high: float = 0.045, p_low: float = 0.03):
    """A small 2-class LIF network as a float NetworkSpec and a hand-quantized Loihi version.

    Two input halves (20 channels each) fire with probability ``p_high`` or ``p_low`` per
    step depending on the class; 60 LIF neurons (30 listen mostly to each half, with
    recurrent inhibition) drive 2 leaky readouts. The float weights are real numbers in
    "mantissa units" ``w`` (volts ``w/127 * v_th``); the Loihi version rounds them to the
    nearest multiple of ``weight_step`` (1 = 8-bit magnitude; 16 = 4 bits), exponent 0,
    with the paper's neuron settings (decay_v 204, decay_u 4096, vth 127*64). The float
    network uses the chip's effective time constant ``tau_m = -dt/ln(1 - 204/4096)``, so the
    two differ by weight rounding and the chip's truncating arithmetic only. The weights are
    set by construction, not trained.

    Returns
    -------
    spec, qnet, inputs, labels
    """
    from brian2 import mV, ms

    rng = np.random.default_rng(seed)
    n_in, n_hid, n_out = 40, 60, 2
    w_in = np.zeros((n_in, n_hid), np.int64)
    for half in (0, 1):
        rows = slice(20 * half, 20 * half + 20)
        cols = slice(30 * half, 30 * half + 30)
        w_in[rows, cols] = rng.integers(20, 90, (20, 30)) * (rng.random((20, 30)) < 0.4)
        other = slice(30 * (1 - half), 30 * (1 - half) + 30)
        w_in[rows, other] = rng.integers(5, 30, (20, 30)) * (rng.random((20, 30)) < 0.3)
    w_rec = -rng.integers(5, 40, (n_hid, n_hid)) * (rng.random((n_hid, n_hid)) < 0.1)
    np.fill_diagonal(w_rec, 0)
    w_out = np.zeros((n_hid, n_out), np.int64)
    w_out[:30, 0], w_out[30:, 1] = rng.integers(40, 120, 30), rng.integers(40, 120, 30)
    w_out[:30, 1], w_out[30:, 0] = -rng.integers(10, 60, 30), -rng.integers(10, 60, 30)

    # float weights: real numbers around the integers; Loihi: rounded to the mantissa grid
    w_in, w_rec, w_out = (np.where(w != 0, w + rng.uniform(-0.5, 0.5, w.shape), 0.0) for w in (w_in, w_rec, w_out))
    step = int(weight_step)

    def rounded(w):
        return np.clip(step * np.rint(w / step), -256, 255).astype(np.int64)

    v_th = 10 * mV
    tau = -1 * ms / np.log(1 - 204 / 4096)
    spec = NetworkSpec(
        populations=[Population("hid", n_hid, "lif", {"tau_m": tau, "v_th": v_th}),
                     Population("out", n_out, "li", {"tau_m": tau})],
        inputs=[InputGroup("inp", n_in)],
        projections=[Projection("in_hid", "inp", "hid", w_in / 127 * v_th),
                     Projection("hid_hid", "hid", "hid", w_rec / 127 * v_th),
                     Projection("hid_out", "hid", "out", w_out / 127 * v_th)],
        readout=Readout("out", "v", "last"),
        metadata={"name": "example_lif_pair", "loihi": {"volt_per_unit": {"hid": 0.01 / 8128, "out": 0.01 / 8128}}},
    )

    def proj(name, pre, post, w):
        i, j = np.nonzero(w)
        return QuantizedProjection(name, pre, post, i.astype(np.int64), j.astype(np.int64), w[i, j],
                                   0, "mixed" if (w < 0).any() and (w > 0).any() else
                                   ("inhibitory" if (w < 0).any() else "excitatory"), 8,
                                   np.zeros(len(i), np.int64))

    qnet = QuantizedNetwork(
        "loihi1", 1e-3, {"inp": n_in},
        [QuantizedPopulation("hid", n_hid, "lif", 4096, 204, 127, 1, 0.01 / 8128),
         QuantizedPopulation("out", n_out, "li", 4096, 204, 2**17 - 1, 1, 0.01 / 8128, spiking=False)],
        [proj("in_hid", "inp", "hid", rounded(w_in)), proj("hid_hid", "hid", "hid", rounded(w_rec)),
         proj("hid_out", "hid", "out", rounded(w_out))],
        readout=("out", "v", "last"),
        conventions={"source": f"example_lif_pair: float w/127*v_th, mantissa = w rounded to a grid of {step}"},
    )
    labels = rng.integers(0, 2, n_samples)
    prob = np.where(np.arange(n_in)[None, :] < 20, np.where(labels[:, None] == 0, p_high, p_low),
                    np.where(labels[:, None] == 0, p_low, p_high))
    dense = rng.random((n_samples, n_steps, n_in)) < prob[:, None, :]
    return spec, qnet, SpikeTrains.from_dense({"inp": dense}), labels


def loihi_projection(name, pre, post, mant, weight_exp=0, delay=0, sign_mode="mixed"):
    """QuantizedProjection from a dense integer mantissa matrix [n_pre, n_post] (0 = no synapse)."""
    mant = np.asarray(mant, dtype=np.int64)
    i, j = np.nonzero(mant)
    return QuantizedProjection(name, pre, post, i.astype(np.int64), j.astype(np.int64),
                               mant[i, j], int(weight_exp), sign_mode, 8,
                               np.full(len(i), int(delay), dtype=np.int64))


def loihi_lif(name, size, decay_u, decay_v, vth_mant, refractory_delay=1, bias_mant=0, bias_exp=0):
    """A LIF QuantizedPopulation (``volt_per_unit`` = 1 mV per threshold)."""
    return QuantizedPopulation(name, size, "lif", int(decay_u), int(decay_v), int(vth_mant),
                               int(refractory_delay), 1e-3 / (int(vth_mant) * 64),
                               bias_mant=bias_mant, bias_exp=bias_exp)


def loihi_ahp(name, size, decay_u=4096, decay_v=204, vth_mant=508, aux_decay_v=5, aux_weight_mant=96,
        aux_weight_exp=-4, aux_decay_u=4096, refractory_delay=1):
    """An AHP QuantizedPopulation with the paper's adaptive-neuron defaults."""
    return QuantizedPopulation(name, size, "ahp", decay_u, decay_v, vth_mant, refractory_delay,
                               1e-3 / (vth_mant * 64), aux_decay_u=aux_decay_u, aux_decay_v=aux_decay_v,
                               aux_weight_mant=aux_weight_mant, aux_weight_exp=aux_weight_exp)


def loihi_readout(name, size, decay_v=204):
    """A non-spiking leaky readout QuantizedPopulation."""
    return QuantizedPopulation(name, size, "li", 4096, decay_v, 2**17 - 1, 1, 1e-3 / 8128, spiking=False)


def paper_float_spec(w_in, w_rec, w_out, n_regular=140):
    """The float NetworkSpec an LSNN importer makes from integer weights.

    Weights w/127 * v_th; tau_m and tau_ahp are the chip's effective time constants; delta_I_ahp
    makes the per-step AHP input -384/32512 of v_th in the exact discretisation; volt_per_unit
    hints so that the quantizer gives the integers back.
    """
    import math

    from brian2 import mV, ms, pA, volt

    from biolstm.neurons import get_model

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


def small_network(seed: int = 3, scale_w: float = 1.0) -> NetworkSpec:
    """25 neurons: 12 refractory LIF (t_ref 3 ms), 10 AHP, 3 leaky readouts, 6 inputs, one
    projection with a 2 ms delay; random weights (mV) times ``scale_w``."""
    from brian2 import mV, ms, pA

    rng = np.random.default_rng(seed)
    return NetworkSpec(
        populations=[Population("reg", 12, "lif", {"t_ref": 3 * ms}),
                     Population("ada", 10, "ahp", {"delta_I_ahp": 40 * pA}),
                     Population("out", 3, "li")],
        inputs=[InputGroup("inp", 6)],
        projections=[
            Projection("in_reg", "inp", "reg", scale_w * rng.uniform(0, 7, (6, 12)) * mV),
            Projection("in_ada", "inp", "ada", scale_w * rng.uniform(0, 9, (6, 10)) * mV),
            Projection("reg_ada", "reg", "ada", scale_w * rng.normal(0, 3, (12, 10)) * mV, delay=2 * ms),
            Projection("ada_reg", "ada", "reg", scale_w * rng.normal(0, 3, (10, 12)) * mV),
            Projection("ada_ada", "ada", "ada", scale_w * rng.normal(0, 2, (10, 10)) * mV),
            Projection("reg_out", "reg", "out", scale_w * rng.normal(0, 1, (12, 3)) * mV),
            Projection("ada_out", "ada", "out", scale_w * rng.normal(0, 1, (10, 3)) * mV),
        ],
        readout=Readout("out"),
    )


def small_inputs(n_samples: int = 3, n_steps: int = 120, seed: int = 5) -> SpikeTrains:
    """Poisson input (80 Hz, 6 channels, 1 ms steps) for :func:`small_network`; the last 6
    steps of sample 0 drive every channel, so spikes are in flight at the sample boundary."""
    from brian2 import Hz, ms

    from biolstm.encoding import poisson_spike_trains

    trains = poisson_spike_trains("inp", 6, 80 * Hz, n_steps, 1 * ms, n_samples, seed)
    dense = trains.dense("inp")
    dense[0, -6:, :] = True
    return SpikeTrains.from_dense({"inp": dense})


def tiny_chain(filler: int = 0) -> NetworkSpec:
    """x (2 inputs) -> a (2 LIF) -> b (2 LIF), weights 2 mV.

    x0 -> a0; x1 -> a0, a1; a0 -> b0, b1; a1 -> b1. ``filler`` > 0 adds a population
    ``filler`` of that many unconnected LIF neurons between a and b (to spread them over cores).
    """
    from brian2 import mV

    pops = [Population("a", 2, "lif")]
    if filler:
        pops.append(Population("filler", filler, "lif"))
    pops.append(Population("b", 2, "lif"))
    return NetworkSpec(
        pops,
        [Projection("xa", "x", "a", np.array([[2.0, 0.0], [2.0, 2.0]]) * mV),
         Projection("ab", "a", "b", np.array([[2.0, 2.0], [0.0, 2.0]]) * mV)],
        [InputGroup("x", 2)],
    )


def tiny_chain_activity(network):
    """One sample of 3 steps of :func:`tiny_chain` (``network``: it as a NetworkSpec or a
    QuantizedNetwork): a0 fires at step 0, a1 at step 1, b1 at step 2; x1 at step 0.

    Returns ``(Activity, SpikeTrains)`` (the input spike at step 0 of channel 1).
    """
    from biolstm.activity import Activity

    sizes = {p.name: p.size for p in network.populations}
    spikes = {name: np.zeros((0, 3), dtype=np.int64) for name in sizes}
    spikes["a"] = np.array([[0, 0, 0], [0, 1, 1]])
    spikes["b"] = np.array([[0, 2, 1]])
    act = Activity(dt=1e-3, n_samples=1, n_steps=3, population_sizes=sizes, spikes=spikes,
                   input_counts={"x": np.array([[1, 0, 0]])})
    inputs = SpikeTrains(1, 3, {"x": 2}, {"x": np.array([[0, 0, 1]])})
    return act, inputs
