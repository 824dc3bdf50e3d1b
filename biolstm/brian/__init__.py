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

import importlib
import importlib.util
from typing import Any

from biolstm.brian.backends import (
    BACKENDS,
    BackendStatus,
    BackendUnavailableError,
    backend_status,
    require_backend,
)
from biolstm.brian.build import SCHEDULE, StructureError

# The runners are imported when first used (PEP 562): running a compiled program from the
# cache (biolstm.brian.standalone, biolstm.brian.prepared) imports no Brian2, while the
# builders, Brian2's own runtime and the comparison tools do.
_LAZY = {
    "compare_activities": "biolstm.brian.compare",
    "evaluate": "biolstm.brian.run",
    "simulate": "biolstm.brian.run",
    "BrianNetwork": "biolstm.brian.runner",
    "build_network": "biolstm.brian.runner",
    "CompiledNetwork": "biolstm.brian.standalone",
    "is_cached": "biolstm.brian.standalone",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:   # a submodule, as before
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module 'biolstm.brian' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value   # later lookups (and monkeypatching) see a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
