"""Run a biolstm network description through Brian2 2.5 (GeNN, cpp_standalone or numpy).

This file is a **script for the separate GeNN environment** (``make genn``: Python 3.11,
brian2 2.5.4, numpy < 2, brian2genn 1.7.0). It imports only the standard library, numpy
and what brian2 2.5 offers -- never biolstm, whose builder uses newer Brian2 features --
and is started by :mod:`biolstm.brian.genn` in a subprocess::

    .venv-genn/bin/python biolstm/brian/genn_runner.py NETWORK.npz RESULT.npz --device genn
    .venv-genn/bin/python biolstm/brian/genn_runner.py --self-test      # what make genn runs

The description (``NETWORK.npz``, written by :func:`biolstm.brian.genn.describe_spec` or
:func:`biolstm.loihi.emulate.genn_description`) names plain Brian2 objects: neuron groups
(equations, threshold, reset, the code run around the exact integrator each step),
spike-generator inputs, synapses that add ``w`` to one variable of their target, and
what to record. The result (``RESULT.npz``) holds the spikes as ``(neuron, global step)``,
the recorded variables ``[neurons, steps]`` and the timings.

What the genn device (brian2genn 1.7.0 on GeNN 4.9.0) cannot do, and how the
description does without it (so none of it is needed here):

* **one fixed schedule**: every step GeNN delivers the spikes of the previous step
  (``synapses``), then updates the neurons (``groups``, ``thresholds``, ``resets``);
  ``Network.schedule`` and ``when=`` are ignored. biolstm's float networks add synaptic
  input *after* the state update (``biolstm.brian.runner.SCHEDULE``), so here synapses
  add to a buffer variable and the neuron's update code adds the buffer after the
  integrator (``after_update``). The other devices run with the same schedule
  (:data:`SCHEDULE`), so all three compute the same thing.
* **input spikes reach targets one step later** than biolstm's (a spike generator fires
  in GeNN's neuron update, its spikes are delivered in the next step): the whole batch
  is shifted by :data:`OFFSET` = 1 step, so the sample steps are global steps
  ``1 .. S*T`` and the input given for sample step ``k`` is generated at step ``k``.
* **run_regularly only in the start slot** (and it runs on the host): the reset at each
  sample start is part of the neuron's update code instead (``before_update``, which
  tests ``timestep(t, dt)``).
* **no ``run_args``** (brian2 < 2.6): weights and inputs are compiled into the program,
  so every batch is a new build; **no heterogeneous delays**: one ``Synapses`` object per
  delay value; **one clock** (``defaultclock``); **one run**; **no ``seed()``**;
  ``t_in_timesteps`` is replaced by ``timestep(t, dt)``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

FORMAT = "biolstm-genn-network"
FORMAT_VERSION = 1
RESULT_FORMAT = "biolstm-genn-result"
OFFSET = 1
"""Global steps before sample 0 starts (the step GeNN needs to deliver the first inputs)."""
SCHEDULE = ["start", "synapses", "groups", "thresholds", "resets", "end"]
"""GeNN's order within a step; the other devices are given the same."""
DEVICES = ("genn", "cpp_standalone", "numpy")
IDLE = "biolstm_idle"
"""A variable without dynamics for groups without equations (brian2genn needs a state updater)."""


class DescriptionError(ValueError):
    """A network description this runner cannot build (the message names the field)."""


# ---------------------------------------------------------------------------------------
# reading and writing (shared format; biolstm.brian.genn writes descriptions)
# ---------------------------------------------------------------------------------------


