"""A NetworkSpec simulated in torch, step for step as the Brian2 runner does it.

Every number of the neuron dynamics comes from
:meth:`biolstm.neurons.NeuronModel.discrete` (transition matrix, offset, threshold as a
linear condition, reset assignments/increments, refractory steps); nothing is retyped.
States are kept in normalised units (each state variable divided by a scale, see
:func:`population_kernel`) so that float32 training is well conditioned; the mapping
back to SI is exact.

One step ``t`` of :class:`TorchNetwork` (the order of :class:`~biolstm.neurons.DiscreteModel`
and of the schedule in :mod:`biolstm.brian.runner`):

1. ``x = transition @ x + offset`` for every population (refractory membranes stay);
2. synaptic input ``W_in^T x_in[t] + W_rec^T z[t-1]`` is added to the membrane (input
   spikes of this step, population spikes of the previous step);
3. spike where ``threshold_coeffs @ x > threshold_const`` (and not refractory);
4. reset: ``x[i] = value`` / ``x[i] += value`` where a neuron spiked.

Each sample starts from the reset state. Spikes are a Heaviside step in the forward
pass and the LSNN pseudo-derivative ``gamma * max(0, 1 - |h|)`` in the backward pass
(Bellec et al. 2018), ``h`` being the distance to threshold in threshold units.
Optionally the weights are rounded in the forward pass to the paper's 8-bit grid
(``k/127`` of the target's threshold, ``|k| <= 255``) with a straight-through gradient.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from biolstm.activity import Activity, sorted_events
from biolstm.errors import BiolstmError
from biolstm.spec import NetworkSpec, Population, Projection

__all__ = [
    "TorchConversionError",
    "PopulationKernel",
    "population_kernel",
    "spike_fn",
    "quantize_ste",
    "TorchNetwork",
    "SimResult",
    "torch_activity",
    "WEIGHT_LEVELS",
    "WEIGHT_MAX_INT",
]

WEIGHT_LEVELS = 127
"""Integer weight steps per threshold (paper: threshold 127 weight units)."""
WEIGHT_MAX_INT = 255
"""Largest integer weight magnitude (8-bit magnitude plus sign)."""


class TorchConversionError(BiolstmError, ValueError):
    """A NetworkSpec feature the torch simulator does not support."""


# --------------------------------------------------------------------------------------
# Surrogate spike and weight quantization
# --------------------------------------------------------------------------------------


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: torch.Tensor, gamma: float) -> torch.Tensor:
        ctx.save_for_backward(h)
        ctx.gamma = gamma
        return (h > 0).to(h.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (h,) = ctx.saved_tensors
        return grad * ctx.gamma * torch.clamp(1.0 - h.abs(), min=0.0), None


class _SpikeMatmul(torch.autograd.Function):
    """``z @ w`` for a binary, sparse ``z`` [B, n_pre]: rows of ``w`` gathered for the spikes only."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, i = torch.nonzero(z, as_tuple=True)
        out = w.new_zeros((z.shape[0], w.shape[1]))
        out.index_add_(0, b, w.index_select(0, i))
        ctx.save_for_backward(z, w, b, i)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, w, b, i = ctx.saved_tensors
        grad_z = grad @ w.t() if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = torch.zeros_like(w).index_add_(0, i, grad.index_select(0, b))
        return grad_z, grad_w


