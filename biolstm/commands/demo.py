"""``biolstm demo``: an AHP network driven by Poisson input, simulated in Brian2.

A recurrent network of 100 LIF and 100 AHP neurons receives 80 Poisson channels
for one second per sample. The command prints what it measured: firing rate per
population, spike-frequency adaptation (rate in the first 100 ms against the last
500 ms), the coefficient of variation of interspike intervals, and the mean AHP
current, and writes ``summary.csv`` plus a figure to ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

__all__ = ["add_arguments", "run", "poisson_ahp_network"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="numpy", help="Brian2 backend (default numpy)")
    parser.add_argument("--samples", type=int, default=4, help="independent 1-s samples (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and input (default 0)")
    parser.add_argument("--out", default="results/demo", help="folder for summary.csv and demo.png")


def poisson_ahp_network(seed: int = 0):
    """The demo network: 80 inputs -> 100 LIF + 100 AHP neurons, sparse random weights.

    Returns a :class:`~biolstm.spec.NetworkSpec`; weights are drawn with ``seed``.
    """
    from brian2 import mV

    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection

    rng = np.random.default_rng(seed)

    def sparse(n_pre: int, n_post: int, p: float, mean: float, sd: float) -> np.ndarray:
        w = rng.normal(mean, sd, (n_pre, n_post))
        return np.where(rng.random((n_pre, n_post)) < p, w, 0.0)

    return NetworkSpec(
        populations=[Population("lif", 100, "lif"), Population("ahp", 100, "ahp")],
        inputs=[InputGroup("poisson", 80)],
        projections=[
            Projection("in_lif", "poisson", "lif", np.abs(sparse(80, 100, 0.2, 3.0, 1.0)) * mV,
                       sign="excitatory"),
            Projection("in_ahp", "poisson", "ahp", np.abs(sparse(80, 100, 0.2, 3.5, 1.0)) * mV,
                       sign="excitatory"),
            Projection("lif_ahp", "lif", "ahp", sparse(100, 100, 0.1, 0.0, 1.5) * mV),
            Projection("ahp_lif", "ahp", "lif", sparse(100, 100, 0.1, 0.0, 1.5) * mV),
        ],
        metadata={"name": "biolstm demo: Poisson-driven AHP network"},
    )


def _isi_cv(activity, population: str) -> float:
    cvs = []
    for s in range(activity.n_samples):
        steps, neurons = activity.spike_times(population, s)
        steps = np.asarray(steps)
        for n in np.unique(neurons):
            isi = np.diff(np.sort(steps[neurons == n]))
            if len(isi) >= 3:
                cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from brian2 import Hz

    from biolstm.brian import simulate
    from biolstm.encoding import poisson_spike_trains

    spec = poisson_ahp_network(args.seed)
    n_steps = int(round(1.0 / float(spec.dt)))
    inputs = poisson_spike_trains("poisson", 80, 20 * Hz, n_steps, spec.dt, args.samples, args.seed)
    print(spec.summary())
    print(f"Input: 80 Poisson channels at 20 Hz, {args.samples} samples of 1 s (dt = {spec.dt}), "
          f"backend {args.backend}")
    activity = simulate(spec, inputs, args.backend, record={"ahp": (["v", "I_ahp"], [0, 1, 2])})

    early, late = slice(0, n_steps // 10), slice(n_steps // 2, n_steps)
    rows = []
    for pop in ("lif", "ahp"):
        counts = activity.spike_counts(pop)
        size = activity.population_sizes[pop]
        rate_early = counts[:, early].sum() / (size * args.samples * (early.stop - early.start) * activity.dt)
        rate_late = counts[:, late].sum() / (size * args.samples * (late.stop - late.start) * activity.dt)
        rows.append({
            "population": pop,
            "rate_hz": float(activity.rate(pop) / Hz),
            "spikes_per_neuron_per_step": activity.rate_per_step(pop),
            "rate_first_100ms_hz": rate_early,
            "rate_last_500ms_hz": rate_late,
            "adaptation_ratio_late_over_early": rate_late / rate_early if rate_early else float("nan"),
            "isi_cv": _isi_cv(activity, pop),
        })
    table = pd.DataFrame(rows)
    i_ahp = activity.traces["ahp.I_ahp"]
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"Mean AHP current of neurons 0-2 in the last 500 ms: {i_ahp[:, late].mean() * 1e12:.1f} pA")
    print(f"Wall time: {sum(activity.timings.values()):.1f} s ({activity.timings})")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from biolstm.fileio import atomic_writer

    with atomic_writer(out / "summary.csv", overwrite=True, mode="w") as fh:
        table.to_csv(fh, index=False)
    _plot(activity, out / "demo.png")
    print(f"Wrote {out / 'summary.csv'} and {out / 'demo.png'}")
    return 0


def _plot(activity, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    t_ms = np.arange(activity.n_steps) * activity.dt * 1e3
    for offset, pop, color in ((0, "lif", "tab:blue"), (100, "ahp", "tab:red")):
        steps, neurons = activity.spike_times(pop, 0)
        axes[0].plot(np.asarray(steps) * 1e3, neurons + offset, "|", ms=2, color=color, label=pop)
    axes[0].set_ylabel("neuron")
    axes[0].legend(loc="upper right")
    axes[0].set_title("Sample 0: spikes (LIF 0-99, AHP 100-199)")
    axes[1].plot(t_ms, activity.traces["ahp.v"][0] * 1e3)
    axes[1].set_ylabel("AHP neuron v (mV)")
    axes[2].plot(t_ms, activity.traces["ahp.I_ahp"][0] * 1e12)
    axes[2].set_ylabel("I_ahp (pA)")
    axes[2].set_xlabel("time (ms)")
    fig.tight_layout()
    from biolstm.fileio import atomic_writer

    with atomic_writer(path, overwrite=True) as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
