"""Measure the neuron models against their analytic references; write results/neurons/.

Prints and saves (CSV) the relative errors that tests/test_neurons.py bounds:
* LIF rate vs the closed-form f-I curve (dt = 0.01 ms, 1 s);
* AHP steady-state rate vs the self-consistent quasi-static rate (dt = 0.1 ms, 6 s, last 2 s);
* AHP vs matched ALIF spike counts (dt = 0.1 ms, 4 s) at tau_m = 20 ms and 5 ms.

Run: python scripts/neuron_checks.py [--out results/neurons]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
from brian2 import Network, NeuronGroup, SpikeMonitor, ms, pA, prefs, second
from scipy.optimize import brentq

from biolstm.fileio import atomic_writer
from biolstm.neurons import AHPParams, ALIFParams, LIFParams, get_model, lif_rate


def spike_trains(model, params, currents, duration, dt):
    group = NeuronGroup(len(currents), dt=dt, **get_model(model).brian_kwargs(params))
    group.I_ext = currents
    mon = SpikeMonitor(group)
    Network(group, mon).run(duration)
    return [np.asarray(t) for t in mon.spike_trains().values()]


def isi_rate(times, after=0.0):
    t = times[times > after]
    return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/neurons")
    args = parser.parse_args()
    prefs.codegen.target = "numpy"
    rows = []
    lif = LIFParams(t_ref=2 * ms)
    currents = np.array([110, 130, 160, 200, 300, 500]) * pA
    for c, t in zip(currents, spike_trains("lif", lif, currents, 1 * second, 0.01 * ms)):
        ref = float(lif_rate(lif, c)[0])
        rows.append({"check": "lif_fI", "current_pA": float(c / pA), "simulated_hz": isi_rate(t),
                     "reference_hz": ref, "rel_error": isi_rate(t) / ref - 1})
    ahp = AHPParams()
    currents = np.array([300, 400, 600, 900]) * pA
    for c, t in zip(currents, spike_trains("ahp", ahp, currents, 6 * second, 0.1 * ms)):
        f_lif = lambda i: float(lif_rate(ahp, i * pA)[0])  # noqa: E731
        ref = brentq(lambda f: f - f_lif(float(c / pA) - 24 * f * 0.7), 0, f_lif(float(c / pA)))
        rows.append({"check": "ahp_quasi_static", "current_pA": float(c / pA),
                     "simulated_hz": isi_rate(t, after=4.0), "reference_hz": ref,
                     "rel_error": isi_rate(t, after=4.0) / ref - 1, "f_tau_ahp": ref * 0.7})
    for tau_m in (20 * ms, 5 * ms):
        a = AHPParams(tau_m=tau_m)
        currents = np.array([150, 200, 300, 450, 700, 1000]) * pA
        n_ahp = [len(t) for t in spike_trains("ahp", a, currents, 4 * second, 0.1 * ms)]
        n_alif = [len(t) for t in spike_trains("alif", ALIFParams.matched_to(a), currents, 4 * second, 0.1 * ms)]
        for c, x, y in zip(currents, n_ahp, n_alif):
            rows.append({"check": f"ahp_vs_alif_tau_m_{tau_m / ms:g}ms", "current_pA": float(c / pA),
                         "simulated_hz": y / 4, "reference_hz": x / 4, "rel_error": y / x - 1})
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    out = Path(args.out)
    with atomic_writer(out / "neuron_checks.csv", overwrite=True, mode="w") as fh:
        table.to_csv(fh, index=False)
    print(f"wrote {out / 'neuron_checks.csv'}")


if __name__ == "__main__":
    main()
