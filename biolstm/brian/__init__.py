"""Run NetworkSpecs in Brian2 on a chosen backend (see :mod:`biolstm.brian.backends`).

:func:`simulate` runs one batch (samples end to end in one network);
:func:`evaluate` / :class:`CompiledNetwork` evaluate whole test sets with copies of the
network side by side and one compiled program per network structure
(:mod:`biolstm.brian.compiled`).
"""

from biolstm.brian.backends import (
    BACKENDS,
    BackendStatus,
    BackendUnavailableError,
    backend_status,
    require_backend,
)
from biolstm.brian.compare import compare_activities
from biolstm.brian.compiled import CompiledNetwork, StructureError, evaluate
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
    "evaluate",
    "CompiledNetwork",
    "StructureError",
    "compare_activities",
]
