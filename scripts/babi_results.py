"""bAbI results of the trained RelNets: torch, Brian2, the spiking head, Loihi placement, Loihi-exact mode, energy.

Reads two run folders of ``biolstm train babi`` (the DNN RelNet (a) and the spiking RelNet
(b)) and the 1,000 test questions of every task of a bAbI v1.2 folder, then

1. per-task test accuracy of (a) and (b) in torch (as trained, float32) on all test questions
   (with ``--quick``: on the Brian2 questions only);
   tasks passed (error <= 5 %), mean accuracy, the issue's quality bar;
2. (b) in Brian2 (``--backend``, default ``cpp_standalone``) on ``--brian-questions`` random
   test questions per task: sentence and question encoders in Brian2, g and f as the trained
   ReLU layers in float64; the same answer as torch float64 question by question; firing
   rate per encoder population;
3. the spiking head: g and f converted into LIF layers (``biolstm.convert.relu_mlp``, scaled
   on ``--calibration-questions`` training questions; the settings of
   ``biolstm.workflows.babi_eval.HEAD_GRID`` chosen on ``--head-select-questions`` validation
   questions per task, the held-out tail of the training files, by the same answer as the
   ReLU head), then fine-tuned by surrogate gradients (``biolstm.workflows.head_finetune``) on
   ``--finetune-questions`` training questions, keeping the epoch that answers most of
   ``--finetune-val-questions`` validation questions per task correctly: its accuracy (and
   the converted head's, before fine-tuning) on all the Brian2 questions in its numpy float64 simulation
   (``head_reference``, the same schedule as the Brian2 network), and in Brian2 on
   ``--head-questions`` of them per task with stories of at most ``--head-max-sentences``
   sentences (``--head-steps`` steps each; every story length is its own program, with
   ``L (L + 1) / 2`` instances of g, so long stories take long compiles): the same answer as
   the float64 simulation and as the ReLU head, firing rate per layer;
4. Loihi: the trained whole network (trained encoders, converted g and f) through quantize,
   check and placement (``scripts/babi_placement.py``'s per-layer table): 20 sentences with
   the mask and the authors' relays (4/10), 20 sentences without relays, 2 sentences;
   the encoders in the Loihi-exact emulation on the Brian2 questions: the same answer as
   the float encoders;
5. energy, latency and EDP per inference of qa17 stories of 2 sentences on the 2-sentence
   network (``biolstm.loihi.energy``; every model x calibration, as placed and counted as
   the 22 chips of the measured run) next to the measured 7.48 mJ / 9.105 ms / 68.1 uJ*s
   (read from ``biolstm/loihi/chips/loihi1.json``), and the DNN (a) timed on this CPU
   (batch 1, torch threads 1 and 2);
6. writes ``<out>/results.json``, ``results.csv`` (per task), ``results.md``,
   ``placement_trained.csv``, ``accuracy.png``, and the chosen head as ``head.json`` (its
   conversion settings) and ``head.npz`` (the fine-tuned head, :func:`~biolstm.workflows.babi_eval.save_head`):
   copy both into the spiking run's folder for ``biolstm eval babi --head spiking``.

Usage::

    nice -n 10 python scripts/babi_results.py --dnn runs/babi_dnn --spiking runs/babi_snn \\
        --babi PATH/en-10k                        # writes results/babi/
    python scripts/babi_results.py ... --quick --out /tmp/x   # a few questions, for tests

Progress goes to stderr. ``--tasks`` restricts the tasks (default all 20; the runs'
vocabulary must cover them).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from biolstm.fileio import atomic_write_text, atomic_writer  # noqa: E402
from biolstm.tasks import babi  # noqa: E402
from biolstm.workflows import babi_eval as be  # noqa: E402

QUALITY_BAR = {"mean_accuracy": 0.85, "tasks_passed": 10, "points_below_dnn": 3.0}
"""Issue 17: spiking mean accuracy >= 85 %, >= 10 tasks passed, within 3 points of the DNN."""

QUICK = dict(brian_questions=4, head_questions=2, head_max_sentences=2, calibration_questions=40, energy_questions=3,
             head_steps=16, timing_repeats=5, head_select_questions=2, finetune_questions=20, finetune_epochs=1,
             finetune_val_questions=2)


def say(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    from biolstm.commands.train_babi import task_list

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dnn", required=True, help="run folder of 'biolstm train babi --model dnn'")
    p.add_argument("--spiking", required=True, help="run folder of 'biolstm train babi --model spiking'")
    p.add_argument("--babi", required=True, help="bAbI v1.2 folder (en-10k) with the test and training files")
    p.add_argument("--tasks", type=task_list, default=None, help="e.g. 1-20 (default) or 1,17")
    p.add_argument("--out", default=None, help="output folder (default results/babi)")
    p.add_argument("--backend", default="cpp_standalone", choices=be.BRIAN_BACKENDS)
    p.add_argument("--brian-questions", type=int, default=100, help="per task, Brian2 and Loihi-exact runs")
    p.add_argument("--head-questions", type=int, default=20, help="per task, the spiking head in Brian2")
    p.add_argument("--head-max-sentences", type=int, default=3,
                   help="longest story of the spiking head's Brian2 questions (default 3: 6 g instances)")
    p.add_argument("--head-steps", type=int, default=64, help="steps of the spiking head per question")
    p.add_argument("--calibration-questions", type=int, default=500, help="training questions scaling the head")
    p.add_argument("--head-select-questions", type=int, default=10,
                   help="validation questions per task choosing the head conversion (0: defaults)")
    p.add_argument("--finetune-questions", type=int, default=8000,
                   help="training questions fine-tuning the converted head (0: no fine-tuning)")
    p.add_argument("--finetune-epochs", type=int, default=2, help="epochs of the head fine-tuning")
    p.add_argument("--finetune-lr", type=float, default=1e-4, help="Adam learning rate of the head fine-tuning")
    p.add_argument("--finetune-val-questions", type=int, default=30,
                   help="validation questions per task choosing the fine-tuning epoch")
    p.add_argument("--energy-questions", type=int, default=50, help="qa17 2-sentence questions for the energy")
    p.add_argument("--timing-repeats", type=int, default=50, help="timed DNN inferences per thread count")
    p.add_argument("--no-paper-size-placement", action="store_true",
                   help="place only the 2-sentence network (the 20-sentence checks take minutes and GBs)")
    p.add_argument("--retime-dnn", action="store_true",
                   help="only measure the DNN's CPU time again into an existing <out>/results.json "
                        "(on a quiet machine) and rewrite the outputs")
    p.add_argument("--quick", action="store_true", help=f"test-sized run {QUICK}; needs --out")
    args = p.parse_args(argv)
    if args.quick:
        if args.out is None:
            p.error("--quick writes test-sized numbers; give --out (never results/babi)")
        for k, v in QUICK.items():
            setattr(args, k, v)
        args.no_paper_size_placement = True
    args.out = Path(args.out or REPO / "results" / "babi")
    return args


def _rows_per_task(data, per_task: int, max_sentences: int | None = None) -> np.ndarray:
    """The first ``per_task`` questions of every task of ``data`` (indices), of stories with at
    most ``max_sentences`` sentences if given (a task may then have fewer or none)."""
    short = np.ones(len(data), bool) if max_sentences is None else data.story_lengths <= max_sentences
    return np.concatenate([np.flatnonzero((data.tasks == t) & short)[:per_task] for t in np.unique(data.tasks)])


def _training_summary(run: be.RelNetRun) -> dict:
    import pandas as pd

    hist = pd.read_csv(run.path / "history.csv") if (run.path / "history.csv").is_file() else None
    out = {"config": dataclasses.asdict(run.cfg), "best_epoch": int(run.record["epoch"])}
    if hist is not None:
        out.update({"epochs_run": int(len(hist)), "training_s": float(hist["epoch_s"].sum()),
                    "best_val_accuracy": float(hist["val_accuracy"].max())})
    return out


def _energy_22_chips(spec, act, trains) -> dict:
    """Every model x calibration with the placement counted as the measured run's 22 chips."""
    from biolstm.loihi.check import check
    from biolstm.loihi.energy import count_events, estimate
    from biolstm.loihi.report import estimate_range

    report = check(spec, chip="loihi1")
    pl = dataclasses.replace(report.placement, n_chips=22)
    counts = count_events(pl, act, inputs=trains)
    reports = [estimate(pl, act, m, calibration=c, counts=counts)
               for m in sorted(pl.chip.energy_models) for c in pl.chip.values["calibrations"]]
    return {"range": estimate_range(reports), "estimates": [r.to_dict() for r in reports]}


