"""The conventions biolstm uses when it writes or reads NIR graphs (``nir`` 1.0.x).

NIR (Pedersen et al., Nature Communications 15, 8122, 2024) describes neurons by
continuous-time equations with dimensionless numbers, e.g. for ``LIF``
``tau * dv/dt = (v_leak - v) + r * I``. biolstm's populations are Brian2 equations with
units, integrated exactly over a time step ``dt``. This module fixes how one maps to the
other; :mod:`biolstm.convert.nir_export` writes graphs this way and
:mod:`biolstm.convert.nir_graph` reads them (and graphs from other tools).

Units
    biolstm writes SI numbers: ``tau`` and ``Delay.delay`` in seconds; ``v_leak``,
    ``v_threshold``, ``v_reset`` in volts. ``r`` is dimensionless: ``r = tau/dt``.
    A graph written by biolstm says so in its metadata (``biolstm_voltage_unit = "V"``);
    a graph without it is read with ``voltage_unit`` (default 1 mV: other tools use
    thresholds of about 1).

Spikes
    A spike is an input of 1 lasting one step ``dt`` (an impulse of area ``dt``), the
    convention of the discrete-time exporters. Through a ``Linear`` weight ``w`` it makes
    the voltage of a node with ``tau`` and ``r`` jump by ``r * w * dt / tau``. With
    ``r = tau/dt`` a weight *is* the jump in volts, so biolstm writes each projection's
    weights (``[n_pre, n_post]``, transposed to NIR's ``[n_out, n_in]``) unchanged.
    ``r * dt / tau`` within 8 machine epsilons of 1 is taken as exactly 1 (:func:`gain`),
    so the weights come back bit for bit.

Time
    Leaks are integrated exactly (``exp(-dt/tau)``, Brian2's ``method='exact'``). In
    biolstm (and on Loihi) a population's spikes reach their targets one step ``dt``
    after they are emitted; input spikes arrive in the step they are given. NIR edges
    have no delay. ``step_delay="implicit"`` (default) writes no node for that step and
    says so in the metadata (the convention of discrete-time simulators for recurrent
    edges); ``step_delay="explicit"`` writes a ``Delay(dt)`` node after every population
    that sends spikes, so that the graph means in continuous time exactly what biolstm
    runs. A projection's own ``delay`` is always a ``Delay`` node before its ``Linear``.

AHP neurons
    The after-hyperpolarizing current is a leaky integrator of the neuron's own spikes,
    fed back negatively into its input::

        LIF --> Linear(diag(d)) --> LI(tau_ahp, v_leak=0) --> Linear(-1) --> LIF

    with ``d = R_m * delta_I_ahp * dt / tau_m``: the integrator's state is
    ``a = R_m * I_ahp * dt / tau_m`` (volts), and the LIF receives ``-a``, i.e.
    ``tau_m dv/dt = (v_rest - v) + r*(I - a) = (v_rest - v) + r*I - R_m*I_ahp``.
    The nodes carry ``biolstm_role`` metadata (``ahp_jump``, ``ahp_current``,
    ``ahp_feedback``); the importer recognises the loop by its structure alone.

ALIF neurons
    Not expressible: see :data:`ALIF_REFUSAL`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "AHP_PATTERN",
    "ALIF_REFUSAL",
    "STEP_DELAY_MODES",
    "GAIN_SNAP",
    "unit_gain_r",
    "gain",
    "encode",
    "decode",
    "node_info",
]

FORMAT = "biolstm-nir"
"""Value of the graph metadata key ``biolstm_format`` in graphs biolstm writes."""
FORMAT_VERSION = 1
AHP_PATTERN = "LIF -> Linear(diag(R_m*delta_I_ahp*dt/tau_m)) -> LI(tau_ahp, v_leak=0) -> Linear(-1) -> LIF"
STEP_DELAY_MODES = ("implicit", "explicit")

ALIF_REFUSAL = (
    "NIR cannot express the ALIF neuron: its adaptive threshold theta enters the spike "
    "condition v > v_th + theta, and NIR's only spiking nodes (LIF, CubaLIF, IF) compare "
    "with a constant v_threshold; moving theta into the membrane (u = v - theta) makes the "
    "reset state-dependent (u -> v_reset - theta), which a LIF node's constant v_reset "
    "cannot express. Use the AHP model (an adaptation current, which NIR can express as "
    "LIF -> Linear -> LI -> Linear(-1) -> LIF) or keep the network as a NetworkSpec .npz"
)


GAIN_SNAP = 8 * np.finfo(float).eps
"""``r*dt/tau`` within this of 1 counts as exactly 1 (``r = tau/dt`` up to rounding)."""


def gain(r, dt: float, tau: float):
    """Voltage jump per unit weight, ``r * dt / tau`` (scalar or array).

    Values within :data:`GAIN_SNAP` of 1 are returned as exactly 1.0: ``r = tau/dt``
    computed in floating point means "the weight is the jump", and the weight is then
    taken as it is, bit for bit.
    """
    g = np.asarray(r, dtype=float) * dt / tau
    g = np.where(np.abs(g - 1.0) <= GAIN_SNAP, 1.0, g)
    return float(g) if g.ndim == 0 else g


def unit_gain_r(tau: float, dt: float) -> float:
    """The ``r`` biolstm writes for a node with time constant ``tau``: ``tau/dt``.

    With it a ``Linear`` weight is the voltage jump (:func:`gain` is exactly 1.0).
    """
    r = tau / dt
    if gain(r, dt, tau) != 1.0:  # cannot happen: tau/dt*dt/tau is 1 to within 2 ulp
        raise ValueError(f"r = tau/dt = {r!r} does not give a unit gain (tau={tau!r}, dt={dt!r})")
    return r


def encode(obj: Any) -> str:
    """JSON text for NIR metadata (floats keep every bit: JSON uses ``repr``)."""
    return json.dumps(obj, sort_keys=True)


def decode(value: Any) -> Any:
    """Inverse of :func:`encode`; accepts ``bytes`` as h5py may return them."""
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO" and value.ndim == 0:
        return decode(value[()])
    return json.loads(str(value))


def node_info(node) -> tuple[str | None, dict]:
    """``(biolstm_role, decoded biolstm metadata)`` of a NIR node; ``(None, {})`` for others."""
    meta = getattr(node, "metadata", None) or {}
    role = meta.get("biolstm_role")
    if isinstance(role, (bytes, np.bytes_)):
        role = bytes(role).decode("utf-8")
    info = {}
    if "biolstm" in meta:
        try:
            info = decode(meta["biolstm"])
        except (ValueError, TypeError):
            info = {}
    return (str(role) if role is not None else None), (info if isinstance(info, dict) else {})
