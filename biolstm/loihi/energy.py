"""Energy, latency and energy-delay product of a placed network, from simulated spikes.

``estimate(placement, activity, model="davies2018"|"sanafe", calibration="smnist2021")
-> EnergyReport``.

Components (as NxSDK's energy probe splits a measured run, docs/sources.md L3d; Rao et al.'s
notebooks read ``powerProfileStats.power['core'|'lakemont']['dynamic'|'static']``):

``neurocore_dynamic``
    The per-event sum of ``model`` over the counted events (below); not fitted.
``neurocore_static``
    Static power per neurocore in use x latency (``static="core"``, as the probe
    charges it), or per powered chip (``static="chip"``, F20's 104 mW: the whole chip).
``x86_dynamic``, ``x86_static``
    The embedded x86 (Lakemont) cores' dynamic and static power per chip x latency.
    Their dynamic part covers input injection and the per-step management together:
    no published measurement separates the two.

Latency per step = neurocore time of ``model`` + barrier/sync + the x86 cores' time per
step; host time is excluded, as in the measurements (effective = total - host time).

The chip-level figures (neurocore static per core, x86 power per chip, x86 time per
step) come from a *calibration* of the chip file: ``smnist2021`` reads them off Rao et
al.'s sMNIST run (1 core, 1 chip), ``relnet2021`` fits them on their RelNet run (22
chips) with biolstm's stand-in of that network. Each report lists every figure used,
its source and whether it is fitted (``EnergyReport.figures``);
``scripts/energy_check.py`` shows each calibration's error on the other run.

Events are counted from an :class:`~biolstm.activity.Activity` (spikes per neuron and
step, input spikes per step) and the placement's routes (which cores each neuron's
spikes reach, how many synapses there, how many mesh hops away), and charged with the
per-event figures of the chip file (docs/sources.md L3):

``davies2018`` (Davies et al. 2018, Table 2, pre-silicon)
    ``E = 81*N_act + 52*N_inact + 23.6*S + 1.7*M + 3.0*H_ew + 4.0*H_ns`` pJ per step;
    step time ``max_c(8.4*N_act,c + 5.3*N_inact,c + 3.5*S_c) ns + longest route +
    barrier`` (113..465 ns for 1..32 tiles, 14.3 us across chips).
``sanafe`` (SANA-FE's Loihi model, calibrated on silicon)
    ``E = 51.2*N_map + 21.6*N_upd + 69.3*N_fire + 111*M + 33.6*S + 3.0*H_ew + 4.2*H_ns``
    pJ; step time ``max(max_c neuron side, max_c message side) + sync`` where the neuron
    side is ``sum(6.0 + 3.7*upd + 30*fired) + 5.1*messages sent`` and the message side
    ``16*messages received + 4.7*S_c`` ns. :mod:`.sanafe_export` checks this counting
    against the SANA-FE simulator itself.

Here ``N_map`` is the mapped compartments (an AHP neuron counts 2 on Loihi 1), ``S``
synaptic operations (each spike times the synapses it reaches; an AHP spike also
reaches its auxiliary compartment), ``M`` messages (one per firing neuron and
destination core) and ``H`` mesh hops (chips laid side by side, east-west).

Which compartments are "active" (D18) or "updated" (SANA-FE) is not observable from
spikes alone: ``active="all"`` (default) counts every compartment every step, an upper
bound that is close for leaky networks whose potentials rarely return to exactly 0;
``active="input"`` counts only compartments that received a synaptic event or fired, a
lower bound. The report states which one was used.

Input spikes are messages from the injection point (assumed at chip 0, tile 0) to every
core their channel reaches; their mesh energy is part of ``neurocore_dynamic``
(``input_messages``), the x86 work of injecting them part of ``x86_dynamic``.
``EDP = energy per inference x latency per inference``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse

from biolstm.loihi.placement import Placement

__all__ = ["EnergyReport", "estimate", "ENERGY_MODELS", "EventCounts", "count_events", "COMPONENTS",
           "CALIBRATIONS", "DEFAULT_CALIBRATION", "calibration_figures", "latency_rows"]

ENERGY_MODELS = ("davies2018", "sanafe")
ROW_CHUNK = 4096


@dataclass
class EventCounts:
    """Events per (sample, step) row of an inference batch (rows = n_samples*n_steps).

    Attributes
    ----------
    n_samples, n_steps : int
    compartments_per_core : ndarray [n_cores]
    fired : sparse [rows, n_cores]      spikes emitted per core
    synops : sparse [rows, n_cores]     synaptic operations per receiving core
    msg_in : sparse [rows, n_cores]     messages received per core
    msg_out : sparse [rows, n_cores]    messages sent per core
    hops_ew, hops_ns : ndarray [rows]   mesh hops of all messages (population spikes)
    route_ns : dict of model -> ndarray [rows]  longest route latency of the step
    injected : ndarray [rows]           input spikes injected
    inj_synops : ndarray [rows, n_cores] or sparse   synaptic ops of input spikes per core
    inj_msgs, inj_hops_ew, inj_hops_ns : ndarray [rows]
    active : sparse [rows, n_cores] or None  active compartments per core (``active="input"``)
    input_chips : int                   chips that receive input spikes
    notes : list of str
    """

    n_samples: int
    n_steps: int
    compartments_per_core: np.ndarray
    fired: Any
    synops: Any
    msg_in: Any
    msg_out: Any
    hops_ew: np.ndarray
    hops_ns: np.ndarray
    route_hops: tuple[np.ndarray, np.ndarray, np.ndarray]
    injected: np.ndarray
    inj_synops: Any
    inj_msg_in: Any
    inj_msgs: np.ndarray
    inj_hops_ew: np.ndarray
    inj_hops_ns: np.ndarray
    active: Any
    input_chips: int
    notes: list[str] = field(default_factory=list)


class _Rank1:
    """Rows x cores matrix ``outer(c, m)`` kept as its two factors."""

    def __init__(self, c: np.ndarray, m: np.ndarray):
        self.c, self.m = c, m

    def row_sums(self) -> np.ndarray:
        return self.c * self.m.sum()

    def rows(self, a: int, b: int) -> np.ndarray:
        return np.outer(self.c[a:b], self.m)


class _Sum:
    """Sum of sparse matrices and :class:`_Rank1` terms, read by rows."""

    def __init__(self, parts: list, R: int, C: int):
        self.parts, self.R, self.C = parts, R, C

    def row_sums(self) -> np.ndarray:
        out = np.zeros(self.R)
        for p in self.parts:
            out += p.row_sums() if isinstance(p, _Rank1) else np.asarray(p.sum(axis=1)).ravel()
        return out

    def rows(self, a: int, b: int) -> np.ndarray:
        out = np.zeros((b - a, self.C))
        for p in self.parts:
            out += p.rows(a, b) if isinstance(p, _Rank1) else p[a:b].toarray()
        return out


def _routes_matrices(pl: Placement, source: str, n: int, home: np.ndarray | None):
    """Per-neuron sparse [n, n_cores] synapse and message matrices, and hop vectors."""
    C = pl.n_cores
    r = pl.routes.get(source)
    rows, cols, syn = [], [], []
    if r is not None:
        rows.append(r.pre.astype(np.int64))
        cols.append(r.core.astype(np.int64))
        syn.append(r.synapses.astype(np.float64))
    extra = int(pl.chip.value("ahp_extra_axons_and_synapses") or 0)
    pop = next((p for p in pl.qnet.populations if p.name == source), None)
    aux = pop is not None and pop.model == "ahp" and extra > 0
    if aux:  # the main -> auxiliary synapse on the neuron's own core (its own axon)
        rows.append(np.arange(n, dtype=np.int64))
        cols.append(home.astype(np.int64))
        syn.append(np.full(n, float(extra)))
    if not rows:
        z = scipy.sparse.csr_matrix((n, C))
        return z, z, np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    row, col, s = np.concatenate(rows), np.concatenate(cols), np.concatenate(syn)
    A_syn = scipy.sparse.csr_matrix((s, (row, col)), shape=(n, C))
    A_msg = scipy.sparse.csr_matrix((np.ones_like(s), (row, col)), shape=(n, C))
    if home is None:  # host injection point: chip 0, tile 0
        sx = np.zeros(len(row), dtype=np.int64)
        sy = np.zeros(len(row), dtype=np.int64)
    else:
        _, sx, sy = pl.core_xy(home[row])
    _, dx, dy = pl.core_xy(col)
    ew, ns = np.abs(dx - sx), np.abs(dy - sy)
    hops_ew = np.bincount(row, weights=ew, minlength=n)[:n]
    hops_ns = np.bincount(row, weights=ns, minlength=n)[:n]
    max_ew = np.zeros(n)
    max_ns = np.zeros(n)
    np.maximum.at(max_ew, row, ew)
    np.maximum.at(max_ns, row, ns)
    return A_syn, A_msg, hops_ew, hops_ns, max_ew, max_ns


def count_events(pl: Placement, activity, *, active: str = "all", inputs=None) -> EventCounts:
    """Count the events of every (sample, step) of ``activity`` on placement ``pl``.

    Parameters
    ----------
    pl : Placement
    activity : Activity
        Spikes per population (rows ``(sample, step, neuron)``) and input counts.
    active : {"all", "input"}
        Which compartments count as active/updated (see module docstring).
    inputs : SpikeTrains, optional
        The input spikes with their channels; without it every input spike of a group
        is charged the group's mean fan-out (Activity stores counts, not channels).
    """
    if active not in ("all", "input"):
        raise ValueError(f"active={active!r} must be 'all' or 'input'")
    S, T = int(activity.n_samples), int(activity.n_steps)
    R, C = S * T, pl.n_cores
    notes: list[str] = []
    comps = np.asarray(pl.core_usage["compartments"], dtype=np.float64)
    fired = scipy.sparse.csr_matrix((R, C))
    synops = scipy.sparse.csr_matrix((R, C))
    msg_in = scipy.sparse.csr_matrix((R, C))
    msg_out = scipy.sparse.csr_matrix((R, C))
    hops_ew = np.zeros(R)
    hops_ns = np.zeros(R)
    route_ew = np.zeros(R)
    route_ns = np.zeros(R)
    routed = np.zeros(R, dtype=bool)
    act = scipy.sparse.csr_matrix((R, C)) if active == "input" else None
    receivers: dict[str, Any] = {}
    for pop in pl.qnet.populations:
        n = pop.size
        home = pl.core_of[pop.name]
        if not pop.spiking or pop.name not in activity.spikes:
            continue
        ev = np.asarray(activity.spikes[pop.name])
        if len(ev) == 0:
            continue
        row = ev[:, 0].astype(np.int64) * T + ev[:, 1].astype(np.int64)
        Z = scipy.sparse.csr_matrix((np.ones(len(ev)), (row, ev[:, 2].astype(np.int64))), shape=(R, n))
        A_syn, A_msg, h_ew, h_ns, m_ew, m_ns = _routes_matrices(pl, pop.name, n, home)
        H = scipy.sparse.csr_matrix((np.ones(n), (np.arange(n), home.astype(np.int64))), shape=(n, C))
        n_msg = np.asarray(A_msg.sum(axis=1)).ravel()
        fired = fired + Z @ H
        synops = synops + Z @ A_syn
        msg_in = msg_in + Z @ A_msg
        msg_out = msg_out + Z @ scipy.sparse.diags(n_msg) @ H
        hops_ew += Z @ h_ew
        hops_ns += Z @ h_ns
        np.maximum.at(route_ew, row, m_ew[ev[:, 2]])
        np.maximum.at(route_ns, row, m_ns[ev[:, 2]])
        routed[row[n_msg[ev[:, 2]] > 0]] = True
        if act is not None:
            receivers[pop.name] = (Z, ev)
    # input spikes
    injected = np.zeros(R)
    inj_parts_syn: list = []
    inj_parts_msg: list = []
    inj_msgs = np.zeros(R)
    inj_ew = np.zeros(R)
    inj_ns = np.zeros(R)
    input_cores: set[int] = set()
    for name, size in pl.qnet.inputs.items():
        A_syn, A_msg, h_ew, h_ns, _, _ = _routes_matrices(pl, name, size, None)
        input_cores |= set(np.unique(A_msg.indices).tolist())
        if inputs is not None and name in getattr(inputs, "events", {}):
            ev = np.asarray(inputs.events[name])
            row = ev[:, 0].astype(np.int64) * T + ev[:, 1].astype(np.int64)
            Z = scipy.sparse.csr_matrix((np.ones(len(ev)), (row, ev[:, 2].astype(np.int64))), shape=(R, size))
            if act is not None:
                receivers[name] = (Z, ev)
        else:
            counts = np.asarray(activity.input_counts.get(name, np.zeros((S, T))), dtype=np.float64).reshape(R)
            if counts.any():
                notes.append(f"input '{name}': channels unknown (Activity holds counts); each input spike is "
                             f"charged the group's mean fan-out")
            if act is not None:
                receivers[name] = (scipy.sparse.csr_matrix((counts > 0).astype(float)[:, None]) @
                                   scipy.sparse.csr_matrix(np.ones((1, size))), None)
            mean_syn = np.asarray(A_syn.sum(axis=0)).ravel() / size
            mean_msg = np.asarray(A_msg.sum(axis=0)).ravel() / size
            injected += counts
            inj_parts_syn.append(_Rank1(counts, mean_syn))
            inj_parts_msg.append(_Rank1(counts, mean_msg))
            inj_msgs += counts * mean_msg.sum()
            inj_ew += counts * h_ew.mean()
            inj_ns += counts * h_ns.mean()
            continue
        injected += np.asarray(Z.sum(axis=1)).ravel()
        inj_parts_syn.append(Z @ A_syn)
        inj_parts_msg.append(Z @ A_msg)
        inj_msgs += np.asarray((Z @ A_msg).sum(axis=1)).ravel()
        inj_ew += Z @ h_ew
        inj_ns += Z @ h_ns
    if act is not None:
        act = _active_compartments(pl, receivers, R)
    input_chips = len({c // pl.limits.cores_per_chip for c in input_cores})
    return EventCounts(
        n_samples=S, n_steps=T, compartments_per_core=comps, fired=fired.tocsr(), synops=synops.tocsr(),
        msg_in=msg_in.tocsr(), msg_out=msg_out.tocsr(), hops_ew=hops_ew, hops_ns=hops_ns,
        route_hops=(route_ew, route_ns, routed), injected=injected, inj_synops=_Sum(inj_parts_syn, R, C),
        inj_msg_in=_Sum(inj_parts_msg, R, C), inj_msgs=inj_msgs, inj_hops_ew=inj_ew, inj_hops_ns=inj_ns,
        active=act, input_chips=input_chips, notes=notes)


def _active_compartments(pl: Placement, receivers: dict, R: int):
    """Compartments per core that received a synaptic event or fired, per row."""
    C = pl.n_cores
    total = scipy.sparse.csr_matrix((R, C))
    for pop in pl.qnet.populations:
        n = pop.size
        hit = scipy.sparse.csr_matrix((R, n))
        for proj in pl.qnet.projections:
            if proj.post != pop.name or proj.pre not in receivers:
                continue
            Z, _ = receivers[proj.pre]
            conn = scipy.sparse.csr_matrix((np.ones(proj.n_synapses), (proj.pre_index, proj.post_index)),
                                           shape=(proj.n_pre, proj.n_post))
            hit = hit + Z @ conn
        if pop.name in receivers:
            hit = hit + receivers[pop.name][0]
        hit = (hit > 0).astype(np.float64)
        H = scipy.sparse.csr_matrix((np.full(n, float(pop.compartments_per_neuron)),
                                     (np.arange(n), pl.core_of[pop.name].astype(np.int64))), shape=(n, C))
        total = total + hit @ H
    return total.tocsr()


# --------------------------------------------------------------------------------------
# charging the events
# --------------------------------------------------------------------------------------

#: The components of :attr:`EnergyReport.components_J`, named as NxSDK's energy probe
#: names them (``powerProfileStats.power['core'|'lakemont']['dynamic'|'static']``).
COMPONENTS = ("neurocore_dynamic", "neurocore_static", "x86_dynamic", "x86_static")
CALIBRATIONS = ("smnist2021", "relnet2021")
DEFAULT_CALIBRATION = "smnist2021"


@dataclass
class EnergyReport:
    """Energy and time per inference under one named model and calibration.

    Attributes
    ----------
    model : str
        ``"davies2018"`` or ``"sanafe"``: the per-event figures of the neurocores.
    calibration : str or None
        Which measured run the chip-level figures (static powers, x86 power, x86 time
        per step) were fitted on (``"smnist2021"``, ``"relnet2021"``), or None.
    model_description : str
    chip : str
    n_samples, n_steps : int
    dt : float
        Seconds of the float model per step (not Loihi time).
    components_J : dict of str to float
        Mean energy per inference of each component, as NxSDK's energy probe splits it:
        ``neurocore_dynamic``, ``neurocore_static``, ``x86_dynamic``, ``x86_static``.
        They sum to :attr:`energy_per_inference_J`.
    neurocore_dynamic_parts_J : dict of str to float
        ``neurocore_dynamic`` by event: ``neuron_updates``, ``synaptic_ops``,
        ``spikes_out`` (SANA-FE only), ``messages``, ``hops``, ``input_messages``
        (the mesh messages and hops of injected input spikes).
    power_W : dict of str to float
        Mean power of each component over the inference (energy / latency).
    latency_parts_s : dict of str to float
        Per inference: ``neurocore`` (the per-event step time), ``sync`` (barrier) and
        ``x86`` (the embedded x86 cores' per-step management); they sum to the latency.
        Host time is excluded, as in Rao et al.'s measurements (docs/sources.md L3d).
    figures : list of dict
        Every chip-level figure used: name, value, unit, source, whether fitted.
    counts : dict of str to float
        Mean events per inference.
    latency_per_step_s, latency_per_inference_s : float
    energy_per_inference_J, dynamic_per_inference_J, static_per_inference_J : float
    edp_Js : float
        Energy-delay product: mean energy per inference x mean latency per inference
        (J*s), as Rao et al. computed it.
    static_power_W : float
        Neurocore + x86 static power.
    cores, chips : int
    assumptions : list of str
    per_sample : dict of str to ndarray
        ``energy_J`` and ``latency_s`` per sample.
    """

    model: str
    model_description: str
    chip: str
    n_samples: int
    n_steps: int
    dt: float
    components_J: dict[str, float]
    counts: dict[str, float]
    latency_per_step_s: float
    latency_per_inference_s: float
    energy_per_inference_J: float
    dynamic_per_inference_J: float
    static_per_inference_J: float
    edp_Js: float
    static_power_W: float
    calibration: str | None = None
    neurocore_dynamic_parts_J: dict[str, float] = field(default_factory=dict)
    power_W: dict[str, float] = field(default_factory=dict)
    latency_parts_s: dict[str, float] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    cores: int = 0
    chips: int = 0
    assumptions: list[str] = field(default_factory=list)
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``model`` or ``model/calibration``."""
        return f"{self.model}/{self.calibration}" if self.calibration else self.model

    def table(self):
        """pandas DataFrame: one row per component (then the neurocore dynamic parts).

        Columns: model, calibration, component, energy_J, energy_uJ, power_mW, share.
        The four components of :data:`COMPONENTS` and ``total`` have ``part_of`` empty;
        the rows of the neurocore dynamic parts have ``part_of="neurocore_dynamic"``.
        """
        import pandas as pd

        total = self.energy_per_inference_J or 1.0
        lat = self.latency_per_inference_s or 1.0
        rows = []
        for k, v in self.components_J.items():
            rows.append({"model": self.model, "calibration": self.calibration, "component": k, "part_of": "",
                         "energy_J": v, "energy_uJ": v * 1e6, "power_mW": v / lat * 1e3, "share": v / total})
        rows.append({"model": self.model, "calibration": self.calibration, "component": "total", "part_of": "",
                     "energy_J": self.energy_per_inference_J, "energy_uJ": self.energy_per_inference_J * 1e6,
                     "power_mW": self.energy_per_inference_J / lat * 1e3, "share": 1.0})
        for k, v in self.neurocore_dynamic_parts_J.items():
            rows.append({"model": self.model, "calibration": self.calibration, "component": k,
                         "part_of": "neurocore_dynamic", "energy_J": v, "energy_uJ": v * 1e6,
                         "power_mW": v / lat * 1e3, "share": v / total})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "calibration": self.calibration, "model_description": self.model_description,
            "chip": self.chip, "n_samples": self.n_samples, "n_steps": self.n_steps,
            "cores": self.cores, "chips": self.chips,
            "components_J": dict(self.components_J),
            "neurocore_dynamic_parts_J": dict(self.neurocore_dynamic_parts_J),
            "power_W": dict(self.power_W), "counts": dict(self.counts),
            "latency_per_step_s": self.latency_per_step_s,
            "latency_per_inference_s": self.latency_per_inference_s,
            "latency_parts_s": dict(self.latency_parts_s),
            "energy_per_inference_J": self.energy_per_inference_J,
            "dynamic_per_inference_J": self.dynamic_per_inference_J,
            "static_per_inference_J": self.static_per_inference_J,
            "edp_Js": self.edp_Js, "static_power_W": self.static_power_W,
            "figures": [dict(f) for f in self.figures],
            "assumptions": list(self.assumptions),
        }

    def to_text(self) -> str:
        lat = self.latency_per_inference_s or 1.0
        lines = [f"Energy model: {self.label} ({self.model_description}), chip {self.chip}, "
                 f"{self.cores} core(s), {self.chips} chip(s)",
                 f"  per inference ({self.n_steps} steps, mean of {self.n_samples} samples):"]
        for k, v in self.components_J.items():
            lines.append(f"    {k:<18} {v * 1e6:12.4f} uJ  {v / lat * 1e3:9.4g} mW")
            if k == "neurocore_dynamic":
                for p, pv in self.neurocore_dynamic_parts_J.items():
                    lines.append(f"      {p:<16} {pv * 1e6:12.4f} uJ")
        lines.append(f"    {'total':<18} {self.energy_per_inference_J * 1e6:12.4f} uJ  "
                     f"{self.energy_per_inference_J / lat * 1e3:9.4g} mW")
        parts = ", ".join(f"{k} {v * 1e3:.4g} ms" for k, v in self.latency_parts_s.items())
        lines.append(f"  latency {self.latency_per_step_s * 1e6:.4g} us/step, "
                     f"{self.latency_per_inference_s * 1e3:.4g} ms/inference ({parts}; host time excluded); "
                     f"EDP {self.edp_Js:.4g} J*s [{self.label}]")
        return "\n".join(lines)


