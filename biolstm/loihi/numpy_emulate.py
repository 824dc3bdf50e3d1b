"""Loihi-exact emulation in plain numpy, batched over samples: the reference for the Brian2 one.

:func:`simulate_quantized_numpy` computes, for a
:class:`~biolstm.loihi.fixed_point.QuantizedNetwork`, what
:func:`biolstm.loihi.emulate.simulate_quantized` computes on a Brian2 backend -- the same
integers, spike for spike (``tests/loihi/test_numpy_emulate.py``; ``benchmarks/throughput.py``
checks it on the bundled sMNIST network and 1,000 test digits) -- without Brian2: every
sample of a chunk is one row of ``[samples, neurons]`` int64 state arrays and one step is
a few dozen whole-array numpy operations. It serves as an independent reference of the
Loihi semantics and as the yardstick the benchmark measures the Brian2 emulation
against ("Loihi-exact mode ahead of plain numpy").

Per step and compartment (the order of :mod:`biolstm.loihi.emulate`; the arithmetic is
:mod:`biolstm.loihi.fixed_point`'s :func:`decay_int`, :func:`wrap_signed`, :func:`saturate`
and :func:`effective_weight`)::

    q  = wrapQ(synaptic input of this step)
    u  = wrapU(decay(u, decay_u) + q)
    ua = wrapU(decay(ua, aux_decay_u) + aux_weight * (soma spiked last step))   # AHP only
    a  = saturate(decay(a, aux_decay_v) + ua)                                     # AHP only
    v  = saturate(decay(v, decay_v) + wrapU(u + bias + a));  v = 0 while refractory
    spike if v > vth (strict): v = 0, refractory counter = refractory_delay - 1

Input spikes count in the step they are given, compartment spikes one step later, and a
synapse's ``delay_steps`` adds to both. Synaptic sums are products of sparse 0/1 spike
matrices with int64 weight matrices (event-driven: only spiking rows cost), then wrapped
like the chip's accumulator.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse

from biolstm.activity import Activity
from biolstm.encoding import SpikeTrains
from biolstm.loihi.emulate import (
    LoihiModeError,
    _check_inputs,
    _check_variable,
    check_quantized,
    chip_state_bits,
    loihi_activity,
)
from biolstm.loihi.fixed_point import DECAY_ONE, QuantizedNetwork, decay_int, effective_weight, saturate, wrap_signed

__all__ = ["simulate_quantized_numpy"]

DEFAULT_CHUNK = 100
"""Samples per chunk: big enough for numpy's per-call overhead to vanish, small enough that
a chunk's state stays in the CPU caches."""


class _Core:
    """Per-neuron constants of all populations laid end to end (the emulator's core)."""

    def __init__(self, qnet: QuantizedNetwork) -> None:
        self.slices: dict[str, slice] = {}
        cols: dict[str, list] = {k: [] for k in ("decay_u", "decay_v", "bias", "vth", "ref_after", "spiking")}
        aux_cols, aux = [], {k: [] for k in ("aux_decay_u", "aux_decay_v", "aux_in")}
        start = 0
        for pop in qnet.populations:
            n = int(pop.size)
            self.slices[pop.name] = slice(start, start + n)
            values = {"decay_u": pop.decay_u, "decay_v": pop.decay_v, "bias": pop.bias,
                      "vth": pop.vth if pop.spiking else 0, "ref_after": int(pop.refractory_delay) - 1,
                      "spiking": bool(pop.spiking)}
            for k, v in values.items():
                cols[k].append(np.full(n, v, dtype=bool if k == "spiking" else np.int64))
            if pop.model == "ahp":
                aux_cols.append(np.arange(start, start + n))
                for k, v in (("aux_decay_u", pop.aux_decay_u), ("aux_decay_v", pop.aux_decay_v),
                             ("aux_in", pop.aux_weight)):
                    aux[k].append(np.full(n, int(v), dtype=np.int64))
            start += n
        self.n = start
        for k, v in cols.items():
            setattr(self, k, np.concatenate(v))
        self.aux_cols = np.concatenate(aux_cols) if aux_cols else np.zeros(0, np.int64)
        for k, v in aux.items():
            setattr(self, k, np.concatenate(v) if v else np.zeros(0, np.int64))
        self.v_init = np.concatenate([np.full(int(p.size), int(getattr(p, "v_init", 0)), np.int64)
                                      for p in qnet.populations])
        self.spiking_cols = np.flatnonzero(self.spiking)
        self.refractory = bool(np.any(self.ref_after[self.spiking] > 0))
        self.full_decay_u = bool(np.all(self.decay_u == DECAY_ONE))
        self.full_aux_decay_u = bool(np.all(self.aux_decay_u == DECAY_ONE))
        self.any_bias = bool(np.any(self.bias != 0))