def load_npz(path):
    """``(header dict, arrays dict)`` of a description or result file."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if "header" not in arrays:
        raise DescriptionError(f"{path}: no 'header' entry; not a biolstm genn file")
    header = json.loads(str(arrays.pop("header")))
    return header, arrays


def save_npz(path, header, arrays):
    """Write ``header`` (JSON) and ``arrays`` to ``path`` atomically (temporary file + rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".npz", dir=folder)
    os.close(fd)
    try:
        np.savez(tmp, header=np.array(json.dumps(header)), **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------
# building the Brian2 objects
# ---------------------------------------------------------------------------------------


def _quantity(entry):
    """``[value, [7 SI exponents]]`` -> a Brian2 quantity (or a float if dimensionless)."""
    from brian2.units.fundamentalunits import Quantity, get_or_create_dimension

    value, exponents = entry
    if not any(exponents):
        return float(value)
    return Quantity(float(value), dim=get_or_create_dimension([float(e) for e in exponents]))


def _unit_expr(exponents):
    """A Brian2 unit expression (``"metre**2*kilogram*second**-3*amp**-1"``) or ``"1"``."""
    names = ("metre", "kilogram", "second", "amp", "kelvin", "mole", "candle")
    parts = [f"{n}**{e:g}" if e != 1 else n for n, e in zip(names, exponents) if e]
    return "*".join(parts) if parts else "1"


class _AroundExact:
    """State-update method: ``before`` code, Brian2's exact (linear) integrator, ``after`` code."""

    def __init__(self, before, after):
        self.before, self.after = before, after
        self.__name__ = "exact+biolstm"

    def can_integrate(self, equations, variables, method_options=None):  # brian2 API
        return True

    def __call__(self, equations, variables=None, method_options=None):
        from brian2.stateupdaters.base import StateUpdateMethod

        if set(equations.diff_eq_names) == {IDLE}:
            code = ""  # no dynamics of its own: only the description's code
        else:
            code = StateUpdateMethod.stateupdaters["exact"](equations, variables, method_options)
        return "\n".join(part for part in (self.before, code, self.after) if part.strip())


def sample_position(n_steps):
    """Brian2 expression: position of the current step within its sample (0 .. T-1)."""
    T = int(n_steps)
    return f"((timestep(t, dt) + {T - OFFSET}) % {T})"


def build(header, arrays):
    """Create the Brian2 objects of a description on the current device.

    Returns ``(network, monitors)`` with ``monitors = {"spikes": {group: SpikeMonitor},
    "traces": {group: (StateMonitor, variables)}}``.
    """
    import brian2 as b2

    if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
        raise DescriptionError(f"description format {header.get('format')!r} version "
                               f"{header.get('version')!r}; this runner reads {FORMAT!r} "
                               f"version {FORMAT_VERSION}")
    T = int(header["n_steps"])
    b2.defaultclock.dt = float(header["dt"]) * b2.second
    dt = b2.defaultclock.dt
    objects, sources = [], {}
    spike_monitors, trace_monitors = {}, {}
    for inp in header["inputs"]:
        name = inp["name"]
        idx = arrays[f"input/{name}/i"].astype(np.int64)
        steps = arrays[f"input/{name}/step"].astype(np.int64)
        # generated at global step s, delivered at s + 1 = OFFSET + sample step (see module doc)
        gen = b2.SpikeGeneratorGroup(int(inp["size"]), idx, steps * dt, name=f"input_{name}")
        sources[name] = gen
        objects.append(gen)
    for grp in header["groups"]:
        name = grp["name"]
        namespace = {k: _quantity(v) for k, v in grp["namespace"].items()}
        eqs = grp["equations"]
        if "/dt" not in eqs:  # GeNN needs a state updater; an exact no-op gives it one
            eqs = eqs + f"\nd{IDLE}/dt = 0/second : 1"
        kwargs = {}
        if grp.get("threshold"):
            kwargs["threshold"] = grp["threshold"]
            kwargs["reset"] = grp.get("reset") or ""
        group = b2.NeuronGroup(int(grp["size"]), eqs, method=_AroundExact(grp["before_update"], grp["after_update"]),
                               namespace=namespace, name=f"pop_{name}", **kwargs)
        for var in grp["initial"]:
            setattr(group, var, arrays[f"group/{name}/{var}"] * _unit(group, var))
        sources[name] = group
        objects.append(group)
        if grp.get("threshold") and grp.get("monitor_spikes", True):
            spike_monitors[name] = b2.SpikeMonitor(group, name=f"spikes_{name}")
            objects.append(spike_monitors[name])
        if grp.get("record"):
            neurons = arrays.get(f"group/{name}/record_neurons")
            record = True if neurons is None else neurons.astype(int)
            mon = b2.StateMonitor(group, list(grp["record"]), record=record, when="end", name=f"trace_{name}")
            trace_monitors[name] = (mon, list(grp["record"]))
            objects.append(mon)
    for syn in header["synapses"]:
        name = syn["name"]
        i = arrays[f"syn/{name}/i"].astype(np.int64)
        if not len(i):
            continue
        for key in ("source", "target"):
            if syn[key] not in sources:
                raise DescriptionError(f"synapses {name!r}: {key} {syn[key]!r} is not a group or input")
        gate = f"int({sample_position(T)} >= {int(syn['lat'])})"
        obj = b2.Synapses(sources[syn["source"]], sources[syn["target"]],
                          model=f"w : {_unit_expr(syn['unit'])} (constant)",
                          on_pre=f"{syn['target_var']}_post += w * {gate}",
                          delay=int(syn["delay_steps"]) * dt, name=f"syn_{name}")
        obj.connect(i=i, j=arrays[f"syn/{name}/j"].astype(np.int64))
        obj.w = arrays[f"syn/{name}/w"] * _unit_of(syn["unit"])
        objects.append(obj)
    network = b2.Network(*objects, name="biolstm_genn_network")
    network.schedule = SCHEDULE
    return network, {"spikes": spike_monitors, "traces": trace_monitors}


def _unit(group, var):
    from brian2.units.fundamentalunits import DIMENSIONLESS, Quantity

    dim = group.variables[var].dim
    return Quantity(1.0, dim=dim) if dim is not DIMENSIONLESS else 1.0


def _unit_of(exponents):
    return _quantity([1.0, exponents])


# ---------------------------------------------------------------------------------------
# running on a device
# ---------------------------------------------------------------------------------------


def run(header, arrays, device="genn", use_gpu=False, directory=None, verbose=False):
    """Build and run a description; returns ``(result header, result arrays)``."""
    import brian2 as b2

    if device not in DEVICES:
        raise DescriptionError(f"device {device!r}: choose one of {DEVICES}")
    if directory is None:
        directory = tempfile.mkdtemp(prefix=f"biolstm_{device}_")
    directory = os.path.abspath(directory)
    info = {"device": device, "use_gpu": bool(use_gpu), "brian2": b2.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0]}
    quiet = not verbose
    if device == "genn":
        import brian2genn  # noqa: F401 - registers the device

        info["brian2genn"] = getattr(brian2genn, "__version__", "unknown")
        genn_path = os.environ.get("GENN_PATH") or b2.prefs["devices.genn.path"]
        if not genn_path:
            raise DescriptionError("GENN_PATH is not set: point it to the GeNN 4.x folder (make genn "
                                   "records it in .venv-genn/biolstm-genn.json)")
        b2.prefs["devices.genn.path"] = genn_path
        with open(os.path.join(genn_path, "version.txt")) as fh:
            info["genn"] = fh.read().strip()
        # brian2genn builds only from inside run() (build_on_run=True): a later
        # device.build() refuses the code objects created before the run statement
        b2.set_device("genn", build_on_run=True, directory=directory, run=False,
                      use_GPU=bool(use_gpu), with_output=verbose)
    else:
        # the arithmetic of GeNN's model code: no hoisted loop invariants (brian2genn turns
        # them off), no -ffast-math and no fused multiply-add (GeNN compiles it without -O)
        b2.prefs.codegen.loop_invariant_optimisations = False
        flags = [f for f in b2.prefs["codegen.cpp.extra_compile_args_gcc"] if f != "-ffast-math"]
        b2.prefs["codegen.cpp.extra_compile_args_gcc"] = flags + ["-fno-fast-math", "-ffp-contract=off"]
    if device == "cpp_standalone":
        b2.set_device("cpp_standalone", build_on_run=True, directory=directory, run=False,
                      with_output=verbose)
        b2.prefs["devices.cpp_standalone.extra_make_args_unix"] = [f"-j{os.cpu_count() or 1}"]
    elif device == "numpy":
        b2.prefs.codegen.target = "numpy"
    S, T = int(header["n_samples"]), int(header["n_steps"])
    t0 = time.perf_counter()
    network, monitors = build(header, arrays)
    t1 = time.perf_counter()
    with _silenced(quiet and device != "numpy"):
        network.run((S * T + OFFSET) * b2.defaultclock.dt)
    t2 = time.perf_counter()
    timings = {"define_s": t1 - t0}
    if device in ("genn", "cpp_standalone"):
        dev = b2.get_device()
        with _silenced(quiet):
            if device == "genn":
                dev.run(directory, bool(use_gpu), verbose)
            else:
                dev.run(directory=directory, with_output=verbose, run_args=[])
        t3 = time.perf_counter()
        # build_s: code generation and compilation (for genn: genn-buildmodel and make)
        timings.update(build_s=t2 - t1, run_s=t3 - t2)
        try:
            timings["network_run_s"] = float(dev._last_run_time)
        except (AttributeError, TypeError, ValueError):
            pass
    else:
        timings.update(build_s=0.0, run_s=t2 - t1)
    out_arrays = {}
    for name, mon in monitors["spikes"].items():
        out_arrays[f"spikes/{name}/i"] = np.asarray(mon.i[:], dtype=np.int64)
        out_arrays[f"spikes/{name}/step"] = np.rint(np.asarray(mon.t_[:]) / float(header["dt"])).astype(np.int64)
    for name, (mon, variables) in monitors["traces"].items():
        for var in variables:
            # values in SI units, [recorded neurons, global steps]
            out_arrays[f"trace/{name}/{var}"] = np.asarray(getattr(mon, var)[:], dtype=np.float64)
    timings["total_s"] = time.perf_counter() - t0
    result = {"format": RESULT_FORMAT, "version": FORMAT_VERSION, "offset": OFFSET,
              "n_samples": S, "n_steps": T, "timings": timings, "versions": info,
              "directory": directory}
    return result, out_arrays


