"""The whole spiking RelNet of Rao et al. 2022 (bAbI) as one NetworkSpec, for placement on Loihi.

:func:`relnet_spec` builds, for ``n_sentences`` sentence slots (20 in the paper):

* one AHP encoder per sentence slot, ``s{i}_reg`` (``lif``) + ``s{i}_ada`` (``ahp``), all
  with the *same* weights (a shared-weight sentence LSNN, stored once per slot as on Loihi,
  where the authors ran ``WEIGHT_SHARING = False``), each fed by its own input group
  ``s{i}_words`` (one channel per vocabulary word); one question encoder ``q_reg``/``q_ada``
  on ``q_words``. The encoder is :func:`biolstm.tasks.babi_network.encoder_network` (the
  network ``biolstm train babi`` trains);
* ``g``: one instance per sentence pair ``(i, j)``, ``i <= j`` (``n(n+1)/2``, 210 for 20),
  layers ``g_{i}_{j}_l0 .. _l{K-1}`` (``lif``). Layer 0 receives [s_i, s_j, q]
  (3 x 200 = 600 inputs); for ``i == j`` both sentence blocks come from the same neurons,
  so their weights are added (one synapse per neuron pair). All instances share one set of
  weights (Santoro et al.'s g);
* ``gsum``: the "translation" layer of the authors, one neuron per g unit, summing the last
  g layer over all instances (one-to-one weights from every instance);
* ``f`` layers ``f1..`` (``lif``) and the readout ``answer`` (``li``, read at the last step);
* input group ``bias`` (one always-on channel, the biases of g and f as weights, as
  :mod:`biolstm.convert.relu_mlp` expresses them) and, optionally, ``mask`` (one channel
  per sentence slot, inhibiting the layer-0 neurons of every instance that contains the
  slot, the role of the authors' 20 mask neurons for stories with fewer sentences).

The weights are random (Gaussian, fan-in scaled, the encoders' from ``encoder_network``)
with the trained network's connectivity; pass trained ones through ``g_weights`` /
``f_weights`` (lists of ``(W [in, out], b [out])`` in units of ``v_th``, e.g.
``ConvertedMLP.normalised``).

Sizes and their sources (marked where they are assumptions):

* 180 words, 200-neuron encoders, 4 g layers of 256, 600 inputs to g layer 0, 181 readout
  neurons: Rao et al.'s NxSDK RelNet (intel-nrc-ecosystem/models @ 3dc53bf,
  nxsdk_modules_ncl/lsnn/apps/relnet: ``loihi_placement_param_search.py:368-430`` defaults,
  ``snip_header.h:36`` for 181); the vocabulary size is a parameter (biolstm's bAbI
  vocabulary over all 20 tasks differs).
* n_regular/n_adaptive = 100/100: **assumption** (the authors' split comes from their data
  file, absent from the public repository); biolstm's encoder default.
* f = one layer of 256: **assumption** (``final_MLP_cell_data`` is in the missing data file;
  the authors' readout sizing assumes a 256-wide last f layer); biolstm's RelationHead
  default ``f_units=(256,)``.
* encoder density: 1.0 by default, the dense worst case the authors' placement sizes for
  (``neurons per core <= 60000 // (200 + 180)``); biolstm trains its encoders at 0.2.
* no synaptic delays (the authors' layer 0 has some; their values are in the missing data).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["relnet_pairs", "relnet_spec", "relnet_counts", "N_WORDS_PAPER", "N_ANSWERS_PAPER"]

N_WORDS_PAPER = 180
"""Vocabulary (input channels per encoder) of the authors' RelNet."""
N_ANSWERS_PAPER = 181
"""Readout neurons of the authors' RelNet (``snip_header.h:36``)."""

V_TH_MV = 10.0


def relnet_pairs(n_sentences: int) -> list[tuple[int, int]]:
    """Unordered sentence pairs ``(i, j)``, ``i <= j``, in row order: ``n(n+1)/2`` of them."""
    return [(i, j) for i in range(n_sentences) for j in range(i, n_sentences)]


