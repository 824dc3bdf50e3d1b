"""``--backend auto``: pick the simulator that finishes a job first.

:func:`choose_backend` estimates, for each simulator that can run here, the wall time of
a job -- start-up, one-time compilation if the compiled program is not cached yet, and
``n_samples`` divided by its throughput -- and returns the fastest with a one-line reason.
A warm ``cpp_standalone`` program (:func:`biolstm.brian.standalone.is_cached`) wins
from a few dozen samples on; a cold one costs a compilation, so a handful of samples go
to torch (float mode) or Brian2's numpy target (which compiles nothing).

The figures in :data:`ESTIMATES` are orders of magnitude measured with
``benchmarks/throughput.py`` on a 2-core machine (``results/throughput/throughput.md``);
only their ratios matter for the choice. The one-time build of torch's compiled SNN
kernel (:mod:`biolstm.train.fastsnn`) is counted when no build of it is found under
torch's extension folder.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

logger = logging.getLogger(__name__)

__all__ = ["Estimate", "ESTIMATES", "AUTO", "choose_backend", "estimate_seconds", "warm_standalone_first"]

AUTO = "auto"
"""The backend name that asks for :func:`choose_backend`."""


@dataclass(frozen=True)
class Estimate:
    """Rough cost model of one simulator for the sMNIST-size network (840 steps per sample).

    Attributes
    ----------
    start_s : float
        Seconds before the first sample runs when nothing has to be compiled.
    compile_s : float
        Extra seconds of a cold start (code generation and compilation), 0 if none.
    samples_per_s : float
        Samples per second once running.
    """

    start_s: float
    compile_s: float
    samples_per_s: float


ESTIMATES: dict[str, dict[str, Estimate]] = {
    "float": {
        "cpp_standalone": Estimate(start_s=1.0, compile_s=130.0, samples_per_s=170.0),
        "torch": Estimate(start_s=3.0, compile_s=40.0, samples_per_s=45.0),
        "cython": Estimate(start_s=2.0, compile_s=300.0, samples_per_s=8.0),
        "numpy": Estimate(start_s=0.0, compile_s=0.0, samples_per_s=1.0),
    },
    "loihi": {
        "cpp_standalone": Estimate(start_s=1.0, compile_s=60.0, samples_per_s=50.0),
        "cython": Estimate(start_s=2.0, compile_s=300.0, samples_per_s=8.0),
        "numpy": Estimate(start_s=0.0, compile_s=0.0, samples_per_s=1.3),
    },
}
"""``{mode: {backend: Estimate}}``, rounded from ``benchmarks/throughput.py`` on a busy 2-core
machine (load about 6): start-up beyond what every backend shares (Python, imports, data),
cold compilation (``compile_s`` of torch: its SNN kernel's first build; of cython: Brian2's
extension modules, cached by Brian2 itself, so usually paid once) and samples per second
of the rest of the job."""


def estimate_seconds(backend: str, mode: str, n_samples: int, warm: bool) -> float:
    """Estimated wall seconds of ``n_samples`` on ``backend`` (``warm``: nothing to compile)."""
    e = ESTIMATES[mode][backend]
    return e.start_s + (0.0 if warm else e.compile_s) + int(n_samples) / e.samples_per_s


def warm_standalone_first(mode: str, n_samples: int) -> str | None:
    """The reason line of :func:`choose_backend` if a cached ``cpp_standalone`` program wins
    for ``n_samples`` whatever else is installed or warm (its estimate beats every other
    backend's warm estimate), else None. Needs no network: a caller that knows the program is
    cached (a prepared run, :mod:`biolstm.brian.prepared`) skips describing the network."""
    if mode not in ESTIMATES:
        raise ValueError(f"mode {mode!r} must be one of {sorted(ESTIMATES)}")
    mine = estimate_seconds("cpp_standalone", mode, n_samples, True)
    others = sorted((estimate_seconds(b, mode, n_samples, True), b) for b in ESTIMATES[mode]
                    if b != "cpp_standalone")
    if others and others[0][0] <= mine:
        return None
    best = f" (at best {others[0][1]}: about {others[0][0]:.0f} s)" if others else ""
    return (f"cpp_standalone: compiled program cached (prepared run); about {mine:.0f} s for "
            f"{n_samples} samples{best}")


def _torch_kernel_built() -> bool:
    """True if some build of biolstm's torch SNN kernel exists in torch's extension folder.

    Looked up by file name only (no torch import): ``$TORCH_EXTENSIONS_DIR`` or
    ``$XDG_CACHE_HOME/torch_extensions`` (default ``~/.cache/torch_extensions``).
    """
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if root is None:
        root = str(Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "torch_extensions")
    try:
        return any(Path(root).glob("*/biolstm_fastsnn_v*/*.so")) or any(Path(root).glob("biolstm_fastsnn_v*/*.so"))
    except OSError:
        return False


def _torch_can_run(network: Any) -> str:
    """Why torch cannot simulate ``network`` ('' if it can)."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    import numpy as np

    for proj in getattr(network, "projections", []):
        delay = getattr(proj, "delay", None)
        if delay is not None and np.any(np.asarray(delay) > 0):
            return f"projection {proj.name!r} has synaptic delays, which the torch simulator lacks"
    return ""


def _warm(network: Any, n_steps: int, backend: str, n_samples: int, mode: str, record) -> bool:
    if backend == "torch":
        return _torch_kernel_built()
    if backend != "cpp_standalone":
        return backend != "cython"  # numpy compiles nothing; cython: assume its first build
    try:
        from biolstm.brian.standalone import is_cached
    except ImportError:  # pragma: no cover - before biolstm.brian.standalone existed
        return False
    try:
        return bool(is_cached(network, n_steps, backend, n_samples=n_samples, mode=mode, record=record))
    except Exception as err:  # noqa: BLE001 - a failed lookup only means "cold"
        logger.debug("is_cached(%s) failed: %s", backend, err)
        return False


def choose_backend(network: Any, n_steps: int, n_samples: int, *, mode: str = "float",
                   record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
                   candidates: Sequence[str] | None = None) -> tuple[str, str]:
    """The backend that should finish ``n_samples`` first, and why.

    Parameters
    ----------
    network : NetworkSpec or QuantizedNetwork
        The network as it runs: in ``mode="loihi"`` the quantized one (whose compiled
        program :func:`biolstm.brian.standalone.is_cached` looks up).
    n_steps : int
        Steps per sample (840 for sMNIST).
    n_samples : int
        Samples of the job.
    mode : {"float", "loihi"}
        biolstm's float models or the Loihi-exact integer emulation (no torch there).
    record : mapping, optional
        Traces the job records (part of a compiled program's structure).
    candidates : sequence of str, optional
        Backends to choose from (default: every backend of :data:`ESTIMATES` for the
        mode); the ones that cannot run here are skipped.

    Returns
    -------
    (backend, reason) : tuple of str
        ``reason`` is one line: the choice, whether its program is cached, its estimated
        time and the runner-up's, e.g. ``"cpp_standalone: compiled program cached; about
        4 s for 1000 samples (torch: about 8 s)"``.
    """
    from biolstm.brian.backends import backend_status

    if mode not in ESTIMATES:
        raise ValueError(f"mode {mode!r} must be one of {sorted(ESTIMATES)}")
    names = list(candidates) if candidates is not None else list(ESTIMATES[mode])
    options: list[tuple[float, str, bool]] = []
    skipped: list[str] = []
    for name in names:
        if name not in ESTIMATES[mode]:
            skipped.append(f"{name}: not a {mode}-mode backend")
            continue
        why = _torch_can_run(network) if name == "torch" else (
            "" if backend_status(name).available else backend_status(name).reason)
        if why:
            skipped.append(f"{name}: {why}")
            continue
        warm = _warm(network, n_steps, name, n_samples, mode, record)
        options.append((estimate_seconds(name, mode, n_samples, warm), name, warm))
    if not options:
        raise ValueError(f"no backend can run this job here ({'; '.join(skipped)})")
    options.sort()
    seconds, best, warm = options[0]
    state = {"cpp_standalone": "compiled program cached" if warm else "no compiled program cached yet, "
                               f"compiling takes about {ESTIMATES[mode][best].compile_s:.0f} s",
             "torch": "" if warm else "its SNN kernel compiles once",
             "cython": "", "numpy": "nothing to compile"}.get(best, "")
    others = ", ".join(f"{n}: about {s:.0f} s" for s, n, _ in options[1:3])
    reason = (f"{best}: {state + '; ' if state else ''}about {seconds:.0f} s for {n_samples} samples"
              f"{f' ({others})' if others else ''}")
    logger.debug("backend auto: %s (skipped: %s)", reason, skipped)
    return best, reason