def _weight_matrices(qnet: QuantizedNetwork, core: _Core, from_input: bool, pre_sizes: Mapping[str, int]
                     ) -> dict[int, np.ndarray]:
    """``{delay: W}``: dense int64 effective weights ``[n_pre, n_neurons]`` per delay value.

    Inputs are indexed by channel (all input groups end to end); populations by neuron.
    """
    offsets, at = {}, 0
    for name, size in pre_sizes.items():
        offsets[name] = at
        at += int(size)
    out: dict[int, np.ndarray] = {}
    for proj in qnet.projections:
        if (proj.pre in qnet.inputs) != from_input or len(proj.weight_mant) == 0:
            continue
        rows = np.asarray(proj.pre_index, np.int64) + (offsets[proj.pre] if from_input
                                                         else core.slices[proj.pre].start)
        cols = np.asarray(proj.post_index, np.int64) + core.slices[proj.post].start
        w = effective_weight(np.asarray(proj.weight_mant).astype(np.int64), proj.weight_exp)
        delays = np.broadcast_to(np.asarray(proj.delay_steps, np.int64), w.shape)
        for d in np.unique(delays):
            m = delays == d
            mat = out.setdefault(int(d), np.zeros((at if from_input else core.n, core.n), np.int64))
            np.add.at(mat, (rows[m], cols[m]), w[m])
    return out


