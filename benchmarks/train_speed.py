"""Benchmark: training throughput (forward + backward) of the spiking networks.

Run from the repository root (the machine is shared: keep ``nice``)::

    nice -n 5 python benchmarks/train_speed.py --label current     # about 5-10 minutes
    nice -n 5 python benchmarks/train_speed.py --quick --label smoke

Writes ``results/train_speed/<label>.csv`` (one row per measurement) and
``<label>_machine.json`` (machine, load, versions, kernel build name), then rewrites
``results/train_speed/summary.md`` from every ``*.csv`` in that folder, so runs of two code
versions (e.g. before and after a kernel change) appear side by side. To measure an older
commit with this script::

    git archive COMMIT | tar -x -C OLD && cp benchmarks/train_speed.py benchmarks/throughput.py OLD/benchmarks/
    nice -n 5 python OLD/benchmarks/train_speed.py --label COMMIT --out results/train_speed

(the script puts its own checkout first on ``sys.path``, so it imports that commit's biolstm).

What is measured (each row: the median of ``--repeats`` wall times and CPU times of this
process, the load average during them, and the firing rate of the network on that batch;
``samples_per_s`` is batch / median wall time, ``samples_per_cpu_s`` batch / median CPU time,
the fairer figure for one thread on a loaded machine):

1. **sMNIST** (``section = smnist``): one training step without the optimizer, exactly the
   trainer's ``SMNISTTask.batch_loss`` (encoding of the digits, forward with the readout
   of the last 56 steps, cross entropy) plus the rate regulariser and ``backward()``, of the
   full-MNIST recipe's network (``TrainConfig(density=0.2)``: 80 input channels, 140 LIF +
   100 AHP neurons, 10 leaky readouts, 8-bit-aware forward pass, 840 steps), on the first
   ``B`` digits of the default training split, batch sizes ``--batches``. The untrained
   network fires at about 0.008 spikes/neuron/step, the trained one at the rate target 0.04;
   ``--gains`` sets ``input_gain,recurrent_gain`` of the network (default ``5,2``: about
   0.04 on these digits; ``1,1`` is the untrained recipe). ``implementation`` is ``compiled``
   (:mod:`biolstm.train.fastsnn`) or ``loop`` (the Python step loop, the reference autograd
   path); ``threads`` is ``torch.set_num_threads`` (``--threads`` for the compiled kernel,
   ``--loop-threads`` for the loop).
2. **bAbI** (``section = babi``): one training step of the spiking RelNet
   (``BabiTrainConfig`` defaults: encoders of 100 LIF + 100 AHP, 10 steps per word, batch
   256) on questions of the bundled bAbI test subset (all 20 tasks), ``BabiTask.batch_loss``
   plus the rate regulariser and ``backward()``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLUMNS = ["label", "section", "implementation", "threads", "batch", "steps", "repeats",
           "wall_median_s", "wall_min_s", "cpu_median_s", "samples_per_s", "samples_per_cpu_s",
           "spikes_per_neuron_step", "load1", "kernel", "note"]


def kernel_name() -> str:
    """The compiled kernel's build name, or why it is unavailable."""
    from biolstm.train import fastsnn

    if not fastsnn.available():
        return f"unavailable ({fastsnn._FAILED})"
    mod = fastsnn.load()
    return getattr(fastsnn, "BUILD_NAME", None) or getattr(mod, "__name__", "?")


def timed(fn, repeats: int) -> dict:
    """Median and best wall time and median CPU time (this process, all threads) of ``fn()``
    over ``repeats`` runs, after one warm-up run."""
    fn()
    walls, cpus, loads = [], [], []
    for _ in range(repeats):
        loads.append(os.getloadavg()[0])
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall_median_s": float(np.median(walls)), "wall_min_s": float(min(walls)),
            "cpu_median_s": float(np.median(cpus)), "load1": float(np.mean(loads)), "repeats": repeats}


