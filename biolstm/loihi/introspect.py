"""Read a plain Brian2 script's network for ``biolstm check`` (without simulating it).

:func:`check_brian_file` runs the script in a **separate Python process** (its own
working directory, a time limit, a memory limit; matplotlib without a display) with
Brian2 in runtime mode and ``numpy`` code generation (``set_device`` and
``prefs.codegen.target`` are ignored, ``multiprocessing`` pools run serially in that
process). The first call to ``run()`` (``brian2.run`` or ``Network.run``) is intercepted
and stops the script, so nothing is simulated. The worker hands back plain arrays and a
JSON header (``numpy.savez`` without object arrays: nothing of the script is pickled),
and reports its phase to the parent as lines on its stderr pipe (``biolstm check: running
script until run()``, ``reading N groups / M synapses`` ...); the parent logs each phase
through ``logging.getLogger(__name__)`` (INFO with ``progress=True``, else DEBUG), which
``biolstm check`` shows on stderr unless ``--quiet``. A script that has not reached ``run()`` within
the time limit is stopped; the objects it had built by then are read and the report says
that the network may be incomplete (exit status 2).

What is read (one reader for every Brian2 object, :func:`_describe`):

* ``NeuronGroup`` -> a population; subgroups (``P[:NE]``, ``P[NE:][10:]``) are mapped
  onto their root group with absolute neuron indices, on either side of a ``Synapses``.
  The equations are analysed with :meth:`biolstm.neurons.NeuronModel.discrete` (the same
  exact one-step derivation the spec path uses) and read as a Loihi compartment
  (:mod:`.forms`): LIF (a resting potential off the reset value, a constant drive
  ``I : amp (constant)`` or a per-neuron drive such as IF_curve_LIF's ``v0`` becomes
  Loihi's per-compartment bias, mantissa and exponent), refractoriness (a period, also
  given as a string or a uniform variable; ``(unless refractory)``), one exponentially
  decaying synaptic current (Loihi's ``u``; several with identical dynamics merge), an AHP
  current incremented by the reset (the auxiliary compartment), an adaptive threshold
  (``v > v_th + theta`` or ``v > vt`` with ``vt`` relaxing to a rest value; mapped as
  ALIF onto the AHP form). Anything else -- terms nonlinear in the state (quadratic,
  exponential, conductance-based ``g*(E - v)``), noise, custom events, ``run_regularly``,
  per-neuron decays or thresholds -- is *unrecognised*: the reason names the group and the
  term, and the group is still counted as one-compartment LIF neurons.
* ``SpikeGeneratorGroup``, ``PoissonGroup`` -> input groups (host-injected spikes);
  ``PoissonInput(target, var, N, rate, weight)`` -> an input group of ``N`` independent
  channels per target neuron, each with one synapse (its exact equivalent: Loihi 1 has no
  on-chip Poisson source, and one axon carries one spike per step).
* ``Synapses`` -> projections from the connections as made (any ``connect`` form:
  condition, ``p``, ``i``/``j`` arrays, ``n``), delays per synapse, and the weight of each
  synapse evaluated from its ``on_pre`` statement ``x_post += <expr>`` (``--weight-var``
  chooses when there are several). Plasticity (``on_post``, statements that change
  synaptic variables, synaptic differential equations), summed variables and pathways on
  custom events are unrecognised; their synapses are still counted.
* ``NetworkOperation`` and other model objects: unrecognised (named).

Timing: Brian2's default schedule updates variables in ``synapses`` *after*
``thresholds``. A spike's increment of a synaptic current therefore reaches the
membrane in the next step's update exactly like on Loihi; an increment of the membrane
itself decays once before the target's next threshold test, so its Loihi weight is
``w * exp(-dt/tau_m)`` (applied, and noted). Objects on several clocks are read at one
step, the smallest ``dt`` of the neuron groups (noted).

This is not a security sandbox: only check scripts you would run yourself.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from biolstm.errors import BiolstmError
from biolstm.fileio import existing_path

__all__ = ["IntrospectionError", "read_brian_file", "check_brian_file", "TIMEOUT_S", "PROGRESS_PREFIX"]

TIMEOUT_S = 300.0
MEMORY_LIMIT_BYTES = 8 * 1024**3
PROGRESS_PREFIX = "biolstm check: "
"""Marks the worker's phase lines on its stderr pipe (the rest is the script's own output)."""

log = logging.getLogger(__name__)


class IntrospectionError(BiolstmError, ValueError):
    """The script could not be read (it failed, timed out, or built no network)."""


def _say(message: str, progress: bool = True) -> None:
    """Parent side: log a phase (INFO when the caller asked for progress, else DEBUG)."""
    log.log(logging.INFO if progress else logging.DEBUG, message)


def _signal(message: str) -> None:
    """Worker side: tell the parent the phase, one marked line on the stderr pipe it reads.

    A pipe protocol, not a log: the script under check may configure or silence logging.
    """
    sys.stderr.write(PROGRESS_PREFIX + message + "\n")
    sys.stderr.flush()


# ======================================================================================
# parent side
# ======================================================================================


def _grace(timeout: float) -> float:
    """Seconds after the script's time limit left for reading the network it built."""
    return max(30.0, 0.5 * float(timeout))