class _silenced:
    """Send this process's stdout (and that of the compilers it starts) to stderr when asked.

    brian2genn prints progress and the build commands to stdout; the caller reads only
    the result file, so the output goes to stderr, where it appears on failure.
    """

    def __init__(self, enabled):
        self.enabled = enabled

    def __enter__(self):
        if self.enabled:
            sys.stdout.flush()
            self._saved = os.dup(1)
            os.dup2(2, 1)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            sys.stdout.flush()
            os.dup2(self._saved, 1)
            os.close(self._saved)
        return False


# ---------------------------------------------------------------------------------------
# self-test: a small network with integer weights (exact on every device)
# ---------------------------------------------------------------------------------------


def self_test_description(n=20, n_in=8, n_samples=3, n_steps=40, seed=1):
    """A 20-neuron LIF network with recurrent synapses, a delay-2 projection and an input
    group; weights are whole millivolts, so every device computes the same spikes exactly."""
    rng = np.random.default_rng(seed)
    volt = [2, 1, -3, -1, 0, 0, 0]
    mv = 1e-3
    # decay by exactly 1/2 per step: v <- v_rest + (v - v_rest)/2 with tau_m = dt/ln 2
    eqs = "dv/dt = (v_rest - v)/tau_m : volt\nbuf : volt"
    groups = [{
        "name": "lif", "size": n, "equations": eqs,
        "threshold": "v > v_th", "reset": "v = v_reset",
        "namespace": {"v_rest": [0.0, volt], "v_th": [10 * mv, volt], "v_reset": [0.0, volt],
                      "tau_m": [1e-3 / np.log(2.0), [0, 0, 1, 0, 0, 0, 0]]},
        "before_update": (f"biolstm_fresh = int({sample_position(n_steps)} == 0)\n"
                          "v = v*(1 - biolstm_fresh)"),
        "after_update": "v = v + buf\nbuf = 0*volt",
        "initial": ["v", "buf"], "record": ["v"], "monitor_spikes": True,
    }]
    ev = [(s, k, c) for s in range(n_samples) for k in range(n_steps) for c in range(n_in)
          if rng.random() < 0.15]
    ev = np.array(ev, dtype=np.int64).reshape(-1, 3)
    arrays = {"group/lif/v": np.zeros(n), "group/lif/buf": np.zeros(n),
              "group/lif/record_neurons": np.arange(0, n, 5),
              "input/x/i": ev[:, 2], "input/x/step": ev[:, 0] * n_steps + ev[:, 1]}
    synapses = []
    for name, pre, n_pre, delay, lat, p, scale in (("in", "x", n_in, 0, 0, 0.5, 6),
                                                    ("rec", "lif", n, 0, 1, 0.2, 4),
                                                    ("rec_d2", "lif", n, 2, 3, 0.1, 3)):
        mask = rng.random((n_pre, n)) < p
        i, j = np.nonzero(mask)
        arrays[f"syn/{name}/i"], arrays[f"syn/{name}/j"] = i, j
        arrays[f"syn/{name}/w"] = rng.integers(-scale // 2, scale + 1, len(i)) * mv
        synapses.append({"name": name, "source": pre, "target": "lif", "target_var": "buf",
                         "delay_steps": delay, "lat": lat, "unit": volt})
    header = {"format": FORMAT, "version": FORMAT_VERSION, "dt": 1e-3, "n_steps": n_steps,
              "n_samples": n_samples, "inputs": [{"name": "x", "size": n_in}], "groups": groups,
              "synapses": synapses}
    return header, arrays


def _self_test(device, use_gpu, directory, verbose):
    header, arrays = self_test_description()
    t0 = time.perf_counter()
    result, out = run(header, arrays, device, use_gpu, directory, verbose)
    spikes = len(out["spikes/lif/i"])
    print(f"self-test on {device}: {spikes} spikes, {time.perf_counter() - t0:.1f} s "
          f"(build {result['timings']['build_s']:.1f} s, run {result['timings']['run_s']:.2f} s)")
    if spikes == 0:
        raise SystemExit("self-test failed: the network produced no spikes")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("description", nargs="?", help="network description (.npz)")
    parser.add_argument("result", nargs="?", help="where to write the result (.npz)")
    parser.add_argument("--device", default="genn", choices=DEVICES)
    parser.add_argument("--gpu", action="store_true", help="genn: use_GPU=True (CUDA backend)")
    parser.add_argument("--directory", default=None, help="project folder (default: a temporary one)")
    parser.add_argument("--verbose", action="store_true", help="show brian2genn's and the compilers' output")
    parser.add_argument("--self-test", action="store_true",
                        help="run a small network here and compare it with Brian2's numpy target")
    args = parser.parse_args(argv)
    if args.self_test:
        genn = _self_test(args.device, args.gpu, args.directory, args.verbose)
        # a fresh process for the reference: Brian2 allows one standalone device per process
        import subprocess

        with tempfile.TemporaryDirectory() as tmp:
            ref_path = os.path.join(tmp, "ref.npz")
            desc_path = os.path.join(tmp, "net.npz")
            save_npz(desc_path, *self_test_description())
            subprocess.run([sys.executable, os.path.abspath(__file__), desc_path, ref_path, "--device", "numpy"],
                           check=True)
            _, ref = load_npz(ref_path)
        for key in ref:
            if not np.array_equal(ref[key], genn[key]):
                raise SystemExit(f"self-test failed: {key} differs between {args.device} and numpy")
        print(f"self-test: spikes and traces of {args.device} and numpy are identical")
        return 0
    if not args.description or not args.result:
        parser.error("give DESCRIPTION and RESULT (or --self-test)")
    header, arrays = load_npz(args.description)
    result, out = run(header, arrays, args.device, args.gpu, args.directory, args.verbose)
    save_npz(args.result, result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
