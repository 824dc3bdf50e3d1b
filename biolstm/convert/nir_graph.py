"""Import NIR graphs (the ``nir`` package, Pedersen et al. 2024) into a NetworkSpec.

Accepted node types, and what they become:

============ ===================================================================
NIR node     biolstm
============ ===================================================================
``Input``    an :class:`~biolstm.spec.InputGroup` (1-d shape)
``LIF``      a ``lif`` population (``tau`` -> ``tau_m``, ``v_leak`` -> ``v_rest``,
             ``v_threshold`` -> ``v_th``, ``v_reset`` -> ``v_reset``; the same value
             for every neuron of the node), or an ``ahp`` population when it sits in
             the AHP loop ``LIF -> Linear(diagonal) -> LI(v_leak=0) -> Linear(-c, c>0,
             diagonal) -> LIF`` (:mod:`biolstm.convert.nir_format`); the loop's ``LI``
             gives ``tau_ahp`` and its weights give ``R_m*delta_I_ahp``
``LI``       an ``li`` population (non-spiking readout)
``Linear``   the weights of a projection between the node before and the node after it
``Affine``   the same, if its bias is all zero
``Delay``    the delay of the projections whose ``Linear`` it feeds (one value per
             source channel); a chain of them adds up
``Output``   the readout, when fed by an ``LI`` or ``LIF`` node (its ``v`` at the last step)
============ ===================================================================

Everything else is rejected with an error naming the node, among them ``CubaLIF``,
``CubaLI``, ``IF``, ``I``, ``Scale``, ``Threshold``, convolutions and pooling. NIR has
no adaptive-threshold node, and the ALIF neuron cannot be built from NIR nodes
(:data:`~biolstm.convert.nir_format.ALIF_REFUSAL`); the AHP neuron can.

Discretisation conventions (stated because NIR is continuous-time; details in
:mod:`biolstm.convert.nir_format`):

* A spike is an input of 1 for one step ``dt``: a synapse of NIR weight ``w`` onto a
  neuron with ``tau`` and ``r`` makes its voltage jump by ``r * w * dt / tau``
  (times ``voltage_unit``). This is the convention of the discrete-time exporters
  (snnTorch exports ``r = tau/dt``, so the jump is ``w``; Norse uses ``r = 1``).
* The leak is integrated exactly (``exp(-dt/tau)``), as Brian2's ``method='exact'``.
* Spikes of a population reach their targets one step later (biolstm's and Loihi's
  implicit delay); spikes of an ``Input`` in the same step. A ``Delay`` adds to that,
  except the ``Delay(dt)`` nodes that a graph written with ``step_delay="explicit"``
  marks as that step.
* NIR voltages are numbers; ``voltage_unit`` (default: 1 V for graphs biolstm wrote,
  which say so in their metadata, else 1 mV) gives them a unit.

A graph written by :func:`biolstm.convert.nir_export.to_nir` carries the exact
original values in its metadata; they are used when they agree with the NIR numbers
(to 1e-12 relative), so the round trip NetworkSpec -> NIR -> NetworkSpec is exact.
When they disagree (the graph was edited elsewhere), the NIR numbers win.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from biolstm.convert import nir_format as fmt
from biolstm.errors import BiolstmError

__all__ = ["NIRImportError", "ACCEPTED_NODES", "from_nir"]

ACCEPTED_NODES = ("Input", "Output", "Linear", "Affine", "LIF", "LI", "Delay")
WEIGHT_NODES = ("Linear", "Affine")
NEURON_NODES = ("LIF", "LI")


class NIRImportError(BiolstmError, ValueError):
    """A NIR graph (or node) that biolstm cannot express."""


def _ident(name: str, used: set[str]) -> str:
    out = re.sub(r"\W", "_", str(name))
    if not out or out[0].isdigit() or out.startswith("_"):
        out = "n_" + out.lstrip("_")
    base, k = out, 1
    while out in used:
        k += 1
        out = f"{base}_{k}"
    used.add(out)
    return out


def _uniform(node_name: str, field: str, values: Any, size: int) -> float:
    arr = np.broadcast_to(np.asarray(values, dtype=float), (size,)) if np.ndim(values) <= 1 else None
    if arr is None:
        raise NIRImportError(f"NIR node '{node_name}': {field} has shape {np.shape(values)}; expected 1-d")
    if not np.all(np.isfinite(arr)):
        raise NIRImportError(f"NIR node '{node_name}': {field} has non-finite values")
    if not np.allclose(arr, arr[0], rtol=1e-9, atol=0):
        raise NIRImportError(
            f"NIR node '{node_name}': {field} differs between neurons ({arr.min()} .. {arr.max()}); "
            f"a biolstm population shares one value; split the node into one node per value")
    return float(arr[0])


def _size(node_name: str, node) -> int:
    for attr in ("tau", "v_leak", "r"):
        if hasattr(node, attr):
            return int(np.size(getattr(node, attr)))
    raise NIRImportError(f"NIR node '{node_name}': cannot tell its size")


def _read_graph(graph):
    import nir

    if isinstance(graph, (str, Path)):
        path = Path(graph)
        if not path.is_file():
            raise NIRImportError(f"NIR file {path} does not exist")
        try:
            graph = nir.read(str(path), type_check=False)
        except Exception as err:  # h5py/nir raise many kinds
            raise NIRImportError(f"{path} is not a readable NIR file ({type(err).__name__}: {err})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise NIRImportError(f"expected a nir.NIRGraph or a path, got {type(graph).__name__}")
    return graph


def _text(value: Any) -> Any:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _text(value[()])
    return value


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))


def _diagonal(key: str, node, size: int, what: str) -> float:
    """The common diagonal value of a square weight node (raise if it is not diagonal)."""
    w = np.asarray(node.weight, dtype=float)
    if w.shape != (size, size):
        raise NIRImportError(f"NIR {type(node).__name__} '{key}' ({what}) has weight shape {w.shape}; "
                             f"the AHP loop needs ({size}, {size})")
    if type(node).__name__ == "Affine" and np.any(np.asarray(node.bias) != 0):
        raise NIRImportError(f"NIR Affine '{key}' ({what}) has a non-zero bias")
    diag = np.diag(w)
    if np.any(w - np.diag(diag) != 0):
        raise NIRImportError(
            f"NIR node '{key}' ({what}) has off-diagonal weights; in the AHP loop each neuron "
            f"integrates only its own spikes, so the weight must be diagonal")
    return _uniform(key, f"weight diagonal ({what})", diag, size)


def _find_ahp_loops(nodes, incoming, outgoing) -> dict[str, tuple[str, str, str]]:
    """``{lif_key: (jump_key, li_key, feedback_key)}`` for every AHP loop in the graph."""
    loops: dict[str, tuple[str, str, str]] = {}
    for li, node in nodes.items():
        if type(node).__name__ != "LI" or len(incoming[li]) != 1 or len(outgoing[li]) != 1:
            continue
        jump, fb = incoming[li][0], outgoing[li][0]
        if type(nodes[jump]).__name__ not in WEIGHT_NODES or type(nodes[fb]).__name__ not in WEIGHT_NODES:
            continue
        if len(incoming[jump]) != 1 or outgoing[jump] != [li] or incoming[fb] != [li] or len(outgoing[fb]) != 1:
            continue
        lif = incoming[jump][0]
        if outgoing[fb][0] != lif or type(nodes[lif]).__name__ != "LIF":
            continue
        if lif in loops:
            raise NIRImportError(f"NIR LIF '{lif}' has two AHP loops ({loops[lif][1]!r}, {li!r}); biolstm's "
                                 f"AHP neuron has one adaptation current")
        loops[lif] = (jump, li, fb)
    return loops


def from_nir(graph, *, dt=None, voltage_unit=None, name: str | None = None):
    """Build a NetworkSpec from a NIR graph (a ``nir.NIRGraph`` or a path to a ``.nir`` file).

    Parameters
    ----------
    graph : nir.NIRGraph or path-like
    dt : Quantity, optional
        Time step of the discrete simulation (default: the graph's, for graphs written by
        biolstm, else 1 ms).
    voltage_unit : Quantity, optional
        What a NIR voltage of 1.0 means (default: 1 V for graphs written by biolstm, else 1 mV).
    name : str, optional
        Stored as ``metadata["name"]``.

    Raises
    ------
    NIRImportError
        A node type biolstm cannot express, parameters that differ within a node, a
        non-zero bias, or an edge pattern other than ``source [-> Delay ...] ->
        Linear/Affine -> neuron`` and the AHP loop.
    """
    from brian2 import amp, mV, ms, second, volt

    from biolstm.neurons import get_model
    from biolstm.spec import (InputGroup, NetworkSpec, Population, Projection, Readout, SpecError,
                              _quantity_from_json)

    graph = _read_graph(graph)
    gmeta = dict(getattr(graph, "metadata", None) or {})
    ours = _text(gmeta.get("biolstm_format")) == fmt.FORMAT
    desc: dict = {}
    if ours:
        try:
            desc = fmt.decode(gmeta["biolstm"])
        except (KeyError, ValueError, TypeError):
            desc = {}
    if dt is None:
        dt = _quantity_from_json(desc["dt"]) if "dt" in desc else 1 * ms
    if voltage_unit is None:
        voltage_unit = 1 * volt if ours and _text(gmeta.get("biolstm_voltage_unit")) == "V" else 1 * mV
    step_explicit = ours and _text(gmeta.get("biolstm_step_delay")) == "explicit"
    dt_s, u = float(dt), float(voltage_unit)

    nodes = graph.nodes
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind not in ACCEPTED_NODES:
            extra = (" biolstm's adaptive neuron (AHP) is written as LIF -> Linear -> LI -> Linear(-1) "
                     "-> LIF; NIR has no adaptive node, and CubaLIF/CubaLI (a synaptic current "
                     "filter) have no biolstm counterpart."
                     if kind in ("CubaLIF", "CubaLI", "IF", "I", "Threshold") else "")
            raise NIRImportError(
                f"NIR node '{key}' has type {kind}, which biolstm does not import; accepted types are "
                f"{list(ACCEPTED_NODES)}.{extra}")
    incoming: dict[str, list[str]] = {k: [] for k in nodes}
    outgoing: dict[str, list[str]] = {k: [] for k in nodes}
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in nodes:
                raise NIRImportError(f"NIR edge ({src!r}, {dst!r}) names an unknown node {end!r}")
        outgoing[src].append(dst)
        incoming[dst].append(src)
    kind_of = {k: type(v).__name__ for k, v in nodes.items()}
    loops = _find_ahp_loops(nodes, incoming, outgoing)
    loop_nodes = {k for trio in loops.values() for k in trio}

    used: set[str] = set()
    names: dict[str, str] = {}

    def take_name(key: str, info: dict) -> str:
        wanted = info.get("name") if ours else None
        if isinstance(wanted, str) and wanted.isidentifier() and not wanted.startswith("_") \
                and wanted not in used:
            used.add(wanted)
            return wanted
        return _ident(key, used)

    inputs, populations, sizes = [], [], {}
    gains: dict[str, np.ndarray] = {}
    for key, node in nodes.items():
        kind = kind_of[key]
        role, info = fmt.node_info(node)
        if kind == "Input":
            shape = np.asarray(next(iter(node.input_type.values()))).ravel()
            if len(shape) != 1:
                raise NIRImportError(f"NIR Input '{key}' has shape {tuple(shape)}; only 1-d inputs are supported")
            names[key] = take_name(key, info)
            inputs.append(InputGroup(names[key], int(shape[0])))
            sizes[key] = int(shape[0])
        elif kind in NEURON_NODES and key not in loop_nodes:
            n = _size(key, node)
            tau = _uniform(key, "tau", node.tau, n)
            if tau <= 0:
                raise NIRImportError(f"NIR node '{key}': tau = {tau} s must be > 0")
            r = np.broadcast_to(np.asarray(node.r, dtype=float), (n,))
            gains[key] = np.broadcast_to(fmt.gain(r, dt_s, tau), (n,))
            derived = {"tau_m": tau, "v_rest": _uniform(key, "v_leak", node.v_leak, n) * u}
            if kind == "LIF":
                derived["v_th"] = _uniform(key, "v_threshold", node.v_threshold, n) * u
                v_reset = node.v_reset if node.v_reset is not None else np.zeros(n)
                derived["v_reset"] = _uniform(key, "v_reset", v_reset, n) * u
            model = "li" if kind == "LI" else ("ahp" if key in loops else "lif")
            if model == "ahp":
                jump, li, fb = loops[key]
                li_node = nodes[li]
                tau_a = _uniform(li, "tau", li_node.tau, n)
                if tau_a <= 0:
                    raise NIRImportError(f"NIR LI '{li}' (AHP current of '{key}'): tau = {tau_a} s must be > 0")
                if _uniform(li, "v_leak", li_node.v_leak, n) != 0:
                    raise NIRImportError(f"NIR LI '{li}' (AHP current of '{key}') has v_leak != 0; the "
                                         f"AHP current decays to 0")
                r_a = _uniform(li, "r", li_node.r, n)
                d = _diagonal(jump, nodes[jump], n, f"AHP jump of '{key}'")
                c = -_diagonal(fb, nodes[fb], n, f"AHP feedback of '{key}'")
                r_lif = _uniform(key, "r", node.r, n)
                if not d * c > 0:
                    raise NIRImportError(
                        f"NIR AHP loop of '{key}' ({jump} -> {li} -> {fb}) has jump {d} and feedback "
                        f"{-c}; an after-hyperpolarizing current needs them of opposite sign (e.g. "
                        f"feedback -1 and a positive jump)")
                derived["tau_ahp"] = tau_a
                # R_m * I_ahp = r_lif * c * a * u and a jumps by d * r_a*dt/tau_a per spike
                derived["R_m*delta_I_ahp"] = r_lif * c * (d * fmt.gain(r_a, dt_s, tau_a)) * u
            names[key] = take_name(key, info)
            params = _population_params(get_model(model), derived, info if ours else {}, names[key])
            populations.append(Population(names[key], n, model, params))
            sizes[key] = n

    def resolve_source(key: str) -> tuple[str, np.ndarray]:
        """Follow Delay nodes back from weight node ``key``: (source key, delay per channel in s)."""
        src, total = incoming[key][0], None
        seen = set()
        while kind_of[src] == "Delay":
            if src in seen or len(incoming[src]) != 1:
                raise NIRImportError(f"NIR Delay '{src}' has {len(incoming[src])} incoming edges; "
                                     f"a Delay must have exactly one source")
            seen.add(src)
            role, _ = fmt.node_info(nodes[src])
            value = np.asarray(nodes[src].delay, dtype=float).ravel()
            if not (step_explicit and role == "step_delay"):
                total = value if total is None else total + value
            src = incoming[src][0]
        if src not in sizes or kind_of[src] == "LI":
            raise NIRImportError(
                f"NIR {kind_of[key]} '{key}' is fed by '{src}' ({kind_of[src]}); weights must "
                f"follow an Input or LIF node (possibly through Delay nodes)")
        if total is None:
            total = np.zeros(sizes[src])
        total = np.broadcast_to(total, (sizes[src],)) if total.size in (1, sizes[src]) else total
        if total.shape != (sizes[src],) or not np.all(np.isfinite(total)) or np.any(total < 0):
            raise NIRImportError(f"NIR delays before '{key}' must be finite, >= 0 and one per channel of "
                                 f"'{src}' ({sizes[src]}); got shape {total.shape}")
        return src, total

    for key in (k for k in nodes if kind_of[k] == "Delay"):
        bad = [d for d in outgoing[key] if kind_of[d] not in WEIGHT_NODES + ("Delay",)]
        if bad:
            raise NIRImportError(
                f"NIR Delay '{key}' feeds '{bad[0]}' ({kind_of[bad[0]]}); biolstm reads delays "
                f"placed between a source and its Linear/Affine node")
    groups: dict[str, list[dict]] = {}
    order: list[str] = []
    for key, node in nodes.items():
        kind = kind_of[key]
        if kind not in WEIGHT_NODES or key in loop_nodes:
            continue
        if kind == "Affine" and np.any(np.asarray(node.bias) != 0):
            raise NIRImportError(
                f"NIR Affine '{key}' has a non-zero bias; biolstm synapses carry spikes only (no "
                f"constant current); fold the bias into v_leak or use a Linear node")
        if len(incoming[key]) != 1:
            raise NIRImportError(
                f"NIR {kind} '{key}' has {len(incoming[key])} incoming edges; each weight node must "
                f"have exactly one source (an Input or a neuron node)")
        src, delay = resolve_source(key)
        w = np.asarray(node.weight, dtype=float)
        if w.ndim != 2 or w.shape[1] != sizes[src]:
            raise NIRImportError(
                f"NIR {kind} '{key}': weight shape {w.shape} does not match its source '{src}' of "
                f"size {sizes[src]} (NIR weights are [n_out, n_in])")
        if not outgoing[key]:
            raise NIRImportError(f"NIR {kind} '{key}' has no outgoing edge")
        role, info = fmt.node_info(node)
        for dst in outgoing[key]:
            if kind_of[dst] not in NEURON_NODES or dst in loop_nodes:
                raise NIRImportError(
                    f"NIR {kind} '{key}' feeds '{dst}' ({kind_of[dst]}); weights must "
                    f"end at a LIF or LI node")
            if w.shape[0] != sizes[dst]:
                raise NIRImportError(
                    f"NIR {kind} '{key}': weight has {w.shape[0]} outputs but '{dst}' has {sizes[dst]} neurons")
            jump = (w * gains[dst][:, None]).T * u  # [n_pre, n_post], volt
            if ours and role == "projection" and isinstance(info.get("projection"), str) and len(outgoing[key]) == 1:
                group = info["projection"]
            else:
                group, info = f"{key}_to_{dst}", {}
            if group not in groups:
                groups[group] = []
                order.append(group)
            groups[group].append({"src": src, "dst": dst, "jump": jump, "delay": delay, "info": info})
    for key in nodes:
        if kind_of[key] in NEURON_NODES + ("Input",) and key not in loop_nodes:
            for dst in outgoing[key]:
                if kind_of[dst] not in WEIGHT_NODES + ("Output", "Delay"):
                    raise NIRImportError(
                        f"NIR edge '{key}' -> '{dst}' connects two non-weight nodes; put a Linear node "
                        f"between them")

    projections = []
    for group in order:
        parts = groups[group]
        src, dst, info = parts[0]["src"], parts[0]["dst"], parts[0]["info"]
        if any(p["src"] != src or p["dst"] != dst for p in parts):
            raise NIRImportError(f"NIR weight nodes of projection '{group}' connect different nodes")
        parts.sort(key=lambda p: int(p["info"].get("group", 0)))
        weights = parts[0]["jump"].copy()  # zeros as they are, signed zeros included
        delays = np.where(weights != 0, parts[0]["delay"][:, None], 0.0)
        for p in parts[1:]:
            present = p["jump"] != 0
            if np.any(present & (weights != 0)):
                raise NIRImportError(f"NIR weight nodes of projection '{group}' overlap")
            weights = np.where(present, p["jump"], weights)
            delays = np.where(present, p["delay"][:, None], delays)
        delay = _projection_delay(weights, delays, parts, info, second)
        sparse = info.get("format") == "csr"
        if sparse:
            csr = scipy.sparse.csr_matrix(weights)
            if delay is not None and np.ndim(delay) > 0:
                coo = csr.tocoo()
                delay = delays[coo.row, coo.col] * second
            weights = csr
        pname = info.get("projection") if info else None
        if not (isinstance(pname, str) and pname.isidentifier() and not pname.startswith("_")):
            pname = None
        sign = info.get("sign") if info else None
        projections.append((pname or _ident(group, used), names[src], names[dst], weights, delay,
                            sign if sign in ("excitatory", "inhibitory") else None))

    readout = None
    for key in (k for k in nodes if kind_of[k] == "Output"):
        role, info = fmt.node_info(nodes[key])
        for src in incoming[key]:
            if src not in names or kind_of[src] not in NEURON_NODES:
                raise NIRImportError(
                    f"NIR Output '{key}' is fed by '{src}' ({kind_of[src]}); biolstm reads "
                    f"out the voltage of an LI or LIF node")
            if readout is not None:
                raise NIRImportError("the NIR graph has more than one readout source; biolstm supports one")
            variable = info.get("variable", "v") if ours else "v"
            at = info.get("at", "last") if ours else "last"
            readout = (names[src], str(variable), str(at))

    def ordered(items, key_of, wanted):
        rank = {n: i for i, n in enumerate(wanted or [])}
        return sorted(items, key=lambda it: rank.get(key_of(it), len(rank)))

    try:
        populations = ordered(populations, lambda p: p.name, desc.get("populations"))
        inputs = ordered(inputs, lambda g: g.name, desc.get("inputs"))
        projections = [Projection(n, pre, post, w, weight_unit=volt, delay=d, sign=sg)
                       for n, pre, post, w, d, sg in ordered(projections, lambda p: p[0], desc.get("projections"))]
        readout = Readout(*readout) if readout else None
        if ours and isinstance(desc.get("metadata"), dict):
            meta = dict(desc["metadata"])
        else:
            meta = {"source": "NIR graph", "nir_node_names": names,
                    "nir_conventions": "spike = 1 for one step: jump = r*w*dt/tau; exact leak; one-step "
                                       "delay for population spikes"}
        if name:
            meta["name"] = name
        return NetworkSpec(populations, projections, inputs, readout, dt=dt, metadata=meta)
    except SpecError as err:
        raise NIRImportError(f"the NIR graph does not make a valid network: {err}") from None


def _projection_delay(weights, delays, parts, info, second):
    """The delay of a projection read from NIR: None, a scalar or one per synapse (seconds)."""
    present = weights != 0
    values = np.unique(delays[present])
    form = info.get("delay_form") if info else None
    if form == "none" and not np.any(values != 0):
        return None
    if form == "scalar" and len(parts) == 1:
        channel = np.unique(parts[0]["delay"])
        if len(channel) <= 1:
            return float(channel[0] if len(channel) else 0.0) * second
    if form == "per_synapse":
        return delays * second
    if not np.any(values != 0):
        return None
    if len(values) == 1:
        return float(values[0]) * second
    return delays * second


def _population_params(model, derived: dict, info: dict, owner: str) -> dict:
    """Parameter overrides of a population read from NIR.

    ``derived`` holds what the NIR numbers say (SI floats; for AHP the product
    ``R_m*delta_I_ahp``). If ``info`` (biolstm's metadata) names the same model and its
    exact overrides agree with ``derived``, those overrides are returned unchanged;
    otherwise the NIR numbers are used, with ``R_m`` and ``t_ref`` (which NIR does not
    carry) from the metadata or the model's defaults.
    """
    from brian2 import amp, second, volt

    from biolstm.neurons import ModelError
    from biolstm.spec import _quantity_from_json

    exact = None
    if info.get("model") == model.name and isinstance(info.get("params"), dict):
        try:
            exact = {k: _quantity_from_json(v) for k, v in info["params"].items()}
            full = model.make_params(exact, owner=owner)
        except (ModelError, KeyError, TypeError, ValueError):
            exact = None
    if exact is not None:
        values = {f: float(getattr(full, f)) for f in model.param_names()}
        if "R_m*delta_I_ahp" in derived:
            values["R_m*delta_I_ahp"] = values["R_m"] * values["delta_I_ahp"]
        if all(_close(derived[k], values[k]) for k in derived):
            return exact
    defaults = model.make_params({}, owner=owner)
    base = full if exact is not None else defaults
    units = {"tau_m": second, "tau_ahp": second, "v_rest": volt, "v_th": volt, "v_reset": volt}
    params = {k: v * units[k] for k, v in derived.items() if k in units}
    if "R_m" in model.param_names():
        params["R_m"] = base.R_m
    if "t_ref" in model.param_names():
        params["t_ref"] = base.t_ref
    if "R_m*delta_I_ahp" in derived:
        params["delta_I_ahp"] = derived["R_m*delta_I_ahp"] / float(base.R_m) * amp
    return params