def _energy_rows(sub, n: int) -> np.ndarray:
    """The first ``n`` qa17 questions of 2-sentence stories in ``sub`` (the measured configuration)."""
    return np.flatnonzero((sub.tasks == 17) & (sub.story_lengths == 2))[:n]


def _time_dnn(dnn, sub, args) -> dict:
    """The DNN RelNet at batch 1 with 1 and 2 torch threads on the energy questions (or the
    first questions), with the load average at the start: 2 threads on a machine whose other
    core is busy measure the contention, not the model."""
    import os

    from biolstm.loihi.report import DEFAULT_CPU_POWER_W

    e_rows = _energy_rows(sub, args.energy_questions)
    t_rows = e_rows if len(e_rows) else np.arange(min(len(sub), args.energy_questions))
    timing = {}
    load = os.getloadavg()[0]
    for threads in (1, 2):
        timing[threads] = be.dnn_inference_time(dnn.model, sub.subset(t_rows), threads=threads,
                                                repeats=args.timing_repeats)
        say(f"DNN RelNet, torch, batch 1, {threads} thread(s): {1e3 * timing[threads]['median_s']:.2f} ms")
    return {"questions": "qa17, 2 sentences" if len(e_rows) else "first test questions",
            "per_threads": timing, "load_average_1min": load, "power_W_per_core": DEFAULT_CPU_POWER_W}


