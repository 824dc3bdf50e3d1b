"""``biolstm check`` on a corpus of small Brian2-style scripts (tests/loihi/check_corpus/).

Each verdict and core count is derived by hand from the Loihi 1 limits in
biolstm/loihi/chips/loihi1.json:

* C1  1024 compartments per core (an AHP/ALIF neuron is 2 compartments);
* C2  4096 input axons per core (one per source neuron and projection reaching the core);
* C3  4096 output axons per core (one per source neuron and destination core);
* C4  511 destination cores per neuron;
* C12 compartments per core <= 2**(13 - delay_bits), where 2**delay_bits must exceed
  max_delay + 1 and delay_bits >= 3 (delays of 0..6 steps: 1024; 15 steps: 256; 62: 128);
* delays at most 62 steps.
"""

import json
import math
from functools import lru_cache
from pathlib import Path

import pytest

from biolstm.cli import main

CORPUS = Path(__file__).resolve().parent / "check_corpus"


@lru_cache(maxsize=None)
def _check(name: str) -> tuple[int, str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["check", str(CORPUS / f"{name}.py"), "--json", "--quiet"])
    return status, out.getvalue()


def check(name: str) -> tuple[int, dict]:
    status, text = _check(name)
    return status, json.loads(text)


def problems(report: dict, severity: str) -> list[dict]:
    return [v for v in report["violations"] if v["severity"] == severity]


def usage(report: dict, column: str) -> list[int]:
    return [int(c[column]) for c in report["core_usage"]]


def test_subgroups_on_both_sides_map_to_absolute_indices():
    status, r = check("subgroups")
    assert status == 0 and r["fits"], problems(r, "violation") + problems(r, "unrecognised")
    # one population (the root group) of 2048 neurons: 2048 / 1024 = 2 cores
    assert [p["population"] for p in r["populations"]] == ["neurongroup"] and r["neurons"] == 2048
    assert r["cores"] == 2
    proj = {p["projection"]: p for p in r["projections"]}
    assert proj["synapses"]["synapses"] == 512 and proj["synapses_1"]["synapses"] == 10
    assert all(p["pre"] == p["post"] == "neurongroup" for p in proj.values())
    # P[:512] -> P[1024:][:512] = neurons 1024..1535 on core 1: 512 input axons there and
    # 512 output axons on core 0; P[1536:][10:20] = neurons 1546..1555 (core 1) -> P[:10]
    # (core 0): 10 input axons on core 0, 10 output axons on core 1
    assert usage(r, "input_axons") == [10, 512]
    assert usage(r, "output_axons") == [512, 10]


def test_every_connect_form():
    status, r = check("connect_forms")
    assert status == 0, problems(r, "violation") + problems(r, "unrecognised")
    syn = {p["projection"]: p["synapses"] for p in r["projections"]}
    # 'i == j': 100; i=[0,1,2], j=[5,6,7]: 3; j='i', n=2: 2 x 100 = 200; p=1 from 20 inputs: 2000
    assert syn == {"synapses": 100, "synapses_1": 3, "synapses_2": 200, "synapses_3": 2000}
    assert r["synapses"] == 2303
    # 200 neurons on 1 core; input axons: into G 100 (from H) + 20 (inputs), into H 100 + 3
    assert r["cores"] == 1 and usage(r, "input_axons") == [223]


def test_adaptive_thresholds_written_the_brian2_ways_map_alike():
    status, r = check("adaptive_thresholds")
    assert status == 0, problems(r, "violation") + problems(r, "unrecognised")
    pops = {p["population"]: p for p in r["populations"]}
    assert len(pops) == 3 and all(p["model"] == "ahp" for p in pops.values())
    # dt = 1 ms: decay_v = round(4095*(1 - exp(-1/10))) = 390, aux decay = round(4095*(1 - exp(-1/15))) = 264
    assert {p["decay_v"] for p in pops.values()} == {round(4095 * (1 - math.exp(-1 / 10)))} == {390}
    assert {p["aux_decay_v"] for p in pops.values()} == {round(4095 * (1 - math.exp(-1 / 15)))} == {264}
    # vt relaxing to 10 mV with jumps of 3 mV is the threshold 10 mV plus theta with jumps of
    # 3 mV; the matched AHP current has R*delta_I = 100 Mohm * 30 pA = 3 mV: the same integers
    keys = ("decay_v", "aux_decay_v", "vth_mant", "aux_weight", "refractory_delay")
    assert len({tuple(p[k] for k in keys) for p in pops.values()}) == 1
    for p in pops.values():
        assert p["vth_mant"] * 64 * p["volt_per_unit"] == pytest.approx(0.010, rel=1e-3)
        assert p["refractory_delay"] == 2
    # 300 neurons x 2 compartments = 600 <= 1024: one core
    assert r["cores"] == 1 and usage(r, "compartments") == [600]
    assert any("relaxes to 0.01 V" in n for n in r["notes"])


