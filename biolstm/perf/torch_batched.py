"""A batched, inference-only torch simulation of a NetworkSpec (the throughput reference).

Every sample of a batch is one row of a tensor, all samples advance together, one
time step per loop iteration. The neuron dynamics come from
:meth:`biolstm.neurons.NeuronModel.discrete` (exact one-step propagator, threshold
as a linear condition, reset assignments/increments, refractory steps); nothing is
retyped. One step, in the order of :class:`~biolstm.neurons.DiscreteModel` and of
the Brian2 runner's schedule:

1. ``x = transition @ x + offset`` per neuron (a held refractory membrane stays);
2. synaptic input ``W_in^T x_in[t] + W_rec^T z[t-1]`` is added to the membrane
   (dropped while refractory): input spikes count in their step, population spikes
   one step later;
3. spike where ``threshold_coeffs @ x > threshold_const`` and not refractory;
4. reset (``x[i] = value`` / ``x[i] += value`` where a neuron spiked).

All populations share one index space (neurons of population ``k`` follow those of
``k-1``); models with fewer state variables are padded with a state that stays 0.
Weights are dense matrices below ``dense_limit`` entries and sparse CSR matrices
above. This module is what ``benchmarks/codegen.py`` times against Brian2; with
``dtype=torch.float64`` it reproduces the Brian2 runner's spikes (tests/test_codegen.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from biolstm.activity import Activity, sorted_events
from biolstm.encoding import SpikeTrains
from biolstm.spec import NetworkSpec
from biolstm.train.snn import TorchConversionError  # one home: the torch simulator's error

__all__ = ["BatchedTorchSimulator", "TorchConversionError"]


@dataclass
class _Layout:
    n: int
    slices: dict
    spiking: np.ndarray


class BatchedTorchSimulator:
    """Simulate batches of samples of ``spec`` in torch, one tensor row per sample.

    Parameters
    ----------
    spec : NetworkSpec
        Any biolstm populations; projections without extra delays.
    dtype : torch.dtype
        ``torch.float32`` for speed, ``torch.float64`` to match Brian2 (which computes
        in double precision).
    device : str
        Torch device (``"cpu"``, ``"cuda"``).
    dense_limit : int
        Weight matrices with more entries than this are kept as sparse CSR.
    """

    def __init__(self, spec: NetworkSpec, dtype=None, device: str = "cpu",
                 dense_limit: int = 8_000_000) -> None:
        import torch

        self.torch = torch
        self.spec = spec
        self.dtype = dtype if dtype is not None else torch.float32
        self.device = torch.device(device)
        discs = {p.name: p.neuron_model.discrete(p.neuron_params(), spec.dt) for p in spec.populations}
        n_state = max(len(d.state_names) for d in discs.values())
        slices, start = {}, 0
        for pop in spec.populations:
            slices[pop.name] = slice(start, start + pop.size)
            start += pop.size
        n = start
        trans = np.zeros((n_state, n_state, n))
        offset = np.zeros((n_state, n))
        initial = np.zeros((n_state, n))
        thr_c = np.zeros((n_state, n))
        thr_k = np.zeros(n)
        spiking = np.zeros(n, bool)
        set_mask = np.zeros((n_state, n), bool)
        set_val = np.zeros((n_state, n))
        add_val = np.zeros((n_state, n))
        blocked = np.zeros(n, np.int64)
        for pop in spec.populations:
            d, sl = discs[pop.name], slices[pop.name]
            if d.input_index != 0:
                raise TorchConversionError(
                    f"population '{pop.name}': the membrane must be the first state variable "
                    f"of DiscreteModel (got index {d.input_index})")
            k = len(d.state_names)
            trans[:k, :k, sl] = d.transition[:, :, None]
            offset[:k, sl] = d.offset[:, None]
            initial[:k, sl] = d.initial[:, None]
            if d.spiking:
                thr_c[:k, sl] = d.threshold_coeffs[:, None]
                thr_k[sl] = d.threshold_const
                spiking[sl] = True
                for i, v in d.reset_set:
                    set_mask[i, sl] = True
                    set_val[i, sl] = v
                for i, v in d.reset_add:
                    add_val[i, sl] += v
            blocked[sl] = d.blocked_steps
        self.layout = _Layout(n, slices, spiking)
        self.n_state = n_state

        def T(a, dt=None):
            return torch.as_tensor(a, dtype=dt or self.dtype, device=self.device)

        # per state: list of (j, coefficient vector) with non-zero coefficients only
        self._trans = [[(j, T(trans[i, j])) for j in range(n_state) if np.any(trans[i, j])]
                       for i in range(n_state)]
        self._offset = [T(offset[i]) if np.any(offset[i]) else None for i in range(n_state)]
        self._initial = T(initial)
        self._thr_c = [(i, T(thr_c[i])) for i in range(n_state) if np.any(thr_c[i])]
        self._thr_k = T(np.where(spiking, thr_k, np.inf))
        self._set = [(i, T(set_mask[i], torch.bool), T(set_val[i])) for i in range(n_state)
                     if set_mask[i].any()]
        self._add = [(i, T(add_val[i])) for i in range(n_state) if np.any(add_val[i])]
        self._blocked = T(blocked, torch.int64) if blocked.any() else None

        in_index, start = {}, 0
        for g in spec.inputs:
            in_index[g.name] = slice(start, start + g.size)
            start += g.size
        self.n_inputs = start
        self._in_index = in_index
        w_in: list = []  # (rows, cols, values) parts
        w_rec: list = []
        for proj in spec.projections:
            if proj.delay is not None and np.any(np.asarray(proj.delay) > 0):
                raise TorchConversionError(
                    f"projection '{proj.name}' has extra synaptic delays; the batched torch "
                    f"simulator supports only the implicit one-step delay")
            i, j, w, _ = proj.synapses()
            post = slices[proj.post]
            if spec.is_input(proj.pre):
                w_in.append((i + in_index[proj.pre].start, j + post.start, w))
            else:
                w_rec.append((i + slices[proj.pre].start, j + post.start, w))
        self._w_in = self._matrix(w_in, self.n_inputs, n, dense_limit)
        self._w_rec = self._matrix(w_rec, n, n, dense_limit)

    # ------------------------------------------------------------------------------
    def _matrix(self, parts, n_pre, n_post, dense_limit):
        torch = self.torch
        if parts:
            rows = np.concatenate([p[0] for p in parts])
            cols = np.concatenate([p[1] for p in parts])
            vals = np.concatenate([p[2] for p in parts])
        else:
            rows = cols = np.zeros(0, np.int64)
            vals = np.zeros(0)
        if n_pre * n_post <= dense_limit:
            dense = np.zeros((n_pre, n_post))
            np.add.at(dense, (rows, cols), vals)
            return ("dense", torch.as_tensor(dense, dtype=self.dtype, device=self.device))
        import scipy.sparse

        # stored transposed: out^T = W^T @ in^T with a CSR W^T
        wt = scipy.sparse.csr_matrix((vals, (cols, rows)), shape=(n_post, n_pre))
        wt.sum_duplicates()
        t = torch.sparse_csr_tensor(
            torch.as_tensor(wt.indptr, dtype=torch.int64), torch.as_tensor(wt.indices, dtype=torch.int64),
            torch.as_tensor(wt.data, dtype=self.dtype), size=wt.shape, device=self.device)
        return ("sparse", t)

    def _apply(self, matrix, x):
        kind, w = matrix
        if kind == "dense":
            return x @ w
        return (w @ x.T).T

    # ------------------------------------------------------------------------------
    def dense_inputs(self, inputs: SpikeTrains) -> np.ndarray:
        """Input spikes of all groups side by side, ``bool [S, T, n_inputs]``."""
        inputs.check_against(self.spec)
        out = np.zeros((inputs.n_samples, inputs.n_steps, self.n_inputs), bool)
        for name, sl in self._in_index.items():
            ev = inputs.events[name]
            out[ev[:, 0], ev[:, 1], ev[:, 2] + sl.start] = True
        return out

    def run_batch(self, x, *, record_spikes: bool = True, record_readout: bool = True):
        """Simulate one batch.

        Parameters
        ----------
        x : Tensor or ndarray, ``[B, T, n_inputs]``
            Input spikes (0/1).
        record_spikes : bool
            Keep every spike (``bool [T, B, n]``); otherwise only counts.
        record_readout : bool
            Keep the readout variable at every step (otherwise only at the last step).

        Returns
        -------
        dict with ``"spikes"`` (``bool [T, B, n]`` or None), ``"counts"`` (``[B, n]``),
        ``"membrane"`` (``[T, B, n]`` or None, membrane of every neuron; the readout is
        a slice of it) and ``"last"`` (``[n_state, B, n]``, state after the last step).
        """
        torch = self.torch
        with torch.no_grad():
            x = torch.as_tensor(np.asarray(x), device=self.device).to(self.dtype)
            B, T, _ = x.shape
            n = self.layout.n
            state = [self._initial[i].expand(B, n).clone() for i in range(self.n_state)]
            z = torch.zeros(B, n, dtype=self.dtype, device=self.device)
            counts = torch.zeros(B, n, dtype=self.dtype, device=self.device)
            refr = torch.zeros(B, n, dtype=torch.int64, device=self.device) if self._blocked is not None else None
            spikes = torch.zeros(T, B, n, dtype=torch.bool, device=self.device) if record_spikes else None
            membrane = torch.empty(T, B, n, dtype=self.dtype, device=self.device) if record_readout else None
            for t in range(T):
                new = []
                for i in range(self.n_state):
                    acc = None
                    for j, c in self._trans[i]:
                        acc = state[j] * c if acc is None else acc.add_(state[j] * c)
                    if acc is None:
                        acc = torch.zeros_like(state[i])
                    if self._offset[i] is not None:
                        acc = acc.add_(self._offset[i])
                    new.append(acc)
                current = self._apply(self._w_in, x[:, t])
                if t > 0:
                    current = current.add_(self._apply(self._w_rec, z))
                if refr is not None:
                    held = refr > 0
                    new[0] = torch.where(held, state[0], new[0] + current)
                    refr = (refr - 1).clamp_(min=0)
                else:
                    new[0] = new[0].add_(current)
                h = None
                for i, c in self._thr_c:
                    h = new[i] * c if h is None else h.add_(new[i] * c)
                fired = h > self._thr_k if h is not None else torch.zeros_like(new[0], dtype=torch.bool)
                if refr is not None:
                    fired &= ~held
                    refr = torch.where(fired, (self._blocked - 1).clamp(min=0).expand(B, n), refr)
                z = fired.to(self.dtype)
                for i, mask, val in self._set:
                    new[i] = torch.where(fired & mask, val, new[i])
                for i, val in self._add:
                    new[i] = new[i].add_(z * val)
                counts.add_(z)
                if spikes is not None:
                    spikes[t] = fired
                if membrane is not None:
                    membrane[t] = new[0]
                state = new
            return {"spikes": spikes, "counts": counts, "membrane": membrane, "last": torch.stack(state)}

    def simulate(self, inputs: SpikeTrains, batch_size: int = 256, progress: bool = False) -> Activity:
        """Simulate every sample of ``inputs`` and return an :class:`~biolstm.activity.Activity`."""
        t0 = time.perf_counter()
        spec = self.spec
        dense = self.dense_inputs(inputs)
        S = inputs.n_samples
        parts = {p.name: [] for p in spec.populations if self.layout.spiking[self.layout.slices[p.name]].any()}
        readout = []
        starts = range(0, S, batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="torch", unit="batch", leave=False)
        for start in starts:
            res = self.run_batch(dense[start:start + batch_size])
            spikes = res["spikes"].cpu().numpy()
            for name in parts:
                sl = self.layout.slices[name]
                t, b, k = np.nonzero(spikes[:, :, sl])
                parts[name].append(np.stack([b + start, t, k], axis=1))
            if spec.readout is not None:
                if spec.readout.variable != "v":
                    raise TorchConversionError("only the membrane 'v' can be read out")
                sl = self.layout.slices[spec.readout.population]
                readout.append(res["membrane"][:, :, sl].cpu().numpy().transpose(1, 0, 2))
        return Activity.from_spec(
            spec, inputs, {name: sorted_events(ev) for name, ev in parts.items()},
            readout=np.concatenate(readout).astype(float) if readout else None,
            backend="torch",
            timings={"run_s": time.perf_counter() - t0},
        )