def _int_keys(obj):
    """``obj`` read back from JSON with the integer keys (tasks, thread counts) it was written with."""
    if isinstance(obj, dict):
        return {(int(k) if isinstance(k, str) and k.isdigit() else k): _int_keys(v) for k, v in obj.items()}
    return [_int_keys(v) for v in obj] if isinstance(obj, list) else obj


def retime_dnn(args) -> int:
    """``--retime-dnn``: measure the DNN timing again (on a quiet machine) into ``<out>/results.json``
    and rewrite the outputs from it; nothing else is recomputed."""
    import torch

    path = args.out / "results.json"
    if not path.is_file():
        raise be.BabiEvalError(f"--retime-dnn needs {path} from a full run; run without it first")
    result = _int_keys(json.loads(path.read_text()))
    torch.set_num_threads(1)
    dnn = be.load_run(args.dnn, "dnn")
    sub = be.test_questions(Path(args.babi), dnn.vocab, result["tasks"], args.brian_questions)
    result["dnn_timing"] = _time_dnn(dnn, sub, args)
    t2 = result["dnn_timing"]["per_threads"][2]["median_s"]
    if "dnn_2_threads" in result.get("energy", {}):
        result["energy"]["dnn_2_threads"] = {"seconds_per_inference": t2,
                                             "energy_J": t2 * 2 * result["dnn_timing"]["power_W_per_core"]}
    result["dnn_timing"]["retimed"] = time.strftime("%Y-%m-%d")
    write(args.out, result, result["tasks"])
    say(f"rewrote {args.out}/results.* with the new DNN timing")
    return 0


