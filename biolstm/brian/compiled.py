"""Compatibility path: test-set evaluation and compiled programs.

:func:`evaluate` lives in :mod:`biolstm.brian.run`, :class:`CompiledNetwork` and the
program cache in :mod:`biolstm.brian.standalone`, the builder (copies x slots, inputs,
sample isolation) in :mod:`biolstm.brian.build`; new code imports from there.
"""

from biolstm.brian.build import BITS_PER_WORD, StructureError
from biolstm.brian.run import default_replicas, evaluate
from biolstm.brian.standalone import CompiledNetwork, cache_root, strict_float

__all__ = [
    "BITS_PER_WORD",
    "StructureError",
    "CompiledNetwork",
    "evaluate",
    "strict_float",
    "cache_root",
    "default_replicas",
]
