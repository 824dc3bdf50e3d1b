"""Quantize a NetworkSpec to Loihi fixed point: weights, decays, thresholds, refractory, delays.

``quantize(spec, chip="loihi1", **settings) -> QuantizedNetwork``. Every number comes
from the population's exact one-step form (:mod:`.forms`, built on
:meth:`biolstm.neurons.NeuronModel.discrete`) and the chip file (:mod:`.chips`); every
choice on which tools disagree is a setting (:class:`~.settings.LoihiSettings`).

Voltage scale
-------------
Each population has one scale ``volt_per_unit`` (volts of the float model per
integer voltage unit), shared by its threshold, the weights into it and its AHP
current. It is taken, in this order, from the setting ``volt_per_unit``, from the
spec's hint ``spec.metadata["loihi"]["volt_per_unit"][population]`` (set by the
LSNN importer so the paper's integers come back exactly), or chosen automatically:
the threshold mantissa is ``floor(255 * (v_th - v_reset) / w_max)`` (clamped to
1..131071), where ``w_max`` is the largest incoming weight, so that ``w_max`` becomes
mantissa 255 at exponent 0 -- Rao et al.'s convention (effective weight 255*64 = 16320
against a threshold of 127*64 when ``w_max`` is twice the threshold); it leaves room
for 128 such inputs in one step within the 21-bit input accumulator. An AHP population's
threshold mantissa is then multiplied by the setting ``ahp_threshold_scale`` (default 4,
Rao et al.'s ``thrAdaScale``: 508 instead of 127), so its aux compartment's jump spans
more integer units and Loihi's truncating decay shortens the AHP current less. A readout
(no threshold) gets ``volt_per_unit = w_max / (255*64)``. The report says which rule
set each population's scale.

Weights
-------
For each projection the shared exponent is the smallest (never below -6) at which the
largest weight still fits the mantissa range; then every weight is rounded with the
``weight_rounding`` setting onto the format's grid (``2**(8 - bits)``, one more bit
for the mixed format). Weights that round to 0 are dropped (0 means no synapse) and
counted in ``error["n_rounded_to_zero"]``; weights beyond the largest representable
value are a violation, never clipped silently.

Errors
------
Populations whose model has no Loihi form become placeholders (``source_model ==
"unrecognised"``, one compartment per neuron) so that placement still counts their
resources; they are listed as ``"unrecognised"`` violations and must not be emulated.
With ``strict=True`` (default) any broken limit raises :class:`LoihiLimitError`
listing all of them. With ``strict=False`` (what ``check`` uses) the offending values
are clamped to the nearest representable value and every clamp is a
:class:`~.violations.Violation` in ``QuantizedNetwork.violations``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import scipy.sparse

from biolstm.loihi.chips import Chip, load_chip
from biolstm.loihi.fixed_point import QuantizedNetwork, QuantizedPopulation, QuantizedProjection
from biolstm.loihi.forms import FormError, NeuronForm, form_from_population, placeholder_form
from biolstm.loihi.settings import LoihiSettings, make_settings
from biolstm.loihi.violations import LoihiLimitError, Violation

__all__ = [
    "quantize",
    "quantize_forms",
    "RawProjection",
    "decay_from_retained",
    "retained_from_decay",
    "raw_projections",
    "CONVENTION_TEXT",
]

TAU_WARNING = 0.01
"""Relative time-constant error of a 12-bit decay above which a warning is reported."""

WEIGHT_REFERENCE = 255 * 64
"""Effective weight the largest incoming weight gets under the automatic scale."""

CONVENTION_TEXT = {
    "weight_rounding": {
        "nearest_even": "weights rounded to nearest, ties to even (nengo-loihi)",
        "trunc": "weights truncated toward zero (brian2_loihi)",
        "floor": "weights floored toward -inf, inhibitory magnitudes truncated (Lava)",
    },
    "tau_to_decay": {
        "nengo": "decay = round(4095*(1 - exp(-dt/tau))) (nengo-loihi)",
        "nxsdk": "decay = int(4096/tau_steps) (NxSDK, brian2_loihi)",
        "exact": "decay = round(4096*(1 - exp(-dt/tau))) (nearest retained fraction)",
    },
}


@dataclass
class RawProjection:
    """Float synapses of one projection, ready to quantize.

    Attributes
    ----------
    name, pre, post : str
    n_pre, n_post : int
    pre_index, post_index : ndarray of int, sorted by (pre, post)
    weight : ndarray of float
        Per synapse, in the unit of the variable synapses add to (volt for a spec);
        :attr:`NeuronForm.input_gain` of the target turns it into membrane input.
    delay_steps : ndarray of int (possibly a broadcast view)
    sign : {"excitatory", "inhibitory", None}
        Declared sign constraint.
    pre_is_input : bool
    """

    name: str
    pre: str
    post: str
    n_pre: int
    n_post: int
    pre_index: np.ndarray
    post_index: np.ndarray
    weight: np.ndarray
    delay_steps: np.ndarray
    sign: str | None = None
    pre_is_input: bool = False


# --------------------------------------------------------------------------------------
# decays
# --------------------------------------------------------------------------------------


def decay_from_retained(alpha: float, convention: str = "nengo") -> int:
    """12-bit decay for a retained fraction ``alpha = exp(-dt/tau)`` per step (unclamped).

    ``nengo``: ``round(4095*(1-alpha))``; ``nxsdk``: ``int(4096/tau_steps)`` with
    ``tau_steps = -1/ln(alpha)``; ``exact``: ``round(4096*(1-alpha))``.
    """
    alpha = float(alpha)
    if convention == "nengo":
        return int(np.rint(4095.0 * (1.0 - alpha)))
    if convention == "exact":
        return int(np.rint(4096.0 * (1.0 - alpha)))
    if convention == "nxsdk":
        if alpha <= 0:
            return 4096
        if alpha >= 1:
            return 0
        return int(4096.0 * -math.log(alpha))
    raise ValueError(f"unknown tau_to_decay convention {convention!r}")


def retained_from_decay(decay: int) -> float:
    """Fraction kept per step by a Loihi decay value (ignoring truncation)."""
    return (4096 - int(decay)) / 4096.0


def _tau_steps(alpha: float) -> float:
    if alpha <= 0:
        return 0.0
    if alpha >= 1:
        return math.inf
    return -1.0 / math.log(alpha)


def _max_tau_steps(convention: str) -> float:
    """Longest time constant (in steps) whose decay does not round to 0."""
    if convention == "nxsdk":
        return 4096.0
    scale = 4095.0 if convention == "nengo" else 4096.0
    return -1.0 / math.log(1.0 - 0.5 / scale)


# --------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------


def _round(x: np.ndarray, how: str, inhibitory: np.ndarray | None = None) -> np.ndarray:
    if how == "nearest_even":
        return np.rint(x, out=x)
    if how == "trunc":
        return np.trunc(x, out=x)
    if how == "floor":
        # Lava floors (arithmetic shift); inhibitory formats are negated first, so
        # their magnitudes are floored, i.e. truncated toward zero.
        if inhibitory is None:
            return np.floor(x, out=x)
        out = np.floor(x, out=x) if not inhibitory.any() else np.where(inhibitory, np.trunc(x), np.floor(x))
        return out
    raise ValueError(f"unknown weight_rounding {how!r}")


def _format(sign_mode_setting: str, has_pos: bool, has_neg: bool, declared: str | None) -> str:
    if sign_mode_setting == "mixed" and has_pos and has_neg:
        return "mixed"
    if has_pos and has_neg:
        return "split"
    if has_neg or declared == "inhibitory":
        return "inhibitory"
    return "excitatory"


def weight_grid(sign_mode: str, bits: int, mant_full: int = 255) -> tuple[int, int]:
    """Grid step and largest mantissa of a weight format.

    ``bits`` mantissa bits; the mixed format spends one on the sign. The stored
    value is shifted up to 8 bits, so the grid is ``2**(8 - magnitude_bits)`` and the
    largest mantissa ``256 - grid`` (255 for 8 bits, 254 for mixed 8 bits).
    """
    mag_bits = bits - 1 if sign_mode == "mixed" else bits
    grid = 1 << (8 - mag_bits)
    return grid, (mant_full + 1) - grid


def choose_exponent(worst: float, grid: int, mant_max: int, exp_range: tuple[int, int],
                    shift: int = 6) -> int:
    """Smallest exponent (>= -6 and >= the range's low end) at which ``worst`` units fit."""
    exp = max(exp_range[0], -shift)
    while exp < exp_range[1]:
        if np.rint(worst / float(2 ** (shift + exp)) / grid) * grid <= mant_max:
            break
        exp += 1
    return exp


def round_mantissas(x: np.ndarray, *, sign_mode: str, grid: int, mant_max: int,
                    rounding: str) -> tuple[np.ndarray, int]:
    """Round ``x`` (weights in units of the mantissa LSB) onto the format's grid.

    ``x`` is overwritten. Returns int16 mantissas (values beyond ``mant_max`` clamped)
    and the number clamped.
    """
    if grid != 1:
        x /= grid
    inhibitory = x < 0 if (rounding == "floor" and sign_mode in ("inhibitory", "split")) else None
    q = _round(x, rounding, inhibitory)
    top = mant_max // grid
    overflow = int(np.count_nonzero(np.abs(q) > top))
    if overflow:
        np.clip(q, -top, top, out=q)
    mant = q.astype(np.int16)
    if grid != 1:
        mant *= grid
    return mant, overflow


def quantize_weights(
    units: np.ndarray,
    *,
    sign_mode: str,
    bits: int,
    exp_range: tuple[int, int],
    rounding: str,
    mant_full: int = 255,
    shift: int = 6,
) -> tuple[np.ndarray, int, int, float]:
    """Mantissas and shared exponent for effective weights ``units`` (integer-unit floats).

    ``units`` is overwritten (used as scratch). Returns ``(mant, exp, overflow,
    worst)`` where ``overflow`` counts weights beyond the largest representable value at
    the largest exponent (clamped) and ``worst`` is the largest ``|units|``.
    """
    grid, mant_max = weight_grid(sign_mode, bits, mant_full)
    worst = float(np.abs(units).max()) if len(units) else 0.0
    exp = choose_exponent(worst, grid, mant_max, exp_range, shift)
    units *= 1.0 / float(2 ** (shift + exp))
    mant, overflow = round_mantissas(units, sign_mode=sign_mode, grid=grid, mant_max=mant_max,
                                     rounding=rounding)
    return mant, exp, overflow, worst


# --------------------------------------------------------------------------------------
# projections of a spec
# --------------------------------------------------------------------------------------


def raw_projections(spec) -> list[RawProjection]:
    """The spec's projections as sorted synapse arrays, without per-synapse sorting.

    CSR weights are read in place (indices sorted by the spec), dense weights through
    ``np.nonzero`` (row-major, i.e. sorted).
    """
    dt = float(spec.dt)
    out = []
    for proj in spec.projections:
        n_pre, n_post = proj.shape
        if scipy.sparse.issparse(proj.weights):
            csr = proj.weights
            if not csr.has_sorted_indices:
                csr.sort_indices()
            counts = np.diff(csr.indptr)
            pre = np.repeat(np.arange(n_pre, dtype=np.int32), counts)
            post = csr.indices
            w = csr.data
            nonzero = w != 0
            per_entry = proj.delay if proj.delay is not None and proj.delay.ndim else None
            if not nonzero.all():
                pre, post, w = pre[nonzero], post[nonzero], w[nonzero]
                if per_entry is not None:
                    per_entry = per_entry[nonzero]
        else:
            dense = np.asarray(proj.weights)
            pre, post = np.nonzero(dense)
            w = dense[pre, post]
            pre, post = pre.astype(np.int32), post.astype(np.int32)
            per_entry = proj.delay[pre, post] if proj.delay is not None and proj.delay.ndim else None
        if per_entry is not None:
            delay = np.rint(np.asarray(per_entry) / dt).astype(np.int16)
        else:
            scalar = int(np.rint(float(proj.delay) / dt)) if proj.delay is not None else 0
            delay = np.broadcast_to(np.int16(scalar), (len(w),))
        out.append(RawProjection(
            name=proj.name, pre=proj.pre, post=proj.post, n_pre=n_pre, n_post=n_post,
            pre_index=pre, post_index=post, weight=w, delay_steps=delay, sign=proj.sign,
            pre_is_input=spec.is_input(proj.pre),
        ))
    return out


# --------------------------------------------------------------------------------------
# the main entry points
# --------------------------------------------------------------------------------------


def threshold_scale_hint(spec, vth_mant: int = 508) -> dict[str, float]:
    """``spec.metadata["loihi"]["volt_per_unit"]`` that puts every spiking population's
    threshold at mantissa ``vth_mant`` (x 64 units).

    The paper's AHP neurons use 508 (4 x 127, its ``thrAdaScale``): one spike's AHP jump
    then spans 4x more units of the auxiliary compartment than at 127, which keeps it out
    of the regime where Loihi's truncating decay removes one unit per step.

    Returns ``{population: volts per unit}``.
    """
    from biolstm.neurons import get_model

    out = {}
    for pop in spec.populations:
        params = get_model(pop.model).make_params(pop.params)
        if getattr(params, "v_th", None) is not None and pop.model != "li":
            out[pop.name] = float(params.v_th) / (vth_mant * 64)
    return out


def quantize(spec, chip: str | Chip = "loihi1", *, strict: bool = True,
             settings: LoihiSettings | Mapping[str, Any] | None = None, **kwargs: Any) -> QuantizedNetwork:
    """Quantize a :class:`~biolstm.spec.NetworkSpec` to Loihi fixed point.

    Parameters
    ----------
    spec : NetworkSpec
    chip : str, path or Chip
        ``"loihi1"`` (default), ``"loihi2"`` or a chip JSON file.
    strict : bool
        Raise :class:`LoihiLimitError` listing every broken limit (default). With
        False, clamp and record them in ``result.violations`` instead.
    settings, **kwargs
        :class:`~.settings.LoihiSettings` fields (e.g. ``weight_rounding="floor"``).

    Returns
    -------
    QuantizedNetwork
    """
    chip = load_chip(chip)
    cfg = make_settings(settings, **kwargs)
    dt = float(spec.dt)
    forms: list[NeuronForm] = []
    violations: list[Violation] = []
    for pop in spec.populations:
        try:
            forms.append(form_from_population(pop, spec.dt, alif=cfg.alif))
        except FormError as err:
            violations.append(Violation(
                f"population '{pop.name}'", "neuron model has a Loihi form", pop.model,
                "lif, ahp, alif (as ahp), li", str(err), severity="unrecognised"))
            forms.append(placeholder_form(pop.name, pop.size, dt, str(err)))
    hints = dict(((spec.metadata or {}).get("loihi") or {}).get("volt_per_unit") or {})
    readout = None
    if spec.readout is not None:
        readout = (spec.readout.population, spec.readout.variable, spec.readout.at)
    qnet = quantize_forms(
        forms, raw_projections(spec), {g.name: g.size for g in spec.inputs}, chip, cfg, dt,
        readout=readout, hints=hints, strict=False,
    )
    qnet.violations = violations + qnet.violations
    if strict and any(v.severity != "warning" for v in qnet.violations):
        raise LoihiLimitError(
            "the network cannot be quantized for " + chip.name,
            [v for v in qnet.violations if v.severity != "warning"],
        )
    return qnet


def quantize_forms(
    forms: Sequence[NeuronForm],
    projections: Sequence[RawProjection],
    inputs: Mapping[str, int],
    chip: Chip,
    cfg: LoihiSettings,
    dt: float,
    *,
    readout: tuple[str, str, str] | None = None,
    hints: Mapping[str, float] | None = None,
    strict: bool = True,
) -> QuantizedNetwork:
    """Quantize neuron forms and float synapses (the common core of spec and Brian2 input).

    Projections into populations without a form (unrecognised models) are skipped.
    """
    hints = dict(hints or {})
    violations: list[Violation] = []
    notes: list[str] = []
    by_name = {f.name: f for f in forms}
    # largest incoming membrane input per population, for the automatic scale
    w_max: dict[str, float] = {f.name: 0.0 for f in forms}
    for raw in projections:
        if raw.post in by_name and len(raw.weight):
            gain = abs(by_name[raw.post].input_gain)
            w_max[raw.post] = max(w_max[raw.post], float(np.abs(raw.weight).max()) * gain)
    pops: list[QuantizedPopulation] = []
    for form in forms:
        pop, pv = _quantize_population(form, chip, cfg, w_max[form.name], hints)
        pops.append(pop)
        violations += pv
    scales = {p.name: p.volt_per_unit for p in pops}
    qprojs: list[QuantizedProjection] = []
    exp_range = tuple(chip.option("weight_exponent_range", cfg.weight_exponent_range))
    max_delay = chip.value("max_delay_steps")
    for raw in projections:
        if raw.post not in by_name:
            continue
        if raw.pre in by_name and not by_name[raw.pre].spiking:
            continue
        qp, pv = _quantize_projection(raw, by_name[raw.post], scales[raw.post], chip, cfg, exp_range)
        if max_delay is not None and qp.max_delay > max_delay:
            violations.append(Violation(
                f"projection '{raw.name}'", "synaptic delay", f"{qp.max_delay} steps", f"{max_delay} steps",
                f"shorten the delays to at most {max_delay} steps, or chain relay neurons for longer ones"))
        qprojs.append(qp)
        violations += pv
    conventions = {
        "weight_rounding": CONVENTION_TEXT["weight_rounding"][cfg.weight_rounding],
        "tau_to_decay": CONVENTION_TEXT["tau_to_decay"][cfg.tau_to_decay],
        "weight_exponent_range": f"{exp_range[0]}..{exp_range[1]} ({cfg.weight_exponent_range}); "
                                 f"chosen exponents are never below -6",
        "refractory_max": f"{chip.option('refractory_max', cfg.refractory_max)} ({cfg.refractory_max})",
        "sign_mode": ("one format per sign for mixed-sign projections (Rao et al.)" if cfg.sign_mode == "auto"
                      else "one mixed-sign format per projection (even mantissas)"),
        "alif": ("ALIF mapped onto the AHP form with matched parameters" if cfg.alif == "ahp"
                 else "ALIF rejected"),
    }
    qnet = QuantizedNetwork(
        chip=chip.name, dt=float(dt), inputs=dict(inputs), populations=pops, projections=qprojs,
        readout=readout, conventions=conventions, settings=cfg.as_dict(), violations=violations,
        notes=notes,
    )
    if strict and any(v.severity != "warning" for v in violations):
        raise LoihiLimitError("the network cannot be quantized for " + chip.name,
                              [v for v in violations if v.severity != "warning"])
    return qnet


def _tau_name(form: NeuronForm, which: str) -> str:
    if which == "v":
        return "tau_m"
    if which == "u":
        return "tau_syn"
    return {"alif": "tau_a"}.get(form.source_model, "tau_ahp")


def _decay(form: NeuronForm, alpha: float, which: str, cfg: LoihiSettings, chip: Chip,
           allow_full: bool) -> tuple[int, list[Violation]]:
    """Decay for a retained fraction, with the violations of its range."""
    out: list[Violation] = []
    where = f"population '{form.name}'"
    tau_label = _tau_name(form, which)
    dmax = int(chip.value("decay_max"))
    if not (-1e-12 <= alpha <= 1 + 1e-12):
        out.append(Violation(where, f"{tau_label} decay", f"retained fraction {alpha:.6g} per step",
                             "0..1", "Loihi state variables can only decay; use a positive time constant"))
        return (dmax if which == "v" else 4096), out
    d = decay_from_retained(alpha, cfg.tau_to_decay)
    tau = _tau_steps(alpha)
    if d <= 0 and alpha < 1:
        tmax = _max_tau_steps(cfg.tau_to_decay)
        out.append(Violation(
            where, f"{tau_label} decay (12 bit)",
            f"{tau_label} = {tau * form.dt:.6g} s = {tau:.6g} steps (decay {4095 * (1 - alpha):.3g}/4096)",
            f"{tmax:.0f} steps",
            f"{tau_label} = {tau * form.dt:.4g} s needs a decay below the 12-bit resolution at dt = "
            f"{form.dt * 1e3:g} ms; use {tau_label} <= {tmax * form.dt:.4g} s or a larger dt"))
        d = 1 if which != "v" else 0
    if which == "u" and d < 1:
        out.append(Violation(
            where, "current decay", "a non-decaying synaptic current", "decay_u >= 1 (Loihi 1 adds 1)",
            "give the synaptic current a finite time constant"))
        d = 1
    top = 4096 if allow_full else dmax
    if d > top:
        d = top  # nearest representable: keeps 1/4096 instead of nothing
    if 0 < alpha < 1 and 0 < d < 4096:
        tau_loihi = _tau_steps(retained_from_decay(d))
        rel = abs(tau_loihi - tau) / tau
        if rel > TAU_WARNING:
            out.append(Violation(
                where, f"{tau_label} resolution (12-bit decay)",
                f"{tau * form.dt * 1e3:.4g} ms -> {tau_loihi * form.dt * 1e3:.4g} ms ({rel:.1%} off, decay {d}/4096)",
                f"{TAU_WARNING:.0%}",
                f"the decay per step is small at dt = {form.dt * 1e3:g} ms; a larger dt gives a finer "
                f"time-constant resolution (or accept the effective value)", severity="warning"))
    return d, out


def _quantize_population(form: NeuronForm, chip: Chip, cfg: LoihiSettings, w_max: float,
                         hints: Mapping[str, float]) -> tuple[QuantizedPopulation, list[Violation]]:
    where = f"population '{form.name}'"
    out: list[Violation] = []
    error: dict[str, Any] = {}
    notes = list(form.notes)
    shift = int(chip.value("threshold_shift"))
    vth_max = int(chip.value("threshold_mantissa_max"))
    # -- voltage scale ---------------------------------------------------------------
    if form.name in cfg.volt_per_unit:
        vpu, how = float(cfg.volt_per_unit[form.name]), "setting volt_per_unit"
    elif form.name in hints:
        vpu, how = float(hints[form.name]), "spec.metadata['loihi']['volt_per_unit'] hint"
    elif form.spiking:
        if w_max > 0:
            mant = int(min(max(math.floor(255.0 * form.threshold / w_max), 1), vth_max))
            how = "automatic: largest incoming weight -> mantissa 255 at exponent 0"
        else:
            mant = 127
            how = "automatic: no incoming weights, threshold mantissa 127"
        if form.model == "ahp" and cfg.ahp_threshold_scale > 1:
            mant = min(mant * cfg.ahp_threshold_scale, vth_max)
            how += (f", x{cfg.ahp_threshold_scale} finer for the AHP aux compartment "
                    f"(setting ahp_threshold_scale)")
        vpu = form.threshold / (mant << shift)
    else:
        if w_max > 0:
            vpu, how = w_max / WEIGHT_REFERENCE, "automatic: largest incoming weight -> 255*64 units"
        else:
            vpu, how = 0.01 / 8128, "automatic: no incoming weights, 10 mV per 8128 units"
    notes.append(f"voltage scale {vpu:.6g} {form.unit}/unit ({how})")
    error["volt_per_unit_rule"] = how
    # -- threshold -------------------------------------------------------------------
    if form.spiking:
        units = form.threshold / vpu
        vth_mant = int(np.rint(units / (1 << shift)))
        error["vth_rel"] = abs(vth_mant * (1 << shift) - units) / units
        if vth_mant < 1 or vth_mant > vth_max:
            out.append(Violation(
                where, "threshold mantissa (17 bit)", vth_mant, f"1..{vth_max}",
                f"the threshold is {units:.6g} units at {vpu:.4g} {form.unit}/unit; choose "
                f"volt_per_unit between {form.threshold / ((vth_max + 0.5) * 64):.4g} and "
                f"{form.threshold / 32:.4g}"))
            vth_mant = min(max(vth_mant, 1), vth_max)
    else:
        vth_mant = vth_max
    # -- decays ----------------------------------------------------------------------
    decay_v, dv = _decay(form, form.alpha_v, "v", cfg, chip, allow_full=False)
    out += dv
    if form.alpha_u > 0:
        decay_u, du = _decay(form, form.alpha_u, "u", cfg, chip, allow_full=True)
        out += du
    else:
        decay_u = 4096
    error["retained_v"] = form.alpha_v
    error["retained_v_loihi"] = retained_from_decay(decay_v)
    error["tau_v_eff_steps"] = _tau_steps(retained_from_decay(decay_v))
    # -- refractory ------------------------------------------------------------------
    ref_max = int(chip.option("refractory_max", cfg.refractory_max) or 63)
    refractory = max(int(form.refractory_steps), 1)
    if refractory > ref_max:
        out.append(Violation(
            where, "refractory delay (6 bit)", f"{refractory} steps", f"{ref_max} steps",
            f"t_ref = {refractory * form.dt * 1e3:.4g} ms is too long at dt = {form.dt * 1e3:g} ms; "
            f"use t_ref <= {ref_max * form.dt * 1e3:.4g} ms"))
        refractory = ref_max
    # -- bias ------------------------------------------------------------------------
    bias_mant = bias_exp = 0
    if form.bias != 0:
        b = form.bias / vpu
        bmax, emax = int(chip.value("bias_mantissa_max")), int(chip.value("bias_exponent_max"))
        bias_exp = 0
        while bias_exp < emax and abs(np.rint(b / 2 ** bias_exp)) > bmax:
            bias_exp += 1
        bias_mant = int(np.rint(b / 2 ** bias_exp))
        if abs(bias_mant) > bmax:
            out.append(Violation(
                where, "bias (13-bit mantissa, exponent <= 7)", f"{b:.6g} units", f"{bmax * 2 ** emax} units",
                "the resting potential is too far from the reset value for this voltage scale; "
                "increase volt_per_unit or move v_rest toward v_reset"))
            bias_mant = int(np.sign(bias_mant)) * bmax
        error["bias_rel"] = abs(bias_mant * 2 ** bias_exp - b) / abs(b)
        if bias_mant == 0:
            out.append(Violation(where, "bias rounds to zero", f"{b:.3g} units", ">= 0.5 units",
                                 "decrease volt_per_unit", severity="warning"))
    # -- AHP auxiliary compartment ----------------------------------------------------
    aux = dict(aux_decay_u=None, aux_decay_v=None, aux_weight_mant=None, aux_weight_exp=None)
    if form.model == "ahp":
        aux_decay_v, da = _decay(form, form.aux_alpha, "aux", cfg, chip, allow_full=False)
        out += da
        eff = -form.aux_step / vpu
        exp_range = chip.option("weight_exponent_range", cfg.weight_exponent_range)
        units = np.array([eff])
        mant, exp, overflow, _ = quantize_weights(
            units, sign_mode="inhibitory" if eff >= 0 else "excitatory", bits=8,
            exp_range=tuple(exp_range), rounding=cfg.weight_rounding,
            mant_full=int(chip.value("weight_mantissa_max")))
        if overflow:
            out.append(Violation(
                where, "AHP auxiliary weight", f"{abs(eff):.6g} units",
                f"{255 * 2 ** (6 + exp_range[1])} units",
                "the AHP jump is too large for the voltage scale; increase volt_per_unit or reduce delta_I_ahp"))
        aux = dict(aux_decay_u=4096, aux_decay_v=aux_decay_v, aux_weight_mant=int(mant[0]),
                   aux_weight_exp=int(exp))
        got = int(mant[0]) * 2 ** (6 + exp)
        error["aux_weight_rel"] = abs(got - eff) / abs(eff) if eff else 0.0
        error["retained_aux"] = form.aux_alpha
        error["retained_aux_loihi"] = retained_from_decay(aux_decay_v)
        floor_units = 4096 / aux_decay_v if aux_decay_v else float("inf")
        if 0 < got < floor_units:
            # v*(4096 - d)/4096 truncated toward zero loses at least one unit per step, so below
            # 4096/d units the aux voltage falls linearly (1 unit/step), not exponentially
            lasts = got
            tau_steps = 4096 / aux_decay_v if aux_decay_v else float("inf")
            out.append(Violation(
                where, "AHP aux voltage in the truncation regime",
                f"one spike's aux jump is {got} units < 4096/decayV = {floor_units:.0f} units: it "
                f"falls by 1 unit per step and is gone after {lasts} steps (tau_AHP about "
                f"{tau_steps:.0f} steps)",
                f">= {floor_units:.0f} units",
                f"use a voltage scale {floor_units / got:.1f}x finer (a larger setting "
                f"ahp_threshold_scale, now {cfg.ahp_threshold_scale}, or a smaller volt_per_unit) so "
                f"the aux jump spans more units; incoming weights then take larger exponents and "
                f"fewer largest-weight inputs fit the 21-bit input accumulator per step",
                severity="warning"))
        if got == 0 and eff != 0:
            out.append(Violation(where, "AHP auxiliary weight rounds to zero", f"{abs(eff):.3g} units",
                                 ">= 0.5 units", "decrease volt_per_unit (finer voltage scale)",
                                 severity="warning"))
    cpn = int(chip.value("ahp_compartments_per_neuron") or 2) if form.model == "ahp" else 1
    v_init = int(np.rint(form.v_init / vpu)) if form.v_init else 0
    pop = QuantizedPopulation(
        name=form.name, size=form.size, model=form.model, decay_u=decay_u, decay_v=decay_v,
        vth_mant=vth_mant, refractory_delay=refractory, volt_per_unit=vpu, spiking=form.spiking,
        bias_mant=bias_mant, bias_exp=bias_exp, v_offset_volt=form.v_offset, v_init=v_init,
        source_model=form.source_model, compartments_per_neuron=cpn, error=error, notes=notes, **aux,
    )
    return pop, out


CHUNK = 1 << 23
"""Synapses processed per chunk (bounds temporary memory to ~100 MB per array)."""


def _quantize_projection(raw: RawProjection, target: NeuronForm, vpu: float, chip: Chip,
                         cfg: LoihiSettings, exp_range: tuple[int, int]) -> tuple[QuantizedProjection, list[Violation]]:
    where = f"projection '{raw.name}'"
    out: list[Violation] = []
    bits = cfg.bits_for(raw.name)
    shift = int(chip.value("weight_exponent_shift"))
    w = raw.weight
    n = len(w)
    wmax_pos = float(w.max()) if n else 0.0
    wmin = float(w.min()) if n else 0.0
    has_pos, has_neg = wmax_pos > 0, wmin < 0
    sign_mode = _format(cfg.sign_mode, has_pos, has_neg, raw.sign)
    factor = target.input_gain / vpu
    wmax = max(abs(wmax_pos), abs(wmin))
    worst = wmax * abs(factor)
    grid, mant_max = weight_grid(sign_mode, bits, int(chip.value("weight_mantissa_max")))
    exp = choose_exponent(worst, grid, mant_max, exp_range, shift)
    to_lsb = factor / float(2 ** (shift + exp))
    mant = np.empty(n, dtype=np.int16)
    overflow = 0
    max_abs = 0.0
    sq = 0.0
    for a in range(0, n, CHUNK):
        b = min(a + CHUNK, n)
        x = np.multiply(w[a:b], to_lsb)
        m, o = round_mantissas(x, sign_mode=sign_mode, grid=grid, mant_max=mant_max,
                               rounding=cfg.weight_rounding)
        mant[a:b] = m
        overflow += o
        x = m.astype(np.float64)
        x /= to_lsb
        x -= w[a:b]
        np.abs(x, out=x)
        if b > a:
            max_abs = max(max_abs, float(x.max()))
            sq += float(np.dot(x, x))
    rms_rel = math.sqrt(sq / n) / wmax if n and wmax else 0.0
    if overflow:
        limit = 255 * 2 ** (shift + exp_range[1])
        ratio = f"{worst / (target.threshold / vpu):.4g} x the threshold" if target.spiking else f"{worst:.4g} units"
        out.append(Violation(
            where, "weight range (mantissa x 2^(6+exp))", f"{worst:.6g} units ({overflow} weights)",
            f"{limit} units at exponent {exp_range[1]}",
            f"weights reach {ratio} of '{raw.post}'; scale them down or raise volt_per_unit of "
            f"'{raw.post}' (clamped to the largest representable value)"))
    zero = mant == 0
    n_zero = int(np.count_nonzero(zero))
    pre, post, delay = raw.pre_index, raw.post_index, raw.delay_steps
    if n_zero:
        keep = ~zero
        mant, pre, post = mant[keep], pre[keep], post[keep]
        if delay.strides == (0,) or delay.ndim == 0:
            value = delay[0] if len(delay) else np.int16(0)
            delay = np.broadcast_to(np.int16(value), (len(mant),))
        else:
            delay = delay[keep]
        out.append(Violation(
            where, "weights rounded to zero (synapses dropped)", n_zero, 0,
            f"{n_zero} of {n} weights are below half a mantissa step at exponent {exp}; use more "
            f"weight bits or a finer voltage scale for '{raw.post}' if they matter", severity="warning"))
    error = {"max_abs": max_abs, "unit": target.unit, "rms_rel": rms_rel,
             "n_rounded_to_zero": n_zero, "n_clamped": overflow}
    if target.unit == "volt":
        error["max_abs_volt"] = max_abs
    qp = QuantizedProjection(
        name=raw.name, pre=raw.pre, post=raw.post, pre_index=pre, post_index=post, weight_mant=mant,
        weight_exp=int(exp), sign_mode=sign_mode, num_weight_bits=bits, delay_steps=delay, error=error,
        n_pre=raw.n_pre, n_post=raw.n_post, pre_is_input=raw.pre_is_input)
    return qp, out