def main(argv=None) -> int:
    import torch

    from biolstm.commands import print_library_log
    from biolstm.loihi.chips import load_chip
    from biolstm.loihi.report import DEFAULT_CPU_POWER_W
    from biolstm.train.babi_trainer import babi_predictions

    args = parse_args(argv)
    print_library_log(logging.INFO, stream="stderr")
    if args.retime_dnn:
        return retime_dnn(args)
    torch.set_num_threads(1)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    dnn = be.load_run(args.dnn, "dnn")
    snn = be.load_run(args.spiking, "spiking")
    if dnn.vocab != snn.vocab:
        raise be.BabiEvalError(f"{args.dnn} and {args.spiking} were trained with different vocabularies; "
                               f"train both on the same data")
    folder = Path(args.babi)
    # quick mode scores torch on the Brian2 questions only: a test-sized run reads no more test
    # questions than it needs
    test = be.test_questions(folder, snn.vocab, args.tasks, args.brian_questions if args.quick else None)
    tasks = [int(t) for t in np.unique(test.tasks)]
    say(f"test data: {test.description}, {len(test)} questions, tasks {tasks}")
    result: dict = {"command": "python scripts/babi_results.py " + " ".join(
        a if not Path(a).exists() or a.startswith("-") else Path(a).name for a in (argv or sys.argv[1:])),
        "data": test.description, "tasks": tasks, "quick": args.quick,
        "training": {"dnn": _training_summary(dnn), "spiking": _training_summary(snn)}}

    # -- 1. torch, all test questions ---------------------------------------------------------------
    t0 = time.perf_counter()
    acc = {}
    for name, run in (("dnn", dnn), ("spiking", snn)):
        say(f"torch: {name} RelNet on {len(test)} questions")
        answers, rate = babi_predictions(run.model, test)
        acc[name] = be.per_task_accuracy(answers, test)
        result[f"torch_{name}"] = {"accuracy_per_task": acc[name], **be.summarise_accuracy(acc[name]),
                                   "questions_per_task": {t: int((test.tasks == t).sum()) for t in tasks}}
        if rate is not None:
            result[f"torch_{name}"]["encoder_rate_code_window"] = rate
    timings["torch_s"] = time.perf_counter() - t0
    s_sum, d_sum = result["torch_spiking"], result["torch_dnn"]
    result["quality_bar"] = {
        "target": QUALITY_BAR,
        "mean_accuracy_ok": s_sum["mean_accuracy"] >= QUALITY_BAR["mean_accuracy"],
        "tasks_passed_ok": s_sum["n_passed"] >= QUALITY_BAR["tasks_passed"],
        "points_below_dnn": 100 * (d_sum["mean_accuracy"] - s_sum["mean_accuracy"]),
        "within_dnn_ok": 100 * (d_sum["mean_accuracy"] - s_sum["mean_accuracy"]) <= QUALITY_BAR["points_below_dnn"]}

    # -- 2. Brian2 encoders + ReLU head vs torch float64 ------------------------------------------
    sub = be.test_questions(folder, snn.vocab, tasks, args.brian_questions)
    specs = be.encoder_specs(snn.model)
    say(f"torch float64: encoders on {len(sub)} questions")
    ref = be.encode(snn.model, sub, "torch", specs=specs)
    say(f"Brian2 {args.backend}: encoders on {len(sub)} questions")
    codes = be.encode(snn.model, sub, args.backend, specs=specs, progress=True)
    cs = snn.cfg.code_steps
    brian_answers = be.relu_head_logits(snn.model.head, codes, cs).argmax(1)
    ref_answers = be.relu_head_logits(snn.model.head, ref, cs).argmax(1)
    b_acc = be.per_task_accuracy(brian_answers, sub)
    result["brian2"] = {
        "backend": args.backend, "data": sub.description, "questions": len(sub),
        "distinct_sentences": int(len(codes.sentences)), "distinct_questions": int(len(codes.queries)),
        "accuracy_per_task": b_acc, **be.summarise_accuracy(b_acc),
        "questions_per_task": {t: int((sub.tasks == t).sum()) for t in tasks},
        "agreement_with_torch_float64": be.agreement(brian_answers, ref_answers, sub.tasks),
        "identical_codes": float(np.mean(codes.sentences == ref.sentences)),
        "layer_rates": be.layer_rates(codes, cs), "wall_s": codes.wall_s}
    timings["brian2_encoders_s"] = codes.wall_s

    # -- 3. the spiking head ----------------------------------------------------------------------
    t0 = time.perf_counter()
    cal = be.calibration_questions(folder, snn.vocab, tasks, args.calibration_questions)
    say(f"calibration: {cal.description}")
    cal_codes = be.encode(snn.model, cal, "torch", specs=specs)
    selection = None
    if args.head_select_questions > 0:
        val = be.calibration_questions(folder, snn.vocab, tasks, args.head_select_questions * len(tasks),
                                       part="validation")
        say(f"choosing the head conversion on {val.description}")
        head, selection = be.choose_head(snn.model, cal_codes, be.encode(snn.model, val, "torch", specs=specs),
                                         n_steps=args.head_steps, description=cal.description)
        selection = {"data": val.description, "criterion": "same answer as the ReLU head", "rows": selection}
    else:
        head = be.convert_head(snn.model, cal_codes, n_steps=args.head_steps, description=cal.description)
    finetuning = None
    if args.finetune_questions > 0:
        from biolstm.workflows.head_finetune import FINETUNE_GAMMA, finetune_head

        converted = head
        ft = be.calibration_questions(folder, snn.vocab, tasks, args.finetune_questions, seed=1)
        ft_val = be.calibration_questions(folder, snn.vocab, tasks, args.finetune_val_questions * len(tasks),
                                          part="validation", seed=2)
        say(f"fine-tuning the spiking head on {ft.description}; epoch chosen on {ft_val.description}")
        tf = time.perf_counter()
        head, history = finetune_head(converted, be.encode(snn.model, ft, "torch", specs=specs), ft.answers,
                                      be.encode(snn.model, ft_val, "torch", specs=specs), ft_val.answers,
                                      epochs=args.finetune_epochs, lr=args.finetune_lr, progress=say)
        say(f"spiking head as converted: {len(sub)} questions in its float64 simulation")
        c_acc = be.per_task_accuracy(be.run_spiking_head(converted, codes, "reference").answers, sub)
        finetuning = {"training": ft.description, "validation": ft_val.description,
                      "criterion": "validation accuracy (float64 simulation)", "epochs": args.finetune_epochs,
                      "lr": args.finetune_lr, "gamma": FINETUNE_GAMMA, "history": history,
                      "kept_epoch": (head.finetuned or {}).get("epoch", 0), "wall_s": time.perf_counter() - tf,
                      "converted_accuracy_per_task": c_acc, **{f"converted_{k}": v for k, v in
                                                               be.summarise_accuracy(c_acc).items()}}
    say(f"spiking head: {len(sub)} questions in its float64 simulation")
    h_ref = be.run_spiking_head(head, codes, "reference")
    h_acc = be.per_task_accuracy(h_ref.answers, sub)
    rows = _rows_per_task(sub, args.head_questions, args.head_max_sentences)
    say(f"spiking head: {len(rows)} questions of <= {args.head_max_sentences} sentences in Brian2 {args.backend}")
    h_brian = be.run_spiking_head(head, codes, args.backend, rows=rows, progress=True)
    h_sub = sub.subset(rows)
    result["spiking_head"] = {
        "conversion": head.to_dict(), "selection": selection, "finetuning": finetuning, "backend": args.backend,
        "questions": int(len(sub)), "simulation": "numpy float64 (head_reference)",
        "accuracy_per_task": h_acc, **be.summarise_accuracy(h_acc),
        "relu_head_accuracy_same_questions": be.summarise_accuracy(b_acc)["mean_accuracy"],
        "agreement_with_relu_head_all": be.agreement(h_ref.answers, brian_answers, sub.tasks),
        "brian2_questions": int(len(rows)), "brian2_max_sentences": args.head_max_sentences,
        "brian2_questions_per_task": {t: int((h_sub.tasks == t).sum()) for t in tasks},
        "brian2_accuracy": float(np.mean(h_brian.answers == h_sub.answers)) if len(rows) else float("nan"),
        "agreement_with_float64_reference": be.agreement(h_brian.answers, h_ref.answers[rows], h_sub.tasks),
        "agreement_with_relu_head": be.agreement(h_brian.answers, brian_answers[rows], h_sub.tasks),
        "layer_rates": h_ref.rates(), "brian2_layer_rates": h_brian.rates(), "wall_s": h_brian.wall_s,
        "reference_wall_s": h_ref.wall_s}
    timings["spiking_head_s"] = time.perf_counter() - t0

    # -- 4. Loihi: placement of the trained network, Loihi-exact encoders --------------------------
    placement = importlib.import_module("babi_placement")
    configs = [("trained, 2 sentences", 2, dict())]
    if not args.no_paper_size_placement:
        configs += [("trained, 20 sentences, mask, relays 4/10", 20, dict(mask=True, relays=(4, 10))),
                    ("trained, 20 sentences, mask, no relays", 20, dict(mask=True))]
    rows_pl, totals = [], []
    t0 = time.perf_counter()
    for label, n, kw in configs:
        say(f"Loihi placement: {label}")
        tb = time.perf_counter()
        spec = be.relnet_network(head, n, encoders=specs, **kw)
        r, tot = placement.analyse_spec(label, spec, n == 20, time.perf_counter() - tb)
        rows_pl += r
        totals.append(tot)
    timings["placement_s"] = time.perf_counter() - t0
    result["loihi_placement"] = {"totals": totals, "layers": rows_pl}
    t0 = time.perf_counter()
    say(f"Loihi-exact encoders on {len(sub)} questions ({args.backend})")
    lcodes = be.encode(snn.model, sub, args.backend, "loihi", specs=specs, progress=True)
    l_answers = be.relu_head_logits(snn.model.head, lcodes, cs).argmax(1)
    l_acc = be.per_task_accuracy(l_answers, sub)
    result["loihi_exact"] = {
        "questions": len(sub), "head": "relu (float64)", "accuracy_per_task": l_acc, **be.summarise_accuracy(l_acc),
        "agreement_with_float": be.agreement(l_answers, brian_answers, sub.tasks),
        "identical_codes": float(np.mean(lcodes.sentences == codes.sentences)),
        "vth_mantissa": be.LOIHI_VTH_MANTISSA,
        "layer_rates": be.layer_rates(lcodes, cs)}
    timings["loihi_exact_s"] = time.perf_counter() - t0

    # -- 5. energy of qa17 2-sentence stories, and the DNN on this CPU ---------------------------
    t0 = time.perf_counter()
    measured = load_chip("loihi1").values["measured_runs"]["relnet2021"]
    e_rows = _energy_rows(sub, args.energy_questions)
    result["dnn_timing"] = _time_dnn(dnn, sub, args)
    timing = result["dnn_timing"]["per_threads"]
    if len(e_rows):
        say(f"energy: {len(e_rows)} qa17 questions of 2 sentences")
        e_head = be.run_spiking_head(head, codes, args.backend, rows=e_rows)
        spec2, act2, trains2 = be.energy_activity(head, codes, e_head, 2, sub, specs)
        base = {"label": "DNN RelNet (LSTM encoders), torch, batch 1, 1 thread, this CPU",
                "seconds_per_inference": timing[1]["median_s"], "power_W": DEFAULT_CPU_POWER_W,
                "power_source": f"{DEFAULT_CPU_POWER_W} W per core (biolstm.loihi.report.DEFAULT_CPU_POWER_W)"}
        placed = be.loihi_report(spec2, act2, trains2, baseline=base)
        result["energy"] = {
            "questions": int(len(e_rows)), "steps_per_inference": int(act2.n_steps),
            "network": "trained encoders, converted g/f, 2 sentence slots, one relay copy per encoder "
                       "population repeating the code in the head phase",
            "as_placed": placed, "as_22_chips": _energy_22_chips(spec2, act2, trains2),
            "measured_relnet2021": measured,
            "dnn_2_threads": {"seconds_per_inference": timing[2]["median_s"],
                              "energy_J": timing[2]["median_s"] * 2 * DEFAULT_CPU_POWER_W}}
    else:
        result["energy"] = {"note": "no qa17 question of 2 sentences among the evaluated ones"}
    timings["energy_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    result["timings_s"] = timings
    write(args.out, result, tasks, head)
    say(f"wrote {args.out}/results.{{json,csv,md}}, placement_trained.csv, accuracy.png, head.json, head.npz "
        f"({timings['total_s']:.0f} s)")
    return 0


def write(out: Path, result: dict, tasks, head=None) -> None:
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in tasks:
        rows.append({
            "task": t, "name": babi.TASK_NAMES[t],
            "dnn_torch": result["torch_dnn"]["accuracy_per_task"][t],
            "spiking_torch": result["torch_spiking"]["accuracy_per_task"][t],
            "test_questions": result["torch_spiking"]["questions_per_task"][t],
            "spiking_brian2": result["brian2"]["accuracy_per_task"].get(t),
            "brian2_questions": result["brian2"]["questions_per_task"].get(t),
            "brian2_same_as_torch_float64": result["brian2"]["agreement_with_torch_float64"]["per_task"].get(t),
            "spiking_head": result["spiking_head"]["accuracy_per_task"].get(t),
            "spiking_head_converted": ((result["spiking_head"].get("finetuning") or {})
                                       .get("converted_accuracy_per_task") or {}).get(t),
            "spiking_head_same_as_reference": result["spiking_head"]["agreement_with_float64_reference"][
                "per_task"].get(t),
            "loihi_exact": result["loihi_exact"]["accuracy_per_task"].get(t),
            "loihi_exact_same_as_float": result["loihi_exact"]["agreement_with_float"]["per_task"].get(t),
        })
    table = pd.DataFrame(rows)
    with atomic_writer(out / "results.csv", overwrite=True, mode="w") as fh:
        table.to_csv(fh, index=False)
    layers = pd.DataFrame(result["loihi_placement"]["layers"])
    totals = pd.DataFrame(result["loihi_placement"]["totals"])
    with atomic_writer(out / "placement_trained.csv", overwrite=True, mode="w") as fh:
        pd.concat([totals, layers], ignore_index=True).to_csv(fh, index=False)
    with atomic_writer(out / "results.json", overwrite=True, mode="w") as fh:
        json.dump(result, fh, indent=1, default=lambda x: x.tolist() if hasattr(x, "tolist") else str(x))
    atomic_write_text(out / "results.md", markdown(result, table), overwrite=True)
    write_head_settings(out / be.HEAD_SETTINGS, result)
    if head is not None:
        be.save_head(head, out / be.HEAD_WEIGHTS)
    plot(table, out / "accuracy.png")


def write_head_settings(path: Path, result: dict) -> None:
    """The head conversion chosen on validation, as a run folder's ``head.json`` (copy it into
    the spiking run's folder so that ``biolstm eval babi --head spiking`` converts the same way)."""
    h = result["spiking_head"]
    c, sel = h["conversion"], h.get("selection") or {}
    best = max(sel.get("rows", []), key=lambda x: x["same_answer"], default={})
    settings = {"percentile": c["g_percentile"], "sum_percentile": c["sum_percentile"],
                "max_rate": c["max_rate"], "n_steps": c["n_steps"],
                "chosen_on": sel.get("data", "not chosen (defaults)"), "criterion": sel.get("criterion"),
                "same_answer": best.get("same_answer"), "made_by": "scripts/babi_results.py"}
    atomic_write_text(path, json.dumps(settings, indent=1) + "\n", overwrite=True)


def _pct(x) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.1f}"