def _rows_sum(x, S: int, T: int) -> np.ndarray:
    """Sum a [rows] vector or [rows, C] matrix per sample -> [S]."""
    if scipy.sparse.issparse(x):
        v = np.asarray(x.sum(axis=1)).ravel()
    else:
        v = np.asarray(x, dtype=np.float64)
        if v.ndim == 2:
            v = v.sum(axis=1)
    return v.reshape(S, T).sum(axis=1)


def _dense_rows(x, a: int, b: int, C: int) -> np.ndarray:
    if x is None:
        return np.zeros((b - a, C))
    if isinstance(x, _Sum):
        return x.rows(a, b)
    if scipy.sparse.issparse(x):
        return x[a:b].toarray()
    return np.asarray(x[a:b], dtype=np.float64)


def _interp_table(table: list, n: float, step: bool) -> float:
    keys = np.array([k for k, _ in table], dtype=float)
    vals = np.array([v for _, v in table], dtype=float)
    if step:  # largest key <= n
        i = max(int(np.searchsorted(keys, n, side="right")) - 1, 0)
        return float(vals[i])
    return float(np.interp(n, keys, vals))


def calibration_figures(chip, name: str | None) -> dict[str, Any] | None:
    """The chip-level figures of calibration ``name`` of ``chip`` (None: no calibration).

    Returns a dict of figure name -> ``{"value": ..., "source": ..., "fitted": bool}``
    (``x86_step_s`` has one value per energy model), or raises :class:`ChipError`
    naming the calibrations the chip has.
    """
    from biolstm.loihi.chips import ChipError

    if name is None:
        return None
    cals = chip.values.get("calibrations") or {}
    if name not in cals:
        have = sorted(cals) or "none"
        raise ChipError(f"chip '{chip.name}' has no calibration {name!r}; it has {have}. Pass calibration=None "
                        f"for the neurocore figures alone, or add one to {chip.path} under 'calibrations'")
    return cals[name]


