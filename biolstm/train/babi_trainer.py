"""Training and scoring of the bAbI RelNets with :func:`biolstm.train.trainer.train`.

:class:`BabiTask` tells the shared trainer how to build a model from a
:class:`~biolstm.train.config.BabiTrainConfig`, feed it a batch of
:class:`~biolstm.tasks.babi.BabiData` questions and score it; checkpoints, resumption,
the learning-rate schedule and the choice of the best validation epoch are the
trainer's (the same code as for sMNIST).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from biolstm.tasks.babi import BabiData
from biolstm.train.config import BabiTrainConfig
from biolstm.train.relnet import DNNRelNet, SpikingRelNet

__all__ = ["BabiTask", "build_babi_model", "babi_predictions", "per_task_accuracy"]


def build_babi_model(cfg: BabiTrainConfig) -> nn.Module:
    """The untrained model of ``cfg`` (deterministic in ``cfg.seed``)."""
    torch.manual_seed(cfg.seed)
    if cfg.model == "dnn":
        return DNNRelNet(cfg.n_words, cfg.n_answers, embed=cfg.embed, hidden=cfg.hidden,
                         g_units=cfg.g_units, f_units=cfg.f_units)
    return SpikingRelNet(cfg.n_words, cfg.n_answers, n_regular=cfg.n_regular,
                         n_adaptive=cfg.n_adaptive, density=cfg.density, seed=cfg.seed,
                         steps_per_word=cfg.steps_per_word, code_steps=cfg.code_steps,
                         g_units=cfg.g_units, f_units=cfg.f_units, quantize=cfg.quantize,
                         gamma=cfg.gamma)


def _batch(data: BabiData, idx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(data.stories[idx]).long(), torch.from_numpy(data.story_lengths[idx]),
            torch.from_numpy(data.queries[idx]).long(), torch.from_numpy(data.answers[idx]))


@torch.no_grad()
def babi_predictions(model: nn.Module, data: BabiData, batch_size: int = 512) -> tuple[np.ndarray, float | None]:
    """Predicted answer ids [N] and (spiking model) the mean encoder rate in the code windows."""
    model.eval()
    preds, rates = [], []
    for s in range(0, len(data), batch_size):
        st, ln, q, _ = _batch(data, slice(s, s + batch_size))
        logits, rate = model(st, ln, q)
        preds.append(logits.argmax(1).numpy())
        if rate is not None:
            rates.append(float(rate) * len(ln))
    model.train()
    return np.concatenate(preds), (sum(rates) / len(data) if rates else None)


def per_task_accuracy(preds: np.ndarray, data: BabiData) -> dict[int, float]:
    """Accuracy per bAbI task number present in ``data``."""
    return {int(t): float(np.mean(preds[data.tasks == t] == data.answers[data.tasks == t]))
            for t in np.unique(data.tasks)}


class BabiTask:
    """The bAbI RelNet task for :func:`biolstm.train.trainer.train`."""

    config_class = BabiTrainConfig

    @staticmethod
    def build_model(cfg: BabiTrainConfig) -> nn.Module:
        return build_babi_model(cfg)

    @staticmethod
    def batch_loss(model: nn.Module, data: BabiData, idx: np.ndarray, cfg: BabiTrainConfig):
        st, ln, q, ans = _batch(data, np.sort(idx))
        logits, rate = model(st, ln, q)
        return nn.functional.cross_entropy(logits, ans), logits, ans, rate

    @staticmethod
    def validate(model: nn.Module, data: BabiData, cfg: BabiTrainConfig) -> dict[str, float]:
        n = min(cfg.eval_samples, len(data))
        sub = data.subset(np.sort(np.random.default_rng(0).permutation(len(data))[:n]))
        preds, rate = babi_predictions(model, sub)
        out = {"accuracy": float(np.mean(preds == sub.answers))}
        if rate is not None:
            out["rate"] = rate
        return out
