"""``biolstm check`` on saved NetworkSpecs and on plain Brian2 scripts (exit status 0/1/2)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from brian2 import ms

from biolstm.cli import main
from biolstm.spec import NetworkSpec, Population

DATA = Path(__file__).resolve().parent / "data"


def run_cli(capsys, *argv):
    status = main(["check", *map(str, argv)])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_spec_file_fits_and_json(tmp_path, capsys):
    from biolstm.examples import paper_float_spec, random_paper_weights

    spec = paper_float_spec(*random_paper_weights(0))  # the paper's shapes and neurons, random weights
    path = spec.save(tmp_path / "paper.npz")
    status, out, _ = run_cli(capsys, path, "--json")
    report = json.loads(out)
    assert status == 0 and report["status"] == 0 and report["fits"]
    assert report["cores"] == 1 and report["chips"] == 1
    assert {p["population"]: p["vth_mant"] for p in report["populations"]} == {"reg": 127, "ada": 508, "out": None}
    status, out, _ = run_cli(capsys, path)
    assert status == 0 and "FITS" in out


def test_spec_file_with_a_violation_exits_1(tmp_path, capsys):
    path = NetworkSpec([Population("p", 3, "lif", {"t_ref": 70 * ms})]).save(tmp_path / "bad.npz")
    status, out, _ = run_cli(capsys, path)
    assert status == 1
    assert "refractory delay (6 bit): 70 steps (limit 63 steps)" in out and "Fix:" in out


def test_unusable_inputs_exit_2(tmp_path, capsys):
    status, _, err = run_cli(capsys, tmp_path / "missing.npz")
    assert status == 2 and "no such file" in err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    status, _, err = run_cli(capsys, junk)
    assert status == 2 and "junk.npz" in err and "NetworkSpec" in err
    status, out, _ = run_cli(capsys, junk, "--json", "--chip", "loihi9")
    assert status == 2 and "unknown chip 'loihi9'" in json.loads(out)["error"]
    status, _, err = run_cli(capsys, junk, "--set", "weight_rounding=sideways")
    assert status == 2 and "weight_rounding" in err


def test_brian2_cuba_like_script(capsys):
    """A plain Brian2 script in the style of Brian2's examples, read without running it."""
    status, out, _ = run_cli(capsys, DATA / "brian2_cuba_like.py", "--json")
    report = json.loads(out)
    assert status == 0, [v for v in report["violations"] if v["severity"] != "warning"]
    [pop] = report["populations"]
    dt, tau_m, tau_s = 0.1, 20.0, 5.0  # ms, from the script (Brian2's default clock)
    assert pop["size"] == 4000 and pop["from"] == "brian2:lif+current"
    assert pop["decay_v"] == round(4095 * (1 - math.exp(-dt / tau_m))) == 20
    assert pop["decay_u"] == round(4095 * (1 - math.exp(-dt / tau_s))) == 81
    assert pop["refractory_delay"] == round(5.0 / dt) == 50
    # threshold Vt - Vr = 10 mV and bias (1 - exp(-dt/tau_m)) * (El - Vr) = 11 mV * 0.004988 per step
    vpu = pop["volt_per_unit"]
    assert pop["vth_mant"] * 64 * vpu == pytest.approx(0.010, rel=1e-4)
    assert pop["bias"] * vpu == pytest.approx((1 - math.exp(-dt / tau_m)) * 0.011, rel=1e-3)
    projections = {p["projection"]: p for p in report["projections"]}
    assert [p["pre"] for p in projections.values()] == ["neurongroup", "neurongroup", "poissongroup"]
    # Ce: 3200 x 4000 pairs at p = 0.02 (mean 256000, sd 501); Ci: 800 x 4000 (64000, sd 250)
    syn = [p["synapses"] + p["rounded_to_zero"] for p in projections.values()]
    assert abs(syn[0] - 256000) < 5 * 501 and abs(syn[1] - 64000) < 5 * 250
    assert [p["sign_mode"] for p in projections.values()][:2] == ["excitatory", "inhibitory"]
    # 4000 compartments need >= 4 cores; every core within its limits
    assert report["cores"] >= 4
    for core in report["core_usage"]:
        assert core["input_axons"] <= 4096 and core["output_axons"] <= core["output_axon_limit"]
        assert core["compartments"] <= 1024 and core["synapse_bits"] <= 1048576
    assert sum(c["neurons"] for c in report["core_usage"]) == 4000


