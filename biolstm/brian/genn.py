"""The genn backend: biolstm networks through brian2genn and GeNN, in an environment of their own.

brian2genn 1.7.0, the newest release, needs brian2 >= 2.5.0.2, < 2.6 (so numpy < 2 and
Python <= 3.11) and GeNN 4.x, which no registry ships. ``make genn``
(``scripts/make_genn_env.sh``) therefore builds a separate environment, ``.venv-genn``
(Python 3.11, brian2 2.5.4, brian2genn 1.7.0) with GeNN 4.9.0 from ``GENN_PATH``, and
leaves the main environment alone. This module is the main environment's side:

1. :func:`describe_spec` (a float :class:`~biolstm.spec.NetworkSpec`) turns a network
   and a batch of input spikes into a *description*: plain Brian2 objects (equations,
   code strings, arrays) that :mod:`biolstm.brian.genn_runner` -- a script that imports
   only numpy and brian2 2.5 -- can build on any device. The Loihi-exact integer network
   describes itself in :mod:`biolstm.loihi.emulate` (:func:`~biolstm.loihi.emulate.genn_description`)
   from this module's pieces (:func:`fresh_line`, :func:`split_by_delay`,
   :func:`input_arrays`, :func:`description_header`);
2. :func:`run_description` writes it to ``.npz``, runs the runner in a subprocess (the
   GeNN environment's Python for ``device="genn"``, this one for ``cpp_standalone`` and
   ``numpy``) and reads the spikes and traces it writes back;
3. :func:`run_spec` (and for the Loihi-exact network
   :func:`biolstm.loihi.emulate.run_genn`) return an :class:`~biolstm.activity.Activity`
   shaped like :func:`biolstm.brian.simulate`'s, so
   :func:`biolstm.brian.compare_activities` compares it with cpp_standalone.

The description keeps biolstm's semantics on GeNN's fixed schedule (the runner's module
docstring lists what brian2genn lacks and how the description does without it): synaptic
input goes to a buffer that the neuron's update adds after the exact integrator, the
reset at each sample start and the gate that drops spikes emitted in an earlier sample
test ``timestep(t, dt)``, and the batch starts one step late so that input spikes
arrive in the step they are given. With integer-valued arithmetic (the Loihi mode) the
result is identical to :func:`biolstm.loihi.emulate.simulate_quantized`; with float
weights GeNN sums a step's synaptic input before adding it to the membrane, biolstm adds
weight after weight, so the last bits can differ (``results/genn/`` states how often
that changes a spike or a prediction).

Not in this path: ``run_args`` (brian2 < 2.6; every batch is a new build), refractory
periods of 2 steps or more (biolstm's runner gates input by ``not_refractory``, which
the buffer cannot see), and the compiled replicas of :mod:`biolstm.brian.compiled`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.activity import Activity
from biolstm.encoding import SpikeTrains
from biolstm.errors import BiolstmError

__all__ = [
    "ENV_VARIABLE",
    "INFO_FILE",
    "RELEASE_URL",
    "GennError",
    "GennEnvironment",
    "environment_dir",
    "find_environment",
    "describe_spec",
    "fresh_line",
    "input_arrays",
    "split_by_delay",
    "description_header",
    "run_description",
    "backend_label",
    "per_sample",
    "spike_events",
    "run_spec",
    "runner_path",
]

ENV_VARIABLE = "BIOLSTM_GENN_ENV"
"""Environment variable naming the GeNN environment folder (default ``<repo>/.venv-genn``)."""
INFO_FILE = "biolstm-genn.json"
"""What ``make genn`` installed: versions and the GeNN folder (inside the environment)."""
RELEASE_URL = "https://github.com/genn-team/genn/releases/tag/4.9.0"
MAKE_HINT = (f"run 'make genn' in the biolstm checkout (GeNN 4.9.0 from GENN_PATH: the release "
             f"archive from {RELEASE_URL} or its unpacked folder)")
BUFFER = "biolstm_in"
"""Prefix of the buffers synapses add to; the update adds them to the membrane after the integrator."""
_DIM_NAMES = ("m", "kg", "s", "A", "K", "mol", "cd")


class GennError(BiolstmError, RuntimeError):
    """The genn path cannot run this network or this machine lacks the GeNN environment."""


@dataclass(frozen=True)
class GennEnvironment:
    """The environment ``make genn`` created.

    Attributes
    ----------
    folder : Path
        The virtual environment (``.venv-genn``).
    python : Path
        Its interpreter.
    info : dict
        ``python``, ``brian2``, ``brian2genn``, ``numpy``, ``genn`` (versions) and
        ``genn_path`` (the GeNN folder), as recorded by ``make genn``.
    """

    folder: Path
    python: Path
    info: dict = field(default_factory=dict, compare=False)

    @property
    def genn_path(self) -> Path:
        return Path(self.info["genn_path"])

    def versions(self) -> dict[str, str]:
        """Versions for reports (``biolstm backends``, results files)."""
        return {k: str(self.info[k]) for k in ("python", "brian2", "brian2genn", "numpy", "genn")
                if k in self.info}


def environment_dir() -> Path:
    """``$BIOLSTM_GENN_ENV`` or ``.venv-genn`` in the checkout biolstm runs from."""
    override = os.environ.get(ENV_VARIABLE)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / ".venv-genn"


def find_environment() -> tuple[GennEnvironment | None, str]:
    """The GeNN environment, or ``(None, why not)``."""
    folder = environment_dir()
    python = folder / "bin" / "python"
    if not folder.is_dir():
        return None, f"no GeNN environment at {folder}"
    if not python.exists():
        return None, f"{folder} has no bin/python (an interrupted 'make genn'?)"
    info_path = folder / INFO_FILE
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError) as err:
        return None, f"{info_path} is missing or unreadable ({type(err).__name__}); 'make genn' did not finish"
    missing = [k for k in ("brian2", "brian2genn", "genn", "genn_path") if k not in info]
    if missing:
        return None, f"{info_path} lacks {missing}; run 'make genn' again"
    if not Path(info["genn_path"], "bin", "genn-buildmodel.sh").is_file():
        return None, (f"the GeNN folder {info['genn_path']} recorded by 'make genn' has no "
                      f"bin/genn-buildmodel.sh (moved or deleted?)")
    return GennEnvironment(folder, python, info), ""


def runner_path() -> Path:
    """The runner script (:mod:`biolstm.brian.genn_runner`), run as a file by the GeNN environment."""
    return Path(__file__).resolve().parent / "genn_runner.py"


# ---------------------------------------------------------------------------------------
# descriptions (the pieces are public: biolstm.loihi.emulate.genn_description uses them too)
# ---------------------------------------------------------------------------------------


def _exponents(dim) -> list[float]:
    return [float(dim.get_dimension(n)) for n in _DIM_NAMES]


def _entry(value) -> list:
    """``[SI value, 7 exponents]`` of a Brian2 quantity or number."""
    from brian2.units.fundamentalunits import get_dimensions

    return [float(value), _exponents(get_dimensions(value))]


def _position(n_steps: int) -> str:
    from biolstm.brian import genn_runner

    return genn_runner.sample_position(n_steps)


def fresh_line(n_steps: int) -> str:
    """Code that sets ``biolstm_fresh`` to 1 in the first step of every sample, else 0
    (a group's ``before_update`` resets its state with it)."""
    return f"biolstm_fresh = int({_position(n_steps)} == 0)"


def input_arrays(inputs: SpikeTrains, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Input events as generator indices and global generation steps (= sample*T + step)."""
    T = inputs.n_steps
    out = {}
    for name in names:
        ev = np.asarray(inputs.events[name], dtype=np.int64).reshape(-1, 3)
        out[f"input/{name}/i"] = ev[:, 2].copy()
        out[f"input/{name}/step"] = ev[:, 0] * T + ev[:, 1]
    return out


def split_by_delay(name: str, source: str, target: str, target_var: str, unit: list[float],
                   i: np.ndarray, j: np.ndarray, w: np.ndarray, steps: np.ndarray, from_input: bool,
                   arrays: dict, synapses: list) -> None:
    """One Synapses entry per delay value (brian2genn has no heterogeneous delays), added to
    ``synapses`` (header entries) and ``arrays`` (``syn/<label>/i``, ``j``, ``w``)."""
    steps = np.asarray(steps, dtype=np.int64).reshape(-1)
    if steps.size == 1:
        steps = np.full(len(i), steps[0], dtype=np.int64)
    values = np.unique(steps) if len(i) else np.zeros(0, np.int64)
    for d in values:
        sel = steps == d
        label = name if len(values) == 1 else f"{name}_d{int(d)}"
        arrays[f"syn/{label}/i"] = np.asarray(i[sel], dtype=np.int64)
        arrays[f"syn/{label}/j"] = np.asarray(j[sel], dtype=np.int64)
        arrays[f"syn/{label}/w"] = np.asarray(w[sel], dtype=np.float64)
        synapses.append({"name": label, "source": source, "target": target, "target_var": target_var,
                         "delay_steps": int(d), "lat": int(d) + (0 if from_input else 1), "unit": unit})


def description_header(dt: float, inputs: SpikeTrains, input_sizes: Mapping[str, int], groups: list,
                       synapses: list, what: str) -> dict[str, Any]:
    """The header of a description (``what``: ``"spec"``, ``"loihi"``) without its ``record``."""
    from biolstm.brian import genn_runner

    return {"format": genn_runner.FORMAT, "version": genn_runner.FORMAT_VERSION, "what": what,
            "dt": float(dt), "n_steps": int(inputs.n_steps), "n_samples": int(inputs.n_samples),
            "inputs": [{"name": n, "size": int(s)} for n, s in input_sizes.items()],
            "groups": groups, "synapses": synapses}


def describe_spec(spec, inputs: SpikeTrains,
                  record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None
                  ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The runner's description of a float NetworkSpec driven by ``inputs``.

    Each population becomes one group with the model's equations, threshold and reset;
    its update is: reset to the initial values at a sample start, Brian2's exact
    integrator, then ``v = v + biolstm_in_<projection> + ...`` (this step's synaptic input,
    one buffer per Synapses object, summed in projection order) -- the order of
    :data:`biolstm.brian.runner.SCHEDULE`.

    Raises
    ------
    GennError
        For a refractory period of 2 steps or more (see the module docstring).
    """
    from brian2 import Equations

    inputs.check_against(spec)
    T = inputs.n_steps
    dt = float(spec.dt)
    record = {k: (list(v), [int(x) for x in n]) for k, (v, n) in dict(record or {}).items()}
    unknown = sorted(set(record) - {p.name for p in spec.populations})
    if unknown:
        raise ValueError(f"record: no population(s) {unknown}; populations are "
                         f"{[p.name for p in spec.populations]}")
    groups, arrays = [], {}
    synapses: list = []
    for proj in spec.projections:
        post = spec.population(proj.post)
        unit = _exponents(Equations(post.neuron_model.equations)[post.neuron_model.membrane].dim)
        i, j, w, _ = proj.synapses()
        split_by_delay(proj.name, proj.pre, proj.post, "", unit, i, j, w,
                        spec.delay_steps(proj), spec.is_input(proj.pre), arrays, synapses)
    for syn in synapses:  # one buffer per Synapses object: GeNN sums each one separately
        syn["target_var"] = f"{BUFFER}_{syn['name']}"
    for pop in spec.populations:
        model = pop.neuron_model
        params = pop.neuron_params()
        kwargs = model.brian_kwargs(params)
        if model.threshold is not None and float(params.t_ref) >= 2 * dt - 1e-12:
            raise GennError(
                f"population '{pop.name}': t_ref = {float(params.t_ref) * 1e3:g} ms blocks input for "
                f"{int(round(float(params.t_ref) / dt)) - 1} step(s) after a spike; the genn path "
                f"supports t_ref < 2*dt (= {2 * dt * 1e3:g} ms) only: run this network on "
                f"cpp_standalone, or set t_ref below 2*dt")
        eqs = Equations(model.equations)
        unit = _exponents(eqs[model.membrane].dim)
        unit_expr = _unit_expr(eqs[model.membrane].dim)
        buffers = [syn["target_var"] for syn in synapses if syn["target"] == pop.name]
        namespace = {k: _entry(v) for k, v in kwargs["namespace"].items()}
        before = [fresh_line(T)]
        initial = model.initial_values(params)
        for var, value in initial.items():
            namespace[f"biolstm_init_{var}"] = _entry(value)
            before.append(f"{var} = {var}*(1 - biolstm_fresh) + biolstm_init_{var}*biolstm_fresh")
        namespace["biolstm_zero_in"] = [0.0, unit]
        after = []
        if buffers:
            after.append(f"{model.membrane} = {model.membrane} + " + " + ".join(buffers))
            after += [f"{b} = biolstm_zero_in" for b in buffers]
        variables, neurons = record.get(pop.name, ([], None))
        variables = list(variables)
        if spec.readout is not None and spec.readout.population == pop.name:
            if spec.readout.variable not in variables:
                variables.append(spec.readout.variable)
            neurons = None  # the readout needs every neuron
        groups.append({
            "name": pop.name, "size": int(pop.size),
            "equations": "\n".join([model.equations, *(f"{b} : {unit_expr}" for b in buffers)]),
            "threshold": model.threshold, "reset": model.reset,
            "namespace": namespace, "before_update": "\n".join(before), "after_update": "\n".join(after),
            "initial": list(initial) + buffers, "record": variables,
            "monitor_spikes": model.threshold is not None,
        })
        for var, value in initial.items():
            arrays[f"group/{pop.name}/{var}"] = np.full(pop.size, float(value))
        for b in buffers:
            arrays[f"group/{pop.name}/{b}"] = np.zeros(pop.size)
        if variables and neurons is not None:
            arrays[f"group/{pop.name}/record_neurons"] = np.asarray(neurons, dtype=np.int64)
    arrays.update(input_arrays(inputs, [g.name for g in spec.inputs]))
    header = description_header(dt, inputs, {g.name: g.size for g in spec.inputs}, groups, synapses, "spec")
    header["record"] = {k: [list(v), n] for k, (v, n) in record.items()}
    return header, arrays


def _unit_expr(dim) -> str:
    from biolstm.brian import genn_runner

    return genn_runner._unit_expr(_exponents(dim))


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------


def run_description(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *,
                    device: str = "genn", use_gpu: bool = False,
                    directory: str | os.PathLike | None = None,
                    environment: GennEnvironment | None = None,
                    timeout: float | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run a description in a subprocess; returns the runner's ``(result header, arrays)``.

    Parameters
    ----------
    device : {"genn", "cpp_standalone", "numpy"}
        ``genn`` runs in the GeNN environment (brian2 2.5.4); the others in this
        interpreter's Brian2 (the same description, for comparisons).
    use_gpu : bool
        genn only: ``use_GPU=True`` (GeNN's CUDA backend; needs nvcc, a GPU and CUDA_PATH).
    directory : path, optional
        Project folder of the build (kept); default a temporary folder that is removed.
    environment : GennEnvironment, optional
        Default :func:`find_environment`.
    timeout : float, optional
        Seconds before the subprocess is stopped.
    """
    from biolstm.brian import genn_runner

    if device not in genn_runner.DEVICES:
        raise ValueError(f"device {device!r}: choose one of {genn_runner.DEVICES}")
    env = dict(os.environ)
    if device == "genn":
        if environment is None:
            environment, why = find_environment()
            if environment is None:
                raise GennError(f"the genn backend is not available: {why}. Fix: {MAKE_HINT}")
        python = str(environment.python)
        env["GENN_PATH"] = str(environment.genn_path)
    else:
        python = sys.executable
    work = Path(tempfile.mkdtemp(prefix=f"biolstm_genn_{device}_"))
    project = Path(directory) if directory is not None else work / "project"
    try:
        desc_path, result_path = work / "network.npz", work / "result.npz"
        genn_runner.save_npz(str(desc_path), dict(header), dict(arrays))
        cmd = [python, str(runner_path()), str(desc_path), str(result_path), "--device", device,
               "--directory", str(project)]
        if use_gpu:
            cmd.append("--gpu")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                                  cwd=str(work))
        except subprocess.TimeoutExpired as err:
            raise GennError(f"the {device} run did not finish within {timeout} s "
                            f"(project {project})") from err
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not result_path.is_file():
            tail = (proc.stderr or proc.stdout).strip()[-3000:]
            raise GennError(f"the {device} runner failed (exit code {proc.returncode}); its output "
                            f"ends with:\n{tail}")
        result, out = genn_runner.load_npz(str(result_path))
        result["timings"]["subprocess_s"] = wall
        return result, out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def backend_label(device: str, use_gpu: bool) -> str:
    """``Activity.backend`` of a run through the runner: ``genn (CPU)``, ``genn (GPU)``,
    ``numpy (genn runner)``..."""
    return "genn" + (" (GPU)" if use_gpu else " (CPU)") if device == "genn" else f"{device} (genn runner)"


def per_sample(values: np.ndarray, S: int, T: int, offset: int) -> np.ndarray:
    """``[neurons, offset + S*T]`` -> ``[S, T, neurons]`` (drops the steps before sample 0)."""
    values = np.asarray(values)[:, offset:offset + S * T]
    return values.T.reshape(S, T, -1)


def spike_events(i: np.ndarray, step: np.ndarray, T: int, offset: int) -> np.ndarray:
    """Spikes of neurons ``i`` at global steps ``step`` as sorted ``(sample, step, neuron)`` rows."""
    keep = step >= offset
    g = step[keep] - offset
    ev = np.stack([g // T, g % T, i[keep]], axis=1).astype(np.int64) if keep.any() else np.zeros((0, 3), np.int64)
    return ev[np.lexsort((ev[:, 2], ev[:, 1], ev[:, 0]))]


def run_spec(spec, inputs: SpikeTrains, *, device: str = "genn", use_gpu: bool = False,
             record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
             directory: str | os.PathLike | None = None, timeout: float | None = None) -> Activity:
    """Simulate a float NetworkSpec through the runner (default: the genn device).

    Returns an Activity like :func:`biolstm.brian.simulate`'s; ``timings`` has the
    runner's ``build_s`` (code generation and compilation), ``run_s`` (the program),
    ``network_run_s`` (as the program reports it), ``subprocess_s`` (all of it);
    ``metadata["versions"]`` the Brian2/brian2genn/GeNN versions that ran.
    """
    header, arrays = describe_spec(spec, inputs, record)
    result, out = run_description(header, arrays, device=device, use_gpu=use_gpu,
                                  directory=directory, timeout=timeout)
    S, T, off = inputs.n_samples, inputs.n_steps, int(result["offset"])
    spikes = {g["name"]: spike_events(out[f"spikes/{g['name']}/i"], out[f"spikes/{g['name']}/step"], T, off)
              for g in header["groups"] if g["monitor_spikes"]}
    readout = None
    if spec.readout is not None:
        readout = per_sample(out[f"trace/{spec.readout.population}/{spec.readout.variable}"], S, T, off)
    traces, trace_neurons = {}, {}
    for pop, (variables, neurons) in header["record"].items():
        full = spec.readout is not None and spec.readout.population == pop
        for var in variables:
            values = per_sample(out[f"trace/{pop}/{var}"], S, T, off)
            traces[f"{pop}.{var}"] = values[:, :, np.asarray(neurons, dtype=int)] if full else values
            trace_neurons[f"{pop}.{var}"] = np.asarray(neurons, dtype=int)
    return Activity.from_spec(spec, inputs, spikes, readout=readout, traces=traces,
                              trace_neurons=trace_neurons, backend=backend_label(device, use_gpu),
                              timings=dict(result["timings"]),
                              metadata={"versions": result["versions"], "runner": "genn_runner",
                                        "device": device, "use_gpu": use_gpu})
