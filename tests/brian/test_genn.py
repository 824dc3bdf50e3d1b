"""The genn backend (biolstm.brian.genn, biolstm/brian/genn_runner.py, make genn; the Loihi-exact
network through it: biolstm.loihi.emulate.run_genn).

The description and the runner are checked here on Brian2's numpy target against
biolstm's own runners (fast, no GeNN needed). The tests marked ``genn`` build the same
networks through brian2genn and GeNN's CPU backend; they need the environment of
``make genn`` and skip with the reason otherwise (CI does not build it: see README).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from biolstm.brian import compare_activities, genn
from biolstm.brian.backends import backend_status
from biolstm.encoding import SpikeTrains
from biolstm.loihi.fixed_point import QuantizedNetwork

from biolstm.examples import loihi_ahp as ahp, loihi_lif as lif, loihi_projection as projection, loihi_readout as readout

ROOT = Path(__file__).resolve().parents[2]
ENV, WHY = genn.find_environment()
needs_genn = pytest.mark.skipif(ENV is None, reason=f"no GeNN environment ({WHY}); run 'make genn'")


def _float_network():
    """sMNIST-shaped network (58 neurons) with delays 0-2 steps inside one projection and
    a delayed input projection: exercises the split by delay and both sample gates."""
    from brian2 import ms, volt

    from biolstm.examples import smnist_shaped_inputs, smnist_shaped_network
    from biolstm.spec import Projection

    spec = smnist_shaped_network(seed=0, scale=0.2)
    projs = []
    for p in spec.projections:
        if p.name in ("lif_ahp", "in_lif"):
            n = p.n_synapses
            delay = (np.arange(n) % 3) * ms if p.name == "lif_ahp" else 1 * ms
            p = Projection(p.name, p.pre, p.post, p.weights, weight_unit=volt, delay=delay)
        projs.append(p)
    spec = dataclasses.replace(spec, projections=projs)
    return spec, smnist_shaped_inputs(3, seed=1, scale=0.2, n_steps=60)


def _loihi_network():
    """Integer network: a biased LIF population (spikes from step 0 of every sample), an AHP
    population, mixed delays, a refractory delay of 3, a readout."""
    rng = np.random.default_rng(3)
    w_in = rng.integers(-40, 120, (6, 12)) * (rng.random((6, 12)) < 0.5)
    w_rec = rng.integers(-60, 60, (12, 12)) * (rng.random((12, 12)) < 0.3)
    w_ra = rng.integers(-30, 90, (12, 8)) * (rng.random((12, 8)) < 0.4)
    w_out = rng.integers(-50, 50, (12, 4))
    rec = projection("reg_reg", "reg", "reg", w_rec, weight_exp=1)
    rec = dataclasses.replace(rec, delay_steps=np.arange(len(rec.weight_mant)) % 4)
    qnet = QuantizedNetwork(
        populations=[lif("reg", 12, 2048, 400, 60, refractory_delay=3, bias_mant=600, bias_exp=3),
                     ahp("ada", 8), readout("out", 4)],
        projections=[projection("in_reg", "inp", "reg", w_in, weight_exp=2, delay=1), rec,
                     projection("reg_ada", "reg", "ada", w_ra, weight_exp=3),
                     projection("reg_out", "reg", "out", w_out)],
        inputs={"inp": 6}, readout=("out", "v", "last"), dt=1e-3, chip="loihi1")
    dense = rng.random((3, 50, 6)) < 0.2
    return qnet, SpikeTrains.from_dense({"inp": dense})


def test_description_matches_the_loihi_mode_exactly_on_numpy():
    from biolstm.loihi.emulate import run_genn, simulate_quantized

    qnet, trains = _loihi_network()
    record = {"ada": (["v", "a"], [0, 3, 7])}
    ref = simulate_quantized(qnet, trains, "numpy", progress=False, record=record)
    got = run_genn(qnet, trains, device="numpy", record=record)
    cmp = compare_activities(ref, got)
    assert cmp["identical"], cmp
    assert cmp["spikes_reference"] > 100 and ref.spikes["reg"][:, 1].min() == 0
    for key in ref.traces:
        np.testing.assert_array_equal(got.traces[key], ref.traces[key])
    assert got.readout.dtype == np.int64 and got.metadata["units"] == "loihi"


def test_description_matches_the_float_runner_on_numpy():
    from biolstm.brian import simulate

    spec, trains = _float_network()
    record = {"ahp": (["v", "I_ahp"], [1, 4])}
    ref = simulate(spec, trains, "numpy", progress=False, record=record)
    got = genn.run_spec(spec, trains, device="numpy", record=record)
    cmp = compare_activities(ref, got)
    # same semantics; only the order of float additions differs (buffers): last bits
    assert cmp["spike_match"] == 1.0 and cmp["spikes_reference"] > 200, cmp
    assert cmp["readout_max_abs_diff"] < 1e-12
    for key in ref.traces:
        np.testing.assert_allclose(got.traces[key], ref.traces[key], rtol=0, atol=1e-15)


def test_refractory_of_two_steps_is_refused_with_the_limit():
    from brian2 import ms

    from biolstm.spec import Population

    spec, trains = _float_network()
    pops = [Population("lif", p.size, "lif", {"t_ref": 2 * ms}) if p.name == "lif" else p
            for p in spec.populations]
    with pytest.raises(genn.GennError, match=r"population 'lif': t_ref = 2 ms.*t_ref < 2\*dt"):
        genn.describe_spec(dataclasses.replace(spec, populations=pops), trains)


def _fake_environment(tmp_path: Path) -> Path:
    env = tmp_path / "venv-genn"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(Path(os.sys.executable))
    genn_dir = tmp_path / "genn-4.9.0"
    (genn_dir / "bin").mkdir(parents=True)
    (genn_dir / "bin" / "genn-buildmodel.sh").write_text("#!/bin/sh\n")
    (env / genn.INFO_FILE).write_text(json.dumps(
        {"python": "3.11.7", "brian2": "2.5.4", "brian2genn": "1.7.0", "numpy": "1.26.4",
         "genn": "4.9.0", "genn_path": str(genn_dir)}))
    return env


def test_backends_reports_genn_from_the_environment_or_says_make_genn(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("brian2genn") is not None:
        pytest.skip("brian2genn is installed in this environment itself (no separate environment needed)")
    monkeypatch.setenv(genn.ENV_VARIABLE, str(tmp_path / "absent"))
    status = backend_status("genn")
    assert not status.available
    assert f"no GeNN environment at {tmp_path / 'absent'}" in status.reason
    assert "make genn" in status.fix and "4.9.0" in status.fix
    with pytest.raises(genn.GennError, match="not available: no GeNN environment.*make genn"):
        genn.run_description({}, {}, device="genn")

    monkeypatch.setenv(genn.ENV_VARIABLE, str(_fake_environment(tmp_path)))
    status = backend_status("genn")
    assert status.available, status
    assert status.details["brian2genn"] == "1.7.0" and status.details["genn"] == "4.9.0"
    assert status.details["brian2"] == "2.5.4"


def test_make_genn_without_the_archive_says_what_to_download(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GENN_PATH"}
    env.update(BIOLSTM_SHARED=str(tmp_path), GENN_ENV=str(tmp_path / "env"))
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "make_genn_env.sh")], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "GeNN 4.9.0 not found" in proc.stderr and "github.com/genn-team/genn" in proc.stderr
    assert "GENN_PATH=" in proc.stderr and not (tmp_path / "env").exists()
    env["GENN_PATH"] = str(tmp_path / "genn-5.0.0")
    (tmp_path / "genn-5.0.0").mkdir()
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "make_genn_env.sh")], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "no bin/genn-buildmodel.sh" in proc.stderr


@needs_genn
@pytest.mark.slow
def test_genn_runs_the_loihi_network_identically_to_the_loihi_mode():
    from biolstm.loihi.emulate import run_genn, simulate_quantized

    qnet, trains = _loihi_network()
    ref = simulate_quantized(qnet, trains, "numpy", progress=False)
    got = run_genn(qnet, trains, device="genn")
    assert got.metadata["versions"]["brian2genn"] == "1.7.0"
    assert got.metadata["versions"]["genn"].startswith("4.")
    cmp = compare_activities(ref, got)
    assert cmp["identical"], cmp


@needs_genn
@pytest.mark.slow
def test_genn_float_network_is_bit_identical_to_the_same_description_on_numpy():
    spec, trains = _float_network()
    record = {"lif": (["v"], list(range(28)))}
    ref = genn.run_spec(spec, trains, device="numpy", record=record)
    got = genn.run_spec(spec, trains, device="genn", record=record)
    cmp = compare_activities(ref, got)
    assert cmp["identical"], cmp
    np.testing.assert_array_equal(got.traces["lif.v"], ref.traces["lif.v"])
