"""The spiking RelNet as one NetworkSpec (biolstm.tasks.relnet_spec): structure and placement.

The paper-size network (20 sentences, 74.6 M synapses) is placed by
``scripts/babi_placement.py`` (about a minute); here its counts are checked by formula and
small instances are built, counted and placed.
"""

from __future__ import annotations

import numpy as np
import pytest

from biolstm.loihi.check import check
from biolstm.tasks.relnet_spec import relnet_counts, relnet_pairs, relnet_spec

SMALL = dict(n_words=20, n_regular=10, n_adaptive=10, g_units=(32, 32), f_units=(16,), n_answers=10)


def test_pairs():
    assert relnet_pairs(2) == [(0, 0), (0, 1), (1, 1)]   # the authors' measured 2-sentence run
    assert len(relnet_pairs(20)) == 210


def test_paper_size_counts_by_hand():
    c = relnet_counts(20)
    # neurons: 21 encoders x 200 + 210 instances x 4 x 256 + gsum 256 + f 256 + readout 181
    assert c["neurons"] == 21 * 200 + 210 * 4 * 256 + 256 + 256 + 181 == 219_933
    assert c["compartments_loihi1"] == 219_933 + 21 * 100          # AHP neurons take 2
    assert c["populations"] == 42 + 840 + 3
    # g layer 0: 190 off-diagonal pairs read 600 inputs, the 20 pairs (i, i) 400 (s_i once)
    assert c["synapses_g_layer0"] == 190 * 600 * 256 + 20 * 400 * 256 == 31_232_000
    assert c["synapses_g_layers_1_on"] == 210 * 3 * 256 * 256 == 41_287_680
    assert c["synapses_gsum"] == 210 * 256
    assert c["synapses_f"] == 256 * 256 + 256 * 181
    # dense encoders: 180 x 200 input + 200 x 200 recurrent without the diagonal
    assert c["synapses_encoders"] == 21 * (180 * 200 + 200 * 199)
    assert c["synapses_mask"] == 20 * 256 + 190 * 512
    assert c["synapses_bias"] == 210 * 4 * 256 + 256 + 181
    with_relays = relnet_counts(20, relays=(4, 10))
    assert with_relays["relay_neurons"] == (20 * 4 + 10) * 200 == 18_000


def test_small_instance_structure_by_hand():
    spec = relnet_spec(3, **SMALL)
    names = {p.name: p for p in spec.populations}
    # 4 encoders of 10 + 10 (AHP), 6 instances x (32 + 32), gsum 32, f1 16, answer 10
    assert spec.n_neurons == 4 * 20 + 6 * 64 + 32 + 16 + 10 == 522
    assert names["s2_ada"].model == "ahp" and names["g_1_2_l1"].model == "lif"
    assert names["answer"].model == "li" and spec.readout.population == "answer"
    assert {g.name: g.size for g in spec.inputs} == {
        "s0_words": 20, "s1_words": 20, "s2_words": 20, "q_words": 20, "bias": 1, "mask": 3}
    g0 = 3 * 60 * 32 + 3 * 40 * 32            # off-diagonal 60 inputs, diagonal 40
    g1 = 6 * 32 * 32
    gsum = 6 * 32
    f = 32 * 16 + 16 * 10
    bias = 6 * 64 + 16 + 10
    mask = 3 * 32 + 3 * 2 * 32
    enc = 4 * (20 * 20 + 20 * 19)
    assert spec.n_synapses == g0 + g1 + gsum + f + bias + mask + enc == 20_426
    assert relnet_counts(3, **SMALL)["synapses"] == spec.n_synapses
    # every instance's layer 0 reads its own two sentences and the question, nothing else
    sources = sorted(p.pre for p in spec.projections if p.post == "g_0_2_l0")
    assert sources == ["bias", "mask", "q_ada", "q_reg", "s0_ada", "s0_reg", "s2_ada", "s2_reg"]
    assert sorted(p.pre for p in spec.projections if p.post == "gsum") == [
        f"g_{i}_{j}_l1" for i, j in relnet_pairs(3)]


