"""Brian2 backends biolstm can run on, with honest availability checks.

=================  =====================================================  ======================
name               Brian2 mechanism                                       needs
=================  =====================================================  ======================
``numpy``          runtime device, ``prefs.codegen.target = "numpy"``     nothing
``cython``         runtime device, ``prefs.codegen.target = "cython"``    Cython, a C compiler,
                                                                          Python headers
``cpp_standalone`` ``set_device("cpp_standalone")``, one C++ program      a C++ compiler, make
=================  =====================================================  ======================

:func:`backend_status` says whether a backend can be used here and, if not, why and
what to install; :func:`require_backend` raises :class:`BackendUnavailableError`
with that message. :func:`activated` switches Brian2 to a backend for the duration
of a ``with`` block and restores the previous device and preferences afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = [
    "BACKENDS",
    "BackendStatus",
    "BackendUnavailableError",
    "backend_status",
    "require_backend",
    "activated",
]

BACKENDS = ("numpy", "cython", "cpp_standalone")
"""Backends of the Brian2 runner, fastest to set up first."""


class BackendUnavailableError(RuntimeError):
    """A requested backend cannot run on this machine; the message says why and the fix."""


@dataclass(frozen=True)
class BackendStatus:
    """Availability of one backend.

    Attributes
    ----------
    name : str
        Backend name.
    available : bool
        True if a run can be attempted.
    reason : str
        Why it is not available (empty if it is).
    fix : str
        What to install or set to make it available.
    """

    name: str
    available: bool
    reason: str = ""
    fix: str = ""


def _compiler(env_var: str, candidates: tuple[str, ...]) -> str | None:
    requested = os.environ.get(env_var)
    if requested:
        return shutil.which(requested.split()[0])
    for cand in candidates:
        found = shutil.which(cand)
        if found:
            return found
    return None


def backend_status(name: str) -> BackendStatus:
    """Check whether backend ``name`` can be used on this machine."""
    if name == "numpy":
        return BackendStatus(name, True)
    if name == "cython":
        if importlib.util.find_spec("Cython") is None:
            return BackendStatus(name, False, "the Cython package is not installed",
                                 "pip install cython")
        if _compiler("CC", ("gcc", "cc", "clang")) is None:
            return BackendStatus(name, False, "no C compiler found (looked for $CC, gcc, cc, clang)",
                                 "install a C compiler, e.g. 'apt install build-essential'")
        include = sysconfig.get_paths().get("include", "")
        if not Path(include, "Python.h").exists():
            return BackendStatus(name, False, f"Python headers missing (no Python.h in {include})",
                                 "install the Python development headers, e.g. 'apt install python3-dev'")
        return BackendStatus(name, True)
    if name == "cpp_standalone":
        if _compiler("CXX", ("g++", "c++", "clang++")) is None:
            return BackendStatus(name, False, "no C++ compiler found (looked for $CXX, g++, c++, clang++)",
                                 "install a C++ compiler, e.g. 'apt install build-essential'")
        if shutil.which("make") is None:
            return BackendStatus(name, False, "'make' is not installed",
                                 "install make, e.g. 'apt install make'")
        return BackendStatus(name, True)
    return BackendStatus(name, False, f"unknown backend {name!r}",
                         f"choose one of {', '.join(BACKENDS)}")


def require_backend(name: str) -> None:
    """Raise :class:`BackendUnavailableError` unless backend ``name`` can be used."""
    status = backend_status(name)
    if not status.available:
        raise BackendUnavailableError(
            f"backend {name!r} is not available: {status.reason}. Fix: {status.fix}."
        )


@contextlib.contextmanager
def activated(name: str, directory: str | os.PathLike | None = None) -> Iterator[Path | None]:
    """Run the enclosed Brian2 code on backend ``name``; restore Brian2's state after.

    For ``cpp_standalone`` the device is set with ``build_on_run=False`` and the
    project directory (a fresh temporary folder unless ``directory`` is given) is
    yielded; the caller runs ``device.build(directory=..., run=True)`` inside the
    block. Leaving the block re-initialises the standalone device so another
    standalone run can follow in the same process.
    """
    import brian2
    from brian2.devices.device import get_device, reset_device, set_device

    require_backend(name)
    previous_target = brian2.prefs.codegen.target
    if name in ("numpy", "cython"):
        brian2.prefs.codegen.target = name
        try:
            yield None
        finally:
            brian2.prefs.codegen.target = previous_target
        return
    project = Path(directory) if directory is not None else Path(
        tempfile.mkdtemp(prefix="biolstm_standalone_"))
    previous_make_args = list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix)
    # Brian2's default "-j" starts every compile job at once; bound it by the CPU count.
    brian2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count() or 1}"]
    set_device("cpp_standalone", directory=str(project), build_on_run=False)
    try:
        yield project
    finally:
        get_device().reinit()
        reset_device()
        brian2.prefs.codegen.target = previous_target
        brian2.prefs.devices.cpp_standalone.extra_make_args_unix = previous_make_args