def _measure(rows, step, rate, *, label, section, impl, threads, batch, steps, repeats, kernel, note):
    """Time ``step()`` with ``threads`` torch threads and append one row (``rate()``: its firing rate)."""
    import torch

    torch.set_num_threads(threads)
    r = timed(step, repeats if impl == "compiled" else max(1, repeats // 2))
    rows.append(dict(label=label, section=section, implementation=impl, threads=threads, batch=batch,
                     steps=steps, samples_per_s=batch / r["wall_median_s"],
                     samples_per_cpu_s=batch / r["cpu_median_s"],
                     spikes_per_neuron_step=rate(), kernel=kernel, note=note, **r))
    _print(rows[-1])


def bench_smnist(batches, threads_list, impls, repeats, gains, label, kernel, rows, loop_threads=None) -> None:
    """Section 1 (see the module docstring); appends one row per batch, implementation and thread count."""
    from biolstm.tasks import smnist
    from biolstm.train.config import TrainConfig
    from biolstm.train.trainer import SMNISTTask, build_model

    cfg = TrainConfig(model="ahp", density=0.2, batch_size=16, lr=4e-3, rate_target=0.04,
                      input_gain=gains[0], recurrent_gain=gains[1])
    model = build_model(cfg)
    train_data, _ = smnist.default_split()
    box = {}

    def step():
        model.zero_grad(set_to_none=True)
        loss, _, _, rate = SMNISTTask.batch_loss(model, train_data, idx, cfg)
        (loss + cfg.rate_reg * (rate.mean() - cfg.rate_target) ** 2).backward()
        box["rate"] = float(rate.mean().detach())

    for B in batches:
        idx = np.arange(B)
        for impl in impls:
            model.use_fast = impl == "compiled"
            for threads in (loop_threads or threads_list) if impl == "loop" else threads_list:
                _measure(rows, step, lambda: box["rate"], label=label, section="smnist", impl=impl,
                         threads=threads, batch=B, steps=smnist.N_STEPS, repeats=repeats,
                         kernel=kernel, note=f"gains {gains[0]:g},{gains[1]:g}")


def bench_babi(threads_list, impls, repeats, batch, label, kernel, rows, loop_threads=None) -> None:
    """Section 2 (see the module docstring)."""
    from biolstm.tasks import babi
    from biolstm.train.babi_trainer import BabiTask
    from biolstm.train.config import BabiTrainConfig

    data = babi.load_babi(babi.bundled_babi_dir(), parts=("test",))["test"]
    cfg = BabiTrainConfig(n_words=data.vocab.size, n_answers=len(data.vocab.answers), batch_size=batch)
    model = BabiTask.build_model(cfg)
    idx = np.sort(np.random.default_rng(0).permutation(len(data))[:batch])
    box = {}

    def step():
        model.zero_grad(set_to_none=True)
        loss, _, _, rate = BabiTask.batch_loss(model, data, idx, cfg)
        (loss + cfg.rate_reg * (rate.mean() - cfg.rate_target) ** 2).backward()
        box["rate"] = float(rate.detach())

    for impl in impls:
        model.sentence.use_fast = model.question.use_fast = impl == "compiled"
        for threads in (loop_threads or threads_list) if impl == "loop" else threads_list:
            _measure(rows, step, lambda: box["rate"], label=label, section="babi", impl=impl,
                     threads=threads, batch=batch, steps=int(data.stories.shape[2]) * cfg.steps_per_word,
                     repeats=repeats, kernel=kernel,
                     note="bundled bAbI test subset, 20 tasks; rate in the code windows")


def _print(r: dict) -> None:
    print(f"  {r['label']:<10} {r['section']:<6} {r['implementation']:<8} threads {r['threads']} "
          f"batch {r['batch']:>4}: {r['samples_per_s']:8.1f} samples/s, {r['samples_per_cpu_s']:8.1f} per CPU-s "
          f"(median {r['wall_median_s']:.3f} s of {r['repeats']}, load {r['load1']:.1f}, "
          f"rate {r['spikes_per_neuron_step']:.4f})", flush=True)


def version_of(label: str) -> str:
    """The code version a run label names: the label without a trailing ``_run<N>``."""
    import re

    return re.sub(r"_run\d+$", "", label)


def summary(folder: Path, baseline: str | None = None) -> str:
    """Markdown tables of every run in ``folder``: each run's samples/s, then per version
    (runs ``VERSION_run1``, ``VERSION_run2``, ...) the median over its runs and, with
    ``baseline``, each version's speed-up over that version."""
    import pandas as pd

    frames = [pd.read_csv(p) for p in sorted(folder.glob("*.csv"))]
    if not frames:
        return ""
    df = pd.concat(frames, ignore_index=True)
    labels = list(dict.fromkeys(df["label"]))
    keys = ["section", "implementation", "threads", "batch"]
    lines = ["# Training throughput (forward + backward)", "",
             "Samples per second of wall time, per CPU-second of the process, medians of the "
             "repeats, and the load average, by run label (`benchmarks/train_speed.py --label "
             "LABEL`; the command, machine and load of each run are in `LABEL_machine.json`, every "
             "row with its firing rate and kernel build in `LABEL.csv`).", "",
             "| " + " | ".join(keys) + " | " + " | ".join(f"{lab}: samples/s, per CPU-s (load)" for lab in labels)
             + " |",
             "|" + "---|" * (len(keys) + len(labels))]
    for key, grp in df.groupby(keys, sort=True):
        cells = []
        for lab in labels:
            sub = grp[grp["label"] == lab]
            cells.append(f"{sub['samples_per_s'].iloc[-1]:.1f}, {sub['samples_per_cpu_s'].iloc[-1]:.1f} "
                         f"({sub['load1'].iloc[-1]:.1f})" if len(sub) else "-")
        lines.append("| " + " | ".join(str(k) for k in key) + " | " + " | ".join(cells) + " |")
    df["version"] = [version_of(lab) for lab in df["label"]]
    versions = list(dict.fromkeys(df["version"]))
    med = df.groupby(keys + ["version"])[["samples_per_s", "samples_per_cpu_s"]].median()
    others = [v for v in versions if v != baseline] if baseline in versions else []
    lines += ["", "## Per version: median over its runs" + (f", and the speed-up over {baseline}" if others else ""),
              "", "| " + " | ".join(keys) + " | "
              + " | ".join(f"{v}: samples/s, per CPU-s" for v in versions)
              + "".join(f" | {v} / {baseline}: wall, CPU" for v in others) + " |",
              "|" + "---|" * (len(keys) + len(versions) + len(others))]
    for key, _ in df.groupby(keys, sort=True):
        cells = []
        for v in versions:
            r = med.loc[key + (v,)] if key + (v,) in med.index else None
            cells.append("-" if r is None else f"{r['samples_per_s']:.1f}, {r['samples_per_cpu_s']:.1f}")
        for v in others:
            if key + (v,) in med.index and key + (baseline,) in med.index:
                r, b0 = med.loc[key + (v,)], med.loc[key + (baseline,)]
                cells.append(f"{r['samples_per_s'] / b0['samples_per_s']:.2f}x, "
                             f"{r['samples_per_cpu_s'] / b0['samples_per_cpu_s']:.2f}x")
            else:
                cells.append("-")
        lines.append("| " + " | ".join(str(k) for k in key) + " | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", help="name of this run (file name and table column); VERSION_runN for "
                                        "repeated runs of one code version")
    parser.add_argument("--baseline", help="version whose speed the summary compares the others with")
    parser.add_argument("--summary-only", action="store_true",
                        help="measure nothing; rewrite summary.md from the runs in --out")
    parser.add_argument("--out", default=str(ROOT / "results" / "train_speed"), help="output folder")
    parser.add_argument("--batches", default="8,16,32,64", help="sMNIST batch sizes")
    parser.add_argument("--threads", default="1,2", help="torch threads to measure (compiled kernel)")
    parser.add_argument("--loop-threads", default="1",
                        help="torch threads for the step loop (on a busy machine its 2-thread steps take minutes)")
    parser.add_argument("--impls", default="compiled,loop", help="compiled and/or loop")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--gains", default="5,2", help="sMNIST input_gain,recurrent_gain")
    parser.add_argument("--babi-batch", type=int, default=256, help="bAbI batch size (0: skip bAbI)")
    parser.add_argument("--quick", action="store_true", help="batch 8 only, 1 thread, 2 repeats")
    args = parser.parse_args(argv)

    from benchmarks.throughput import machine_info
    from biolstm.fileio import atomic_write_text

    out = Path(args.out)
    if args.summary_only:
        text = summary(out, args.baseline)
        atomic_write_text(out / "summary.md", text, overwrite=True)
        print(text)
        return 0
    if not args.label:
        parser.error("--label is required unless --summary-only")

    batches = [int(b) for b in args.batches.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    impls = [i.strip() for i in args.impls.split(",")]
    gains = tuple(float(g) for g in args.gains.split(","))
    if args.quick:
        batches, threads, args.repeats, args.babi_batch = [8], [1], 2, 32
    machine = machine_info()
    machine["command"] = "python benchmarks/train_speed.py " + " ".join(sys.argv[1:] if argv is None else argv)
    kernel = kernel_name()
    machine["kernel"] = kernel
    print(f"{machine['cpu']} x{machine['cores']}, load {machine['load_start'][0]:.1f}, kernel {kernel}",
          flush=True)
    rows: list[dict] = []
    loop_threads = [int(t) for t in args.loop_threads.split(",")]
    bench_smnist(batches, threads, impls, args.repeats, gains, args.label, kernel, rows, loop_threads)
    if args.babi_batch:
        bench_babi(threads, impls, args.repeats, args.babi_batch, args.label, kernel, rows, loop_threads)
    machine["load_end"] = os.getloadavg()
    machine["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{args.label}.csv",
                      pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False, float_format="%.6g"),
                      overwrite=True)
    atomic_write_text(out / f"{args.label}_machine.json", json.dumps(machine, indent=1, default=str),
                      overwrite=True)
    text = summary(out, args.baseline)
    atomic_write_text(out / "summary.md", text, overwrite=True)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