def read_brian_file(path: str | os.PathLike, *, weight_var: str | None = None, dt: float | None = None,
                    timeout: float = TIMEOUT_S, progress: bool = False) -> dict[str, Any]:
    """Run the worker on ``path`` and return its description (header dict + ``"arrays"``).

    Parameters
    ----------
    timeout : float
        Seconds the script may run before its first ``run()``; reading the network it
        built gets ``max(30, timeout/2)`` more before the worker is killed.
    progress : bool
        Log the worker's phases at INFO (else DEBUG) on this module's logger.

    Raises
    ------
    IntrospectionError
        With the script's error message, the time limit and the phase, or "no NeuronGroup
        found".
    """
    path = existing_path(Path(path).resolve(), IntrospectionError, "Brian2 script")
    if path.suffix != ".py":
        raise IntrospectionError(f"{path} is not a Python file (.py)")
    if not timeout > 0:
        raise IntrospectionError(f"time limit {timeout!r} s must be positive")
    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="biolstm_check_") as tmp:
        out = Path(tmp) / "network.npz"
        cmd = [sys.executable, "-m", "biolstm.loihi.introspect", str(path), str(out),
               "--time-limit", repr(float(timeout))]
        if weight_var:
            cmd += ["--weight-var", weight_var]
        if dt is not None:
            cmd += ["--dt", repr(float(dt))]
        env = dict(os.environ)
        env["MPLBACKEND"] = "Agg"
        env["PYTHONPATH"] = os.pathsep.join([str(repo)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        env["PYTHONUNBUFFERED"] = "1"
        workdir = Path(tmp) / "cwd"
        workdir.mkdir()
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
                                preexec_fn=_limit_memory if os.name == "posix" else None)
        tail: collections.deque[str] = collections.deque(maxlen=40)
        phase = ["starting Python"]

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                line = line.rstrip("\n")
                if line.startswith(PROGRESS_PREFIX):
                    phase[0] = line[len(PROGRESS_PREFIX):]
                    _say(phase[0], progress)
                else:
                    tail.append(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        limit = float(timeout) + _grace(timeout)
        t0 = time.perf_counter()
        try:
            proc.wait(timeout=limit)
        except BaseException as err:  # the limit, or this process interrupted: the worker ends with it
            _kill(proc)
            if not isinstance(err, subprocess.TimeoutExpired):
                raise
            reader.join(timeout=5)
            raise IntrospectionError(
                f"{path.name}: stopped after {time.perf_counter() - t0:.0f} s while {phase[0]!r} (the time "
                f"limit is {timeout:.0f} s for the script to reach its first run(), plus {_grace(timeout):.0f} s "
                f"to read the network); nothing was simulated. Pass --timeout SECONDS to allow more") from None
        reader.join(timeout=5)
        if proc.returncode != 0 or not out.exists():
            lines = [x for x in tail if x.strip()]
            text = "\n".join(lines[-12:]) if lines else f"exit status {proc.returncode}"
            if proc.returncode in (-9, 137) or "MemoryError" in text:
                text += f"\n(the worker was killed or ran out of memory; its limit is {MEMORY_LIMIT_BYTES / 2**30:.0f} GiB)"
            raise IntrospectionError(f"{path.name}: the checker's worker ended without a result while "
                                     f"{phase[0]!r}:\n{text}")
        with np.load(out, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays.pop("__header__").tobytes().decode("utf-8"))
    if header.get("error"):
        raise IntrospectionError(f"{path.name}: {header['error']}")
    header["arrays"] = arrays
    return header


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        proc.kill()
    proc.wait()


def _limit_memory() -> None:  # runs in the child before exec
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass


def _quantize_biases(values: np.ndarray, vpu: float, chip) -> tuple[np.ndarray, np.ndarray]:
    """Per-compartment bias mantissa and exponent (Loihi's ``cxCfg`` bias, biasExp).

    The smallest exponent ``0..bias_exponent_max`` at which ``|round(b / 2**e)|`` fits the
    mantissa, as nengo-loihi chooses it (docs/sources.md L2a); values beyond the largest bias
    keep the largest exponent and an out-of-range mantissa (the caller reports them).
    """
    bmax, emax = int(chip.value("bias_mantissa_max")), int(chip.value("bias_exponent_max"))
    b = np.asarray(values, dtype=float) / vpu
    exp = np.zeros(b.shape, dtype=np.int64)
    for e in range(emax):
        exp = np.where(np.abs(np.rint(b / 2.0 ** exp)) > bmax, e + 1, exp)
    mant = np.rint(b / 2.0 ** exp).astype(np.int64)
    return mant, exp


def check_brian_file(path: str | os.PathLike, chip="loihi1", *, weight_var: str | None = None,
                     dt: float | None = None, timeout: float = TIMEOUT_S, settings: Any = None,
                     progress: bool = False, **kwargs: Any):
    """``biolstm check`` on a Brian2 script: read it, quantize, place, report.

    Returns a :class:`~.check.CheckReport` whose violations include one
    ``"unrecognised"`` entry per group, synapse set or object that could not be
    translated; those are still placed (groups as one-compartment LIF neurons, synapses
    with their connections), so the report's neurons, synapses, axons and cores answer
    "would it fit" for the whole network.
    """
    from biolstm.loihi.check import check_quantized
    from biolstm.loihi.chips import load_chip
    from biolstm.loihi.forms import NeuronForm, placeholder_form
    from biolstm.loihi.quantize import RawProjection, quantize_forms
    from biolstm.loihi.settings import make_settings
    from biolstm.loihi.violations import Violation

    t0 = time.perf_counter()
    chip = load_chip(chip)
    cfg = make_settings(settings, **kwargs)
    desc = read_brian_file(path, weight_var=weight_var, dt=dt, timeout=timeout, progress=progress)
    t_read = time.perf_counter() - t0
    arrays = desc["arrays"]
    step = float(desc["dt"])
    violations: list[Violation] = []
    forms: list[NeuronForm] = []
    gains: dict[tuple[str, str], float] = {}
    per_neuron_bias: dict[str, np.ndarray] = {}
    for reason in desc.get("incomplete", []):
        violations.append(Violation("script", "time limit", "run() not reached", "first run()", reason,
                                    severity="unrecognised"))
    for k, g in enumerate(desc["groups"]):
        for kind, obj, reason in g.get("unrecognised", []):
            violations.append(Violation(obj, kind, "not translated", "a Loihi form", reason, severity="unrecognised"))
        if g["form"] is None:
            forms.append(placeholder_form(g["name"], g["size"], step, g["reason"]))
            continue
        f = dict(g["form"])
        gains.update({(g["name"], var): gain for var, gain in f.pop("input_gains").items()})
        forms.append(NeuronForm(**f))
        if f"g{k}_bias" in arrays:
            per_neuron_bias[g["name"]] = arrays[f"g{k}_bias"]
    for obj, reason in desc.get("unrecognised_objects", []):
        violations.append(Violation(obj, "object type", "not translated", "NeuronGroup, Synapses, "
                                    "SpikeGeneratorGroup, PoissonGroup, PoissonInput", reason,
                                    severity="unrecognised"))
    form_of = {f.name: f for f in forms}
    raws = []
    for k, p in enumerate(desc["projections"]):
        found = p.get("unrecognised", [])
        if found:  # one entry per synapse object, every reason in it
            rules = list(dict.fromkeys(rule for rule, _, _ in found))
            violations.append(Violation(
                p["label"], ", ".join(rules), "; ".join(_short(v, 40) for _, v, _ in found[:3]),
                "static synapses x_post += <weight>", "; ".join(r for _, _, r in found)
                + ("; its connections are still counted" if f"p{k}_i" in arrays else ""), severity="unrecognised"))
        if f"p{k}_i" not in arrays or p["post"] not in form_of:
            continue
        w = arrays[f"p{k}_w"].astype(np.float64)
        target = form_of[p["post"]]
        var = p.get("target_var")
        if p.get("placeholder_weights") or target.source_model == "unrecognised" or var is None:
            # counted only: a tenth of the target's threshold with the synapse's sign, so that no
            # synapse rounds to 0 (the weights of an untranslated model have no Loihi meaning)
            w = np.where(w < 0, -0.1, 0.1) * float(target.threshold or 1.0)
        else:
            gain = gains.get((p["post"], var))
            if gain is None:
                violations.append(Violation(
                    p["label"], "target variable", var, "the membrane or a synaptic current",
                    f"'{var}' of '{p['post']}' is not a variable Loihi can add synaptic input to; its synapses "
                    f"are counted at a placeholder weight", severity="unrecognised"))
                w = np.full(w.shape, 0.1 * float(target.threshold or 1.0))
            else:
                w = w * (gain / target.input_gain)
        raws.append(RawProjection(
            name=p["name"], pre=p["pre"], post=p["post"], n_pre=p["n_pre"], n_post=p["n_post"],
            pre_index=arrays[f"p{k}_i"].astype(np.int32), post_index=arrays[f"p{k}_j"].astype(np.int32),
            weight=w, delay_steps=arrays[f"p{k}_d"].astype(np.int16), pre_is_input=p["pre"] in desc["inputs"]))
    n_syn = sum(len(r.weight) for r in raws)
    _say(f"quantizing {len(forms)} populations ({sum(f.size for f in forms)} neurons), {len(raws)} projections "
         f"({n_syn} synapses)", progress)
    t1 = time.perf_counter()
    qnet = quantize_forms(forms, raws, desc["inputs"], chip, cfg, step, strict=False)
    t_quant = time.perf_counter() - t1
    notes = list(desc.get("notes", []))
    for pop in qnet.populations:
        if pop.name not in per_neuron_bias:
            continue
        mant, exp = _quantize_biases(per_neuron_bias[pop.name], pop.volt_per_unit, chip)
        bmax, emax = int(chip.value("bias_mantissa_max")), int(chip.value("bias_exponent_max"))
        over = np.abs(mant) > bmax
        units = per_neuron_bias[pop.name] / pop.volt_per_unit
        if over.any():
            worst = int(np.argmax(np.abs(units)))
            violations.append(Violation(
                f"population '{pop.name}' ({int(over.sum())} neurons, e.g. neuron {worst})",
                "bias (13-bit mantissa, exponent <= 7)", f"{units[worst]:.6g} units", f"{bmax * 2 ** emax} units",
                "lower the drive, or give the population a coarser voltage scale (--set volt_per_unit=...)"))
        lost = (np.abs(units) > 0) & (mant == 0)
        notes.append(
            f"population '{pop.name}': per-neuron bias ({len(np.unique(units))} values, {units.min():.4g} to "
            f"{units.max():.4g} units per step) as each compartment's bias mantissa and exponent "
            f"(mantissa {int(mant.min())}..{int(mant.max())}, exponent {int(exp.min())}..{int(exp.max())})"
            + (f"; {int(lost.sum())} nonzero biases round to 0" if lost.any() else "")
            + "; the populations table shows the largest")
    _say(f"placing {qnet.n_neurons} neurons and {qnet.n_synapses} synapses on {chip.name} cores", progress)
    qnet.violations = violations + qnet.violations
    report = check_quantized(qnet, chip, source=str(path), settings=cfg, notes=notes,
                             timings={"read_s": t_read, "quantize_s": t_quant})
    _say(f"done in {time.perf_counter() - t0:.1f} s", progress)
    return report


# ======================================================================================
# worker side (runs in the child process)
# ======================================================================================


class _StopAtRun(BaseException):
    """Raised from the patched run() to stop the script before it simulates."""


class _ScriptTimeLimit(BaseException):
    """Raised by the alarm when the script has not reached run() in time."""


class _SerialPool:
    """Stand-in for ``multiprocessing.Pool``: maps in this process (nothing is pickled)."""

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, func, iterable, *args, **kwargs):
        return [func(x) for x in iterable]

    imap = imap_unordered = map

    def starmap(self, func, iterable, *args, **kwargs):
        return [func(*x) for x in iterable]

    def apply(self, func, args=(), kwds=None):
        return func(*args, **(kwds or {}))

    def close(self):
        pass

    join = terminate = close


class _SerialFuture:
    def __init__(self, value):
        self._value = value

    def result(self, timeout=None):
        return self._value


class _SerialExecutor(_SerialPool):
    """Stand-in for ``concurrent.futures.ProcessPoolExecutor``."""

    def submit(self, func, *args, **kwargs):
        return _SerialFuture(func(*args, **kwargs))

    def map(self, func, *iterables, **kwargs):
        return [func(*x) for x in zip(*iterables)]

    def shutdown(self, *args, **kwargs):
        pass


def _worker(script: str, out: str, weight_var: str | None, dt_override: float | None,
            time_limit: float = TIMEOUT_S) -> int:
    _end_with_parent()
    _signal("running script until run()")
    import brian2
    from brian2 import Network, prefs
    from brian2.core.base import BrianObject
    from brian2.core.preferences import BrianGlobalPreferences

    prefs.codegen.target = "numpy"
    captured: dict[str, Any] = {"objects": None, "namespace": None, "device": None, "targets": []}
    original_setitem = BrianGlobalPreferences.__setitem__

    def setitem(self, name, value):
        if name == "codegen.target":
            captured["targets"].append(str(value))
            return None
        return original_setitem(self, name, value)

    def fake_run(*args, **kwargs):
        frame = sys._getframe(1)
        namespace = dict(frame.f_globals)
        namespace.update(frame.f_locals)
        captured.update(objects=_collect(namespace, BrianObject, Network), namespace=namespace)
        raise _StopAtRun()

    def fake_network_run(self, *args, **kwargs):
        frame = sys._getframe(1)
        namespace = dict(frame.f_globals)
        namespace.update(frame.f_locals)
        captured.update(objects=list(self.objects), namespace=kwargs.get("namespace") or namespace,
                        schedule=list(self.schedule))
        raise _StopAtRun()

    def fake_set_device(device, *args, **kwargs):
        captured["device"] = str(device)

    BrianGlobalPreferences.__setitem__ = setitem
    brian2.run = fake_run
    brian2.core.magic.run = fake_run
    Network.run = fake_network_run
    brian2.set_device = fake_set_device
    brian2.devices.device.set_device = fake_set_device
    import concurrent.futures
    import multiprocessing
    import multiprocessing.pool

    multiprocessing.Pool = multiprocessing.pool.Pool = _SerialPool
    concurrent.futures.ProcessPoolExecutor = _SerialExecutor
    script_path = Path(script)
    sys.path.insert(0, str(script_path.parent))
    sys.argv = [str(script_path)]
    globs: dict[str, Any] = {"__name__": "__main__", "__file__": str(script_path), "__builtins__": __builtins__}
    header: dict[str, Any] = {"notes": []}

    def alarm(signum, frame):
        raise _ScriptTimeLimit()

    use_alarm = hasattr(signal, "setitimer")
    t0 = time.perf_counter()
    try:
        code = compile(script_path.read_text(), str(script_path), "exec")
        if use_alarm:
            signal.signal(signal.SIGALRM, alarm)
            signal.setitimer(signal.ITIMER_REAL, float(time_limit))
        exec(code, globs)
    except _StopAtRun:
        pass
    except _ScriptTimeLimit as err:
        namespace = dict(globs)
        tb = err.__traceback__
        while tb is not None:  # the script's frames (innermost last) hold its local objects
            if tb.tb_frame.f_code.co_filename == str(script_path):
                namespace.update(tb.tb_frame.f_locals)
            tb = tb.tb_next
        captured.update(objects=_collect(namespace, BrianObject, Network), namespace=namespace)
        header["incomplete"] = [
            f"the script had not reached its first run() after {time_limit:.0f} s (it was still running its "
            f"own code); the objects it had built by then were read, so the network may be incomplete. Pass "
            f"--timeout SECONDS to wait longer"]
    except SystemExit:
        pass
    except BaseException as err:  # the script's own error, before run()
        if captured["objects"] is None:
            import traceback

            tb = traceback.format_exc().strip().splitlines()
            header["error"] = "the script raised " + type(err).__name__ + ": " + str(err) + "\n" + "\n".join(tb[-6:])
            return _write(out, header, {})
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
    header["script_s"] = time.perf_counter() - t0
    if captured["targets"] and any(t != "numpy" for t in captured["targets"]):
        header["notes"].append(f"prefs.codegen.target = {captured['targets'][-1]!r} ignored: read with numpy")
    try:
        return _describe(captured, globs, header, out, weight_var, dt_override)
    except Exception as err:  # a bug of ours, not of the script: say so
        import traceback

        tb = traceback.format_exc().strip().splitlines()
        if header.get("incomplete"):  # stopped at the time limit in the middle of Brian2's own code
            header["error"] = (header["incomplete"][0].split(";")[0] + f"; what it had built could not be read "
                               f"({type(err).__name__}: {err}). Pass --timeout SECONDS to wait longer")
            return _write(out, header, {})
        header["error"] = (f"biolstm could not read the network ({type(err).__name__}: {err}); this is a bug of "
                           f"biolstm check, please report it with the script\n" + "\n".join(tb[-6:]))
        return _write(out, header, {})


def _unproxy(obj):
    """The object behind a ``weakref.proxy`` (Brian2 keeps a subgroup's source as one)."""
    import weakref

    if isinstance(obj, (weakref.ProxyType, weakref.CallableProxyType)):
        return obj.__repr__.__self__
    return obj


def _end_with_parent() -> None:
    """Exit when the process that started the worker is gone (it runs in its own session)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="biolstm-check-parent-watch").start()


def _root(group) -> tuple[Any, int]:
    """The group a (possibly nested) subgroup views, and its first index there."""
    from brian2.groups.subgroup import Subgroup

    group = _unproxy(group)
    if isinstance(group, Subgroup):
        return _unproxy(group.source), int(group.start)  # Brian2 resolves nested subgroups to the root
    return group, 0


def _describe(captured: dict, globs: dict, header: dict, out: str, weight_var, dt_override) -> int:
    from brian2 import Network, NeuronGroup, PoissonGroup, PoissonInput, SpikeGeneratorGroup, Synapses, prefs
    from brian2.core.base import BrianObject
    from brian2.groups.subgroup import Subgroup

    if captured["objects"] is None:
        captured["objects"] = _collect(globs, BrianObject, Network)
        captured["namespace"] = globs
        header["notes"].append("the script never calls run(); objects taken from its namespace")
    if captured.get("device") and captured["device"] not in ("runtime",):
        header["notes"].append(f"set_device({captured['device']!r}) ignored: read in runtime mode")
    namespace = captured["namespace"]
    groups: list = []
    inputs: list = []
    synapses: list = []
    poisson_inputs: list = []
    others: list = []
    seen: set[int] = set()

    def add_group(obj) -> None:
        root, _ = _root(obj)
        if id(root) in seen:
            return
        if isinstance(root, NeuronGroup):
            seen.add(id(root))
            groups.append(root)
        elif isinstance(root, (SpikeGeneratorGroup, PoissonGroup)):
            seen.add(id(root))
            inputs.append(root)

    for o in captured["objects"]:
        if isinstance(o, Synapses):
            if id(o) not in seen:
                seen.add(id(o))
                synapses.append(o)
            add_group(o.source)
            add_group(o.target)
        elif isinstance(o, PoissonInput):
            if id(o) not in seen:
                seen.add(id(o))
                poisson_inputs.append(o)
            add_group(o.group)
        elif isinstance(o, (NeuronGroup, SpikeGeneratorGroup, PoissonGroup, Subgroup)):
            add_group(o)
        elif _is_model_object(o) and id(o) not in seen:
            seen.add(id(o))
            others.append(o)
    # a Synapses object that others connect to is a target, not a neuron group
    if not groups:
        header["error"] = ("no NeuronGroup found (looked at the Network passed to run(), else the variables of "
                           "the script); build the network at module level or in the function that calls run()")
        return _write(out, header, {})
    _signal(f"reading {len(groups)} groups / {len(synapses)} synapses"
            + (f" / {len(inputs) + len(poisson_inputs)} inputs" if inputs or poisson_inputs else ""))
    header["unrecognised_objects"] = [(f"{type(o).__name__} '{o.name}'", _other_reason(o)) for o in others]
    group_dts = sorted({float(g.clock.dt) for g in groups})
    dts = sorted({float(o.clock.dt) for o in groups + inputs + synapses + poisson_inputs})
    step = float(dt_override) if dt_override else group_dts[0]
    if len(dts) > 1 and not dt_override:
        header["notes"].append(f"objects use several time steps {[f'{d:g}' for d in dts]} s; read at one step, "
                               f"dt = {step:g} s (the neuron groups' smallest), as Loihi has one time step")
    header["dt"] = step
    header["inputs"] = {o.name: int(len(o)) for o in inputs}
    for pi in poisson_inputs:
        target, _ = _root(pi.group)
        header["inputs"][pi.name] = int(pi.N) * int(len(pi.group))
    schedule = captured.get("schedule") or list(prefs.core.network.default_schedule)
    default_order = _default_order(schedule, synapses, groups)
    if not default_order:
        header["notes"].append("the network does not use Brian2's default schedule order; synaptic timing is "
                               "interpreted as if it did")
    known = {o.name for o in groups} | set(header["inputs"])
    targets: dict[str, list[str]] = {}
    arrays: dict[str, np.ndarray] = {}
    projections = []
    sources = [(syn, "synapses") for syn in synapses] + [(pi, "poissoninput") for pi in poisson_inputs]
    for k, (obj, kind) in enumerate(sources):
        if kind == "synapses":
            entry, arr = _synapse_entry(obj, namespace, weight_var, step, known)
        else:
            entry, arr = _poisson_input_entry(obj, namespace)
        projections.append(entry)
        for key, value in arr.items():
            arrays[f"p{k}_{key}"] = value
        if entry.get("target_var") and not entry.get("placeholder_weights"):
            targets.setdefault(entry["post"], []).append(entry["target_var"])
    header["groups"] = []
    for k, g in enumerate(groups):
        entry, bias = _group_entry(g, namespace, step, targets.get(g.name, []))
        header["groups"].append(entry)
        if bias is not None:
            arrays[f"g{k}_bias"] = bias
    # direct-to-membrane synapses: one decay before the target's next threshold test
    forms = {g["name"]: g["form"] for g in header["groups"]}
    for k, entry in enumerate(projections):
        form = forms.get(entry["post"])
        if form is None or f"p{k}_w" not in arrays or entry.get("placeholder_weights"):
            continue
        if entry.get("target_var") == form["membrane"] and default_order:
            arrays[f"p{k}_w"] = arrays[f"p{k}_w"] * form["alpha_v"]
            header["notes"].append(
                f"{entry['label']} adds to the membrane after the threshold test (Brian2's default "
                f"schedule): Loihi weights are w x exp(-dt/tau_m) = w x {form['alpha_v']:.6g}")
    for g in header["groups"]:
        if g["form"] is not None:
            g["form"].pop("membrane")
    header["projections"] = projections
    return _write(out, header, arrays)


def _is_model_object(obj) -> bool:
    from brian2 import Network, PopulationRateMonitor, SpikeMonitor, StateMonitor

    try:
        from brian2 import EventMonitor
    except ImportError:  # pragma: no cover
        EventMonitor = SpikeMonitor
    if isinstance(obj, (SpikeMonitor, StateMonitor, PopulationRateMonitor, EventMonitor, Network)):
        return False
    name = type(obj).__name__
    return name not in ("Clock", "CodeRunner", "StateUpdater", "Thresholder", "Resetter", "SynapticPathway",
                        "SummedVariableUpdater", "SpikeQueue", "SpikeMonitor", "StateMonitor", "EventMonitor",
                        "PopulationRateMonitor")


def _other_reason(obj) -> str:
    name = type(obj).__name__
    if name == "NetworkOperation":
        return "network_operation runs arbitrary Python each step; it has no Loihi equivalent"
    return f"{name} has no Loihi mapping in biolstm"


def _collect(namespace: dict, BrianObject, Network) -> list:
    found = []
    seen = set()

    def add(obj):
        if id(obj) not in seen:
            seen.add(id(obj))
            found.append(obj)

    for value in list(namespace.values()):
        if isinstance(value, Network):
            for o in value.objects:
                add(o)
        elif isinstance(value, BrianObject):
            add(value)
        elif isinstance(value, (list, tuple, set)):
            for v in value:
                if isinstance(v, BrianObject):
                    add(v)
        elif isinstance(value, dict):
            for v in value.values():
                if isinstance(v, BrianObject):
                    add(v)
    contained = set()
    for o in found:  # contained objects (a Synapses' pathways, a group's thresholder) are not models
        for c in getattr(o, "contained_objects", []):
            contained.add(id(c))
    return [o for o in found if id(o) not in contained]


def _default_order(schedule: list[str], synapses, groups) -> bool:
    try:
        order = list(schedule)
        ok = order.index("thresholds") < order.index("synapses") and order.index("groups") < order.index("thresholds")
    except ValueError:
        return False
    custom = [o for o in list(synapses) + list(groups) if o.when not in ("start", "groups", "thresholds", "synapses")]
    return ok and not custom


def _quantity(value, dim):
    from brian2 import Quantity

    return Quantity(value, dim=dim)


def _group_entry(group, namespace: dict, dt: float, syn_targets: list[str]) -> tuple[dict[str, Any], np.ndarray | None]:
    """Analyse one NeuronGroup into a NeuronForm dict (and a per-neuron bias), or give the reason."""
    entry: dict[str, Any] = {"name": group.name, "size": int(len(group)), "form": None, "reason": "",
                             "unrecognised": []}
    try:
        form, bias = _analyse(group, namespace, dt, sorted(set(syn_targets)))
        entry["form"] = form
        return entry, bias
    except _Unrecognised as err:
        entry["reason"] = str(err)
        entry["unrecognised"].append(("neuron model", f"{type(group).__name__} '{group.name}'", str(err)))
        return entry, None


class _Unrecognised(BiolstmError):
    """A part of a Brian2 model that has no Loihi translation (caught and reported as such)."""


def _short(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _nonlinear_terms(expr, states: dict) -> list[str]:
    """Terms of ``expr`` that are not linear in the state symbols."""
    import sympy

    out = []
    try:  # distribute products and quotients so that each term is seen on its own
        expr = sympy.expand(expr, power_exp=False, log=False, multinomial=False, power_base=False)
    except Exception:  # noqa: BLE001 (sympy may fail on exotic expressions; then test them whole)
        pass
    for term in sympy.Add.make_args(expr):
        syms = [s for s in states.values() if term.has(s)]
        if not syms:
            continue
        linear = True
        for a in syms:
            for b in syms:
                if sympy.diff(term, a, b) != 0:
                    linear = False
                    break
            if not linear:
                break
        if not linear:
            out.append(str(term))
    return out


def _evaluate_quantity(expr: str, group, namespace: dict):
    """Value of a unit expression (e.g. a refractory period '5*ms' or 'tau_ref') per neuron."""
    from brian2 import Quantity
    from brian2.core.variables import ArrayVariable, Constant
    from brian2.utils.stringtools import get_identifiers

    values: dict[str, Any] = {}
    for name, obj in group.resolve_all(sorted(get_identifiers(expr)), run_namespace=namespace).items():
        if isinstance(obj, Constant):
            values[name] = _quantity(obj.get_value(), obj.dim)
        elif isinstance(obj, ArrayVariable):
            values[name] = Quantity(np.asarray(obj.get_value(), dtype=float), dim=obj.dim)
        else:
            raise _Unrecognised(f"'{expr}' uses {name} ({type(obj).__name__})")
    return eval(compile(expr, "<expr>", "eval"), {"__builtins__": {}}, values)  # noqa: S307


def _analyse(group, namespace: dict, dt: float, syn_targets: list[str]) -> tuple[dict, np.ndarray | None]:
    import dataclasses

    import sympy
    from brian2 import Quantity, second
    from brian2.core.functions import Function
    from brian2.core.variables import ArrayVariable, Constant
    from brian2.parsing.sympytools import str_to_sympy
    from brian2.units.fundamentalunits import DIMENSIONLESS, have_same_dimensions
    from brian2.utils.stringtools import get_identifiers

    from biolstm.loihi.forms import FormError, form_from_discrete
    from biolstm.neurons import NeuronModel

    kind = type(group).__name__
    if kind != "NeuronGroup":
        raise _Unrecognised(f"a {kind} (multi-compartment morphology) has no Loihi mapping in biolstm; its "
                            f"{len(group)} compartments are counted as one-compartment neurons")
    eqs = group.user_equations
    custom = {k: v for k, v in group.events.items() if k != "spike"}
    if custom:
        raise _Unrecognised("custom event(s) " + ", ".join(f"'{k}' ({_short(v, 40)!r})" for k, v in custom.items())
                            + "; a Loihi compartment emits only spikes")
    regular = [o.name for o in group.contained_objects if type(o).__name__ == "CodeRunner"
               and "run_regularly" in o.name]
    if regular:
        raise _Unrecognised(f"run_regularly code ({', '.join(regular)}) changes the state outside the equations; "
                            f"Loihi has no equivalent")
    if eqs.stochastic_variables:
        raise _Unrecognised(f"stochastic term(s) {sorted(eqs.stochastic_variables)}; Loihi 1 noise is not modelled")
    threshold = group.events.get("spike")
    reset = group.event_codes.get("spike") if hasattr(group, "event_codes") else None
    if reset:  # 'x -= e' as 'x += -(e)', the form NeuronModel reads
        reset = "\n".join(f"{st.split('-=')[0].strip()} += -({st.split('-=', 1)[1].strip()})" if "-=" in st else st
                          for st in (x.split("#")[0].strip() for x in reset.replace(";", "\n").splitlines()) if st)
    notes = []
    if threshold and ">=" in threshold:
        threshold = threshold.replace(">=", ">")
        notes.append("threshold '>=' read as '>' (Loihi fires when v > vth; they differ only at equality)")
    if threshold and ("<" in threshold or " and " in threshold or " or " in threshold or threshold.count(">") != 1):
        raise _Unrecognised(f"threshold condition '{threshold}' is not of the form 'v > expression'")
    diff = list(eqs.diff_eq_names)
    if not diff:
        raise _Unrecognised("no differential equation")
    substituted = dict(eqs.get_substituted_expressions(group.variables))
    exprs = {v: str(substituted[v]) for v in diff}
    # reset: only assignments and increments of differential-equation variables
    for stmt in (reset or "").replace("\n", ";").split(";"):
        stmt = stmt.split("#")[0].strip()
        if not stmt:
            continue
        lhs = stmt.split("+=")[0].split("-=")[0].split("=")[0].strip()
        if lhs not in diff:
            raise _Unrecognised(f"reset statement '{stmt}' changes {lhs}, which is not a variable with a "
                                f"differential equation; Loihi resets only the membrane (and steps the AHP "
                                f"or threshold adaptation)")
        rhs = stmt.split("=", 1)[1]
        if set(get_identifiers(rhs)) & set(diff):
            raise _Unrecognised(f"reset statement '{stmt}' depends on the state; Loihi sets the membrane to a "
                                f"fixed value and steps adaptation by fixed amounts")
    idents = set()
    for text in list(exprs.values()) + [threshold or "", reset or ""]:
        idents |= get_identifiers(text)
    idents -= set(diff)
    if "t" in idents:
        raise _Unrecognised("the equations depend on time t explicitly")
    idents -= {"dt", "i", "N", "True", "False"}
    try:
        resolved = group.resolve_all(sorted(idents), run_namespace=namespace)
    except Exception as err:  # KeyError from brian2 for unknown names
        raise _Unrecognised(f"could not resolve identifiers: {err}") from None
    constants: dict[str, Quantity] = {}
    varying: dict[str, np.ndarray] = {}
    for name, obj in resolved.items():
        if isinstance(obj, Function):
            if name in ("rand", "randn", "poisson"):
                raise _Unrecognised(f"the equations call {name}() (random input); Loihi 1 noise is not modelled")
            if getattr(obj, "sympy_func", None) is None:
                raise _Unrecognised(f"the equations call the user function {name}(); only linear equations map "
                                    f"onto Loihi compartments")
            continue  # a math function: the linearity test below decides
        if isinstance(obj, Constant):
            constants[name] = _quantity(float(obj.get_value()), obj.dim)
        elif isinstance(obj, ArrayVariable):
            values = np.asarray(obj.get_value(), dtype=float).ravel()
            if values.size > 1 and np.ptp(values) != 0:
                varying[name] = values
            constants[name] = _quantity(float(values[0]) if values.size else 0.0, obj.dim)
        else:
            raise _Unrecognised(f"identifier {name} ({type(obj).__name__}) is not a constant")
    for name in varying:
        if name in get_identifiers(threshold or "") or name in get_identifiers(reset or ""):
            raise _Unrecognised(
                f"parameter {name} differs across neurons ({len(np.unique(varying[name]))} values) and sets the "
                f"threshold or reset; Loihi has 8 threshold profiles per core: split the group by value")
    # membrane: the variable the reset sets (Loihi resets the membrane), else the threshold's
    membrane = None
    for stmt in (reset or "").replace("\n", ";").split(";"):
        if "=" in stmt and "+=" not in stmt and "-=" not in stmt:
            lhs = stmt.split("=")[0].strip()
            if lhs in diff and lhs in get_identifiers(threshold or ""):
                membrane = lhs
                break
    if membrane is None and not threshold and len(set(syn_targets) & set(diff)) == 1:
        membrane = next(iter(set(syn_targets) & set(diff)))  # a readout: the variable synapses add to
    if membrane is None:
        in_thr = [v for v in diff if v in get_identifiers(threshold or "")]
        if threshold and not in_thr:
            raise _Unrecognised(f"threshold '{threshold}' uses no state variable")
        membrane = in_thr[0] if in_thr else diff[0]
    # linearity in the state variables, term by term
    symbols = {v: sympy.Symbol(v, real=True) for v in diff}
    for v, text in sorted(exprs.items(), key=lambda item: item[0] != membrane):  # the membrane first
        expr = str_to_sympy(text)
        expr = expr.subs({s: sympy.Symbol(s.name, real=True) for s in expr.free_symbols})
        bad = _nonlinear_terms(expr, symbols)
        if bad:
            raise _Unrecognised(
                f"the equation for {v} has the term(s) {', '.join(repr(_short(b, 60)) for b in bad[:3])}, not "
                f"linear in the state variables (quadratic, exponential or conductance-based); a Loihi compartment "
                f"is linear")
    # refractoriness
    refractory = group._refractory
    t_ref = 0 * second
    if isinstance(refractory, str):
        try:
            value = _evaluate_quantity(refractory, group, namespace)
        except Exception:
            value = None
        if not isinstance(value, Quantity) or not have_same_dimensions(value, second):
            raise _Unrecognised(f"refractoriness given as a condition ('{refractory}'); Loihi needs a fixed period")
        arr = np.asarray(value, dtype=float).ravel()
        if arr.size > 1 and np.ptp(arr) != 0:
            raise _Unrecognised(f"refractory period '{refractory}' differs across neurons ({len(np.unique(arr))} "
                                f"values); a Loihi compartment profile has one: split the group by value")
        t_ref = float(arr[0]) * second
    elif isinstance(refractory, Quantity):
        t_ref = refractory
    has_unless = any("unless refractory" in eqs[v].flags for v in diff)
    if float(t_ref) > 0 and not has_unless:
        notes.append(f"refractory period without '(unless refractory)': Brian2 keeps integrating {membrane} "
                     f"while refractory, Loihi holds it at the reset value")
    # build the model with the one derivation biolstm uses (NeuronModel.discrete)
    unit_of = {v: (repr(eqs[v].dim) if eqs[v].dim is not DIMENSIONLESS else "1") for v in diff}
    flags = {v: (f" ({', '.join(eqs[v].flags)})" if eqs[v].flags else "") for v in diff}
    eq_text = "\n".join(f"d{v}/dt = {exprs[v]} : {unit_of[v]}{flags[v]}" for v in diff)

    def derive(values: dict[str, Quantity]):
        fields = dict(values)
        fields["t_ref"] = t_ref
        fields.setdefault("v_rest", _quantity(0.0, eqs[membrane].dim))  # NeuronModel's initial value
        params_type = dataclasses.make_dataclass(
            "IntrospectedParams",
            [(k, Any, dataclasses.field(default_factory=lambda val=val: val)) for k, val in fields.items()],
            frozen=True)
        model = NeuronModel(name=f"brian2:{group.name}", description=group.name, params_type=params_type,
                            equations=eq_text, threshold=threshold, reset=reset or None, membrane=membrane)
        try:
            return model.discrete(params_type(), dt * second)
        except Exception as err:
            raise _Unrecognised(f"could not derive the one-step form: {err}") from None

    disc = derive(constants)
    bias_per_neuron = None
    if varying:
        bias_per_neuron = _per_neuron_bias(disc, derive, constants, varying, membrane)
    currents = [t for t in syn_targets if t != membrane]
    if currents and membrane in syn_targets:
        raise _Unrecognised(f"synapses add both to the membrane {membrane} and to {currents}; a Loihi compartment "
                            f"takes input through one current u")
    try:
        form = form_from_discrete(group.name, int(len(group)), disc,
                                  source_model=f"brian2:{_kind(disc, syn_targets, membrane)}",
                                  membrane=membrane, synaptic_current=currents or None)
    except FormError as err:
        raise _Unrecognised(str(err).replace(f"population '{group.name}': ", "")) from None
    if bias_per_neuron is not None:
        # the per-neuron offset of the membrane becomes each compartment's bias
        bias_per_neuron = bias_per_neuron + (form.alpha_v - 1.0) * form.v_offset
        form.bias = float(bias_per_neuron[int(np.argmax(np.abs(bias_per_neuron)))])
        notes.append(f"{', '.join(sorted(varying))} differ(s) across neurons and drive(s) {membrane}: a bias per "
                     f"compartment")
    for k, var in enumerate(disc.state_names):  # an adaptive threshold's start value (Loihi: its rest value)
        T, off = disc.transition, disc.offset
        if var != membrane and abs(off[k]) > 0 and 0 < T[k, k] < 1 and any(var in n for n in form.notes):
            rest = float(off[k]) / (1.0 - float(T[k, k]))
            start = np.asarray(group.variables[var].get_value(), dtype=float)
            if start.size and np.any(np.abs(start - rest) > 1e-9 * max(abs(rest), 1e-30)):
                notes.append(f"{var} starts at {float(start[0]):.6g}" + (" (differs across neurons)" if np.ptp(start)
                             else "") + f", not at its rest value {rest:.6g}; Loihi starts the adaptation at 0")
    v0 = np.asarray(group.variables[membrane].get_value(), dtype=float)
    if v0.size and np.ptp(v0) != 0:
        notes.append(f"initial {membrane} differs across neurons; Loihi mapping starts every neuron at the reset value")
        form.v_init = 0.0
    elif v0.size:
        form.v_init = float(v0[0]) - form.v_offset
    out = dataclasses.asdict(form)
    out["notes"] = [n for n in form.notes if not n.startswith("every sample starts")] + notes
    out["input_gains"] = dict(form.input_gains)
    out["membrane"] = membrane
    out["alpha_v"] = form.alpha_v
    return out, bias_per_neuron


def _per_neuron_bias(disc, derive, constants: dict, varying: dict[str, np.ndarray], membrane: str) -> np.ndarray:
    """Per-neuron membrane offset when per-neuron parameters only add a constant drive.

    Each varying parameter ``p`` is moved to two other values; the step's transition,
    threshold and reset must stay the same, only the membrane's offset may change, and
    linearly (checked at a third value). Then ``offset_v[n] = offset_v(ref) +
    sum_p slope_p * (p[n] - p_ref)``.
    """
    iv = disc.state_names.index(membrane)
    n = len(next(iter(varying.values())))
    out = np.full(n, float(disc.offset[iv]))
    for name, values in varying.items():
        ref = float(constants[name])
        lo, hi = float(values.min()), float(values.max())
        probe = hi if hi != ref else lo
        mid = 0.5 * (ref + probe)
        dim = constants[name].dim
        a = derive({**constants, name: _quantity(probe, dim)})
        b = derive({**constants, name: _quantity(mid, dim)})
        for other in (a, b):
            same = (np.allclose(other.transition, disc.transition, rtol=1e-12, atol=0)
                    and np.allclose(other.threshold_coeffs, disc.threshold_coeffs)
                    and other.threshold_const == disc.threshold_const
                    and other.reset_set == disc.reset_set and other.reset_add == disc.reset_add)
            if not same:
                raise _Unrecognised(
                    f"parameter {name} differs across neurons ({len(np.unique(values))} values) and changes the "
                    f"decay or the threshold; a Loihi compartment profile holds one decay: split the group by value")
            off_others = np.delete(other.offset - disc.offset, iv)
            if np.any(np.abs(off_others) > 1e-12 * max(1.0, float(np.abs(disc.offset).max()))):
                raise _Unrecognised(
                    f"parameter {name} differs across neurons and drives a variable other than {membrane}; only "
                    f"the membrane has a per-compartment bias")
        slope = (a.offset[iv] - disc.offset[iv]) / (probe - ref)
        if not np.isclose(b.offset[iv] - disc.offset[iv], slope * (mid - ref), rtol=1e-9, atol=1e-300):
            raise _Unrecognised(f"parameter {name} differs across neurons and enters {membrane} nonlinearly")
        out = out + slope * (values - ref)
    return out


def _kind(disc, syn_targets, membrane) -> str:
    names = set(disc.state_names)
    if len(names) == 1:
        return "lif" if disc.spiking else "li"
    if any(t != membrane for t in syn_targets):
        return "lif+current"
    return "adaptive"


def _synapse_entry(syn, namespace: dict, weight_var: str | None, dt: float,
                   known: set[str]) -> tuple[dict, dict]:
    """One Synapses object: indices on the root groups, delays, weights, and what cannot be mapped."""
    from brian2.utils.stringtools import get_identifiers

    source, s0 = _root(syn.source)
    target, t0 = _root(syn.target)
    label = f"synapses '{syn.name}'"
    entry: dict[str, Any] = {"name": syn.name, "label": label, "pre": source.name, "post": target.name,
                             "n_pre": int(len(source)), "n_post": int(len(target)), "unrecognised": [],
                             "notes": []}
    bad = entry["unrecognised"]
    if target.name not in known or source.name not in known:
        which = target if target.name not in known else source
        bad.append(("connects", type(which).__name__, f"connects {type(which).__name__} '{which.name}', which is "
                    f"not a neuron or input group; not mapped"))
        return entry, {}
    pre_paths = [p for p in syn._pathways if p.prepost == "pre"]
    post_paths = [p for p in syn._pathways if p.prepost == "post"]
    if post_paths:
        bad.append(("on_post pathway", _short(post_paths[0].code, 60),
                    "on_post code (plasticity or a postsynaptic update); biolstm maps static synapses"))
    syn_diff = list(syn.equations.diff_eq_names) if hasattr(syn, "equations") else []
    if syn_diff:
        bad.append(("synaptic equations", ", ".join(f"d{v}/dt" for v in syn_diff),
                    f"per-synapse differential equations ({', '.join(syn_diff)}: plasticity traces or synaptic "
                    f"dynamics); biolstm maps static synapses"))
    if getattr(syn, "summed_updaters", None):
        names = sorted(syn.summed_updaters)
        bad.append(("summed variable", ", ".join(names),
                    f"summed variable(s) {names} couple neurons continuously (gap junctions or per-synapse "
                    f"currents); Loihi synapses deliver spikes only"))
    for p in pre_paths:
        if p.event != "spike":
            bad.append(("pathway event", p.event, f"the on_pre pathway '{p.name}' runs on the custom event "
                        f"'{p.event}'; Loihi synapses carry spikes only"))
    # connections (absolute indices on the root groups), whatever the pathways say
    i = np.asarray(syn.variables["_synaptic_pre"].get_value(), dtype=np.int64)
    j = np.asarray(syn.variables["_synaptic_post"].get_value(), dtype=np.int64)
    n = len(i)
    spike_paths = [p for p in pre_paths if p.event == "spike"]
    if spike_paths:
        d = np.asarray(spike_paths[0].variables["delay"].get_value(), dtype=float).ravel()
        d = np.broadcast_to(d[0] if d.size == 1 else (d[:n] if d.size >= n else 0.0), (n,))
    else:
        d = np.zeros(n)
    steps = np.rint(d / dt).astype(np.int64)
    w = np.ones(n)
    if len(spike_paths) != 1:
        if len(spike_paths) > 1:
            bad.append(("on_pre pathways", str(len(spike_paths)), f"{len(spike_paths)} on_pre pathways; biolstm "
                        f"maps one"))
        entry["placeholder_weights"] = True
        return entry, _pack(i, j, w, steps)
    code = spike_paths[0].code
    entry["code"] = code
    target_vars = set(syn.target.variables.keys())
    stmts = []
    for line in code.replace(";", "\n").splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        op = "+=" if "+=" in line else ("-=" if "-=" in line else None)
        if op:
            lhs, rhs = (x.strip() for x in line.split(op, 1))
            var = lhs[:-5] if lhs.endswith("_post") else lhs
            if lhs in syn.variables and not lhs.endswith("_post") and var not in target_vars:
                bad.append(("on_pre statement", line, f"'{line}' changes the synaptic variable {lhs} "
                            f"(plasticity or short-term dynamics); biolstm maps static weights"))
                continue
            if var in target_vars and not lhs.endswith("_pre"):
                stmts.append((var, rhs if op == "+=" else f"-({rhs})", line))
                continue
        lhs = line.split("=")[0].strip() if "=" in line else line
        if lhs in syn.variables and not lhs.endswith(("_post", "_pre")):
            bad.append(("on_pre statement", line, f"'{line}' sets the synaptic variable {lhs} (plasticity); "
                        f"biolstm maps static weights"))
        else:
            bad.append(("on_pre statement", line, f"'{line}' is not an increment of a postsynaptic variable"))
    if weight_var:
        if weight_var not in syn.variables or weight_var in syn.target.variables and weight_var + "_post" not in syn.variables:
            names = sorted(k for k in syn.variables if not k.startswith("_") and k not in ("i", "j", "N"))
            bad.append(("--weight-var", weight_var, f"has no synaptic variable '{weight_var}' (--weight-var); its "
                        f"variables are {names}"))
        else:
            chosen = [s for s in stmts if weight_var in get_identifiers(s[1])]
            if chosen:
                stmts = chosen
    if len(stmts) != 1:
        if len(stmts) > 1:
            bad.append(("on_pre statement", _short(code, 60), f"on_pre '{_short(code, 60)}' has {len(stmts)} "
                        f"increments of postsynaptic variables; biolstm maps one (use --weight-var to choose)"))
        else:
            bad.append(("on_pre statement", _short(code, 60), "on_pre changes no postsynaptic variable"))
        entry["placeholder_weights"] = True
        return entry, _pack(i, j, w, steps)
    var, rhs, _ = stmts[0]
    entry["target_var"] = var
    try:
        w = _evaluate(rhs, syn, namespace, n)
    except _Unrecognised as err:
        bad.append(("weight", _short(rhs, 60), str(err)))
        entry["placeholder_weights"] = True
        return entry, _pack(i, j, np.ones(n), steps)
    zero = w == 0
    if zero.any():
        entry["notes"].append(f"{int(zero.sum())} synapses with weight 0 dropped")
        i, j, w, steps = i[~zero], j[~zero], w[~zero], steps[~zero]
    return entry, _pack(i, j, w, steps)


def _pack(i, j, w, steps) -> dict[str, np.ndarray]:
    """Sort by (pre, post) and store as plain numeric arrays."""
    order = np.lexsort((j, i))
    return {"i": np.asarray(i[order], dtype=np.int64), "j": np.asarray(j[order], dtype=np.int64),
            "w": np.asarray(w, dtype=np.float64)[order], "d": np.asarray(steps[order], dtype=np.int64)}


def _poisson_input_entry(pi, namespace: dict) -> tuple[dict, dict]:
    """A PoissonInput as N independent input channels per target neuron, one synapse each."""
    from brian2 import Quantity
    from brian2.core.variables import ArrayVariable, Constant
    from brian2.utils.stringtools import get_identifiers

    target, t0 = _root(pi.group)
    n_t, N = int(len(pi.group)), int(pi.N)
    label = f"PoissonInput '{pi.name}'"
    entry: dict[str, Any] = {"name": pi.name, "label": label, "pre": pi.name, "post": target.name,
                             "n_pre": N * n_t, "n_post": int(len(target)), "unrecognised": [], "target_var": pi.target_var,
                             "notes": [f"{label}: {N} independent Poisson sources per target neuron at "
                                       f"{float(pi.rate):g} Hz, as {N} x {n_t} = {N * n_t} input channels with one "
                                       f"synapse each (Loihi 1 has no on-chip Poisson source)"]}
    weight = pi.weight
    if isinstance(weight, str):
        try:
            values: dict[str, Any] = {}
            for name, obj in pi.group.resolve_all(sorted(get_identifiers(weight)), run_namespace=namespace).items():
                if isinstance(obj, Constant):
                    values[name] = float(obj.get_value())
                elif isinstance(obj, ArrayVariable) and not obj.name.startswith("_"):
                    values[name] = np.asarray(obj.get_value(), dtype=float)
                else:
                    raise _Unrecognised(f"cannot evaluate {name}")
            w_t = np.broadcast_to(np.asarray(eval(compile(weight, "<weight>", "eval"),  # noqa: S307
                                                  {"__builtins__": {}}, values), dtype=float), (n_t,))
        except Exception as err:
            entry["unrecognised"].append(("weight", _short(weight, 60), f"cannot evaluate the weight '{weight}': "
                                          f"{err}"))
            entry["placeholder_weights"] = True
            w_t = np.ones(n_t)
    else:
        w_t = np.full(n_t, float(weight) if isinstance(weight, Quantity) else float(weight))
    k = np.arange(N * n_t, dtype=np.int64)
    post = t0 + k // N
    return entry, {"i": k, "j": post, "w": np.asarray(w_t, dtype=np.float64)[k // N],
                   "d": np.zeros(N * n_t, dtype=np.int64)}


def _evaluate(expr: str, syn, namespace: dict, n: int) -> np.ndarray:
    from brian2.core.functions import Function
    from brian2.core.variables import ArrayVariable, Constant
    from brian2.utils.stringtools import get_identifiers

    idents = get_identifiers(expr)
    values: dict[str, Any] = {}
    try:
        resolved = syn.resolve_all(sorted(idents), run_namespace=namespace)
    except Exception as err:
        raise _Unrecognised(f"cannot resolve the weight expression '{expr}': {err}") from None
    for name, obj in resolved.items():
        if isinstance(obj, Function):
            raise _Unrecognised(f"weight expression '{expr}' calls {name}(); use a synaptic variable")
        if isinstance(obj, Constant):
            values[name] = float(obj.get_value())
        elif isinstance(obj, ArrayVariable):
            if name.endswith(("_pre", "_post")) or getattr(obj.owner, "name", None) != syn.name:
                raise _Unrecognised(f"weight expression '{expr}' depends on the neuron variable {name}")
            values[name] = np.asarray(obj.get_value(), dtype=float)[:n]
        else:
            raise _Unrecognised(f"weight expression '{expr}': cannot evaluate {name}")
    try:
        out = eval(compile(expr, "<weight>", "eval"), {"__builtins__": {}}, values)  # noqa: S307
    except Exception as err:
        raise _Unrecognised(f"cannot evaluate the weight expression '{expr}': {err}") from None
    return np.broadcast_to(np.asarray(out, dtype=float), (n,)).copy()


def _write(out: str, header: dict, arrays: dict) -> int:
    """Write the description: plain numeric arrays and a JSON header (never a pickle)."""
    plain = {}
    for key, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise TypeError(f"internal: array {key} has dtype {value.dtype}")
        plain[key] = value
    plain["__header__"] = np.frombuffer(json.dumps(header, default=_json_default).encode("utf-8"), dtype=np.uint8)
    with open(out, "wb") as fh:
        np.savez(fh, **plain)
    return 0


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="biolstm check worker: read a Brian2 script's network")
    p.add_argument("script")
    p.add_argument("out")
    p.add_argument("--weight-var")
    p.add_argument("--dt", type=float)
    p.add_argument("--time-limit", type=float, default=TIMEOUT_S)
    a = p.parse_args(argv)
    return _worker(a.script, a.out, a.weight_var, a.dt, a.time_limit)


if __name__ == "__main__":
    sys.exit(main())