def latency_rows(pl: Placement, ev: EventCounts, model: str) -> tuple[np.ndarray, float, list[str]]:
    """Neurocore step time per row (ns, without sync) and the sync/barrier time per step (ns)."""
    em = pl.chip.energy_model(model)
    C = pl.n_cores
    R = ev.n_samples * ev.n_steps
    notes: list[str] = []
    tiles = pl.tiles_used()
    latency = np.zeros(R)
    route_ew, route_ns, routed = ev.route_hops
    for a in range(0, R, ROW_CHUNK):
        b = min(a + ROW_CHUNK, R)
        syn_c = _dense_rows(ev.synops, a, b, C) + _dense_rows(ev.inj_synops, a, b, C)
        if ev.active is None:
            act_c = np.broadcast_to(ev.compartments_per_core, (b - a, C))
        else:
            act_c = _dense_rows(ev.active, a, b, C)
        if model == "davies2018":
            core_ns = (em["neuron_active_ns"] * act_c
                       + em["neuron_inactive_ns"] * (ev.compartments_per_core - act_c)
                       + em["synop_ns"] * syn_c)
            # the longest route a spike of this step takes (D18: 2.1 ns + 4.1/6.5 ns per hop)
            route = np.where(routed[a:b], em["message_ns"] + em["hop_ew_ns"] * route_ew[a:b]
                             + em["hop_ns_ns"] * route_ns[a:b], 0.0)
            inj = ev.injected[a:b] * em["message_ns"]
            latency[a:b] = (core_ns.max(axis=1) if C else 0.0) + route + inj
        else:
            fired_c = _dense_rows(ev.fired, a, b, C)
            out_c = _dense_rows(ev.msg_out, a, b, C)
            in_c = _dense_rows(ev.msg_in, a, b, C) + _dense_rows(ev.inj_msg_in, a, b, C)
            neuron_side = (em["soma_access_ns"] * ev.compartments_per_core + em["soma_update_ns"] * act_c
                           + em["spike_out_ns"] * fired_c + em["message_out_ns"] * out_c)
            message_side = em["message_in_ns"] * in_c + em["synop_ns"] * syn_c
            inj = ev.injected[a:b] * em["message_out_ns"]
            latency[a:b] = np.maximum(neuron_side.max(axis=1), message_side.max(axis=1)) + inj
    if pl.n_chips > 1:
        barrier = em["barrier_multichip_ns"]
        notes.append(f"multi-chip barrier {barrier / 1e3:.3g} us per step (F20, Pohoiki Springs)")
    elif model == "davies2018":
        barrier = _interp_table(em["barrier_ns"], tiles, step=False)
        notes.append(f"barrier {barrier:.0f} ns for {tiles} tile(s), linear between D18's 113 ns (1) and 465 ns (32)")
    else:
        barrier = _interp_table(em["sync_ns"], tiles, step=True)
        notes.append(f"sync {barrier:.0f} ns for {tiles} tile(s) (SANA-FE table)")
    return latency, float(barrier), notes


