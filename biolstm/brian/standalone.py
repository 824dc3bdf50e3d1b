"""The cache of compiled standalone Brian2 programs, keyed by network structure.

Every entry point that runs a network on a standalone device (``cpp_standalone``,
``cuda_standalone``) -- :func:`biolstm.brian.simulate`, :func:`biolstm.brian.evaluate`,
the Loihi-exact mode, and through them ``biolstm eval``, ``biolstm demo``, the sweeps and
the notebooks -- runs a :class:`CompiledNetwork`: a program generated and compiled once
per *structure* and reused by every later call, in this process or another one.

**Structure** (the cache key): the network description without its weights, per-neuron
values and inputs (:meth:`biolstm.brian.build.NetworkDescription.structure`: populations,
models, parameters, sizes, connectivity pattern, delays, ``dt``, what is recorded), the
layout (steps per sample, copies ``R``, slots ``K``), the backend, the Brian2 version,
:data:`biolstm.brian.build.BUILDER_VERSION`, and the toolchain: the C++ compiler and its
version, the Brian2 compiler preferences (``codegen.cpp.extra_compile_args_gcc`` and the
other ``codegen.cpp.*`` / ``devices.cpp_standalone.*`` settings) and the CPU (the default
flags hold ``-march=native``). Weights, per-neuron values (the Loihi profiles) and input
spikes are given to the compiled program through Brian2's ``run_args`` for every run,
so new ones never recompile. New weights may use a *subset* of the compiled
connectivity (absent synapses get weight 0, which adds exactly nothing).

**Cache** (:func:`cache_root`: ``$BIOLSTM_CACHE/brian`` or ``~/.cache/biolstm/brian``):
one folder per program, ``<backend>-<key>``, with a manifest (what it is, which files
hold the monitors) and the file ``last_used``. A program is built in a temporary folder
next to it under an exclusive lock (``locks/<backend>-<key>.lock``), then renamed into
place, so two processes that need the same program at once build it once and never see
half a program; runs hold a shared lock, so eviction never removes a program in use.
After every build the least recently used programs are removed until the cache is
below its size limit (:func:`cache_limit`: ``$BIOLSTM_CACHE_LIMIT``, default 2 GiB).
``biolstm cache`` lists and clears it.

The program writes its monitors to a results folder; they are read back directly from
the files Brian2 names in the manifest, so a compiled program also serves other
processes and survives Brian2's device being reset.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from biolstm.activity import Activity
from biolstm.brian.backends import activated, require_backend, usable_cpus
from biolstm.brian.build import (
    BUILDER_VERSION,
    NetworkDescription,
    StructureError,
    build,
    default_dt,
    describe,
    pack_inputs,
    structure_difference,
    structure_key,
    weights_into,
)
from biolstm.errors import BiolstmError
from biolstm.fileio import atomic_write_text, cache_dir, locked

__all__ = [
    "CacheError",
    "CacheEntry",
    "CompiledNetwork",
    "StructureError",
    "MAX_SLOTS",
    "DEFAULT_CACHE_LIMIT",
    "cache_root",
    "cache_limit",
    "cache_entries",
    "clear_cache",
    "enforce_limit",
    "is_cached",
    "simulate_layout",
    "simulate_program",
    "strict_float",
    "toolchain",
]

log = logging.getLogger(__name__)

MAX_SLOTS = 128
"""Samples one run of a :func:`biolstm.brian.simulate` program lays end to end (at most)."""

DEFAULT_CACHE_LIMIT = 2 * 1024**3
"""Size limit of the program cache in bytes (2 GiB) unless ``$BIOLSTM_CACHE_LIMIT`` says otherwise."""

MANIFEST = "biolstm_manifest.json"
PATTERN = "biolstm_pattern.npz"
LAST_USED = "last_used"
MANIFEST_VERSION = 2
_STANDALONE = ("cpp_standalone", "cuda_standalone")


class CacheError(BiolstmError, ValueError):
    """A cache setting that cannot be used (the message names it and the valid forms)."""


# ---------------------------------------------------------------------------------------
# where, how big
# ---------------------------------------------------------------------------------------


def cache_root() -> Path:
    """Folder of compiled programs: ``$BIOLSTM_CACHE/brian`` or ``~/.cache/biolstm/brian``."""
    return cache_dir("brian")


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
          "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4, "tb": 1024**4,
          "tib": 1024**4}


def parse_size(text: str, what: str = "size") -> int:
    """Bytes of ``"2G"``, ``"500 MiB"``, ``"1048576"`` (binary units: K = 1024)."""
    s = str(text).strip().lower().replace(" ", "")
    number = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(number):]
    try:
        value = float(number)
    except ValueError:
        value = float("nan")
    if unit not in _UNITS or not value >= 0:
        raise CacheError(f"{what} = {text!r} is not a size; give bytes or a number with K, M, G or T "
                         f"(binary: 1G = 1024**3 bytes), e.g. 2G or 500M")
    return int(value * _UNITS[unit])


def cache_limit(limit: int | str | None = None) -> int:
    """The cache's size limit in bytes: ``limit`` if given, else ``$BIOLSTM_CACHE_LIMIT``
    (e.g. ``2G``, ``500M``), else :data:`DEFAULT_CACHE_LIMIT`."""
    if limit is not None:
        return parse_size(limit, "limit") if isinstance(limit, str) else int(limit)
    env = os.environ.get("BIOLSTM_CACHE_LIMIT")
    return parse_size(env, "BIOLSTM_CACHE_LIMIT") if env else DEFAULT_CACHE_LIMIT


def _folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# ---------------------------------------------------------------------------------------
# layout of simulate()
# ---------------------------------------------------------------------------------------


def simulate_layout(backend: str, n_samples: int, integer: bool = False) -> tuple[int, int]:
    """``(copies, slots)`` of the program :func:`biolstm.brian.simulate` runs ``n_samples`` with.

    On ``cpp_standalone`` one copy of a float network runs the samples end to end,
    ``slots`` per run of the program: the next power of two of ``n_samples``, at most
    :data:`MAX_SLOTS` (so a handful of programs serve every batch size). One copy is
    bit-identical to the batch laid end to end with any compiler flags (every sample sees
    the same neuron offsets; with ``-ffast-math`` a copy at another offset may differ in
    the last bit). An ``integer`` network (the Loihi-exact mode: exact in any layout) gets
    up to 4 copies side by side, which share the per-step overhead. On ``cuda_standalone``
    up to 256 copies keep the GPU busy.
    """
    from biolstm.brian.run import default_slots

    n = max(1, int(n_samples))
    if backend == "cuda_standalone":
        copies = min(n, 256)
    else:
        copies = min(n, 4) if integer else 1
    return copies, default_slots(n, copies, MAX_SLOTS)


# ---------------------------------------------------------------------------------------
# compiler flags
# ---------------------------------------------------------------------------------------


def _strict_gcc(flags: Sequence[str]) -> list[str]:
    out = [f for f in flags if f != "-ffast-math"]
    return out + [f for f in ("-fno-fast-math", "-ffp-contract=off") if f not in out]


def _strict_nvcc(flags: Sequence[str]) -> list[str]:
    out = [f for f in flags if f != "-use_fast_math"]
    return out + [f for f in ("--fmad=false",) if f not in out]


@contextlib.contextmanager
def strict_float(enabled: bool = True, backend: str = "cpp_standalone"):
    """Compile with IEEE-strict floating point for the enclosed block.

    Brian2 compiles with ``-ffast-math`` (and GCC contracts ``a*b + c`` into fused
    multiply-adds). The compiler may then vectorise a state-update loop and treat the
    neurons of the vector body and of the scalar remainder differently, so the last bit
    of a neuron's membrane can depend on where it sits in memory -- and a network copy
    at another offset is no longer bit-identical to the network alone (measured: 1 ulp
    differences in ``v`` of 22 % of the recorded values). Inside this block the C++
    flags drop ``-ffast-math`` and add ``-ffp-contract=off``; for ``cuda_standalone``
    nvcc gets ``--fmad=false`` instead of ``-use_fast_math``. The state updates this
    affects take a few per cent of the run time (synaptic events dominate).
    """
    import brian2 as b2

    if not enabled:
        yield
        return
    keys = ["codegen.cpp.extra_compile_args_gcc"]
    if backend == "cuda_standalone":
        import brian2cuda  # noqa: F401 - registers the nvcc preference

        keys.append("devices.cuda_standalone.cuda_backend.extra_compile_args_nvcc")
    saved = {k: list(b2.prefs[k]) for k in keys}
    try:
        b2.prefs[keys[0]] = _strict_gcc(saved[keys[0]])
        if len(keys) > 1:
            b2.prefs[keys[1]] = _strict_nvcc(saved[keys[1]])
        yield
    finally:
        for k, v in saved.items():
            b2.prefs[k] = v


INTEGER_GCC_FLAGS = ("--param=vect-max-version-for-alias-checks=64",)
"""Extra GCC flags of an integer (Loihi-exact) program: the core's update reads and writes
13 per-neuron arrays, and GCC gives up vectorising a loop that needs more than 10 runtime
alias checks (``-fopt-info-vec-missed``: "versioning for alias required"); with the limit
raised the update runs on vectors. The integer arithmetic in float64 is exact either way, so
the results are the same; float programs keep Brian2's flags as they are."""


