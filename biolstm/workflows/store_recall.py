"""STORE-RECALL pipelines: train a spiking network or the LSTM baseline, score them, and
measure the memory of an untrained network.

The task and its network live in :mod:`biolstm.tasks.store_recall`; this module trains
them with biolstm's torch network (:func:`train_spiking`, cells derived from
:class:`~biolstm.neurons.DiscreteModel` via :class:`~biolstm.train.snn.TorchNetwork`) and
the LSTM baseline (:func:`train_lstm`), scores them (:func:`evaluate`), and gives a
training-free memory measure (:func:`reservoir_memory`: a Brian2 or torch simulation of an
untrained network plus a cross-validated linear decoder of the bit from the recall-window
spike counts).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from biolstm.tasks.store_recall import StoreRecallTask

__all__ = ["train_spiking", "train_lstm", "evaluate", "reservoir_memory"]


def _batches(task: StoreRecallTask, iterations: int, batch_size: int, seed: int):
    for it in range(iterations):
        yield task.generate(batch_size, seed=int(np.random.SeedSequence([seed, it]).generate_state(1)[0]))


def _fit(build: Callable[[], Any], step: Callable, task: StoreRecallTask, *, iterations: int,
         batch_size: int, lr: float, lr_final: float, seed: int, desc: str, progress: bool,
         threads: int | None) -> tuple[Any, list[dict]]:
    """The loop both trainers share: seed torch, ``build()`` the model, then per batch set
    the cosine learning rate, ``objective, record = step(model, x, y)`` (``x`` float32
    ``[B, T, 4*channels]``, ``y`` int ``[B]``; ``record`` holds ``loss``, ``accuracy`` and
    any extra per-iteration numbers), Adam step with gradients clipped to norm 1, and one
    history row ``{"iteration", **record, "seconds"}``."""
    import torch
    from torch import nn

    from biolstm.train.trainer import cosine_lr

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        model = build()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        history: list[dict] = []
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=iterations, desc=desc, unit="batch")
        t0 = time.perf_counter()
        for it, (x, y) in enumerate(_batches(task, iterations, batch_size, seed)):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(lr, lr_final, it / max(iterations - 1, 1))
            objective, record = step(model, torch.tensor(x, dtype=torch.float32), torch.tensor(y))
            opt.zero_grad(set_to_none=True)
            objective.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            history.append({"iteration": len(history) + 1, **record, "seconds": time.perf_counter() - t0})
            if bar is not None:
                bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['accuracy']:.2f}")
                bar.update(1)
        if bar is not None:
            bar.close()
    finally:
        torch.set_num_threads(old_threads)
    return model, history


def train_spiking(spec, task: StoreRecallTask, *, iterations: int = 100, batch_size: int = 32,
                  lr: float = 1e-3, lr_final: float = 0.1, rate_target: float = 0.02,
                  rate_reg: float = 100.0, seed: int = 0, progress: bool = True,
                  threads: int | None = 1) -> tuple[Any, list[dict]]:
    """Train ``spec`` on freshly drawn batches with BPTT (Adam, surrogate gradients).

    Loss: cross entropy of the readout (threshold units) averaged over the RECALL window,
    plus ``rate_reg * mean_i (rate_i - rate_target)^2`` (spikes per neuron per step).
    The learning rate decays from ``lr`` to ``lr * lr_final`` on a cosine schedule. Without
    the decay and with a weak rate term, rates creep up after the task is solved and
    training falls apart (measured, delay 200, 200 batches, seeds 0 and 1: test accuracy
    50 % / 79 % with ``rate_reg = 10`` and a constant rate, 94 % / 99 % with
    ``rate_reg = 100`` and a constant rate, 100 % / 99.5 % with the defaults).
    Prediction uses the last step only. Returns the trained
    :class:`~biolstm.train.snn.TorchNetwork` and the history (one dict per iteration:
    loss, accuracy, rate, seconds).
    """
    import torch
    from torch import nn

    from biolstm.train.snn import TorchNetwork

    def step(net, xb, yb):
        res = net(xb, readout_steps=task.window)
        tail = res.readout_tail  # [B, window, 2]
        loss = nn.functional.cross_entropy(tail.reshape(-1, 2), yb.repeat_interleave(task.window))
        counts = torch.cat(list(res.spike_counts.values()), dim=1) / task.n_steps
        total = loss + rate_reg * ((counts.mean(0) - rate_target) ** 2).mean()
        acc = float((res.readout_last.argmax(1) == yb).float().mean())
        return total, {"loss": loss.item(), "accuracy": acc, "rate": counts.mean().item()}

    return _fit(lambda: TorchNetwork(spec), step, task, iterations=iterations, batch_size=batch_size,
                lr=lr, lr_final=lr_final, seed=seed, desc=f"train {spec.population('ada').model}",
                progress=progress, threads=threads)


def train_lstm(task: StoreRecallTask, *, hidden: int = 32, iterations: int = 300, batch_size: int = 32,
               lr: float = 3e-3, lr_final: float = 0.1, seed: int = 0, progress: bool = True,
               threads: int | None = 1) -> tuple[Any, list[dict]]:
    """Train the LSTM baseline (:class:`~biolstm.train.lstm.LSTMClassifier`, 2 classes).

    Same batches, loss over the RECALL window of the LSTM's per-step logits, prediction
    at the last step. Returns the model and the history (loss, accuracy, seconds).
    """
    from torch import nn

    from biolstm.train.lstm import LSTMClassifier

    def step(model, xb, yb):
        out, _ = model.lstm(xb)
        logits = model.head(out[:, -task.window:])
        loss = nn.functional.cross_entropy(logits.reshape(-1, 2), yb.repeat_interleave(task.window))
        acc = float((logits[:, -1].argmax(1) == yb).float().mean())
        return loss, {"loss": loss.item(), "accuracy": acc}

    return _fit(lambda: LSTMClassifier(task.n_inputs, hidden, 2), step, task, iterations=iterations,
                batch_size=batch_size, lr=lr, lr_final=lr_final, seed=seed, desc="train lstm",
                progress=progress, threads=threads)


def evaluate(model, task: StoreRecallTask, n: int = 200, seed: int = 12345) -> float:
    """Accuracy of a trained TorchNetwork or LSTMClassifier on ``n`` fresh samples."""
    import torch

    x, y = task.generate(n, seed)
    with torch.no_grad():
        xb = torch.tensor(x, dtype=torch.float32)
        if hasattr(model, "lstm"):
            pred = model(xb).argmax(1).numpy()
        else:
            pred = model(xb).readout_last.argmax(1).numpy()
    return float(np.mean(pred == y))


def reservoir_memory(spec, task: StoreRecallTask, n_samples: int = 200, *, seed: int = 0,
                     folds: int = 5, simulator: str = "brian2", backend: str = "numpy",
                     progress: bool = False) -> dict[str, float]:
    """How well the bit can be read out of an *untrained* network after the delay.

    Simulates ``n_samples`` samples of ``task`` through ``spec`` -- with Brian2
    (:func:`biolstm.brian.simulate` on ``backend``) or, with ``simulator="torch"``, with
    :func:`biolstm.train.snn.torch_activity` (same discrete model, all samples as one
    batch, much faster in Python) -- takes each neuron's spike count in the RECALL
    window, and fits a logistic-regression decoder; returns the ``folds``-fold
    cross-validated accuracy (``accuracy``, chance 0.5), its standard deviation over
    folds, and the mean rate during the recall window (Hz). Nothing is trained but
    the linear decoder, so the number measures the memory the dynamics keep.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from biolstm.brian import simulate

    inputs, bits = task.spike_trains(n_samples, seed)
    if simulator == "brian2":
        act = simulate(spec, inputs, backend, progress=progress)
    elif simulator == "torch":
        from biolstm.train.snn import torch_activity

        act = torch_activity(spec, inputs, batch_size=n_samples, progress=progress)
    else:
        raise ValueError(f"simulator={simulator!r} must be 'brian2' or 'torch'")
    recall = task.recall_window
    features = []
    for pop in act.spikes:
        ev = act.spikes[pop]
        ev = ev[(ev[:, 1] >= recall.start) & (ev[:, 1] < recall.stop)]
        counts = np.zeros((n_samples, act.population_sizes[pop]))
        np.add.at(counts, (ev[:, 0], ev[:, 2]), 1)
        features.append(counts)
    X = np.concatenate(features, axis=1)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_score(clf, X, bits, cv=cv)
    rate = X.sum() / (X.shape[1] * n_samples * task.window * task.dt_ms * 1e-3)
    return {"accuracy": float(scores.mean()), "accuracy_sd": float(scores.std()),
            "recall_rate_hz": float(rate)}
