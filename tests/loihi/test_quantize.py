"""Loihi fixed-point quantization: each expected number is derived by hand in the test."""

import math

import numpy as np
import pytest
from brian2 import Mohm, mV, ms, pA, second, volt

from biolstm.loihi.quantize import decay_from_retained, quantize
from biolstm.loihi.settings import SettingsError
from biolstm.loihi.violations import LoihiLimitError
from biolstm.neurons import get_model
from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

VTH = 10 * mV
TAU_M = -1 / math.log(1 - 204 / 4096) * ms      # the chip's effective 19.57 steps
TAU_A = -1 / math.log(1 - 5 / 4096) * ms        # 819 steps


def paper_delta_i():
    """delta_I_ahp whose per-step AHP input is 384/32512 of v_th (the importer's rule)."""
    params = get_model("ahp").make_params({"tau_m": TAU_M, "tau_ahp": TAU_A, "delta_I_ahp": 1 * pA})
    disc = get_model("ahp").discrete(params, 1 * ms)
    per_amp = disc.transition[0, 1]  # v <- I_ahp, volt per amp
    return 384 / 32512 * float(VTH) / (-per_amp)


def paper_spec(seed=0):
    """140 LIF + 100 AHP + 10 li with integer weights w_int/127*v_th (docs/sources.md P1)."""
    rng = np.random.default_rng(seed)

    def ints(n, m):
        w = rng.integers(-254, 256, size=(n, m))
        w[rng.random((n, m)) > 0.2] = 0
        return w

    w_in, w_rec, w_out = ints(80, 240), ints(240, 240), ints(240, 10)
    np.fill_diagonal(w_rec, 0)
    w_in[0, 0] = w_in[1, 140] = 255   # the largest mantissa into both populations
    w_rec[5, 239] = -254
    as_volt = lambda w: w / 127 * float(VTH)  # noqa: E731
    blocks = {
        "in_reg": ("inp", "reg", w_in[:, :140]), "in_ada": ("inp", "ada", w_in[:, 140:]),
        "rr": ("reg", "reg", w_rec[:140, :140]), "ra": ("reg", "ada", w_rec[:140, 140:]),
        "ar": ("ada", "reg", w_rec[140:, :140]), "aa": ("ada", "ada", w_rec[140:, 140:]),
        "ro": ("reg", "out", w_out[:140]), "ao": ("ada", "out", w_out[140:]),
    }
    spec = NetworkSpec(
        populations=[
            Population("reg", 140, "lif", {"tau_m": TAU_M}),
            Population("ada", 100, "ahp", {"tau_m": TAU_M, "tau_ahp": TAU_A,
                                           "delta_I_ahp": paper_delta_i() * 1e12 * pA}),
            Population("out", 10, "li", {"tau_m": TAU_M}),
        ],
        inputs=[InputGroup("inp", 80)],
        projections=[Projection(k, a, b, as_volt(w), weight_unit=volt) for k, (a, b, w) in blocks.items()],
        readout=Readout("out"),
        metadata={"loihi": {"volt_per_unit": {"reg": 0.01 / 8128, "ada": 0.01 / 32512, "out": 0.01 / 8128}}},
    )
    return spec, {k: w for k, (_, _, w) in blocks.items()}


def test_paper_network_gives_back_the_papers_integers():
    spec, ints = paper_spec()
    q = quantize(spec)
    reg, ada, out = q.population("reg"), q.population("ada"), q.population("out")
    assert (reg.decay_v, ada.decay_v, out.decay_v) == (204, 204, 204)
    assert (reg.decay_u, ada.decay_u) == (4096, 4096)
    assert (reg.vth_mant, ada.vth_mant) == (127, 508)
    assert ada.aux_decay_v == 5
    assert ada.aux_weight == -384                     # 96 * 2**(6-4) in the paper's form
    assert reg.refractory_delay == ada.refractory_delay == 1
    assert ada.compartments_per_neuron == 2 and reg.compartments_per_neuron == 1
    assert not out.spiking
    for proj in q.projections:
        expected = ints[proj.name][proj.pre_index, proj.post_index]
        np.testing.assert_array_equal(proj.weight_mant, expected)
        # regular/output targets: w*64 (exponent 0); adaptive targets: w*256 (exponent 2)
        assert proj.weight_exp == (2 if proj.post == "ada" else 0)
        assert proj.sign_mode == "split"
        assert proj.error["n_rounded_to_zero"] == 0
        assert proj.error["max_abs_volt"] < 1e-15


def test_decay_conventions_for_tau_20_steps():
    alpha = math.exp(-1 / 20)
    # docs/sources.md L2a: tau = 20 steps gives 200 (nengo-loihi) and 204 (NxSDK int(4096/20))
    assert decay_from_retained(alpha, "nengo") == round(4095 * (1 - alpha)) == 200
    assert decay_from_retained(alpha, "nxsdk") == int(4096 / 20) == 204
    assert decay_from_retained(alpha, "exact") == 200  # 4096*0.04877 = 199.8


