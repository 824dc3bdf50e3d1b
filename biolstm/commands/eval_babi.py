"""``biolstm eval babi``: per-task accuracy of a trained bAbI RelNet, in torch, Brian2 or the Loihi-exact mode.

Examples::

    biolstm eval babi --weights runs/babi_snn                          # torch, the bundled test subset
    biolstm eval babi --weights runs/babi_snn --backend cpp_standalone --task 17
    biolstm eval babi --backend cpp_standalone --head spiking --loihi --json   # the bundled run's head
    biolstm eval babi --weights runs/babi_snn --backend cpp_standalone --head spiking \\
        --calibration PATH/en-10k --loihi --json
    biolstm eval babi --weights runs/babi_snn --backend numpy --mode loihi --questions 20

``--weights`` is a run folder of ``biolstm train babi`` (``best.pt``, the best validation
epoch, and ``vocab.json``). ``--data`` is ``bundled`` (the test subset that ships with
biolstm, about 100 questions per task) or a bAbI v1.2 folder whose ``test`` files are
read. A task is passed at an error of at most 5 % (the bAbI convention).

Backends: ``torch`` runs the model as trained (float32; the only one for the DNN RelNet).
``numpy``, ``cython`` and ``cpp_standalone`` run the spiking RelNet's sentence and question
encoders in Brian2 (every distinct sentence once) and, with ``--head relu`` (default), g and
f as the trained ReLU layers in float64; with ``--head spiking`` g and f run as LIF layers in
Brian2 too: the run folder's stored head (``head.npz``: converted and fine-tuned on training
questions by ``scripts/babi_results.py``; the bundled run has one) or, given
``--calibration``, converted afresh (``biolstm.convert.relu_mlp``, scaled on training
questions of that folder, with the settings of the run folder's ``head.json`` where it has
one), without fine-tuning. Every Brian2 run is compared with the same network in float64
(torch for the encoders, numpy for the converted head): the fraction of questions with the
same answer is printed. ``--mode loihi`` runs the encoders in the Loihi-exact integer
emulation (the head as chosen), compared with the float encoders. ``--loihi`` places the
network of the shortest evaluated stories on Loihi 1 and estimates energy, latency and EDP
per inference (needs ``--head spiking``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from biolstm.commands.argtypes import positive_int
from biolstm.workflows.babi_eval import PASS_ERROR

__all__ = ["add_arguments", "run", "PASS_ERROR"]

BRIAN2_PYLAB = False
"""This command runs no user Brian2 script: its Brian2 import skips pylab (biolstm.cli)."""

BACKENDS = ("torch", "numpy", "cython", "cpp_standalone")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None,
                        help="run folder of 'biolstm train babi' (default: the bundled spiking RelNet)")
    parser.add_argument("--data", default="bundled", help="bundled | PATH (bAbI v1.2 folder)")
    parser.add_argument("--task", type=int, default=None, choices=range(1, 21), metavar="N",
                        help="one task (1..20; default all 20)")
    parser.add_argument("--questions", type=positive_int, default=None,
                        help="at most this many test questions per task, drawn at random (default all)")
    parser.add_argument("--backend", default="torch", choices=BACKENDS,
                        help="torch (default) or a Brian2 backend (spiking RelNet only)")
    parser.add_argument("--mode", choices=["float", "loihi"], default="float",
                        help="float, or loihi: the encoders in the Loihi-exact emulation (Brian2 backends)")
    parser.add_argument("--head", choices=["relu", "spiking"], default="relu",
                        help="g and f as the trained ReLU layers (float64) or converted LIF layers")
    parser.add_argument("--head-steps", type=positive_int, default=None,
                        help="steps the spiking head runs per question (default: the stored head's, else 64)")
    parser.add_argument("--calibration", default=None,
                        help="bAbI folder whose training files scale the spiking head (--head spiking): "
                             "converts g and f afresh instead of using the run's stored head.npz")
    parser.add_argument("--loihi", action="store_true",
                        help="also place the network on Loihi 1 and estimate energy/latency/EDP")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")


def _fail(message: str):
    from biolstm.workflows.babi_eval import BabiEvalError

    raise BabiEvalError(message)


def _check_options(args, run) -> None:
    if not run.spiking and (args.backend != "torch" or args.mode != "float" or args.head != "relu"
                            or args.loihi):
        _fail(f"--weights {run.path} hold the DNN RelNet (LSTM encoders), which runs in torch only; "
              f"--backend, --mode loihi, --head spiking and --loihi are for a spiking RelNet "
              f"('biolstm train babi --model spiking')")
    if args.mode == "loihi" and args.backend == "torch":
        _fail("--mode loihi runs the Loihi-exact emulation on a Brian2 backend; use --backend numpy, "
              "cython or cpp_standalone")
    if args.head == "spiking" and args.calibration is None and run.head_file is None:
        _fail(f"--head spiking needs g and f as LIF layers: {run.path} has no stored spiking head "
              f"({run.path}/head.npz, written by scripts/babi_results.py), so give --calibration PATH "
              f"(a bAbI v1.2 folder with the *_train.txt files, e.g. en-10k) to convert them")
    if args.loihi and args.head != "spiking":
        _fail("--loihi places the whole spiking network, whose g and f are the converted LIF layers; "
              "add --head spiking")


def run(args: argparse.Namespace) -> int:
    from biolstm.commands import print_library_log
    from biolstm.tasks import babi
    from biolstm.workflows import babi_eval as be

    if not args.json:
        print_library_log(stream="stderr")   # progress of the runs
    if args.weights is None:
        args.weights = be.bundled_run_path()
        if args.weights is None:
            _fail("this installation has no bundled bAbI weights (biolstm/data/babi_relnet); give "
                  "--weights RUN, the --out folder of 'biolstm train babi'")
    if args.calibration is not None and not Path(args.calibration).is_dir():
        _fail(f"--calibration {args.calibration} is not a folder; give a bAbI v1.2 folder with the "
              f"*_train.txt files (e.g. en-10k)")
    run_ = be.load_run(args.weights)
    _check_options(args, run_)
    tasks = [args.task] if args.task else None
    try:
        data = be.test_questions(args.data, run_.vocab, tasks, args.questions)
    except babi.BabiError as err:
        if tasks is not None:
            raise
        _fail(f"{err}; without --task all 20 tasks are read, but the run's vocabulary ({run_.path}/"
              f"vocab.json) does not cover them: give --task N for a task the run was trained on")
    out = {"model": run_.cfg.model, "weights": str(run_.path), "epoch": run_.record["epoch"],
           "data": data.description, "questions": len(data), "backend": args.backend, "mode": args.mode,
           "head": args.head if run_.spiking else "dnn"}
    loihi_text = ""
    if args.backend == "torch" and args.head == "relu":
        from biolstm.train.babi_trainer import babi_predictions

        answers, rate = babi_predictions(run_.model, data)
        out["encoder_rate_spikes_per_neuron_per_step"] = rate
    else:
        progress = not args.json
        specs = be.encoder_specs(run_.model)
        ref = be.encode(run_.model, data, "torch", specs=specs)
        codes = ref if args.backend == "torch" else be.encode(run_.model, data, args.backend, args.mode,
                                                               specs=specs, progress=progress)
        out["layer_rates"] = be.layer_rates(codes, run_.cfg.code_steps)
        if args.head == "relu":
            answers = be.relu_head_logits(run_.model.head, codes, run_.cfg.code_steps).argmax(1)
            if codes is not ref:
                ref_answers = be.relu_head_logits(run_.model.head, ref, run_.cfg.code_steps).argmax(1)
                out["agreement_with_float64"] = be.agreement(answers, ref_answers, data.tasks)
        else:
            if args.calibration is not None:
                cal = be.calibration_questions(args.calibration, run_.vocab, tasks)
                head = be.convert_head(run_.model, be.encode(run_.model, cal, "torch", specs=specs),
                                       n_steps=args.head_steps or 64, description=cal.description,
                                       **run_.head_settings)
                source = be.HEAD_SETTINGS if run_.head_settings else "defaults"
            else:
                head = be.load_head(run_.head_file, run_.model)
                if args.head_steps is not None:
                    head = dataclasses.replace(head, n_steps=args.head_steps)
                source = be.HEAD_WEIGHTS
            out["spiking_head"] = dict(head.to_dict(), settings_from=source)
            head_backend = "reference" if args.backend == "torch" else args.backend
            hr = be.run_spiking_head(head, codes, head_backend, progress=progress)
            answers = hr.answers
            out["head_rates"] = hr.rates()
            relu = be.relu_head_logits(run_.model.head, codes, run_.cfg.code_steps).argmax(1)
            out["agreement_with_relu_head"] = be.agreement(answers, relu, data.tasks)
            if head_backend != "reference":
                ref_run = be.run_spiking_head(head, codes, "reference")
                out["agreement_with_float64"] = be.agreement(answers, ref_run.answers, data.tasks)
            if args.loihi:
                L = int(data.story_lengths.min())
                spec, act, trains = be.energy_activity(head, codes, hr, L, data, specs)
                summary = be.loihi_report(spec, act, trains)
                out["loihi"] = dict(summary, n_sentences=L)
                loihi_text = summary["text"]
        if args.mode == "loihi":
            float_codes = be.encode(run_.model, data, args.backend, "float", specs=specs, progress=progress)
            fa = (be.relu_head_logits(run_.model.head, float_codes, run_.cfg.code_steps).argmax(1)
                  if args.head == "relu" else be.run_spiking_head(head, float_codes, args.backend).answers)
            out["agreement_with_float_encoders"] = be.agreement(answers, fa, data.tasks)
    acc = be.per_task_accuracy(answers, data)
    out.update({"accuracy_per_task": acc, **be.summarise_accuracy(acc)})
    if args.json:
        print(json.dumps(out, default=float))
        return 0
    what = {"torch": "torch"}.get(args.backend, f"Brian2 {args.backend}")
    print(f"{run_.cfg.model} RelNet from {run_.path} (epoch {run_.record['epoch']}) on {data.description}, "
          f"{len(data)} questions; encoders: {what} ({args.mode}), head: {out['head']}")
    for t, a in acc.items():
        print(f"  qa{t:<2d} {babi.TASK_NAMES[t]:24s} {100 * a:6.1f} %" + ("  passed" if t in out["tasks_passed"] else ""))
    print(f"Mean accuracy {100 * out['mean_accuracy']:.1f} %, {out['n_passed']} of {len(acc)} tasks passed "
          f"(error <= {100 * PASS_ERROR:.0f} %)")
    for key, label in (("agreement_with_float64", "same answer as float64"),
                       ("agreement_with_relu_head", "same answer as the ReLU head"),
                       ("agreement_with_float_encoders", "same answer as the float encoders")):
        if key in out:
            a = out[key]
            print(f"{label}: {100 * a['same_answer']:.1f} % of {a['questions']} questions "
                  f"({a['different']} differ)")
    for r in out.get("layer_rates", []):
        print(f"  {r['layer']:24s} {r['rate_all_steps']:.4f} spikes/neuron/step "
              f"({r['rate_code_window']:.4f} in the code window)")
    for k, v in out.get("head_rates", {}).items():
        print(f"  head {k:19s} {v:.4f} spikes/neuron/step")
    if out.get("encoder_rate_spikes_per_neuron_per_step") is not None:
        print(f"Encoder rate in the code windows: {out['encoder_rate_spikes_per_neuron_per_step']:.4f} "
              f"spikes per neuron per step")
    if loihi_text:
        print(loihi_text)
    return 0