def test_brian2_conductance_based_script_is_unrecognised(capsys):
    status, out, _ = run_cli(capsys, DATA / "brian2_coba_like.py", "--quiet")
    assert status == 2
    assert "not linear" in out and "CANNOT BE FULLY CHECKED" in out
    status, out, _ = run_cli(capsys, DATA / "brian2_coba_like.py", "--quiet", "--json")
    report = json.loads(out)
    # every synapse is still counted (none rounds to 0): 400 x 400 pairs at p = 0.02, mean 3200, sd 56
    assert all(p["rounded_to_zero"] == 0 for p in report["projections"])
    assert abs(report["synapses"] - 3200) < 5 * 56 and report["neurons"] == 400


SCRIPT_5000_INPUTS = '''
from brian2 import *
tau = 10*ms
inp = SpikeGeneratorGroup(5000, [0, 1], [1, 2]*ms)
G = NeuronGroup(10, 'dv/dt = -v/tau : volt', threshold='v > 10*mV', reset='v = 0*mV', method='exact')
S = Synapses(inp, G, 'w : volt', on_pre='v_post += w')
S.connect()
S.w = 0.5*mV
net = Network(inp, G, S)
net.run(10*ms)
raise RuntimeError("never reached: run() is intercepted")
'''


def test_brian2_script_violating_the_input_axon_limit_exits_1(tmp_path, capsys):
    path = tmp_path / "wide.py"
    path.write_text(SCRIPT_5000_INPUTS)
    status, out, _ = run_cli(capsys, path, "--weight-var", "w", "--dt", "1*ms")
    assert status == 1
    assert "input axons per core (C2): 5000 (limit 4096)" in out
    # direct synapses onto v: weight x exp(-dt/tau) (Brian2's default schedule), noted
    assert "exp(-dt/tau_m)" in out


