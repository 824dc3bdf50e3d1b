"""Prepared runs (biolstm.brian.prepared): a cached program with one network's weights, run
without Brian2.

The key follows what the program depends on (the network file's contents, the job's options,
Brian2's preference files, the compiler environment); a prepared ``biolstm eval smnist`` on
``cpp_standalone`` imports no Brian2 and gives the same spikes and readout, bit for bit, as the
full path that describes the network; a prepared run whose program left the cache is refused,
and the command falls back to the full path.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from biolstm.brian import prepared
from biolstm.brian.choose import ESTIMATES, choose_backend, warm_standalone_first
from biolstm.brian.standalone import CompiledNetwork
from biolstm.cli import main
from biolstm.tasks import smnist
from biolstm.workflows import smnist_eval as ev


def test_key_follows_file_contents_options_preferences_and_compiler_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CXXFLAGS", raising=False)
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    a.write_bytes(b"weights one")
    b.write_bytes(b"weights one")
    c.write_bytes(b"weights two")
    options = {"task": "smnist", "mode": "float", "replicas": 1, "slots": 128}
    key = prepared.prepared_key([a], options)
    assert prepared.prepared_key([b], options) == key            # contents, not the path
    assert prepared.prepared_key([c], options) != key
    assert prepared.prepared_key([a], {**options, "mode": "loihi"}) != key
    assert prepared.prepared_key([a], {**options, "slots": 64}) != key
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert prepared.prepared_key([a], options) == key            # another folder, no preference file
    monkeypatch.chdir(tmp_path)
    (tmp_path / "brian_preferences").write_text("codegen.cpp.extra_compile_args_gcc = ['-O1']\n")
    with_prefs = prepared.prepared_key([a], options)
    assert with_prefs != key                                       # Brian2 reads ./brian_preferences
    monkeypatch.setenv("CXXFLAGS", "-O0")
    assert prepared.prepared_key([a], options) not in (key, with_prefs)


@pytest.mark.parametrize("n_samples", [1, 2, 3, 10, 100, 1000, 10000])
@pytest.mark.parametrize("mode", ["float", "loihi"])
def test_warm_standalone_first_agrees_with_choose_backend(n_samples, mode, monkeypatch, small_network):
    """When it answers, choose_backend picks cpp_standalone for a cached program whatever else
    is warm; when it declines, some other backend could be faster."""
    from biolstm.brian import choose

    monkeypatch.setattr(choose, "_warm", lambda *a, **k: True)   # every backend at its best
    reason = warm_standalone_first(mode, n_samples)
    candidates = list(ESTIMATES[mode])
    if reason is not None:
        chosen, _ = choose_backend(small_network, 840, n_samples, mode=mode, candidates=candidates)
        assert chosen == "cpp_standalone" and "compiled program cached" in reason
    else:
        assert any(choose.estimate_seconds(b, mode, n_samples, True)
                   <= choose.estimate_seconds("cpp_standalone", mode, n_samples, True)
                   for b in candidates if b != "cpp_standalone")


def _digest(activity) -> dict[str, str]:
    out = {pop: hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()
           for pop, rows in activity.spikes.items()}
    out["readout"] = hashlib.sha256(np.ascontiguousarray(activity.readout).tobytes()).hexdigest()
    return out


_CHILD = """
import hashlib, json, sys
import numpy as np
from biolstm.workflows import smnist_eval as ev
weights, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = ev.test_data("default", n, seed=3)
key = ev.prepared_key(weights, 140, mode, len(data))
result = ev.evaluate_prepared(key, data, mode, progress=False)
act = result.activity
out = {pop: hashlib.sha256(np.ascontiguousarray(r, dtype=np.int64).tobytes()).hexdigest()
       for pop, r in act.spikes.items()}
out["readout"] = hashlib.sha256(np.ascontiguousarray(act.readout).tobytes()).hexdigest()
print(json.dumps({"digest": out, "accuracy": result.accuracy, "rates": result.rates,
                  "prepared": act.metadata.get("prepared"), "brian2": "brian2" in sys.modules,
                  "sympy": "sympy" in sys.modules}))
"""


@pytest.mark.parametrize("mode", ["float", "loihi"])
def test_prepared_eval_is_the_full_eval_without_brian2(mode, tmp_path):
    spec = smnist.smnist_network(10, 10, "ahp", density=0.5, seed=2, input_gain=2.0)
    weights = tmp_path / "net.npz"
    spec.save(weights)
    data = ev.test_data("default", 5, seed=3)
    key = ev.prepared_key(weights, 140, mode, len(data))
    assert ev.evaluate_prepared(key, data, mode, progress=False) is None     # nothing saved yet

    full = ev.evaluate_spec(ev.load_weights(weights), data, "cpp_standalone", mode, progress=False)
    assert ev.remember_prepared(key, spec, full)
    child = subprocess.run([sys.executable, "-c", _CHILD, str(weights), mode, str(len(data))],
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr
    got = json.loads(child.stdout.strip().splitlines()[-1])
    assert got["prepared"] is True
    assert not got["brian2"] and not got["sympy"]
    assert got["digest"] == _digest(full.activity)
    assert got["accuracy"] == full.accuracy
    assert got["rates"] == json.loads(json.dumps(full.rates))

    # the program left the cache: no prepared run, and the command takes the full path
    prep = prepared.load(key)
    prep.key = "0" * 20
    assert CompiledNetwork.from_prepared(prep) is None
    assert prepared.run(prep, smnist.encode(data.x, "pixels")) is None


def test_eval_command_saves_then_uses_the_prepared_run(tmp_path, capsys):
    spec = smnist.smnist_network(10, 10, "ahp", density=0.5, seed=2, input_gain=2.0)
    weights = tmp_path / "net.npz"
    spec.save(weights)
    argv = ["eval", "smnist", "--weights", str(weights), "--samples", "4", "--backend",
            "cpp_standalone", "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["prepared_run"], second["prepared_run"]) == (False, True)
    for field in ("accuracy", "rates", "mean_rate_spikes_per_neuron_per_step", "data", "backend", "mode"):
        assert first[field] == second[field], field
    # other weights in the same file (same structure: no new program): another key, the full path
    w = spec.projections[0].weights
    (w.data if scipy.sparse.issparse(w) else w)[...] *= 1.5
    spec.save(weights, overwrite=True)
    assert main(argv) == 0
    third = json.loads(capsys.readouterr().out)
    assert third["prepared_run"] is False
    assert third["rates"] != first["rates"]
    # a text run prints the network summary from the prepared run
    assert main(argv[:-1]) == 0
    text = capsys.readouterr().out
    assert text.startswith("NetworkSpec:") and "Accuracy:" in text


def test_biolstm_brian_imports_brian2_only_when_used():
    code = ("import sys, biolstm.brian as b\n"
            "assert 'brian2' not in sys.modules\n"
            "b.standalone.cache_root(); b.simulate; b.CompiledNetwork; b.prepared.load('0' * 32)\n"
            "assert 'brian2' not in sys.modules\n"
            "from biolstm.brian.backends import activated\n"
            "with activated('numpy'): pass\n"
            "assert 'brian2' in sys.modules\n"
            "try:\n    b.no_such_thing\nexcept AttributeError as err:\n    print(err)\n")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    assert "has no attribute 'no_such_thing'" in child.stdout
