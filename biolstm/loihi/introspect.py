"""Read a plain Brian2 script's network for ``biolstm check`` (without running it).

:func:`check_brian_file` runs the script in a **separate Python process** (its own
working directory, a wall-clock timeout and a memory limit; matplotlib without a
display) with Brian2 in runtime mode and ``numpy`` code generation. The first call to
``run()`` (``brian2.run`` or ``Network.run``) is intercepted and stops the script, so
nothing is simulated; ``set_device`` is ignored. The objects the script built by then
are collected (from the ``Network`` that was run, or from the calling frame like
Brian2's magic ``run()``, or from the script's namespace if it never calls ``run``):

* ``NeuronGroup`` -> a population: its equations are analysed with
  :meth:`biolstm.neurons.NeuronModel.discrete` (the same exact one-step derivation the
  spec path uses) and read as a Loihi compartment (:mod:`.forms`): LIF forms (with or
  without a resting potential off the reset value), one exponentially decaying synaptic
  current (Loihi's ``u``; several with identical dynamics are merged), an AHP current,
  an adaptive threshold (mapped as ALIF). Anything else -- conductance-based synapses,
  nonlinear terms, noise, heterogeneous parameters, several currents with different time
  constants -- is reported as *unrecognised* with the reason, never guessed.
* ``SpikeGeneratorGroup`` and ``PoissonGroup`` -> input groups (host-injected spikes).
* ``Synapses`` -> projections: ``i``, ``j``, delays, and the weight of each synapse
  evaluated from its ``on_pre`` statement ``x_post += <expr>`` (``--weight-var`` names
  the synaptic variable to use when there are several). Plasticity code is ignored
  (weights as initialised), and noted.

Timing: Brian2's default schedule updates variables in ``synapses`` *after*
``thresholds``. A spike's increment of a synaptic current therefore reaches the
membrane in the next step's update exactly like on Loihi; an increment of the membrane
itself decays once before the target's next threshold test, so its Loihi weight is
``w * exp(-dt/tau_m)`` (applied, and noted).

This is not a security sandbox: only check scripts you would run yourself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["IntrospectionError", "read_brian_file", "check_brian_file"]

TIMEOUT_S = 300
MEMORY_LIMIT_BYTES = 8 * 1024**3


class IntrospectionError(ValueError):
    """The script could not be read (it failed, timed out, or built no network)."""


# ======================================================================================
# parent side
# ======================================================================================


def read_brian_file(path: str | os.PathLike, *, weight_var: str | None = None, dt: float | None = None,
                    timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """Run the worker on ``path`` and return its description (header dict + arrays).

    Raises
    ------
    IntrospectionError
        With the script's error message, a timeout, or "no NeuronGroup found".
    """
    path = Path(path).resolve()
    if not path.exists():
        raise IntrospectionError(f"{path} does not exist")
    if path.suffix != ".py":
        raise IntrospectionError(f"{path} is not a Python file (.py)")
    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory(prefix="biolstm_check_") as tmp:
        out = Path(tmp) / "network.npz"
        cmd = [sys.executable, "-m", "biolstm.loihi.introspect", str(path), str(out)]
        if weight_var:
            cmd += ["--weight-var", weight_var]
        if dt is not None:
            cmd += ["--dt", repr(float(dt))]
        env = dict(os.environ)
        env["MPLBACKEND"] = "Agg"
        env["PYTHONPATH"] = os.pathsep.join([str(repo)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        workdir = Path(tmp) / "cwd"
        workdir.mkdir()
        try:
            proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
                                  preexec_fn=_limit_memory if os.name == "posix" else None)
        except subprocess.TimeoutExpired:
            raise IntrospectionError(
                f"{path.name}: building the network took longer than {timeout:.0f} s (nothing is simulated; "
                f"the script itself is slow before its first run())") from None
        if proc.returncode != 0 or not out.exists():
            err = (proc.stderr or proc.stdout).strip().splitlines()
            tail = "\n".join(err[-12:]) if err else f"exit status {proc.returncode}"
            raise IntrospectionError(f"{path.name}: the script failed before its first run():\n{tail}")
        with np.load(out, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays.pop("__header__").tobytes().decode("utf-8"))
    if header.get("error"):
        raise IntrospectionError(f"{path.name}: {header['error']}")
    header["arrays"] = arrays
    return header


def _limit_memory() -> None:  # runs in the child before exec
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ImportError, ValueError, OSError):
        pass


def check_brian_file(path: str | os.PathLike, chip="loihi1", *, weight_var: str | None = None,
                     dt: float | None = None, timeout: float = TIMEOUT_S, settings: Any = None, **kwargs: Any):
    """``biolstm check`` on a Brian2 script: read it, quantize, place, report.

    Returns a :class:`~.check.CheckReport` whose violations include one
    ``"unrecognised"`` entry per group, synapse set or object that could not be
    translated (their compartments and synapses are still placed).
    """
    import time

    from biolstm.loihi.check import check_quantized
    from biolstm.loihi.chips import load_chip
    from biolstm.loihi.forms import NeuronForm, placeholder_form
    from biolstm.loihi.quantize import RawProjection, quantize_forms
    from biolstm.loihi.settings import make_settings
    from biolstm.loihi.violations import Violation

    t0 = time.perf_counter()
    desc = read_brian_file(path, weight_var=weight_var, dt=dt, timeout=timeout)
    t_read = time.perf_counter() - t0
    chip = load_chip(chip)
    cfg = make_settings(settings, **kwargs)
    arrays = desc["arrays"]
    step = float(desc["dt"])
    violations: list[Violation] = []
    forms: list[NeuronForm] = []
    gains: dict[tuple[str, str], float] = {}
    for g in desc["groups"]:
        for kind, obj, reason in g.get("unrecognised", []):
            violations.append(Violation(obj, kind, "not translated", "a Loihi form", reason, severity="unrecognised"))
        if g["form"] is None:
            forms.append(placeholder_form(g["name"], g["size"], step, g["reason"]))
            continue
        f = dict(g["form"])
        gains.update({(g["name"], var): gain for var, gain in f.pop("input_gains").items()})
        forms.append(NeuronForm(**f))
    for obj, reason in desc.get("unrecognised_objects", []):
        violations.append(Violation(obj, "object type", "not translated", "NeuronGroup, Synapses, "
                                    "SpikeGeneratorGroup, PoissonGroup", reason, severity="unrecognised"))
    form_of = {f.name: f for f in forms}
    raws = []
    for k, p in enumerate(desc["projections"]):
        if p.get("reason"):
            violations.append(Violation(f"synapses '{p['name']}'", "on_pre statement", p.get("code", ""),
                                        "x_post += <weight expression>", p["reason"], severity="unrecognised"))
            if "i" not in p:
                continue
        w = arrays[f"p{k}_w"].astype(np.float64)
        target = form_of[p["post"]]
        var = p.get("target_var")
        if target.source_model != "unrecognised" and var is not None:
            gain = gains.get((p["post"], var))
            if gain is None:
                violations.append(Violation(
                    f"synapses '{p['name']}'", "target variable", var, "the membrane or a synaptic current",
                    f"'{var}' of '{p['post']}' is not a variable Loihi can add synaptic input to",
                    severity="unrecognised"))
                continue
            w = w * (gain / target.input_gain)
        raws.append(RawProjection(
            name=p["name"], pre=p["pre"], post=p["post"], n_pre=p["n_pre"], n_post=p["n_post"],
            pre_index=arrays[f"p{k}_i"].astype(np.int32), post_index=arrays[f"p{k}_j"].astype(np.int32),
            weight=w, delay_steps=arrays[f"p{k}_d"].astype(np.int16), pre_is_input=p["pre"] in desc["inputs"]))
    qnet = quantize_forms(forms, raws, desc["inputs"], chip, cfg, step, strict=False)
    qnet.violations = violations + qnet.violations
    notes = list(desc.get("notes", []))
    report = check_quantized(qnet, chip, source=str(path), settings=cfg, notes=notes,
                             timings={"read_s": t_read})
    return report


# ======================================================================================
# worker side (runs in the child process)
# ======================================================================================


class _StopAtRun(Exception):
    """Raised from the patched run() to stop the script before it simulates."""


def _worker(script: str, out: str, weight_var: str | None, dt_override: float | None) -> int:
    import brian2
    from brian2 import Network, NeuronGroup, PoissonGroup, SpikeGeneratorGroup, Synapses, prefs
    from brian2.core.base import BrianObject

    prefs.codegen.target = "numpy"
    captured: dict[str, Any] = {"objects": None, "namespace": None, "stopped": False, "device": None}

    def fake_run(*args, **kwargs):
        frame = sys._getframe(1)
        namespace = dict(frame.f_globals)
        namespace.update(frame.f_locals)
        captured.update(objects=_collect(namespace, BrianObject, Network), namespace=namespace, stopped=True)
        raise _StopAtRun()

    def fake_network_run(self, *args, **kwargs):
        frame = sys._getframe(1)
        namespace = dict(frame.f_globals)
        namespace.update(frame.f_locals)
        captured.update(objects=list(self.objects), namespace=kwargs.get("namespace") or namespace, stopped=True,
                        schedule=list(self.schedule))
        raise _StopAtRun()

    def fake_set_device(device, *args, **kwargs):
        captured["device"] = str(device)

    brian2.run = fake_run
    brian2.core.magic.run = fake_run
    Network.run = fake_network_run
    brian2.set_device = fake_set_device
    brian2.devices.device.set_device = fake_set_device
    script_path = Path(script)
    sys.path.insert(0, str(script_path.parent))
    sys.argv = [str(script_path)]
    globs: dict[str, Any] = {"__name__": "__main__", "__file__": str(script_path), "__builtins__": __builtins__}
    header: dict[str, Any] = {"notes": []}
    try:
        code = compile(script_path.read_text(), str(script_path), "exec")
        exec(code, globs)
    except _StopAtRun:
        pass
    except SystemExit:
        pass
    except BaseException as err:  # the script's own error, before run()
        if captured["objects"] is None:
            import traceback

            tb = traceback.format_exc().strip().splitlines()
            header["error"] = "the script raised " + type(err).__name__ + ": " + str(err) + "\n" + "\n".join(tb[-6:])
            return _write(out, header, {})
    try:
        return _describe(captured, globs, header, out, weight_var, dt_override)
    except Exception as err:  # a bug of ours, not of the script: say so
        import traceback

        tb = traceback.format_exc().strip().splitlines()
        header["error"] = (f"biolstm could not read the network ({type(err).__name__}: {err}); please report "
                           f"this with the script\n" + "\n".join(tb[-6:]))
        return _write(out, header, {})


def _describe(captured: dict, globs: dict, header: dict, out: str, weight_var, dt_override) -> int:
    from brian2 import Network, NeuronGroup, PoissonGroup, SpikeGeneratorGroup, Synapses, prefs
    from brian2.core.base import BrianObject

    if captured["objects"] is None:
        captured["objects"] = _collect(globs, BrianObject, Network)
        captured["namespace"] = globs
        header["notes"].append("the script never calls run(); objects taken from its namespace")
    if captured.get("device") and captured["device"] not in ("runtime",):
        header["notes"].append(f"set_device({captured['device']!r}) ignored: read in runtime mode")
    objects = captured["objects"]
    namespace = captured["namespace"]
    groups = [o for o in objects if isinstance(o, NeuronGroup)]
    inputs = [o for o in objects if isinstance(o, (SpikeGeneratorGroup, PoissonGroup))]
    synapses = [o for o in objects if isinstance(o, Synapses)]
    if not groups:
        header["error"] = ("no NeuronGroup found (looked at the Network passed to run(), else the variables of "
                           "the script); build the network at module level or in the function that calls run()")
        return _write(out, header, {})
    known = set(groups) | set(inputs) | set(synapses)
    header["unrecognised_objects"] = [
        (f"{type(o).__name__} '{o.name}'", _other_reason(o)) for o in objects
        if o not in known and _is_model_object(o)]
    dts = {float(g.clock.dt) for g in groups + inputs + synapses}
    step = float(dt_override) if dt_override else max(dts)
    if len(dts) > 1 and not dt_override:
        header["notes"].append(f"objects use several time steps {sorted(dts)}; checked at dt = {step:g} s")
    header["dt"] = step
    header["inputs"] = {o.name: int(len(o)) for o in inputs}
    schedule = captured.get("schedule") or list(prefs.core.network.default_schedule)
    default_order = _default_order(schedule, synapses, groups)
    if not default_order:
        header["notes"].append("the network does not use Brian2's default schedule order; synaptic timing is "
                               "interpreted as if it did")
    targets: dict[str, list[str]] = {}
    arrays: dict[str, np.ndarray] = {}
    projections = []
    for k, syn in enumerate(synapses):
        entry, arr = _synapse_entry(syn, namespace, weight_var, step)
        projections.append(entry)
        for key, value in arr.items():
            arrays[f"p{k}_{key}"] = value
        if entry.get("target_var"):
            targets.setdefault(entry["post"], []).append(entry["target_var"])
    header["groups"] = []
    for g in groups:
        header["groups"].append(_group_entry(g, namespace, step, targets.get(g.name, [])))
    # direct-to-membrane synapses: one decay before the target's next threshold test
    forms = {g["name"]: g["form"] for g in header["groups"]}
    for k, entry in enumerate(projections):
        form = forms.get(entry["post"])
        if form is None or f"p{k}_w" not in arrays:
            continue
        if entry.get("target_var") == form["membrane"] and default_order:
            arrays[f"p{k}_w"] = arrays[f"p{k}_w"] * form["alpha_v"]
            header["notes"].append(
                f"synapses '{entry['name']}' add to the membrane after the threshold test (Brian2's default "
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
                        "SummedVariableUpdater", "SpikeQueue")


def _other_reason(obj) -> str:
    name = type(obj).__name__
    if name == "PoissonInput":
        return ("PoissonInput gives every target neuron its own N independent sources; on Loihi that is "
                "N x size input channels. Use a PoissonGroup and Synapses instead")
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
    for o in list(found):  # contained objects (e.g. a Synapses' pathways) are not models
        for c in getattr(o, "contained_objects", []):
            seen.add(id(c))
    return [o for o in found]


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


def _group_entry(group, namespace: dict, dt: float, syn_targets: list[str]) -> dict[str, Any]:
    """Analyse one NeuronGroup into a NeuronForm dict, or give the reason it cannot be."""
    entry: dict[str, Any] = {"name": group.name, "size": int(len(group)), "form": None, "reason": "",
                             "unrecognised": []}
    try:
        form, membrane = _analyse(group, namespace, dt, sorted(set(syn_targets)))
        entry["form"] = form
        entry["form"]["membrane"] = membrane
    except _Unrecognised as err:
        entry["reason"] = str(err)
        entry["unrecognised"].append(("neuron model", f"NeuronGroup '{group.name}'", str(err)))
    return entry


class _Unrecognised(Exception):
    pass


def _analyse(group, namespace: dict, dt: float, syn_targets: list[str]) -> tuple[dict, str]:
    import dataclasses

    import sympy
    from brian2 import Quantity, second
    from brian2.core.functions import Function
    from brian2.core.variables import ArrayVariable, Constant
    from brian2.parsing.sympytools import str_to_sympy
    from brian2.units.fundamentalunits import DIMENSIONLESS
    from brian2.utils.stringtools import get_identifiers

    from biolstm.loihi.forms import FormError, form_from_discrete
    from biolstm.neurons import NeuronModel

    eqs = group.user_equations
    if eqs.stochastic_variables:
        raise _Unrecognised(f"stochastic term(s) {sorted(eqs.stochastic_variables)}; Loihi 1 noise is not modelled")
    threshold = group.events.get("spike")
    reset = group.event_codes.get("spike") if hasattr(group, "event_codes") else None
    notes = []
    if threshold and ">=" in threshold:
        threshold = threshold.replace(">=", ">")
        notes.append("threshold '>=' read as '>' (Loihi fires when v > vth; they differ only at equality)")
    if threshold and ("<" in threshold or " and " in threshold or " or " in threshold):
        raise _Unrecognised(f"threshold condition '{threshold}' is not of the form 'v > expression'")
    diff = list(eqs.diff_eq_names)
    if not diff:
        raise _Unrecognised("no differential equation")
    substituted = dict(eqs.get_substituted_expressions(group.variables))
    exprs = {v: str(substituted[v]) for v in diff}
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
    for name, obj in resolved.items():
        if isinstance(obj, Function):
            raise _Unrecognised(f"uses the function {name}(); only linear equations map onto Loihi compartments")
        if isinstance(obj, Constant):
            constants[name] = _quantity(float(obj.get_value()), obj.dim)
        elif isinstance(obj, ArrayVariable):
            values = np.asarray(obj.get_value(), dtype=float).ravel()
            if values.size and np.ptp(values) != 0:
                raise _Unrecognised(
                    f"parameter {name} differs across neurons ({len(np.unique(values))} values); Loihi gives a "
                    f"population one profile: split the group by value")
            constants[name] = _quantity(float(values[0]) if values.size else 0.0, obj.dim)
        else:
            raise _Unrecognised(f"identifier {name} ({type(obj).__name__}) is not a constant")
    # membrane: the variable the reset sets (Loihi resets the membrane), else the threshold's
    membrane = None
    for stmt in (reset or "").replace("\n", ";").split(";"):
        if "=" in stmt and "+=" not in stmt and "-=" not in stmt:
            lhs = stmt.split("=")[0].strip()
            if lhs in diff and lhs in get_identifiers(threshold or ""):
                membrane = lhs
                break
    if membrane is None:
        in_thr = [v for v in diff if v in get_identifiers(threshold or "")]
        if threshold and not in_thr:
            raise _Unrecognised(f"threshold '{threshold}' uses no state variable")
        membrane = in_thr[0] if in_thr else diff[0]
    # linearity in the state variables
    symbols = {v: sympy.Symbol(v, real=True) for v in diff}
    for v, text in exprs.items():
        expr = str_to_sympy(text)
        expr = expr.subs({s: sympy.Symbol(s.name, real=True) for s in expr.free_symbols})
        for a in symbols.values():
            for b in symbols.values():
                if sympy.simplify(sympy.diff(expr, a, b)) != 0:
                    raise _Unrecognised(
                        f"the equation for {v} is not linear in the state variables ({text}); "
                        f"conductance-based or nonlinear neurons have no Loihi compartment form")
    # build the model with the one derivation biolstm uses (NeuronModel.discrete)
    unit_of = {v: (repr(eqs[v].dim) if eqs[v].dim is not DIMENSIONLESS else "1") for v in diff}
    flags = {v: (f" ({', '.join(eqs[v].flags)})" if eqs[v].flags else "") for v in diff}
    eq_text = "\n".join(f"d{v}/dt = {exprs[v]} : {unit_of[v]}{flags[v]}" for v in diff)
    refractory = group._refractory
    if isinstance(refractory, str):
        raise _Unrecognised(f"refractoriness given as a condition ('{refractory}'); Loihi needs a fixed period")
    t_ref = refractory if isinstance(refractory, Quantity) else 0 * second
    fields = dict(constants)
    fields["t_ref"] = t_ref
    fields.setdefault("v_rest", _quantity(0.0, eqs[membrane].dim))  # NeuronModel's initial value
    params_type = dataclasses.make_dataclass(
        "IntrospectedParams",
        [(k, Any, dataclasses.field(default_factory=lambda val=val: val)) for k, val in fields.items()], frozen=True)
    model = NeuronModel(name=f"brian2:{group.name}", description=group.name, params_type=params_type,
                        equations=eq_text, threshold=threshold, reset=reset or None, membrane=membrane)
    params = params_type()
    # initial value: the group's current membrane value if uniform (else the reset value)
    try:
        disc = model.discrete(params, dt * second)
    except Exception as err:
        raise _Unrecognised(f"could not derive the one-step form: {err}") from None
    currents = [t for t in syn_targets if t != membrane]
    if currents and membrane in syn_targets:
        raise _Unrecognised(f"synapses add both to the membrane {membrane} and to {currents}; a Loihi compartment "
                            f"takes input through one current u")
    try:
        form = form_from_discrete(group.name, int(len(group)), disc, source_model=f"brian2:{_kind(disc, syn_targets, membrane)}",
                                  membrane=membrane,
                                  synaptic_current=currents or None)
    except FormError as err:
        raise _Unrecognised(str(err).replace(f"population '{group.name}': ", "")) from None
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
    return out, membrane


def _kind(disc, syn_targets, membrane) -> str:
    names = set(disc.state_names)
    if len(names) == 1:
        return "lif" if disc.spiking else "li"
    if any(t != membrane for t in syn_targets):
        return "lif+current"
    return "adaptive"


def _synapse_entry(syn, namespace: dict, weight_var: str | None, dt: float) -> tuple[dict, dict]:
    from brian2.utils.stringtools import get_identifiers

    entry: dict[str, Any] = {"name": syn.name, "pre": syn.source.name, "post": syn.target.name,
                             "n_pre": int(len(syn.source)), "n_post": int(len(syn.target))}
    pre_paths = [p for p in syn._pathways if p.prepost == "pre"]
    post_paths = [p for p in syn._pathways if p.prepost == "post"]
    notes = []
    if post_paths:
        notes.append("on_post code (plasticity) ignored")
    if len(pre_paths) != 1:
        entry["reason"] = f"{len(pre_paths)} on_pre pathways; biolstm maps exactly one"
        return entry, {}
    code = pre_paths[0].code
    entry["code"] = code
    target_vars = set(syn.target.variables.keys())
    stmts = []
    for line in code.replace(";", "\n").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "+=" in line:
            lhs, rhs = (x.strip() for x in line.split("+=", 1))
            var = lhs[:-5] if lhs.endswith("_post") else lhs
            if var in syn.variables and not lhs.endswith("_post") and var not in target_vars:
                notes.append(f"statement '{line}' updates a synaptic variable (plasticity) and is ignored")
                continue
            if var in target_vars:
                stmts.append((var, rhs, line))
                continue
        elif "-=" in line:
            lhs, rhs = (x.strip() for x in line.split("-=", 1))
            var = lhs[:-5] if lhs.endswith("_post") else lhs
            if var in target_vars:
                stmts.append((var, f"-({rhs})", line))
                continue
        notes.append(f"statement '{line}' is not an increment of a postsynaptic variable and is ignored")
    if weight_var:
        if weight_var not in syn.variables or weight_var in syn.target.variables and weight_var + "_post" not in syn.variables:
            names = sorted(k for k in syn.variables if not k.startswith("_") and k not in ("i", "j", "N"))
            entry["reason"] = (f"has no synaptic variable '{weight_var}' (--weight-var); its variables are "
                               f"{names}")
            stmts = [s for s in stmts]
        else:
            chosen = [s for s in stmts if weight_var in get_identifiers(s[1])]
            if chosen:
                stmts = chosen
    if len(stmts) != 1:
        entry.setdefault("reason", f"on_pre '{code}' has {len(stmts)} increments of postsynaptic variables; biolstm "
                                   f"maps one (use --weight-var to choose)")
        return entry, {}
    var, rhs, _ = stmts[0]
    entry["target_var"] = var
    i = np.asarray(syn.i[:], dtype=np.int64)
    j = np.asarray(syn.j[:], dtype=np.int64)
    try:
        w = _evaluate(rhs, syn, namespace, len(i))
    except _Unrecognised as err:
        entry["reason"] = str(err)
        return entry, {}
    dvar = pre_paths[0].variables["delay"]
    d = np.asarray(dvar.get_value(), dtype=float)
    d = np.broadcast_to(d.ravel()[0] if d.size == 1 else d, (len(i),))
    steps = np.rint(d / dt).astype(np.int64)
    order = np.lexsort((j, i))
    keep = w[order] != 0
    order = order[keep]
    if not keep.all():
        notes.append(f"{int((~keep).sum())} synapses with weight 0 dropped")
    entry["notes"] = notes
    return entry, {"i": i[order], "j": j[order], "w": np.asarray(w, dtype=np.float64)[order], "d": steps[order]}


def _evaluate(expr: str, syn, namespace: dict, n: int) -> np.ndarray:
    from brian2.core.functions import Function
    from brian2.core.variables import ArrayVariable, Constant
    from brian2.utils.stringtools import get_identifiers

    idents = get_identifiers(expr)
    values: dict[str, Any] = {}
    resolved = syn.resolve_all(sorted(idents), run_namespace=namespace)
    for name, obj in resolved.items():
        if isinstance(obj, Function):
            raise _Unrecognised(f"weight expression '{expr}' calls {name}(); use a synaptic variable")
        if isinstance(obj, Constant):
            values[name] = float(obj.get_value())
        elif isinstance(obj, ArrayVariable):
            if name.endswith(("_pre", "_post")) or getattr(obj.owner, "name", None) != syn.name:
                raise _Unrecognised(f"weight expression '{expr}' depends on neuron state {name}")
            values[name] = np.asarray(obj.get_value(), dtype=float)[:n]
        else:
            raise _Unrecognised(f"weight expression '{expr}': cannot evaluate {name}")
    try:
        out = eval(compile(expr, "<weight>", "eval"), {"__builtins__": {}}, values)  # noqa: S307
    except Exception as err:
        raise _Unrecognised(f"cannot evaluate the weight expression '{expr}': {err}") from None
    return np.broadcast_to(np.asarray(out, dtype=float), (n,)).copy()


def _write(out: str, header: dict, arrays: dict) -> int:
    arrays = dict(arrays)
    arrays["__header__"] = np.frombuffer(json.dumps(header, default=_json_default).encode("utf-8"), dtype=np.uint8)
    with open(out, "wb") as fh:
        np.savez(fh, **arrays)
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
    a = p.parse_args(argv)
    return _worker(a.script, a.out, a.weight_var, a.dt)


if __name__ == "__main__":
    sys.exit(main())
