"""Compare two simulations of the same network and inputs (e.g. GPU against CPU).

Different backends may sum synaptic input in a different order (a GPU adds with
atomic operations in no fixed order), so two correct simulations can differ in the
last bits of the membrane and, rarely, in a spike that sits right at threshold, after
which the sample's trajectories drift apart. :func:`compare_activities` therefore
reports how much agrees instead of a yes/no.
"""

from __future__ import annotations

import numpy as np

from biolstm.activity import Activity

__all__ = ["compare_activities"]


def _rows(ev: np.ndarray) -> set:
    return set(map(tuple, np.asarray(ev, dtype=np.int64).tolist()))


def compare_activities(reference: Activity, other: Activity) -> dict:
    """How far ``other`` agrees with ``reference`` (same network, same inputs).

    Returns
    -------
    dict
        ``identical`` (bool: every spike and readout value equal),
        ``spike_match`` (spikes present in both / spikes in the larger of the two),
        ``spikes_reference``, ``spikes_other``,
        ``samples_identical_spikes`` (fraction of samples whose spikes all agree),
        ``readout_max_abs_diff`` (SI units), ``prediction_agreement`` (fraction of
        samples with the same predicted class; NaN without readout).
    """
    if (reference.n_samples, reference.n_steps) != (other.n_samples, other.n_steps):
        raise ValueError(
            f"cannot compare {reference.n_samples} samples x {reference.n_steps} steps with "
            f"{other.n_samples} x {other.n_steps}")
    common = total_ref = total_other = 0
    same_sample = np.ones(reference.n_samples, bool)
    for pop in sorted(set(reference.spikes) | set(other.spikes)):
        a = reference.spikes.get(pop, np.zeros((0, 3), np.int64))
        b = other.spikes.get(pop, np.zeros((0, 3), np.int64))
        ra, rb = _rows(a), _rows(b)
        common += len(ra & rb)
        total_ref += len(ra)
        total_other += len(rb)
        for sample, _, _ in ra ^ rb:
            same_sample[sample] = False
    biggest = max(total_ref, total_other)
    readout_diff = float("nan")
    agreement = float("nan")
    if reference.readout is not None and other.readout is not None:
        readout_diff = float(np.max(np.abs(reference.readout - other.readout))) if reference.readout.size else 0.0
        agreement = float(np.mean(reference.predictions() == other.predictions()))
    return {
        "identical": bool(common == total_ref == total_other and readout_diff == 0.0),
        "spike_match": common / biggest if biggest else 1.0,
        "spikes_reference": total_ref,
        "spikes_other": total_other,
        "samples_identical_spikes": float(same_sample.mean()),
        "readout_max_abs_diff": readout_diff,
        "prediction_agreement": agreement,
    }