def test_poisson_input_is_n_channels_per_neuron():
    status, r = check("poisson_input")
    assert status == 0, problems(r, "violation")
    # N = 50 sources per neuron x 100 neurons = 5000 channels and synapses
    assert r["synapses"] == 5000
    [proj] = r["projections"]
    assert proj["pre"] == "poissoninput" and proj["synapses"] == 5000
    # a core takes at most floor(4096 / 50) = 81 neurons: ceil(100 / 81) = 2 cores
    assert r["cores"] == 2 and max(usage(r, "input_axons")) <= 4096
    assert sum(usage(r, "input_axons")) == 5000


def test_fan_in_beyond_the_input_axons_exits_1():
    status, r = check("fan_in")
    assert status == 1
    # one neuron receives 5000 sources > 4096 input axons: no split helps
    [v] = problems(r, "violation")
    assert v["rule"] == "input axons per core (C2)" and v["value"] == 5000 and v["limit"] == 4096


def test_fan_out_beyond_511_cores_exits_1():
    status, r = check("fan_out")
    assert status == 1
    # 62-step delays: 2**6 > 63, 6 delay bits, 2**(13-6) = 128 compartments per core;
    # ceil(66000 / 128) = 516 target cores + 1 for the source = 517 cores
    assert r["cores"] == 517 and max(usage(r, "compartment_limit")) == 1024
    assert sorted(set(usage(r, "compartment_limit")))[0] == 128
    [v] = problems(r, "violation")
    assert v["rule"] == "destination cores per neuron (C4)" and v["value"] == 516 and v["limit"] == 511
    assert usage(r, "output_axons")[0] == 516


def test_constant_and_per_neuron_drive_become_biases():
    status, r = check("bias")
    assert status == 0, problems(r, "violation") + problems(r, "unrecognised")
    pops = {p["population"]: p for p in r["populations"]}
    const, per = pops["neurongroup"], pops["neurongroup_1"]
    # threshold 10 mV = vth_mant 127 x 64 units -> 1 unit = 10 mV / 8128
    vpu = 0.010 / (127 * 64)
    assert const["volt_per_unit"] == pytest.approx(vpu, rel=1e-9)
    # bias per step = (1 - exp(-dt/tau)) * I = (1 - exp(-0.1/10)) * 15 mV = 121.3 units -> 121
    assert const["bias"] == round((1 - math.exp(-0.01)) * 0.015 / vpu) == 121
    # per neuron: v0 = 20 mV * i/99, the largest (i = 99) 161.7 units -> 162, shown in the table
    assert per["bias"] == round((1 - math.exp(-0.01)) * 0.020 / vpu) == 162
    assert any("per-neuron bias (100 values" in n for n in r["notes"])
    assert r["cores"] == 1


def test_delays_and_several_clocks():
    status, r = check("delays_clocks")
    assert status == 0, problems(r, "violation")
    proj = {p["projection"]: p for p in r["projections"]}
    # 1.5 ms at dt = 0.1 ms = 15 steps; 2**5 > 16: 5 delay bits, 2**8 = 256 compartments
    # per core: ceil(1000 / 256) = 4 cores
    assert proj["synapses"]["max_delay"] == 15 and proj["synapses_1"]["max_delay"] == 0
    assert r["cores"] == 4 and set(usage(r, "compartment_limit")) == {256}
    assert any("several time steps" in n and "dt = 0.0001 s" in n for n in r["notes"])


def test_delay_beyond_62_steps_exits_1():
    status, r = check("long_delay")
    assert status == 1
    [v] = problems(r, "violation")
    # 7 ms / 0.1 ms = 70 steps > 62
    assert v["rule"] == "synaptic delay" and v["value"] == "70 steps" and v["limit"] == "62 steps"


def test_unmappable_models_exit_2_with_reasons_and_resources():
    status, r = check("unmappable")
    assert status == 2 and not r["fits"]
    found = {v["object"]: v for v in problems(r, "unrecognised")}
    assert "exp(" in found["NeuronGroup 'adex'"]["fix"]                     # names the term
    assert "network_operation" in found["NetworkOperation 'networkoperation'"]["fix"]
    stdp = found["synapses 'stdp'"]["fix"]
    assert "apre" in stdp and "plasticity" in stdp
    # resources are still counted: 1500 + 100 neurons, 1500 synapses (j = i % 100);
    # adex is split into 2 pieces of 750, lif's 100 share the second core: 2 cores
    assert r["neurons"] == 1600 and r["synapses"] == 1500 and r["cores"] == 2
    assert usage(r, "neurons") == [750, 850]


def test_unmappable_text_report_says_resources_are_counted(capsys):
    status = main(["check", str(CORPUS / "unmappable.py"), "--quiet"])
    out = capsys.readouterr().out
    assert status == 2
    assert "CANNOT BE FULLY CHECKED" in out and "counted as one-compartment LIF neurons" in out
    assert "the network takes 2 cores (1600 neurons, 1500 synapses)" in out