def test_given_weights_and_the_diagonal_sum():
    n_enc = 20
    rng = np.random.default_rng(1)
    g = [(rng.normal(size=(3 * n_enc, 32)), rng.normal(size=32)), (rng.normal(size=(32, 32)), np.zeros(32))]
    f = [(rng.normal(size=(32, 16)), rng.normal(size=16)), (rng.normal(size=(16, 10)), rng.normal(size=10))]
    spec = relnet_spec(2, g_weights=g, f_weights=f, **SMALL)
    w0 = g[0][0]
    # instance (0, 0): s0 fills both sentence slots, so its weights are the sum of both blocks
    np.testing.assert_allclose(spec.projection("s0_reg_g_0_0_l0").dense(), (w0[0:10] + w0[20:30]) * 0.01)
    # instance (0, 1): s1 in the second slot (rows 20..39: reg 20..29, ada 30..39)
    np.testing.assert_allclose(spec.projection("s1_ada_g_0_1_l0").dense(), w0[30:40] * 0.01)
    np.testing.assert_allclose(spec.projection("q_reg_g_1_1_l0").dense(), w0[40:50] * 0.01)
    np.testing.assert_allclose(spec.projection("f1_answer").dense(), f[1][0] * 0.01)
    with pytest.raises(ValueError, match=r"g_weights\[0\]: W \(5, 32\)"):
        relnet_spec(2, g_weights=[(np.zeros((5, 32)), np.zeros(32)), g[1]], **SMALL)
    with pytest.raises(ValueError, match=r"pair \(1, 0\) must satisfy"):
        relnet_spec(2, pairs=[(1, 0)], **SMALL)


def test_relays_split_the_instances():
    spec = relnet_spec(3, relays=(2, 3), **SMALL)
    # question: 6 instances over 3 copies, 2 each; sentence 0 is in 3 instances, over 2 copies
    readers = {}
    for p in spec.projections:
        if p.post.endswith("_l0") and p.pre.startswith(("q_reg_r", "s0_reg_r")):
            readers.setdefault(p.pre, []).append(p.post)
    assert {k: len(v) for k, v in readers.items()} == {
        "q_reg_r0": 2, "q_reg_r1": 2, "q_reg_r2": 2, "s0_reg_r0": 2, "s0_reg_r1": 1}
    assert not any(p.pre in ("q_reg", "s0_reg") and p.post.startswith("g_") for p in spec.projections)
    relay = spec.projection("q_reg_q_reg_r1").dense()
    np.testing.assert_allclose(relay, np.eye(10) * 0.02)        # every spike repeated (2 v_th)
    assert relnet_counts(3, relays=(2, 3), **SMALL)["synapses"] == spec.n_synapses


def test_small_instances_place_on_loihi():
    report = check(relnet_spec(3, **SMALL), chip="loihi1")
    assert report.ok, report.to_text()
    assert report.placement.n_chips == 1
    with_relays = check(relnet_spec(3, relays=(2, 3), **SMALL), chip="loihi1")
    assert with_relays.ok, with_relays.to_text()


def test_two_sentence_run_places_on_one_chip():
    """The authors' measured configuration (2 sentences, pairs (0,0),(0,1),(1,1)) at paper widths."""
    report = check(relnet_spec(2), chip="loihi1")
    assert report.ok, report.to_text()
    assert report.placement.n_chips == 1
    assert 20 <= report.placement.n_cores <= 128


def test_sum_weight():
    spec = relnet_spec(2, sum_weight=0.25, **SMALL)
    np.testing.assert_allclose(spec.projection("g_0_1_l1_gsum").dense(), np.eye(32) * 0.0025)
    with pytest.raises(ValueError, match="sum_weight"):
        relnet_spec(2, sum_weight=0, **SMALL)
