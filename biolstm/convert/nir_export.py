"""Export a :class:`~biolstm.spec.NetworkSpec` to a NIR graph (``nir`` 1.0.x).

=================== ==============================================================
biolstm             NIR nodes (keys)
=================== ==============================================================
input group ``g``   ``Input`` (``g``)
``lif`` population  ``LIF`` (its name); ``r = tau_m/dt``
``ahp`` population  ``LIF`` plus the loop ``LIF -> Linear (name__ahp_jump) -> LI
                    (name__ahp) -> Linear(-1) (name__ahp_feedback) -> LIF``
``li`` population   ``LI`` (its name)
``alif`` population refused (:data:`~biolstm.convert.nir_format.ALIF_REFUSAL`)
projection ``p``    ``Linear`` (``p``, weight ``[n_post, n_pre]`` = the jumps in volt);
                    sparse weights are written dense (NIR has no sparse node) and
                    marked ``csr`` in the metadata
``p.delay``         ``Delay`` nodes before the ``Linear``; synapses with different
                    delays go to one ``Linear`` per delay (``p__d0``, ``p__d1``, ...)
readout             ``Output`` (``output``) fed by the readout population
=================== ==============================================================

Numbers are SI, ``r`` makes every weight its voltage jump, and population spikes
arrive one step later; see :mod:`biolstm.convert.nir_format` for the conventions and
``docs/nir_ahp.md`` for the AHP equations. Every node carries ``biolstm_role`` and a
JSON ``biolstm`` entry with the exact original values (parameter overrides, projection
names, signs), so :func:`biolstm.convert.nir_graph.from_nir` gives the same spec back,
bit for bit; the NIR numbers alone define the dynamics.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import scipy.sparse

from biolstm.convert import nir_format as fmt
from biolstm.errors import BiolstmError

__all__ = ["NIRExportError", "to_nir", "write_nir"]


class NIRExportError(BiolstmError, ValueError):
    """A NetworkSpec (or part of one) that NIR cannot express."""


def _params_json(pop) -> dict:
    from biolstm.spec import _quantity_to_json

    return {k: _quantity_to_json(v) for k, v in pop.params.items()}


def _key(name: str, used: set[str]) -> str:
    if name in used:
        raise NIRExportError(
            f"NIR node name {name!r} would be used twice (a population, input group or projection "
            f"name ends in a suffix biolstm uses for its own nodes); rename it")
    used.add(name)
    return name


def to_nir(spec, *, step_delay: str = "implicit"):
    """Build a ``nir.NIRGraph`` for ``spec``.

    Parameters
    ----------
    spec : NetworkSpec
    step_delay : {"implicit", "explicit"}
        How the one-step delay of population spikes is written: ``"implicit"`` (no node;
        the graph metadata says every edge out of a spiking node arrives one ``dt``
        later, as discrete-time simulators run recurrent edges) or ``"explicit"`` (a
        ``Delay(dt)`` node after each population that sends spikes, so the graph's
        continuous-time meaning is biolstm's dynamics).

    Raises
    ------
    NIRExportError
        For an ``alif`` population, a refractory period that blocks steps
        (``t_ref > dt``; NIR's LIF has none), or a bad ``step_delay``.
    """
    import nir

    if step_delay not in fmt.STEP_DELAY_MODES:
        raise NIRExportError(f"step_delay={step_delay!r} must be one of {list(fmt.STEP_DELAY_MODES)}")
    dt = float(spec.dt)
    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    used: set[str] = set()
    r_of: dict[str, float] = {}
    tau_of: dict[str, float] = {}

    for grp in spec.inputs:
        nodes[_key(grp.name, used)] = nir.Input(
            input_type={"input": np.array([grp.size])},
            metadata={"biolstm_role": "input", "biolstm": fmt.encode({"name": grp.name})})

    for pop in spec.populations:
        p = pop.neuron_params()
        n = pop.size
        full = lambda value: np.full(n, float(value))  # noqa: E731
        info = {"name": pop.name, "model": pop.model, "params": _params_json(pop)}
        meta = {"biolstm_role": "population", "biolstm_model": pop.model, "biolstm": fmt.encode(info)}
        if pop.model == "alif":
            raise NIRExportError(f"population '{pop.name}' (alif): {fmt.ALIF_REFUSAL}")
        tau = float(p.tau_m)
        r = fmt.unit_gain_r(tau, dt)
        r_of[pop.name], tau_of[pop.name] = r, tau
        key = _key(pop.name, used)
        if pop.model == "li":
            nodes[key] = nir.LI(tau=full(tau), r=full(r), v_leak=full(p.v_rest), metadata=meta)
            continue
        blocked = max(int(round(float(p.t_ref) / dt)) - 1, 0)
        if blocked:
            raise NIRExportError(
                f"population '{pop.name}' ({pop.model}): t_ref = {p.t_ref} holds the neuron for "
                f"{blocked} step(s) after a spike; NIR's LIF node has no refractory period; set "
                f"t_ref to 0 ms or dt = {spec.dt} (neither blocks a step) or keep the .npz")
        nodes[key] = nir.LIF(tau=full(tau), r=full(r), v_leak=full(p.v_rest),
                             v_threshold=full(p.v_th), v_reset=full(p.v_reset), metadata=meta)
        if pop.model == "ahp":
            # AHP loop, see nir_format: jump d = R_m*delta_I_ahp/r (= R_m*delta_I_ahp*dt/tau_m)
            tau_a = float(p.tau_ahp)
            r_a = fmt.unit_gain_r(tau_a, dt)
            d = float(p.R_m) * float(p.delta_I_ahp) / r
            loop = {"population": pop.name, "pattern": fmt.AHP_PATTERN}
            k_jump, k_cur, k_fb = (_key(f"{pop.name}__ahp_jump", used), _key(f"{pop.name}__ahp", used),
                                   _key(f"{pop.name}__ahp_feedback", used))
            nodes[k_jump] = nir.Linear(weight=np.diag(full(d)),
                                       metadata={"biolstm_role": "ahp_jump", "biolstm": fmt.encode(loop)})
            nodes[k_cur] = nir.LI(tau=full(tau_a), r=full(r_a), v_leak=np.zeros(n),
                                  metadata={"biolstm_role": "ahp_current", "biolstm": fmt.encode(loop)})
            nodes[k_fb] = nir.Linear(weight=-np.eye(n),
                                     metadata={"biolstm_role": "ahp_feedback", "biolstm": fmt.encode(loop)})
            edges += [(key, k_jump), (k_jump, k_cur), (k_cur, k_fb), (k_fb, key)]

    senders = {proj.pre for proj in spec.projections if not spec.is_input(proj.pre)}
    step_node = {}
    if step_delay == "explicit":
        for name in senders:
            k = _key(f"{name}__step", used)
            nodes[k] = nir.Delay(delay=np.full(spec.source_size(name), dt),
                                 metadata={"biolstm_role": "step_delay",
                                           "biolstm": fmt.encode({"population": name})})
            edges.append((name, k))
            step_node[name] = k

    for proj in spec.projections:
        _export_projection(nir, spec, proj, nodes, edges, used, step_node, r_of, tau_of, dt)

    if spec.readout is not None:
        ro = spec.readout
        size = spec.population(ro.population).size
        k = _key("output", used)
        nodes[k] = nir.Output(output_type={"output": np.array([size])},
                              metadata={"biolstm_role": "readout", "biolstm": fmt.encode(
                                  {"population": ro.population, "variable": ro.variable, "at": ro.at})})
        edges.append((ro.population, k))

    from biolstm.spec import _quantity_to_json

    description = {
        "dt": _quantity_to_json(spec.dt),
        "populations": [p.name for p in spec.populations],
        "inputs": [g.name for g in spec.inputs],
        "projections": [p.name for p in spec.projections],
        "metadata": spec.metadata,
    }
    graph_meta = {
        "biolstm_format": fmt.FORMAT,
        "biolstm_format_version": fmt.FORMAT_VERSION,
        "biolstm_dt": dt,
        "biolstm_voltage_unit": "V",
        "biolstm_step_delay": step_delay,
        "biolstm_conventions": (
            "SI numbers: tau and delay in s, v_* in V; r = tau/dt, so a Linear weight is the "
            "voltage jump per spike (a spike is 1 for one step dt: jump = r*w*dt/tau); leaks "
            "integrated exactly; spikes of LIF nodes reach their targets one step dt later ("
            + ("implicit: no node" if step_delay == "implicit" else "explicit: Delay nodes")
            + "); input spikes in the same step"),
        "biolstm_pattern_ahp": fmt.AHP_PATTERN,
        "biolstm": fmt.encode(description),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph_meta, type_check=False)


def _export_projection(nir, spec, proj, nodes, edges, used, step_node, r_of, tau_of, dt) -> None:
    """One ``Linear`` per distinct delay of ``proj`` (one in all when it has a single delay)."""
    n_pre, n_post = proj.shape
    if proj.delay is None:
        delay_form, groups = "none", [(0.0, None)]
    elif np.ndim(proj.delay) == 0:
        delay_form, groups = "scalar", [(float(proj.delay), None)]
    else:
        delay_form = "per_synapse"
        i, j, w, d = proj.synapses()
        groups = [(float(v), d == v) for v in np.unique(d)] or [(0.0, None)]
        if len(groups) == 1:
            groups = [(groups[0][0], None)]
    info = {"projection": proj.name, "pre": proj.pre, "post": proj.post, "sign": proj.sign,
            "format": "csr" if scipy.sparse.issparse(proj.weights) else "dense",
            "delay_form": delay_form, "groups": len(groups)}
    source = step_node.get(proj.pre, proj.pre)
    dense = proj.dense()
    for k, (value, sel) in enumerate(groups):
        if sel is None:
            weight = dense.T.copy()
        elif k == 0:  # group 0 also keeps the matrix's zeros as they are (signed zeros included)
            weight = dense.T.copy()
            weight[j[~sel], i[~sel]] = 0.0
        else:
            weight = np.zeros((n_post, n_pre))
            weight[j[sel], i[sel]] = w[sel]
        meta = {"biolstm_role": "projection", "biolstm": fmt.encode({**info, "group": k})}
        lin_key = _key(proj.name if len(groups) == 1 else f"{proj.name}__d{k}", used)
        nodes[lin_key] = nir.Linear(weight=weight, metadata=meta)
        src = source
        if value != 0:
            delay_key = _key(f"{lin_key}__delay", used)
            nodes[delay_key] = nir.Delay(delay=np.full(n_pre, value),
                                         metadata={"biolstm_role": "delay", "biolstm": meta["biolstm"]})
            edges.append((src, delay_key))
            src = delay_key
        edges += [(src, lin_key), (lin_key, proj.post)]
    if fmt.gain(r_of[proj.post], dt, tau_of[proj.post]) != 1.0:  # unit_gain_r guarantees this
        raise NIRExportError(f"projection '{proj.name}': internal error, r*dt/tau of '{proj.post}' is not 1")


def write_nir(spec, path: str | os.PathLike, *, overwrite: bool = False,
              step_delay: str = "implicit") -> Path:
    """Write ``spec`` as a ``.nir`` (HDF5) file, atomically; returns the path.

    An existing file raises :class:`~biolstm.fileio.FileExistsRefusal` unless ``overwrite``.
    """
    import nir

    from biolstm.fileio import atomic_writer

    path = Path(path)
    graph = to_nir(spec, step_delay=step_delay)
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    with atomic_writer(path, overwrite=overwrite) as fh:
        fh.write(buffer.getvalue())
    return path