@contextlib.contextmanager
def _extra_gcc(flags: Sequence[str]):
    """Append ``flags`` to Brian2's GCC arguments for the enclosed block."""
    import brian2 as b2

    if not flags:
        yield
        return
    key = "codegen.cpp.extra_compile_args_gcc"
    saved = list(b2.prefs[key])
    b2.prefs[key] = saved + list(flags)
    try:
        yield
    finally:
        b2.prefs[key] = saved


def _is_gcc() -> bool:
    from biolstm.brian.backends import _compiler

    cxx = _compiler("CXX", ("g++", "c++", "clang++"))
    version = _compiler_version(cxx) if cxx else ""
    return "clang" not in version.lower() and ("g++" in version or "gcc" in version.lower())


@functools.lru_cache(maxsize=None)
def _compiler_version(path: str) -> str:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


@functools.lru_cache(maxsize=None)
def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def toolchain(backend: str = "cpp_standalone", strict: bool = False,
              extra_gcc: Sequence[str] = ()) -> dict[str, Any]:
    """What the compiled program depends on besides the network: compiler, its version,
    Brian2's compiler preferences as the build will apply them (``strict``: see
    :func:`strict_float`; ``extra_gcc`` appended), machine and CPU."""
    import brian2 as b2

    from biolstm.brian.backends import _compiler

    def plain(v):
        return json.loads(json.dumps(v, default=str))

    prefixes = ["codegen.cpp.", "devices.cpp_standalone."]
    if backend == "cuda_standalone":
        prefixes.append("devices.cuda_standalone.")
    prefs = {k: plain(b2.prefs[k]) for k in sorted(b2.prefs)
             if any(k.startswith(p) for p in prefixes) and "make_args" not in k}
    if strict:
        key = "codegen.cpp.extra_compile_args_gcc"
        prefs[key] = _strict_gcc(prefs[key])
        nvcc = "devices.cuda_standalone.cuda_backend.extra_compile_args_nvcc"
        if nvcc in prefs:
            prefs[nvcc] = _strict_nvcc(prefs[nvcc])
    if extra_gcc:
        prefs["codegen.cpp.extra_compile_args_gcc"] = prefs["codegen.cpp.extra_compile_args_gcc"] + list(extra_gcc)
    cxx = _compiler("CXX", ("g++", "c++", "clang++")) or "none"
    out = {"cxx": cxx, "cxx_version": _compiler_version(cxx) if cxx != "none" else "none",
           "prefs": prefs, "machine": platform.machine(), "cpu": _cpu()}
    if backend == "cuda_standalone":
        from biolstm.brian import cuda
        from biolstm.brian.backends import _version

        nvcc_path = cuda.find_nvcc() or "none"
        out.update(brian2cuda=_version("brian2cuda"), nvcc=nvcc_path,
                   nvcc_version=_compiler_version(nvcc_path) if nvcc_path != "none" else "none")
    return out


