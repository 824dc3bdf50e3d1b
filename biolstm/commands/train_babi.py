"""``biolstm train babi``: train the spiking RelNet or the DNN RelNet on bAbI (torch).

Examples::

    biolstm train babi --model dnn --babi PATH/en-10k --out runs/babi_dnn
    biolstm train babi --model spiking --babi PATH/en-10k --out runs/babi_snn   # resumable

Training reads the ``train`` files of the chosen tasks (all 20 by default; from
``en-10k`` a missing file is read from the sibling ``en`` folder, as qa3 must be) and
holds the last 10 % of every task's training questions apart for validation; the epoch
with the best validation accuracy is kept (``best.pt``). The test files are not read.
The run folder gets ``checkpoint.pt``, ``best.pt``, ``history.csv``, ``config.json`` and
``vocab.json`` (the words and answers the model was built for).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from biolstm.commands import print_library_log
from biolstm.commands.argtypes import fraction, nonnegative_float, nonnegative_int, positive_float, positive_int

__all__ = ["add_arguments", "run", "task_list"]


def task_list(text: str) -> list[int]:
    """--tasks: comma-separated task numbers and ranges, e.g. ``1,2,17`` or ``1-20``."""
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of task numbers like 1,2,17 or 1-20") from None
    bad = [t for t in out if not 1 <= t <= 20]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"tasks {bad or text} are not bAbI tasks; tasks are 1..20")
    return sorted(set(out))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from biolstm.train.config import BabiTrainConfig as D

    parser.add_argument("--model", default=D.model, choices=["spiking", "dnn"],
                        help="spiking RelNet (AHP encoders) or the DNN RelNet (LSTM encoders)")
    parser.add_argument("--babi", required=True,
                        help="bAbI v1.2 folder with the training files (en-10k/ or en/)")
    parser.add_argument("--fallback", default=None,
                        help="folder for task files missing in --babi (default: the sibling en/ "
                             "of an en-10k/ folder)")
    parser.add_argument("--tasks", type=task_list, default=list(range(1, 21)),
                        help="tasks to train on jointly, e.g. 1-20 (default) or 1,2,17")
    parser.add_argument("--out", required=True, help="run folder (checkpoint, history, vocabulary)")
    parser.add_argument("--epochs", type=positive_int, default=D.epochs)
    parser.add_argument("--batch-size", type=positive_int, default=D.batch_size)
    parser.add_argument("--lr", type=positive_float, default=D.lr)
    parser.add_argument("--density", type=fraction, default=D.density)
    parser.add_argument("--rate-target", type=nonnegative_float, default=D.rate_target)
    parser.add_argument("--rate-reg", type=nonnegative_float, default=D.rate_reg)
    parser.add_argument("--code-steps", type=positive_int, default=D.code_steps,
                        help="steps at the end of a sentence whose spikes are its code (paper: 14)")
    parser.add_argument("--seed", type=int, default=D.seed)
    parser.add_argument("--eval-samples", type=nonnegative_int, default=D.eval_samples,
                        help="validation questions scored after each epoch")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--init", default="", metavar="CHECKPOINT",
                        help="fine-tune: start from the weights of another run's best.pt or "
                             "checkpoint.pt (same model settings); fresh optimiser and schedule")
    parser.add_argument("--no-resume", action="store_true",
                        help="fail if the run folder already has a checkpoint")


def run(args: argparse.Namespace) -> int:
    import torch

    from biolstm.fileio import atomic_writer
    from biolstm.tasks import babi
    from biolstm.train.babi_trainer import BabiTask
    from biolstm.train.config import BabiTrainConfig
    from biolstm.train.trainer import TrainError, train

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file; give a folder for the run (created if missing)")
    folder = Path(args.babi)
    fallback = Path(args.fallback) if args.fallback else (
        folder.parent / "en" if folder.name == "en-10k" and (folder.parent / "en").is_dir() else None)
    data = babi.load_babi(folder, args.tasks, parts=("train",), fallback=fallback)["train"]
    vocab_path = out / "vocab.json"
    if vocab_path.exists():  # a resumed run keeps the vocabulary it was built with
        stored = babi.Vocabulary.from_dict(json.loads(vocab_path.read_text()))
        if stored != data.vocab:
            raise TrainError(f"{vocab_path} holds another vocabulary than --babi {folder} with tasks "
                             f"{args.tasks}; use the same data to resume or another --out folder")
    fit, val = babi.train_valid_split(data, 0.1)
    torch.set_num_threads(max(1, args.threads))
    cfg = BabiTrainConfig(model=args.model, n_words=data.vocab.size, n_answers=len(data.vocab.answers),
                          density=args.density, code_steps=args.code_steps, epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr, rate_target=args.rate_target,
                          rate_reg=args.rate_reg, seed=args.seed, eval_samples=args.eval_samples,
                          init=args.init)
    out.mkdir(parents=True, exist_ok=True)
    if not vocab_path.exists():
        with atomic_writer(vocab_path, mode="w") as fh:
            json.dump(data.vocab.to_dict(), fh)
    print(f"Training the {cfg.model} RelNet on {fit.description} ({len(fit)} questions)")
    print(f"Selecting on {val.description} ({cfg.eval_samples} questions per epoch; the test files "
          f"are not read)")
    print(json.dumps(dataclasses.asdict(cfg)))
    print_library_log()  # the trainer's resume line and one JSON row per epoch
    result = train(cfg, out, fit, val, resume=not args.no_resume, task=BabiTask)
    print(f"Finished {len(result['history'])} epochs; best validation epoch {result['best_epoch']} "
          f"(weights in {out / 'best.pt'}, vocabulary in {vocab_path})")
    return 0
