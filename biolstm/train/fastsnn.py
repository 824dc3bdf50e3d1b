"""A compiled forward/backward of :class:`~biolstm.train.snn.TorchNetwork` for training.

The Python step loop of ``TorchNetwork.forward`` issues ~30 small torch operations per
time step, and autograd records each one; over 840 steps that dominates training time
on a CPU. This module runs the same step (the numbers still come from
:class:`~biolstm.neurons.DiscreteModel`, passed in as per-neuron coefficient arrays)
in one C++ loop, and backpropagates through time with a hand-written backward:

forward, per step ``t`` and neuron ``n`` (state ``u = (u0, u1)``, membrane ``u0``)::

    I   = sum of w_in rows of the input channels that spiked at t
          + sum of w_rec rows of the neurons that spiked at t-1
    a0  = (T00 u0 + T01 u1 + off0) + I,   a1 = T10 u0 + T11 u1 + off1
    h   = c0 a0 + c1 a1 - const;  z = h > 0              (spiking neurons)
    u_i = a_i (1 - z) + set_i z   if variable i is reset to a value
    u_i = a_i + add_i z           if variable i is incremented

backward (``z`` is a Heaviside step with the LSNN pseudo-derivative
``gamma*max(0, 1-|h|)``; the membrane reset is not differentiated, as in the Python
path with ``detach_reset=True``)::

    ga_i = gu_i (1 - z) for reset-to-value variables, else gu_i
    gh   = (gz + sum_i add_i gu_i) * gamma*max(0, 1-|h|);   ga_i += c_i gh
    gI   = ga0;  gu_prev = T^T ga;  gz_prev = gI @ w_rec^T;
    g_w_rec += z_prev^T gI;  g_w_in += x^T gI

It needs a C++ compiler (torch builds it once with ``torch.utils.cpp_extension`` and
caches it). Where that fails, :func:`available` is False and training uses the Python
path, which gives the same numbers (``tests/test_smnist_train.py`` checks both).
Supported: up to two state variables per neuron, the membrane first, no blocked
refractory steps.
"""

from __future__ import annotations

import os
import warnings

import torch

__all__ = ["available", "load", "FastSequence"]

