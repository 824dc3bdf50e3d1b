"""The cache of compiled standalone Brian2 programs, keyed by network structure.

Every entry point that runs a network on a standalone backend (``cpp_standalone``,
``cuda_standalone``) goes through this cache: a program is generated and compiled once
per structure and reused by every later call, in this process or another one.

:func:`is_cached` answers whether a run would find its program here (no compilation).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from biolstm.fileio import cache_dir

__all__ = ["cache_root", "is_cached", "simulate_layout", "MAX_SLOTS"]

MAX_SLOTS = 128
"""Samples one run of a :func:`biolstm.brian.simulate` program lays end to end (at most)."""


def cache_root():
    """Folder of compiled programs: ``$BIOLSTM_CACHE/brian`` or ``~/.cache/biolstm/brian``."""
    return cache_dir("brian")


def simulate_layout(backend: str, n_samples: int) -> tuple[int, int]:
    """``(copies, slots)`` of the program :func:`biolstm.brian.simulate` runs ``n_samples`` with.

    On ``cpp_standalone`` one copy of the network runs the samples end to end, ``slots``
    per run of the program: the next power of two of ``n_samples``, at most
    :data:`MAX_SLOTS` (so a handful of programs serve every batch size).
    """
    n = max(1, int(n_samples))
    slots = 1
    while slots < min(n, MAX_SLOTS):
        slots *= 2
    return 1, slots


def is_cached(network: Any, n_steps: int, backend: str = "cpp_standalone", *,
              n_samples: int = 1, mode: str = "float", chip: str = "loihi1",
              record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None) -> bool:
    """True if simulating ``network`` would reuse a compiled program (no code generation).

    Parameters
    ----------
    network : NetworkSpec or QuantizedNetwork
        A float network (``mode="float"``) or, for ``mode="loihi"``, a QuantizedNetwork
        or a NetworkSpec that is quantized for ``chip`` first.
    n_steps : int
        Steps per sample.
    backend : str
        ``cpp_standalone`` or ``cuda_standalone``; every other backend has no program
        cache and gives False.
    n_samples : int
        Samples of the job (the program's layout depends on it, see :func:`simulate_layout`).
    mode : {"float", "loihi"}
        :func:`biolstm.brian.simulate` or the Loihi-exact emulation
        (:func:`biolstm.loihi.emulate.simulate_quantized`).
    chip : str
        Chip for quantizing a NetworkSpec in ``mode="loihi"``.
    record : mapping, optional
        Extra traces the job records (part of the program).

    Returns
    -------
    bool
    """
    if backend not in ("cpp_standalone", "cuda_standalone"):
        return False
    if mode == "loihi":
        return False  # the Loihi-exact mode does not use the cache yet
    from biolstm.brian.compiled import CompiledNetwork

    replicas, slots = simulate_layout(backend, n_samples)
    net = CompiledNetwork(network, int(n_steps), backend=backend, replicas=replicas, slots=slots,
                          record=record, strict_float=False)
    return net.is_built()
