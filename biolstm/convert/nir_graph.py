"""Import NIR graphs (the ``nir`` package, Pedersen et al. 2024) into a NetworkSpec.

Accepted node types, and what they become:

============ ===================================================================
NIR node     biolstm
============ ===================================================================
``Input``    an :class:`~biolstm.spec.InputGroup` (1-d shape)
``LIF``      a ``lif`` population (``tau`` -> ``tau_m``, ``v_leak`` -> ``v_rest``,
             ``v_threshold`` -> ``v_th``, ``v_reset`` -> ``v_reset``; the same value
             for every neuron of the node)
``LI``       an ``li`` population (non-spiking readout)
``Linear``   the weights of a projection between the node before and the node after it
``Affine``   the same, if its bias is all zero
``Output``   the readout, when fed by an ``LI`` or ``LIF`` node (its ``v`` at the last step)
============ ===================================================================

Everything else is rejected with an error naming the node, among them ``CubaLIF``,
``CubaLI``, ``IF``, ``I``, ``Delay``, ``Scale``, ``Threshold``, convolutions and pooling.
NIR has **no adaptive neuron node** (no AHP current, no adaptive threshold), so AHP or
ALIF networks cannot travel through NIR; use a NetworkSpec ``.npz`` or the LSNN-style
weight files (:mod:`biolstm.convert.lsnn`).

Discretisation conventions (stated because NIR is continuous-time):

* A spike is an input of 1 for one step ``dt``: a synapse of NIR weight ``w`` onto a
  neuron with ``tau`` and ``r`` makes its voltage jump by ``r * w * dt / tau``
  (times ``voltage_unit``). This is the convention of the discrete-time exporters
  (snnTorch exports ``r = tau/dt``, so the jump is ``w``; Norse uses ``r = 1``).
* The leak is integrated exactly (``exp(-dt/tau)``), as Brian2's ``method='exact'``.
* Spikes of a population reach their targets one step later (biolstm's and Loihi's
  implicit delay); spikes of an ``Input`` in the same step.
* NIR voltages are numbers; ``voltage_unit`` (default 1 mV) gives them a unit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NIRImportError", "ACCEPTED_NODES", "from_nir"]

ACCEPTED_NODES = ("Input", "Output", "Linear", "Affine", "LIF", "LI")


class NIRImportError(ValueError):
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


def from_nir(graph, *, dt=None, voltage_unit=None, name: str | None = None):
    """Build a NetworkSpec from a NIR graph (a ``nir.NIRGraph`` or a path to a ``.nir`` file).

    Parameters
    ----------
    graph : nir.NIRGraph or path-like
    dt : Quantity, optional
        Time step of the discrete simulation (default 1 ms).
    voltage_unit : Quantity, optional
        What a NIR voltage of 1.0 means (default 1 mV).

    Raises
    ------
    NIRImportError
        A node type biolstm cannot express, parameters that differ within a node, a
        non-zero bias, or an edge pattern other than ``source -> Linear/Affine -> neuron``.
    """
    import nir
    from brian2 import mV, ms, second, volt

    from biolstm.spec import InputGroup, NetworkSpec, Population, Projection, Readout

    dt = 1 * ms if dt is None else dt
    voltage_unit = 1 * mV if voltage_unit is None else voltage_unit
    if isinstance(graph, (str, Path)):
        path = Path(graph)
        if not path.is_file():
            raise NIRImportError(f"NIR file {path} does not exist")
        try:
            graph = nir.read(str(path))
        except Exception as err:  # h5py/nir raise many kinds
            raise NIRImportError(f"{path} is not a readable NIR file ({err})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise NIRImportError(f"expected a nir.NIRGraph or a path, got {type(graph).__name__}")

    nodes = graph.nodes
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind not in ACCEPTED_NODES:
            extra = (" NIR has no adaptive neuron node, so AHP/ALIF networks cannot be expressed in NIR; "
                     "use a NetworkSpec .npz or LSNN-style weight files."
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

    used: set[str] = set()
    names: dict[str, str] = {}
    inputs, populations, sizes = [], [], {}
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind == "Input":
            shape = np.asarray(next(iter(node.input_type.values()))).ravel()
            if len(shape) != 1:
                raise NIRImportError(f"NIR Input '{key}' has shape {tuple(shape)}; only 1-d inputs are supported")
            names[key] = _ident(key, used)
            inputs.append(InputGroup(names[key], int(shape[0])))
            sizes[key] = int(shape[0])
        elif kind in ("LIF", "LI"):
            n = _size(key, node)
            tau = _uniform(key, "tau", node.tau, n)
            if tau <= 0:
                raise NIRImportError(f"NIR node '{key}': tau = {tau} s must be > 0")
            params = {"tau_m": tau * second, "v_rest": _uniform(key, "v_leak", node.v_leak, n) * voltage_unit}
            if kind == "LIF":
                params["v_th"] = _uniform(key, "v_threshold", node.v_threshold, n) * voltage_unit
                v_reset = node.v_reset if node.v_reset is not None else np.zeros(n)
                params["v_reset"] = _uniform(key, "v_reset", v_reset, n) * voltage_unit
            names[key] = _ident(key, used)
            populations.append(Population(names[key], n, "lif" if kind == "LIF" else "li", params))
            sizes[key] = n
    neuron_nodes = {k for k, v in nodes.items() if type(v).__name__ in ("LIF", "LI")}

    projections = []
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind not in ("Linear", "Affine"):
            continue
        if kind == "Affine" and np.any(np.asarray(node.bias) != 0):
            raise NIRImportError(
                f"NIR Affine '{key}' has a non-zero bias; biolstm synapses carry spikes only (no "
                f"constant current); fold the bias into v_leak or use a Linear node")
        if len(incoming[key]) != 1:
            raise NIRImportError(
                f"NIR {kind} '{key}' has {len(incoming[key])} incoming edges; each weight node must "
                f"have exactly one source (an Input or a neuron node)")
        src = incoming[key][0]
        if src not in sizes or type(nodes[src]).__name__ == "LI":
            raise NIRImportError(
                f"NIR {kind} '{key}' is fed by '{src}' ({type(nodes[src]).__name__}); weights must "
                f"follow an Input or LIF node")
        w = np.asarray(node.weight, dtype=float)
        if w.ndim != 2 or w.shape[1] != sizes[src]:
            raise NIRImportError(
                f"NIR {kind} '{key}': weight shape {w.shape} does not match its source '{src}' of "
                f"size {sizes[src]} (NIR weights are [n_out, n_in])")
        if not outgoing[key]:
            raise NIRImportError(f"NIR {kind} '{key}' has no outgoing edge")
        for dst in outgoing[key]:
            if dst not in neuron_nodes:
                raise NIRImportError(
                    f"NIR {kind} '{key}' feeds '{dst}' ({type(nodes[dst]).__name__}); weights must "
                    f"end at a LIF or LI node")
            if w.shape[0] != sizes[dst]:
                raise NIRImportError(
                    f"NIR {kind} '{key}': weight has {w.shape[0]} outputs but '{dst}' has {sizes[dst]} neurons")
            post = nodes[dst]
            r = np.broadcast_to(np.asarray(post.r, dtype=float), (sizes[dst],))
            tau = float(np.asarray(post.tau, dtype=float).ravel()[0])
            jump = (w * (r * float(dt) / tau)[:, None]).T * float(voltage_unit)  # [n_pre, n_post], volt
            projections.append(Projection(_ident(f"{key}_to_{dst}", used), names[src], names[dst],
                                          jump, weight_unit=volt))
    for key in neuron_nodes | {k for k, v in nodes.items() if type(v).__name__ == "Input"}:
        for dst in outgoing[key]:
            if type(nodes[dst]).__name__ not in ("Linear", "Affine", "Output"):
                raise NIRImportError(
                    f"NIR edge '{key}' -> '{dst}' connects two non-weight nodes; put a Linear node "
                    f"between them")

    readout = None
    outputs = [k for k, v in nodes.items() if type(v).__name__ == "Output"]
    for key in outputs:
        for src in incoming[key]:
            if src not in neuron_nodes:
                raise NIRImportError(
                    f"NIR Output '{key}' is fed by '{src}' ({type(nodes[src]).__name__}); biolstm reads "
                    f"out the voltage of an LI or LIF node")
            if readout is not None:
                raise NIRImportError("the NIR graph has more than one readout source; biolstm supports one")
            readout = Readout(names[src], "v", "last")
    meta = {"source": "NIR graph", "nir_node_names": names,
            "nir_conventions": "spike = 1 for one step: jump = r*w*dt/tau; exact leak; one-step "
                               "delay for population spikes"}
    if name:
        meta["name"] = name
    return NetworkSpec(populations, projections, inputs, readout, dt=dt, metadata=meta)
