"""loihi_summary: check + energy under both models + baseline comparison, in one dict."""

import pytest

from biolstm.loihi.report import DEFAULT_CPU_POWER_W, Baseline, loihi_summary, measure_lstm_baseline
from test_loihi_energy import activity, tiny, tiny_spec


def test_summary_with_user_baseline():
    act, inputs = activity(tiny())
    spec = tiny_spec()
    s = loihi_summary(spec, act, baseline={"seconds_per_inference": 0.01, "power_W": 20.0, "label": "laptop"},
                      inputs=inputs)
    assert s["fits"] and s["status"] == 0 and s["cores"] == 1 and s["chips"] == 1
    assert set(s["energy"]) == {"davies2018", "sanafe"}
    table = s["comparison"]
    assert list(table["model"]) == ["davies2018", "sanafe", "measured time x 20 W"]
    base = s["baseline"]
    assert base.energy_J == pytest.approx(0.2) and base.edp_Js == pytest.approx(0.002)
    for _, row in table.iloc[:2].iterrows():
        assert row["energy_ratio_baseline_over_loihi"] == pytest.approx(0.2 / row["energy_per_inference_J"])
        assert row["edp_ratio_baseline_over_loihi"] == pytest.approx(0.002 / row["edp_Js"])
    assert set(s["energy_table"]["model"]) == {"davies2018", "sanafe"}
    assert "[davies2018]" in s["text"] and "[sanafe]" in s["text"] and "laptop" in s["text"]


def test_summary_on_loihi2_has_no_energy_but_says_why():
    act, _ = activity(tiny())
    s = loihi_summary(tiny_spec(), act, chip="loihi2")
    assert s["energy"] == {} and s["fits"]
    assert any("no per-event energy" in n for n in s["notes"])


def test_baseline_validation_and_measurement():
    with pytest.raises(ValueError, match="seconds_per_inference"):
        Baseline.from_any({"power_W": 3})
    b = measure_lstm_baseline(4, 2, 20, hidden=8, repeats=2)
    assert b.measured and b.seconds_per_inference > 0 and b.power_W == DEFAULT_CPU_POWER_W
    assert "this machine" in b.label
