"""Benchmark: quantize, place and check a NetworkSpec of 1 million neurons and 100 million synapses.

The network: ``--populations`` populations of equal size (every third one AHP, the rest
LIF), each with a recurrent projection (mixed signs, stored as two formats) and a
feed-forward projection to the next population. Every neuron has
``--fanout`` targets, half in each projection, drawn without repetition from a window of
``--window`` neurons around its own index (local connectivity, as a cortical sheet or a
layered network laid out in order would have). A 1000-channel input group drives the
first population. The CSR matrices are built directly (sorted, distinct indices by
construction), so generating 1e8 synapses is itself fast.

Measured: seconds for ``check(spec)`` (quantize + place + per-core checks) and the
process's peak resident memory. Output: ``results/loihi_mapping_benchmark.json`` and a
line in ``results/loihi_mapping_benchmark.md``.

Run (on a shared machine, politely)::

    nice -n 10 python benchmarks/loihi_mapping.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def current_rss_gb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e9


def local_csr(n_pre: int, n_post: int, per_row: int, window: int, rng, mixed: bool) -> scipy.sparse.csr_matrix:
    """``per_row`` distinct, sorted targets per row inside a window around the row's position.

    Target k of row i is ``start(i) + k*stride + jitter`` with jitter in ``[0, stride)``,
    so indices are increasing and distinct without any sort.
    """
    stride = window // per_row
    centre = (np.arange(n_pre, dtype=np.int64) * n_post) // n_pre
    start = np.clip(centre - window // 2, 0, n_post - window).astype(np.int32)
    indices = np.empty(n_pre * per_row, dtype=np.int32)
    rows_per_chunk = max(1, (1 << 22) // per_row)
    offsets = (np.arange(per_row, dtype=np.int32) * stride)[None, :]
    for a in range(0, n_pre, rows_per_chunk):
        b = min(a + rows_per_chunk, n_pre)
        jitter = rng.integers(0, stride, size=(b - a, per_row), dtype=np.int32)
        indices[a * per_row:b * per_row] = (start[a:b, None] + offsets + jitter).ravel()
    data = rng.random(n_pre * per_row, dtype=np.float64)
    data *= 0.8
    data += 0.2
    if mixed:
        data[rng.random(len(data)) < 0.2] *= -1
    indptr = np.arange(0, n_pre * per_row + 1, per_row, dtype=np.int64)
    m = scipy.sparse.csr_matrix((data, indices, indptr), shape=(n_pre, n_post))
    m.has_sorted_indices = True
    return m


def build_spec(n_neurons: int, n_pops: int, fanout: int, window: int, seed: int):
    from brian2 import mV

    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection

    rng = np.random.default_rng(seed)
    size = n_neurons // n_pops
    pops = [Population(f"p{k}", size, "ahp" if k % 3 == 2 else "lif") for k in range(n_pops)]
    projections = []
    half = fanout // 2
    for k in range(n_pops):
        projections.append(Projection(f"rec{k}", f"p{k}", f"p{k}", local_csr(size, size, half, window, rng, True),
                                      weight_unit=mV))
        nxt = (k + 1) % n_pops
        projections.append(Projection(f"ff{k}", f"p{k}", f"p{nxt}", local_csr(size, size, fanout - half, window,
                                                                               rng, False), weight_unit=mV))
    projections.append(Projection("in", "x", "p0", local_csr(1000, size, 100, 4000, rng, False), weight_unit=mV))
    return NetworkSpec(pops, projections, [InputGroup("x", 1000)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neurons", type=int, default=1_000_000)
    p.add_argument("--populations", type=int, default=10)
    p.add_argument("--fanout", type=int, default=100, help="synapses per neuron (default 100 -> 1e8 synapses)")
    p.add_argument("--window", type=int, default=256, help="targets are drawn from this many neighbours")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "results" / "loihi_mapping_benchmark.json"))
    a = p.parse_args(argv)

    from biolstm.fileio import atomic_write_text
    from biolstm.loihi.check import check

    t0 = time.perf_counter()
    spec = build_spec(a.neurons, a.populations, a.fanout, a.window, a.seed)
    t_build = time.perf_counter() - t0
    rss_spec = current_rss_gb()
    print(f"built: {spec.n_neurons} neurons, {spec.n_synapses} synapses in {t_build:.1f} s; "
          f"RSS {rss_spec:.2f} GB", flush=True)
    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    report = check(spec)
    t_check = time.perf_counter() - t0
    cpu_check = time.process_time() - c0
    peak = peak_rss_gb()
    load_after = os.getloadavg()
    pl = report.placement
    print(report.to_text(max_cores=5).split("\nPopulations")[0])
    result = {
        "benchmark": "quantize + place + check (biolstm.loihi.check.check) of a NetworkSpec",
        "neurons": spec.n_neurons,
        "synapses": spec.n_synapses,
        "populations": a.populations,
        "fanout": a.fanout,
        "window": a.window,
        "build_spec_s": round(t_build, 2),
        "check_s": round(t_check, 2),
        "check_cpu_s": round(cpu_check, 2),
        "quantize_s": round(report.timings.get("quantize_s", float("nan")), 2),
        "place_s": round(report.timings.get("place_s", float("nan")), 2),
        "peak_rss_gb": round(peak, 3),
        "rss_after_build_gb": round(rss_spec, 3),
        "fits": report.ok,
        "status": report.status,
        "cores": pl.n_cores,
        "chips": pl.n_chips,
        "placement_iterations": pl.iterations,
        "violations": len(report.errors),
        "load_average_before_after": [round(x, 2) for x in load_before + load_after],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}, numpy {np.__version__}",
        "command": "nice -n 10 python benchmarks/loihi_mapping.py " + " ".join(argv or sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    print(json.dumps(result, indent=2))
    out = Path(a.out)
    atomic_write_text(out, json.dumps(result, indent=2) + "\n", overwrite=True)
    md = out.with_suffix(".md")
    line = (f"| {result['date']} | {result['neurons']:,} | {result['synapses']:,} | window {a.window} | "
            f"{result['check_s']} s (quantize {result['quantize_s']} s, place {result['place_s']} s; "
            f"CPU {result['check_cpu_s']} s) | {result['peak_rss_gb']} GB | "
            f"{result['cores']} cores / {result['chips']} chips | load {result['load_average_before_after'][0]} |\n")
    header = ("# Loihi mapping benchmark (benchmarks/loihi_mapping.py)\n\n"
              "Wall time of `check(spec)` (quantize + place + per-core checks), its CPU time, and the\n"
              "process's peak resident memory, on the shared 2-core machine (load average at the start).\n\n"
              "| date | neurons | synapses | connectivity | check time | peak RSS | result | load avg |\n"
              "|---|---|---|---|---|---|---|---|\n")
    previous = md.read_text() if md.exists() else header
    atomic_write_text(md, previous + line, overwrite=True)
    print(f"wrote {out} and {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
