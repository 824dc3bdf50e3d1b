"""Brian2 backends biolstm can run on, with honest availability checks.

===================  ========================================================  ============================
name                 Brian2 mechanism                                          needs
===================  ========================================================  ============================
``numpy``            runtime device, ``prefs.codegen.target = "numpy"``        nothing
``cython``           runtime device, ``prefs.codegen.target = "cython"``       Cython, a C compiler,
                                                                               Python headers
``cpp_standalone``   ``set_device("cpp_standalone")``, one C++ program         a C++ compiler, make
``cuda_standalone``  ``set_device("cuda_standalone")`` from brian2cuda,        Python >= 3.12, brian2cuda
                     one CUDA program (:mod:`biolstm.brian.cuda`)              (``pip install biolstm[cuda]``),
                                                                               nvcc, cuRAND, a C++
                                                                               compiler; an NVIDIA GPU
                                                                               and driver to *run*
``genn``             ``set_device("genn")`` from brian2genn, in the separate   ``make genn`` (brian2genn,
                     environment of ``make genn`` (:mod:`biolstm.brian.genn`)   brian2 2.5.4, GeNN 4.9.0)
===================  ========================================================  ============================

:func:`backend_status` says whether a backend can be used here and, if not, why and
what to install. A backend can also be *build only*: ``cuda_standalone`` on a machine
with nvcc but no GPU generates and compiles the CUDA program (checked by the tests),
which can then be copied to a GPU machine. :func:`require_backend` raises
:class:`BackendUnavailableError` with the reason. :func:`activated` switches Brian2 to a
backend for the duration of a ``with`` block and restores the previous device and
preferences afterwards.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from biolstm.errors import BiolstmError

__all__ = [
    "usable_cpus",
    "BACKENDS",
    "STANDALONE_BACKENDS",
    "BackendStatus",
    "BackendUnavailableError",
    "backend_status",
    "require_backend",
    "activated",
]

BACKENDS = ("numpy", "cython", "cpp_standalone", "cuda_standalone", "genn")
"""Backends of the Brian2 runner, fastest to set up first."""

STANDALONE_BACKENDS = ("cpp_standalone", "cuda_standalone", "genn")
"""Backends that generate a whole program (a project folder) instead of running in Python."""

CUDA_INSTALL = "create a Python >= 3.12 environment and run pip install 'biolstm[cuda]' (brian2cuda, nvidia-curand)"
GENN_INSTALL = (
    "brian2genn 1.7 needs brian2 >= 2.5, < 2.6 (Python <= 3.11, numpy < 2) and GeNN 4.x, which is "
    "on neither PyPI nor Debian: download the GeNN 4.9.0 release (github.com/genn-team/genn/releases/"
    "tag/4.9.0) and run 'make genn GENN_PATH=/path/to/genn-4.9.0.tar.gz' in the biolstm checkout; "
    "it creates the separate environment .venv-genn (Python 3.11, brian2 2.5.4, brian2genn 1.7.0)"
)


class BackendUnavailableError(BiolstmError, RuntimeError):
    """A requested backend cannot run on this machine; the message says why and the fix."""


@dataclass(frozen=True)
class BackendStatus:
    """Availability of one backend.

    Attributes
    ----------
    name : str
        Backend name.
    available : bool
        True if a simulation can be built *and run* here.
    reason : str
        Why it is not available (empty if it is).
    fix : str
        What to install or set to make it available.
    build_only : bool
        True if the program can be generated and compiled here but not run (e.g.
        ``cuda_standalone`` with nvcc but no GPU).
    details : dict
        Versions and paths found (for reports).
    """

    name: str
    available: bool
    reason: str = ""
    fix: str = ""
    build_only: bool = False
    details: dict = field(default_factory=dict, compare=False)

    @property
    def state(self) -> str:
        """``"available"``, ``"build only"`` or ``"not available"``."""
        if self.available:
            return "available"
        return "build only" if self.build_only else "not available"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask on Linux, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _compiler(env_var: str, candidates: tuple[str, ...]) -> str | None:
    requested = os.environ.get(env_var)
    if requested:
        return shutil.which(requested.split()[0])
    for cand in candidates:
        found = shutil.which(cand)
        if found:
            return found
    return None


def _cpp_toolchain(name: str) -> BackendStatus | None:
    """A 'not available' status if the C++ compiler or make is missing, else None."""
    if _compiler("CXX", ("g++", "c++", "clang++")) is None:
        return BackendStatus(name, False, "no C++ compiler found (looked for $CXX, g++, c++, clang++)",
                             "install a C++ compiler, e.g. 'apt install build-essential'")
    if shutil.which("make") is None:
        return BackendStatus(name, False, "'make' is not installed",
                             "install make, e.g. 'apt install make'")
    return None


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - any metadata problem just means "unknown"
        return "unknown"


def _import_error(module: str) -> str | None:
    """None if ``module`` imports, else a one-line description of the failure."""
    try:
        importlib.import_module(module)
    except Exception as err:  # noqa: BLE001 - report whatever stops the import
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return f"{type(err).__name__}: {first}"
    return None


def _cuda_status() -> BackendStatus:
    from biolstm.brian import cuda

    name = "cuda_standalone"
    if sys.version_info[:2] < cuda.MIN_PYTHON:
        here = ".".join(map(str, sys.version_info[:3]))
        return BackendStatus(
            name, False,
            f"Python too old for brian2cuda: this is Python {here}; brian2cuda 1.0b1 pins brian2 "
            f"2.10.1, which needs Python >= 3.12 (on 3.11 pip would pick the outdated brian2cuda "
            f"1.0a7 with brian2 2.8.0)",
            CUDA_INSTALL)
    if importlib.util.find_spec("brian2cuda") is None:
        return BackendStatus(name, False, "package brian2cuda is not installed", CUDA_INSTALL)
    failure = _import_error("brian2cuda")
    if failure:
        return BackendStatus(name, False, f"brian2cuda does not import ({failure})",
                             f"reinstall it with its pinned brian2: {CUDA_INSTALL}")
    missing = _cpp_toolchain(name)
    if missing:
        return missing
    nvcc = cuda.find_nvcc()
    if nvcc is None:
        return BackendStatus(
            name, False,
            "no nvcc (CUDA toolkit) found (looked in $CUDA_PATH/bin, PATH, /usr/local/cuda/bin, /opt/cuda/bin)",
            "install the CUDA toolkit (>= 11.2) and put nvcc on PATH or set CUDA_PATH")
    curand = cuda.find_curand(nvcc)
    if curand is None:
        return BackendStatus(
            name, False,
            f"cuRAND missing: no curand.h/libcurand next to {nvcc} and the nvidia-curand package is not installed",
            "pip install nvidia-curand (or install the toolkit's cuRAND)")
    details = {"brian2cuda": _version("brian2cuda"), "brian2": _version("brian2"), "nvcc": nvcc,
               "curand": f"{curand['lib']} ({curand['source']})"}
    gpu = cuda.detect_gpus()
    if not gpu.available:
        return BackendStatus(
            name, False,
            f"no GPU: {gpu.reason}; code generation and nvcc compilation work here (build only)",
            "run on a machine with an NVIDIA GPU (compute capability >= 7.5 for CUDA 13) and its driver",
            build_only=True, details=details)
    details["gpus"] = "; ".join(gpu.gpus)
    return BackendStatus(name, True, details=details)


def _genn_status() -> BackendStatus:
    name = "genn"
    if importlib.util.find_spec("brian2genn") is None:
        return _genn_environment_status()
    failure = _import_error("brian2genn")
    if failure:
        return BackendStatus(name, False, f"brian2genn does not import ({failure})", GENN_INSTALL)
    missing = _cpp_toolchain(name)
    if missing:
        return missing
    from brian2 import prefs

    path = os.environ.get("GENN_PATH") or prefs.get("devices.genn.path", None)
    if not path and shutil.which("genn-buildmodel.sh"):
        path = str(Path(shutil.which("genn-buildmodel.sh")).resolve().parent.parent)
    if not path:
        return BackendStatus(
            name, False,
            "GeNN path unset: GENN_PATH and the devices.genn.path preference are empty and "
            "genn-buildmodel.sh is not on PATH",
            "set GENN_PATH (or prefs.devices.genn.path) to a GeNN 4.x folder, or add its bin/ to PATH")
    if not Path(path, "bin", "genn-buildmodel.sh").exists():
        return BackendStatus(
            name, False, f"no bin/genn-buildmodel.sh under the GeNN path {path} (GeNN 5 dropped it)",
            "point GENN_PATH to a GeNN 4.x installation")
    from biolstm.brian import cuda

    details = {"brian2genn": _version("brian2genn"), "brian2": _version("brian2"), "genn": path,
               "gpu": "yes" if cuda.detect_gpus().available else "no (GeNN's CPU-only mode)"}
    return BackendStatus(name, True, details=details)


def _genn_environment_status() -> BackendStatus:
    """genn through the separate environment of ``make genn`` (:mod:`biolstm.brian.genn`)."""
    from biolstm.brian import cuda, genn

    env, why = genn.find_environment()
    if env is None:
        return BackendStatus(
            "genn", False,
            f"package brian2genn is not installed in this environment and there is no GeNN "
            f"environment ({why})", GENN_INSTALL)
    missing = _cpp_toolchain("genn")
    if missing:
        return missing
    details = {"environment": str(env.folder), **env.versions(), "genn_path": str(env.genn_path),
               "gpu": "yes (use_gpu=True)" if cuda.detect_gpus().available else "no (GeNN's CPU backend)",
               "run with": "biolstm.brian.genn.run_spec / biolstm.loihi.emulate.run_genn"}
    return BackendStatus("genn", True, details=details)


def backend_status(name: str) -> BackendStatus:
    """Check whether backend ``name`` can be used on this machine."""
    if name == "numpy":
        return BackendStatus(name, True, details={"brian2": _version("brian2")})
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
        return BackendStatus(name, True, details={"cython": _version("cython")})
    if name == "cpp_standalone":
        missing = _cpp_toolchain(name)
        if missing:
            return missing
        return BackendStatus(name, True, details={"c++": _compiler("CXX", ("g++", "c++", "clang++"))})
    if name == "cuda_standalone":
        return _cuda_status()
    if name == "genn":
        return _genn_status()
    return BackendStatus(name, False, f"unknown backend {name!r}",
                         f"choose one of {', '.join(BACKENDS)}")


def require_backend(name: str, *, build_only: bool = False) -> BackendStatus:
    """Raise :class:`BackendUnavailableError` unless backend ``name`` can be used.

    With ``build_only=True`` a backend that can only generate and compile (not run) is
    accepted. Returns the status.
    """
    status = backend_status(name)
    if status.available or (build_only and status.build_only):
        return status
    hint = ""
    if status.build_only:
        hint = (" It can still generate and compile the program here: use "
                "biolstm.brian.CompiledNetwork(...).build() (build only).")
    raise BackendUnavailableError(
        f"backend {name!r} is not available: {status.reason}. Fix: {status.fix}.{hint}"
    )


@contextlib.contextmanager
def activated(name: str, directory: str | os.PathLike | None = None, *,
              build_only: bool = False, cuda_options: dict | None = None) -> Iterator[Path | None]:
    """Run the enclosed Brian2 code on backend ``name``; restore Brian2's state after.

    For the standalone backends the device is set with ``build_on_run=False`` and the
    project directory (a fresh temporary folder unless ``directory`` is given) is
    yielded; the caller runs ``device.build(directory=..., ...)`` inside the block.
    Leaving the block re-initialises the device so another standalone run can follow in
    the same process, and restores every preference changed here.

    Parameters
    ----------
    name : str
        One of :data:`BACKENDS`.
    directory : path, optional
        Project folder of a standalone backend.
    build_only : bool
        Accept a backend that can only build here (``cuda_standalone`` without GPU).
    cuda_options : dict, optional
        Keyword arguments of :func:`biolstm.brian.cuda.configure` (``gpu_id``,
        ``compute_capability``).
    """
    import brian2
    from brian2.devices.device import get_device, reset_device, set_device

    require_backend(name, build_only=build_only)
    previous_target = brian2.prefs.codegen.target
    if name in ("numpy", "cython"):
        brian2.prefs.codegen.target = name
        try:
            yield None
        finally:
            brian2.prefs.codegen.target = previous_target
        return
    project = Path(directory) if directory is not None else Path(
        tempfile.mkdtemp(prefix=f"biolstm_{name}_"))
    saved: dict[str, object] = {
        "devices.cpp_standalone.extra_make_args_unix": list(brian2.prefs.devices.cpp_standalone.extra_make_args_unix)}
    # Brian2's default "-j" starts every compile job at once; bound it by the CPU count.
    brian2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count() or 1}"]
    if name == "cuda_standalone":
        import brian2cuda  # noqa: F401 - registers the device and its preferences

        from biolstm.brian import cuda

        saved.update({key: brian2.prefs[key] for key in cuda.PREFERENCES})
        cuda.configure(brian2.prefs, **(cuda_options or {}))
    elif name == "genn":
        if importlib.util.find_spec("brian2genn") is None:
            raise BackendUnavailableError(
                "backend 'genn' runs in its own environment (.venv-genn, brian2 2.5.4), not in this "
                "Python: use biolstm.brian.genn.run_spec(spec, inputs) or "
                "biolstm.loihi.emulate.run_genn(qnet, inputs)")
        import brian2genn  # noqa: F401 - registers the device

        genn_path = os.environ.get("GENN_PATH")
        if genn_path:
            saved["devices.genn.path"] = brian2.prefs["devices.genn.path"]
            brian2.prefs["devices.genn.path"] = genn_path
    try:
        if name == "genn":
            from biolstm.brian import cuda

            set_device("genn", build_on_run=False, use_GPU=cuda.detect_gpus().available)
        else:
            set_device(name, directory=str(project), build_on_run=False)
        yield project
    finally:
        get_device().reinit()
        reset_device()
        brian2.prefs.codegen.target = previous_target
        for key, value in saved.items():
            brian2.prefs[key] = value