def lif_net(weights_units, vpu, **pop):
    """One input group -> one LIF population with weights given in Loihi units."""
    w = np.asarray(weights_units, dtype=float)[None, :] * vpu
    return NetworkSpec(
        populations=[Population("p", w.shape[1], "lif", pop)],
        inputs=[InputGroup("x", 1)],
        projections=[Projection("w", "x", "p", w, weight_unit=volt)],
        metadata={"loihi": {"volt_per_unit": {"p": vpu}}},
    )


@pytest.mark.parametrize("rounding, m93, m3", [
    # mixed 8-bit format: grid 2, so a mantissa is 2*R(units/64/2) with R the rounding:
    # -93/2 = -46.5 and 3/2 = 1.5 (docs/sources.md L2b: Lava gives -94, brian2_loihi -92)
    ("nearest_even", -92, 4),   # ties to even: -46, 2
    ("trunc", -92, 2),          # toward zero: -46, 1
    ("floor", -94, 2),          # toward -inf: -47, 1
])
def test_weight_rounding_conventions_mixed_format(rounding, m93, m3):
    vpu = 2.0 ** -20  # a power of two keeps units exact, so the ties really are ties
    spec = lif_net(np.array([254, -93, 3]) * 64, vpu)
    q = quantize(spec, sign_mode="mixed", weight_rounding=rounding)
    proj = q.projection("w")
    assert proj.sign_mode == "mixed" and proj.weight_exp == 0
    got = dict(zip(proj.post_index.tolist(), proj.weight_mant.tolist()))
    assert got == {0: 254, 1: m93, 2: m3}


def test_split_sign_mode_keeps_full_8_bit_magnitude():
    vpu = float(VTH) / (127 * 64)
    q = quantize(lif_net(np.array([255, -255, -93]) * 64, vpu))
    proj = q.projection("w")
    assert proj.sign_mode == "split" and proj.n_formats == 2
    assert proj.weight_mant.tolist() == [255, -255, -93]


def test_single_sign_projection_format_and_fewer_bits():
    vpu = float(VTH) / (127 * 64)
    q = quantize(lif_net(np.array([255, 100, 7]) * 64, vpu), weight_bits=4)
    proj = q.projection("w")
    # 4 bits excitatory: grid 2**(8-4) = 16, largest mantissa 256-16 = 240 -> 255 needs exponent 1
    assert proj.sign_mode == "excitatory"
    assert proj.weight_exp == 1
    # units / 2**(6+1) = [127.5, 50, 3.5] -> /16 = [7.97, 3.125, 0.22] -> [8, 3, 0] * 16
    assert proj.weight_mant.tolist() == [128, 48]
    assert proj.error["n_rounded_to_zero"] == 1
    assert any(v.severity == "warning" and "rounded to zero" in v.rule for v in q.violations)


def test_weight_too_large_for_the_voltage_scale_is_a_violation_not_a_clip():
    vpu = float(VTH) / (127 * 64)
    too_big = 255 * 2 ** 13 + 2 ** 12 + 1  # beyond mantissa 255 at exponent 7
    spec = lif_net([too_big, 64], vpu)
    with pytest.raises(LoihiLimitError, match="weight range"):
        quantize(spec)
    q = quantize(spec, strict=False)
    [v] = [v for v in q.violations if v.severity == "violation"]
    assert v.object == "projection 'w'" and "1 weights" in str(v.value)
    assert q.projection("w").weight_exp == 7 and q.projection("w").weight_mant.max() == 255


def test_long_time_constant_below_12_bit_resolution():
    spec = NetworkSpec(populations=[Population("a", 4, "ahp", {"tau_ahp": 10 * second})])
    with pytest.raises(LoihiLimitError) as err:
        quantize(spec)
    # round(4095*(1 - exp(-1/10000))) = round(0.41) = 0: no decay, although tau is finite
    assert "tau_ahp = 10 s needs a decay below the 12-bit resolution at dt = 1 ms" in str(err.value)
    ok = quantize(NetworkSpec(populations=[Population("a", 4, "ahp", {"tau_ahp": 8 * second})]))
    assert ok.population("a").aux_decay_v == 1  # round(4095*(1-exp(-1/8000))) = round(0.512) = 1


def test_refractory_limit_63_or_64():
    spec = NetworkSpec(populations=[Population("p", 3, "lif", {"t_ref": 64 * ms})])
    with pytest.raises(LoihiLimitError, match="refractory"):
        quantize(spec)
    assert quantize(spec, refractory_max="brian2_loihi").population("p").refractory_delay == 64
    ok = NetworkSpec(populations=[Population("p", 3, "lif", {"t_ref": 63 * ms})])
    assert quantize(ok).population("p").refractory_delay == 63
    assert quantize(NetworkSpec(populations=[Population("p", 3, "lif")])).population("p").refractory_delay == 1