def test_brian2_script_that_fails_exits_2(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("from brian2 import *\nG = NeuronGroup(10, 'dv/dt = -v/(10*ms) : 1')\nraise ValueError('oops')\n")
    status, _, err = run_cli(capsys, path)
    assert status == 2 and "ValueError: oops" in err


def test_weight_variable_choice_in_process():
    from brian2 import NeuronGroup, Synapses, mV, prefs

    from biolstm.loihi.introspect import _synapse_entry

    prefs.codegen.target = "numpy"
    G = NeuronGroup(3, "dv/dt = -v/(10*ms) : volt", threshold="v > 1*mV", reset="v = 0*mV")
    S = Synapses(G, G, "w : volt\nscale : 1", on_pre="v_post += w*scale")
    S.connect(i=[0, 1], j=[1, 2])
    S.w = [1, 2] * mV
    S.scale = 3
    entry, arrays = _synapse_entry(S, {}, "w", 1e-3, {G.name})
    assert entry["target_var"] == "v" and np.allclose(arrays["w"], [3e-3, 6e-3]) and not entry["unrecognised"]
    entry, _ = _synapse_entry(S, {}, "weight", 1e-3, {G.name})
    [(_, _, reason)] = entry["unrecognised"]
    assert "no synaptic variable 'weight'" in reason and "'w'" in reason
    G._network = S._network = "checked only"  # Brian2 warns about objects never put in a network


def test_brian2_script_with_our_adaptive_models_gives_the_spec_paths_integers():
    """AHP and ALIF written as plain Brian2 equations map to the same integers as the spec."""
    from brian2 import Mohm, mV, pA

    from biolstm.loihi.introspect import check_brian_file
    from biolstm.loihi.quantize import quantize

    scale = {"neurongroup": 0.01 / 32512, "neurongroup_1": 0.01 / 32512}
    report = check_brian_file(DATA / "brian2_adaptive.py", volt_per_unit=scale)
    assert report.status == 0, [v.text() for v in report.violations]
    from_script = {p.name: p for p in report.qnet.populations}
    spec = NetworkSpec([
        Population("neurongroup", 100, "ahp", {"tau_ahp": 700 * ms, "delta_I_ahp": 24 * pA, "R_m": 100 * Mohm}),
        Population("neurongroup_1", 100, "alif", {"tau_a": 700 * ms, "delta_theta": 2.4 * mV}),
    ], metadata={"loihi": {"volt_per_unit": scale}})
    from_spec = {p.name: p for p in quantize(spec).populations}
    for name in scale:
        a, b = from_script[name], from_spec[name]
        assert a.model == b.model == "ahp"
        assert (a.decay_v, a.decay_u, a.vth_mant, a.refractory_delay) == (b.decay_v, b.decay_u, b.vth_mant, b.refractory_delay)
        assert (a.aux_decay_v, a.aux_weight_mant, a.aux_weight_exp) == (b.aux_decay_v, b.aux_weight_mant, b.aux_weight_exp)
    # by hand: the exact AHP step puts T[v,I]*delta_I on v, with
    # T[v,I] = -R_m*tau_ahp/(tau_ahp - tau_m)*(exp(-dt/tau_ahp) - exp(-dt/tau_m)) = -4.8735e6 V/A,
    # so 24 pA -> -116.96 uV = -380.3 units of 10 mV/32512; 8-bit mantissa at exponent -5 (step 2): -380.
    # The ALIF neuron is mapped onto the matched AHP neuron (delta_theta/R_m = 24 pA): the same.
    t_vi = -1e8 * 700 / 680 * (math.exp(-1 / 700) - math.exp(-1 / 20))
    units = t_vi * 24e-12 / (0.01 / 32512)
    assert round(units, 1) == -380.3
    assert from_script["neurongroup"].aux_weight == from_script["neurongroup_1"].aux_weight == -380
    assert any("AHP form" in n for n in report.notes)
    # input weights (1 + i % 5) * 2 mV arrive after the threshold test (Brian2's default schedule):
    # Loihi weight = w * exp(-dt/tau_m), within half a mantissa step
    proj = report.qnet.projection("synapses")
    vpu = from_script["neurongroup"].volt_per_unit
    back = proj.effective_weights * vpu / math.exp(-1 / 20)
    half_step = 2 ** (6 + proj.weight_exp) / 2 * vpu / math.exp(-1 / 20)
    nearest = np.round(back / 2e-3) * 2e-3
    assert np.all(np.abs(back - nearest) <= half_step + 1e-12)
    assert set(np.round(nearest * 1e3).astype(int)) == {2, 4, 6, 8, 10}


SCRIPT_SLOW = '''
import time
from brian2 import *
G = NeuronGroup(10, 'dv/dt = -v/(10*ms) : volt', threshold='v > 1*mV', reset='v = 0*mV', method='exact')
time.sleep(120)
run(1*ms)
'''


def test_script_past_its_time_limit_is_read_as_far_as_it_got(tmp_path, capsys):
    path = tmp_path / "slow.py"
    path.write_text(SCRIPT_SLOW)
    status, out, err = run_cli(capsys, path, "--timeout", "3", "--json")
    report = json.loads(out)
    assert status == 2 and report["neurons"] == 10
    [v] = [v for v in report["violations"] if v["object"] == "script"]
    assert v["rule"] == "time limit" and "after 3 s" in v["fix"] and "--timeout" in v["fix"]
    # the phases are printed on stderr
    assert "biolstm check: running script until run()" in err
    assert "biolstm check: reading 1 groups / 0 synapses" in err and "biolstm check: placing" in err


SCRIPT_POOL = '''
import multiprocessing
from brian2 import *

def sim(x):
    G = NeuronGroup(5, 'dv/dt = -v/(10*ms) : volt', threshold='v > 1*mV', reset='v = 0*mV', method='exact')
    net = Network(G)
    net.run(1*ms)

if __name__ == '__main__':
    with multiprocessing.Pool(2) as pool:
        pool.map(sim, [1, 2])
'''


def test_script_that_runs_in_a_process_pool_is_read_in_process(tmp_path, capsys):
    """Nothing of the script is pickled: the pool runs serially in the worker."""
    path = tmp_path / "pool.py"
    path.write_text(SCRIPT_POOL)
    status, out, err = run_cli(capsys, path, "--json", "--quiet")
    report = json.loads(out)
    assert status == 0 and report["neurons"] == 5 and err == ""
