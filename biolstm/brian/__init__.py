"""Run NetworkSpecs in Brian2 on a chosen backend (see :mod:`biolstm.brian.backends`)."""

from biolstm.brian.backends import (
    BACKENDS,
    BackendStatus,
    BackendUnavailableError,
    backend_status,
    require_backend,
)
from biolstm.brian.runner import SCHEDULE, BrianNetwork, build_network, simulate

__all__ = [
    "BACKENDS",
    "BackendStatus",
    "BackendUnavailableError",
    "backend_status",
    "require_backend",
    "SCHEDULE",
    "BrianNetwork",
    "build_network",
    "simulate",
]
