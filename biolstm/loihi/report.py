"""One call for "does it fit, what does it cost, how does it compare with an LSTM".

``loihi_summary(spec, activity, chip="loihi1", baseline=None) -> dict`` checks the
network (:func:`~.check.check`), charges the activity with every energy model the
chip file has (:func:`~.energy.estimate`), and compares with an LSTM baseline:

* ``baseline=None``: no comparison;
* ``baseline="measure"``: time a batch-1 LSTM (torch, one thread; numpy if torch is
  missing) with as many inputs, 128 hidden units (Rao et al.'s baseline) and as many
  outputs as the spec, over the activity's steps, on this machine, at
  ``DEFAULT_CPU_POWER_W``;
* a :class:`Baseline` or a dict ``{"seconds_per_inference": ..., "power_W": ...,
  "label": ...}`` with a user's own figures.

Every Loihi estimate is a range, not one number: each energy model of the chip file
(``davies2018``, ``sanafe``) under each calibration (the chip-level figures fitted on
Rao et al.'s sMNIST run, ``smnist2021``, or on their RelNet run, ``relnet2021``) is
computed, and ``summary["range"]`` holds the lowest and highest energy and latency of
them. ``summary["energy"]`` holds the default calibration's estimate per model.

The measured baseline's energy comes from the CPU's RAPL energy counters
(``/sys/class/powercap/intel-rapl*/energy_uj``) where the machine exposes them, else
from :data:`DEFAULT_CPU_POWER_W`; ``Baseline.power_source`` says which. A GPU
baseline (:func:`measure_gpu_lstm_baseline`, power sampled with ``nvidia-smi``) is
measured only where a CUDA GPU and ``nvidia-smi`` exist.

``format_summary(summary)`` prints it; ``biolstm eval`` and the demo use both.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from biolstm.loihi.check import CheckReport, check
from biolstm.loihi.energy import CALIBRATIONS, DEFAULT_CALIBRATION, EnergyReport, count_events, estimate

__all__ = ["Baseline", "DEFAULT_CPU_POWER_W", "measure_lstm_baseline", "measure_gpu_lstm_baseline",
           "rapl_counters", "loihi_summary", "format_summary", "estimate_range"]

RAPL_GLOB = "/sys/class/powercap/intel-rapl:*/energy_uj"
"""Linux powercap files of the CPU packages' RAPL energy counters (microjoules)."""

DEFAULT_CPU_POWER_W = 5.0
"""Watts charged per CPU core in use by the measured LSTM baseline.

This machine reports an "AMD EPYC" of family 25, model 17 (Zen 4, EPYC 9004
"Genoa"; the SKU is hidden by the hypervisor). Genoa packages are rated 200-360 W
TDP for 16-96 cores, i.e. 3.75 W (EPYC 9654, 360 W / 96 cores) to 12.5 W (EPYC 9124,
200 W / 16 cores) per core. We charge 5 W per core in use, a per-core share of the
package TDP. It leaves out DRAM, uncore idle and platform power, so it favours the
CPU; Rao et al.'s comparison charged whole laptop/desktop packages (about 21-49 W).
Pass ``power_W`` (or your own :class:`Baseline`) to use another figure.
"""


@dataclass
class Baseline:
    """A conventional-hardware reference: time and power per inference.

    Attributes
    ----------
    label : str
        What ran where (``"torch LSTM(80-128-10), batch 1, 1 thread, this machine"``).
    seconds_per_inference : float
    power_W : float
    power_source : str
        Why that power: ``"RAPL ..."`` when read from the CPU's energy counters, else
        the assumption (default: :data:`DEFAULT_CPU_POWER_W`'s rationale).
    measured : bool
        True when timed by :func:`measure_lstm_baseline` here.
    power_measured : bool
        True when ``power_W`` comes from energy counters or ``nvidia-smi``, False when
        it is an assumed figure.
    """

    label: str
    seconds_per_inference: float
    power_W: float
    power_source: str = ""
    measured: bool = False
    power_measured: bool = False

    @property
    def energy_J(self) -> float:
        return self.seconds_per_inference * self.power_W

    @property
    def edp_Js(self) -> float:
        return self.energy_J * self.seconds_per_inference

    @classmethod
    def from_any(cls, value: "Baseline | Mapping[str, Any]") -> "Baseline":
        if isinstance(value, Baseline):
            return value
        try:
            return cls(label=str(value.get("label", "user-supplied baseline")),
                       seconds_per_inference=float(value["seconds_per_inference"]),
                       power_W=float(value["power_W"]),
                       power_source=str(value.get("power_source", "user-supplied")))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(
                f"baseline {value!r} needs 'seconds_per_inference' and 'power_W' numbers ({err})"
            ) from None