# ---------------------------------------------------------------------------------------
# locks
# ---------------------------------------------------------------------------------------


_STEP_CLOCK = re.compile(r"\n([ \t]*)current = std::clock\(\);\n[ \t]*elapsed_realtime = "
                         r"\(double\)\(current - start\)/\((\d+) \* CLOCKS_PER_SEC\);")
_LOOP_END = "    Network::_globally_running = false;\n"
_MARK = "// biolstm: the clock is read once, after the loop"


def patch_network_source(source: str) -> str | None:
    """``network.cpp`` of a ``cpp_standalone`` project that reads the CPU clock once per run.

    Brian2's ``Network::run`` (template ``devices/cpp_standalone/templates/network.cpp``,
    brian2 2.9.0) calls ``std::clock()`` after every time step, to stop at
    ``maximum_run_time`` and to report the run's time. On Linux that is a system call
    (``clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`` has no vDSO fast path): measured here with
    ``strace -c`` on one run of the sMNIST program (128 digits, 107,520 steps), 107,540
    ``clock_gettime`` calls and 0.16 s of system time in a 0.43 s run. Without a
    ``maximum_run_time`` (biolstm never sets one) nothing in the loop reads the clock's
    value, so the patched program reads it once, after the loop; ``_last_run_time``
    (``network_run_s`` of :meth:`CompiledNetwork.run`) is the same measurement.

    Returns the patched source, or None when the source is not the expected one (another
    Brian2 version, a ``maximum_run_time``): the program is then built as Brian2 wrote it.
    """
    if _MARK in source:
        return source
    matches = list(_STEP_CLOCK.finditer(source))
    if len(matches) != 1 or source.count(_LOOP_END) != 1 or "elapsed_realtime>" in source:
        return None
    m = matches[0]
    once = f"    current = std::clock();\n    elapsed_realtime = (double)(current - start)/({m.group(2)} * CLOCKS_PER_SEC);\n"
    source = source[:m.start()] + "\n" + m.group(1) + _MARK + source[m.end():]
    return source.replace(_LOOP_END, _LOOP_END + once)


@contextlib.contextmanager
def _patched_network_source(device, backend: str, target: Path):
    """While ``device.build`` runs: after Brian2 writes ``network.cpp`` (before it compiles),
    apply :func:`patch_network_source` (``cpp_standalone`` only)."""
    if backend != "cpp_standalone" or not hasattr(device, "generate_network_source"):
        yield
        return
    original = device.generate_network_source

    def generate(writer, compiler):
        original(writer, compiler)
        path = target / "network.cpp"
        patched = patch_network_source(path.read_text()) if path.is_file() else None
        if patched is None:
            log.warning("Brian2's network.cpp in %s is not the expected one; it is compiled as "
                        "written (it reads the CPU clock after every step)", target)
        else:
            path.write_text(patched)

    device.generate_network_source = generate
    try:
        yield
    finally:
        del device.generate_network_source   # the class's method again


def _lock_path(name: str) -> Path:
    return cache_root() / "locks" / f"{name}.lock"


# ---------------------------------------------------------------------------------------
# the compiled program
# ---------------------------------------------------------------------------------------


