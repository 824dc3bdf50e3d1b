"""Trained torch models -> NetworkSpec."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

__all__ = ["from_torch", "from_checkpoint"]


def from_torch(model, metadata: Mapping[str, Any] | None = None):
    """The NetworkSpec of a :class:`~biolstm.train.snn.TorchNetwork` with its current weights.

    The weights are those of the forward pass (masked, and rounded to the 8-bit grid if
    the model was trained with quantization), in volts.
    """
    from biolstm.train.snn import TorchConversionError, TorchNetwork

    if not isinstance(model, TorchNetwork):
        raise TorchConversionError(
            f"from_torch needs a biolstm TorchNetwork, got {type(model).__name__}; an LSTM has no "
            f"NetworkSpec form")
    return model.to_spec(metadata)


def from_checkpoint(path: str | Path):
    """The NetworkSpec of a spiking model saved in a ``biolstm train`` checkpoint."""
    from biolstm.train.trainer import model_from_checkpoint

    model, cfg, state = model_from_checkpoint(path)
    return from_torch(model, {"training": {"checkpoint": str(path), "epoch": state["epoch"],
                                           "train_data": state.get("train_description", "")}})
