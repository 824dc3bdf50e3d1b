"""``biolstm eval babi``: per-task accuracy of a trained bAbI RelNet on test questions.

Examples::

    biolstm eval babi --weights runs/babi_snn                 # the bundled test subset
    biolstm eval babi --weights runs/babi_snn --data PATH/en --task 17 --json

``--weights`` is a run folder of ``biolstm train babi`` (``best.pt``, the best validation
epoch, and ``vocab.json``). ``--data`` is ``bundled`` (the test subset that ships with
biolstm, about 100 questions per task) or a bAbI v1.2 folder whose ``test`` files are
read. A task is passed at an error of at most 5 % (the bAbI convention). The model runs
in torch; the Brian2 and Loihi-exact runs need g and f as spiking layers, which this
version does not build yet, and are refused with that reason.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_arguments", "run", "PASS_ERROR"]

PASS_ERROR = 0.05
"""A bAbI task counts as passed at a test error of at most 5 % (Weston et al. 2015)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="run folder of 'biolstm train babi'")
    parser.add_argument("--data", default="bundled", help="bundled | PATH (bAbI v1.2 folder)")
    parser.add_argument("--task", type=int, default=None, choices=range(1, 21), metavar="N",
                        help="one task (1..20; default all)")
    parser.add_argument("--backend", default="torch", help="torch (Brian2 backends: not yet)")
    parser.add_argument("--mode", choices=["float", "loihi"], default="float")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")


def run(args: argparse.Namespace) -> int:
    from biolstm.tasks import babi
    from biolstm.train.babi_trainer import BabiTask, babi_predictions, per_task_accuracy
    from biolstm.train.trainer import TrainError, best_model

    if args.backend != "torch" or args.mode != "float":
        raise TrainError(
            f"--backend {args.backend} --mode {args.mode}: the bAbI RelNet runs in torch float only "
            f"for now (its g and f are ReLU layers; running it in Brian2 or the Loihi-exact mode "
            f"needs them converted to spiking layers); use --backend torch --mode float")
    weights = Path(args.weights)
    vocab_path = weights / "vocab.json"
    if not (weights / "best.pt").is_file() or not vocab_path.is_file():
        raise TrainError(f"--weights {weights} is not a 'biolstm train babi' run folder (it needs "
                         f"best.pt and vocab.json)")
    vocab = babi.Vocabulary.from_dict(json.loads(vocab_path.read_text()))
    folder = babi.bundled_babi_dir() if args.data == "bundled" else Path(args.data)
    tasks = [args.task] if args.task else None
    data = babi.load_babi(folder, tasks, parts=("test",), vocab=vocab)["test"]
    model, cfg, record = best_model(weights, task=BabiTask)
    preds, rate = babi_predictions(model, data)
    acc = per_task_accuracy(preds, data)
    passed = [t for t, a in acc.items() if 1 - a <= PASS_ERROR]
    out = {"model": cfg.model, "weights": str(weights), "epoch": record["epoch"], "data": data.description,
           "questions": len(data), "accuracy_per_task": acc, "mean_accuracy": sum(acc.values()) / len(acc),
           "tasks_passed": passed, "encoder_rate_spikes_per_neuron_per_step": rate}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{cfg.model} RelNet from {weights} (epoch {record['epoch']}) on {data.description}, "
          f"{len(data)} questions")
    for t, a in acc.items():
        print(f"  qa{t:<2d} {babi.TASK_NAMES[t]:24s} {100 * a:6.1f} %" + ("  passed" if t in passed else ""))
    print(f"Mean accuracy {100 * out['mean_accuracy']:.1f} %, {len(passed)} of {len(acc)} tasks passed "
          f"(error <= {100 * PASS_ERROR:.0f} %)")
    if rate is not None:
        print(f"Encoder rate in the code windows: {rate:.4f} spikes per neuron per step")
    return 0