def markdown(r: dict, table) -> str:
    s, d, b, h, lx = r["torch_spiking"], r["torch_dnn"], r["brian2"], r["spiking_head"], r["loihi_exact"]
    qb = r["quality_bar"]
    tr = r["training"]
    lines = [
        "# bAbI: the spiking RelNet and the DNN RelNet", "",
        f"Made by `{r['command']}` ({r['timings_s']['total_s']:.0f} s). Data: {r['data']}."
        + (" **Quick mode: test-sized numbers.**" if r["quick"] else ""), "",
        "Route: the spiking RelNet's AHP encoders were trained by BPTT with g and f as ReLU layers on their "
        "spike counts (last 14 steps); g and f are then converted into rate-coded LIF layers "
        "(`biolstm.convert.relu_mlp`, data-based normalisation on training questions)"
        + (", then fine-tuned as spiking layers by surrogate gradients (`biolstm.workflows.head_finetune`; "
           "section below). " if h.get("finetuning") else ", without fine-tuning. ") +
        f"Training: DNN {tr['dnn'].get('epochs_run', '?')} epochs, {tr['dnn'].get('training_s', float('nan')) / 60:.0f} min; "
        f"spiking {tr['spiking'].get('epochs_run', '?')} epochs, "
        f"{tr['spiking'].get('training_s', float('nan')) / 60:.0f} min (sums of `history.csv` epoch times).", "",
        "## Accuracy", "",
        f"| model | questions | mean accuracy | tasks passed (error <= 5 %) |", "|---|---|---|---|",
        f"| (a) DNN RelNet, torch | {sum(d['questions_per_task'].values())} | {_pct(d['mean_accuracy'])} % | "
        f"{d['n_passed']} of {d['n_tasks']} |",
        f"| (b) spiking RelNet, torch (as trained) | {sum(s['questions_per_task'].values())} | "
        f"{_pct(s['mean_accuracy'])} % | {s['n_passed']} of {s['n_tasks']} |",
        f"| (b) in Brian2 {b['backend']}, ReLU head (float64) | {b['questions']} | {_pct(b['mean_accuracy'])} % | "
        f"{b['n_passed']} of {b['n_tasks']} |",
        f"| (b) Brian2 encoders, spiking head ({h['conversion']['n_steps']} steps, float64 simulation) | "
        f"{h['questions']} | {_pct(h['mean_accuracy'])} % (ReLU head on the same: "
        f"{_pct(h['relu_head_accuracy_same_questions'])} %) | {h['n_passed']} of {h['n_tasks']} |",
        *([f"| (b) Brian2 encoders, spiking head as converted (before fine-tuning) | {h['questions']} | "
           f"{_pct(h['finetuning']['converted_mean_accuracy'])} % | {h['finetuning']['converted_n_passed']} of "
           f"{h['finetuning']['converted_n_tasks']} |"] if h.get("finetuning") else []),
        f"| (b) Loihi-exact encoders, ReLU head | {lx['questions']} | {_pct(lx['mean_accuracy'])} % | "
        f"{lx['n_passed']} of {lx['n_tasks']} |", "",
        f"Quality bar (>= 85 %, >= 10 tasks passed, within 3 points of the DNN): mean "
        f"{'met' if qb['mean_accuracy_ok'] else 'missed'}, tasks {'met' if qb['tasks_passed_ok'] else 'missed'}, "
        f"{qb['points_below_dnn']:.1f} points below the DNN ({'met' if qb['within_dnn_ok'] else 'missed'}).", "",
        f"Brian2 = torch float64: the same answer on {_pct(b['agreement_with_torch_float64']['same_answer'])} % of "
        f"{b['questions']} questions ({b['agreement_with_torch_float64']['different']} differ; bar 99 %); "
        f"{_pct(b['identical_codes'])} % of the sentence code entries identical. Spiking head in Brian2 = its "
        f"float64 simulation on {_pct(h['agreement_with_float64_reference']['same_answer'])} % of "
        f"{h['brian2_questions']} questions of <= {h['brian2_max_sentences']} sentences (Brian2 accuracy on them "
        f"{_pct(h['brian2_accuracy'])} %); the spiking head = the ReLU head on "
        f"{_pct(h['agreement_with_relu_head_all']['same_answer'])} % of {h['questions']} questions. Loihi-exact encoders = float on "
        f"{_pct(lx['agreement_with_float']['same_answer'])} % (bar 95 %)"
        + (f", with the encoders' Loihi voltage scale at threshold mantissa {lx['vth_mantissa']} (chosen on "
           f"validation questions: `loihi_scale.md`)." if "vth_mantissa" in lx else "."), "",
        "## Per task", "",
        "| task | DNN torch | spiking torch | Brian2 | Brian2 = float64 | spiking head | spiking head as converted "
        "| Loihi-exact | Loihi = float |",
        "|---|---|---|---|---|---|---|---|---|"]
    for _, t in table.iterrows():
        lines.append(f"| qa{t['task']} {t['name']} | {_pct(t['dnn_torch'])} | {_pct(t['spiking_torch'])} | "
                     f"{_pct(t['spiking_brian2'])} | {_pct(t['brian2_same_as_torch_float64'])} | "
                     f"{_pct(t['spiking_head'])} | {_pct(t.get('spiking_head_converted'))} | "
                     f"{_pct(t['loihi_exact'])} | "
                     f"{_pct(t['loihi_exact_same_as_float'])} |")
    if h.get("selection"):
        lines += ["", f"Head conversion chosen on {h['selection']['data']} ({h['selection']['criterion']}; "
                  f"chosen: percentile {h['conversion']['g_percentile']}, sum percentile "
                  f"{h['conversion']['sum_percentile']}, max rate {h['conversion']['max_rate']}):", "",
                  "| percentile | sum percentile | max rate | same answer as ReLU head | logits relative error |",
                  "|---|---|---|---|---|"]
        for x in h["selection"]["rows"]:
            lines.append(f"| {x['percentile']} | {x['sum_percentile']} | {x['max_rate']} | "
                         f"{_pct(x['same_answer'])} % | {x['relative_error']:.2f} |")
    ft = h.get("finetuning")
    if ft:
        lines += ["", f"Head fine-tuning: {ft['epochs']} epochs on {ft['training']} (Adam, lr {ft['lr']:g}, "
                  f"pseudo-derivative dampening {ft['gamma']}, {ft['wall_s'] / 60:.0f} min); the epoch kept is the one "
                  f"with the best accuracy on {ft['validation']} (epoch {ft['kept_epoch']}; 0 = as converted):", "",
                  "| epoch | training loss | training accuracy | validation accuracy |", "|---|---|---|---|"]
        for x in ft["history"]:
            loss = "" if x["train_loss"] is None else f"{x['train_loss']:.3f}"
            acc = "" if x["train_accuracy"] is None else f"{_pct(x['train_accuracy'])} %"
            lines.append(f"| {x['epoch']} | {loss} | {acc} | "
                         f"{_pct(x['val_accuracy'])} % |")
    lines += ["", "## Firing rates (spikes per neuron per step)", "", "| layer | all steps | code window |",
              "|---|---|---|"]
    for x in b["layer_rates"]:
        lines.append(f"| {x['layer']} | {x['rate_all_steps']:.4f} | {x['rate_code_window']:.4f} |")
    for k, v in h["layer_rates"].items():
        lines.append(f"| spiking head {k} | {v:.4f} | |")
    lines += ["", "## Loihi 1 placement of the trained network", "",
              "| configuration | neurons | synapses | cores | chips | fits | violations |", "|---|---|---|---|---|---|---|"]
    for t in r["loihi_placement"]["totals"]:
        lines.append(f"| {t['configuration']} | {t['neurons']:,} | {t['synapses_quantized']:,} | {t['cores']} | "
                     f"{t['chips']} | {'yes' if t['fits'] else 'no'} | {t['violations']} |")
    lines += ["", "Binding limit per layer (`placement_trained.csv` has every column):", "",
              "| configuration | layer | cores | binding limit (max use) |", "|---|---|---|---|"]
    for x in r["loihi_placement"]["layers"]:
        lines.append(f"| {x['configuration']} | {x['layer']} | {x['cores']} | {x['binding_limit']} "
                     f"({x['binding_utilisation_max']:.2f}) |")
    e = r["energy"]
    lines += ["", "## Energy, latency, EDP per inference: qa17, 2-sentence stories", ""]
    if "as_placed" in e:
        m = e["measured_relnet2021"]
        p, c22 = e["as_placed"]["range"], e["as_22_chips"]["range"]

        def span(key, scale, unit):
            return " - ".join(f"{scale * v:.3g}" for v in p[key]) + f" {unit}", \
                " - ".join(f"{scale * v:.3g}" for v in c22[key]) + f" {unit}"

        en, lat, edp = (span("energy_per_inference_J", 1e3, "mJ"), span("latency_per_inference_s", 1e3, "ms"),
                        span("edp_Js", 1e6, "uJ*s"))
        t1, t2 = r["dnn_timing"]["per_threads"][1], r["dnn_timing"]["per_threads"][2]
        pw = r["dnn_timing"]["power_W_per_core"]
        lines += [
            f"{e['questions']} questions, {e['steps_per_inference']} steps per inference (110 encoder steps + "
            f"{h['conversion']['n_steps']} head steps); network: {e['network']}. Estimates: every energy model x "
            "calibration of `biolstm/loihi/chips/loihi1.json` (`biolstm.loihi.report.loihi_summary`).", "",
            "| | energy | latency | EDP |", "|---|---|---|---|",
            f"| Loihi estimate, as placed ({e['as_placed']['cores']} cores, {e['as_placed']['chips']} chip(s)) | "
            f"{en[0]} | {lat[0]} | {edp[0]} |",
            f"| Loihi estimate, counted as 22 chips (as the measured run) | {en[1]} | {lat[1]} | {edp[1]} |",
            f"| measured (Rao et al. 2022, docs/sources.md L3d) | {1e3 * m['energy_per_inference_J']:.2f} mJ | "
            f"{1e3 * m['latency_per_inference_s']:.3f} ms | {1e6 * m['edp_Js']:.1f} uJ*s |",
            f"| DNN (a), torch, batch 1, 1 thread, this CPU ({pw:g} W per core assumed) | "
            f"{1e3 * t1['median_s'] * pw:.3g} mJ | {1e3 * t1['median_s']:.3g} ms | "
            f"{1e6 * t1['median_s'] ** 2 * pw:.3g} uJ*s |",
            f"| DNN (a), torch, batch 1, 2 threads, this CPU | {1e3 * t2['median_s'] * 2 * pw:.3g} mJ | "
            f"{1e3 * t2['median_s']:.3g} ms | {1e6 * t2['median_s'] ** 2 * 2 * pw:.3g} uJ*s |"]
        dt = r["dnn_timing"]
        if "load_average_1min" in dt:
            lines += ["", f"The DNN was timed (median of {t1['repeats']} inferences) at a 1-minute load average of "
                      f"{dt['load_average_1min']:.1f} on this 2-core machine"
                      + (f", in a separate `--retime-dnn` run on {dt['retimed']}" if dt.get("retimed") else "")
                      + "; with the other core busy, 2 threads measure the contention, not the model."]
    else:
        lines.append(e["note"])
    lines += ["", "Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in r["timings_s"].items()), ""]
    return "\n".join(lines)


def plot(table, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [("dnn_torch", "(a) DNN, torch"), ("spiking_torch", "(b) spiking, torch"),
            ("spiking_brian2", "(b) Brian2, ReLU head"), ("spiking_head", "(b) spiking head")]
    x = np.arange(len(table))
    w = 0.2
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(table) + 2), 3.5))
    for k, (col, label) in enumerate(cols):
        ax.bar(x + (k - 1.5) * w, 100 * table[col].astype(float), w, label=label)
    ax.axhline(95, color="k", lw=0.8, ls="--")
    ax.set_xticks(x, [f"qa{t}" for t in table["task"]], rotation=45)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    ax.set_title("bAbI per task (dashed: 95 %, a task passed)")
    fig.tight_layout()
    with atomic_writer(path, overwrite=True) as fh:
        fig.savefig(fh, format="png", dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
