"""brian2cuda (the ``cuda_standalone`` device) made to work on ordinary machines.

brian2cuda 1.0b1 (needs brian2 2.10.1, so Python >= 3.12) compiles a network into a
CUDA program. Three things stop it on a machine like ours (CUDA 13 toolkit, no GPU;
measured in ``docs/sources.md`` B2), and :func:`configure`
fixes each:

1. **No GPU / no nvidia-smi.** brian2cuda asks ``nvidia-smi`` for the GPU and its
   compute capability. Without a GPU we set ``cuda_backend.detect_gpus = False`` and
   give ``gpu_id`` and ``compute_capability`` ourselves (default 8.0, i.e.
   ``-arch=sm_80``; nvcc 13 supports 7.5 and newer). The program then *builds* (code
   generation + nvcc) but cannot run; :data:`build only <BUILD_ONLY>`.
2. **C++17.** CUDA 13's Thrust/CUB/libcu++ refuse C++11, which brian2cuda's makefile
   and brian2 2.10.1's gcc flags request; we append ``-std=c++17`` to both (the last
   ``-std`` wins).
3. **cuRAND.** A CUDA toolkit may come without cuRAND (the local 13.0 does). The
   PyPI package ``nvidia-curand`` has it; we add its include and library folders and,
   because the wheel ships only ``libcurand.so.10``, a folder with a ``libcurand.so``
   link for the linker's ``-lcurand``.

Functions here never import brian2cuda at module import time.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PREFERENCES",
    "MIN_PYTHON",
    "DEFAULT_COMPUTE_CAPABILITY",
    "GpuInfo",
    "find_cuda",
    "find_nvcc",
    "find_curand",
    "detect_gpus",
    "configure",
]

PREFERENCES = (
    "devices.cuda_standalone.cuda_backend.detect_gpus",
    "devices.cuda_standalone.cuda_backend.gpu_id",
    "devices.cuda_standalone.cuda_backend.compute_capability",
    "devices.cuda_standalone.cuda_backend.extra_compile_args_nvcc",
    "devices.cuda_standalone.cuda_backend.cuda_path",
    "codegen.cpp.extra_compile_args_gcc",
    "codegen.cpp.include_dirs",
    "codegen.cpp.library_dirs",
    "codegen.cpp.runtime_library_dirs",
)
"""Brian2 preferences :func:`configure` may change (saved and restored by ``activated``)."""

MIN_PYTHON = (3, 12)
"""brian2cuda 1.0b1 pins brian2 2.10.1, which requires Python 3.12."""

DEFAULT_COMPUTE_CAPABILITY = 8.0
"""Compute capability to compile for when no GPU can be asked (A100: 8.0, H100/H200: 9.0)."""


@dataclass(frozen=True)
class GpuInfo:
    """What ``nvidia-smi`` says about the GPUs here.

    Attributes
    ----------
    gpus : list of str
        One line per GPU (``nvidia-smi -L``); empty if none.
    compute_capabilities : list of float
        Compute capability per GPU, where ``nvidia-smi`` reports it.
    reason : str
        Why no GPU is usable (empty if there is one).
    """

    gpus: tuple[str, ...]
    compute_capabilities: tuple[float, ...]
    reason: str = ""

    @property
    def available(self) -> bool:
        return bool(self.gpus)


def find_cuda() -> tuple[str, str] | None:
    """``(cuda_root, nvcc)`` the way brian2cuda looks: ``$CUDA_PATH``, the ``nvcc`` on
    ``PATH`` (its grandparent folder when that holds the CUDA headers), then
    ``/usr/local/cuda`` and ``/opt/cuda``. None if no nvcc is found."""
    roots: list[Path] = []
    if os.environ.get("CUDA_PATH"):
        roots.append(Path(os.environ["CUDA_PATH"]))
    on_path = shutil.which("nvcc")
    if on_path:
        roots.append(Path(on_path).resolve().parent.parent)
    roots += [Path("/usr/local/cuda"), Path("/opt/cuda")]
    for root in roots:
        nvcc = root / "bin" / "nvcc"
        if nvcc.is_file() and os.access(nvcc, os.X_OK) and (root / "include" / "cuda_runtime.h").is_file():
            return str(root.resolve()), str(nvcc)
    if on_path:  # e.g. a wrapper script whose toolkit we cannot locate
        return str(Path(on_path).resolve().parent.parent), on_path
    return None


def find_nvcc() -> str | None:
    """Path of ``nvcc`` (see :func:`find_cuda`), or None."""
    found = find_cuda()
    return found[1] if found else None


def _cuda_root(nvcc: str) -> Path:
    found = find_cuda()
    if found and found[1] == nvcc:
        return Path(found[0])
    return Path(nvcc).resolve().parent.parent


def find_curand(nvcc: str | None = None) -> dict[str, str] | None:
    """Where cuRAND's header and library are.

    Returns ``{"include": dir, "lib": dir, "soname": file, "source": "toolkit"|"pypi"}``
    or None. The CUDA toolkit next to ``nvcc`` is tried first, then the ``nvidia-curand``
    wheel (``nvidia/cu*/`` or ``nvidia/curand/``) in this Python's site-packages.
    """
    nvcc = nvcc or find_nvcc()
    roots: list[tuple[Path, str]] = []
    if nvcc:
        root = _cuda_root(nvcc)
        roots.append((root, "toolkit"))
        roots += [(Path(p), "toolkit") for p in glob.glob(str(root / "targets" / "*"))]
    spec = importlib.util.find_spec("nvidia")
    if spec is not None and spec.submodule_search_locations:
        for base in spec.submodule_search_locations:
            for sub in sorted(glob.glob(os.path.join(base, "*"))):
                roots.append((Path(sub), "pypi"))
    for root, source in roots:
        header = root / "include" / "curand.h"
        if not header.is_file():
            continue
        for libdir in (root / "lib64", root / "lib"):
            libs = sorted(glob.glob(str(libdir / "libcurand.so*")))
            if libs:
                return {"include": str(header.parent), "lib": str(libdir),
                        "soname": os.path.basename(libs[0]), "source": source}
    return None


def detect_gpus() -> GpuInfo:
    """Ask ``nvidia-smi`` for GPUs and compute capabilities (no CUDA driver needed to ask)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return GpuInfo((), (), "no GPU driver: 'nvidia-smi' is not on PATH (no NVIDIA driver installed)")
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return GpuInfo((), (), f"'nvidia-smi -L' failed: {err}")
    gpus = tuple(line.strip() for line in out.stdout.splitlines() if line.strip().startswith("GPU"))
    if out.returncode != 0 or not gpus:
        msg = (out.stderr or out.stdout).strip().splitlines()
        return GpuInfo((), (), "nvidia-smi lists no GPU" + (f" ({msg[0]})" if msg else ""))
    caps: list[float] = []
    try:
        q = subprocess.run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
        caps = [float(x) for x in q.stdout.split()] if q.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        caps = []
    return GpuInfo(gpus, tuple(caps))