class CompiledNetwork:
    """A standalone Brian2 program built once for one network structure.

    Parameters
    ----------
    spec : NetworkSpec, QuantizedNetwork or NetworkDescription
        The network; its weights (and per-neuron values) are only the initial ones
        (every :meth:`run` passes those of the network it is given).
    n_steps : int
        Steps per sample.
    backend : {"cpp_standalone", "cuda_standalone"}
        Standalone device.
    replicas : int
        ``R``: copies of the network side by side in one Brian2 network.
    slots : int
        ``K``: samples each copy runs one after another in one run of the program.
        One run evaluates ``R*K`` samples; a test set needs ``ceil(S/(R*K))`` runs of the
        same program.
    record : mapping, optional
        Extra traces ``{population: (variables, neuron_indices)}``.
    directory : path, optional
        Project folder; default: the cache (``cache_root()/<backend>-<key>``).
    cuda_options : dict, optional
        ``gpu_id`` / ``compute_capability`` for ``cuda_standalone``.
    make_jobs : int, optional
        Parallel compiler jobs (default: the number of CPUs).
    strict_float : bool
        Compile without ``-ffast-math`` and FMA contraction (:func:`strict_float`), so
        that every copy computes bit-identically to the network alone (default True);
        False compiles with the Brian2 preferences as they are.

    Attributes
    ----------
    key : str
        Hash of the structure (names the cache folder).
    compiled_here : bool
        True if :meth:`build` generated and compiled the program (False: reused).
    timings : dict
        ``codegen_s`` and ``compile_s`` of the build (0 when reused).
    """

    def __init__(self, spec, n_steps: int, *, backend: str = "cpp_standalone",
                 replicas: int = 32, slots: int = 1,
                 record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
                 directory: str | os.PathLike | None = None, cuda_options: dict | None = None,
                 make_jobs: int | None = None, strict_float: bool = True) -> None:
        if backend not in _STANDALONE:
            raise ValueError(
                f"CompiledNetwork: backend {backend!r} is not supported; use 'cpp_standalone' or "
                f"'cuda_standalone' (for numpy/cython use biolstm.brian.evaluate)")
        for label, value in (("n_steps", n_steps), ("replicas", replicas), ("slots", slots)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"CompiledNetwork: {label} = {value!r} must be a positive integer")
        self.spec = spec
        self.description = describe(spec, record)
        self.record = self.description.record
        self.n_steps = int(n_steps)
        self.backend = backend
        self.replicas = int(replicas)
        self.slots = int(slots)
        self.cuda_options = dict(cuda_options or {})
        self.make_jobs = make_jobs or os.cpu_count() or 1
        self.strict_float = bool(strict_float)
        self.pattern = self.description.pattern()
        self.extra_gcc = INTEGER_GCC_FLAGS if self.description.integer_units and _is_gcc() else ()
        self.structure = program_structure(self.description, self.n_steps, self.replicas, self.slots,
                                           backend, self.strict_float, self.cuda_options, self.extra_gcc)
        self.key = structure_key(self.structure)
        self.name = f"{backend}-{self.key}"
        self.in_cache = directory is None
        self.directory = Path(directory) if directory is not None else cache_root() / self.name
        self.compiled_here = False
        self.timings: dict[str, float] = {"codegen_s": 0.0, "compile_s": 0.0}
        self.manifest: dict[str, Any] | None = None
        self._prepared = None

    # -- a prepared run: this program with one network's weights, no Brian2 needed --------
    def prepare(self, spec=None):
        """This program with the weights (and per-neuron values) of ``spec`` (default: the
        network given at construction) in compiled order: a
        :class:`~biolstm.brian.prepared.PreparedRun`, which :mod:`biolstm.brian.prepared`
        saves so that a later process runs the program without describing the network again
        (and without importing Brian2). :class:`StructureError` if ``spec`` does not fit."""
        from biolstm.brian.prepared import PreparedRun

        if not self.in_cache:
            raise ValueError(f"CompiledNetwork.prepare: the program in {self.directory} is not in the "
                             f"cache; prepared runs refer to cached programs only")
        desc, weights = self._fit(spec if spec is not None else self.description)
        return PreparedRun(program=self.name, key=self.key, backend=self.backend, n_steps=self.n_steps,
                           replicas=self.replicas, slots=self.slots,
                           description=desc.without_models(),
                           weights={k: np.asarray(v) for k, v in weights.items()})

    @classmethod
    def from_prepared(cls, prepared) -> "CompiledNetwork | None":
        """The cached program of a :class:`~biolstm.brian.prepared.PreparedRun`, ready to
        :meth:`run` its weights (no ``spec`` argument), or None if the program is no longer in
        the cache (evicted, cleared). Nothing is described, keyed or built."""
        net = cls.__new__(cls)
        desc = prepared.description
        net.spec, net.description, net.record = None, desc, desc.record
        net.n_steps, net.backend = int(prepared.n_steps), prepared.backend
        net.replicas, net.slots = int(prepared.replicas), int(prepared.slots)
        net.cuda_options, net.make_jobs, net.strict_float = {}, os.cpu_count() or 1, False
        net.pattern, net.extra_gcc, net.structure = None, (), None
        net.key, net.name, net.in_cache = prepared.key, prepared.program, True
        net.directory = cache_root() / prepared.program
        net.compiled_here, net.timings = False, {"codegen_s": 0.0, "compile_s": 0.0}
        net.manifest = _read_manifest(net.directory, net.key)
        net._prepared = prepared
        return net if net.manifest is not None else None

    # -- properties ----------------------------------------------------------------
    @property
    def samples_per_run(self) -> int:
        """Samples one run of the program evaluates (``replicas * slots``)."""
        return self.replicas * self.slots

    @property
    def binary(self) -> Path:
        """The compiled program (``main`` in the project folder)."""
        return self.directory / "main"

    def is_built(self) -> bool:
        """True if the project folder holds this structure's manifest and program."""
        return _read_manifest(self.directory, self.key) is not None

    def _lock(self, shared: bool = False):
        path = _lock_path(self.name) if self.in_cache else self.directory / ".biolstm.lock"
        if not self.in_cache:
            self.directory.mkdir(parents=True, exist_ok=True)
        return locked(path, shared=shared)

    # -- build -----------------------------------------------------------------------
    def build(self, *, progress: bool = True) -> "CompiledNetwork":
        """Generate and compile the program unless this structure is already built.

        Works without a GPU for ``cuda_standalone`` (build only). Returns ``self``.
        """
        require_backend(self.backend, build_only=True)
        with self._lock():
            manifest = _read_manifest(self.directory, self.key)
            if manifest is not None:
                self.manifest = manifest
                self.compiled_here = False
                self.timings = {"codegen_s": 0.0, "compile_s": 0.0}
                _touch(self.directory)
                return self
            if self.in_cache:
                self._build_in_cache(progress)
            else:
                (self.directory / MANIFEST).unlink(missing_ok=True)
                self._generate_and_compile(self.directory, progress)
        if self.in_cache:
            enforce_limit(keep=(self.name,))
        return self

    def _build_in_cache(self, progress: bool) -> None:
        root = cache_root()
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{self.name}-", dir=root))
        try:
            self._generate_and_compile(tmp, progress)
            if self.directory.exists():  # a broken leftover (we hold the lock): replace it
                shutil.rmtree(self.directory)
            os.rename(tmp, self.directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _generate_and_compile(self, target: Path, progress: bool) -> None:
        import brian2 as b2

        desc = self.description
        message = (f"{self.backend}: generating and compiling {self.replicas} cop"
                   f"{'y' if self.replicas == 1 else 'ies'} x {self.slots} slot(s) of "
                   f"{desc.n_neurons} neurons in {self.directory}")
        log.info(message)
        if progress:
            from tqdm.auto import tqdm

            tqdm.write(message)
        t0 = time.perf_counter()
        with strict_float(self.strict_float, self.backend), _extra_gcc(self.extra_gcc), default_dt(desc.dt), \
                activated(self.backend, target, build_only=True, cuda_options=self.cuda_options):
            b2.prefs["devices.cpp_standalone.extra_make_args_unix"] = [f"-j{self.make_jobs}"]
            built = build(desc, self.n_steps, self.replicas, self.slots)
            built.network.run(built.duration, namespace={})
            device = b2.get_device()
            with _patched_network_source(device, self.backend, target):
                device.build(directory=str(target), compile=True, run=False, with_output=False)
            total = time.perf_counter() - t0
            make = (getattr(device, "timers", {}) or {}).get("compile", {}).get("make")
            manifest = self._manifest(device, built)
        compile_s = float(make) if make is not None else float("nan")
        self.timings = {"codegen_s": total - (compile_s if make is not None else 0.0),
                        "compile_s": compile_s}
        manifest["timings"] = self.timings
        manifest["created"] = time.time()
        if self.in_cache:  # objects are only needed to recompile, which a cached program never does
            for obj in target.rglob("*.o"):
                obj.unlink()
        np.savez(target / PATTERN, **{f"{n}.{k}": a for n, arrs in self.pattern.items()
                                      for k, a in zip("ijd", arrs)})
        atomic_write_text(target / MANIFEST, json.dumps(manifest, indent=1), overwrite=True)
        _touch(target)
        manifest["size_bytes"] = _folder_bytes(target)
        atomic_write_text(target / MANIFEST, json.dumps(manifest, indent=1), overwrite=True)
        self.manifest = manifest
        self.compiled_here = True

    def _manifest(self, device, built) -> dict[str, Any]:
        def array(var) -> dict[str, str]:
            return {"file": device.get_array_filename(var), "dtype": np.dtype(var.dtype).str}

        desc = self.description
        spikes = {name: {"i": array(mon.variables["i"]), "t": array(mon.variables["t"])}
                  for name, mon in built.spike_monitors.items()}
        traces = {}
        for pop, mon in built.trace_monitors.items():
            for var in desc.record[pop][0]:
                traces[f"{pop}.{var}"] = array(mon.variables[var])
        readout = array(built.readout_monitor.variables[desc.readout[1]]) \
            if built.readout_monitor is not None else None
        return {
            "key": self.key,
            "structure": self.structure,
            "summary": {
                "kind": desc.kind,
                "populations": [[m.name, m.size] for g in desc.groups for m in g.members],
                "inputs": [[k, v] for k, v in desc.inputs.items()],
                "synapses": desc.n_synapses,
                "n_steps": self.n_steps, "replicas": self.replicas, "slots": self.slots,
                "backend": self.backend, "strict_float": self.strict_float,
            },
            "spikes": spikes,
            "readout": readout,
            "traces": traces,
            "weights": {name: f"{syn.name}.w" for name, syn in built.synapses.items()},
            "values": {g.name: {var: f"{g.name}.{var}" for var in g.values} for g in desc.groups if g.values},
            "inputs": {name: f"{ta.name}.values" for name, ta in built.input_arrays.items()},
        }

    # -- run ----------------------------------------------------------------------------
    def _fit(self, spec) -> tuple[NetworkDescription, dict[str, np.ndarray]]:
        other = describe(spec, self.record) if not isinstance(spec, NetworkDescription) else spec
        diff = structure_difference(self.description.structure(), other.structure())
        if diff:
            raise StructureError(
                f"the network differs from the compiled structure in {diff}; only weights "
                f"(on the compiled synapses), per-neuron values and inputs can change without "
                f"a new build")
        return other, weights_into(other, self.pattern)

    def check(self, spec) -> dict[str, np.ndarray]:
        """Weights of ``spec`` in compiled synapse order, by projection; :class:`StructureError`
        if ``spec`` does not fit this build (other populations, parameters, sizes, new synapses)."""
        other, weights = self._fit(spec)
        return {p.label: weights[p.name] for p in other.projections}

    def run(self, inputs, spec=None, *, progress: bool = True, keep_files: bool = False,
            processes: int | None = None) -> Activity:
        """Evaluate every sample of ``inputs`` with the weights of ``spec``, no compilation.

        Parameters
        ----------
        inputs : SpikeTrains
            Any number of samples of ``n_steps`` steps.
        spec : NetworkSpec, QuantizedNetwork or NetworkDescription, optional
            Network with new weights (default: the one given at construction); must
            fit the compiled structure (:meth:`check`).
        progress : bool
            Progress bar over samples.
        keep_files : bool
            Keep the run folder (inputs, weights, results) for inspection.
        processes : int, optional
            Runs of the program (``samples_per_run`` samples each) at a time, each its own
            process with its own input and result files; the results are the same for any
            number. Default: ``cpp_standalone`` one per usable CPU (at most one per run),
            ``cuda_standalone`` 1 (one GPU).

        Returns
        -------
        Activity
            As :func:`biolstm.brian.simulate` returns it; ``timings`` has ``codegen_s``,
            ``compile_s`` (0 when the build was reused), ``run_s`` (wall time this process
            waited for the programs), ``network_run_s`` (the part of the programs' time
            inside Brian2's ``Network.run``, as they report it, summed over the runs; the
            rest is start-up: loading arrays, creating synapses), ``io_s`` (packing inputs,
            reading results, while other runs go on), ``runs`` and ``processes``.
        """
        from biolstm.brian.run import Collector

        if self.manifest is None:
            self.build(progress=progress)
        require_backend(self.backend)
        if self._prepared is not None:
            if spec is not None:
                raise ValueError("CompiledNetwork.run: this program runs the weights it was prepared "
                                 "with (from_prepared); build a CompiledNetwork from the network to "
                                 "run other weights")
            desc, weights = self._prepared.description, self._prepared.weights
        else:
            desc, weights = self._fit(spec if spec is not None else self.description)
        for name, size in desc.inputs.items():
            if inputs.sizes.get(name) != size or set(inputs.sizes) != set(desc.inputs):
                from biolstm.encoding import InputError

                raise InputError(f"the network's input groups are {dict(desc.inputs)}, the spike "
                                 f"trains give {dict(inputs.sizes)}")
        if inputs.n_steps != self.n_steps:
            raise StructureError(f"inputs have {inputs.n_steps} steps per sample, the program was "
                                 f"compiled for {self.n_steps}")
        if processes is not None and (isinstance(processes, bool) or int(processes) != processes
                                      or processes < 1):
            raise ValueError(f"CompiledNetwork.run: processes = {processes!r} must be a positive "
                             f"integer (or None: one per CPU)")
        with self._lock(shared=True):
            if not self.is_built():
                raise StructureError(f"the compiled program in {self.directory} was removed "
                                     f"(biolstm cache clear?) while this process used it; run again")
            _touch(self.directory)
            return self._run(inputs, desc, weights, progress, keep_files, Collector, processes)

    def _run(self, inputs, desc, weights, progress, keep_files, Collector, processes) -> Activity:
        S, per_run = inputs.n_samples, self.samples_per_run
        chunks = [(first, min(per_run, S - first)) for first in range(0, S, per_run)]
        if processes is None:
            processes = usable_cpus() if self.backend == "cpp_standalone" else 1
        processes = max(1, min(int(processes), len(chunks)))
        workdir = Path(tempfile.mkdtemp(prefix=f"run_{os.getpid()}_", dir=self.directory))
        t_io = time.perf_counter()
        args = []
        for name, w in weights.items():
            if name not in self.manifest["weights"]:  # a projection without synapses
                continue
            path = workdir / f"w_{name}.dat"
            np.tile(w, self.replicas).astype(np.float64).tofile(path)
            args.append(f"{self.manifest['weights'][name]}={path}")
        for g in desc.groups:
            for var, values in g.values.items():
                path = workdir / f"v_{g.name}_{var}.dat"
                np.tile(np.asarray(values, dtype=np.float64), self.replicas).tofile(path)
                args.append(f"{self.manifest['values'][g.name][var]}={path}")
        prepare_s = time.perf_counter() - t_io
        io_s = 0.0   # in the loop: packing inputs, reading results
        self._network_run_s = 0.0
        collector = Collector(desc, inputs)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=S, desc=f"Brian2 {self.backend}", unit="sample", leave=False)
        t_loop = time.perf_counter()
        running: collections.deque = collections.deque()   # (first, count, results, process)
        try:
            todo = iter(chunks)
            while True:
                while len(running) < processes:                 # start runs while CPUs are free
                    first, count = next(todo, (None, 0))
                    if first is None:
                        break
                    t0 = time.perf_counter()
                    run_args = list(args)
                    for name, values in pack_inputs(desc, inputs, first, count, self.replicas,
                                                    self.slots).items():
                        path = workdir / f"in{first}_{name}.dat"
                        values.tofile(path)
                        run_args.append(f"{self.manifest['inputs'][name]}={path}")
                    results = workdir / f"results{first}"
                    results.mkdir()
                    running.append((first, count, results, self._start(results, run_args)))
                    io_s += time.perf_counter() - t0
                if not running:
                    break
                first, count, results, proc = running.popleft()     # collect in sample order
                self._finish(proc, results)
                t0 = time.perf_counter()
                collector.add(self._read(results), first, count, self.replicas, self.slots)
                if not keep_files:
                    shutil.rmtree(results, ignore_errors=True)
                    for path in workdir.glob(f"in{first}_*.dat"):
                        path.unlink()
                io_s += time.perf_counter() - t0
                if bar is not None:
                    bar.update(count)
        finally:
            for *_, proc in running:      # an error (or Ctrl-C) leaves no program running
                proc.kill()
                proc.wait()
            if bar is not None:
                bar.close()
            if not keep_files:
                shutil.rmtree(workdir, ignore_errors=True)
        run_s = time.perf_counter() - t_loop - io_s
        timings = dict(self.timings)
        timings.update(run_s=run_s, network_run_s=self._network_run_s, io_s=prepare_s + io_s,
                       runs=float(len(chunks)), processes=float(processes))
        return collector.activity(self.backend, timings, {
            "compiled_here": self.compiled_here, "project": str(self.directory),
            "replicas": self.replicas, "slots": self.slots, "key": self.key})

    def _start(self, results: Path, run_args: list[str]) -> subprocess.Popen:
        cmd = [str(self.binary), "--results_dir", str(results) + os.sep, *run_args]
        return subprocess.Popen(cmd, cwd=self.directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def _finish(self, proc: subprocess.Popen, results: Path) -> None:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0 or "Error" in stderr:
            raise RuntimeError(
                f"the compiled {self.backend} program in {self.directory} failed (exit code "
                f"{proc.returncode}): {(stderr or stdout).strip()[-2000:]}")
        info = results / "last_run_info.txt"
        if info.is_file():
            self._network_run_s += float(info.read_text().split()[0])

    def _read(self, results: Path):
        from biolstm.brian.run import RawRun

        def load(entry):
            path = results / entry["file"]
            if not path.exists():  # Brian2 leaves an empty dynamic array's file empty or absent
                return np.zeros(0, dtype=np.dtype(entry["dtype"]))
            return np.fromfile(path, dtype=np.dtype(entry["dtype"]))

        spikes = {name: (load(files["i"]), load(files["t"])) for name, files in self.manifest["spikes"].items()}
        readout = load(self.manifest["readout"]) if self.manifest["readout"] is not None else None
        traces = {key: load(entry) for key, entry in self.manifest["traces"].items()}
        return RawRun(spikes, readout, traces)


def program_structure(desc: NetworkDescription, n_steps: int, replicas: int, slots: int,
                      backend: str, strict: bool, cuda_options: Mapping[str, Any] | None = None,
                      extra_gcc: Sequence[str] = ()) -> dict[str, Any]:
    """The cache key's contents (see the module docstring)."""
    import brian2

    return {
        "manifest_version": MANIFEST_VERSION,
        "builder_version": BUILDER_VERSION,
        "backend": backend,
        "brian2": brian2.__version__,
        "network": desc.structure(),
        "n_steps": int(n_steps),
        "replicas": int(replicas),
        "slots": int(slots),
        "toolchain": toolchain(backend, strict, extra_gcc),
        "cuda": {k: cuda_options[k] for k in sorted(cuda_options or {})} if backend == "cuda_standalone" else None,
    }


def _read_manifest(directory: Path, key: str | None = None) -> dict[str, Any] | None:
    path = directory / MANIFEST
    try:
        if not ((directory / "main").is_file() and (directory / PATTERN).is_file()):
            return None
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if key is not None and manifest.get("key") != key:
        return None
    return manifest


def _touch(directory: Path) -> None:
    try:
        (directory / LAST_USED).write_text(f"{time.time():.3f}\n")
    except OSError:
        pass


# ---------------------------------------------------------------------------------------
# listing, limit, clearing
# ---------------------------------------------------------------------------------------


@dataclass
class CacheEntry:
    """One compiled program in the cache (for ``biolstm cache``)."""

    name: str
    key: str
    directory: Path
    backend: str
    kind: str
    populations: list[tuple[str, int]]
    inputs: list[tuple[str, int]]
    synapses: int
    n_steps: int
    replicas: int
    slots: int
    brian2: str
    size_bytes: int
    created: float
    last_used: float
    compile_s: float

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["directory"] = str(self.directory)
        return out


def cache_entries(root: str | os.PathLike | None = None) -> list[CacheEntry]:
    """Every complete program in the cache, least recently used first."""
    root = Path(root) if root is not None else cache_root()
    entries = []
    if not root.is_dir():
        return entries
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith(".") or folder.name == "locks":
            continue
        manifest = _read_manifest(folder)
        if manifest is None:
            continue
        summary = manifest.get("summary", {})
        structure = manifest.get("structure", {})
        last = folder / LAST_USED
        try:
            last_used = last.stat().st_mtime if last.exists() else (folder / MANIFEST).stat().st_mtime
        except OSError:
            continue
        entries.append(CacheEntry(
            name=folder.name, key=manifest.get("key", ""), directory=folder,
            backend=summary.get("backend", structure.get("backend", "?")), kind=summary.get("kind", "?"),
            populations=[tuple(p) for p in summary.get("populations", [])],
            inputs=[tuple(p) for p in summary.get("inputs", [])],
            synapses=int(summary.get("synapses", 0)), n_steps=int(summary.get("n_steps", 0)),
            replicas=int(summary.get("replicas", 0)), slots=int(summary.get("slots", 0)),
            brian2=str(structure.get("brian2", "?")), size_bytes=_folder_bytes(folder),
            created=float(manifest.get("created", 0.0)), last_used=last_used,
            compile_s=float(manifest.get("timings", {}).get("compile_s", float("nan")))))
    entries.sort(key=lambda e: e.last_used)
    return entries


def _remove(entry_dir: Path, root: Path) -> bool:
    """Remove one program unless a process holds it (True if removed)."""
    lock = root / "locks" / f"{entry_dir.name}.lock"
    with locked(lock, blocking=False) as free:
        if not free:
            return False
        shutil.rmtree(entry_dir, ignore_errors=True)
        return not entry_dir.exists()


def enforce_limit(limit: int | str | None = None, *, keep: Sequence[str] = (),
                  root: str | os.PathLike | None = None) -> list[str]:
    """Remove least recently used programs until the cache is at most ``limit`` bytes.

    ``limit`` defaults to :func:`cache_limit`; programs named in ``keep`` and programs in
    use by a process stay. Returns the names removed.
    """
    root = Path(root) if root is not None else cache_root()
    limit_bytes = cache_limit(limit)
    entries = cache_entries(root)
    total = sum(e.size_bytes for e in entries)
    removed = []
    for e in entries:
        if total <= limit_bytes:
            break
        if e.name in keep:
            continue
        if _remove(e.directory, root):
            total -= e.size_bytes
            removed.append(e.name)
            log.info("program cache over %d bytes: removed %s (%d bytes, least recently used)",
                     limit_bytes, e.name, e.size_bytes)
    return removed


def clear_cache(older_than_days: float | None = None, *, root: str | os.PathLike | None = None
                ) -> list[str]:
    """Remove every program (or those last used more than ``older_than_days`` days ago)
    and leftovers of interrupted builds, and so the prepared runs
    (:func:`biolstm.brian.prepared.clear`); programs in use stay. Returns the names of the
    programs and folders removed."""
    root = Path(root) if root is not None else cache_root()
    if not root.is_dir():
        return []
    now = time.time()
    removed = []
    for e in cache_entries(root):
        if older_than_days is not None and now - e.last_used <= older_than_days * 86400:
            continue
        if _remove(e.directory, root):
            removed.append(e.name)
    if older_than_days is None:
        for folder in root.iterdir():  # interrupted builds and incomplete folders
            if (not folder.is_dir() or folder.name in ("locks", "prepared")
                    or _read_manifest(folder) is not None):
                continue
            name = folder.name[5:].rsplit("-", 1)[0] if folder.name.startswith(".tmp-") else folder.name
            with locked(root / "locks" / f"{name}.lock", blocking=False) as free:
                if free:  # not being built right now
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder.name)
    if root == cache_root():   # the prepared runs of these programs (biolstm.brian.prepared)
        from biolstm.brian import prepared

        prepared.clear(older_than_days)
    return removed


