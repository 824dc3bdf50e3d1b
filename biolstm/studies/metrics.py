"""Built-in sweep metrics: numbers measured on a :class:`~biolstm.studies.registry.RunOutput`.

Every metric returns ``{column: number}``; columns end with their unit. Per-population
columns carry the population name before the unit (``rate_adaptive_hz``).

=====================  ====================================================================
``rates``              mean rate of each spiking population (and of all neurons)
``adaptation``         onset vs late rate ratio and ISI adaptation index per population
``isi``                ISI coefficient of variation, first and last ISI per population
``adaptation_current`` time-averaged adaptation variable (I_ahp in pA, theta in mV), late half
``network_size``       synapses and recurrent synaptic events per sample
``rate_theory``        closed-form LIF and quasi-static adaptive rates (``neuron_step``)
``accuracy``           readout accuracy against ``extras["labels"]``
``loihi``              fit, cores, energy/latency/EDP per inference (``loihi_summary``)
``loihi_cores``        cores, chips, fit and violations (``biolstm.loihi.check.check``)
=====================  ====================================================================

Definitions
-----------
*Adaptation ratio* = rate in the last half of a sample / rate in the first
``early_steps`` (1: no adaptation; the closer to 0, the stronger the adaptation).

*ISI adaptation index* = mean over consecutive interspike-interval pairs of
``(ISI[k+1] - ISI[k]) / (ISI[k+1] + ISI[k])``, averaged over all neurons with at least two
ISIs (the Allen Cell Types definition): 0 for a regular or a stationary irregular train,
positive when intervals lengthen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from biolstm.studies.registry import RunOutput, register_metric

__all__ = ["isi_statistics", "adaptation_trace_mean", "population_models"]


def population_models(out: RunOutput) -> dict[str, tuple[Any, Any]]:
    """``{population: (NeuronModel, params)}`` from ``out.spec`` or ``extras["population_models"]``."""
    if out.spec is not None:
        return {p.name: (p.neuron_model, p.neuron_params()) for p in out.spec.populations}
    return dict(out.extras.get("population_models", {}))


def _activity(out: RunOutput, metric: str):
    if out.activity is None:
        raise ValueError(f"metric '{metric}' needs the run's activity; this run did not simulate "
                         f"(simulate = false?); drop the metric or simulate")
    return out.activity


@register_metric("rates", description="mean firing rate per spiking population (Hz)")
def rates(out: RunOutput, params: dict) -> dict[str, float]:
    act = _activity(out, "rates")
    values = {f"rate_{pop}_hz": float(act.rate(pop)) for pop in act.spikes}
    if len(act.spikes) > 1:
        n = sum(act.population_sizes[p] for p in act.spikes)
        values["rate_all_hz"] = act.total_spikes() / (n * act.n_samples * act.n_steps * act.dt)
    return values


def isi_statistics(events: np.ndarray) -> dict[str, float]:
    """ISI statistics of spike events ``(sample, step, neuron)`` (steps, not seconds).

    Returns ``cv`` (mean over trains with >= 3 ISIs), ``adaptation_index`` (mean over
    trains with >= 2 ISIs of the mean normalised ISI difference), ``first_isi`` and
    ``last_isi`` (means over trains with >= 1 ISI, in steps); NaN where no train qualifies.
    """
    nan = float("nan")
    out = {"cv": nan, "adaptation_index": nan, "first_isi": nan, "last_isi": nan}
    if len(events) < 2:
        return out
    order = np.lexsort((events[:, 1], events[:, 2], events[:, 0]))
    ev = events[order]
    train = ev[:, 0] * (int(ev[:, 2].max()) + 1) + ev[:, 2]
    same = train[1:] == train[:-1]
    isi = np.diff(ev[:, 1]).astype(float)[same]
    isi_train = train[1:][same]
    if not len(isi):
        return out
    ids, start, count = np.unique(isi_train, return_index=True, return_counts=True)
    out["first_isi"] = float(isi[start].mean())
    out["last_isi"] = float(isi[start + count - 1].mean())
    sums = np.add.reduceat(isi, start)
    sq = np.add.reduceat(isi ** 2, start)
    mean = sums / count
    var = np.maximum(sq / count - mean ** 2, 0.0)
    ok = count >= 3
    if ok.any():
        out["cv"] = float(np.mean(np.sqrt(var[ok]) / mean[ok]))
    pair_same = isi_train[1:] == isi_train[:-1]
    if pair_same.any():
        a, b = isi[:-1][pair_same], isi[1:][pair_same]
        ratio = (b - a) / (b + a)
        pair_train = isi_train[1:][pair_same]
        _, pstart = np.unique(pair_train, return_index=True)
        per_train = np.add.reduceat(ratio, pstart) / np.diff(np.append(pstart, len(ratio)))
        out["adaptation_index"] = float(per_train.mean())
    return out


@register_metric("adaptation", description="onset/late rate ratio and ISI adaptation index")
def adaptation(out: RunOutput, params: dict) -> dict[str, float]:
    act = _activity(out, "adaptation")
    early = int(out.extras.get("early_steps", max(1, act.n_steps // 10)))
    late = slice(act.n_steps // 2, act.n_steps)
    values = {}
    for pop in act.spikes:
        counts = act.spike_counts(pop)
        size = act.population_sizes[pop]
        r_early = counts[:, :early].sum() / (size * act.n_samples * early * act.dt)
        r_late = counts[:, late].sum() / (size * act.n_samples * (late.stop - late.start) * act.dt)
        values[f"rate_onset_{pop}_hz"] = float(r_early)
        values[f"rate_late_{pop}_hz"] = float(r_late)
        values[f"adaptation_ratio_{pop}"] = float(r_late / r_early) if r_early > 0 else float("nan")
        values[f"adaptation_index_{pop}"] = isi_statistics(act.spikes[pop])["adaptation_index"]
    return values


@register_metric("isi", description="ISI coefficient of variation, first and last ISI (ms)")
def isi(out: RunOutput, params: dict) -> dict[str, float]:
    act = _activity(out, "isi")
    values = {}
    for pop in act.spikes:
        stats = isi_statistics(act.spikes[pop])
        values[f"isi_cv_{pop}"] = stats["cv"]
        values[f"first_isi_{pop}_ms"] = stats["first_isi"] * act.dt * 1e3
        values[f"last_isi_{pop}_ms"] = stats["last_isi"] * act.dt * 1e3
    return values


def adaptation_trace_mean(dm, counts: np.ndarray, size: int, window: slice) -> float:
    """Mean of a model's adaptation variable over ``window``, from population spike counts.

    ``dm`` is the population's :class:`~biolstm.neurons.DiscreteModel`; its adaptation
    variable must decay on its own (``x[k] <- a*x[k]``) and jump by ``reset_add`` at a
    spike, as ``I_ahp`` and ``theta`` do. ``counts`` are spikes per sample and step
    ``[S, T]`` summed over the ``size`` neurons; the variable being linear in the spikes,
    its population mean is ``jump * filter(counts) / size``. SI units.
    """
    from scipy.signal import lfilter

    adds = dict(dm.reset_add)
    (k, jump), = adds.items()
    decay = float(dm.transition[k, k])
    others = np.delete(dm.transition[k], k)
    if np.any(others != 0) or dm.offset[k] != 0 or dm.initial[k] != 0:
        raise ValueError(f"adaptation variable {dm.state_names[k]} of model {dm.model} is not a "
                         f"pure decay with jumps; it cannot be reconstructed from spikes")
    trace = lfilter([jump], [1.0, -decay], counts.astype(float), axis=1) / size
    return float(trace[:, window].mean())


@register_metric("adaptation_current",
                 description="mean adaptation variable in the late half (I_ahp pA / theta mV)")
def adaptation_current(out: RunOutput, params: dict) -> dict[str, float]:
    act = _activity(out, "adaptation_current")
    late = slice(act.n_steps // 2, act.n_steps)
    values = {}
    for pop, (model, p) in population_models(out).items():
        if model.adaptation is None or pop not in act.spikes:
            continue
        dm = model.discrete(p, act.dt * _second())
        mean = adaptation_trace_mean(dm, act.spike_counts(pop), act.population_sizes[pop], late)
        if model.adaptation == "I_ahp":
            values[f"mean_I_ahp_{pop}_pA"] = mean * 1e12
        else:
            values[f"mean_{model.adaptation}_{pop}_mV"] = mean * 1e3
    return values


def _second():
    from brian2 import second

    return second


@register_metric("network_size", description="synapses and recurrent synaptic events per sample")
def network_size(out: RunOutput, params: dict) -> dict[str, float]:
    spec = out.spec
    if spec is None:
        return {}
    values: dict[str, float] = {"n_synapses": int(spec.n_synapses)}
    act = out.activity
    if act is not None:
        events = 0
        for proj in spec.projections:
            if spec.is_input(proj.pre) or proj.pre not in act.spikes:
                continue
            fanout = np.zeros(spec.source_size(proj.pre))
            i, _, _, _ = proj.synapses()
            np.add.at(fanout, i, 1)
            events += float(act.neuron_counts(proj.pre).sum(axis=0) @ fanout)
        values["recurrent_synops_per_sample"] = events / act.n_samples
    return values


@register_metric("rate_theory",
                 description="closed-form LIF rate and quasi-static adaptive rate (Hz)")
def rate_theory(out: RunOutput, params: dict) -> dict[str, float]:
    """For ``neuron_step``: ``f_LIF(I)`` and the self-consistent ``f = f_LIF(I - a*f)``.

    ``a = delta_I_ahp * tau_ahp`` for AHP, ``delta_theta/R_m * tau_a`` for ALIF (the
    quasi-static rate of :mod:`biolstm.neurons`); continuous time, so they hold for
    ``dt`` much shorter than the ISI.
    """
    from brian2 import pA
    from scipy.optimize import brentq

    from biolstm.neurons import LIFParams, lif_rate

    (model, p), = population_models(out).values()
    current = params["I_ext_pA"] * 1e-12
    lif = LIFParams(**{f: getattr(p, f) for f in LIFParams.__dataclass_fields__})

    def f_lif(i_amp: float) -> float:
        return float(lif_rate(lif, i_amp / 1e-12 * pA)[0])

    values = {"rate_lif_theory_hz": f_lif(current)}
    if model.adaptation == "I_ahp":
        a = float(p.delta_I_ahp) * float(p.tau_ahp)
    elif model.adaptation == "theta":
        a = float(p.delta_theta) / float(p.R_m) * float(p.tau_a)
    else:
        a = 0.0
    top = values["rate_lif_theory_hz"]
    if a == 0.0 or top == 0.0:
        values["rate_quasi_static_hz"] = top
    else:
        values["rate_quasi_static_hz"] = float(brentq(lambda f: f - f_lif(current - a * f), 0.0, top))
    return values


@register_metric("accuracy", description="readout accuracy against extras['labels']")
def accuracy(out: RunOutput, params: dict) -> dict[str, float]:
    labels = out.extras.get("labels")
    if labels is None:
        if "accuracy" in out.metrics:
            return {}
        raise ValueError("metric 'accuracy' needs labels (RunOutput.extras['labels'])")
    pred = _activity(out, "accuracy").predictions()
    return {"accuracy": float(np.mean(pred == np.asarray(labels)))}


@register_metric("loihi", description="Loihi fit, cores, energy, latency and EDP per energy model",
                 requires=("biolstm.loihi.report",))
def loihi(out: RunOutput, params: dict) -> dict[str, Any]:
    """From ``biolstm.loihi.report.loihi_summary(spec, activity, chip)``.

    Columns: ``loihi_fits``, ``loihi_cores``, ``loihi_chips``, ``loihi_violations`` and,
    for every energy model ``m`` of the chip, ``loihi_energy_<m>_uJ`` (per inference),
    ``loihi_latency_<m>_ms`` (per inference) and ``loihi_edp_<m>_nJs``. The chip is the
    parameter ``chip`` if the runner has one, else Loihi 1.
    """
    from biolstm.loihi.report import loihi_summary

    if out.spec is None or out.activity is None:
        raise ValueError("metric 'loihi' needs the run's NetworkSpec and Activity")
    summary = loihi_summary(out.spec, out.activity, chip=params.get("chip", "loihi1"))
    values: dict[str, Any] = {"loihi_fits": bool(summary["fits"]), "loihi_cores": int(summary["cores"]),
                              "loihi_chips": int(summary["chips"]),
                              "loihi_violations": len(summary["violations"])}
    for model, e in summary["energy"].items():
        values[f"loihi_energy_{model}_uJ"] = float(e.energy_per_inference_J) * 1e6
        values[f"loihi_latency_{model}_ms"] = float(e.latency_per_inference_s) * 1e3
        values[f"loihi_edp_{model}_nJs"] = float(e.edp_Js) * 1e9
    return values


@register_metric("loihi_cores", description="Loihi cores, chips, fit and number of violations",
                 requires=("biolstm.loihi.check",))
def loihi_cores(out: RunOutput, params: dict) -> dict[str, Any]:
    """``check(spec, chip)``: ``loihi_fits``, ``loihi_violations``, ``loihi_cores``, ``loihi_chips``."""
    from biolstm.loihi.check import check

    if out.spec is None:
        raise ValueError("metric 'loihi_cores' needs the run's NetworkSpec")
    report = check(out.spec, chip=params.get("chip", "loihi1"))
    return {"loihi_fits": bool(report.ok), "loihi_violations": len(report.errors),
            "loihi_cores": int(report.placement.n_cores), "loihi_chips": int(report.placement.n_chips)}