def _curand_link_dir(curand: dict[str, str]) -> str:
    """A folder holding ``libcurand.so`` (the linker's ``-lcurand``) for a wheel that ships
    only ``libcurand.so.N``; the toolkit's own folder when it has the plain name."""
    lib = Path(curand["lib"])
    if (lib / "libcurand.so").exists():
        return str(lib)
    cache = Path(os.environ.get("BIOLSTM_CACHE", Path.home() / ".cache" / "biolstm"))
    link_dir = cache / f"curand-link-py{sys.version_info[0]}{sys.version_info[1]}"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / "libcurand.so"
    target = lib / curand["soname"]
    if not (link.is_symlink() and os.readlink(link) == str(target)):
        tmp = link_dir / f".libcurand.so.{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(target)
        os.replace(tmp, link)
    return str(link_dir)


def configure(prefs, *, gpu: GpuInfo | None = None, gpu_id: int = 0,
              compute_capability: float | None = None) -> dict[str, object]:
    """Set Brian2 preferences so that ``cuda_standalone`` builds here.

    Parameters
    ----------
    prefs : brian2.prefs
        Brian2's preference object (brian2cuda must be imported already).
    gpu : GpuInfo, optional
        Result of :func:`detect_gpus` (asked if not given).
    gpu_id : int
        GPU to run on.
    compute_capability : float, optional
        Target architecture (e.g. 9.0 for H100/H200). Default: what ``nvidia-smi``
        reports, else :data:`DEFAULT_COMPUTE_CAPABILITY` (also ``$BIOLSTM_CUDA_CC``).

    Returns
    -------
    dict
        The settings applied (for logs and benchmark records).
    """
    gpu = gpu or detect_gpus()
    env_cc = os.environ.get("BIOLSTM_CUDA_CC")
    if compute_capability is None and env_cc:
        compute_capability = float(env_cc)
    backend = prefs.devices.cuda_standalone.cuda_backend
    applied: dict[str, object] = {}
    if not gpu.available or compute_capability is not None:
        if compute_capability is None:
            compute_capability = (gpu.compute_capabilities[gpu_id] if gpu.compute_capabilities
                                  else DEFAULT_COMPUTE_CAPABILITY)
        backend.detect_gpus = False
        backend.gpu_id = int(gpu_id)
        backend.compute_capability = float(compute_capability)
        applied.update(detect_gpus=False, gpu_id=int(gpu_id), compute_capability=float(compute_capability))
    nvcc_args = list(backend.extra_compile_args_nvcc)
    if "-std=c++17" not in nvcc_args:
        backend.extra_compile_args_nvcc = nvcc_args + ["-std=c++17"]
    gcc_args = list(prefs.codegen.cpp.extra_compile_args_gcc)
    if "-std=c++17" not in gcc_args:
        prefs.codegen.cpp.extra_compile_args_gcc = gcc_args + ["-std=c++17"]
    applied["std"] = "c++17"
    found = find_cuda()
    nvcc = found[1] if found else None
    if found and not os.environ.get("CUDA_PATH") and Path(found[0], "include", "cuda_runtime.h").is_file():
        backend.cuda_path = found[0]
        applied["cuda_path"] = found[0]
    curand = find_curand(nvcc)
    if curand is not None and curand["source"] == "pypi":
        link_dir = _curand_link_dir(curand)
        for key, value in (("include_dirs", curand["include"]), ("library_dirs", link_dir),
                           ("runtime_library_dirs", curand["lib"])):
            current = list(prefs[f"codegen.cpp.{key}"])
            if value not in current:
                prefs[f"codegen.cpp.{key}"] = current + [value]
        applied["curand"] = curand["lib"]
    return applied