def rapl_counters(pattern: str = RAPL_GLOB) -> dict[str, int] | None:
    """Current RAPL package energy counters (uJ) by file, or None where none are readable.

    Returns None when the machine exposes no powercap RAPL files (no such folder, as
    in most virtual machines) or when they are not readable (root-only since Linux
    5.10 on many distributions).
    """
    out = {}
    for path in sorted(glob.glob(pattern)):
        try:
            with open(path, encoding="ascii") as fh:
                out[path] = int(fh.read().strip())
        except (OSError, ValueError):
            return None
    return out or None


def _rapl_range(path: str) -> int:
    try:
        with open(os.path.join(os.path.dirname(path), "max_energy_range_uj"), encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return 2 ** 32


def _rapl_joules(before: dict[str, int], after: dict[str, int]) -> float:
    total = 0
    for path, a in before.items():
        b = after.get(path, a)
        total += b - a if b >= a else b + _rapl_range(path) - a   # the counter wrapped
    return total * 1e-6


def measure_lstm_baseline(n_in: int, n_out: int, n_steps: int, *, hidden: int = 128, repeats: int = 5,
                          threads: int = 1, power_W: float | None = None,
                          counters: Callable[[], dict[str, int] | None] = rapl_counters) -> Baseline:
    """Time one batch-1 LSTM inference (``n_steps`` steps) on this machine.

    Uses ``torch.nn.LSTM`` (one thread by default) followed by a linear readout of the
    last step; falls back to a numpy LSTM when torch is not installed. Reports the
    median of ``repeats`` runs after one warm-up.

    Power: ``power_W`` when given; else the CPU packages' RAPL energy over the timed
    runs divided by their time, where ``counters()`` (default :func:`rapl_counters`)
    can read them -- whole packages, so other processes' and idle cores' power is
    included; else :data:`DEFAULT_CPU_POWER_W` x ``threads``. ``power_source`` says
    which was used.
    """
    times = []
    before = counters() if power_W is None else None
    t_start = time.perf_counter()
    try:
        import torch

        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            lstm = torch.nn.LSTM(n_in, hidden, batch_first=True)
            head = torch.nn.Linear(hidden, n_out)
            x = (torch.rand(1, n_steps, n_in) < 0.05).float()
            with torch.no_grad():
                for k in range(repeats + 1):
                    t0 = time.perf_counter()
                    out, _ = lstm(x)
                    head(out[:, -1])
                    if k:
                        times.append(time.perf_counter() - t0)
        finally:
            torch.set_num_threads(old)
        engine = f"torch {torch.__version__}"
    except ImportError:
        rng = np.random.default_rng(0)
        W = rng.standard_normal((4 * hidden, n_in + hidden)).astype(np.float32) * 0.1
        b = np.zeros(4 * hidden, np.float32)
        Wo = rng.standard_normal((n_out, hidden)).astype(np.float32)
        x = (rng.random((n_steps, n_in)) < 0.05).astype(np.float32)
        for k in range(repeats + 1):
            t0 = time.perf_counter()
            h = np.zeros(hidden, np.float32)
            c = np.zeros(hidden, np.float32)
            for t in range(n_steps):
                z = W @ np.concatenate([x[t], h]) + b
                i, f, g, o = np.split(z, 4)
                c = c / (1 + np.exp(-f)) + np.tanh(g) / (1 + np.exp(-i))
                h = np.tanh(c) / (1 + np.exp(-o))
            Wo @ h
            if k:
                times.append(time.perf_counter() - t0)
        engine = "numpy"
    elapsed = time.perf_counter() - t_start
    after = counters() if before is not None else None
    measured_power = False
    if power_W is not None:
        power, source = float(power_W), "user-supplied"
    elif before is not None and after is not None and elapsed > 0:
        joules = _rapl_joules(before, after)
        power = joules / elapsed
        measured_power = True
        source = (f"RAPL package energy counters ({len(before)} package(s)): {joules:.4g} J over {elapsed:.3g} s "
                  f"of LSTM runs incl. warm-up, whole packages (other processes and idle cores included)")
    else:
        power = DEFAULT_CPU_POWER_W * threads
        source = (f"assumed {DEFAULT_CPU_POWER_W} W per core x {threads} (biolstm.loihi.report.DEFAULT_CPU_POWER_W); "
                  f"no readable RAPL counters ({RAPL_GLOB})")
    return Baseline(
        label=f"LSTM({n_in}-{hidden}-{n_out}), {n_steps} steps, batch 1, {threads} thread(s), {engine}, this machine",
        seconds_per_inference=float(np.median(times)), power_W=power, power_source=source, measured=True,
        power_measured=measured_power)


def _nvidia_smi_power() -> float | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=power.draw", "--format=csv,noheader,nounits", "--id=0"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return float(out.strip().splitlines()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def measure_gpu_lstm_baseline(n_in: int, n_out: int, n_steps: int, *, hidden: int = 128, seconds: float = 5.0,
                              ) -> tuple[Baseline | None, str]:
    """Batch-1 LSTM on a CUDA GPU, with ``nvidia-smi`` power sampled while it runs.

    Returns ``(Baseline, "")`` or ``(None, reason)`` where there is no CUDA GPU, torch
    or ``nvidia-smi`` -- the baseline is then "not measured". Energy per inference is
    the mean board power during the runs (whole board, idle power included) x the
    median time per inference.
    """
    try:
        import torch
    except ImportError:
        return None, "not measured: torch is not installed"
    if not torch.cuda.is_available():
        return None, "not measured: no CUDA GPU on this machine"
    if _nvidia_smi_power() is None:
        return None, "not measured: nvidia-smi is not available or reports no power"
    dev = torch.device("cuda")
    lstm = torch.nn.LSTM(n_in, hidden, batch_first=True).to(dev)
    head = torch.nn.Linear(hidden, n_out).to(dev)
    x = (torch.rand(1, n_steps, n_in, device=dev) < 0.05).float()
    samples: list[float] = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            p = _nvidia_smi_power()
            if p is not None:
                samples.append(p)
            stop.wait(0.1)

    times = []
    with torch.no_grad():
        out, _ = lstm(x)
        head(out[:, -1])
        torch.cuda.synchronize()
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end or len(times) < 3:
            t0 = time.perf_counter()
            out, _ = lstm(x)
            head(out[:, -1])
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        stop.set()
        thread.join()
    if not samples:
        return None, "not measured: nvidia-smi gave no power samples during the run"
    name = torch.cuda.get_device_name(0)
    return Baseline(
        label=f"LSTM({n_in}-{hidden}-{n_out}), {n_steps} steps, batch 1, torch {torch.__version__} on {name}",
        seconds_per_inference=float(np.median(times)), power_W=float(np.mean(samples)),
        power_source=f"nvidia-smi power.draw, mean of {len(samples)} samples during {len(times)} runs (whole board)",
        measured=True, power_measured=True), ""


