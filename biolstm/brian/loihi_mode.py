"""Compatibility path (the README's): the Loihi-exact emulator lives in :mod:`biolstm.loihi.emulate`.

Only the two entry points are re-exported here; new code imports from
:mod:`biolstm.loihi.emulate`.
"""

from biolstm.loihi.emulate import simulate_loihi, simulate_quantized  # compatibility re-export

__all__ = ["simulate_loihi", "simulate_quantized"]
