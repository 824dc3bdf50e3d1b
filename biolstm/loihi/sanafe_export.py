"""Export a placed network and its spikes to the SANA-FE simulator, run it, compare.

SANA-FE (Boyle et al., "SANA-FE: Simulating Advanced Neuromorphic Architectures for
Fast Exploration", IEEE TCAD 2025; PyPI ``sanafe``, ``pip install biolstm[sanafe]``)
ships a Loihi architecture file calibrated on silicon; biolstm's ``sanafe`` energy
model (:mod:`.energy`) charges the same per-event figures by its own counting. This
module lets SANA-FE itself count them on the same network and the same spikes:

* :func:`write_network` writes a :class:`~.placement.Placement` in SANA-FE's YAML SNN
  format (``network: groups/edges``, ``mappings``): one group per population (an AHP
  population adds a group ``<name>__aux`` for its auxiliary compartments, wired
  main -> aux as on Loihi 1), one group per input group, one edge per synapse, every
  neuron mapped to its core as ``tile.core``.
* Spikes are *replayed*: every neuron is a SANA-FE ``input`` soma that fires at the
  steps the biolstm simulation recorded (samples back to back), so both tools charge
  identical activity. Replay somas cannot take synaptic current, so every edge carries
  weight 0 (SANA-FE charges a synaptic lookup whatever the weight).
* :func:`write_architecture` copies SANA-FE's own ``loihi.yaml`` and adds the replay
  soma unit ``biolstm_replay[0..1023]`` whose energy and latency are read from that
  file's ``loihi_lif`` unit (access + update per step, as biolstm's ``active="all"``
  charges every compartment as updated; spike-out as is). Inputs use the file's own
  ``loihi_inputs`` units (no soma cost) on the cores of tile 0, where biolstm assumes
  input spikes enter.
* :func:`run_sanafe` loads both files with ``sanafe.load_arch``/``sanafe.load_net``,
  simulates with the "simple" timing model and returns energy per SANA-FE category
  (soma, synapse, network) and simulated time; :func:`compare` puts them next to
  biolstm's ``sanafe`` estimate of the same spikes.

SANA-FE's Loihi file describes one chip (32 tiles x 4 cores); multi-chip placements
are refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biolstm.errors import BiolstmError
from biolstm.fileio import atomic_write_text
from biolstm.loihi.placement import Placement

__all__ = ["SanafeError", "sanafe_available", "write_architecture", "write_network", "run_sanafe", "compare",
           "SanafeComparison", "REPLAY_SOMA", "INPUT_SOMA", "SYNAPSE_UNIT"]

REPLAY_SOMA = "biolstm_replay"
INPUT_SOMA = "loihi_inputs"
SYNAPSE_UNIT = "loihi_sparse_synapse"
"""SANA-FE Loihi synapse unit used (biolstm's ``sanafe`` model charges the sparse figure)."""


class SanafeError(BiolstmError, RuntimeError):
    """SANA-FE is missing, or a network that SANA-FE's Loihi file cannot hold."""


def sanafe_available() -> tuple[bool, str]:
    """(True, version) when ``sanafe`` and ``yaml`` import, else (False, the reason)."""
    try:
        import sanafe  # noqa: F401
    except ImportError as err:
        return False, f"sanafe is not installed ({err}); pip install 'biolstm[sanafe]'"
    try:
        import yaml  # noqa: F401
    except ImportError as err:
        return False, f"pyyaml is not installed ({err}); pip install 'biolstm[sanafe]'"
    from importlib.metadata import PackageNotFoundError, version

    try:
        return True, version("sanafe")
    except PackageNotFoundError:
        return True, "unknown"


def _loihi_yaml_text() -> str:
    from importlib.resources import files

    return (files("sanafe.examples") / "loihi.yaml").read_text(encoding="utf-8")


def write_architecture(path: str | os.PathLike, *, overwrite: bool = False) -> dict[str, float]:
    """Write SANA-FE's Loihi architecture plus the replay soma unit to ``path``.

    Returns the replay unit's figures (J and s) as read from ``loihi_lif``.
    """
    ok, why = sanafe_available()
    if not ok:
        raise SanafeError(why)
    import yaml

    arch = yaml.safe_load(_loihi_yaml_text())
    core = arch["architecture"]["tile"][0]["core"][0]
    somas = core["soma"]
    lif = next((s for s in somas if s["name"] == "loihi_lif"), None)
    if lif is None:
        raise SanafeError("SANA-FE's loihi.yaml has no 'loihi_lif' soma unit; this sanafe version is not supported")
    a = lif["attributes"]
    figures = {
        "energy_access_neuron": float(a["energy_access_neuron"]) + float(a["energy_update_neuron"]),
        "latency_access_neuron": float(a["latency_access_neuron"]) + float(a["latency_update_neuron"]),
        "energy_update_neuron": 0.0, "latency_update_neuron": 0.0,
        "energy_spike_out": float(a["energy_spike_out"]), "latency_spike_out": float(a["latency_spike_out"]),
    }
    n = int(core["attributes"].get("max_neurons_supported", 1024))
    somas.append({"name": f"{REPLAY_SOMA}[0..{n - 1}]", "attributes": {"model": "input", **figures}})
    atomic_write_text(path, yaml.safe_dump(arch, sort_keys=False), overwrite=overwrite)
    return figures


def _fmt_float(x: float) -> str:
    return repr(float(x))


@dataclass
class ExportInfo:
    """What :func:`write_network` wrote."""

    path: Path
    timesteps: int
    neurons: int
    edges: int
    notes: list[str] = field(default_factory=list)


def write_network(pl: Placement, activity, inputs, path: str | os.PathLike, *, overwrite: bool = False) -> ExportInfo:
    """Write ``pl`` with ``activity``'s spikes (replayed) in SANA-FE's YAML SNN format.

    Parameters
    ----------
    pl : Placement
        One chip at most (SANA-FE's Loihi file is one chip).
    activity : Activity
        Spikes per population; samples are laid back to back (timestep
        ``sample * n_steps + step + 1`` of SANA-FE).
    inputs : SpikeTrains
        The input spikes with their channels (Activity holds only counts).
    path : path
        The ``.yaml`` file to write.
    """
    cpc = pl.limits.cores_per_chip
    if pl.n_chips > 1 or pl.n_cores > cpc:
        raise SanafeError(f"placement uses {pl.n_cores} cores on {pl.n_chips} chips; SANA-FE's Loihi file holds one "
                          f"chip of {cpc} cores. Export a network that fits one chip")
    cpt = pl.chip.cores_per_tile
    S, T = int(activity.n_samples), int(activity.n_steps)
    steps = S * T
    lines = ["network:", "  name: biolstm", "  groups:"]
    maps: list[str] = []
    slot = np.zeros(pl.n_cores + cpt, dtype=np.int64)        # next soma index per core
    capacity = pl.chip.compartments_per_core
    notes: list[str] = []

    def train(ev: np.ndarray | None, n: int) -> list[np.ndarray]:
        z = np.zeros((n, steps), dtype=np.int8)
        if ev is not None and len(ev):
            z[ev[:, 2], ev[:, 0] * T + ev[:, 1]] = 1
        return z

    def group(name: str, trains: np.ndarray) -> None:
        lines.append(f"    - name: {name}")
        lines.append("      attributes: {log_spikes: 0, log_potential: 0}")
        lines.append("      neurons:")
        for i, row in enumerate(trains):
            if row.any():
                lines.append(f"        - {i}: {{spikes: [{','.join(map(str, row.tolist()))}]}}")
            else:
                lines.append(f"        - {i}: {{}}")

    def core_name(c: int) -> str:
        return f"{c // cpt}.{c % cpt}"

    n_neurons = 0
    for pop in pl.qnet.populations:
        cores = pl.core_of[pop.name].astype(np.int64)
        ev = activity.spikes.get(pop.name) if pop.spiking else None
        group(pop.name, train(None if ev is None else np.asarray(ev), pop.size))
        names = [pop.name]
        if pop.model == "ahp" and pop.compartments_per_neuron > 1:
            group(f"{pop.name}__aux", np.zeros((pop.size, steps), dtype=np.int8))
            names.append(f"{pop.name}__aux")
        for i, c in enumerate(cores):
            for g in names:
                maps.append(f"  - {g}.{i}: {{core: {core_name(int(c))}, soma: \"{REPLAY_SOMA}[{slot[c]}]\", "
                            f"synapse: {SYNAPSE_UNIT}}}")
                slot[c] += 1
        n_neurons += pop.size * len(names)
    for name, size in pl.qnet.inputs.items():
        ev = np.asarray(inputs.events[name]) if name in getattr(inputs, "events", {}) else None
        if ev is None:
            raise SanafeError(f"input group '{name}': no spikes with channels in 'inputs'; pass the SpikeTrains "
                              f"the activity was simulated with")
        group(name, train(ev, size))
        for i in range(size):
            c = next((c for c in range(cpt) if slot[c] < capacity), None)
            if c is None:
                raise SanafeError(f"input group '{name}': no room on the cores of tile 0 for input neuron {i} "
                                  f"({capacity} neurons per core)")
            maps.append(f"  - {name}.{i}: {{core: {core_name(c)}, soma: \"{INPUT_SOMA}[{slot[c]}]\"}}")
            slot[c] += 1
        n_neurons += size
    lines.append("  edges:")
    n_edges = 0
    for proj in pl.qnet.projections:
        pre, post = proj.pre, proj.post
        for a, b in zip(proj.pre_index.tolist(), proj.post_index.tolist()):
            lines.append(f"    - {pre}.{a} -> {post}.{b}: {{weight: 0}}")
        n_edges += len(proj.pre_index)
    for pop in pl.qnet.populations:
        if pop.model == "ahp" and pop.compartments_per_neuron > 1:
            for i in range(pop.size):
                lines.append(f"    - {pop.name}.{i} -> {pop.name}__aux.{i}: {{weight: 0}}")
            n_edges += pop.size
            notes.append(f"population '{pop.name}': main -> auxiliary synapse exported as an edge on the same core")
    if n_edges == 0:
        lines.append("    []")
        lines[-2] = "  edges: []"
        lines.pop()
    lines.append("mappings:")
    lines += maps
    atomic_write_text(path, "\n".join(lines) + "\n", overwrite=overwrite)
    return ExportInfo(path=Path(path), timesteps=steps, neurons=n_neurons, edges=n_edges, notes=notes)


def run_sanafe(arch_path: str | os.PathLike, net_path: str | os.PathLike, timesteps: int) -> dict[str, Any]:
    """Simulate the exported files with SANA-FE ("simple" timing model).

    Returns ``energy_J`` (SANA-FE's categories: soma, synapse, dendrite, network,
    total), ``sim_time_s``, ``spikes`` (synaptic lookups), ``neurons_fired``,
    ``hops`` and ``packets`` as SANA-FE reports them.
    """
    ok, why = sanafe_available()
    if not ok:
        raise SanafeError(why)
    import sanafe

    arch = sanafe.load_arch(str(arch_path))
    net = sanafe.load_net(str(net_path), arch)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    res = chip.sim(timesteps, timing_model="simple", perf_trace=True)
    perf = res.get("perf_trace") or {}
    return {"energy_J": dict(res["energy"]), "sim_time_s": float(res["sim_time"]), "spikes": int(res["spikes"]),
            "neurons_fired": int(res["neurons_fired"]), "packets": int(res.get("packets_sent", 0)),
            "hops": int(np.sum(perf.get("hops", [0]))), "timesteps": int(res["timesteps_executed"])}


@dataclass
class SanafeComparison:
    """biolstm's ``sanafe`` estimate vs the SANA-FE simulator on one network and spikes."""

    network: str
    rows: list[dict[str, Any]]
    sanafe: dict[str, Any]
    notes: list[str]

    def table(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    @property
    def max_abs_error(self) -> float:
        errs = [abs(r["rel_diff"]) for r in self.rows if r["rel_diff"] is not None]
        return max(errs) if errs else 0.0


def compare(report_or_placement, activity, inputs, workdir: str | os.PathLike, *, network: str = "network",
            overwrite: bool = True) -> SanafeComparison:
    """Export, simulate with SANA-FE and compare with biolstm's ``sanafe`` model.

    biolstm side: :func:`~.energy.estimate` with ``model="sanafe"``, ``calibration=None``
    (SANA-FE models the neurocores only), ``active="all"``. Rows: soma energy
    (neuron updates + spikes out), synapse energy, network energy (messages, hops,
    input messages), neurocore energy, and time (neurocore time + sync), each with the
    relative difference ``(biolstm - sanafe) / sanafe``.
    """
    from biolstm.loihi.energy import estimate

    pl: Placement = getattr(report_or_placement, "placement", report_or_placement)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    write_architecture(work / "loihi_replay.yaml", overwrite=overwrite)
    info = write_network(pl, activity, inputs, work / f"{network}.yaml", overwrite=overwrite)
    sf = run_sanafe(work / "loihi_replay.yaml", info.path, info.timesteps)
    e = estimate(pl, activity, "sanafe", calibration=None, inputs=inputs)
    S = e.n_samples
    p = e.neurocore_dynamic_parts_J
    ours = {
        "soma energy": (p["neuron_updates"] + p["spikes_out"]) * S,
        "synapse energy": p["synaptic_ops"] * S,
        "network energy": (p["messages"] + p["hops"] + p["input_messages"]) * S,
        "neurocore energy": e.components_J["neurocore_dynamic"] * S,
        "time": (e.latency_parts_s["neurocore"] + e.latency_parts_s["sync"]) * S,
    }
    theirs = {
        "soma energy": sf["energy_J"]["soma"],
        "synapse energy": sf["energy_J"]["synapse"],
        "network energy": sf["energy_J"]["network"],
        "neurocore energy": sf["energy_J"]["total"],
        "time": sf["sim_time_s"],
    }
    rows = []
    for k in ours:
        a, b = ours[k], theirs[k]
        rows.append({"network": network, "quantity": k, "unit": "s" if k == "time" else "J", "biolstm_sanafe": a,
                     "sanafe_simulator": b, "rel_diff": (a - b) / b if b else None})
    counts = {"synaptic lookups": (e.counts["synaptic_ops"] * S, sf["spikes"]),
              "messages": ((e.counts["messages"] + e.counts["injection_messages"]) * S, sf["packets"]),
              "hops": ((e.counts["hops_ew"] + e.counts["hops_ns"]) * S, sf["hops"])}
    # SANA-FE merges a neuron's targets on one core into one message; biolstm (as Loihi 1) sends the AHP
    # main -> aux synapse on its own axon. Recount biolstm's messages with SANA-FE's rule:
    merged = 0
    for pop in pl.qnet.populations:
        r = pl.routes.get(pop.name)
        ev = activity.spikes.get(pop.name)
        if pop.model != "ahp" or pop.compartments_per_neuron < 2 or r is None or ev is None or not len(ev):
            continue
        home = pl.core_of[pop.name]
        both = np.zeros(pop.size, dtype=bool)
        both[r.pre[r.core == home[r.pre]]] = True
        merged += int(both[np.asarray(ev)[:, 2]].sum())
    counts["messages, SANA-FE's merging rule"] = (counts["messages"][0] - merged, sf["packets"])
    for k, (a, b) in counts.items():
        rows.append({"network": network, "quantity": k, "unit": "count", "biolstm_sanafe": a,
                     "sanafe_simulator": b, "rel_diff": (a - b) / b if b else None})
    notes = list(info.notes) + [f"{info.neurons} neurons, {info.edges} edges, {info.timesteps} timesteps "
                                f"({S} samples x {e.n_steps} steps back to back)"]
    return SanafeComparison(network=network, rows=rows, sanafe=sf, notes=notes)
