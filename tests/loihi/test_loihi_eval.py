"""Quantization-aware evaluation: float vs Loihi mode on the same samples."""

from __future__ import annotations

import numpy as np
import pytest

from biolstm.brian import simulate
from biolstm.loihi.emulate import simulate_loihi, simulate_quantized
from biolstm.examples import example_lif_pair
from biolstm.loihi.compare import compare_quantization


def test_comparison_numbers_match_independent_runs(tmp_path):
    spec, qnet, inputs, labels = example_lif_pair(seed=1, n_samples=10, n_steps=120, weight_step=16)
    cmp = compare_quantization(spec, inputs, labels, qnet=qnet, progress=False)
    float_alone = simulate(spec, inputs, "numpy", progress=False)
    loihi_alone = simulate_quantized(qnet, inputs, "numpy", progress=False)
    np.testing.assert_array_equal(cmp.float_predictions, float_alone.predictions())
    np.testing.assert_array_equal(cmp.loihi_predictions, loihi_alone.predictions())
    changed = float_alone.predictions() != loihi_alone.predictions()
    assert cmp.fraction_changed == pytest.approx(changed.mean())
    assert cmp.accuracy("loihi") == pytest.approx(np.mean(loihi_alone.predictions() == labels))
    table = cmp.table().set_index("metric")
    assert table.loc["hid: spikes per neuron per step", "loihi"] == pytest.approx(loihi_alone.rate_per_step("hid"))
    assert table.loc["hid: spikes per neuron per step", "float"] == pytest.approx(float_alone.rate_per_step("hid"))
    # the two networks are close (same neurons, 4-bit weights): rates within 10 %, counts correlated
    rates = cmp.rates().iloc[0]
    assert abs(rates.relative_change) < 0.1 and rates.per_neuron_count_correlation > 0.9
    # Loihi readout converted back to volts lies near the float readout
    assert np.corrcoef(cmp.loihi_readout_volts().ravel(), float_alone.readout_values().ravel())[0, 1] > 0.9
    fig = cmp.plot(tmp_path / "cmp.png")
    assert (tmp_path / "cmp.png").stat().st_size > 10_000 and len(fig.axes) == 4
    with pytest.raises(FileExistsError):
        cmp.plot(tmp_path / "cmp.png")


def test_finer_weights_change_fewer_neurons():
    """8-bit rounding leaves spiking nearly untouched; a 2-bit grid moves it much more."""
    corr = {}
    for step in (1, 64):
        spec, qnet, inputs, labels = example_lif_pair(seed=2, n_samples=6, n_steps=150, weight_step=step)
        corr[step] = compare_quantization(spec, inputs, labels, qnet=qnet, progress=False).rates().iloc[0]
    assert corr[1].per_neuron_count_correlation > 0.99
    assert abs(corr[1].relative_change) < 0.02
    assert corr[64].per_neuron_count_correlation < corr[1].per_neuron_count_correlation


def test_simulate_loihi_accepts_a_quantized_network_and_rejects_settings_for_it():
    spec, qnet, inputs, _ = example_lif_pair(seed=3, n_samples=2, n_steps=30)
    act = simulate_loihi(qnet, inputs, "numpy", progress=False)
    assert act.metadata["quantized_network"] is qnet and act.metadata["units"] == "loihi"
    with pytest.raises(TypeError, match="already quantized"):
        simulate_loihi(qnet, inputs, "numpy", progress=False, weight_bits=4)


def test_compare_quantizes_with_the_mapper_when_no_qnet_is_given():
    pytest.importorskip("biolstm.loihi.quantize")
    spec, _, inputs, labels = example_lif_pair(seed=4, n_samples=8, n_steps=120)
    cmp = compare_quantization(spec, inputs, labels, progress=False, weight_rounding="nearest_even")
    hid = cmp.qnet.population("hid")
    assert (hid.decay_v, hid.decay_u, hid.vth_mant) == (204, 4096, 127)   # from the spec's scale hint
    assert cmp.info["quantize_settings"] == {"weight_rounding": "nearest_even"}
    rates = cmp.rates().iloc[0]
    assert abs(rates.relative_change) < 0.05 and rates.per_neuron_count_correlation > 0.98
    assert cmp.fraction_changed <= 0.25