def test_threshold_mantissa_limit():
    # v_th = 10 mV at 10 mV/(131072*64) per unit is mantissa 131072 > 2**17 - 1
    spec = NetworkSpec(populations=[Population("p", 3, "lif")],
                       metadata={"loihi": {"volt_per_unit": {"p": 0.01 / (131072 * 64)}}})
    with pytest.raises(LoihiLimitError, match="threshold mantissa"):
        quantize(spec)
    ok = quantize(spec, volt_per_unit={"p": 0.01 / (131071 * 64)})
    assert ok.population("p").vth_mant == 131071


def test_automatic_scale_puts_largest_weight_at_mantissa_255():
    w = np.array([[20.0, -5.0, 1.0]]) * mV  # largest = 2 * v_th
    spec = NetworkSpec(populations=[Population("p", 3, "lif")], inputs=[InputGroup("x", 1)],
                       projections=[Projection("w", "x", "p", w)])
    q = quantize(spec)
    pop = q.population("p")
    assert pop.vth_mant == 127                    # floor(255 * 10 / 20)
    assert q.projection("w").weight_exp == 0
    # 20 mV / (10 mV / 8128) = 16256 units = 254 * 64: mantissa 254
    assert q.projection("w").weight_mant.tolist() == [254, -64, 13]  # -5 mV = -4064 -> -63.5 -> -64; 1 mV -> 12.7 -> 13
    assert "automatic" in pop.error["volt_per_unit_rule"]


def test_resting_potential_off_reset_becomes_a_bias():
    params = {"v_rest": -49 * mV, "v_reset": -60 * mV, "v_th": -50 * mV}
    spec = NetworkSpec(populations=[Population("p", 2, "lif", params)],
                       metadata={"loihi": {"volt_per_unit": {"p": 0.01 / 8128}}})
    pop = quantize(spec).population("p")
    alpha = math.exp(-1 / 20)
    # shifted membrane v' = v - v_reset: threshold 10 mV, drive (1-alpha)*11 mV per step
    assert pop.vth_mant == 127
    expected_units = (1 - alpha) * 0.011 / (0.01 / 8128)  # 436.1
    assert pop.bias == round(expected_units) == 436
    assert pop.v_offset_volt == pytest.approx(-0.060)
    assert pop.v_init == round(0.011 / (0.01 / 8128))  # starts at v_rest


def test_alif_is_mapped_onto_the_matched_ahp_form():
    alif = NetworkSpec(populations=[Population("a", 5, "alif", {"tau_a": 700 * ms, "delta_theta": 2.4 * mV})],
                       metadata={"loihi": {"volt_per_unit": {"a": 0.01 / 32512}}})
    # the matched AHP neuron: tau_ahp = tau_a, delta_I_ahp = delta_theta / R_m = 2.4 mV / 100 MOhm = 24 pA
    ahp = NetworkSpec(populations=[Population("a", 5, "ahp", {"tau_ahp": 700 * ms, "delta_I_ahp": 24 * pA,
                                                              "R_m": 100 * Mohm})],
                      metadata={"loihi": {"volt_per_unit": {"a": 0.01 / 32512}}})
    qa, qh = quantize(alif).population("a"), quantize(ahp).population("a")
    assert qa.model == "ahp" and qa.source_model == "alif"
    assert qa.aux_decay_v == qh.aux_decay_v == round(4095 * (1 - math.exp(-1 / 700))) == 6
    assert (qa.aux_weight_mant, qa.aux_weight_exp) == (qh.aux_weight_mant, qh.aux_weight_exp)
    assert any("AHP form" in n for n in qa.notes)
    q = quantize(alif, alif="reject", strict=False)
    assert [v.severity for v in q.violations] == ["unrecognised"]
    assert [p.source_model for p in q.populations] == ["unrecognised"]  # placeholder for placement
    with pytest.raises(LoihiLimitError, match="no Loihi 1 hardware form"):
        quantize(alif, alif="reject")


def test_delay_limit():
    w = np.ones((1, 2)) * mV
    spec = NetworkSpec(populations=[Population("p", 2, "lif")], inputs=[InputGroup("x", 1)],
                       projections=[Projection("w", "x", "p", w, delay=63 * ms)])
    with pytest.raises(LoihiLimitError, match="delay"):
        quantize(spec)
    spec.projections[0].delay = np.asarray(62e-3)
    assert quantize(spec).projection("w").max_delay == 62


