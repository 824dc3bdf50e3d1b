"""Energy and latency model: per-event sums written out by hand for a tiny network."""

import numpy as np
import pytest

from biolstm.examples import tiny_chain, tiny_chain_activity
from biolstm.loihi.check import check
from biolstm.loihi.energy import estimate

pJ, ns = 1e-12, 1e-9


def tiny_spec(filler=0):
    """x (2 inputs) -> a (2 LIF) -> b (2 LIF) (:func:`biolstm.examples.tiny_chain`).

    x0 -> a0; x1 -> a0, a1; a0 -> b0, b1; a1 -> b1.
    """
    return tiny_chain(filler)


def tiny(filler=0, **kw):
    """check() of :func:`tiny_spec`."""
    return check(tiny_spec(filler), **kw)


def activity(report):
    """One sample of 3 steps: a0 fires at step 0, a1 at step 1, b1 at step 2; x1 at step 0."""
    return tiny_chain_activity(report.qnet)


def test_davies2018_per_event_sums_by_hand():
    r = tiny()
    assert r.placement.n_cores == 1
    act, inputs = activity(r)
    # the neurocores alone (no calibration), static per powered chip: the per-event model as before
    e = estimate(r, act, "davies2018", inputs=inputs, calibration=None, static="chip")
    parts = e.neurocore_dynamic_parts_J
    # 4 compartments x 3 steps, all counted active (upper bound): 81 pJ each
    assert parts["neuron_updates"] == pytest.approx(81 * 12 * pJ)
    # synaptic ops: a0 -> 2, a1 -> 1, b1 -> 0, x1 -> 2 (a0, a1): 5 x 23.6 pJ
    assert e.counts["synaptic_ops"] == 5
    assert parts["synaptic_ops"] == pytest.approx(5 * 23.6 * pJ)
    # messages: a0 and a1 each reach one core (b1 has no targets): 2 x 1.7 pJ; no hops on one core
    assert parts["messages"] == pytest.approx(2 * 1.7 * pJ)
    assert parts["hops"] == 0
    # latency per step: max over cores (8.4*4 + 3.5*synops) + route 2.1 if a routed spike
    # + 2.1 per injected spike + barrier 113 ns (1 tile)
    step0 = 8.4 * 4 + 3.5 * 4 + 2.1 + 2.1 + 113   # a0 (2 synops) and x1 (2 synops)
    step1 = 8.4 * 4 + 3.5 * 1 + 2.1 + 113
    step2 = 8.4 * 4 + 113                         # b1 fires but sends nothing
    latency = (step0 + step1 + step2) * ns
    assert e.latency_per_inference_s == pytest.approx(latency)
    # input injection on the mesh: 1 message (1.7 pJ); no x86 without a calibration
    assert parts["input_messages"] == pytest.approx(1.7 * pJ)
    assert e.components_J["x86_dynamic"] == 0 and e.components_J["x86_static"] == 0
    # static: 104 mW for one chip over the latency
    assert e.components_J["neurocore_static"] == pytest.approx(0.104 * latency)
    dynamic = 81 * 12 * pJ + 5 * 23.6 * pJ + 2 * 1.7 * pJ + 1.7 * pJ
    assert e.components_J["neurocore_dynamic"] == pytest.approx(dynamic)
    total = dynamic + 0.104 * latency
    assert e.energy_per_inference_J == pytest.approx(total)
    assert e.edp_Js == pytest.approx(total * latency)
    table = e.table()
    assert set(table["model"]) == {"davies2018"}
    assert "davies2018" in e.to_text()


def test_sanafe_per_event_sums_by_hand():
    r = tiny()
    act, inputs = activity(r)
    e = estimate(r, act, "sanafe", inputs=inputs, calibration=None)
    parts = e.neurocore_dynamic_parts_J
    # 51.2 pJ per mapped compartment and step, 21.6 per update (all), 69.3 per spike (3 spikes)
    assert parts["neuron_updates"] == pytest.approx((51.2 + 21.6) * 12 * pJ)
    assert parts["spikes_out"] == pytest.approx(69.3 * 3 * pJ)
    assert parts["messages"] == pytest.approx(111 * 2 * pJ)
    assert parts["synaptic_ops"] == pytest.approx(33.6 * 5 * pJ)
    # step time: max(neuron side, message side) + 5.1 ns per injected spike + sync 600 ns (1 tile)
    # neuron side: 6.0*4 + 3.7*4 + 30*fired + 5.1*messages sent; message side: 16*received + 4.7*synops
    step0 = max(24 + 14.8 + 30 + 5.1, 16 * 2 + 4.7 * 4) + 5.1 + 600
    step1 = max(24 + 14.8 + 30 + 5.1, 16 * 1 + 4.7 * 1) + 600
    step2 = max(24 + 14.8 + 30, 0) + 600
    assert e.latency_per_inference_s == pytest.approx((step0 + step1 + step2) * ns)
    assert parts["input_messages"] == pytest.approx(111 * pJ)


