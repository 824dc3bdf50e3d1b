"""Quantization-aware evaluation: a network before and after Loihi quantization, same samples.

:func:`compare_quantization` runs a float :class:`~biolstm.spec.NetworkSpec` with the Brian2
runner and its Loihi fixed-point version in the Loihi-exact mode
(:mod:`biolstm.loihi.emulate`) on the same :class:`~biolstm.encoding.SpikeTrains` and
returns a :class:`QuantizationComparison`: accuracy of both (when labels are given), the
fraction of samples whose predicted class changes, firing rates per population and per
neuron, and how far the readouts moved; ``.table()`` and ``.plot()`` show them.

:func:`simulate_loihi` (re-exported from :mod:`biolstm.loihi.emulate`) quantizes and
emulates in one call; it is what ``biolstm eval ... --mode loihi`` runs.

:func:`biolstm.examples.example_lif_pair` builds a small float network and its exact Loihi
counterpart by hand (no quantizer needed), for the docs, tests and
``scripts/compare_quantization.py --demo``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.activity import Activity
from biolstm.loihi.emulate import simulate_loihi, simulate_quantized
from biolstm.encoding import SpikeTrains
from biolstm.loihi.fixed_point import QuantizedNetwork

__all__ = ["QuantizationComparison", "compare_quantization", "simulate_loihi"]


@dataclass
class QuantizationComparison:
    """A float network and its Loihi fixed-point version run on the same samples.

    Attributes
    ----------
    float_activity : Activity
        Brian2 float simulation (readout in SI units).
    loihi_activity : Activity
        Loihi-exact emulation (readout in integer Loihi units).
    qnet : QuantizedNetwork
        What the Loihi mode ran.
    labels : ndarray of int, shape (n_samples,), or None
    """

    float_activity: Activity
    loihi_activity: Activity
    qnet: QuantizedNetwork
    labels: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    # -- per-sample ----------------------------------------------------------------
    @property
    def float_predictions(self) -> np.ndarray:
        return self.float_activity.predictions()

    @property
    def loihi_predictions(self) -> np.ndarray:
        return self.loihi_activity.predictions()

    @property
    def changed(self) -> np.ndarray:
        """Bool per sample: the predicted class differs between float and Loihi."""
        return self.float_predictions != self.loihi_predictions

    @property
    def fraction_changed(self) -> float:
        return float(self.changed.mean())

    def accuracy(self, which: str) -> float | None:
        """Accuracy of ``"float"`` or ``"loihi"`` (None without labels)."""
        if self.labels is None:
            return None
        pred = self.float_predictions if which == "float" else self.loihi_predictions
        return float(np.mean(pred == self.labels))

    def to_volts(self, values: np.ndarray) -> np.ndarray:
        """Integer readout values -> volts of the float model (``v_offset_volt + v*volt_per_unit``)."""
        pop = self.qnet.population(self.loihi_activity.readout_population)
        return getattr(pop, "v_offset_volt", 0.0) + np.asarray(values) * pop.volt_per_unit

    def loihi_readout_volts(self) -> np.ndarray:
        """Loihi readout per sample ``[S, n_out]`` converted to volts with the quantizer's scale."""
        return self.to_volts(self.loihi_activity.readout_values())

    # -- tables --------------------------------------------------------------------
    def rates(self):
        """pandas DataFrame: spikes per neuron per step and Hz of every spiking population."""
        import pandas as pd

        rows = []
        for pop in self.loihi_activity.spikes:
            f = self.float_activity.rate_per_step(pop) if pop in self.float_activity.spikes else float("nan")
            q = self.loihi_activity.rate_per_step(pop)
            fn = self.float_activity.neuron_counts(pop).sum(0)
            qn = self.loihi_activity.neuron_counts(pop).sum(0)
            corr = float(np.corrcoef(fn, qn)[0, 1]) if fn.std() > 0 and qn.std() > 0 else float("nan")
            rows.append({
                "population": pop,
                "float_spikes_per_neuron_per_step": f,
                "loihi_spikes_per_neuron_per_step": q,
                "relative_change": (q - f) / f if f > 0 else float("nan"),
                "float_rate_hz": f / self.float_activity.dt,
                "loihi_rate_hz": q / self.loihi_activity.dt,
                "per_neuron_count_correlation": corr,
            })
        return pd.DataFrame(rows)

    def table(self):
        """pandas DataFrame ``metric, float, loihi`` (one row per number a reader wants)."""
        import pandas as pd

        fv = self.float_activity.readout_values()
        qv = self.loihi_readout_volts()
        scale = np.abs(fv).max() or 1.0
        rows = [
            ("samples", self.float_activity.n_samples, self.loihi_activity.n_samples),
            ("accuracy", self.accuracy("float"), self.accuracy("loihi")),
            ("fraction of samples whose class changes", None, self.fraction_changed),
            ("readout: max |loihi - float| / max |float|", None, float(np.abs(qv - fv).max() / scale)),
            ("readout: correlation loihi vs float", None,
             float(np.corrcoef(fv.ravel(), qv.ravel())[0, 1]) if fv.std() > 0 and qv.std() > 0 else None),
        ]
        for _, r in self.rates().iterrows():
            rows.append((f"{r.population}: spikes per neuron per step",
                         r.float_spikes_per_neuron_per_step, r.loihi_spikes_per_neuron_per_step))
            rows.append((f"{r.population}: per-neuron spike count correlation", None,
                         r.per_neuron_count_correlation))
        return pd.DataFrame(rows, columns=["metric", "float", "loihi"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy_float": self.accuracy("float"),
            "accuracy_loihi": self.accuracy("loihi"),
            "fraction_changed": self.fraction_changed,
            "rates": self.rates().to_dict(orient="records"),
            "conventions": dict(self.qnet.conventions),
            **self.info,
        }

    # -- plot ----------------------------------------------------------------------
    def plot(self, path: str | Path | None = None, *, sample: int = 0, overwrite: bool = False):
        """Figure: rates, per-neuron counts, accuracy/changes, one sample's readout traces.

        Saved to ``path`` (PNG, atomically) when given; returns the matplotlib Figure.
        """
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rates = self.rates()
        fig, axes = plt.subplots(2, 2, figsize=(11, 8))
        ax = axes[0, 0]
        x = np.arange(len(rates))
        ax.bar(x - 0.2, rates.float_rate_hz, 0.4, label="float (Brian2)")
        ax.bar(x + 0.2, rates.loihi_rate_hz, 0.4, label="Loihi mode")
        ax.set_xticks(x, rates.population)
        ax.set_ylabel("rate per neuron (Hz)")
        ax.set_title("firing rates")
        ax.legend()

        ax = axes[0, 1]
        for pop in self.loihi_activity.spikes:
            fn = self.float_activity.neuron_counts(pop).mean(0) / self.float_activity.n_steps
            qn = self.loihi_activity.neuron_counts(pop).mean(0) / self.loihi_activity.n_steps
            ax.scatter(fn, qn, s=8, alpha=0.6, label=pop)
        lim = ax.get_xlim()[1] or 1.0
        ax.plot([0, lim], [0, lim], "k--", lw=1)
        ax.set_xlabel("float: spikes per step")
        ax.set_ylabel("Loihi: spikes per step")
        ax.set_title("per neuron")
        ax.legend()

        ax = axes[1, 0]
        names, values = ["class changed"], [self.fraction_changed]
        if self.labels is not None:
            names = ["accuracy float", "accuracy Loihi"] + names
            values = [self.accuracy("float"), self.accuracy("loihi")] + values
        ax.bar(names, values, color=["C0", "C1", "C3"][-len(values):])
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.3f}", ha="center", va="bottom")
        ax.set_ylim(0, 1.1)
        ax.set_title(f"{self.float_activity.n_samples} samples")

        ax = axes[1, 1]
        fa, qa = self.float_activity, self.loihi_activity
        steps = np.arange(fa.n_steps)
        for k in range(fa.readout.shape[2]):
            line, = ax.plot(steps, fa.readout[sample, :, k] * 1e3, lw=1)
            ax.plot(steps, self.to_volts(qa.readout[sample, :, k]) * 1e3, ls="--", lw=1, color=line.get_color())
        ax.set_xlabel("step")
        ax.set_ylabel("readout (mV): solid float, dashed Loihi")
        ax.set_title(f"sample {sample}")
        fig.tight_layout()
        if path is not None:
            from biolstm.fileio import atomic_writer

            with atomic_writer(path, overwrite=overwrite) as fh:
                fig.savefig(fh, format="png", dpi=110)
        return fig


