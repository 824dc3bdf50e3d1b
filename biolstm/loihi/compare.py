"""Quantization-aware evaluation: a network before and after Loihi quantization, same samples.

:func:`compare_quantization` runs a float :class:`~biolstm.spec.NetworkSpec` with the Brian2
runner and its Loihi fixed-point version in the Loihi-exact mode
(:mod:`biolstm.loihi.emulate`) on the same :class:`~biolstm.encoding.SpikeTrains` and
returns a :class:`QuantizationComparison`: accuracy of both (when labels are given), the
fraction of samples whose predicted class changes, firing rates per population and per
neuron, and how far the readouts moved; ``.table()`` and ``.plot()`` show them.

:func:`simulate_loihi` (re-exported from :mod:`biolstm.loihi.emulate`) quantizes and
emulates in one call; it is what ``biolstm eval ... --mode loihi`` runs.

:func:`example_lif_pair` builds a small float network and its exact Loihi counterpart by
hand (no quantizer needed), for the docs, tests and ``scripts/compare_quantization.py --demo``.
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

__all__ = ["QuantizationComparison", "compare_quantization", "simulate_loihi", "example_lif_pair"]


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


def example_lif_pair(seed: int = 0, n_samples: int = 40, n_steps: int = 200, *, weight_step: int = 1,
                     p_high: float = 0.045, p_low: float = 0.03):
    """A small 2-class LIF network as a float NetworkSpec and a hand-quantized Loihi version.

    Two input halves (20 channels each) fire with probability ``p_high`` or ``p_low`` per
    step depending on the class; 60 LIF neurons (30 listen mostly to each half, with
    recurrent inhibition) drive 2 leaky readouts. The float weights are real numbers in
    "mantissa units" ``w`` (volts ``w/127 * v_th``); the Loihi version rounds them to the
    nearest multiple of ``weight_step`` (1 = 8-bit magnitude; 16 = 4 bits), exponent 0,
    with the paper's neuron settings (decay_v 204, decay_u 4096, vth 127*64). The float
    network uses the chip's effective time constant ``tau_m = -dt/ln(1 - 204/4096)``, so the
    two differ by weight rounding and the chip's truncating arithmetic only. The weights are
    set by construction, not trained.

    Returns
    -------
    spec, qnet, inputs, labels
    """
    from brian2 import mV, ms

    from biolstm.loihi.fixed_point import QuantizedPopulation, QuantizedProjection
    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

    rng = np.random.default_rng(seed)
    n_in, n_hid, n_out = 40, 60, 2
    w_in = np.zeros((n_in, n_hid), np.int64)
    for half in (0, 1):
        rows = slice(20 * half, 20 * half + 20)
        cols = slice(30 * half, 30 * half + 30)
        w_in[rows, cols] = rng.integers(20, 90, (20, 30)) * (rng.random((20, 30)) < 0.4)
        other = slice(30 * (1 - half), 30 * (1 - half) + 30)
        w_in[rows, other] = rng.integers(5, 30, (20, 30)) * (rng.random((20, 30)) < 0.3)
    w_rec = -rng.integers(5, 40, (n_hid, n_hid)) * (rng.random((n_hid, n_hid)) < 0.1)
    np.fill_diagonal(w_rec, 0)
    w_out = np.zeros((n_hid, n_out), np.int64)
    w_out[:30, 0], w_out[30:, 1] = rng.integers(40, 120, 30), rng.integers(40, 120, 30)
    w_out[:30, 1], w_out[30:, 0] = -rng.integers(10, 60, 30), -rng.integers(10, 60, 30)

    # float weights: real numbers around the integers; Loihi: rounded to the mantissa grid
    w_in, w_rec, w_out = (np.where(w != 0, w + rng.uniform(-0.5, 0.5, w.shape), 0.0) for w in (w_in, w_rec, w_out))
    step = int(weight_step)

    def rounded(w):
        return np.clip(step * np.rint(w / step), -256, 255).astype(np.int64)

    v_th = 10 * mV
    tau = -1 * ms / np.log(1 - 204 / 4096)
    spec = NetworkSpec(
        populations=[Population("hid", n_hid, "lif", {"tau_m": tau, "v_th": v_th}),
                     Population("out", n_out, "li", {"tau_m": tau})],
        inputs=[InputGroup("inp", n_in)],
        projections=[Projection("in_hid", "inp", "hid", w_in / 127 * v_th),
                     Projection("hid_hid", "hid", "hid", w_rec / 127 * v_th),
                     Projection("hid_out", "hid", "out", w_out / 127 * v_th)],
        readout=Readout("out", "v", "last"),
        metadata={"name": "example_lif_pair", "loihi": {"volt_per_unit": {"hid": 0.01 / 8128, "out": 0.01 / 8128}}},
    )

    def proj(name, pre, post, w):
        i, j = np.nonzero(w)
        return QuantizedProjection(name, pre, post, i.astype(np.int64), j.astype(np.int64), w[i, j],
                                   0, "mixed" if (w < 0).any() and (w > 0).any() else
                                   ("inhibitory" if (w < 0).any() else "excitatory"), 8,
                                   np.zeros(len(i), np.int64))

    qnet = QuantizedNetwork(
        "loihi1", 1e-3, {"inp": n_in},
        [QuantizedPopulation("hid", n_hid, "lif", 4096, 204, 127, 1, 0.01 / 8128),
         QuantizedPopulation("out", n_out, "li", 4096, 204, 2**17 - 1, 1, 0.01 / 8128, spiking=False)],
        [proj("in_hid", "inp", "hid", rounded(w_in)), proj("hid_hid", "hid", "hid", rounded(w_rec)),
         proj("hid_out", "hid", "out", rounded(w_out))],
        readout=("out", "v", "last"),
        conventions={"source": f"example_lif_pair: float w/127*v_th, mantissa = w rounded to a grid of {step}"},
    )
    labels = rng.integers(0, 2, n_samples)
    prob = np.where(np.arange(n_in)[None, :] < 20, np.where(labels[:, None] == 0, p_high, p_low),
                    np.where(labels[:, None] == 0, p_low, p_high))
    dense = rng.random((n_samples, n_steps, n_in)) < prob[:, None, :]
    return spec, qnet, SpikeTrains.from_dense({"inp": dense}), labels