_SOURCE = r"""
#include <torch/extension.h>
#include <vector>
#include <cmath>

// P: per-neuron parameters [16, N]: T00 T01 T10 T11 off0 off1 c0 c1 const spiking
//    set0_flag set0_val set1_flag set1_val add0 add1
template <typename S>
static void fwd_impl(const uint8_t* x, const S* win, const S* wrec, const S* P,
                     const int64_t* pre2post, const int64_t* ro, int64_t B, int64_t T, int64_t C,
                     int64_t N, int64_t Np, int64_t R, int64_t K, int64_t C0, S* a0s, S* a1s,
                     uint8_t* zs, S* tail, S* counts) {
  std::vector<S> u0(B * N, 0), u1(B * N, 0), I(N);
  std::vector<int64_t> post2pre(N, -1);
  for (int64_t p = 0; p < Np; ++p) post2pre[pre2post[p]] = p;
  const S *T00 = P, *T01 = P + N, *T10 = P + 2 * N, *T11 = P + 3 * N, *o0 = P + 4 * N,
          *o1 = P + 5 * N, *c0 = P + 6 * N, *c1 = P + 7 * N, *cst = P + 8 * N, *spk = P + 9 * N,
          *sf0 = P + 10 * N, *sv0 = P + 11 * N, *sf1 = P + 12 * N, *sv1 = P + 13 * N,
          *ad0 = P + 14 * N, *ad1 = P + 15 * N;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t n = 0; n < N; ++n) I[n] = 0;
      const uint8_t* xt = x + (b * T + t) * C;
      for (int64_t c = 0; c < C; ++c)
        if (xt[c]) {
          const S* w = win + c * N;
          for (int64_t n = 0; n < N; ++n) I[n] += w[n];
        }
      if (t > 0) {
        const uint8_t* zp = zs + ((t - 1) * B + b) * Np;
        for (int64_t p = 0; p < Np; ++p)
          if (zp[p]) {
            const S* w = wrec + p * N;
            for (int64_t n = 0; n < N; ++n) I[n] += w[n];
          }
      }
      S* A0 = a0s + (t * B + b) * N;
      S* A1 = a1s + (t * B + b) * N;
      uint8_t* Z = zs + (t * B + b) * Np;
      S* U0 = u0.data() + b * N;
      S* U1 = u1.data() + b * N;
      for (int64_t n = 0; n < N; ++n) {
        // zero coefficients add exact zeros, so this equals the Python path's sums
        S x0 = ((U0[n] * T00[n] + U1[n] * T01[n]) + o0[n]) + I[n];
        S x1 = (U0[n] * T10[n] + U1[n] * T11[n]) + o1[n];
        A0[n] = x0;
        A1[n] = x1;
        if (spk[n] != 0) {
          S h = c0[n] * x0;
          if (c1[n] != 0) h = h + c1[n] * x1;
          bool z = (h - cst[n]) > 0;
          int64_t p = post2pre[n];
          Z[p] = z;
          if (z) {
            if (t >= C0) counts[b * Np + p] += 1;
            if (sf0[n] != 0) x0 = sv0[n]; else x0 = x0 + ad0[n];
            if (sf1[n] != 0) x1 = sv1[n]; else x1 = x1 + ad1[n];
          }
        }
        U0[n] = x0;
        U1[n] = x1;
      }
      if (t >= T - K)
        for (int64_t r = 0; r < R; ++r) tail[(b * K + (t - (T - K))) * R + r] = U0[ro[r]];
    }
  }
}

std::vector<torch::Tensor> forward(torch::Tensor x, torch::Tensor win, torch::Tensor wrec,
                                   torch::Tensor P, torch::Tensor pre2post, torch::Tensor ro,
                                   int64_t K, int64_t C0) {
  int64_t B = x.size(0), T = x.size(1), C = x.size(2), N = win.size(1), Np = wrec.size(0),
          R = ro.size(0);
  auto opts = win.options();
  auto a0 = torch::empty({T, B, N}, opts), a1 = torch::empty({T, B, N}, opts);
  auto z = torch::zeros({T, B, Np}, opts.dtype(torch::kUInt8));
  auto tail = torch::zeros({B, K, R}, opts), counts = torch::zeros({B, Np}, opts);
  AT_DISPATCH_FLOATING_TYPES(win.scalar_type(), "fastsnn_forward", [&] {
    fwd_impl<scalar_t>(x.data_ptr<uint8_t>(), win.data_ptr<scalar_t>(), wrec.data_ptr<scalar_t>(),
                       P.data_ptr<scalar_t>(), pre2post.data_ptr<int64_t>(),
                       ro.data_ptr<int64_t>(), B, T, C, N, Np, R, K, C0, a0.data_ptr<scalar_t>(),
                       a1.data_ptr<scalar_t>(), z.data_ptr<uint8_t>(), tail.data_ptr<scalar_t>(),
                       counts.data_ptr<scalar_t>());
  });
  return {tail, counts, a0, a1, z};
}

std::vector<torch::Tensor> backward(torch::Tensor gtail, torch::Tensor gcounts, torch::Tensor x,
                                    torch::Tensor wrec, torch::Tensor P, torch::Tensor pre2post,
                                    torch::Tensor ro, torch::Tensor a0s, torch::Tensor a1s,
                                    torch::Tensor zs, double gamma, int64_t C0) {
  int64_t T = a0s.size(0), B = a0s.size(1), N = a0s.size(2), Np = wrec.size(0), R = ro.size(0),
          K = gtail.size(1), C = x.size(2);
  auto opts = a0s.options();
  auto gwin = torch::zeros({C, N}, opts);
  auto gw = torch::zeros({Np, N}, opts);
  auto gI = torch::zeros({B, N}, opts);
  auto gzrec = torch::zeros({B, Np}, opts);
  AT_DISPATCH_FLOATING_TYPES(a0s.scalar_type(), "fastsnn_backward", [&] {
    using S = scalar_t;
    const S* p = P.data_ptr<S>();
    const S *T00 = p, *T01 = p + N, *T10 = p + 2 * N, *T11 = p + 3 * N, *c0 = p + 6 * N,
            *c1 = p + 7 * N, *cst = p + 8 * N, *spk = p + 9 * N, *sf0 = p + 10 * N,
            *sf1 = p + 12 * N, *ad0 = p + 14 * N, *ad1 = p + 15 * N;
    const int64_t* pre2 = pre2post.data_ptr<int64_t>();
    const int64_t* rr = ro.data_ptr<int64_t>();
    std::vector<int64_t> post2pre(N, -1);
    for (int64_t q = 0; q < Np; ++q) post2pre[pre2[q]] = q;
    std::vector<S> gu0(B * N, 0), gu1(B * N, 0);
    const S* GT = gtail.data_ptr<S>();
    const S* GC = gcounts.data_ptr<S>();
    const uint8_t* Zs = zs.data_ptr<uint8_t>();
    S* GWI = gwin.data_ptr<S>();
    const uint8_t* X = x.data_ptr<uint8_t>();
    S* GW = gw.data_ptr<S>();
    S* GI = gI.data_ptr<S>();
    for (int64_t t = T - 1; t >= 0; --t) {
      const S* GZ = gzrec.data_ptr<S>();  // gradient wrt z_t from step t+1's input (0 at T-1)
      for (int64_t b = 0; b < B; ++b) {
        S* G0 = gu0.data() + b * N;
        S* G1 = gu1.data() + b * N;
        if (t >= T - K)
          for (int64_t r = 0; r < R; ++r) G0[rr[r]] += GT[(b * K + (t - (T - K))) * R + r];
        const S* A0 = a0s.data_ptr<S>() + (t * B + b) * N;
        const S* A1 = a1s.data_ptr<S>() + (t * B + b) * N;
        const uint8_t* Z = Zs + (t * B + b) * Np;
        S* gi = GI + b * N;
        for (int64_t n = 0; n < N; ++n) {
          S ga0 = G0[n], ga1 = G1[n];
          if (spk[n] != 0) {
            int64_t q = post2pre[n];
            S z = Z[q] ? S(1) : S(0);
            S gz = GZ[b * Np + q] + (t >= C0 ? GC[b * Np + q] : S(0));
            if (sf0[n] != 0) ga0 = ga0 * (1 - z); else gz += ad0[n] * G0[n];
            if (sf1[n] != 0) ga1 = ga1 * (1 - z); else gz += ad1[n] * G1[n];
            S h = c0[n] * A0[n] + c1[n] * A1[n] - cst[n];
            S pd = 1 - std::abs(h);
            if (pd > 0) {
              S gh = gz * S(gamma) * pd;
              ga0 += c0[n] * gh;
              ga1 += c1[n] * gh;
            }
          }
          gi[n] = ga0;
          G0[n] = T00[n] * ga0 + T10[n] * ga1;
          G1[n] = T01[n] * ga0 + T11[n] * ga1;
        }
        const uint8_t* xt = X + (b * T + t) * C;
        for (int64_t c = 0; c < C; ++c)
          if (xt[c]) {
            S* w = GWI + c * N;
            for (int64_t n = 0; n < N; ++n) w[n] += gi[n];
          }
        if (t > 0) {
          const uint8_t* zp = Zs + ((t - 1) * B + b) * Np;
          for (int64_t q = 0; q < Np; ++q)
            if (zp[q]) {
              S* w = GW + q * N;
              for (int64_t n = 0; n < N; ++n) w[n] += gi[n];
            }
        }
      }
      if (t > 0) gzrec = torch::mm(gI, wrec.t());
    }
  });
  return {gwin, gw};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "biolstm SNN sequence forward");
  m.def("backward", &backward, "biolstm SNN sequence backward");
}
"""

