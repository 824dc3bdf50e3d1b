"""GPU check: cuda_standalone against cpp_standalone, throughput and whether spikes match.

Meant for a machine with an NVIDIA GPU and brian2cuda (Python >= 3.12,
``pip install 'biolstm[cuda]'``); one prepared run::

    python benchmarks/gpu_check.py                      # 1,000 sMNIST samples + 24,000 neurons
    python benchmarks/gpu_check.py --build-only         # no GPU: code generation + nvcc only

It evaluates the sMNIST-shaped network on ``--samples`` test samples (840 steps each)
with ``cuda_standalone`` (``--gpu-replicas`` copies per program) and with
``cpp_standalone`` (``--cpu-replicas`` copies), then one simulated second of the network
scaled to 24,000 spiking neurons on both, and reports build time, run time, samples
(or simulated seconds) per second and the agreement of the spikes
(:func:`biolstm.brian.compare.compare_activities`; a GPU sums synaptic input in no fixed
order, so rare threshold-edge differences are possible). Writes
``results/gpu_check.json`` and ``results/gpu_check.md``. ``--gpu-backend`` and
``--reference`` allow a dry run of the script on a CPU (``numpy`` against ``numpy``).

The genn arm (brian2genn 1.7.0 on GeNN 4.9.0, in the separate environment of ``make
genn``; :mod:`biolstm.brian.genn`) runs the same networks with ``use_GPU=True``, GeNN's
CUDA backend: ``--genn`` adds it next to ``cuda_standalone`` (both compared with the
reference and with each other), ``--gpu-backend genn`` makes it the only GPU arm. It needs
``make genn`` and ``CUDA_PATH`` (the CUDA toolkit; GeNN 4.9 calls nvcc itself); genn has no
replicas, so all samples run end to end in one program, and no build-only mode::

    make genn && CUDA_PATH=/usr/local/cuda python benchmarks/gpu_check.py --genn
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _evaluate(spec, trains, backend, replicas, slots, directory, build_only=False, cc=None,
              genn_gpu=True):
    from biolstm.brian.compiled import CompiledNetwork, evaluate

    if backend == "genn":
        from biolstm.brian import genn

        act = genn.run_spec(spec, trains, device="genn", use_gpu=genn_gpu, directory=directory)
        t = act.timings
        return {"build_s": t["build_s"], "run_s": t["run_s"], "network_run_s": t.get("network_run_s"),
                "subprocess_s": t["subprocess_s"], "use_gpu": genn_gpu}, act
    if backend not in ("cpp_standalone", "cuda_standalone"):
        t0 = time.perf_counter()
        act = evaluate(spec, trains, backend, replicas=replicas, progress=False)
        return {"build_s": 0.0, "run_s": time.perf_counter() - t0}, act
    options = {"compute_capability": cc} if cc else None
    t0 = time.perf_counter()
    net = CompiledNetwork(spec, trains.n_steps, backend=backend, replicas=replicas, slots=slots,
                          directory=directory, cuda_options=options).build(progress=True)
    build = time.perf_counter() - t0
    if build_only:
        return {"build_s": build, "codegen_s": net.timings["codegen_s"],
                "compile_s": net.timings["compile_s"], "run_s": None}, None
    t0 = time.perf_counter()
    act = net.run(trains, progress=True)
    return {"build_s": build, "codegen_s": net.timings["codegen_s"], "compile_s": net.timings["compile_s"],
            "run_s": time.perf_counter() - t0, "network_run_s": act.timings["network_run_s"]}, act


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=840, help="steps per sMNIST sample")
    parser.add_argument("--scale", type=float, default=100.0, help="network scale (100: 24,000 neurons)")
    parser.add_argument("--gpu-backend", default="cuda_standalone")
    parser.add_argument("--reference", default="cpp_standalone")
    parser.add_argument("--gpu-replicas", type=int, default=250)
    parser.add_argument("--cpu-replicas", type=int, default=64)
    parser.add_argument("--compute-capability", type=float, default=None,
                        help="target architecture without a GPU to ask (e.g. 9.0 for H100/H200)")
    parser.add_argument("--build-only", action="store_true", help="generate and compile only")
    parser.add_argument("--genn", action="store_true",
                        help="also run genn with use_GPU=True (needs make genn and CUDA_PATH)")
    parser.add_argument("--genn-cpu", action="store_true",
                        help="run the genn arm on GeNN's CPU backend (a dry run without a GPU)")
    parser.add_argument("--out", default=str(ROOT / "results"))
    args = parser.parse_args(argv)

    from biolstm.brian.backends import backend_status
    from biolstm.brian.compare import compare_activities
    from biolstm.fileio import atomic_write_text
    from biolstm.examples import smnist_shaped_inputs, smnist_shaped_network

    status = backend_status(args.gpu_backend)
    print(f"{args.gpu_backend}: {status.state} {status.reason} {status.details}", flush=True)
    if not (status.available or (args.build_only and status.build_only)):
        print(f"cannot {'build' if args.build_only else 'run'} {args.gpu_backend} here: {status.reason}")
        return 2
    genn_arm = args.genn or args.gpu_backend == "genn"
    if genn_arm:
        refusal = _genn_refusal(args)
        if refusal:
            print(refusal)
            return 2
    work = Path(tempfile.mkdtemp(prefix="biolstm_gpu_check_"))
    report: dict = {"gpu_backend": args.gpu_backend, "reference": args.reference,
                    "status": {"state": status.state, "reason": status.reason, **status.details}}
    gpu_slots = max(1, -(-args.samples // args.gpu_replicas))
    cases = [
        ("smnist", smnist_shaped_network(seed=0), smnist_shaped_inputs(args.samples, seed=1, n_steps=args.steps),
         (min(args.gpu_replicas, args.samples), gpu_slots), (min(args.cpu_replicas, args.samples), 1)),
        ("scaled", smnist_shaped_network(seed=0, scale=args.scale),
         smnist_shaped_inputs(1, seed=3, scale=args.scale, n_steps=1000), (1, 1), (1, 1)),
    ]
    lines = [f"# {args.gpu_backend} against {args.reference}", ""]
    for name, spec, trains, (gr, gk), (cr, ck) in cases:
        print(f"{name}: {spec.n_neurons} neurons, {spec.n_synapses} synapses, {trains.n_samples} "
              f"sample(s) of {trains.n_steps} steps", flush=True)
        gpu_t, gpu_act = _evaluate(spec, trains, args.gpu_backend, gr, gk, work / f"{name}_gpu",
                                   args.build_only, args.compute_capability, genn_gpu=not args.genn_cpu)
        entry = {"neurons": spec.n_neurons, "synapses": spec.n_synapses, "samples": trains.n_samples,
                 "steps": trains.n_steps, "gpu": gpu_t, "gpu_layout": [gr, gk]}
        if not args.build_only:
            cpu_t, cpu_act = _evaluate(spec, trains, args.reference, cr, ck, work / f"{name}_cpu")
            entry["cpu"] = cpu_t
            entry["cpu_layout"] = [cr, ck]
            entry["comparison"] = compare_activities(cpu_act, gpu_act)
            entry["speedup_run"] = cpu_t["run_s"] / gpu_t["run_s"]
            lines.append(
                f"- {name} ({spec.n_neurons} neurons, {spec.n_synapses} synapses, {trains.n_samples} x "
                f"{trains.n_steps} steps): {args.gpu_backend} run {gpu_t['run_s']:.2f} s (build "
                f"{gpu_t['build_s']:.1f} s), {args.reference} run {cpu_t['run_s']:.2f} s (build "
                f"{cpu_t['build_s']:.1f} s): x{entry['speedup_run']:.2f}; spikes matching "
                f"{entry['comparison']['spike_match']:.4f}, identical samples "
                f"{entry['comparison']['samples_identical_spikes']:.3f}, predictions agreeing "
                f"{entry['comparison']['prediction_agreement']:.3f}")
            if args.genn and args.gpu_backend != "genn":
                genn_t, genn_act = _evaluate(spec, trains, "genn", 1, 1, work / f"{name}_genn",
                                             genn_gpu=not args.genn_cpu)
                entry["genn"] = genn_t
                entry["genn_vs_reference"] = compare_activities(cpu_act, genn_act)
                entry[f"genn_vs_{args.gpu_backend}"] = compare_activities(gpu_act, genn_act)
                c = entry["genn_vs_reference"]
                lines.append(
                    f"  - genn (use_GPU={not args.genn_cpu}) run {genn_t['run_s']:.2f} s (build "
                    f"{genn_t['build_s']:.1f} s) vs {args.gpu_backend} run {gpu_t['run_s']:.2f} s: "
                    f"spikes matching {args.reference} {c['spike_match']:.4f}, identical samples "
                    f"{c['samples_identical_spikes']:.3f}, predictions agreeing {c['prediction_agreement']:.3f}; "
                    f"matching {args.gpu_backend} {entry[f'genn_vs_{args.gpu_backend}']['spike_match']:.4f}")
        else:
            lines.append(f"- {name}: built in {gpu_t['build_s']:.1f} s (codegen {gpu_t['codegen_s']:.1f} s, "
                         f"compile {gpu_t['compile_s']:.1f} s); not run (build only)")
        print(lines[-1], flush=True)
        report[name] = entry
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "gpu_check.json", json.dumps(report, indent=1, default=str), overwrite=True)
    atomic_write_text(out / "gpu_check.md", "\n".join(lines) + "\n", overwrite=True)
    print(f"Wrote {out / 'gpu_check.json'} and gpu_check.md")
    return 0


def _genn_refusal(args) -> str:
    """Why the genn arm cannot run as asked here (empty if it can)."""
    from biolstm.brian import cuda
    from biolstm.brian.backends import backend_status

    status = backend_status("genn")
    if not status.available:
        return f"cannot run genn here: {status.reason}. Fix: {status.fix}"
    if args.build_only:
        return "genn has no build-only mode (brian2genn builds and runs in one go); drop --build-only or --genn"
    if args.genn_cpu:
        return ""
    gpu = cuda.detect_gpus()
    if not gpu.available:
        return (f"cannot run genn with use_GPU=True here: {gpu.reason} (add --genn-cpu for a dry run on "
                f"GeNN's CPU backend)")
    if not os.environ.get("CUDA_PATH"):
        return "genn with use_GPU=True needs CUDA_PATH (the CUDA toolkit folder, e.g. /usr/local/cuda)"
    return ""


if __name__ == "__main__":
    sys.exit(main())