def test_hops_between_tiles():
    # a on core 0 (tile 0), a filler on cores 1-4, b on core 5 = tile 1 = mesh (x 0, y 1):
    # each message from a to b crosses 1 north-south hop
    r = tiny(filler=4 * 1024, pack=False)
    assert r.placement.where("b", 0) == (5, 0)
    act, inputs = activity(r)
    e = estimate(r, act, "davies2018", inputs=inputs)
    assert e.counts["hops_ns"] == 2 and e.counts["hops_ew"] == 0
    assert e.neurocore_dynamic_parts_J["hops"] == pytest.approx(2 * 4.0 * pJ)
    assert estimate(r, act, "sanafe", inputs=inputs).neurocore_dynamic_parts_J["hops"] == pytest.approx(2 * 4.2 * pJ)
    # 4100 compartments on 6 cores in 2 tiles: barrier 113 + (465-113)*(2-1)/31 ns
    assert any("2 tile(s)" in a for a in e.assumptions)


def test_active_input_lower_bound_and_mean_fanout_without_channels():
    r = tiny()
    act, inputs = activity(r)
    low = estimate(r, act, "davies2018", active="input", inputs=inputs)
    # receivers are counted in the step the spike is sent (when its synaptic operations run):
    # step 0: a0, a1 (from x1), b0, b1 (from a0), a0 fired -> {a0, a1, b0, b1} = 4
    # step 1: b1 (from a1), a1 fired -> 2;  step 2: b1 fired -> 1;  total 7 of 12
    assert low.counts["active_compartment_steps"] == 7
    assert low.neurocore_dynamic_parts_J["neuron_updates"] == pytest.approx((81 * 7 + 52 * 5) * pJ)
    # without channel identities an input spike is charged the mean fan-out: (1 + 2)/2 = 1.5 synops
    mean = estimate(r, act, "davies2018")
    assert mean.counts["synaptic_ops"] == pytest.approx(3 + 1.5)
    assert any("mean fan-out" in a for a in mean.assumptions)


def test_loihi2_has_no_published_energy_model():
    r = tiny(chip="loihi2")
    act, _ = activity(r)
    from biolstm.loihi.chips import ChipError

    with pytest.raises(ChipError, match="no energy model"):
        estimate(r, act, "davies2018")


def test_calibrated_components_by_hand():
    """The four NxSDK components and the step time with the sMNIST-fitted figures, by hand."""
    from biolstm.loihi.chips import load_chip

    r = tiny()
    act, inputs = activity(r)
    e = estimate(r, act, "davies2018", inputs=inputs)            # defaults: static per core, smnist2021
    assert e.calibration == "smnist2021" and e.cores == 1 and e.chips == 1
    # x86 time per step: fitted (16.649 us measured minus the model's sMNIST neurocore time)
    x86_step = load_chip("loihi1").values["calibrations"]["smnist2021"]["x86_step_s"]["value"]["davies2018"]
    assert 5e-6 < x86_step < 16.649e-6
    step0 = 8.4 * 4 + 3.5 * 4 + 2.1 + 2.1 + 113
    step1 = 8.4 * 4 + 3.5 * 1 + 2.1 + 113
    step2 = 8.4 * 4 + 113
    latency = (step0 + step1 + step2) * ns + 3 * x86_step
    assert e.latency_per_inference_s == pytest.approx(latency)
    assert e.latency_parts_s["x86"] == pytest.approx(3 * x86_step)
    assert e.latency_parts_s["sync"] == pytest.approx(3 * 113 * ns)
    # Rao et al.'s sMNIST run (1 core, 1 chip): core static 1.0064 mW, x86 dynamic 23.195 mW, x86 static 0.149 mW
    dynamic = 81 * 12 * pJ + 5 * 23.6 * pJ + 2 * 1.7 * pJ + 1.7 * pJ
    assert e.components_J["neurocore_dynamic"] == pytest.approx(dynamic)
    assert e.components_J["neurocore_static"] == pytest.approx(1.0063877537e-3 * 1 * latency)
    assert e.components_J["x86_dynamic"] == pytest.approx(23.195124829e-3 * 1 * latency)
    assert e.components_J["x86_static"] == pytest.approx(0.1490041933e-3 * 1 * latency)
    total = dynamic + (1.0063877537e-3 + 23.195124829e-3 + 0.1490041933e-3) * latency
    assert e.energy_per_inference_J == pytest.approx(total)
    assert sum(e.components_J.values()) == pytest.approx(e.energy_per_inference_J)
    assert e.power_W["x86_dynamic"] == pytest.approx(23.195124829e-3)
    # the same names in the table, the text and the dict; each fitted figure names its source
    table = e.table()
    assert list(table[table.part_of == ""].component) == ["neurocore_dynamic", "neurocore_static", "x86_dynamic",
                                                          "x86_static", "total"]
    text, d = e.to_text(), e.to_dict()
    for name in ("neurocore_dynamic", "neurocore_static", "x86_dynamic", "x86_static"):
        assert name in text and name in d["components_J"]
    assert {f["figure"] for f in d["figures"] if f["fitted"]} == {
        "x86_step_s", "neurocore_static_per_core_W", "x86_dynamic_per_chip_W", "x86_static_per_chip_W"}
    assert all(f["source"] for f in d["figures"])


