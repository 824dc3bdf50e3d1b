"""Benchmark: training throughput (forward + backward) of the spiking networks.

Run from the repository root (the machine is shared: keep ``nice``)::

    nice -n 5 python benchmarks/train_speed.py --label current     # about 5-10 minutes
    nice -n 5 python benchmarks/train_speed.py --quick --label smoke
    nice -n 5 python benchmarks/train_speed.py --ab OLD --label ab_run1   # kernel A/B, OLD: see below

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
3. **Kernel A/B** (``--ab OLD_CHECKOUT``, only this section; ``section = smnist_ab`` and
   ``babi_encoder_ab``): this checkout's compiled kernel (``kernel_new``) and the one of
   another checkout (``kernel_old``, its ``biolstm/train/fastsnn.py`` loaded as a separate
   module), one forward + backward each, alternately, 1 thread, so that both see the same
   load: the sMNIST network as in 1 with the trainer's loss on the readout tail and the rate
   regulariser, and the bAbI sentence encoder (100 LIF + 100 AHP, 145 word channels) on the
   distinct sentences of one 256-question batch with a loss on its spike counts. The weights
   are placed and the inputs encoded by this checkout's code for both. ``summary.md`` gives
   the ratio per run and the median over runs.
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


def _old_kernel(old_root: str):
    """The ``biolstm.train.fastsnn`` module of another checkout, loaded as a separate module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fastsnn_old", Path(old_root) / "biolstm" / "train" / "fastsnn.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not mod.available():
        raise SystemExit(f"the kernel of {old_root} is unavailable: {mod._FAILED}")
    return mod