def estimate_range(reports: list[EnergyReport]) -> dict[str, Any]:
    """Lowest and highest energy, latency and EDP per inference over ``reports``.

    Returns ``{"energy_per_inference_J": (lo, hi), "latency_per_inference_s": (lo, hi),
    "edp_Js": (lo, hi), "components_J": {name: (lo, hi)}, "estimates": [labels]}``.
    """
    if not reports:
        return {}

    def span(values):
        return (float(min(values)), float(max(values)))

    names = list(reports[0].components_J)
    return {
        "energy_per_inference_J": span([r.energy_per_inference_J for r in reports]),
        "latency_per_inference_s": span([r.latency_per_inference_s for r in reports]),
        "edp_Js": span([r.edp_Js for r in reports]),
        "components_J": {k: span([r.components_J.get(k, 0.0) for r in reports]) for k in names},
        "estimates": [r.label for r in reports],
    }


def loihi_summary(spec, activity, chip: str = "loihi1", baseline: Any = None, *, models: list[str] | None = None,
                  calibrations: list[str] | None = None, active: str = "all", static: str = "core", inputs=None,
                  **settings: Any) -> dict[str, Any]:
    """Check, energy/latency/EDP under every model and calibration of the chip, and a baseline.

    Parameters
    ----------
    spec : NetworkSpec
    activity : Activity
        A simulation of ``spec`` (its spikes are charged).
    chip : str or path
    baseline : None, "measure", Baseline or dict
        See the module docstring. ``"measure"`` also tries a GPU baseline.
    models : list of str, optional
        Energy models to use; default every model in the chip file.
    calibrations : list of str, optional
        Calibrations to use; default every calibration of the chip file (the first of
        :data:`~.energy.CALIBRATIONS` it has is the headline one).
    active, static, inputs
        Passed to :func:`~.energy.estimate`.
    **settings
        :class:`~.settings.LoihiSettings` fields.

    Returns
    -------
    dict
        ``chip``, ``fits``, ``status``, ``cores``, ``chips``, ``neurons``, ``synapses``,
        ``violations`` (text lines), ``check`` (CheckReport), ``energy`` (model ->
        EnergyReport under the headline calibration), ``estimates`` (every
        EnergyReport, models x calibrations), ``range`` (:func:`estimate_range` of
        them), ``energy_table`` (headline calibration), ``estimates_table`` (every
        estimate) and ``comparison`` (pandas DataFrames, with the model and
        calibration named in every row), ``baseline`` (Baseline or None),
        ``gpu_baseline`` (Baseline or None) and ``gpu_note``, ``text``.
    """
    import pandas as pd

    report: CheckReport = check(spec, chip, **settings)
    pl = report.placement
    models = list(models) if models is not None else sorted(pl.chip.energy_models)
    have = list((pl.chip.values.get("calibrations") or {}))
    if calibrations is None:
        calibrations = [c for c in CALIBRATIONS if c in have] + [c for c in have if c not in CALIBRATIONS]
    calibrations = list(calibrations) or [None]
    headline = DEFAULT_CALIBRATION if DEFAULT_CALIBRATION in calibrations else calibrations[0]
    energies: dict[str, EnergyReport] = {}
    estimates: list[EnergyReport] = []
    unavailable = []
    if models:
        counts = count_events(pl, activity, active=active, inputs=inputs)
        for m in models:
            for cal in calibrations:
                e = estimate(pl, activity, m, active=active, static=static, calibration=cal, counts=counts)
                estimates.append(e)
                if cal == headline:
                    energies[m] = e
    else:
        unavailable.append(f"chip '{pl.chip.name}' has no per-event energy model (none published)")
    base = None
    gpu, gpu_note = None, ""
    if isinstance(baseline, str):
        if baseline != "measure":
            raise ValueError(f"baseline={baseline!r}: use None, 'measure', a Baseline or a dict")
        n_in = sum(g.size for g in spec.inputs) or 1
        n_out = spec.population(spec.readout.population).size if spec.readout else 10
        base = measure_lstm_baseline(n_in, n_out, int(activity.n_steps))
        gpu, gpu_note = measure_gpu_lstm_baseline(n_in, n_out, int(activity.n_steps))
    elif baseline is not None:
        base = Baseline.from_any(baseline)
    energy_table = (pd.concat([e.table() for e in energies.values()], ignore_index=True) if energies
                    else pd.DataFrame())
    estimates_table = (pd.concat([e.table() for e in estimates], ignore_index=True) if estimates
                       else pd.DataFrame())
    rows = []
    for m, e in energies.items():
        rows.append({"platform": f"Loihi ({pl.chip.name}, {pl.n_cores} cores, {pl.n_chips} chip(s))",
                     "model": m, "calibration": e.calibration, "energy_per_inference_J": e.energy_per_inference_J,
                     "latency_per_inference_s": e.latency_per_inference_s, "edp_Js": e.edp_Js})
    n_loihi = len(rows)
    for b in (base, gpu):
        if b is None:
            continue
        kind = "measured" if b.power_measured else "assumed"
        rows.append({"platform": b.label, "model": f"measured time x {b.power_W:g} W", "calibration": kind,
                     "energy_per_inference_J": b.energy_J, "latency_per_inference_s": b.seconds_per_inference,
                     "edp_Js": b.edp_Js})
    if base is not None:
        for r in rows[:n_loihi]:
            r["energy_ratio_baseline_over_loihi"] = base.energy_J / r["energy_per_inference_J"]
            r["edp_ratio_baseline_over_loihi"] = base.edp_Js / r["edp_Js"]
    comparison = pd.DataFrame(rows)
    summary: dict[str, Any] = {
        "chip": pl.chip.name, "fits": report.ok, "status": report.status, "cores": pl.n_cores,
        "chips": pl.n_chips, "neurons": report.qnet.n_neurons, "synapses": report.qnet.n_synapses,
        "violations": [v.text() for v in report.errors + report.unrecognised],
        "warnings": [v.text() for v in report.warnings],
        "check": report, "energy": energies, "estimates": estimates, "range": estimate_range(estimates),
        "calibration": headline if estimates else None,
        "energy_table": energy_table, "estimates_table": estimates_table, "comparison": comparison,
        "baseline": base, "gpu_baseline": gpu, "gpu_note": gpu_note, "notes": report.notes + unavailable,
        "steps_per_inference": int(activity.n_steps), "samples": int(activity.n_samples),
    }
    summary["text"] = format_summary(summary)
    return summary


