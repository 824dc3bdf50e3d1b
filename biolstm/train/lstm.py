"""LSTM baseline: 128 units on the same encoded input, class from the last step."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

__all__ = ["LSTMClassifier", "measure_inference_time"]


class LSTMClassifier(nn.Module):
    """``nn.LSTM(n_inputs, hidden)`` followed by a linear readout of the last step.

    Parameters
    ----------
    n_inputs : int
        Input channels per step (80 threshold-crossing channels for sMNIST).
    hidden : int
        LSTM units (the paper's comparison: 128).
    n_classes : int
    chrono_steps : int or None
        Chrono initialisation of the gate biases (Tallec & Ollivier, ICLR 2018) for
        dependencies up to this many steps: forget bias ``log(U(1, T-1))``, input bias
        its negative. Without it (None) the forget bias is 1 (Jozefowicz et al. 2015).
        On 840-step sMNIST the plain initialisation sat at chance level for epochs.
    """

    def __init__(self, n_inputs: int = 80, hidden: int = 128, n_classes: int = 10,
                 chrono_steps: int | None = 840) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_classes)
        with torch.no_grad():
            h = hidden
            self.lstm.bias_hh_l0[: 2 * h].zero_()
            if chrono_steps:
                b_f = torch.log(torch.empty(h).uniform_(1, chrono_steps - 1))
                self.lstm.bias_ih_l0[h:2 * h].copy_(b_f)
                self.lstm.bias_ih_l0[:h].copy_(-b_f)
            else:
                self.lstm.bias_ih_l0[h:2 * h].fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, T, n_inputs] -> logits [B, n_classes]."""
        out, _ = self.lstm(x)
        return self.head(out[:, -1])

    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.parameters()))


@torch.no_grad()
def measure_inference_time(model: nn.Module, x: torch.Tensor, repeats: int = 20,
                           threads: int | None = 1) -> dict[str, float]:
    """Wall time of one inference at batch size 1 (as the paper measured), on this CPU.

    Parameters
    ----------
    model : nn.Module
        Called as ``model(x[i:i+1])``.
    x : Tensor [N, T, C]
        Samples to cycle through (encoded input).
    repeats : int
        Timed inferences (after 3 warm-up runs).
    threads : int or None
        ``torch.set_num_threads`` during the measurement (restored afterwards).

    Returns
    -------
    dict with ``median_s``, ``mean_s``, ``min_s``, ``repeats``, ``threads``, ``steps``.
    """
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        model.eval()
        for i in range(3):
            model(x[i % len(x): i % len(x) + 1])
        times = []
        for i in range(repeats):
            sample = x[i % len(x): i % len(x) + 1]
            t0 = time.perf_counter()
            model(sample)
            times.append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)
    times = np.asarray(times)
    return {"median_s": float(np.median(times)), "mean_s": float(times.mean()),
            "min_s": float(times.min()), "repeats": repeats,
            "threads": threads or old, "steps": int(x.shape[1])}