def simulate_quantized_numpy(
    qnet: QuantizedNetwork,
    inputs: SpikeTrains,
    *,
    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> Activity:
    """Emulate Loihi 1 on ``inputs`` in numpy; same result as :func:`~biolstm.loihi.emulate.simulate_quantized`.

    Parameters
    ----------
    qnet : QuantizedNetwork
        Checked with :func:`~biolstm.loihi.emulate.check_quantized` first.
    inputs : SpikeTrains
        ``S`` samples of ``T`` steps; every sample starts from the reset state (``v = v_init``,
        everything else 0).
    record : mapping, optional
        ``{population: (variables, neuron_indices)}``, variables among ``v``, ``u``
        (and ``a``, ``ua`` for AHP populations), recorded after every step.
    chunk : int
        Samples simulated together (rows of the state arrays); the result does not depend on it.

    Returns
    -------
    Activity
        ``spikes`` per spiking population (rows ``(sample, step, neuron)``, sorted),
        ``readout`` int64 ``[S, T, n_out]`` and ``traces`` int64 ``[S, T, k]`` in Loihi
        units, ``metadata`` with ``units="loihi"``, ``volt_per_unit``, ``chip``;
        ``timings["run_s"]`` is the wall time of the emulation.
    """
    check_quantized(qnet)
    _check_inputs(qnet, inputs)
    if int(chunk) < 1:
        raise LoihiModeError(f"chunk = {chunk} must be at least 1 (samples simulated together)")
    t_start = time.perf_counter()
    q_bits, u_bits = chip_state_bits(qnet.chip)
    v_max = 2**u_bits - 1
    core = _Core(qnet)
    record = {name: (list(vs), np.asarray(n, dtype=np.int64).reshape(-1)) for name, (vs, n) in dict(record or {}).items()}
    for name, (variables, neurons) in record.items():
        pop = qnet.population(name)
        for var in variables:
            _check_variable(pop, var, "record")
        if neurons.size and (neurons.min() < 0 or neurons.max() >= pop.size):
            raise LoihiModeError(f"record: neuron indices of {name!r} span {neurons.min()}..{neurons.max()}, "
                                 f"valid is 0..{pop.size - 1}")
    input_names = list(qnet.inputs)
    w_in = _weight_matrices(qnet, core, True, {k: qnet.inputs[k] for k in input_names})
    w_rec = {d: w[core.spiking_cols] for d, w in _weight_matrices(qnet, core, False, {}).items()}
    S, T = inputs.n_samples, inputs.n_steps
    readout = None
    if qnet.readout is not None:
        ro_pop, ro_var, ro_at = qnet.readout
        ro_cols = np.arange(core.slices[ro_pop].start, core.slices[ro_pop].stop)
        readout = np.zeros((S, T, len(ro_cols)), np.int64)
    traces = {f"{p}.{v}": np.zeros((S, T, len(n)), np.int64) for p, (vs, n) in record.items() for v in vs}
    spiking_pops = [p for p in qnet.populations if p.spiking]
    events: dict[str, list[np.ndarray]] = {p.name: [] for p in spiking_pops}
    aux = core.aux_cols
    spk = core.spiking_cols
    max_rec = max(w_rec, default=0) + 1           # a spike of step t arrives at t + 1 + delay
    for first in range(0, S, int(chunk)):
        B = min(int(chunk), S - first)
        part = inputs.subset(slice(first, first + B))
        x = np.concatenate([part.dense(name) for name in input_names], axis=2)
        # input drive of every step: input spikes count in the step they arrive (+ delay);
        # the spikes are sparse: (sparse 0/1 [B*T, channels]) @ (int64 weights), exact
        drive = np.zeros((B, T, core.n), np.int64)
        for d, w in w_in.items():
            if d >= T:
                continue
            xs = scipy.sparse.csr_matrix(x[:, : T - d].reshape(-1, x.shape[2]).astype(np.int64))
            drive[:, d:] += (xs @ w).reshape(B, T - d, core.n)
        pending = np.zeros((max_rec + 1, B, core.n), np.int64)  # recurrent input by arrival step
        u = np.zeros((B, core.n), np.int64)
        v = np.broadcast_to(core.v_init, (B, core.n)).copy()
        ref = np.zeros((B, core.n), np.int64)
        ua = np.zeros((B, len(aux)), np.int64)
        a = np.zeros((B, len(aux)), np.int64)
        za = np.zeros((B, len(aux)), np.int64)
        z_chunk = np.zeros((B, T, len(spk)), dtype=bool)
        for t in range(T):
            slot = t % (max_rec + 1)
            q = wrap_signed(drive[:, t] + pending[slot], q_bits)
            pending[slot] = 0
            # a decay of 4096 keeps nothing: decay_int(x, 4096) == 0, the term is left out
            u = wrap_signed(q if core.full_decay_u else decay_int(u, core.decay_u) + q, u_bits)
            u2 = u + core.bias if core.any_bias else u.copy()
            if len(aux):
                ua_in = core.aux_in * za
                ua = wrap_signed(ua_in if core.full_aux_decay_u else decay_int(ua, core.aux_decay_u) + ua_in,
                                 u_bits)
                a = saturate(decay_int(a, core.aux_decay_v) + ua, v_max)
                u2[:, aux] += a
            v = saturate(decay_int(v, core.decay_v) + wrap_signed(u2, u_bits), v_max)
            if core.refractory:
                v[ref > 0] = 0
                ref = np.maximum(ref - 1, 0)
            z = (v[:, spk] > core.vth[spk])
            if z.any():
                zs = np.zeros((B, core.n), dtype=bool)
                zs[:, spk] = z
                v[zs] = 0
                if core.refractory:
                    ref = np.where(zs, core.ref_after, ref)
                # event-driven: only the rows of the neurons that spiked (sparse @ dense, int64, exact)
                zsp = scipy.sparse.csr_matrix(zs[:, spk].astype(np.int64))
                for d, w in w_rec.items():
                    pending[(t + 1 + d) % (max_rec + 1)] += zsp @ w
                za = zs[:, aux].astype(np.int64)
            else:
                za = np.zeros_like(za)
            z_chunk[:, t] = z
            if readout is not None:
                state = {"v": v, "u": u}
                readout[first:first + B, t] = state[ro_var][:, ro_cols] if ro_var in state else \
                    _aux_state(ro_var, a, ua, aux, ro_cols)
            for pop, (variables, neurons) in record.items():
                cols = neurons + core.slices[pop].start
                for var in variables:
                    values = {"v": v, "u": u}.get(var)
                    traces[f"{pop}.{var}"][first:first + B, t] = (values[:, cols] if values is not None
                                                                  else _aux_state(var, a, ua, aux, cols))
        for pop in spiking_pops:  # (sample, step, neuron) rows, sorted: argwhere's C order
            lo, hi = np.searchsorted(spk, [core.slices[pop.name].start, core.slices[pop.name].stop])
            ev = np.argwhere(z_chunk[:, :, lo:hi]).astype(np.int64)
            ev[:, 0] += first
            events[pop.name].append(ev)
    spikes = {name: np.concatenate(parts) if parts else np.zeros((0, 3), np.int64)
              for name, parts in events.items()}
    return loihi_activity(
        qnet, inputs, spikes, readout=readout, traces=traces,
        trace_neurons={f"{p}.{v}": n for p, (vs, n) in record.items() for v in vs},
        backend="numpy_integer", timings={"run_s": time.perf_counter() - t_start})


def _aux_state(var: str, a: np.ndarray, ua: np.ndarray, aux_cols: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Aux-compartment values (``a`` or ``ua``) of neurons ``cols`` (all of them AHP neurons)."""
    where = np.searchsorted(aux_cols, cols)
    return (a if var == "a" else ua)[:, where]