def _uJ(x: float) -> str:
    return f"{x * 1e6:.4g}"


def format_summary(summary: Mapping[str, Any]) -> str:
    """Readable text of :func:`loihi_summary`'s result."""
    verdict = "fits" if summary["fits"] else ("does NOT fit" if summary["status"] == 1 else "cannot be fully checked")
    lines = [f"Loihi ({summary['chip']}): the network {verdict}: {summary['neurons']} neurons, "
             f"{summary['synapses']} synapses on {summary['cores']} core(s), {summary['chips']} chip(s)"]
    for v in summary["violations"]:
        lines.append(f"  ! {v}")
    rng = summary.get("range") or {}
    if rng:
        e_lo, e_hi = rng["energy_per_inference_J"]
        t_lo, t_hi = rng["latency_per_inference_s"]
        lines.append(f"  estimate (a range, not a measurement): energy/inference {_uJ(e_lo)}-{_uJ(e_hi)} uJ, "
                     f"latency {t_lo * 1e3:.4g}-{t_hi * 1e3:.4g} ms (host time excluded), over "
                     f"{', '.join(rng['estimates'])}")
    estimates = summary.get("estimates") or list(summary["energy"].values())
    for e in estimates:
        comp = ", ".join(f"{k} {_uJ(v)}" for k, v in e.components_J.items())
        label = e.model if e.calibration == summary.get("calibration") else e.label
        cal = f" (calibration {e.calibration})" if label == e.model and e.calibration else ""
        lines.append(f"  [{label}]{cal} energy/inference {_uJ(e.energy_per_inference_J)} uJ ({comp} uJ); "
                     f"latency {e.latency_per_inference_s * 1e3:.4g} ms ({e.latency_per_step_s * 1e6:.3g} us/step); "
                     f"EDP {e.edp_Js:.4g} J*s")
    if estimates:
        lines.append("  figures: neurocore per-event energies and times from Davies et al. 2018 Table 2 (davies2018) "
                     "or SANA-FE's Loihi file (sanafe), not fitted; neurocore static per core, x86 power per chip and "
                     "x86 time per step fitted on one measured run each (calibration; see the chip file)")
    base = summary.get("baseline")
    if base is not None:
        lines.append(f"  [baseline] {base.label}: {base.seconds_per_inference * 1e3:.4g} ms x {base.power_W:g} W = "
                     f"{base.energy_J * 1e3:.4g} mJ/inference, EDP {base.edp_Js:.4g} J*s "
                     f"({'measured' if base.power_measured else 'assumed'} power: {base.power_source})")
        for m, e in summary["energy"].items():
            lines.append(f"  [{m}] baseline/Loihi: energy x{base.energy_J / e.energy_per_inference_J:.3g}, "
                         f"EDP x{base.edp_Js / e.edp_Js:.3g}")
    gpu = summary.get("gpu_baseline")
    if gpu is not None:
        lines.append(f"  [GPU baseline] {gpu.label}: {gpu.seconds_per_inference * 1e3:.4g} ms x {gpu.power_W:.4g} W = "
                     f"{gpu.energy_J * 1e3:.4g} mJ/inference ({gpu.power_source})")
    elif summary.get("gpu_note"):
        lines.append(f"  [GPU baseline] {summary['gpu_note']}")
    for n in summary.get("notes", []):
        if "no per-event energy" in n:
            lines.append(f"  note: {n}")
    return "\n".join(lines)
