"""Fine-tuning the converted spiking head of a RelNet (g and f as LIF layers) by surrogate gradients.

The rate-coded conversion (:func:`biolstm.workflows.babi_eval.convert_head`) copies the
trained ReLU weights of g and f, scaled on calibration questions, into non-leaky LIF layers.
With few spikes per question (64 steps; g's last layer fires about 0.001 spikes per neuron
and step) the sum over pairs is estimated coarsely, and the answer differs from the ReLU
head's on about 1 question in 5 (``results/babi/results.md``). What recovers part of that is a
short fine-tuning of the converted layers as spiking layers:
:class:`HeadNetwork` runs the head exactly as :func:`~biolstm.workflows.babi_eval.head_reference`
does (regular rate code of the encoder codes, ``v > 1`` then reset to 0, population spikes
one step later, the readout integrating) with the LSNN pseudo-derivative
``gamma*max(0, 1-|v-1|)`` (:func:`biolstm.train.snn.spike_fn`) in the backward pass, and
:func:`finetune_head` trains its weights and biases with Adam on the cross entropy of the
readout estimate (``v(T)/T * lambda_f``, the ReLU head's logit units) on training questions,
keeping the epoch whose head (run by ``head_reference`` in float64) answers most validation
questions correctly.

The reset is not differentiated (as in :mod:`biolstm.train.snn`); the scales
(``lambda_sum``, the sum weight) stay as converted; weights stay float (the Loihi mapper
quantises them like the converted ones).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from biolstm.errors import BiolstmError
from biolstm.train.snn import spike_fn

__all__ = ["HeadFinetuneError", "HeadNetwork", "finetune_head", "pair_batches", "with_weights", "FINETUNE_GAMMA"]

FINETUNE_GAMMA = 0.3
"""Dampening of the pseudo-derivative in the head fine-tuning (the LSNN value; the head runs
64 steps of non-leaky neurons, not the encoders' 840-step BPTT for which biolstm uses 0.1)."""

log = logging.getLogger(__name__)


class HeadFinetuneError(BiolstmError, ValueError):
    """Data or options the head fine-tuning cannot use."""


class HeadNetwork(nn.Module):
    """The spiking head of a :class:`~biolstm.workflows.babi_eval.SpikingHead` as a torch module.

    Parameters ``g_w{k}`` [n_in, n_out], ``g_b{k}`` [n_out] (g's layers, units of ``v_th``
    per input spike and per step) and ``f_w{k}``, ``f_b{k}`` (f's layers and readout), from
    the head's ``normalised`` weights.
    """

    def __init__(self, head: Any, gamma: float = FINETUNE_GAMMA, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.n_steps = int(head.n_steps)
        self.code_steps = int(head.code_steps)
        self.sum_weight = float(head.sum_weight)
        self.f_scale = float(head.f.scales[-1])
        self.gamma = float(gamma)
        self.n_g = len(head.g.normalised)
        self.n_f = len(head.f.normalised)
        for part, layers in (("g", head.g.normalised), ("f", head.f.normalised)):
            for k, (w, b) in enumerate(layers):
                self.register_parameter(f"{part}_w{k}", nn.Parameter(torch.tensor(w, dtype=dtype)))
                self.register_parameter(f"{part}_b{k}", nn.Parameter(torch.tensor(b, dtype=dtype)))

    def layers(self, part: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        n = self.n_g if part == "g" else self.n_f
        return [(getattr(self, f"{part}_w{k}"), getattr(self, f"{part}_b{k}")) for k in range(n)]

    def normalised(self, part: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """The current ``(W, b)`` of ``part`` ("g" or "f") as float64 arrays."""
        return [(w.detach().double().numpy().copy(), b.detach().double().numpy().copy())
                for w, b in self.layers(part)]

    def forward(self, rows: torch.Tensor, owner: torch.Tensor, n_questions: int) -> torch.Tensor:
        """Readout estimate ``v(T) / T * lambda_f`` [n_questions, n_answers] (the ReLU head's logit units).

        ``rows`` [R, n_g_in]: g inputs ``[s_i, s_j, q]`` in spikes per step (codes / code_steps);
        ``owner`` int64 [R]: the question of each row.
        """
        T = self.n_steps
        g, f = self.layers("g"), self.layers("f")
        R = rows.shape[0]
        vg = [rows.new_zeros((R, w.shape[1])) for w, _ in g]
        zg = [torch.zeros_like(v) for v in vg]
        vs = rows.new_zeros((n_questions, g[-1][0].shape[1]))
        zs = torch.zeros_like(vs)
        vf = [rows.new_zeros((n_questions, w.shape[1])) for w, _ in f]
        zf = [torch.zeros_like(v) for v in vf[:-1]]
        for t in range(T):
            # regular code, as biolstm.convert.relu_mlp.rate_code
            x_in = ((torch.floor((t + 1.0) * rows + 1e-9) - torch.floor(t * rows + 1e-9)) > 0).to(rows.dtype)
            new_g = []
            for k, (w, b) in enumerate(g):
                pre = x_in if k == 0 else zg[k - 1]
                v = vg[k] + pre @ w + b
                z = spike_fn(v - 1.0, self.gamma)
                vg[k] = v * (1.0 - z.detach())
                new_g.append(z)
            summed = rows.new_zeros(vs.shape).index_add(0, owner, zg[-1])
            v = vs + summed * self.sum_weight
            z_s = spike_fn(v - 1.0, self.gamma)
            vs = v * (1.0 - z_s.detach())
            new_f = []
            for k, (w, b) in enumerate(f):
                pre = zs if k == 0 else zf[k - 1]
                v = vf[k] + pre @ w + b
                if k < self.n_f - 1:
                    z = spike_fn(v - 1.0, self.gamma)
                    vf[k] = v * (1.0 - z.detach())
                    new_f.append(z)
                else:
                    vf[k] = v
            zg, zs, zf = new_g, z_s, new_f
        return vf[-1] / T * self.f_scale


def pair_batches(lengths: np.ndarray, max_rows: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Question index batches whose pairs (``L(L+1)/2`` each) add up to at most ``max_rows``
    (one question per batch when it alone has more), in random order."""
    pairs = lengths * (lengths + 1) // 2
    order = rng.permutation(len(lengths))
    batches, cur, rows = [], [], 0
    for i in order:
        if cur and rows + pairs[i] > max_rows:
            batches.append(np.asarray(cur))
            cur, rows = [], 0
        cur.append(i)
        rows += pairs[i]
    if cur:
        batches.append(np.asarray(cur))
    return batches


def _rows(codes_s: np.ndarray, codes_q: np.ndarray, lengths: np.ndarray, cs: int):
    from biolstm.workflows.babi_eval import pair_rows

    rows, owner = pair_rows(codes_s / cs, codes_q / cs, lengths)
    return torch.tensor(rows, dtype=torch.float32), torch.tensor(owner, dtype=torch.int64)


def finetune_head(head: Any, train: Any, train_answers: np.ndarray, validation: Any,
                  validation_answers: np.ndarray, *, epochs: int = 3, lr: float = 1e-4,
                  max_rows: int = 1024, gamma: float = FINETUNE_GAMMA, grad_clip: float = 1.0, seed: int = 0,
                  progress: Callable[[str], None] | None = None) -> tuple[Any, list[dict[str, Any]]]:
    """Fine-tune the converted g and f of ``head`` on training questions; keep the best epoch on validation.

    Parameters
    ----------
    head : SpikingHead
        From :func:`~biolstm.workflows.babi_eval.convert_head`.
    train, validation : EncoderCodes
        Codes of training questions (never test questions) and of held-out validation questions.
    train_answers, validation_answers : int [N]
        Answer indices.
    epochs, lr, max_rows, gamma, grad_clip, seed
        Adam on the cross entropy; batches of questions with at most ``max_rows`` g instances.
    progress : callable, optional
        Called with a line per epoch; given, a progress bar of the batches goes to stderr too.

    Returns
    -------
    (SpikingHead, history)
        The head of the best epoch (epoch 0 = as converted; its ``finetuned`` says how it was
        made) and one row per epoch: ``epoch``, ``train_loss``, ``train_accuracy`` (None for
        epoch 0), ``val_accuracy`` (float64 reference run), ``epoch_s``.
    """
    from biolstm.workflows.babi_eval import run_spiking_head

    train_answers = np.asarray(train_answers, dtype=np.int64)
    validation_answers = np.asarray(validation_answers, dtype=np.int64)
    for what, codes, ans in (("training", train, train_answers), ("validation", validation, validation_answers)):
        if len(codes.lengths) != len(ans) or len(ans) == 0:
            raise HeadFinetuneError(f"{what} codes hold {len(codes.lengths)} questions but {len(ans)} answers "
                                    f"are given; give one answer index per question (at least one)")
        if ans.min() < 0 or ans.max() >= head.n_answers:
            raise HeadFinetuneError(f"{what} answers span {ans.min()}..{ans.max()}; the head has "
                                    f"{head.n_answers} answers (0..{head.n_answers - 1})")
    if not (isinstance(epochs, int) and epochs >= 1 and lr > 0 and max_rows >= 1):
        raise HeadFinetuneError(f"epochs={epochs!r}, lr={lr!r}, max_rows={max_rows!r}: need an integer "
                                f"epochs >= 1, lr > 0 and max_rows >= 1")
    say = progress or (lambda line: log.info("%s", line))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = HeadNetwork(head, gamma=gamma)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    cs = head.code_steps
    s_all, q_all, lengths = train.story_codes(), train.question_codes(), train.lengths

    def val_accuracy(h) -> float:
        return float(np.mean(run_spiking_head(h, validation, "reference").answers == validation_answers))

    best_acc = val_accuracy(head)
    best = head
    history = [{"epoch": 0, "train_loss": None, "train_accuracy": None,
                "val_accuracy": best_acc, "epoch_s": 0.0}]
    say(f"head fine-tuning: as converted, {100 * best_acc:.1f} % of {len(validation_answers)} validation questions")
    for ep in range(1, epochs + 1):
        t0 = time.perf_counter()
        net.train()
        total, correct, count = 0.0, 0, 0
        batches = pair_batches(lengths, max_rows, rng)
        for idx in tqdm(batches, desc=f"head fine-tuning epoch {ep}/{epochs}", unit="batch", leave=False,
                        disable=progress is None):
            rows, owner = _rows(s_all[idx], q_all[idx], lengths[idx], cs)
            y = torch.tensor(train_answers[idx])
            logits = net(rows, owner, len(idx))
            loss = nn.functional.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
            opt.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            count += len(idx)
        candidate = with_weights(head, net, epoch=ep, lr=lr, gamma=gamma, n_train=len(train_answers))
        acc = val_accuracy(candidate)
        row = {"epoch": ep, "train_loss": total / count, "train_accuracy": correct / count,
               "val_accuracy": acc, "epoch_s": time.perf_counter() - t0}
        history.append(row)
        say(f"head fine-tuning epoch {ep}/{epochs}: loss {row['train_loss']:.3f}, training accuracy "
            f"{100 * row['train_accuracy']:.1f} %, validation {100 * acc:.1f} % ({row['epoch_s']:.0f} s)")
        if acc > best_acc:
            best_acc, best = acc, candidate
    return best, history


def with_weights(head: Any, net: HeadNetwork, **how: Any) -> Any:
    """A copy of ``head`` whose g and f hold ``net``'s current weights (``finetuned`` = ``how``)."""
    g = head.g.with_normalised(net.normalised("g"))
    f = head.f.with_normalised(net.normalised("f"))
    return replace(head, g=g, f=f, finetuned=dict(how))