def bench_ab(old_root, batches, repeats, label, rows) -> None:
    """Section 3: this checkout's compiled kernel against another checkout's, alternately."""
    import torch

    from biolstm.tasks import babi, smnist
    from biolstm.tasks.babi_network import encoder_network, word_spikes
    from biolstm.train import fastsnn
    from biolstm.train.config import BabiTrainConfig, TrainConfig
    from biolstm.train.snn import TorchNetwork
    from biolstm.train.trainer import build_model

    old = _old_kernel(old_root)
    kernels = {"kernel_old": (old, getattr(old, "N_PARAMS", 16), old.load().__name__),
               "kernel_new": (fastsnn, fastsnn.N_PARAMS, fastsnn.BUILD_NAME)}
    torch.set_num_threads(1)

    def ab(section, net, x, B, loss_of, tail_steps, count_from, note):
        pre2post = torch.cat([torch.arange(net.post_slices[n].start, net.post_slices[n].stop)
                              for n in net.pre_slices])
        ro = net.spec.readout
        ro_idx = (torch.arange(net.post_slices[ro.population].start, net.post_slices[ro.population].stop)
                  if ro is not None else torch.zeros(0, dtype=torch.int64))
        params = net._fast_params(torch.float32, torch.device("cpu"))
        xu = x.to(torch.uint8)
        box = {}

        def step(name):
            mod, n_params, _ = kernels[name]
            net.zero_grad(set_to_none=True)
            w_in, w_rec = net._big_matrices()
            tail, counts, _ = mod.FastSequence.apply(xu, w_in, w_rec, params[:n_params], pre2post, ro_idx,
                                                     tail_steps, net.gamma, count_from)
            loss, rate = loss_of(tail, counts)
            loss.backward()
            box[name] = rate

        times = {name: ([], []) for name in kernels}
        loads = []
        for name in kernels:
            step(name)  # warm-up
        for _ in range(repeats):
            loads.append(os.getloadavg()[0])
            for name in kernels:  # alternately, so both see the same load
                c0, t0 = time.process_time(), time.perf_counter()
                step(name)
                times[name][0].append(time.perf_counter() - t0)
                times[name][1].append(time.process_time() - c0)
        for name, (walls, cpus) in times.items():
            r = {"wall_median_s": float(np.median(walls)), "wall_min_s": float(min(walls)),
                 "cpu_median_s": float(np.median(cpus)), "load1": float(np.mean(loads)), "repeats": repeats}
            rows.append(dict(label=label, section=section, implementation=name, threads=1, batch=B,
                             steps=x.shape[1], samples_per_s=B / r["wall_median_s"],
                             samples_per_cpu_s=B / r["cpu_median_s"], spikes_per_neuron_step=box[name],
                             kernel=kernels[name][2], note=note, **r))
            _print(rows[-1])

    cfg = TrainConfig(model="ahp", density=0.2, rate_target=0.04, input_gain=5.0, recurrent_gain=2.0)
    model = build_model(cfg)
    train_data, _ = smnist.default_split()
    for B in batches:
        x = torch.tensor(smnist.encode_dense(train_data.x[:B]), dtype=torch.float32)
        y = torch.tensor(train_data.y[:B])

        def smnist_loss(tail, counts, y=y, T=x.shape[1]):
            K = tail.shape[1]
            rate = counts.mean(0) / T
            loss = torch.nn.functional.cross_entropy(tail.reshape(-1, tail.shape[-1]), y.repeat_interleave(K))
            return loss + cfg.rate_reg * (rate.mean() - cfg.rate_target) ** 2, float(rate.mean().detach())

        ab("smnist_ab", model, x, B, smnist_loss, cfg.loss_steps, 0,
           "kernel only: trainer's loss on the readout tail and the rate, alternately with the other kernel")
    data = babi.load_babi(babi.bundled_babi_dir(), parts=("test",))["test"]
    bcfg = BabiTrainConfig(n_words=data.vocab.size, n_answers=len(data.vocab.answers))
    idx = np.sort(np.random.default_rng(0).permutation(len(data))[:256])
    st = data.stories[idx].reshape(-1, data.stories.shape[-1])
    uniq = np.unique(st[st.sum(1) > 0], axis=0)
    torch.manual_seed(0)
    enc = TorchNetwork(encoder_network(data.vocab.size, bcfg.n_regular, bcfg.n_adaptive, density=bcfg.density,
                                       seed=0), quantize=True, gamma=bcfg.gamma)
    xb = torch.from_numpy(word_spikes(uniq, data.vocab.size, bcfg.steps_per_word)).float()
    proj = torch.linspace(-1, 1, enc.n_pre)

    def babi_loss(tail, counts):
        rate = counts.mean() / bcfg.code_steps
        return (counts * proj).mean() + bcfg.rate_reg * (rate - bcfg.rate_target) ** 2, float(rate.detach())

    ab("babi_encoder_ab", enc, xb, len(uniq), babi_loss, 1, xb.shape[1] - bcfg.code_steps,
       f"sentence encoder on the {len(uniq)} distinct sentences of a 256-question batch (bundled test subset)")


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
    ab = df[df["section"].str.endswith("_ab")]
    if len(ab):
        ab_labels = list(dict.fromkeys(ab["label"]))
        lines += ["", "## Section 3 (`--ab OLD_CHECKOUT`): kernel_new / kernel_old, measured alternately", "",
                  "Speed-up of this checkout's kernel over the other's in wall time and in CPU time, per run "
                  "and the median over the runs.", "",
                  "| section | batch | " + " | ".join(ab_labels) + " | median: wall, CPU |",
                  "|" + "---|" * (3 + len(ab_labels))]
        for (section, batch), grp in ab.groupby(["section", "batch"], sort=True):
            cells, wall, cpu = [], [], []
            for lab in ab_labels:
                g = grp[grp["label"] == lab].set_index("implementation")
                if {"kernel_old", "kernel_new"} <= set(g.index):
                    wall.append(g.loc["kernel_new", "samples_per_s"] / g.loc["kernel_old", "samples_per_s"])
                    cpu.append(g.loc["kernel_new", "samples_per_cpu_s"] / g.loc["kernel_old", "samples_per_cpu_s"])
                    cells.append(f"{wall[-1]:.2f}x, {cpu[-1]:.2f}x")
                else:
                    cells.append("-")
            med_cell = f"{np.median(wall):.2f}x, {np.median(cpu):.2f}x" if wall else "-"
            lines.append(f"| {section} | {batch} | " + " | ".join(cells) + f" | {med_cell} |")
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
    parser.add_argument("--ab", metavar="OLD_CHECKOUT",
                        help="only section 3: this kernel against OLD_CHECKOUT's, step by step alternately")
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
    argv_used = list(sys.argv[1:] if argv is None else argv)
    if args.ab:  # the old checkout is a folder of this machine: recorded as OLD
        argv_used = ["OLD" if a == args.ab else a.replace(args.ab, "OLD") for a in argv_used]
    machine["command"] = "python benchmarks/train_speed.py " + " ".join(argv_used)
    kernel = kernel_name()
    machine["kernel"] = kernel
    print(f"{machine['cpu']} x{machine['cores']}, load {machine['load_start'][0]:.1f}, kernel {kernel}",
          flush=True)
    rows: list[dict] = []
    if args.ab:
        bench_ab(args.ab, batches, args.repeats, args.label, rows)
    else:
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
