"""Prepared runs: a cached compiled program with one network's weights, run without Brian2.

A warm ``biolstm eval smnist --backend cpp_standalone`` spends about a second of its
3.5-4 s importing Brian2 (with sympy), only to read the network file's units, describe the
network and compute the key of a program that is already compiled. A
:class:`PreparedRun` is what that work produces -- the cached program's name and key,
the layout, the network description without its Brian2 model arguments
(:meth:`~biolstm.brian.build.NetworkDescription.without_models`) and the weights in
compiled synapse order (:meth:`~biolstm.brian.standalone.CompiledNetwork.prepare`) --
saved once under a key (:func:`prepared_key`) made of

* the *contents* of the files the network came from (its weights file),
* the job's options (task, mode, backend, layout),
* and everything the program's cache key depends on that could change without those files
  changing (:func:`environment_stamp`): the Brian2 and numpy versions, Brian2's preference
  files (``~/.brian/user_preferences``, ``./brian_preferences``), the C++ compiler (path, size
  and modification time), the compiler environment variables, the CPU, the Python
  executable, and biolstm's own source files (size and modification time of every module).

A later process with the same key loads it (:func:`load`), runs the program
(:func:`run`) and collects the same :class:`~biolstm.activity.Activity` as
:func:`biolstm.brian.simulate` -- the same binary, weights, inputs and collector -- without
importing Brian2. Anything that does not match (another key, a program evicted from the
cache, an unreadable file) gives None, and the caller takes the full path, which then saves
a new prepared run. The files live in ``prepared/`` of the program cache
(:func:`biolstm.brian.standalone.cache_root`); ``biolstm cache clear`` removes them, and at
most :data:`MAX_PREPARED` are kept (least recently used go first).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.activity import Activity
from biolstm.brian.build import BUILDER_VERSION, NetworkDescription
from biolstm.encoding import SpikeTrains
from biolstm.fileio import atomic_writer

__all__ = ["PreparedRun", "PREPARED_VERSION", "MAX_PREPARED", "prepared_root", "environment_stamp",
           "prepared_key", "save", "load", "is_saved", "run", "saved", "clear"]

log = logging.getLogger(__name__)

PREPARED_VERSION = 1
"""Format of the saved :class:`PreparedRun` (part of every key)."""

MAX_PREPARED = 64
"""Prepared runs kept in the cache; the least recently used beyond this are removed."""

_COMPILER_ENV = ("CXX", "CC", "CXXFLAGS", "CFLAGS", "CPPFLAGS", "LDFLAGS")


@dataclass
class PreparedRun:
    """A cached program and the weights of one network for it.

    Attributes
    ----------
    program : str
        Folder of the program in the cache (``<backend>-<key>``).
    key : str
        The program's structure key (checked against its manifest before every run).
    backend : str
        ``cpp_standalone`` or ``cuda_standalone``.
    n_steps, replicas, slots : int
        Steps per sample and the program's layout.
    description : NetworkDescription
        The network without its Brian2 model arguments (populations, inputs, readout,
        per-neuron values, metadata).
    weights : dict of str to ndarray
        Weights of every projection in compiled synapse order (SI or Loihi units).
    info : dict
        What the caller wants back with it (e.g. the network's summary, its input group).
    """

    program: str
    key: str
    backend: str
    n_steps: int
    replicas: int
    slots: int
    description: NetworkDescription
    weights: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)


def prepared_root() -> Path:
    """Folder of the saved prepared runs: ``prepared/`` in the program cache."""
    from biolstm.brian.standalone import cache_root

    return cache_root() / "prepared"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _source_stamp() -> str:
    """Size and modification time of every module of the installed biolstm package."""
    import biolstm

    root = Path(biolstm.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def environment_stamp() -> dict[str, Any]:
    """What a compiled program's key depends on besides the network files and the job's options,
    read without importing Brian2 (see the module docstring). JSON values."""
    from importlib import metadata

    from biolstm.brian.backends import _compiler
    from biolstm.brian.standalone import MANIFEST_VERSION, _cpu

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "missing"

    # the contents (not the place: a job run from another folder without one shares the key)
    prefs = {role: _file_digest(path) if path.is_file() else None
             for role, path in (("user", Path.home() / ".brian" / "user_preferences"),
                                ("current_folder", Path("brian_preferences")))}
    cxx = _compiler("CXX", ("g++", "c++", "clang++"))
    try:
        st = os.stat(cxx) if cxx else None
        cxx_stat = [st.st_size, st.st_mtime_ns] if st else None
    except OSError:
        cxx_stat = None
    return {
        "prepared_version": PREPARED_VERSION,
        "builder_version": BUILDER_VERSION,
        "manifest_version": MANIFEST_VERSION,
        "brian2": version("brian2"),
        "brian2cuda": version("brian2cuda"),
        "numpy": np.__version__,
        "python": sys.version,
        "executable": sys.executable,
        "machine": platform.machine(),
        "cpu": _cpu(),
        "brian_preferences": prefs,
        "cxx": cxx,
        "cxx_stat": cxx_stat,
        "env": {k: os.environ.get(k) for k in _COMPILER_ENV},
        "biolstm_source": _source_stamp(),
    }


def prepared_key(files: Sequence[str | os.PathLike], options: Mapping[str, Any]) -> str:
    """Key of a prepared run: the contents of ``files`` (the network's own files), the job's
    ``options`` (JSON values: task, mode, backend, layout, ...) and :func:`environment_stamp`."""
    doc = {"files": [_file_digest(Path(f)) for f in files], "options": dict(options),
           "environment": environment_stamp()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:32]


def save(prepared: PreparedRun, key: str) -> Path:
    """Save ``prepared`` under ``key`` (atomically; replaces one of the same key) and keep at most
    :data:`MAX_PREPARED` prepared runs. Returns the file."""
    root = prepared_root()
    path = _path(key)
    with atomic_writer(path, overwrite=True) as fh:
        pickle.dump(prepared, fh, protocol=pickle.HIGHEST_PROTOCOL)
    files = sorted(root.glob("*.pkl"), key=lambda p: p.stat().st_mtime if p.exists() else 0.0)
    for old in files[:max(0, len(files) - MAX_PREPARED)]:
        if old != path:
            old.unlink(missing_ok=True)
    return path


def _path(key: str) -> Path:
    return prepared_root() / f"{key}.pkl"


def is_saved(key: str) -> bool:
    """Whether a prepared run is saved under ``key`` (without reading it)."""
    return _path(key).is_file()


def load(key: str) -> PreparedRun | None:
    """The prepared run saved under ``key``, or None (none saved, unreadable, another format)."""
    path = _path(key)
    try:
        with open(path, "rb") as fh:
            prepared = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception as err:  # noqa: BLE001 - a damaged or outdated file only means "not prepared"
        log.debug("prepared run %s is unreadable (%s); ignored", path, err)
        return None
    if not isinstance(prepared, PreparedRun):
        return None
    try:
        os.utime(path)   # least recently used go first
    except OSError:
        pass
    return prepared


def saved() -> list[Path]:
    """The saved prepared runs, least recently used first."""
    root = prepared_root()
    if not root.is_dir():
        return []
    files = []
    for path in root.glob("*.pkl"):
        try:
            files.append((path.stat().st_mtime, path))
        except OSError:   # removed meanwhile
            pass
    return [p for _, p in sorted(files)]


def clear(older_than_days: float | None = None) -> int:
    """Remove every prepared run (or those last used more than ``older_than_days`` days ago)
    and leftovers of interrupted saves; returns how many prepared runs were removed."""
    import time

    root = prepared_root()
    now = time.time()
    removed = 0
    for path in saved():
        try:
            if older_than_days is None or now - path.stat().st_mtime > older_than_days * 86400:
                path.unlink()
                removed += 1
        except OSError:
            pass
    if older_than_days is None and root.is_dir():
        for leftover in root.iterdir():
            if leftover.suffix != ".pkl":
                leftover.unlink(missing_ok=True)
    return removed


def run(prepared: PreparedRun, inputs: SpikeTrains, *, progress: bool = True,
        processes: int | None = None) -> Activity | None:
    """Run ``inputs`` through the prepared program: the Activity
    :meth:`~biolstm.brian.standalone.CompiledNetwork.run` returns (``metadata["prepared"]``
    True), or None if the program is no longer in the cache."""
    from biolstm.brian.standalone import CompiledNetwork, StructureError

    net = CompiledNetwork.from_prepared(prepared)
    if net is None:
        return None
    try:
        activity = net.run(inputs, progress=progress, processes=processes)
    except StructureError as err:   # evicted between the check and the run
        log.debug("prepared run of %s: %s", prepared.program, err)
        return None
    activity.metadata["prepared"] = True
    return activity
