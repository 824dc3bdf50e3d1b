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

``format_summary(summary)`` prints it; ``biolstm eval`` and the demo use both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from biolstm.loihi.check import CheckReport, check
from biolstm.loihi.energy import EnergyReport, count_events, estimate

__all__ = ["Baseline", "DEFAULT_CPU_POWER_W", "measure_lstm_baseline", "loihi_summary", "format_summary"]

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
        Why that power (default: :data:`DEFAULT_CPU_POWER_W`'s rationale).
    measured : bool
        True when timed by :func:`measure_lstm_baseline` here.
    """

    label: str
    seconds_per_inference: float
    power_W: float
    power_source: str = ""
    measured: bool = False

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


def measure_lstm_baseline(n_in: int, n_out: int, n_steps: int, *, hidden: int = 128, repeats: int = 5,
                          threads: int = 1, power_W: float | None = None) -> Baseline:
    """Time one batch-1 LSTM inference (``n_steps`` steps) on this machine.

    Uses ``torch.nn.LSTM`` (one thread by default) followed by a linear readout of the
    last step; falls back to a numpy LSTM when torch is not installed. Reports the
    median of ``repeats`` runs after one warm-up.
    """
    power = DEFAULT_CPU_POWER_W * threads if power_W is None else float(power_W)
    source = (f"{DEFAULT_CPU_POWER_W} W per core x {threads} (see biolstm.loihi.report.DEFAULT_CPU_POWER_W)"
              if power_W is None else "user-supplied")
    times = []
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
    return Baseline(
        label=f"LSTM({n_in}-{hidden}-{n_out}), {n_steps} steps, batch 1, {threads} thread(s), {engine}, this machine",
        seconds_per_inference=float(np.median(times)), power_W=power, power_source=source, measured=True)


def loihi_summary(spec, activity, chip: str = "loihi1", baseline: Any = None, *, models: list[str] | None = None,
                  active: str = "all", static: str = "chip", inputs=None, **settings: Any) -> dict[str, Any]:
    """Check, energy/latency/EDP under every model of the chip, and a baseline comparison.

    Parameters
    ----------
    spec : NetworkSpec
    activity : Activity
        A simulation of ``spec`` (its spikes are charged).
    chip : str or path
    baseline : None, "measure", Baseline or dict
        See the module docstring.
    models : list of str, optional
        Energy models to use; default every model in the chip file.
    active, static, inputs
        Passed to :func:`~.energy.estimate`.
    **settings
        :class:`~.settings.LoihiSettings` fields.

    Returns
    -------
    dict
        ``chip``, ``fits``, ``status``, ``cores``, ``chips``, ``neurons``, ``synapses``,
        ``violations`` (text lines), ``check`` (CheckReport), ``energy`` (model ->
        EnergyReport), ``energy_table`` and ``comparison`` (pandas DataFrames, with the
        model named in every row), ``baseline`` (Baseline or None), ``text``.
    """
    import pandas as pd

    report: CheckReport = check(spec, chip, **settings)
    pl = report.placement
    models = list(models) if models is not None else sorted(pl.chip.energy_models)
    energies: dict[str, EnergyReport] = {}
    unavailable = []
    if models:
        counts = count_events(pl, activity, active=active, inputs=inputs)
        for m in models:
            energies[m] = estimate(pl, activity, m, active=active, static=static, counts=counts)
    else:
        unavailable.append(f"chip '{pl.chip.name}' has no per-event energy model (none published)")
    base = None
    if isinstance(baseline, str):
        if baseline != "measure":
            raise ValueError(f"baseline={baseline!r}: use None, 'measure', a Baseline or a dict")
        n_in = sum(g.size for g in spec.inputs) or 1
        n_out = spec.population(spec.readout.population).size if spec.readout else 10
        base = measure_lstm_baseline(n_in, n_out, int(activity.n_steps))
    elif baseline is not None:
        base = Baseline.from_any(baseline)
    energy_table = pd.concat([e.table() for e in energies.values()], ignore_index=True) if energies else pd.DataFrame()
    rows = []
    for m, e in energies.items():
        rows.append({"platform": f"Loihi ({pl.chip.name}, {pl.n_cores} cores, {pl.n_chips} chip(s))",
                     "model": m, "energy_per_inference_J": e.energy_per_inference_J,
                     "latency_per_inference_s": e.latency_per_inference_s, "edp_Js": e.edp_Js})
    if base is not None:
        rows.append({"platform": base.label, "model": f"measured time x {base.power_W:g} W",
                     "energy_per_inference_J": base.energy_J, "latency_per_inference_s": base.seconds_per_inference,
                     "edp_Js": base.edp_Js})
        for r in rows[:-1]:
            r["energy_ratio_baseline_over_loihi"] = base.energy_J / r["energy_per_inference_J"]
            r["edp_ratio_baseline_over_loihi"] = base.edp_Js / r["edp_Js"]
    comparison = pd.DataFrame(rows)
    summary: dict[str, Any] = {
        "chip": pl.chip.name, "fits": report.ok, "status": report.status, "cores": pl.n_cores,
        "chips": pl.n_chips, "neurons": report.qnet.n_neurons, "synapses": report.qnet.n_synapses,
        "violations": [v.text() for v in report.errors + report.unrecognised],
        "warnings": [v.text() for v in report.warnings],
        "check": report, "energy": energies, "energy_table": energy_table, "comparison": comparison,
        "baseline": base, "notes": report.notes + unavailable,
        "steps_per_inference": int(activity.n_steps), "samples": int(activity.n_samples),
    }
    summary["text"] = format_summary(summary)
    return summary


def format_summary(summary: Mapping[str, Any]) -> str:
    """Readable text of :func:`loihi_summary`'s result."""
    verdict = "fits" if summary["fits"] else ("does NOT fit" if summary["status"] == 1 else "cannot be fully checked")
    lines = [f"Loihi ({summary['chip']}): the network {verdict}: {summary['neurons']} neurons, "
             f"{summary['synapses']} synapses on {summary['cores']} core(s), {summary['chips']} chip(s)"]
    for v in summary["violations"]:
        lines.append(f"  ! {v}")
    for m, e in summary["energy"].items():
        comp = ", ".join(f"{k} {v * 1e6:.3g}" for k, v in e.components_J.items())
        lines.append(f"  [{m}] energy/inference {e.energy_per_inference_J * 1e6:.4g} uJ ({comp} uJ); "
                     f"latency {e.latency_per_inference_s * 1e3:.4g} ms ({e.latency_per_step_s * 1e6:.3g} us/step); "
                     f"EDP {e.edp_Js:.4g} J*s")
    base = summary.get("baseline")
    if base is not None:
        lines.append(f"  [baseline] {base.label}: {base.seconds_per_inference * 1e3:.4g} ms x {base.power_W:g} W = "
                     f"{base.energy_J * 1e3:.4g} mJ/inference, EDP {base.edp_Js:.4g} J*s ({base.power_source})")
        for m, e in summary["energy"].items():
            lines.append(f"  [{m}] baseline/Loihi: energy x{base.energy_J / e.energy_per_inference_J:.3g}, "
                         f"EDP x{base.edp_Js / e.edp_Js:.3g}")
    for n in summary.get("notes", []):
        if "no per-event energy" in n:
            lines.append(f"  note: {n}")
    return "\n".join(lines)