def test_relnet_calibration_and_unknown_calibration():
    r = tiny()
    act, inputs = activity(r)
    e = estimate(r, act, "sanafe", inputs=inputs, calibration="relnet2021")
    # RelNet run: x86 407.43 mW / 22 chips, x86 static 9.54 mW / 22 chips, here 1 chip
    assert e.power_W["x86_dynamic"] == pytest.approx(0.40743 / 22)
    assert e.power_W["x86_static"] == pytest.approx(0.00954 / 22)
    from biolstm.loihi.chips import ChipError

    with pytest.raises(ChipError, match="no calibration 'bogus'.*relnet2021"):
        estimate(r, act, "sanafe", inputs=inputs, calibration="bogus")


def test_sanafe_export_format(tmp_path):
    """The exported network in SANA-FE's YAML SNN format: groups, replayed spikes, edges, mappings."""
    yaml = pytest.importorskip("yaml", reason="pyyaml is needed to read the exported file back")
    from biolstm.loihi.sanafe_export import write_network

    r = tiny(filler=4 * 1024, pack=False)
    act, inputs = activity(r)
    info = write_network(r.placement, act, inputs, tmp_path / "net.yaml")
    doc = yaml.safe_load((tmp_path / "net.yaml").read_text())
    groups = {g["name"]: g for g in doc["network"]["groups"]}
    assert set(groups) == {"a", "filler", "b", "x"}
    a0 = groups["a"]["neurons"][0][0]
    assert a0["spikes"] == [1, 0, 0]                       # a0 fires at step 0 (replayed)
    assert groups["x"]["neurons"][1][1]["spikes"] == [1, 0, 0]
    edges = [next(iter(e)) for e in doc["network"]["edges"]]
    assert edges == ["x.0 -> a.0", "x.1 -> a.0", "x.1 -> a.1", "a.0 -> b.0", "a.0 -> b.1", "a.1 -> b.1"]
    maps = {next(iter(m)): next(iter(m.values())) for m in doc["mappings"]}
    assert maps["b.0"]["core"] == 1.1 and maps["a.0"]["core"] == 0.0   # core 5 = tile 1, core 1
    assert maps["x.0"]["soma"].startswith("loihi_inputs[")
    assert info.timesteps == 3 and info.edges == 6


@pytest.mark.slow
def test_sanafe_simulator_agrees_with_biolstm_sanafe_model(tmp_path):
    """SANA-FE itself, on the same networks and spikes: energy per category, time and counts."""
    from biolstm.loihi.sanafe_export import compare, sanafe_available

    ok, why = sanafe_available()
    if not ok:
        pytest.skip(why)
    for filler, pack in ((0, True), (4 * 1024, False)):
        r = tiny(filler=filler, pack=pack)
        act, inputs = activity(r)
        c = compare(r, act, inputs, tmp_path / f"f{filler}")
        rows = {row["quantity"]: row for row in c.rows}
        for q in ("soma energy", "synapse energy", "network energy", "neurocore energy", "synaptic lookups",
                  "messages", "hops"):
            assert rows[q]["biolstm_sanafe"] == pytest.approx(rows[q]["sanafe_simulator"], rel=1e-9, abs=1e-18), q
        # time: biolstm adds 5.1 ns per injected spike to the step, SANA-FE to the input core's neuron side
        assert rows["time"]["rel_diff"] == pytest.approx(0, abs=1e-3)
    # an AHP network: biolstm sends the main -> aux synapse as its own message, SANA-FE merges it
    from brian2 import mV

    from biolstm.activity import Activity
    from biolstm.encoding import SpikeTrains
    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection

    spec = NetworkSpec([Population("h", 2, "ahp")],
                       [Projection("xh", "x", "h", np.array([[2.0, 2.0]]) * mV),
                        Projection("hh", "h", "h", np.array([[0.0, 2.0], [0.0, 0.0]]) * mV)],
                       [InputGroup("x", 1)])
    r = check(spec)
    act = Activity(dt=1e-3, n_samples=1, n_steps=3, population_sizes={"h": 2},
                   spikes={"h": np.array([[0, 0, 0], [0, 1, 1]])}, input_counts={"x": np.array([[1, 0, 0]])})
    inputs = SpikeTrains(1, 3, {"x": 1}, {"x": np.array([[0, 0, 0]])})
    c = compare(r, act, inputs, tmp_path / "ahp")
    rows = {row["quantity"]: row for row in c.rows}
    # h0 fires: its aux (own axon) + h1 (recurrent, same core) -> 2 messages in biolstm, 1 in SANA-FE;
    # h1 fires: only its aux -> 1 message in both; input x0 -> 1 message
    assert rows["messages"]["biolstm_sanafe"] == 4 and rows["messages"]["sanafe_simulator"] == 3
    assert rows["messages, SANA-FE's merging rule"]["biolstm_sanafe"] == 3
    assert rows["synapse energy"]["rel_diff"] == pytest.approx(0, abs=1e-9)
    assert rows["soma energy"]["rel_diff"] == pytest.approx(0, abs=1e-9)