_MODULE = None
_FAILED: str | None = None


def load(verbose: bool = False):
    """Compile (once, cached by torch) and return the extension module, or None."""
    global _MODULE, _FAILED
    if _MODULE is not None or _FAILED is not None:
        return _MODULE
    if os.environ.get("BIOLSTM_NO_FAST_SNN"):
        _FAILED = "disabled by BIOLSTM_NO_FAST_SNN"
        return None
    try:
        from torch.utils.cpp_extension import load_inline

        _MODULE = load_inline(name="biolstm_fastsnn_v4", cpp_sources=[_SOURCE], functions=None,
                              extra_cflags=["-O3", "-march=native"], verbose=verbose)
    except Exception as err:  # no compiler, no ninja, ...
        _FAILED = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        warnings.warn(f"biolstm: compiled SNN kernel unavailable ({_FAILED}); training uses the "
                      f"slower Python step loop", RuntimeWarning, stacklevel=2)
    return _MODULE


def available() -> bool:
    """True if the compiled kernel can be used."""
    return load() is not None


class FastSequence(torch.autograd.Function):
    """Differentiable ``(x, w_in, w_rec) -> (readout tail, spike counts, spikes)``.

    ``x`` are the input spikes as uint8 [B, T, C]; ``w_in`` [C, N] and ``w_rec`` [n_pre, N]
    are the concatenated weights (threshold units). Spike counts are of steps
    ``count_from..T-1`` (0: all steps).
    """

    @staticmethod
    def forward(ctx, x, w_in, w_rec, params, pre2post, readout_idx, tail_steps: int, gamma: float,
                count_from: int = 0):
        mod = load()
        x = x.contiguous()
        tail, counts, a0, a1, z = mod.forward(x, w_in.contiguous(), w_rec.contiguous(), params,
                                              pre2post, readout_idx, int(tail_steps), int(count_from))
        ctx.save_for_backward(x, w_rec, params, pre2post, readout_idx, a0, a1, z)
        ctx.gamma = gamma
        ctx.count_from = int(count_from)
        ctx.mark_non_differentiable(z)
        return tail, counts, z

    @staticmethod
    def backward(ctx, g_tail, g_counts, g_z):
        x, w_rec, params, pre2post, readout_idx, a0, a1, z = ctx.saved_tensors
        if g_tail is None:
            g_tail = torch.zeros((a0.shape[1], 1, readout_idx.shape[0]), dtype=a0.dtype)
        if g_counts is None:
            g_counts = torch.zeros((a0.shape[1], w_rec.shape[0]), dtype=a0.dtype)
        g_in, g_rec = load().backward(g_tail.contiguous(), g_counts.contiguous(), x,
                                      w_rec.contiguous(), params, pre2post, readout_idx, a0, a1, z,
                                      ctx.gamma, ctx.count_from)
        return None, g_in, g_rec, None, None, None, None, None, None
