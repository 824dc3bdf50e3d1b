"""Run NetworkSpecs in Brian2 on a chosen backend (see :mod:`biolstm.brian.backends`).

One builder, one runner, one program cache:

* :mod:`biolstm.brian.build` -- a plain network description (from a NetworkSpec, or from
  a network that describes itself, such as the Loihi QuantizedNetwork of
  :mod:`biolstm.loihi.emulate`) -> Brian2 objects for ``R`` copies x ``K`` samples, with
  sample isolation;
* :mod:`biolstm.brian.run` -- :func:`simulate` (one batch), :func:`evaluate` (a test set,
  copies side by side): execute and collect into one Activity for every layout;
* :mod:`biolstm.brian.standalone` -- :class:`CompiledNetwork` and the cache of compiled
  programs keyed by structure, used by every entry point on ``cpp_standalone`` /
  ``cuda_standalone``.
"""

from biolstm.brian.backends import (
    BACKENDS,
    BackendStatus,
    BackendUnavailableError,
    backend_status,
    require_backend,
)
from biolstm.brian.build import SCHEDULE, StructureError
from biolstm.brian.compare import compare_activities
from biolstm.brian.run import evaluate, simulate
from biolstm.brian.runner import BrianNetwork, build_network
from biolstm.brian.standalone import CompiledNetwork, is_cached

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
    "is_cached",
    "compare_activities",
]
