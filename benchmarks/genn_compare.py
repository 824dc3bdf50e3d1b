"""genn (brian2genn + GeNN's CPU backend) against cpp_standalone and cython on the sMNIST network.

Needs the GeNN environment (``make genn``). Runs the bundled sMNIST network (the one
``biolstm eval smnist`` uses) on ``--samples`` test digits of the default test split and
the Loihi-exact integer network quantized from it (:mod:`biolstm.loihi.emulate`):

* float network: biolstm's own runner on ``cpp_standalone`` and ``cython`` (the
  references, main environment), the genn runner's description on ``genn`` (GeNN's
  CPU backend, separate environment) and the same description on ``cpp_standalone`` in
  the main environment (the same arithmetic as GeNN's model code);
* integer network: :func:`~biolstm.loihi.emulate.simulate_quantized` on
  ``cpp_standalone`` against :func:`biolstm.loihi.emulate.run_genn` on ``genn``.

For each: build time (code generation + compilation), the program's run time, samples
per second, accuracy, and the agreement of spikes and predictions
(:func:`biolstm.brian.compare_activities`). Writes ``results/genn/genn_compare.json`` and
``genn_compare.md``::

    make genn
    nice python benchmarks/genn_compare.py --samples 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _cython(spec, inputs, cache: Path):
    """biolstm's runner on cython with an empty extension cache (cold: compiles everything)."""
    import brian2 as b2

    from biolstm.brian import simulate

    saved = b2.prefs["codegen.runtime.cython.cache_dir"]
    b2.prefs["codegen.runtime.cython.cache_dir"] = str(cache)
    try:
        t0 = time.perf_counter()
        act = simulate(spec, inputs, "cython", progress=False)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        simulate(spec, inputs, "cython", progress=False)
        warm = time.perf_counter() - t0
    finally:
        b2.prefs["codegen.runtime.cython.cache_dir"] = saved
    # the compilation happens inside run(): build = cold - warm (a second, cached run)
    return act, {"build_s": cold - warm, "run_s": warm, "wall_s": cold}