def spike_matmul(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``z @ w`` for spikes ``z`` in {0, 1}; cheap when few neurons spike (exact gradients)."""
    return _SpikeMatmul.apply(z, w)


def spike_fn(h: torch.Tensor, gamma: float = 0.3) -> torch.Tensor:
    """Heaviside ``h > 0`` with the LSNN pseudo-derivative ``gamma*max(0, 1-|h|)``."""
    return _Spike.apply(h, gamma)


class _Quantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: torch.Tensor, levels: int, max_int: int) -> torch.Tensor:
        return torch.clamp(torch.round(w * levels), -max_int, max_int) / levels

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None, None


def quantize_ste(w: torch.Tensor, levels: int = WEIGHT_LEVELS, max_int: int = WEIGHT_MAX_INT) -> torch.Tensor:
    """Round ``w`` (threshold units) to ``k/levels``, ``|k| <= max_int``; identity gradient.

    The trainer keeps the parameters inside ``[-max_int/levels, max_int/levels]``
    (:meth:`TorchNetwork.clamp_weights_`), so the clamp here never changes a value.
    """
    return _Quantize.apply(w, levels, max_int)


# --------------------------------------------------------------------------------------
# Per-population kernel derived from DiscreteModel
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PopulationKernel:
    """The discrete dynamics of one population in normalised units.

    ``u = x / scales`` element-wise. ``transition[i][j]`` etc. are plain floats; the
    membrane (``input_index``) is in units of ``scales[input_index]`` volts, which for a
    spiking model is the distance from 0 to threshold.
    """

    name: str
    size: int
    model: str
    spiking: bool
    state_names: tuple[str, ...]
    scales: tuple[float, ...]
    transition: tuple[tuple[float, ...], ...]
    offset: tuple[float, ...]
    input_index: int
    threshold_coeffs: tuple[float, ...]
    threshold_const: float
    reset_set: tuple[tuple[int, float], ...]
    reset_add: tuple[tuple[int, float], ...]
    blocked_steps: int
    initial: tuple[float, ...]

    @property
    def membrane_scale(self) -> float:
        """Volts per normalised membrane unit."""
        return self.scales[self.input_index]


def population_kernel(pop: Population, dt, membrane_scale: float | None = None) -> PopulationKernel:
    """Normalised one-step dynamics of ``pop`` from :meth:`NeuronModel.discrete`.

    Scales: the membrane is divided by ``threshold_const / threshold_coeffs[membrane]``
    (``v_th`` for lif/ahp/alif) or by ``membrane_scale`` for a non-spiking population;
    an adaptation variable is divided by its per-spike increment (``delta_I_ahp``,
    ``delta_theta``); any other variable by 1 SI unit (or the membrane scale if it
    has the membrane's unit).
    """
    dm = pop.neuron_model.discrete(pop.neuron_params(), dt)
    n = len(dm.state_names)
    m = dm.input_index
    if dm.spiking and dm.threshold_coeffs[m] > 0 and dm.threshold_const > 0:
        mem_scale = dm.threshold_const / dm.threshold_coeffs[m]
    elif membrane_scale is not None:
        mem_scale = float(membrane_scale)
    else:
        raise TorchConversionError(
            f"population '{pop.name}' ({pop.model}): cannot derive a voltage scale from its "
            f"threshold; pass membrane_scale")
    scales = np.ones(n)
    adds = dict(dm.reset_add)
    for i in range(n):
        if i == m:
            scales[i] = mem_scale
        elif adds.get(i, 0.0) != 0.0:
            scales[i] = abs(adds[i])
        elif dm.state_units[i] == dm.state_units[m]:
            scales[i] = mem_scale
    T = dm.transition * scales[None, :] / scales[:, None]
    offset = dm.offset / scales
    coeffs = dm.threshold_coeffs * scales / mem_scale
    const = dm.threshold_const / mem_scale
    return PopulationKernel(
        name=pop.name, size=pop.size, model=pop.model, spiking=dm.spiking,
        state_names=dm.state_names, scales=tuple(float(s) for s in scales),
        transition=tuple(tuple(float(v) for v in row) for row in T),
        offset=tuple(float(v) for v in offset), input_index=m,
        threshold_coeffs=tuple(float(v) for v in coeffs), threshold_const=float(const),
        reset_set=tuple((i, float(v / scales[i])) for i, v in dm.reset_set),
        reset_add=tuple((i, float(v / scales[i])) for i, v in dm.reset_add),
        blocked_steps=dm.blocked_steps,
        initial=tuple(float(v) for v in dm.initial / scales),
    )


# --------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------


@dataclass
class SimResult:
    """Output of :meth:`TorchNetwork.forward` (normalised units).

    Attributes
    ----------
    readout_last : Tensor [B, n_out]
        Readout membrane at the last step, in units of the readout's membrane scale.
    spike_counts : dict of str to Tensor [B, n]
        Spikes per neuron and sample (differentiable, for rate regularisation).
    spikes : dict of str to Tensor [B, T, n] or None
    readout : Tensor [B, T, n_out] or None
    traces : dict "pop.var" -> Tensor [B, T, k] (SI units) or None
    readout_tail : Tensor [B, K, n_out] or None
        Readout of the last ``readout_steps`` steps (normalised, differentiable).
    """

    readout_last: torch.Tensor | None
    spike_counts: dict[str, torch.Tensor]
    spikes: dict[str, torch.Tensor] | None = None
    readout: torch.Tensor | None = None
    traces: dict[str, torch.Tensor] | None = None
    readout_tail: torch.Tensor | None = None


def _consecutive_slices(named_sizes) -> tuple[dict[str, slice], int]:
    """Lay ``(name, size)`` pairs end to end: ``{name: slice}`` and the total size."""
    slices, start = {}, 0
    for name, size in named_sizes:
        slices[name] = slice(start, start + size)
        start += size
    return slices, start


class TorchNetwork(nn.Module):
    """A trainable torch copy of a :class:`~biolstm.spec.NetworkSpec`.

    Parameters
    ----------
    spec : NetworkSpec
        Populations (any biolstm model), input groups, projections (dense or sparse,
        without extra delays) and a readout. The non-zero pattern of each projection's
        weights is kept as a fixed connectivity mask.
    quantize : bool
        Round weights to the paper's 8-bit grid in the forward pass (straight-through).
    gamma : float
        Dampening factor of the pseudo-derivative (LSNN: 0.3).
    readout_scale : float, optional
        Volts per normalised unit of non-spiking populations (default: the membrane
        scale of the first spiking population, i.e. its ``v_th``).
    detach_reset : bool
        Do not backpropagate through the membrane reset (common practice).
    dtype : torch.dtype
        dtype the weights are made in (float32 for training; :func:`torch_activity` makes
        them in float64 so that inference matches Brian2's float64 arithmetic).
    """

    def __init__(self, spec: NetworkSpec, *, quantize: bool = False, gamma: float = 0.3,
                 readout_scale: float | None = None, detach_reset: bool = True,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.spec = spec
        self._init_dtype = dtype
        self.quantize = quantize
        self.gamma = gamma
        self.detach_reset = detach_reset
        spiking = [p for p in spec.populations if p.neuron_model.threshold is not None]
        if readout_scale is None:
            if spiking:
                readout_scale = population_kernel(spiking[0], spec.dt).membrane_scale
            else:
                raise TorchConversionError("network has no spiking population; pass readout_scale")
        self.readout_scale = float(readout_scale)
        self.kernels = [population_kernel(p, spec.dt, self.readout_scale) for p in spec.populations]
        self.kernel_by_name = {k.name: k for k in self.kernels}
        # index spaces: post = all populations; pre = spiking populations; inputs
        self.post_slices, self.n_post = _consecutive_slices((k.name, k.size) for k in self.kernels)
        self.pre_slices, self.n_pre = _consecutive_slices(
            (k.name, k.size) for k in self.kernels if k.spiking)
        self.input_slices, self.n_inputs = _consecutive_slices((g.name, g.size) for g in spec.inputs)
        self.weights = nn.ParameterDict()
        self.proj_names: list[str] = []
        for proj in spec.projections:
            self._add_projection(proj)
        if spec.readout is not None and spec.readout.variable not in self.kernel_by_name[
                spec.readout.population].state_names:
            raise TorchConversionError(
                f"readout variable {spec.readout.variable!r} is not a state of population "
                f"'{spec.readout.population}'")

    def _add_projection(self, proj: Projection) -> None:
        post = self.kernel_by_name[proj.post]
        if proj.delay is not None and np.any(np.asarray(proj.delay) > 0):
            raise TorchConversionError(
                f"projection '{proj.name}' has synaptic delays; the torch simulator supports only "
                f"the implicit one-step delay of population spikes (remove the delays)")
        if proj.pre in self.kernel_by_name and not self.kernel_by_name[proj.pre].spiking:
            raise TorchConversionError(
                f"projection '{proj.name}' starts at non-spiking population '{proj.pre}'")
        dense = proj.dense() / post.membrane_scale
        self.weights[proj.name] = nn.Parameter(torch.tensor(dense, dtype=self._init_dtype))
        self.register_buffer(f"mask_{proj.name}", torch.tensor(dense != 0, dtype=self._init_dtype))
        self.proj_names.append(proj.name)

    # -- weights ---------------------------------------------------------------------
    def effective_weight(self, name: str) -> torch.Tensor:
        """Weights used in the forward pass (masked, quantised if enabled), threshold units."""
        w = self.weights[name] * getattr(self, f"mask_{name}")
        return quantize_ste(w) if self.quantize else w

    @torch.no_grad()
    def clamp_weights_(self) -> None:
        """Keep parameters on the representable range ``|w| <= 255/127`` (quantised mode)."""
        if self.quantize:
            limit = WEIGHT_MAX_INT / WEIGHT_LEVELS
            for w in self.weights.values():
                w.clamp_(-limit, limit)

    def _big_matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``w_in`` [n_inputs, n_post] and ``w_rec`` [n_pre, n_post]: every projection's
        effective weights placed in one ``index_put`` per matrix (projections onto the same
        pair of neurons are summed in spec order)."""
        ref = next(iter(self.weights.values()))
        if getattr(self, "_block_cache", (None,))[0] != ref.device:  # constant per network
            blocks = {"in": [], "rec": []}
            for proj in self.spec.projections:
                post = self.post_slices[proj.post]
                if proj.pre in self.input_slices:
                    blocks["in"].append(_block_index(self.input_slices[proj.pre], post, ref.device))
                else:
                    blocks["rec"].append(_block_index(self.pre_slices[proj.pre], post, ref.device))
            index = {k: tuple(torch.cat([b[i] for b in v]) if v else torch.zeros(0, dtype=torch.int64)
                              for i in (0, 1)) for k, v in blocks.items()}
            self._block_cache = (ref.device, index)
        index = self._block_cache[1]
        values = {"in": [], "rec": []}
        for proj in self.spec.projections:
            values["in" if proj.pre in self.input_slices else "rec"].append(
                self.effective_weight(proj.name).reshape(-1))
        out = []
        for key, shape in (("in", (self.n_inputs, self.n_post)), ("rec", (self.n_pre, self.n_post))):
            w = ref.new_zeros(shape)
            if values[key]:
                w = w.index_put(index[key], torch.cat(values[key]), accumulate=True)
            out.append(w)
        return out[0], out[1]

    # -- simulation ------------------------------------------------------------------
    def forward(self, x: torch.Tensor, *, record: bool = False,
                traces: Mapping[str, Sequence[str]] | None = None,
                readout_steps: int = 1, count_from: int = 0) -> SimResult:
        """Simulate a batch.

        Parameters
        ----------
        x : Tensor [B, T, n_inputs]
            Input spikes (0/1) of all input groups concatenated in spec order.
        record : bool
            Also return spikes per step and the readout at every step.
        traces : mapping population -> variables, optional
            State variables to record every step (returned in SI units).
        readout_steps : int
            Also return the readout of the last ``readout_steps`` steps
            (:attr:`SimResult.readout_tail`, differentiable), e.g. for a loss over the cue.
        count_from : int
            :attr:`SimResult.spike_counts` counts the spikes of steps ``count_from..T-1``
            (0: every step), e.g. a window at the end of a sentence as a spike code.
        """
        B, T, C = x.shape
        if not 0 <= count_from < max(T, 1):
            raise TorchConversionError(f"count_from={count_from} must be in 0..{T - 1} (T = {T} steps)")
        if C != self.n_inputs:
            raise TorchConversionError(f"input has {C} channels, the network has {self.n_inputs}")
        if self.use_fast and not traces and self._fast_ok():
            return self._forward_fast(x, readout_steps, record, count_from)
        w_in, w_rec = self._big_matrices()
        drive = torch.matmul(x.to(w_in.dtype), w_in)  # [B, T, n_post]
        drive_steps = drive.unbind(1)  # one backward node for all steps, not one per step
        sizes = [k.size for k in self.kernels]
        states = {
            k.name: [drive.new_full((B, k.size), v) for v in k.initial] for k in self.kernels
        }
        refractory = {k.name: drive.new_zeros((B, k.size)) for k in self.kernels if k.blocked_steps}
        z_prev = drive.new_zeros((B, self.n_pre))
        z_all: list[torch.Tensor] = []
        spikes_rec: dict[str, list] = {k.name: [] for k in self.kernels if k.spiking}
        readout_rec: list = []
        tail: list = []
        traces = dict(traces or {})
        trace_rec: dict[str, list] = {f"{p}.{v}": [] for p, vs in traces.items() for v in vs}
        ro = self.spec.readout
        for t in range(T):
            current = drive_steps[t]
            if t > 0 and self.n_pre:
                current = current + spike_matmul(z_prev, w_rec)
            z_parts = []
            for k, inp in zip(self.kernels, torch.split(current, sizes, dim=1)):
                u = states[k.name]
                new = []
                for i in range(len(u)):
                    acc = None
                    for j, c in enumerate(k.transition[i]):
                        if c != 0.0:
                            term = u[j] if c == 1.0 else u[j] * c
                            acc = term if acc is None else acc + term
                    if acc is None:
                        acc = torch.zeros_like(u[i])
                    if k.offset[i] != 0.0:
                        acc = acc + k.offset[i]
                    new.append(acc)
                m = k.input_index
                if k.blocked_steps:
                    ref = refractory[k.name] > 0
                    new[m] = torch.where(ref, u[m], new[m] + inp)
                else:
                    new[m] = new[m] + inp
                if k.spiking:
                    h = None
                    for i, c in enumerate(k.threshold_coeffs):
                        if c != 0.0:
                            term = new[i] if c == 1.0 else new[i] * c
                            h = term if h is None else h + term
                    z = spike_fn(h - k.threshold_const, self.gamma)
                    if k.blocked_steps:
                        z = z * (~ref).to(z.dtype)
                        refractory[k.name] = torch.where(
                            z > 0, torch.full_like(z, float(k.blocked_steps)),
                            torch.clamp(refractory[k.name] - 1, min=0))
                    zr = z.detach() if self.detach_reset else z
                    if k.reset_set:
                        keep = 1 - zr
                        for i, val in k.reset_set:
                            new[i] = new[i] * keep if val == 0.0 else new[i] * keep + val * zr
                    for i, val in k.reset_add:
                        new[i] = new[i] + (z if val == 1.0 else val * z)
                    z_parts.append(z)
                    if record:
                        spikes_rec[k.name].append(z.detach())
                states[k.name] = new
                if k.name in traces:
                    for var in traces[k.name]:
                        i = k.state_names.index(var)
                        trace_rec[f"{k.name}.{var}"].append(new[i].detach() * k.scales[i])
            if self.n_pre:
                z_prev = torch.cat(z_parts, dim=1) if len(z_parts) > 1 else z_parts[0]
                if t >= count_from:
                    z_all.append(z_prev)
            if ro is not None and (record or t >= T - readout_steps):
                kr = self.kernel_by_name[ro.population]
                value = states[ro.population][kr.state_names.index(ro.variable)]
                if t >= T - readout_steps:
                    tail.append(value)
                if record:
                    readout_rec.append(value.detach())
        total = torch.stack(z_all).sum(0) if z_all else drive.new_zeros((B, 0))
        counts = {name: total[:, sl] for name, sl in self.pre_slices.items()}
        readout_last = None
        if ro is not None:
            kr = self.kernel_by_name[ro.population]
            readout_last = states[ro.population][kr.state_names.index(ro.variable)]
        return SimResult(
            readout_last=readout_last,
            spike_counts=counts,
            spikes={n: torch.stack(v, dim=1) for n, v in spikes_rec.items()} if record else None,
            readout=torch.stack(readout_rec, dim=1) if record and readout_rec else None,
            readout_tail=torch.stack(tail, dim=1) if tail else None,
            traces={n: torch.stack(v, dim=1) for n, v in trace_rec.items()} if trace_rec else None,
        )

    # -- compiled path ----------------------------------------------------------------
    use_fast: bool = True
    """Use the compiled kernel (:mod:`biolstm.train.fastsnn`) when it applies."""

    def _fast_ok(self) -> bool:
        from biolstm.train import fastsnn

        ro = self.spec.readout
        return (
            self.detach_reset and self.n_pre > 0
            and all(len(k.state_names) <= 2 and k.input_index == 0 and not k.blocked_steps
                    for k in self.kernels)
            and (ro is None or self.kernel_by_name[ro.population].state_names.index(ro.variable) == 0)
            and fastsnn.available()
        )

    def _fast_params(self, dtype, device) -> torch.Tensor:
        """Per-neuron coefficients [fastsnn.N_PARAMS, n_post] for the compiled kernel (from the kernels)."""
        from biolstm.train.fastsnn import N_PARAMS

        rows = np.zeros((N_PARAMS, self.n_post))
        for k in self.kernels:
            sl = self.post_slices[k.name]
            T = np.zeros((2, 2))
            n = len(k.state_names)
            T[:n, :n] = np.asarray(k.transition)
            rows[0:4, sl] = T.reshape(4, 1)
            rows[4:4 + n, sl] = np.asarray(k.offset)[:, None]
            rows[16:16 + n, sl] = np.asarray(k.initial)[:, None]
            if k.spiking:
                rows[6:6 + n, sl] = np.asarray(k.threshold_coeffs)[:, None]
                rows[8, sl] = k.threshold_const
                rows[9, sl] = 1.0
                for i, val in k.reset_set:
                    rows[10 + 2 * i, sl] = 1.0
                    rows[11 + 2 * i, sl] = val
                for i, val in k.reset_add:
                    rows[14 + i, sl] = val
        return torch.tensor(rows, dtype=dtype, device=device)

    def _forward_fast(self, x: torch.Tensor, readout_steps: int, record: bool = False,
                      count_from: int = 0) -> SimResult:
        from biolstm.train.fastsnn import FastSequence, load

        w_in, w_rec = self._big_matrices()
        x, bad = load().spikes_u8(x)  # one pass: uint8 spikes and the first value not 0 or 1
        if bad >= 0:
            where = tuple(int(i) for i in np.unravel_index(bad, x.shape))
            raise TorchConversionError(f"input spikes must be 0 or 1; element {where} of the "
                                       f"[B, T, channels] input is not")
        ro = self.spec.readout
        key = (w_in.dtype, w_in.device)
        if getattr(self, "_fast_cache", (None,))[0] != key:  # constant per network, dtype and device
            pre2post = torch.cat([torch.arange(self.post_slices[n].start, self.post_slices[n].stop)
                                  for n in self.pre_slices])
            readout_idx = (torch.arange(self.post_slices[ro.population].start,
                                        self.post_slices[ro.population].stop)
                           if ro is not None else torch.zeros(0, dtype=torch.int64))
            self._fast_cache = (key, self._fast_params(*key), pre2post, readout_idx)
        _, params, pre2post, readout_idx = self._fast_cache
        T = x.shape[1]
        steps = T if record else max(1, readout_steps)
        tail, counts, z = FastSequence.apply(x, w_in, w_rec, params, pre2post, readout_idx, steps,
                                             self.gamma, count_from)
        spikes = None
        if record:  # z is [B, T, n_pre]
            spikes = {name: z[:, :, sl].to(w_in.dtype) for name, sl in self.pre_slices.items()}
        return SimResult(
            readout_last=tail[:, -1] if ro is not None else None,
            spike_counts={name: counts[:, sl] for name, sl in self.pre_slices.items()},
            spikes=spikes,
            readout=tail.detach() if record and ro is not None else None,
            readout_tail=tail[:, -max(1, readout_steps):] if ro is not None else None)

    # -- export ----------------------------------------------------------------------
    @torch.no_grad()
    def to_spec(self, metadata: Mapping[str, Any] | None = None) -> NetworkSpec:
        """The network with its current (effective) weights as a NetworkSpec (volts)."""
        from brian2 import volt

        projections = []
        for proj in self.spec.projections:
            w = self.effective_weight(proj.name).double().cpu().numpy()
            w = w * self.kernel_by_name[proj.post].membrane_scale
            projections.append(Projection(proj.name, proj.pre, proj.post, w, weight_unit=volt,
                                          sign=None))
        meta = dict(self.spec.metadata)
        meta.update(metadata or {})
        return NetworkSpec(list(self.spec.populations), projections, list(self.spec.inputs),
                           self.spec.readout, dt=self.spec.dt, metadata=meta)


def _block_index(rows: slice, cols: slice, device) -> tuple[torch.Tensor, torch.Tensor]:
    r = torch.arange(rows.start, rows.stop, device=device)
    c = torch.arange(cols.start, cols.stop, device=device)
    rr, cc = torch.meshgrid(r, c, indexing="ij")
    return rr.reshape(-1), cc.reshape(-1)


def dense_inputs(spec: NetworkSpec, inputs) -> np.ndarray:
    """Concatenate the dense spikes of every input group, ``bool [S, T, n_inputs]``."""
    inputs.check_against(spec)
    return np.concatenate([inputs.dense(g.name) for g in spec.inputs], axis=2)


@torch.no_grad()
def torch_activity(
    spec: NetworkSpec,
    inputs,
    *,
    batch_size: int = 100,
    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
    dtype: torch.dtype = torch.float64,
    progress: bool = False,
) -> Activity:
    """Simulate ``spec`` on ``inputs`` (SpikeTrains) in torch and return an :class:`Activity`.

    The same output format as :func:`biolstm.brian.simulate`, so the two can be
    compared with one code path. Runs in float64 by default (Brian2 computes in
    float64), with the weights exactly as stored in the spec (no quantization).
    """
    net = TorchNetwork(spec, quantize=False, dtype=dtype)  # weights made in dtype, not rounded via float32
    t0 = time.perf_counter()
    record = dict(record or {})
    S = inputs.n_samples
    spikes: dict[str, list] = {k.name: [] for k in net.kernels if k.spiking}
    readout_parts, trace_parts = [], {f"{p}.{v}": [] for p, (vs, _) in record.items() for v in vs}
    iterator = range(0, S, batch_size)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="torch", unit="batch", leave=False)
    for start in iterator:
        sub = inputs.subset(slice(start, min(start + batch_size, S)))
        x = torch.tensor(dense_inputs(spec, sub), dtype=dtype)
        res = net(x, record=True, traces={p: vs for p, (vs, _) in record.items()})
        for name, z in res.spikes.items():
            ev = torch.nonzero(z > 0).cpu().numpy().astype(np.int64)
            ev[:, 0] += start
            spikes[name].append(ev)
        if res.readout is not None:
            scale = net.kernel_by_name[spec.readout.population].scales[
                net.kernel_by_name[spec.readout.population].state_names.index(spec.readout.variable)]
            readout_parts.append(res.readout.cpu().numpy() * scale)
        for key in trace_parts:
            pop = key.split(".")[0]
            idx = np.asarray(record[pop][1], dtype=int)
            trace_parts[key].append(res.traces[key].cpu().numpy()[:, :, idx])
    return Activity.from_spec(
        spec, inputs, {name: sorted_events(parts) for name, parts in spikes.items()},
        readout=np.concatenate(readout_parts) if readout_parts else None,
        traces={k: np.concatenate(v) for k, v in trace_parts.items()},
        trace_neurons={f"{p}.{v}": np.asarray(idx) for p, (vs, idx) in record.items() for v in vs},
        backend="torch",
        timings={"run_s": time.perf_counter() - t0},
    )
