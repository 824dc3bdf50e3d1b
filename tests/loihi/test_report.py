"""loihi_summary: check + energy under both models + baseline comparison, in one dict."""

import pytest

from biolstm.examples import tiny_chain, tiny_chain_activity
from biolstm.loihi.report import DEFAULT_CPU_POWER_W, Baseline, loihi_summary, measure_lstm_baseline


def test_summary_with_user_baseline():
    spec = tiny_chain()  # the network whose energy sums tests/loihi/test_energy.py derives by hand
    act, inputs = tiny_chain_activity(spec)
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
    act, _ = tiny_chain_activity(tiny_chain())
    s = loihi_summary(tiny_chain(), act, chip="loihi2")
    assert s["energy"] == {} and s["fits"]
    assert any("no per-event energy" in n for n in s["notes"])


def test_baseline_validation_and_measurement():
    with pytest.raises(ValueError, match="seconds_per_inference"):
        Baseline.from_any({"power_W": 3})
    b = measure_lstm_baseline(4, 2, 20, hidden=8, repeats=2, counters=lambda: None)
    assert b.measured and b.seconds_per_inference > 0 and b.power_W == DEFAULT_CPU_POWER_W
    assert "this machine" in b.label
    assert not b.power_measured and "assumed" in b.power_source


def test_baseline_power_from_rapl_counters():
    """Energy counters read before and after the runs give the power (a wrapped counter too)."""
    readings = iter([{"pkg0": 1_000_000, "pkg1": 2 ** 32 - 500_000}, {"pkg0": 3_000_000, "pkg1": 1_500_000}])
    t0 = __import__("time").perf_counter()
    b = measure_lstm_baseline(4, 2, 20, hidden=8, repeats=2, counters=lambda: next(readings))
    elapsed = __import__("time").perf_counter() - t0
    # 2 J on pkg0 + 2 J on pkg1 (wrapped at 2**32 uJ) over the measured time
    assert b.power_measured and "RAPL" in b.power_source
    assert b.power_W >= 4.0 / elapsed
    assert b.energy_J == pytest.approx(b.power_W * b.seconds_per_inference)


def test_rapl_counters_where_absent(tmp_path):
    from biolstm.loihi.report import rapl_counters

    assert rapl_counters(str(tmp_path / "intel-rapl:*" / "energy_uj")) is None
    (tmp_path / "intel-rapl:0").mkdir()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("12345\n")
    assert rapl_counters(str(tmp_path / "intel-rapl:*" / "energy_uj")) == {
        str(tmp_path / "intel-rapl:0" / "energy_uj"): 12345}


def test_gpu_baseline_not_measured_without_gpu():
    from biolstm.loihi.report import measure_gpu_lstm_baseline

    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    b, why = measure_gpu_lstm_baseline(4, 2, 20)
    assert b is None and why.startswith("not measured")


def test_summary_range_over_models_and_calibrations():
    spec = tiny_chain()
    act, inputs = tiny_chain_activity(spec)
    s = loihi_summary(spec, act, inputs=inputs)
    labels = [e.label for e in s["estimates"]]
    assert labels == ["davies2018/smnist2021", "davies2018/relnet2021", "sanafe/smnist2021", "sanafe/relnet2021"]
    energies = [e.energy_per_inference_J for e in s["estimates"]]
    lat = [e.latency_per_inference_s for e in s["estimates"]]
    assert s["range"]["energy_per_inference_J"] == (min(energies), max(energies))
    assert s["range"]["latency_per_inference_s"] == (min(lat), max(lat))
    assert min(energies) < max(energies)
    assert s["energy"]["sanafe"].calibration == "smnist2021"
    assert "a range, not a measurement" in s["text"] and "[sanafe/relnet2021]" in s["text"]
