"""Speed of the Loihi mode on the sMNIST-size network (240 neurons, 840 steps per sample).

Runs the paper's network (:func:`biolstm.loihi.paper.paper_network`, random integer
weights of the published shapes) on every available CPU backend for several batch sizes and
writes ``results/loihi_mode/speed.csv`` and ``speed.png``. Samples per second are given two ways:

* ``end_to_end``: wall time of :func:`simulate_quantized`, from building the Brian2 objects
  to the returned Activity, including code generation and C++ compilation;
* ``simulation``: only the simulation loop (Brian2's ``run`` on runtime backends, the compiled
  binary on ``cpp_standalone``).

For ``cpp_standalone`` a ``cold`` run compiles in a fresh folder; a ``warm`` run reuses the
project folder of a previous batch of the same size with other input spikes, so ``make``
only rebuilds the two files that hold array sizes (what a user evaluating batch after batch,
e.g. with ``simulate_quantized(..., batch_size=...)``, gets).

Input: Bernoulli spikes with probability ``--p-input`` per step on ports 2-78 (the
threshold-crossing ports; 0 and 1 are unused in the paper) and the output cue on port 79 in
the last 56 steps. Usage::

    PYTHONPATH=. python benchmarks/loihi_mode_speed.py            # full table (several minutes)
    PYTHONPATH=. python benchmarks/loihi_mode_speed.py --quick    # smaller batches
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from biolstm.brian.backends import backend_status
from biolstm.loihi.emulate import simulate_quantized
from biolstm.examples import random_paper_weights
from biolstm.loihi.paper import PAPER, paper_network
from biolstm.encoding import SpikeTrains
from biolstm.fileio import atomic_write_text, atomic_writer

TARGET = 20.0  # samples per second (issue 5)


def smnist_like_inputs(n_samples: int, p_input: float, seed: int) -> SpikeTrains:
    rng = np.random.default_rng(seed)
    T = PAPER["steps_per_sample"]
    dense = np.zeros((n_samples, T, PAPER["n_inputs"]), bool)
    dense[:, :784, 2:79] = rng.random((n_samples, 784, 77)) < p_input
    dense[:, 784:, 79] = True
    return SpikeTrains.from_dense({"inp": dense})


def measure(qnet, backend: str, n_samples: int, p_input: float, directory: str | None, label: str,
            seed: int = 0) -> dict:
    trains = smnist_like_inputs(n_samples, p_input, seed=seed)
    t0 = time.perf_counter()
    act = simulate_quantized(qnet, trains, backend, progress=False, directory=directory)
    wall = time.perf_counter() - t0
    sim = act.timings.get("run_s", float("nan"))
    return {
        "backend": backend,
        "compile": label,
        "samples": n_samples,
        "steps_per_sample": trains.n_steps,
        "wall_s": round(wall, 3),
        "simulation_s": round(sim, 3),
        "compile_s": round(act.timings.get("compile_s", 0.0), 3),
        "collect_s": round(act.timings.get("collect_s", 0.0), 3),
        "end_to_end_samples_per_s": round(n_samples / wall, 2),
        "simulation_samples_per_s": round(n_samples / sim, 2) if sim == sim and sim > 0 else float("nan"),
        "us_per_step": round(1e6 * sim / (n_samples * trains.n_steps), 2) if sim == sim else float("nan"),
        "spikes_per_neuron_per_step": round(act.total_spikes() / (240 * n_samples * trains.n_steps), 4),
        "input_spikes_per_step": round(float(trains.counts_per_step("inp").mean()), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches")
    parser.add_argument("--p-input", type=float, default=0.04, help="input spike probability per port and step")
    parser.add_argument("--out", default="results/loihi_mode", help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier results")
    args = parser.parse_args()

    import pandas as pd
    from tqdm import tqdm

    qnet = paper_network(*random_paper_weights(seed=0))
    plan = {
        "numpy": [4, 16] if args.quick else [4, 16, 48],
        "cython": [4, 16] if args.quick else [4, 16, 48, 200],
        "cpp_standalone": [16, 100] if args.quick else [16, 100, 300, 1000, 2000],
    }
    rows = []
    jobs = [(b, n) for b, sizes in plan.items() for n in sizes if backend_status(b).available]
    for backend in plan:
        if not backend_status(backend).available:
            print(f"skipping {backend}: {backend_status(backend).reason}")
    warm_dir = tempfile.mkdtemp(prefix="biolstm_loihi_speed_")
    try:
        for backend, n in tqdm(jobs, desc="loihi-mode speed"):
            if backend == "cpp_standalone":
                cold = tempfile.mkdtemp(prefix="biolstm_loihi_cold_")
                rows.append(measure(qnet, backend, n, args.p_input, cold, "cold"))
                shutil.rmtree(cold, ignore_errors=True)
                # prime the folder with another batch of the same size (different spikes), then measure
                measure(qnet, backend, n, args.p_input, warm_dir, "warm", seed=n + 1)
                rows.append(measure(qnet, backend, n, args.p_input, warm_dir, "warm"))
            else:
                rows.append(measure(qnet, backend, n, args.p_input, None, "runtime"))
            tqdm.write(str(rows[-1]))
    finally:
        shutil.rmtree(warm_dir, ignore_errors=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "speed.csv", overwrite=args.overwrite, mode="w") as fh:
        table.to_csv(fh, index=False)
    note = (f"# Loihi-mode speed, sMNIST-size network (240 neurons, 840 steps/sample)\n"
            f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}; "
            f"load average at end {getattr(__import__('os'), 'getloadavg', lambda: ('?',))()[0]}\n")
    atomic_write_text(out / "speed_notes.txt", note, overwrite=args.overwrite)
    _plot(table, out / "speed.png", args.overwrite)
    print(table.to_string(index=False))
    best = table["end_to_end_samples_per_s"].max()
    print(f"best end-to-end: {best:.1f} samples/s (target {TARGET:.0f})")
    return 0


def _plot(table, path: Path, overwrite: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, col, title in ((axes[0], "end_to_end_samples_per_s", "end to end (incl. build/compile)"),
                           (axes[1], "simulation_samples_per_s", "simulation loop only")):
        for (backend, mode), grp in table.groupby(["backend", "compile"]):
            ax.plot(grp["samples"], grp[col], "o-", label=f"{backend} ({mode})")
        ax.axhline(TARGET, color="k", ls="--", lw=1, label=f"target {TARGET:.0f}/s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("samples per run")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("samples per second")
    axes[1].legend(fontsize=8)
    fig.suptitle("Loihi mode, sMNIST-size network (240 neurons, 840 steps per sample)")
    fig.tight_layout()
    with atomic_writer(path, overwrite=overwrite) as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
