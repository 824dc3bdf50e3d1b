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

(every sample starts from the model's initial state: ``v = v_rest``, adaptation 0)

backward (``z`` is a Heaviside step with the LSNN pseudo-derivative
``gamma*max(0, 1-|h|)``; the membrane reset is not differentiated, as in the Python
path with ``detach_reset=True``)::

    ga_i = gu_i (1 - z) for reset-to-value variables, else gu_i
    gh   = (gz + sum_i add_i gu_i) * gamma*max(0, 1-|h|);   ga_i += c_i gh
    gI   = ga0;  gu_prev = T^T ga;  gz_prev = gI @ w_rec^T;
    g_w_rec += z_prev^T gI;  g_w_in += x^T gI

How it is fast (measured by ``benchmarks/train_speed.py``):

* ``gz_prev`` is only used where the pseudo-derivative is non-zero (``|h| < 1``, about 13 %
  of the neurons and steps at the trained network's rate), so only those entries of
  ``gI @ w_rec^T`` are computed, as dot products, not the whole matrix product per step;
* spikes are sparse (0.04 per neuron and step): the input current and the weight
  gradients add the rows of the neurons that spiked only;
* samples run in parallel (``torch.get_num_threads()`` threads, each taking the next
  sample or chunk of samples when done). The weight gradients are summed per chunk of
  samples and the chunks in a fixed order, the chunks fixed by the batch size alone, so
  results are bit-identical for any thread count, and training stays deterministic. (On a
  machine whose cores are busy with other jobs, one thread is faster: every parallel region
  waits for its slowest thread to be scheduled; ``benchmarks/train_speed.py`` measures both);
* the steps of a sample before its first input spike are not computed when a step without
  input leaves the initial state exactly as it is (bAbI sentences are right-aligned, about
  half of their steps are padding; digits start with blank rows), and the backward pass
  stops at a sample's first event;
* the per-neuron loops are branch-free, so the compiler vectorises them; the build uses
  ``-march=native`` (its build name, :func:`build_name`, carries a hash of the CPU) and
  ``-ffp-contract=off`` (no fused multiply-adds: the forward pass rounds as the Python
  path's separate operations do, so a float64 forward gives the same spikes).

The forward pass keeps only the spikes and ``1-|h|`` of each spiking neuron and step for
the backward pass (not the state).

It needs a C++ compiler (torch builds it once with ``torch.utils.cpp_extension`` and
caches it under :func:`build_name`). Where that fails, :func:`available` is False and
training uses the Python path, which gives the same numbers (``tests/train/test_fastsnn.py``
and ``tests/train/test_smnist_train.py`` check both). Supported: up to two state variables per
neuron, the membrane first, no blocked refractory steps.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch

log = logging.getLogger(__name__)

__all__ = ["available", "load", "build_flags", "build_name", "FastSequence"]

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

// P: per-neuron parameters [18, N]: T00 T01 T10 T11 off0 off1 c0 c1 const spiking
//    set0_flag set0_val set1_flag set1_val add0 add1 init0 init1
template <typename S>
struct Coeffs {
  const S *T00, *T01, *T10, *T11, *o0, *o1, *c0, *c1, *cst, *spk, *sf0, *sv0, *sf1, *sv1, *ad0,
      *ad1, *in0, *in1;
  Coeffs(const S* P, int64_t N)
      : T00(P), T01(P + N), T10(P + 2 * N), T11(P + 3 * N), o0(P + 4 * N), o1(P + 5 * N),
        c0(P + 6 * N), c1(P + 7 * N), cst(P + 8 * N), spk(P + 9 * N), sf0(P + 10 * N),
        sv0(P + 11 * N), sf1(P + 12 * N), sv1(P + 13 * N), ad0(P + 14 * N), ad1(P + 15 * N),
        in0(P + 16 * N), in1(P + 17 * N) {}
};

constexpr int64_t LANES = 64;  // partial sums of dot(); rows are padded to a multiple of it
static inline int64_t padded(int64_t n) { return (n + LANES - 1) / LANES * LANES; }

template <typename S>
static inline void add_row(S* __restrict__ dst, const S* __restrict__ src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

// a . b for n a multiple of LANES, with LANES independent partial sums (vectorised; a fixed
// order, so deterministic)
template <typename S>
static inline S dot(const S* __restrict__ a, const S* __restrict__ b, int64_t n) {
  S acc[LANES] = {0};
  for (int64_t i = 0; i < n; i += LANES)
    for (int64_t j = 0; j < LANES; ++j) acc[j] += a[i + j] * b[i + j];
  for (int64_t w = LANES / 2; w > 0; w /= 2)
    for (int64_t j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

// The indices i < n with v[i] != 0, in increasing order, into out; returns their number
// (branch-free, so unpredictable spikes cost no branch mispredictions)
static inline int64_t compact(const uint8_t* __restrict__ v, int64_t n, int32_t* __restrict__ out) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[m] = int32_t(i);
    m += v[i] != 0;
  }
  return m;
}

// Any of v[0..n) non-zero?
static inline bool any_set(const uint8_t* __restrict__ v, int64_t n) {
  uint8_t o = 0;
  for (int64_t i = 0; i < n; ++i) o |= v[i];
  return o != 0;
}

// One forward step of every neuron, its input current I summed. Zero coefficients add
// exact zeros, so this rounds as the Python path's sums do.
template <typename S>
static void step_neurons(const Coeffs<S>& k, const S* __restrict__ I, S* __restrict__ U0,
                         S* __restrict__ U1, uint8_t* __restrict__ Zn, S* __restrict__ PDn,
                         const int64_t N) {
  const S *__restrict__ T00 = k.T00, *__restrict__ T01 = k.T01, *__restrict__ T10 = k.T10,
          *__restrict__ T11 = k.T11, *__restrict__ o0 = k.o0, *__restrict__ o1 = k.o1,
          *__restrict__ c0 = k.c0, *__restrict__ c1 = k.c1, *__restrict__ cst = k.cst,
          *__restrict__ spk = k.spk, *__restrict__ sf0 = k.sf0, *__restrict__ sv0 = k.sv0,
          *__restrict__ sf1 = k.sf1, *__restrict__ sv1 = k.sv1, *__restrict__ ad0 = k.ad0,
          *__restrict__ ad1 = k.ad1;
  for (int64_t n = 0; n < N; ++n) {
    S x0 = ((U0[n] * T00[n] + U1[n] * T01[n]) + o0[n]) + I[n];
    S x1 = (U0[n] * T10[n] + U1[n] * T11[n]) + o1[n];
    S h0 = c0[n] * x0;
    S h = c1[n] != 0 ? h0 + c1[n] * x1 : h0;
    S d = h - cst[n];
    bool z = (spk[n] != 0) & (d > 0);
    // reset: set to a value, then add (the Python path's order); unused terms are exact zeros
    S r0 = (sf0[n] != 0 ? sv0[n] : x0) + ad0[n];
    S r1 = (sf1[n] != 0 ? sv1[n] : x1) + ad1[n];
    U0[n] = z ? r0 : x0;
    U1[n] = z ? r1 : x1;
    Zn[n] = z;
    PDn[n] = S(1) - std::abs(d);
  }
}

// One backward step of every neuron. On entry G = gradient wrt the state after step t, on
// exit wrt the state after step t-1; gi = gradient wrt step t's input current; ZF spikes
// (0/1), GZ the gradient wrt the spikes from later steps, PD the pseudo-derivative's
// 1-|h| where positive, else 0.
template <typename S>
static void step_neurons_back(const Coeffs<S>& k, const S* __restrict__ ZF, const S* __restrict__ GZ,
                              const S* __restrict__ PD, const S gamma, S* __restrict__ G0,
                              S* __restrict__ G1, S* __restrict__ gi, const int64_t N) {
  const S *__restrict__ T00 = k.T00, *__restrict__ T01 = k.T01, *__restrict__ T10 = k.T10,
          *__restrict__ T11 = k.T11, *__restrict__ c0 = k.c0, *__restrict__ c1 = k.c1,
          *__restrict__ sf0 = k.sf0, *__restrict__ sf1 = k.sf1, *__restrict__ ad0 = k.ad0,
          *__restrict__ ad1 = k.ad1;
  for (int64_t n = 0; n < N; ++n) {
    S ga0 = G0[n], ga1 = G1[n];
    S gz = (GZ[n] + ad0[n] * ga0) + ad1[n] * ga1;  // through the reset increments
    ga0 = ga0 * (1 - sf0[n] * ZF[n]);               // a reset to a value passes no gradient
    ga1 = ga1 * (1 - sf1[n] * ZF[n]);
    S gh = (gz * gamma) * PD[n];
    ga0 = ga0 + c0[n] * gh;
    ga1 = ga1 + c1[n] * gh;
    gi[n] = ga0;
    G0[n] = T00[n] * ga0 + T10[n] * ga1;
    G1[n] = T01[n] * ga0 + T11[n] * ga1;
  }
}

// f() on min(n, torch.get_num_threads()) threads; each thread takes the next unit of work
// from a shared counter when it is done with one, so a thread that the system deschedules
// delays only its current unit, and which thread does a unit changes no result
template <class F>
static void on_threads(int64_t n, const F& f) {
  at::parallel_for(0, std::min<int64_t>(n, at::get_num_threads()), 1, [&](int64_t, int64_t) { f(); });
}

// Weight gradients are summed per chunk of samples; the number of chunks depends on B
// only (never on the thread count), and chunks are added in a fixed order, so the results
// are bit-identical for any number of threads.
static inline int64_t n_chunks(int64_t B) { return std::min<int64_t>(B, 8); }

// Everything a forward or backward pass reads or writes (sizes and data pointers). The
// per-sample functions take it by value and unpack it into local constants, so that the
// compiler knows no store into the arrays changes them.
template <typename S>
struct Args {
  const uint8_t* x;      // input spikes [B, T, C]
  const S* win;          // [C, N]
  const S* wrec;         // [Np, N]
  const S* P;            // [18, N]
  const int64_t* pre2post;
  const int64_t* ro;     // [R] readout post indices
  int64_t B, T, C, N, Np, R, K, C0;
  bool ident;            // pre2post is the identity
  S* pds;                // [B, T, Np] 1 - |h| (forward: written, backward: read)
  uint8_t* zs;           // [B, T, Np] spikes
  S* tail;               // [B, K, R]
  S* counts;             // [B, Np]
  const S* GT;           // backward: gradient wrt tail [B, K, R]
  const S* GC;           // backward: gradient wrt counts [B, Np]
  S gamma;
};

// The sizes and the read-only connectivity of an Args as local constants, the same in both
// passes (locals rather than a.* reads let the compiler keep them in registers)
#define ARGS_SHAPE(a)                                                                         \
  const int64_t B = a.B, T = a.T, C = a.C, N = a.N, Np = a.Np, R = a.R, K = a.K, C0 = a.C0;   \
  const bool ident = a.ident;                                                                 \
  const int64_t* const pre2post = a.pre2post;                                                 \
  const int64_t* const ro = a.ro

template <typename S>
static void fwd_samples(const Args<S> a, std::atomic<int64_t>* next) {
  ARGS_SHAPE(a);
  const uint8_t* const x = a.x;
  const S* const win = a.win;
  const S* const wrec = a.wrec;
  S* const pds = a.pds;
  uint8_t* const zs = a.zs;
  S* const tail = a.tail;
  S* const counts = a.counts;
  const Coeffs<S> k(a.P, N);
  std::vector<S> u0v(N), u1v(N), Iv(N), pdv(N);
  S* __restrict__ U0 = u0v.data();
  S* __restrict__ U1 = u1v.data();
  S* __restrict__ I = Iv.data();
  S* __restrict__ PDn = pdv.data();
  std::vector<uint8_t> zv(N);
  uint8_t* __restrict__ Zn = zv.data();
  std::vector<int32_t> cv(Np), xlv(C), zlv(Np);
  int32_t* __restrict__ cnt = cv.data();
  int32_t* __restrict__ xl = xlv.data();  // input channels that spike at t
  int32_t* __restrict__ zl = zlv.data();  // neurons (pre index) that spiked at t-1
  // Does a step without input leave the initial state exactly as it is, without a spike?
  // Then the steps of a sample before its first input spike are not computed (sentences
  // are right-aligned, digits start with blank rows): their state is the initial one.
  std::fill(I, I + N, S(0));
  std::copy(k.in0, k.in0 + N, U0);
  std::copy(k.in1, k.in1 + N, U1);
  step_neurons(k, I, U0, U1, Zn, PDn, N);
  const bool still = std::memcmp(U0, k.in0, N * sizeof(S)) == 0 &&
                     std::memcmp(U1, k.in1, N * sizeof(S)) == 0 && !any_set(Zn, N);
  std::vector<S> pd_still(Np);  // 1 - |h| of the initial state
  for (int64_t p = 0; p < Np; ++p) pd_still[p] = PDn[pre2post[p]];
  for (int64_t b = next->fetch_add(1); b < B; b = next->fetch_add(1)) {
    int64_t mz = 0;
    std::copy(k.in0, k.in0 + N, U0);
    std::copy(k.in1, k.in1 + N, U1);
    std::fill(cnt, cnt + Np, 0);
    int64_t t0 = 0;
    if (still)
      while (t0 < T && !any_set(x + (b * T + t0) * C, C)) {
        std::fill(zs + (b * T + t0) * Np, zs + (b * T + t0 + 1) * Np, uint8_t(0));
        std::copy(pd_still.begin(), pd_still.end(), pds + (b * T + t0) * Np);
        if (t0 >= T - K)
          for (int64_t r = 0; r < R; ++r) tail[(b * K + (t0 - (T - K))) * R + r] = U0[ro[r]];
        ++t0;
      }
    for (int64_t t = t0; t < T; ++t) {
      std::fill(I, I + N, S(0));
      const int64_t mx = compact(x + (b * T + t) * C, C, xl);
      for (int64_t i = 0; i < mx; ++i) add_row(I, win + xl[i] * N, N);
      for (int64_t i = 0; i < mz; ++i) add_row(I, wrec + zl[i] * N, N);
      step_neurons(k, I, U0, U1, Zn, PDn, N);
      uint8_t* __restrict__ Z = zs + (b * T + t) * Np;
      S* __restrict__ PD = pds + (b * T + t) * Np;
      if (ident) {
        std::copy(Zn, Zn + Np, Z);
        std::copy(PDn, PDn + Np, PD);
      } else {
        for (int64_t p = 0; p < Np; ++p) {
          Z[p] = Zn[pre2post[p]];
          PD[p] = PDn[pre2post[p]];
        }
      }
      if (t >= C0)
        for (int64_t p = 0; p < Np; ++p) cnt[p] += Z[p];
      mz = compact(Z, Np, zl);  // the spikes that reach step t+1
      if (t >= T - K)
        for (int64_t r = 0; r < R; ++r) tail[(b * K + (t - (T - K))) * R + r] = U0[ro[r]];
    }
    for (int64_t p = 0; p < Np; ++p) counts[b * Np + p] = S(cnt[p]);
  }
}

// pre2post[p] == p for every p (the spiking populations come first)?
static bool identity(const torch::Tensor& pre2post) {
  auto a = pre2post.accessor<int64_t, 1>();
  for (int64_t p = 0; p < a.size(0); ++p)
    if (a[p] != p) return false;
  return true;
}

std::vector<torch::Tensor> forward(torch::Tensor x, torch::Tensor win, torch::Tensor wrec,
                                   torch::Tensor P, torch::Tensor pre2post, torch::Tensor ro,
                                   int64_t K, int64_t C0) {
  int64_t B = x.size(0), T = x.size(1), C = x.size(2), N = win.size(1), Np = wrec.size(0),
          R = ro.size(0);
  const bool ident = identity(pre2post);
  auto opts = win.options();
  auto pd = torch::empty({B, T, Np}, opts);  // sample-major: a sample's steps lie together
  auto z = torch::empty({B, T, Np}, opts.dtype(torch::kUInt8));
  auto tail = torch::zeros({B, K, R}, opts), counts = torch::empty({B, Np}, opts);
  AT_DISPATCH_FLOATING_TYPES(win.scalar_type(), "fastsnn_forward", [&] {
    Args<scalar_t> a{x.data_ptr<uint8_t>(), win.data_ptr<scalar_t>(), wrec.data_ptr<scalar_t>(),
                     P.data_ptr<scalar_t>(), pre2post.data_ptr<int64_t>(), ro.data_ptr<int64_t>(),
                     B, T, C, N, Np, R, K, C0, ident, pd.data_ptr<scalar_t>(),
                     z.data_ptr<uint8_t>(), tail.data_ptr<scalar_t>(), counts.data_ptr<scalar_t>(),
                     nullptr, nullptr, scalar_t(0)};
    std::atomic<int64_t> next{0};
    on_threads(B, [&] { fwd_samples(a, &next); });
  });
  return {tail, counts, pd, z};
}

// The backward pass of the chunks of samples taken from the counter next, each chunk's
// weight gradients into its own [C + Np, N] block of acc; wpad: w_rec, rows padded to Nq
template <typename S>
static void bwd_chunks(const Args<S> a, const S* wpad, const int64_t Nq, S* acc,
                       std::atomic<int64_t>* next) {
  ARGS_SHAPE(a);
  const uint8_t* const X = a.x;
  const S* const pds = a.pds;
  const uint8_t* const zs = a.zs;
  const S* const GT = a.GT;
  const S* const GC = a.GC;
  const S gamma = a.gamma;
  const Coeffs<S> k(a.P, N);
  const int64_t chunks = n_chunks(B), rows = C + Np;
  std::vector<S> g0v(N), g1v(N), gav(Nq, 0), gbv(Nq, 0), gzv(N, 0), zfv(N, 0), pdv(N, 0);
  S* __restrict__ G0 = g0v.data();
  S* __restrict__ G1 = g1v.data();
  S* __restrict__ GZ = gzv.data();
  S* __restrict__ ZF = zfv.data();
  S* __restrict__ PDn = pdv.data();
  std::vector<int32_t> needv(Np), xlv(C), zlv(Np);
  int32_t* __restrict__ need = needv.data();  // spiking neurons with a non-zero pseudo-derivative
  int32_t* __restrict__ xl = xlv.data();
  int32_t* __restrict__ zl = zlv.data();
  for (int64_t ch = next->fetch_add(1); ch < chunks; ch = next->fetch_add(1)) {
    S* const A = acc + ch * rows * N;
    std::fill(A, A + rows * N, S(0));
    for (int64_t b = ch * B / chunks; b < (ch + 1) * B / chunks; ++b) {
      std::fill(G0, G0 + N, S(0));
      std::fill(G1, G1 + N, S(0));
      S* gi = gav.data();     // gradient wrt the input current at step t (zero padded)
      S* gnext = gbv.data();  // ... at step t + 1
      // No weight gradient comes from the steps before the sample's first event (an input
      // spike at t, a spike at t - 1), so the time loop stops there.
      int64_t first = 0;
      while (first < T && !any_set(X + (b * T + first) * C, C) &&
             !(first > 0 && any_set(zs + (b * T + first - 1) * Np, Np)))
        ++first;
      for (int64_t t = T - 1; t >= first; --t) {
        if (t >= T - K)
          for (int64_t r = 0; r < R; ++r) G0[ro[r]] += GT[(b * K + (t - (T - K))) * R + r];
        const uint8_t* __restrict__ Z = zs + (b * T + t) * Np;
        const S* __restrict__ PD = pds + (b * T + t) * Np;
        const S* __restrict__ gc = GC + b * Np;
        const bool counted = t >= C0;
        if (ident) {
          for (int64_t p = 0; p < Np; ++p) {
            ZF[p] = S(Z[p]);
            PDn[p] = PD[p] > 0 ? PD[p] : S(0);
            GZ[p] = counted ? gc[p] : S(0);
          }
        } else {
          for (int64_t p = 0; p < Np; ++p) {
            const int64_t n = pre2post[p];
            ZF[n] = S(Z[p]);
            PDn[n] = PD[p] > 0 ? PD[p] : S(0);
            GZ[n] = counted ? gc[p] : S(0);
          }
        }
        int64_t m = 0;
        for (int64_t p = 0; p < Np; ++p) {
          need[m] = int32_t(p);
          m += PD[p] > 0;
        }
        // the gradient wrt z_t through step t+1's input current, (gI_{t+1} @ w_rec^T)[p],
        // only where the pseudo-derivative passes it on (elsewhere it is never used)
        if (t + 1 < T)
          for (int64_t i = 0; i < m; ++i) {
            const int64_t p = need[i], n = pre2post[p];
            GZ[n] = dot(wpad + p * Nq, gnext, Nq) + GZ[n];
          }
        step_neurons_back(k, ZF, GZ, PDn, gamma, G0, G1, gi, N);
        const int64_t mx = compact(X + (b * T + t) * C, C, xl);
        for (int64_t i = 0; i < mx; ++i) add_row(A + xl[i] * N, gi, N);
        if (t > 0) {
          const int64_t mz = compact(zs + (b * T + t - 1) * Np, Np, zl);
          for (int64_t i = 0; i < mz; ++i) add_row(A + (C + zl[i]) * N, gi, N);
        }
        std::swap(gi, gnext);
      }
    }
  }
}

std::vector<torch::Tensor> backward(torch::Tensor gtail, torch::Tensor gcounts, torch::Tensor x,
                                    torch::Tensor wrec, torch::Tensor P, torch::Tensor pre2post,
                                    torch::Tensor ro, torch::Tensor pds, torch::Tensor zs,
                                    double gamma, int64_t C0) {
  int64_t B = pds.size(0), T = pds.size(1), Np = pds.size(2), N = wrec.size(1), R = ro.size(0),
          K = gtail.size(1), C = x.size(2);
  const bool ident = identity(pre2post);
  auto acc = torch::empty({n_chunks(B), C + Np, N}, pds.options());
  AT_DISPATCH_FLOATING_TYPES(pds.scalar_type(), "fastsnn_backward", [&] {
    using S = scalar_t;
    Args<S> a{x.data_ptr<uint8_t>(), nullptr, wrec.data_ptr<S>(), P.data_ptr<S>(),
              pre2post.data_ptr<int64_t>(), ro.data_ptr<int64_t>(), B, T, C, N, Np, R, K, C0,
              ident, pds.data_ptr<S>(), zs.data_ptr<uint8_t>(), nullptr, nullptr,
              gtail.data_ptr<S>(), gcounts.data_ptr<S>(), S(gamma)};
    const int64_t Nq = padded(N), rows = C + Np, chunks = n_chunks(B);
    std::vector<S> wpad(Np * Nq, S(0));  // w_rec rows padded with zeros for dot()
    const S* w = a.wrec;
    for (int64_t p = 0; p < Np; ++p) std::copy(w + p * N, w + (p + 1) * N, wpad.data() + p * Nq);
    S* A = acc.data_ptr<S>();
    const S* wp = wpad.data();
    std::atomic<int64_t> next{0};
    on_threads(chunks, [&] { bwd_chunks(a, wp, Nq, A, &next); });
    // chunk 0 += chunk 1, 2, ... in this order for every element (any split of the elements)
    at::parallel_for(0, rows * N, 4096, [A, rows, N, chunks](int64_t i0, int64_t i1) {
      for (int64_t ch = 1; ch < chunks; ++ch) add_row(A + i0, A + ch * rows * N + i0, i1 - i0);
    });
  });
  auto g = acc[0];
  return {g.narrow(0, 0, C).clone(), g.narrow(0, C, Np).clone()};
}

// x (any real dtype or bool) as uint8 spikes in one pass, and the flat index of the first
// element that is neither 0 nor 1 (-1 if none)
std::tuple<torch::Tensor, int64_t> spikes_u8(torch::Tensor x) {
  x = x.contiguous();
  auto out = torch::empty(x.sizes(), x.options().dtype(torch::kUInt8));
  uint8_t* o = out.data_ptr<uint8_t>();
  const int64_t n = x.numel();
  int64_t bad = -1;
  AT_DISPATCH_ALL_TYPES_AND(torch::kBool, x.scalar_type(), "fastsnn_spikes", [&] {
    const scalar_t* v = x.data_ptr<scalar_t>();
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) {
      ok &= (v[i] == scalar_t(0)) | (v[i] == scalar_t(1));
      o[i] = v[i] != scalar_t(0);
    }
    if (!ok)
      for (int64_t i = 0; i < n && bad < 0; ++i)
        if (!(v[i] == scalar_t(0) || v[i] == scalar_t(1))) bad = i;
  });
  return {out, bad};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("spikes_u8", &spikes_u8, "input spikes as uint8 (checked to be 0 or 1)");
  m.def("forward", &forward, "biolstm SNN sequence forward");
  m.def("backward", &backward, "biolstm SNN sequence backward");
}
"""


KERNEL_VERSION = 10
"""Bumped whenever the C++ source changes, so that no old build is reused."""
_BASE_FLAGS = ("-O3", "-ffp-contract=off")
"""``-ffp-contract=off``: no fused multiply-adds, so the forward pass rounds exactly as the
Python path's separate torch multiplications and additions do."""

_MODULE = None
_FAILED: str | None = None
BUILD_NAME: str | None = None
"""Name of the loaded build (set by :func:`load`)."""


def _cpu_identity() -> str:
    """What ``-march=native`` compiles for: the CPU model and its instruction-set flags."""
    import platform

    text = ""
    try:
        with open("/proc/cpuinfo") as fh:
            lines = fh.read().splitlines()
        text = "\n".join(sorted({ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags")}))
    except OSError:
        pass
    return text or f"{platform.machine()} {platform.processor()}"


def build_flags() -> tuple[str, ...]:
    """Compiler flags of the kernel: ``_BASE_FLAGS`` plus ``-march=native`` unless
    ``BIOLSTM_FAST_SNN_PORTABLE`` is set."""
    if os.environ.get("BIOLSTM_FAST_SNN_PORTABLE"):
        return _BASE_FLAGS
    return _BASE_FLAGS + ("-march=native",)


def build_name(flags: tuple[str, ...]) -> str:
    """Build (cache) name ``biolstm_fastsnn_v<version>_<key>``.

    ``key`` hashes the flags, the torch version (the extension's ABI) and, with
    ``-march=native``, the CPU identity, so that a cache folder shared by machines with
    different CPUs never hands one machine a binary built for another's instruction set.
    """
    import hashlib

    ident = " ".join(flags) + f"\ntorch {torch.__version__}"
    if "-march=native" in flags:
        ident += "\n" + _cpu_identity()
    return f"biolstm_fastsnn_v{KERNEL_VERSION}_{hashlib.sha256(ident.encode()).hexdigest()[:10]}"


def _build(name: str, flags: tuple[str, ...], verbose: bool):
    """``load_inline`` in torch's extension folder of ``name``, under an ``flock``.

    torch marks a build in progress by the *existence* of a file ``lock`` in that folder and
    waits, without a time limit, until it is gone; a builder killed mid-compile (a session
    or CI job that ended, Ctrl-C) leaves it behind, and every later process would hang. We
    hold an flock (released by the kernel when its holder dies) around the build, so a
    ``lock`` file found while we hold it belongs to a dead builder and is removed.
    """
    from torch.utils.cpp_extension import _get_build_directory, load_inline

    from biolstm.fileio import locked

    folder = Path(_get_build_directory(name, verbose))
    with locked(folder / "biolstm-build.flock"):
        stale = folder / "lock"
        if stale.exists():
            log.warning("removing %s, left by a kernel build that did not finish", stale)
            stale.unlink(missing_ok=True)
        return load_inline(name=name, cpp_sources=[_SOURCE], functions=None,
                           extra_cflags=list(flags), build_directory=str(folder), verbose=verbose)


def load(verbose: bool = False):
    """Compile (once, cached by torch under :func:`build_name`) and return the module, or None."""
    global _MODULE, _FAILED, BUILD_NAME
    if _MODULE is not None or _FAILED is not None:
        return _MODULE
    if os.environ.get("BIOLSTM_NO_FAST_SNN"):
        _FAILED = "disabled by BIOLSTM_NO_FAST_SNN"
        return None
    tries = [build_flags()]
    if tries[0] != _BASE_FLAGS:
        tries.append(_BASE_FLAGS)  # a compiler without -march=native
    for flags in tries:
        try:
            name = build_name(flags)
            _MODULE = _build(name, flags, verbose)
            BUILD_NAME, _FAILED = name, None
            return _MODULE
        except Exception as err:  # no compiler, no ninja, an unknown flag ...
            _FAILED = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            log.info("building the SNN kernel with %s failed: %s", " ".join(flags), _FAILED)
    warnings.warn(f"biolstm: compiled SNN kernel unavailable ({_FAILED}); training uses the "
                  f"slower Python step loop", RuntimeWarning, stacklevel=2)
    return None


def available() -> bool:
    """True if the compiled kernel can be used."""
    return load() is not None


N_PARAMS = 18
"""Rows of the per-neuron parameter array (see the C++ source)."""


class FastSequence(torch.autograd.Function):
    """Differentiable ``(x, w_in, w_rec) -> (readout tail, spike counts, spikes)``.

    ``x`` are the input spikes as uint8 [B, T, C]; ``w_in`` [C, N] and ``w_rec`` [n_pre, N]
    are the concatenated weights (threshold units); ``params`` [N_PARAMS, N] the per-neuron
    coefficients (:meth:`biolstm.train.snn.TorchNetwork._fast_params`); ``pre2post`` [n_pre]
    the post index of each spiking neuron, ``readout_idx`` [R] the post indices read out.
    Returns the readout membranes of the last ``tail_steps`` steps [B, tail_steps, R], the
    spike counts of steps ``count_from..T-1`` [B, n_pre] (0: all steps) and the spikes
    uint8 [B, T, n_pre]. Uses ``torch.get_num_threads()`` threads; the results do not
    depend on their number.
    """

    @staticmethod
    def forward(ctx, x, w_in, w_rec, params, pre2post, readout_idx, tail_steps: int, gamma: float,
                count_from: int = 0):
        mod = load()
        x = x.contiguous()
        w_rec = w_rec.contiguous()
        tail, counts, pd, z = mod.forward(x, w_in.contiguous(), w_rec, params.contiguous(), pre2post,
                                          readout_idx, int(tail_steps), int(count_from))
        ctx.save_for_backward(x, w_rec, params, pre2post, readout_idx, pd, z)
        ctx.gamma = gamma
        ctx.count_from = int(count_from)
        ctx.mark_non_differentiable(z)
        ctx.set_materialize_grads(False)  # no zero [B, T, n_pre] gradient for the spikes
        return tail, counts, z

    @staticmethod
    def backward(ctx, g_tail, g_counts, g_z):
        x, w_rec, params, pre2post, readout_idx, pd, z = ctx.saved_tensors
        B, T, n_pre = pd.shape
        if g_tail is None and g_counts is None:
            return None, None, None, None, None, None, None, None, None
        if g_tail is None:
            g_tail = torch.zeros((B, 1, readout_idx.shape[0]), dtype=pd.dtype)
        if g_counts is None:
            g_counts = torch.zeros((B, n_pre), dtype=pd.dtype)
        g_in, g_rec = load().backward(g_tail.contiguous(), g_counts.contiguous(), x, w_rec, params.contiguous(),
                                      pre2post, readout_idx, pd, z, ctx.gamma, ctx.count_from)
        return None, g_in, g_rec, None, None, None, None, None, None