def simulate_program(desc: NetworkDescription, n_steps: int, n_samples: int,
                     backend: str = "cpp_standalone", *, replicas: int | None = None,
                     slots: int | None = None, directory: str | os.PathLike | None = None,
                     strict_float: bool | None = None, cuda_options: dict | None = None
                     ) -> "CompiledNetwork":
    """The :class:`CompiledNetwork` that :func:`biolstm.brian.simulate` (and the Loihi-exact
    mode) runs ``n_samples`` of ``desc`` with: the layout of :func:`simulate_layout` unless
    ``replicas``/``slots`` are given, Brian2's compiler flags as they are unless
    ``strict_float``. Not built yet (:meth:`CompiledNetwork.build`, :meth:`~CompiledNetwork.is_built`)."""
    R, K = simulate_layout(backend, n_samples, desc.integer_units)
    return CompiledNetwork(desc, int(n_steps), backend=backend, replicas=replicas or R, slots=slots or K,
                           directory=directory, strict_float=bool(strict_float), cuda_options=cuda_options)


# ---------------------------------------------------------------------------------------
# would a run compile?
# ---------------------------------------------------------------------------------------


def is_cached(network: Any, n_steps: int, backend: str = "cpp_standalone", *,
              n_samples: int = 1, mode: str = "float",
              record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None) -> bool:
    """True if simulating ``network`` would reuse a compiled program (no code generation).

    Parameters
    ----------
    network : NetworkSpec, QuantizedNetwork or NetworkDescription
        The network as it runs (:func:`biolstm.brian.build.describe`): for
        ``mode="loihi"`` the Loihi-exact one, a QuantizedNetwork (quantize a NetworkSpec
        first, :func:`biolstm.loihi.quantize.quantize`).
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
    record : mapping, optional
        Extra traces the job records (part of the program).

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        For an unknown mode, or ``mode="loihi"`` with a network that does not run in
        integer Loihi units (a float NetworkSpec).
    """
    if backend not in _STANDALONE:
        return False
    if mode not in ("float", "loihi"):
        raise ValueError(f"is_cached: mode = {mode!r} must be 'float' or 'loihi'")
    desc = describe(network, record)
    if mode == "loihi" and not desc.integer_units:
        raise ValueError("is_cached: mode = 'loihi' needs the Loihi-exact network; quantize the "
                         "NetworkSpec first (biolstm.loihi.quantize.quantize)")
    return simulate_program(desc, n_steps, n_samples, backend).is_built()