def compare_quantization(
    spec: Any,
    inputs: SpikeTrains,
    labels: Sequence[int] | np.ndarray | None = None,
    *,
    qnet: QuantizedNetwork | None = None,
    backend: str = "numpy",
    batch_size: int | None = None,
    progress: bool = True,
    chip: str = "loihi1",
    **quantize_settings: Any,
) -> QuantizationComparison:
    """Run ``spec`` in float and in the Loihi mode on the same samples and compare.

    Parameters
    ----------
    spec : NetworkSpec
        The trained float network (needs a readout).
    inputs : SpikeTrains
    labels : array of int, optional
        True class per sample, for accuracies.
    qnet : QuantizedNetwork, optional
        Use this fixed-point network instead of quantizing ``spec``.
    backend : {"numpy", "cython", "cpp_standalone"}
        Brian2 backend of both runs.
    batch_size : int, optional
        Samples per Loihi-mode run (see :func:`simulate_quantized`).
    chip, **quantize_settings
        Passed to :func:`biolstm.loihi.quantize.quantize` when ``qnet`` is None.

    Returns
    -------
    QuantizationComparison
    """
    from biolstm.brian import simulate

    if spec.readout is None:
        raise ValueError("compare_quantization needs a NetworkSpec with a Readout (the class is its argmax)")
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (inputs.n_samples,):
            raise ValueError(f"labels have shape {labels.shape}; expected ({inputs.n_samples},), one per sample")
    float_activity = simulate(spec, inputs, backend, progress=progress)
    if qnet is None:
        loihi_activity = simulate_loihi(spec, inputs, backend, chip=chip, progress=progress,
                                        batch_size=batch_size, **quantize_settings)
        qnet = loihi_activity.metadata.pop("quantized_network")
    else:
        loihi_activity = simulate_quantized(qnet, inputs, backend, progress=progress, batch_size=batch_size)
    return QuantizationComparison(float_activity, loihi_activity, qnet, labels,
                                  info={"backend": backend, "quantize_settings": dict(quantize_settings)})
