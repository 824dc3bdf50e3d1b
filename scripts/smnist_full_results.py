"""sMNIST results on the full MNIST: the AHP network against the 128-unit LSTM.

Both models are trained by ``biolstm train smnist --mnist`` on the official 60,000
training digits: digits 1-50,000 train, 50,001-60,000 validate
(:func:`biolstm.tasks.smnist.mnist_train_valid`). The epoch to ship is the one with the
best validation accuracy (``best.pt`` of the run); the official 10,000-digit test set is
read here only, once, for the shipped networks, and only when both runs have finished.

The run folders live under ``results/smnist_full/training/{ahp,lstm}`` so that the latest
checkpoint and log are committed and any clone resumes the runs bit-identically
(``--train`` resumes them; the lines are in :data:`TRAIN_COMMANDS`).

With both runs finished, the script

1. evaluates on all 10,000 official test digits: the AHP network in torch (float32, the
   training implementation), in Brian2 (float64, ``cpp_standalone``) and in the
   Loihi-exact integer emulation (``cpp_standalone``), and the LSTM in torch;
2. reports per-class accuracy and the confusion matrices, the firing rate per population,
   the Brian2 = torch agreement (same class, spike counts, identical spikes) on
   ``--agreement-samples`` test digits, and the spread of the validation accuracy over the
   last epochs;
3. measures the LSTM's wall time per inference (batch 1, 1 thread, this machine);
4. writes ``results/smnist_full/{accuracy,per_class,rates,agreement,training}.csv``,
   ``confusion.csv``, ``smnist.png`` and ``summary.json``;
5. with ``--ship``, copies the AHP NetworkSpec to ``biolstm/data/smnist_ahp.npz`` and the
   LSTM baseline to ``biolstm/data/smnist_lstm_baseline.json`` (what ``biolstm demo`` and
   ``biolstm eval smnist`` load).

Usage::

    nice -n 19 python scripts/smnist_full_results.py --train            # resume both runs (hours)
    python scripts/smnist_full_results.py --ship                         # evaluate, write, ship
    python scripts/smnist_full_results.py --status                       # where the runs stand

``--mnist PATH`` names the user's copy of MNIST (IDX folder, Keras .npz or mnist.pkl.gz);
the default is the development copy (see :func:`biolstm.tasks.smnist.shared_mnist_path`).
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
from biolstm.train.config import TrainConfig  # noqa: E402

RUNS = REPO / "results" / "smnist_full" / "training"
"""Run folders (checkpoint.pt, best.pt, history.csv, config.json, train.log)."""

# The recipe (chosen on the validation digits, see results/smnist_full/pilots.csv): `biolstm train smnist` defaults otherwise (cosine lr decay to
# 5 %, gamma 0.1, loss over the 56 cue steps, 8-bit forward weights, fixed random masks).
AHP_CONFIG = TrainConfig(model="ahp", n_regular=140, n_adaptive=100, density=0.2, quantize=True,
                         epochs=25, batch_size=16, lr=4e-3, rate_target=0.04, seed=0,
                         eval_samples=2000)
LSTM_CONFIG = TrainConfig(model="lstm", hidden=128, epochs=12, batch_size=64, lr=3e-3, seed=0,
                          eval_samples=2000)
CONFIGS = {"ahp": AHP_CONFIG, "lstm": LSTM_CONFIG}


def train_command(cfg: TrainConfig, mnist: str = "MNIST") -> str:
    """The ``biolstm train`` line that runs ``cfg`` in its run folder."""
    d = TrainConfig()
    flags = [f"--model {cfg.model}", f"--mnist {mnist}", f"--out results/smnist_full/training/{cfg.model}"]
    for field, flag in (("epochs", "--epochs"), ("batch_size", "--batch-size"), ("lr", "--lr"),
                        ("density", "--density"), ("rate_target", "--rate-target"),
                        ("eval_samples", "--eval-samples"), ("seed", "--seed"),
                        ("n_regular", "--n-regular"), ("n_adaptive", "--n-adaptive"),
                        ("hidden", "--hidden")):
        if getattr(cfg, field) != getattr(d, field):
            flags.append(f"{flag} {getattr(cfg, field)}")
    return "biolstm train smnist " + " ".join(flags)


TRAIN_COMMANDS = {name: train_command(cfg) for name, cfg in CONFIGS.items()}

def run_status(name: str) -> dict:
    """Epochs done, best validation epoch and training time of one run folder."""
    from biolstm.train.trainer import BEST_NAME, CHECKPOINT_NAME, load_checkpoint

    cfg, folder = CONFIGS[name], RUNS / name
    out = {"run": name, "folder": f"results/smnist_full/training/{name}", "epochs": cfg.epochs,
           "epochs_done": 0, "finished": False, "best_epoch": None, "best_val_accuracy": None,
           "train_hours": 0.0}
    if (folder / CHECKPOINT_NAME).exists():
        state = load_checkpoint(folder / CHECKPOINT_NAME)
        hist = state["history"]
        out.update(epochs_done=state["epoch"], finished=state["epoch"] >= cfg.epochs,
                   train_hours=sum(h["epoch_s"] for h in hist) / 3600,
                   batch_in_epoch=state["batch"])
        if (folder / BEST_NAME).exists():
            best = load_checkpoint(folder / BEST_NAME)
            out.update(best_epoch=best["epoch"], best_val_accuracy=best["val_accuracy"])
    return out


def _torch_eval(model, data, batch: int = 100) -> tuple[np.ndarray, dict[str, float] | None]:
    """Predictions [N] and, for the spiking model, spikes per neuron per step per population."""
    import torch

    from biolstm.train.snn import TorchNetwork

    model.eval()
    preds, spikes = [], {}
    with torch.no_grad():
        for s in range(0, len(data), batch):
            x = torch.tensor(smnist.encode_dense(data.x[s:s + batch]), dtype=torch.float32)
            if isinstance(model, TorchNetwork):
                res = model(x)
                logits = res.readout_last
                for pop, c in res.spike_counts.items():
                    spikes[pop] = spikes.get(pop, 0.0) + float(c.sum())
            else:
                logits = model(x)
            preds.append(logits.argmax(1).numpy())
    rates = None
    if isinstance(model, TorchNetwork):
        sizes = {k.name: k.size for k in model.kernels if k.spiking}
        rates = {p: spikes[p] / (sizes[p] * len(data) * smnist.N_STEPS) for p in spikes}
    return np.concatenate(preds), rates


def confusion(labels: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """``[10, 10]`` counts, rows the true class, columns the predicted one."""
    out = np.zeros((10, 10), dtype=np.int64)
    np.add.at(out, (labels, preds), 1)
    return out


def last_epochs_spread(history: list[dict], n: int = 5) -> dict:
    """Validation accuracy over the last ``n`` epochs: min, max, mean, std (in [0, 1])."""
    vals = np.array([h["val_accuracy"] for h in history[-n:] if "val_accuracy" in h])
    return {"epochs": [h["epoch"] for h in history[-n:]], "min": float(vals.min()),
            "max": float(vals.max()), "mean": float(vals.mean()), "std": float(vals.std())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", default=None,
                        help="MNIST (IDX folder, .npz or mnist.pkl.gz; default: the development copy)")
    parser.add_argument("--train", action="store_true", help="resume (or start) the two runs first")
    parser.add_argument("--status", action="store_true", help="print where the runs stand and exit")
    parser.add_argument("--out", default=str(REPO / "results" / "smnist_full"))
    parser.add_argument("--agreement-samples", type=int, default=1000,
                        help="test digits simulated in Brian2 and torch float64 for the agreement")
    parser.add_argument("--backend", default="cpp_standalone", help="Brian2 backend")
    parser.add_argument("--ship", action="store_true",
                        help="copy the AHP spec and the LSTM baseline into biolstm/data/")
    args = parser.parse_args(argv)

    if args.status:
        for name in CONFIGS:
            print(json.dumps(run_status(name)))
            print("  " + TRAIN_COMMANDS[name])
        return 0
    mnist = Path(args.mnist) if args.mnist else smnist.shared_mnist_path()
    if not mnist.exists():
        print(f"error: MNIST not found at {mnist}; pass --mnist PATH (IDX folder, .npz or mnist.pkl.gz)")
        return 2
    import torch

    from biolstm.train.trainer import best_model, train

    train_data, val_data = smnist.mnist_train_valid(mnist)
    torch.set_num_threads(1)
    if args.train:
        for name, cfg in CONFIGS.items():
            print(f"training {name} in {RUNS / name} (resumes from its checkpoint)")
            train(cfg, RUNS / name, train_data, val_data)
    status = {name: run_status(name) for name in CONFIGS}
    unfinished = [s for s in status.values() if not s["finished"]]
    if unfinished:
        for s in unfinished:
            print(f"run {s['folder']} has {s['epochs_done']} of {s['epochs']} epochs; the test set "
                  f"is read only for finished runs (resume: {TRAIN_COMMANDS[s['run']]})")
        return 1
    return _evaluate_and_write(args, mnist, train_data, val_data, status, best_model)


def _evaluate_and_write(args, mnist, train_data, val_data, status, best_model) -> int:
    import platform

    import pandas as pd
    import torch

    from biolstm.brian import evaluate as brian_evaluate
    from biolstm.loihi.emulate import simulate_loihi
    from biolstm.loihi.quantize import threshold_scale_hint
    from biolstm.workflows import smnist_eval as ev
    from biolstm.train.lstm import measure_inference_time
    from biolstm.train.snn import torch_activity
    from biolstm.train.trainer import load_checkpoint

    t0 = time.perf_counter()
    out = Path(args.out)
    full_test = smnist.load_mnist(mnist, "test")
    test = smnist.Dataset(full_test.x, full_test.y, "official MNIST test set, all 10,000 digits")
    ahp, ahp_cfg, ahp_best = best_model(RUNS / "ahp")
    lstm, lstm_cfg, lstm_best = best_model(RUNS / "lstm")
    hist = {n: load_checkpoint(RUNS / n / "checkpoint.pt")["history"] for n in CONFIGS}
    spec = ahp.to_spec(metadata={"loihi": {"volt_per_unit": threshold_scale_hint(ahp.spec)}, "training": {
        "config": dataclasses.asdict(ahp_cfg), "train_data": "official MNIST training digits 1-50,000",
        "val_data": "official MNIST training digits 50,001-60,000", "epoch": ahp_best["epoch"],
        "val_accuracy": ahp_best["val_accuracy"], "test_data": test.description,
        "script": "scripts/smnist_full_results.py"}})
    inputs = smnist.encode(test.x, spec.inputs[0].name)

    preds, rows, rates_rows, timings = {}, [], [], {}
    t = time.perf_counter()
    preds["AHP torch float32"], torch_rates = _torch_eval(ahp, test)
    timings["AHP torch float32"] = time.perf_counter() - t
    t = time.perf_counter()
    preds["LSTM torch float32"], _ = _torch_eval(lstm, test)
    timings["LSTM torch float32"] = time.perf_counter() - t
    t = time.perf_counter()
    brian = brian_evaluate(spec, inputs, args.backend)
    timings[f"AHP Brian2 float64 {args.backend}"] = time.perf_counter() - t
    preds[f"AHP Brian2 float64 {args.backend}"] = brian.predictions()
    t = time.perf_counter()
    loihi = simulate_loihi(spec, inputs, args.backend, batch_size=1000)
    timings[f"AHP Loihi-exact {args.backend}"] = time.perf_counter() - t
    preds[f"AHP Loihi-exact {args.backend}"] = loihi.predictions()
    for name, p in preds.items():
        acc = float(np.mean(p == test.y))
        rows.append({"model": name, "data": test.description, "samples": len(test), "accuracy": acc,
                     "wall_s": timings[name]})
        print(f"{name:40s} {100 * acc:6.2f} %  ({timings[name]:.0f} s)")
    for which, act in (("Brian2 float64", brian), ("Loihi-exact", loihi)):
        for r in act.rates_table().to_dict("records"):
            rates_rows.append({"simulation": which, **r})
    for pop, rate in (torch_rates or {}).items():
        rates_rows.append({"simulation": "torch float32", "population": pop,
                           "spikes_per_neuron_per_step": rate})

    per_class = pd.DataFrame({"class": range(10), "digits": np.bincount(test.y, minlength=10)})
    conf_rows = []
    for name, p in preds.items():
        cm = confusion(test.y, p)
        per_class[name] = np.diag(cm) / cm.sum(1)
        for k in range(10):
            conf_rows.append({"model": name, "true": k, **{str(j): int(cm[k, j]) for j in range(10)}})

    sub = test.subset(args.agreement_samples, 0)
    sub_inputs = smnist.encode(sub.x, spec.inputs[0].name)
    agree = ev.agreement(brian_evaluate(spec, sub_inputs, args.backend, progress=False),
                         torch_activity(spec, sub_inputs))
    agree.update({"samples": len(sub), "data": sub.description, "brian2_backend": args.backend,
                  "torch": "float64, the spec's weights"})
    print("Brian2 vs torch float64:", json.dumps(agree))

    x = torch.tensor(smnist.encode_dense(test.x[:20]), dtype=torch.float32)
    timing = measure_inference_time(lstm, x, repeats=50, threads=1)
    lstm_acc = float(np.mean(preds["LSTM torch float32"] == test.y))
    baseline = {"model": "LSTM, 128 units, torch nn.LSTM + linear readout of the last step",
                "input": "the same threshold-crossing spikes (80 channels, 840 steps)",
                "test_accuracy": lstm_acc, "test_data": test.description,
                "train_data": "official MNIST training digits 1-50,000 (validation 50,001-60,000)",
                "epoch": lstm_best["epoch"], "val_accuracy": lstm_best["val_accuracy"],
                "inference_time_s": timing, "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__, "config": dataclasses.asdict(lstm_cfg),
                "n_parameters": lstm.n_parameters(), "script": "scripts/smnist_full_results.py"}
    training = pd.concat([pd.DataFrame(hist[n]).assign(model=n) for n in CONFIGS])
    summary = {
        "accuracy": rows, "agreement": agree, "lstm_baseline": baseline,
        "runs": status, "train_commands": TRAIN_COMMANDS,
        "train_samples_per_s": {n: float(len(train_data) * len(hist[n]) / sum(h["epoch_s"] for h in hist[n]))
                                for n in CONFIGS},
        "val_last_epochs": {n: last_epochs_spread(hist[n]) for n in CONFIGS},
        "targets": {"ahp_loihi_percent": 94.5, "ahp_loihi_goal_percent": 96.0, "lstm_percent": 98.0,
                    "ahp_loihi_met": bool(np.mean(preds[f"AHP Loihi-exact {args.backend}"] == test.y) >= 0.945),
                    "lstm_met": bool(lstm_acc >= 0.98)},
        "wall_s": time.perf_counter() - t0,
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("accuracy", pd.DataFrame(rows)), ("per_class", per_class),
                        ("confusion", pd.DataFrame(conf_rows)), ("rates", pd.DataFrame(rates_rows)),
                        ("agreement", pd.DataFrame([agree])), ("training", training)):
        with atomic_writer(out / f"{name}.csv", overwrite=True, mode="w") as fh:
            frame.to_csv(fh, index=False)
    with atomic_writer(out / "summary.json", overwrite=True, mode="w") as fh:
        json.dump(summary, fh, indent=1, default=float)
    spec.save(out / "smnist_ahp.npz", overwrite=True)
    _plot(training, per_class, confusion(test.y, preds[f"AHP Loihi-exact {args.backend}"]),
          f"AHP Loihi-exact {args.backend}", out / "smnist.png")
    if args.ship:
        data_dir = REPO / "biolstm" / "data"
        shutil.copyfile(out / "smnist_ahp.npz", data_dir / ev.BUNDLED_NETWORK)
        with atomic_writer(data_dir / ev.BUNDLED_BASELINE, overwrite=True, mode="w") as fh:
            json.dump(baseline, fh, indent=1)
        print(f"shipped biolstm/data/{ev.BUNDLED_NETWORK} and biolstm/data/{ev.BUNDLED_BASELINE}")
    print(f"wrote {out}; {time.perf_counter() - t0:.0f} s")
    return 0


def _plot(training, per_class, cm: np.ndarray, cm_name: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for model, color in (("ahp", "tab:red"), ("lstm", "tab:blue")):
        h = training[training.model == model]
        axes[0].plot(h.epoch, 100 * h.train_accuracy, "--", color=color, label=f"{model} train")
        axes[0].plot(h.epoch, 100 * h.val_accuracy, "-", color=color, label=f"{model} validation")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("accuracy (%)")
    axes[0].set_title("Training on 50,000 MNIST digits")
    axes[0].legend(fontsize=8)
    cols = [c for c in per_class.columns if c not in ("class", "digits")]
    width = 0.8 / len(cols)
    for k, c in enumerate(cols):
        axes[1].bar(per_class["class"] + (k - len(cols) / 2 + 0.5) * width, 100 * per_class[c],
                    width, label=c)
    axes[1].set_ylim(80, 100)
    axes[1].set_xticks(range(10))
    axes[1].set_xlabel("digit")
    axes[1].set_ylabel("test accuracy (%)")
    axes[1].set_title("Per class, 10,000 official test digits")
    axes[1].legend(fontsize=7)
    frac = cm / cm.sum(1, keepdims=True)
    axes[2].imshow(np.log10(np.maximum(frac, 1e-4)), cmap="viridis")
    for i in range(10):
        for j in range(10):
            if cm[i, j]:
                axes[2].text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=6,
                             color="black" if i == j else "white")
    axes[2].set_xlabel("predicted")
    axes[2].set_ylabel("true")
    axes[2].set_xticks(range(10))
    axes[2].set_yticks(range(10))
    axes[2].set_title(f"Confusion ({cm_name})")
    fig.tight_layout()
    with atomic_writer(path, overwrite=True) as fh:
        fig.savefig(fh, format="png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