def portable_details(details: dict) -> dict:
    """``biolstm backends``' genn details without this machine's paths (folder names only)."""
    out = dict(details)
    for key in ("environment", "genn_path"):
        if key in out:
            out[key] = Path(str(out[key])).name
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="test digits (840 steps each)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the digit subset")
    parser.add_argument("--skip-cython", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "results" / "genn"))
    args = parser.parse_args(argv)

    import numpy as np

    from biolstm.brian import compare_activities, genn, simulate
    from biolstm.brian.backends import backend_status
    from biolstm.fileio import atomic_write_text
    from biolstm.loihi.emulate import run_genn, simulate_quantized
    from biolstm.loihi.quantize import quantize
    from biolstm.tasks import smnist, smnist_eval as ev

    status = backend_status("genn")
    if not status.available:
        print(f"genn is not available: {status.reason}. Fix: {status.fix}")
        return 2
    spec = ev.load_weights(None)
    data = ev.test_data("default", args.samples, args.seed)
    inputs = smnist.encode(data.x, ev.check_smnist_spec(spec))
    S = inputs.n_samples
    work = Path(tempfile.mkdtemp(prefix="biolstm_genn_compare_"))
    load_start = os.getloadavg()
    rows, runs = [], {}

    def record(key, label, act, build_s, run_s, wall_s):
        acc = float(np.mean(act.predictions() == data.y))
        runs[key] = act
        rows.append({"key": key, "arm": label, "build_s": build_s, "run_s": run_s, "wall_s": wall_s,
                     "samples_per_s_run": S / run_s if run_s else float("nan"),
                     "samples_per_s_wall": S / wall_s, "spikes": act.total_spikes(), "accuracy": acc})
        print(f"{label}: build {build_s:.1f} s, run {run_s:.2f} s, wall {wall_s:.1f} s, "
              f"{act.total_spikes()} spikes, accuracy {100 * acc:.1f} %", flush=True)

    try:
        t0 = time.perf_counter()
        act = simulate(spec, inputs, "cpp_standalone", progress=False, directory=str(work / "cpp"))
        t = act.timings
        record("cpp", "cpp_standalone (biolstm runner, brian2 main env)", act,
               t.get("codegen_s", 0.0) + t.get("compile_s", 0.0), t["run_s"], time.perf_counter() - t0)
        if not args.skip_cython:
            act, t = _cython(spec, inputs, work / "cython_cache")
            record("cython", "cython (biolstm runner, cold cache)", act, t["build_s"], t["run_s"], t["wall_s"])
        for key, device, label in (("genn", "genn", "genn, CPU backend (genn runner, brian2 2.5.4 + brian2genn)"),
                                   ("runner_cpp", "cpp_standalone",
                                    "cpp_standalone (genn runner's description, main env)")):
            t0 = time.perf_counter()
            act = genn.run_spec(spec, inputs, device=device, directory=work / key)
            record(key, label, act, act.timings["build_s"], act.timings["run_s"], time.perf_counter() - t0)
        qnet = quantize(spec)
        t0 = time.perf_counter()
        act = simulate_quantized(qnet, inputs, "cpp_standalone", progress=False, directory=str(work / "lcpp"))
        t = act.timings
        record("loihi_cpp", "Loihi-exact integers, cpp_standalone (loihi_mode)", act,
               t.get("codegen_s", 0.0) + t.get("compile_s", 0.0), t["run_s"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        act = run_genn(qnet, inputs, device="genn", directory=work / "lgenn")
        record("loihi_genn", "Loihi-exact integers, genn CPU backend (genn runner)", act,
               act.timings["build_s"], act.timings["run_s"], time.perf_counter() - t0)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    comparisons = {
        "genn_vs_cpp_standalone": compare_activities(runs["cpp"], runs["genn"]),
        "genn_vs_same_description_on_cpp_standalone": compare_activities(runs["runner_cpp"], runs["genn"]),
        "same_description_on_cpp_standalone_vs_cpp_standalone": compare_activities(runs["cpp"], runs["runner_cpp"]),
        "loihi_genn_vs_loihi_cpp_standalone": compare_activities(runs["loihi_cpp"], runs["loihi_genn"]),
    }
    if "cython" in runs:
        comparisons["cython_vs_cpp_standalone"] = compare_activities(runs["cpp"], runs["cython"])
    report = {
        "network": "bundled sMNIST network (biolstm/data/smnist_ahp.npz: 140 LIF + 100 AHP + 10 readout, "
                   f"{spec.n_synapses} synapses)",
        "data": f"{S} digits of the default test split ({data.description}), seed {args.seed}, 840 steps each",
        "genn_environment": portable_details(status.details),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_start": load_start,
                    "load_end": os.getloadavg()},
        "command": f"python benchmarks/genn_compare.py --samples {args.samples} --seed {args.seed}",
        "rows": rows, "comparisons": comparisons,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "genn_compare.json", json.dumps(report, indent=1, default=float), overwrite=True)
    lines = [f"# genn (GeNN CPU backend) next to cpp_standalone and cython: {S} sMNIST test digits", "",
             f"`{report['command']}`; {report['data']}; {os.cpu_count()} CPUs, load average "
             f"{load_start[0]:.1f} at the start (shared machine: read ratios). Build = code generation + "
             f"compilation; run = the compiled program (cython: a second run with the cache warm).", "",
             "| arm | build s | run s | samples/s (run) | samples/s (build + run) | spikes | accuracy |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['arm']} | {r['build_s']:.1f} | {r['run_s']:.2f} | {r['samples_per_s_run']:.1f} | "
                     f"{r['samples_per_s_wall']:.2f} | {r['spikes']} | {100 * r['accuracy']:.1f} % |")
    lines += ["", "| comparison | identical | spikes matching | samples with identical spikes | "
              "predictions agreeing | readout max abs diff |", "|---|---|---|---|---|---|"]
    for name, c in comparisons.items():
        lines.append(f"| {name.replace('_', ' ')} | {c['identical']} | {c['spike_match']:.4f} | "
                     f"{c['samples_identical_spikes']:.3f} | {c['prediction_agreement']:.3f} | "
                     f"{c['readout_max_abs_diff']:.3g} |")
    atomic_write_text(out / "genn_compare.md", "\n".join(lines) + "\n", overwrite=True)
    print("\n".join(lines))
    print(f"Wrote {out / 'genn_compare.json'} and genn_compare.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