def _gauss(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    """He-style initial weights in units of v_th: N(0, 2/n_in)."""
    return rng.normal(0.0, math.sqrt(2.0 / n_in), (n_in, n_out))


def relnet_spec(n_sentences: int = 20, *, n_words: int = N_WORDS_PAPER, n_regular: int = 100,
                n_adaptive: int = 100, encoder_density: float = 1.0,
                g_units: Sequence[int] = (256, 256, 256, 256), f_units: Sequence[int] = (256,),
                n_answers: int = N_ANSWERS_PAPER, pairs: Sequence[tuple[int, int]] | None = None,
                mask: bool = True, bias: bool = True, relays: tuple[int, int] | None = None,
                g_weights=None, f_weights=None, sum_weight: float = 1.0, seed: int = 0):
    """The spiking RelNet as a NetworkSpec (see the module docstring).

    Parameters
    ----------
    n_sentences : int
        Sentence slots (encoders); 20 in the paper, 2 in the authors' measured run.
    n_words : int
        Vocabulary size = input channels per encoder (paper: 180).
    n_regular, n_adaptive : int
        Encoder populations (``lif`` / ``ahp``).
    encoder_density : float
        Density of the encoders' input and recurrent weights.
    g_units, f_units : sequence of int
        Widths of the g layers and of the f layers before the readout.
    n_answers : int
        Readout neurons.
    pairs : sequence of (i, j), optional
        g instances (default all ``i <= j`` of ``n_sentences``).
    mask, bias : bool
        Add the ``mask`` and ``bias`` input groups.
    relays : (int, int), optional
        Relay copies per sentence and question encoder (the authors': 4 and 10). Each
        encoder population ``X`` gets copies ``X_r0..`` (one-to-one, every spike repeated one
        step later; ``lif`` whose voltage is only this step's input, like the authors' relays
        with instantaneous decays), and the g instances that read ``X`` are divided evenly among
        the copies, so each neuron reaches fewer cores. An input group ``relay_gate`` (one
        channel) inhibits every relay in the steps it fires (the authors enable the relays only
        in the last 14 LSNN steps, the code window).
    g_weights, f_weights : list of (W [in, out], b [out]), optional
        Weights in units of ``v_th``: g (``len(g_units)`` layers, the first ``[2*n + n, g0]``
        with rows [s1, s2, q]) and f (``len(f_units) + 1`` layers, the last to the readout).
        Default: random.
    sum_weight : float
        Weight of the one-to-one synapses into ``gsum`` in units of ``v_th``. With converted
        layers (:mod:`biolstm.convert.relu_mlp`) it is ``lambda_g / lambda_sum``: the scale of g's
        last layer over the calibrated scale of the sum, so that ``gsum`` fires at its own
        ``max_rate`` at ``lambda_sum``; f is then converted with ``input_scale=lambda_sum`` and
        ``input_rate`` = that ``max_rate``.

    Returns
    -------
    NetworkSpec
    """
    from brian2 import mV, ms, volt

    from biolstm.neurons import NO_LEAK_STEPS
    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout
    from biolstm.tasks.babi_network import encoder_network

    if n_sentences < 1:
        raise ValueError(f"n_sentences = {n_sentences} must be >= 1")
    pairs = relnet_pairs(n_sentences) if pairs is None else [tuple(map(int, p)) for p in pairs]
    for i, j in pairs:
        if not 0 <= i <= j < n_sentences:
            raise ValueError(f"pair ({i}, {j}) must satisfy 0 <= i <= j < n_sentences = {n_sentences}")
    g_units, f_units = [int(u) for u in g_units], [int(u) for u in f_units]
    if not g_units:
        raise ValueError("g needs at least one layer (g_units)")
    n_enc = n_regular + n_adaptive
    rng = np.random.default_rng(seed)
    given = g_weights is not None or f_weights is not None
    if g_weights is None:
        sizes = [3 * n_enc] + g_units
        g_weights = [(_gauss(rng, sizes[k], sizes[k + 1]), rng.normal(0, 0.05, sizes[k + 1]))
                     for k in range(len(g_units))]
    if f_weights is None:
        sizes = [g_units[-1]] + f_units + [n_answers]
        f_weights = [(_gauss(rng, sizes[k], sizes[k + 1]), rng.normal(0, 0.05, sizes[k + 1]))
                     for k in range(len(sizes) - 1)]
    _check_shapes("g_weights", g_weights, [3 * n_enc] + g_units)
    _check_shapes("f_weights", f_weights, [g_units[-1]] + f_units + [n_answers])
    vth = V_TH_MV * 1e-3

    pops: list = []
    projs: list = []
    inputs: list = []

    def add_encoder(prefix: str, enc) -> list[str]:
        """Copy an encoder spec under ``prefix``; returns its spiking population names in order."""
        inputs.append(InputGroup(f"{prefix}_words", n_words))
        names = []
        for p in enc.populations:
            pops.append(Population(f"{prefix}_{p.name}", p.size, p.model, dict(p.params)))
            names.append(f"{prefix}_{p.name}")
        for pr in enc.projections:
            pre = f"{prefix}_words" if pr.pre == "words" else f"{prefix}_{pr.pre}"
            projs.append(Projection(f"{prefix}_{pr.name}", pre, f"{prefix}_{pr.post}", pr.weights,
                                    weight_unit=volt))
        return names

    kw = dict(n_regular=n_regular, n_adaptive=n_adaptive, density=encoder_density)
    sentence_enc = encoder_network(n_words, seed=seed, role="sentence", **kw)
    question_enc = encoder_network(n_words, seed=seed + 1, role="question", **kw)
    enc_sizes = [p.size for p in sentence_enc.populations]
    used = sorted({i for p in pairs for i in p})
    sentence_pops = {i: add_encoder(f"s{i}", sentence_enc) for i in used}
    question_pops = add_encoder("q", question_enc)
    if bias:
        inputs.append(InputGroup("bias", 1))
    if mask:
        inputs.append(InputGroup("mask", n_sentences))

    # the converter's neurons: no leak (tau_m = NO_LEAK_STEPS steps), reset to 0, as biolstm.convert.relu_mlp builds them
    lif = {"tau_m": NO_LEAK_STEPS * ms, "v_th": V_TH_MV * mV, "v_reset": 0 * mV}
    # block offsets of the encoder populations inside a 200-wide sentence code
    offsets = np.cumsum([0] + enc_sizes)
    # relays: which population feeds instance p from encoder population X
    source_of: dict[tuple[str, int], str] = {}
    if relays is not None:
        n_s, n_q = (int(c) for c in relays)
        if n_s < 1 or n_q < 1:
            raise ValueError(f"relays = {relays}: copies per encoder must be >= 1")
        inputs.append(InputGroup("relay_gate", 1))
        relay = {"tau_m": 0.02 * ms, "v_th": V_TH_MV * mV, "v_reset": 0 * mV}
        groups = [(sentence_pops[i], [p for p, pr in enumerate(pairs) if i in pr], n_s) for i in used]
        groups.append((question_pops, list(range(len(pairs))), n_q))
        for names, instances, copies in groups:
            for name, size in zip(names, enc_sizes):
                for c, part in enumerate(np.array_split(np.asarray(instances, dtype=int), copies)):
                    rname = f"{name}_r{c}"
                    pops.append(Population(rname, size, "lif", relay))
                    projs.append(Projection(f"{name}_{rname}", name, rname, np.eye(size) * 2 * vth,
                                            weight_unit=volt, sign="excitatory"))
                    projs.append(Projection(f"relay_gate_{rname}", "relay_gate", rname,
                                            np.full((1, size), -4 * vth), weight_unit=volt,
                                            sign="inhibitory"))
                    for p in part:
                        source_of[(name, int(p))] = rname
    w0, b0 = g_weights[0]
    for p_index, (i, j) in enumerate(pairs):
        base = f"g_{i}_{j}"
        for k, units in enumerate(g_units):
            pops.append(Population(f"{base}_l{k}", units, "lif", lif))
        post0 = f"{base}_l0"
        # layer 0 from [s_i, s_j, q]; s_i == s_j on the diagonal: one synapse, summed weight
        blocks: dict[str, np.ndarray] = {}
        for slot, (src_pops, row0) in enumerate(((sentence_pops[i], 0), (sentence_pops[j], n_enc),
                                                  (question_pops, 2 * n_enc))):
            for b, enc_name in enumerate(src_pops):
                name = source_of.get((enc_name, p_index), enc_name)
                rows = w0[row0 + offsets[b]: row0 + offsets[b + 1]]
                blocks[name] = blocks[name] + rows if name in blocks else rows.copy()
        for name, w in blocks.items():
            projs.append(Projection(f"{name}_{post0}", name, post0, w * vth, weight_unit=volt))
        for k in range(1, len(g_units)):
            projs.append(Projection(f"{base}_l{k - 1}_l{k}", f"{base}_l{k - 1}", f"{base}_l{k}",
                                    g_weights[k][0] * vth, weight_unit=volt))
        if bias:
            for k in range(len(g_units)):
                projs.append(Projection(f"bias_{base}_l{k}", "bias", f"{base}_l{k}",
                                        g_weights[k][1][None, :] * vth, weight_unit=volt))
        if mask:
            w = np.zeros((n_sentences, g_units[0]))
            w[[i, j], :] = -4.0 * vth   # far below threshold: silences the instance
            projs.append(Projection(f"mask_{post0}", "mask", post0, w, weight_unit=volt,
                                    sign="inhibitory"))
    # translation layer: sum of the last g layer over instances (one-to-one)
    last = g_units[-1]
    pops.append(Population("gsum", last, "lif", lif))
    if not sum_weight > 0:
        raise ValueError(f"sum_weight = {sum_weight} must be > 0 (units of v_th)")
    eye = np.eye(last) * (sum_weight * vth)
    for i, j in pairs:
        projs.append(Projection(f"g_{i}_{j}_l{len(g_units) - 1}_gsum", f"g_{i}_{j}_l{len(g_units) - 1}",
                                "gsum", eye, weight_unit=volt, sign="excitatory"))
    names = ["gsum"] + [f"f{k + 1}" for k in range(len(f_units))] + ["answer"]
    for k, units in enumerate(f_units):
        pops.append(Population(names[k + 1], units, "lif", lif))
    pops.append(Population("answer", n_answers, "li", {"tau_m": lif["tau_m"]}))
    for k, (w, b) in enumerate(f_weights):
        projs.append(Projection(f"{names[k]}_{names[k + 1]}", names[k], names[k + 1], w * vth,
                                weight_unit=volt))
        if bias:
            projs.append(Projection(f"bias_{names[k + 1]}", "bias", names[k + 1], b[None, :] * vth,
                                    weight_unit=volt))
    meta = {
        "task": "babi", "model": "spiking RelNet (Rao et al. 2022), paper-size structure",
        "relnet": {"n_sentences": n_sentences, "pairs": [list(p) for p in pairs], "n_words": n_words,
                   "encoder": [n_regular, n_adaptive], "encoder_density": encoder_density,
                   "g_units": g_units, "f_units": f_units, "n_answers": n_answers,
                   "relays": None if relays is None else list(relays),
                   "weights": "given" if given else f"random (seed {seed})"},
    }
    return NetworkSpec(pops, projs, inputs, Readout("answer", "v", "last"), metadata=meta)


def _check_shapes(what: str, layers, sizes: list[int]) -> None:
    if len(layers) != len(sizes) - 1:
        raise ValueError(f"{what} has {len(layers)} layers, expected {len(sizes) - 1} (sizes {sizes})")
    for k, (w, b) in enumerate(layers):
        if np.shape(w) != (sizes[k], sizes[k + 1]) or np.shape(b) != (sizes[k + 1],):
            raise ValueError(f"{what}[{k}]: W {np.shape(w)}, b {np.shape(b)}; expected "
                             f"({sizes[k]}, {sizes[k + 1]}) and ({sizes[k + 1]},)")


def relnet_counts(n_sentences: int = 20, *, n_words: int = N_WORDS_PAPER, n_regular: int = 100,
                  n_adaptive: int = 100, encoder_density: float = 1.0,
                  g_units: Sequence[int] = (256, 256, 256, 256), f_units: Sequence[int] = (256,),
                  n_answers: int = N_ANSWERS_PAPER, pairs: Sequence[tuple[int, int]] | None = None,
                  mask: bool = True, bias: bool = True,
                  relays: tuple[int, int] | None = None) -> dict[str, int]:
    """Neurons, Loihi compartments and synapses of :func:`relnet_spec`, counted by formula.

    Dense layers have every synapse (random Gaussian weights are never 0); the encoders'
    recurrent blocks have no self-connections; with ``encoder_density < 1`` the encoder
    synapses are not counted (they are random).
    """
    pairs = relnet_pairs(n_sentences) if pairs is None else list(pairs)
    P = len(pairs)
    n_enc = n_regular + n_adaptive
    n_used = len({i for p in pairs for i in p})
    encoders = n_used + 1
    g_units, f_units = list(g_units), list(f_units)
    n_relay = 0 if relays is None else (n_used * relays[0] + relays[1]) * n_enc
    neurons = encoders * n_enc + n_relay + P * sum(g_units) + g_units[-1] + sum(f_units) + n_answers
    compartments = neurons + encoders * n_adaptive   # an AHP neuron is 2 compartments
    relay_pops = 0 if relays is None else 2 * (n_used * relays[0] + relays[1])
    out: dict[str, int] = {"populations": 2 * encoders + relay_pops + P * len(g_units) + 1 + len(f_units) + 1,
                           "neurons": neurons, "relay_neurons": n_relay,
                           "compartments_loihi1": compartments, "g_instances": P}
    diag = sum(1 for i, j in pairs if i == j)
    g0 = (P - diag) * 3 * n_enc * g_units[0] + diag * 2 * n_enc * g_units[0]
    g_rest = P * sum(g_units[k - 1] * g_units[k] for k in range(1, len(g_units)))
    sizes = [g_units[-1]] + f_units + [n_answers]
    f = sum(sizes[k] * sizes[k + 1] for k in range(len(sizes) - 1))
    synapses = {"g_layer0": g0, "g_layers_1_on": g_rest, "gsum": P * g_units[-1], "f": f}
    if bias:
        synapses["bias"] = P * sum(g_units) + sum(sizes[1:])
    if mask:
        synapses["mask"] = sum(g_units[0] * (1 if i == j else 2) for i, j in pairs)
    if relays is not None:
        synapses["relays"] = 2 * n_relay   # one from the encoder, one from the gate
    if encoder_density == 1.0:
        per_encoder = n_words * n_enc + n_enc * n_enc - n_enc
        synapses["encoders"] = encoders * per_encoder
    out.update({f"synapses_{k}": v for k, v in synapses.items()})
    out["synapses"] = sum(synapses.values())
    return out