def test_settings_are_validated():
    spec = NetworkSpec(populations=[Population("p", 2, "lif")])
    with pytest.raises(SettingsError, match="weight_rounding"):
        quantize(spec, weight_rounding="stochastic")
    with pytest.raises(SettingsError, match="7 is not representable"):
        quantize(spec, weight_bits=7)
    with pytest.raises(SettingsError, match="unknown Loihi setting"):
        quantize(spec, rounding="floor")


def test_sparse_weights_and_conventions_recorded():
    import scipy.sparse

    w = scipy.sparse.random(50, 40, density=0.1, random_state=1, format="csr") * 5
    spec = NetworkSpec(populations=[Population("p", 40, "lif")], inputs=[InputGroup("x", 50)],
                       projections=[Projection("w", "x", "p", w, weight_unit=mV)])
    q = quantize(spec)
    proj = q.projection("w")
    coo = spec.projections[0].weights.tocoo()
    order = np.lexsort((coo.col, coo.row))
    np.testing.assert_array_equal(proj.pre_index, coo.row[order])
    np.testing.assert_array_equal(proj.post_index, coo.col[order])
    pop = q.population("p")
    back = proj.effective_weights * pop.volt_per_unit
    assert np.max(np.abs(back - coo.data[order])) <= proj.error["max_abs_volt"] + 1e-18
    assert proj.error["max_abs_volt"] <= 0.5 * 2 ** (6 + proj.weight_exp) * pop.volt_per_unit
    assert "nengo-loihi" in q.conventions["weight_rounding"]
    assert q.settings["tau_to_decay"] == "nengo"


def test_aux_voltage_in_the_truncation_regime_is_reported():
    """Loihi truncates v*(4096-d)/4096 toward zero, so an aux voltage below 4096/d units loses
    one unit per step: a jump of J < 4096/d units is gone after J steps instead of decaying
    with tau = 4096/d steps. The quantizer must say so, and a finer scale must clear it."""
    from biolstm.tasks import smnist

    spec = smnist.smnist_network(10, 10, "ahp", density=0.5, seed=0)
    vth = 0.01  # the sMNIST network's v_th in volt (paper defaults)
    coarse = quantize(spec, volt_per_unit={"reg": vth / (127 * 64), "ada": vth / (127 * 64)})
    ada = coarse.population("ada")
    jump = ada.aux_weight_mant * 2 ** (6 + ada.aux_weight_exp)
    assert 0 < jump < 4096 / ada.aux_decay_v
    rules = [v.rule for v in coarse.violations if "ada" in v.object]
    assert "AHP aux voltage in the truncation regime" in rules
    fine = quantize(spec, volt_per_unit={"reg": vth / (8128 * 64), "ada": vth / (8128 * 64)})
    ada = fine.population("ada")
    assert ada.aux_weight_mant * 2 ** (6 + ada.aux_weight_exp) >= 4096 / ada.aux_decay_v
    assert "AHP aux voltage in the truncation regime" not in [v.rule for v in fine.violations]


def test_automatic_scale_of_ahp_populations_is_finer_by_ahp_threshold_scale():
    """Rao et al. give the AHP neurons a 4x finer voltage scale (thrAdaScale = 4: threshold
    508 instead of 127, weight exponent +2); the automatic rule does the same by default,
    the weights keep their mantissas and the aux jump grows 4x."""
    from biolstm.tasks import smnist

    spec = smnist.smnist_network(10, 10, "ahp", density=0.5, seed=0)
    assert "loihi" not in spec.metadata                       # the automatic rule applies
    lif_rule = quantize(spec, ahp_threshold_scale=1)
    paper = quantize(spec)
    fine = quantize(spec, ahp_threshold_scale=16)
    reg = [q.population("reg").vth_mant for q in (lif_rule, paper, fine)]
    assert reg[0] == reg[1] == reg[2]                      # LIF populations are not affected
    ada = [q.population("ada") for q in (lif_rule, paper, fine)]
    assert ada[1].vth_mant == 4 * ada[0].vth_mant and ada[2].vth_mant == 16 * ada[0].vth_mant
    jumps = [a.aux_weight_mant * 2 ** (6 + a.aux_weight_exp) for a in ada]
    assert jumps[1] == pytest.approx(4 * jumps[0], rel=0.01)
    assert jumps[2] == pytest.approx(16 * jumps[0], rel=0.01)
    assert "ahp_threshold_scale" in ada[1].error["volt_per_unit_rule"]
    for name in [p.name for p in spec.projections if p.post == "ada"]:
        a, b = lif_rule.projection(name), paper.projection(name)
        assert b.weight_exp == a.weight_exp + 2
        assert np.array_equal(a.weight_mant, b.weight_mant)
    with pytest.raises(SettingsError, match="ahp_threshold_scale=3"):
        quantize(spec, ahp_threshold_scale=3)