def estimate(placement_or_report, activity, model: str = "davies2018", *, active: str = "all",
             static: str = "core", calibration: str | None = DEFAULT_CALIBRATION, inputs=None,
             counts: EventCounts | None = None) -> EnergyReport:
    """Energy, latency and EDP per inference of ``activity`` on a placed network.

    Energy is reported in the four components of NxSDK's energy probe (docs/sources.md L3d):

    * ``neurocore_dynamic`` -- the per-event sum of ``model`` (module docstring): neuron
      updates, synaptic operations, spikes, messages and hops, and the mesh messages of
      injected input spikes;
    * ``neurocore_static`` -- static power per neurocore in use x latency (``static="core"``,
      as the probe charges it; the figure comes from ``calibration``), or per powered chip
      (``static="chip"``: F20's 104 mW, the whole chip);
    * ``x86_dynamic`` -- the embedded x86 (Lakemont) cores' dynamic power per chip x latency:
      input injection and per-step management together (no measurement separates them);
    * ``x86_static`` -- their static power per chip x latency.

    The step time is the neurocore time of ``model`` + the barrier + the x86 cores' time
    per step (fitted on ``calibration``'s measured step time); host time is excluded.

    Parameters
    ----------
    placement_or_report : Placement or CheckReport
    activity : Activity
        From a simulation of the same network (Brian2 float, Loihi mode or torch).
    model : {"davies2018", "sanafe"}
        Per-event figures of the neurocores (from the chip file; named in every output).
    active : {"all", "input"}
        Active/updated compartments: every compartment every step (default, upper
        bound) or only those that received input or fired (lower bound).
    static : {"core", "chip"}
        Neurocore static power per core in use (default) or per powered chip.
    calibration : {"smnist2021", "relnet2021"} or None
        The measured run the chip-level figures were fitted on (see the chip file's
        ``calibrations``); None charges the neurocores alone (no x86, no static with
        ``static="core"``, no x86 time per step).
    inputs : SpikeTrains, optional
        Input spikes with channels, for exact injection costs.
    counts : EventCounts, optional
        Reuse counted events (to evaluate several models on one count).

    Returns
    -------
    EnergyReport
    """
    pl: Placement = getattr(placement_or_report, "placement", placement_or_report)
    chip = pl.chip
    em = chip.energy_model(model)
    if static not in ("chip", "core"):
        raise ValueError(f"static={static!r} must be 'core' (per neurocore in use) or 'chip' (per powered chip)")
    cal = calibration_figures(chip, calibration)
    ev = counts if counts is not None else count_events(pl, activity, active=active, inputs=inputs)
    S, T = ev.n_samples, ev.n_steps
    R = S * T
    assumptions = list(ev.notes)
    figures: list[dict[str, Any]] = []
    n_map = float(ev.compartments_per_core.sum())
    if ev.active is None:
        active_rows = np.full(R, n_map)
        assumptions.append("every mapped compartment counts as active/updated every step (upper bound)")
    else:
        active_rows = np.asarray(ev.active.sum(axis=1)).ravel()
        assumptions.append("only compartments that received a synaptic event or fired count as active (lower bound)")
    fired_rows = np.asarray(ev.fired.sum(axis=1)).ravel()
    syn_rows = np.asarray(ev.synops.sum(axis=1)).ravel() + ev.inj_synops.row_sums()
    msg_rows = np.asarray(ev.msg_in.sum(axis=1)).ravel()
    pJ = 1e-12
    ns = 1e-9
    # -- latency per row ---------------------------------------------------------------
    core_ns, barrier, notes = latency_rows(pl, ev, model)
    assumptions += notes
    x86_step = 0.0
    if cal is not None:
        x86_step = float(cal["x86_step_s"]["value"][model])
        figures.append({"figure": "x86_step_s", "value": x86_step, "unit": "s per step",
                        "source": cal["x86_step_s"]["source"], "fitted": True})
    latency = core_ns * ns + barrier * ns + x86_step
    lat_sample = latency.reshape(S, T).sum(axis=1)
    # -- neurocore dynamic energy per row -----------------------------------------------------
    if model == "davies2018":
        neuron = em["neuron_active_pJ"] * active_rows + em["neuron_inactive_pJ"] * (n_map - active_rows)
        spikes_out = np.zeros(R)
        msg_e = em["message_pJ"] * msg_rows
        inj_msg = em["message_pJ"] * ev.inj_msgs
    else:
        neuron = em["soma_access_pJ"] * n_map + em["soma_update_pJ"] * active_rows
        spikes_out = em["spike_out_pJ"] * fired_rows
        msg_e = (em["message_out_pJ"] + em["message_in_pJ"]) * msg_rows
        inj_msg = (em["message_out_pJ"] + em["message_in_pJ"]) * ev.inj_msgs
    hop_e = em["hop_ew_pJ"] * ev.hops_ew + em["hop_ns_pJ"] * ev.hops_ns
    inj_msg = inj_msg + em["hop_ew_pJ"] * ev.inj_hops_ew + em["hop_ns_pJ"] * ev.inj_hops_ns
    syn_e = em["synop_pJ"] * syn_rows
    assumptions.append("input spikes enter at chip 0, tile 0 (the embedded x86 cores' position is not published)")

    def per_sample(x):
        return _rows_sum(x, S, T) * pJ

    parts = {
        "neuron_updates": per_sample(neuron),
        "synaptic_ops": per_sample(syn_e),
        "spikes_out": per_sample(spikes_out),
        "messages": per_sample(msg_e),
        "hops": per_sample(hop_e),
        "input_messages": per_sample(inj_msg),
    }
    if model == "davies2018":
        parts.pop("spikes_out")
    dyn_core = sum(parts.values())
    # -- chip-level powers ------------------------------------------------------------------------
    n_cores, n_chips = pl.n_cores, pl.n_chips
    if static == "chip":
        p_core_static = chip.value("static_power_per_chip_W") * n_chips
        figures.append({"figure": "static_power_per_chip_W", "value": chip.value("static_power_per_chip_W"),
                        "unit": "W per powered chip", "source": chip.source("static_power_per_chip_W"),
                        "fitted": False})
        assumptions.append(f"neurocore static {chip.value('static_power_per_chip_W') * 1e3:.3g} mW per powered "
                           f"chip x {n_chips} chip(s), the whole chip (not NxSDK's per-core-in-use charge)")
    elif cal is not None:
        p = float(cal["neurocore_static_per_core_W"]["value"])
        p_core_static = p * n_cores
        figures.append({"figure": "neurocore_static_per_core_W", "value": p, "unit": "W per core in use",
                        "source": cal["neurocore_static_per_core_W"]["source"], "fitted": True})
        assumptions.append(f"neurocore static {p * 1e3:.4g} mW per core in use x {n_cores} core(s) [{calibration}]")
    else:
        p_core_static = 0.0
        assumptions.append("no calibration: neurocore static, x86 power and x86 time per step are not charged")
    p_x86_dyn = p_x86_static = 0.0
    if cal is not None:
        p_x86_dyn = float(cal["x86_dynamic_per_chip_W"]["value"]) * n_chips
        p_x86_static = float(cal["x86_static_per_chip_W"]["value"]) * n_chips
        for key, label in (("x86_dynamic_per_chip_W", "x86 dynamic"), ("x86_static_per_chip_W", "x86 static")):
            figures.append({"figure": key, "value": float(cal[key]["value"]), "unit": "W per chip",
                            "source": cal[key]["source"], "fitted": True})
        assumptions.append(f"x86 dynamic {p_x86_dyn / n_chips * 1e3:.4g} mW and static {p_x86_static / n_chips * 1e3:.3g}"
                           f" mW per chip x {n_chips} chip(s), x86 time {x86_step * 1e6:.4g} us per step "
                           f"[{calibration}; input injection and per-step management together]")
    comps = {
        "neurocore_dynamic": dyn_core,
        "neurocore_static": p_core_static * lat_sample,
        "x86_dynamic": p_x86_dyn * lat_sample,
        "x86_static": p_x86_static * lat_sample,
    }
    energy_sample = sum(comps.values())
    static_sample = comps["neurocore_static"] + comps["x86_static"]
    dynamic_sample = comps["neurocore_dynamic"] + comps["x86_dynamic"]
    counts_out = {
        "compartment_steps": n_map * T,
        "active_compartment_steps": float(_rows_sum(active_rows, S, T).mean()),
        "spikes": float(_rows_sum(fired_rows, S, T).mean()),
        "synaptic_ops": float(_rows_sum(syn_rows, S, T).mean()),
        "messages": float(_rows_sum(msg_rows, S, T).mean()),
        "hops_ew": float(_rows_sum(ev.hops_ew, S, T).mean()),
        "hops_ns": float(_rows_sum(ev.hops_ns, S, T).mean()),
        "injected_spikes": float(_rows_sum(ev.injected, S, T).mean()),
        "injection_messages": float(_rows_sum(ev.inj_msgs, S, T).mean()),
    }
    e = float(energy_sample.mean())
    lat = float(lat_sample.mean())
    components = {k: float(v.mean()) for k, v in comps.items()}
    return EnergyReport(
        model=model, calibration=calibration, model_description=em.description, chip=chip.name,
        n_samples=S, n_steps=T, dt=float(activity.dt), components_J=components, counts=counts_out,
        latency_per_step_s=lat / T if T else 0.0, latency_per_inference_s=lat, energy_per_inference_J=e,
        dynamic_per_inference_J=float(dynamic_sample.mean()), static_per_inference_J=float(static_sample.mean()),
        edp_Js=e * lat, static_power_W=float(p_core_static + p_x86_static),
        neurocore_dynamic_parts_J={k: float(v.mean()) for k, v in parts.items()},
        power_W={k: (v / lat if lat else 0.0) for k, v in components.items()},
        latency_parts_s={"neurocore": float(core_ns.sum() * ns / S), "sync": barrier * ns * T,
                         "x86": x86_step * T},
        figures=figures, cores=n_cores, chips=n_chips,
        assumptions=assumptions, per_sample={"energy_J": energy_sample, "latency_s": lat_sample})
