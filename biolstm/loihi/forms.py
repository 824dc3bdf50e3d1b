"""Loihi compartment forms of neuron models, derived from their exact one-step dynamics.

A Loihi 1 compartment runs, each step (docs/sources.md L2a)::

    u[t] = decay(u[t-1], decay_u) + q[t]          # q: this step's synaptic input
    v[t] = decay(v[t-1], decay_v) + u[t] + bias   # (+ aux[t] for an AHP neuron)
    spike if v[t] > vth, then v = 0

:class:`NeuronForm` is that structure in floating point (SI units of the model's
membrane variable), read off a :class:`biolstm.neurons.DiscreteModel` -- never retyped:

* ``alpha_v = transition[v, v]`` (membrane retained per step);
* a synaptic-current variable ``x`` (Brian2 models such as ``dI/dt = -I/tau_s`` with
  ``on_pre='I += w'``) becomes Loihi's current ``u``: ``alpha_u = transition[x, x]``
  and a weight ``w`` adds ``transition[v, x]*w`` to ``u``; synapses onto ``v``
  itself use ``alpha_u = 0`` (``decay_u = 4096``: input lasts one step);
* an AHP variable (incremented at each spike, feeding ``v``) becomes the auxiliary
  compartment: ``aux_alpha = transition[I, I]`` and per-step input
  ``aux_step = transition[v, I] * delta_I`` (negative for an AHP);
* the reset value of ``v`` becomes Loihi's 0 (``v_offset``), so the threshold is
  ``v_th - v_reset`` and a resting potential off the reset value becomes a bias
  ``offset[v] + (alpha_v - 1)*v_reset`` per step;
* an adaptive threshold (ALIF) has no Loihi 1 form; it is mapped onto the AHP form
  with the matched parameters (``tau_ahp = tau_a``, ``delta_I_ahp = delta_theta/R_m``,
  docs/sources.md P1.4) unless the setting ``alif="reject"`` says otherwise; a threshold
  variable that relaxes to a rest value (``dvt/dt = (vt0 - vt)/tau_t``, reset ``vt += d``)
  is the constant threshold ``vt0`` plus such an adaptation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from brian2 import Mohm, second, volt

from biolstm.errors import BiolstmError
from biolstm.neurons import AHPParams, DiscreteModel, get_model

__all__ = ["FormError", "NeuronForm", "form_from_discrete", "form_from_population", "alif_as_ahp",
           "placeholder_form"]


class FormError(BiolstmError, ValueError):
    """A neuron model that has no Loihi compartment form (the message says why)."""


@dataclass
class NeuronForm:
    """A population's one-step dynamics in Loihi's compartment structure (floats).

    Attributes
    ----------
    name : str
    size : int
    model : {"lif", "ahp", "li"}
        Loihi form: one compartment, two compartments (soma + auxiliary), readout.
    source_model : str
        What it was built from (``"lif"``, ``"ahp"``, ``"alif"``, ``"li"``, or
        ``"brian2:<form>"`` for introspected groups).
    alpha_v, alpha_u : float
        Retained fraction per step of the membrane and of the synaptic current
        (``alpha_u = 0``: input lasts one step).
    input_gain : float
        A synaptic weight ``w`` (in the unit of the variable synapses add to) adds
        ``input_gain * w`` to Loihi's ``u``.
    input_gains : dict of str to float
        The gain for each variable synapses may add to (several synaptic currents with
        identical decay share Loihi's ``u``, each with its own gain).
    v_offset : float
        Membrane value (SI) that Loihi's 0 stands for: the reset value.
    v_init : float
        Start value of every sample relative to ``v_offset`` (SI).
    threshold : float or None
        Spike when ``v - v_offset > threshold`` (SI); None for a readout.
    bias : float
        Constant added to the shifted membrane every step (SI).
    refractory_steps : int
        ``round(t_ref/dt)``; Loihi ``refractoryDelay = max(refractory_steps, 1)``.
    aux_alpha, aux_step : float or None
        AHP auxiliary compartment: retained fraction per step, and what one spike adds
        to the membrane's per-step input from the next step on (SI, < 0 for an AHP).
    unit : str
        Unit of the membrane variable (``"volt"`` or ``"1"``).
    dt : float
        Seconds per step.
    notes : list of str
        Approximations and choices made on the way, for reports.
    """

    name: str
    size: int
    model: str
    source_model: str
    alpha_v: float
    threshold: float | None
    dt: float
    alpha_u: float = 0.0
    input_gain: float = 1.0
    v_offset: float = 0.0
    v_init: float = 0.0
    bias: float = 0.0
    refractory_steps: int = 0
    aux_alpha: float | None = None
    aux_step: float | None = None
    unit: str = "volt"
    input_gains: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def spiking(self) -> bool:
        return self.threshold is not None


def alif_as_ahp(alpha_v: float, alpha_theta: float, delta_theta: float, dt: float) -> tuple[float, float, str]:
    """Auxiliary-compartment numbers of the AHP neuron matched to an ALIF neuron.

    The matched AHP neuron (docs/sources.md P1.4, :meth:`ALIFParams.matched_to`) has the
    ALIF membrane, ``tau_ahp = tau_a`` and ``R_m*delta_I_ahp = delta_theta``. Its exact
    one-step form comes from :func:`biolstm.neurons.get_model("ahp").discrete`.

    Returns
    -------
    aux_alpha, aux_step, note
    """
    if not (0 < alpha_v < 1 and 0 < alpha_theta < 1):
        raise FormError(
            f"adaptive threshold with retained fractions {alpha_v:.6g} (membrane) and "
            f"{alpha_theta:.6g} (threshold) per step cannot be matched to an AHP current; both "
            f"must be strictly between 0 and 1"
        )
    tau_m = -dt / math.log(alpha_v)
    tau_a = -dt / math.log(alpha_theta)
    if math.isclose(tau_m, tau_a, rel_tol=1e-9):
        raise FormError(
            f"adaptive threshold with tau_a = tau_m = {tau_m * 1e3:.6g} ms cannot be matched to "
            f"an AHP current (the matched AHP form is singular); choose tau_a != tau_m"
        )
    r_m = 100 * Mohm
    params = get_model("ahp").make_params(
        {"tau_m": tau_m * second, "tau_ahp": tau_a * second, "R_m": r_m,
         "delta_I_ahp": (delta_theta * volt) / r_m},
    )
    disc = get_model("ahp").discrete(params, dt * second)
    iv, ii = disc.state_names.index("v"), disc.state_names.index("I_ahp")
    delta_i = float(params.delta_I_ahp)
    aux_step = float(disc.transition[iv, ii]) * delta_i
    note = (
        f"adaptive threshold (delta_theta = {delta_theta * 1e3:.4g} mV, tau_a = {tau_a * 1e3:.4g} "
        f"ms) mapped onto the two-compartment AHP form with tau_ahp = tau_a and "
        f"R_m*delta_I_ahp = delta_theta (docs/sources.md P1.4): the quasi-static threshold "
        f"increase is matched; firing agrees within a few % while interspike intervals are "
        f"long against tau_m = {tau_m * 1e3:.4g} ms"
    )
    return float(disc.transition[ii, ii]), aux_step, note


def form_from_discrete(
    name: str,
    size: int,
    disc: DiscreteModel,
    *,
    source_model: str | None = None,
    membrane: str | None = None,
    synaptic_current: str | list[str] | None = None,
    unit: str | None = None,
    alif: str = "ahp",
) -> NeuronForm:
    """Read a :class:`NeuronForm` off an exact one-step model.

    Parameters
    ----------
    name, size : population name and neuron count (for messages).
    disc : DiscreteModel
        From :meth:`NeuronModel.discrete` (or an equivalent built from Brian2 strings).
    membrane : str, optional
        Name of the membrane variable; default ``disc.state_names[disc.input_index]``.
    synaptic_current : str or list of str, optional
        Variable(s) synapses add to when not the membrane (currents that then feed the
        membrane; several must decay alike, they become one Loihi current). Default:
        synapses add to the membrane.
    alif : {"ahp", "reject"}
        What to do with an adaptive threshold (see :class:`~.settings.LoihiSettings`).

    Raises
    ------
    FormError
        When the dynamics do not fit a Loihi compartment (the message says which part).
    """
    names = list(disc.state_names)
    iv = names.index(membrane) if membrane else disc.input_index
    vname = names[iv]
    where = f"population '{name}'"
    T, off = np.asarray(disc.transition), np.asarray(disc.offset)
    notes: list[str] = []
    alpha_v = float(T[iv, iv])
    if not (0 <= alpha_v <= 1 + 1e-12):
        raise FormError(f"{where}: membrane {vname} grows by {alpha_v:.6g} per step; Loihi decays only")
    reset_set = {names[i]: v for i, v in disc.reset_set}
    reset_add = {names[i]: v for i, v in disc.reset_add}
    coeffs = np.asarray(disc.threshold_coeffs, dtype=float)
    if disc.spiking:
        if vname not in reset_set:
            raise FormError(
                f"{where}: the reset does not set {vname}; Loihi sets the membrane to 0 after a "
                f"spike, so the reset must be '{vname} = <value>'"
            )
        extra = sorted(set(reset_set) - {vname})
        if extra:
            raise FormError(f"{where}: the reset sets {extra}; Loihi can only reset the membrane")
        v_offset = float(reset_set[vname])
        if not coeffs[iv] > 0:
            raise FormError(f"{where}: the threshold condition does not increase with {vname}")
    else:
        v_offset = float(disc.initial[iv])
    currents = [synaptic_current] if isinstance(synaptic_current, str) else list(synaptic_current or [])
    alpha_u, gain = 0.0, 1.0
    gains: dict[str, float] = {} if currents else {vname: 1.0}
    aux_alpha = aux_step = None
    threshold_var = None
    threshold_shift = 0.0  # coeffs[k] * rest value of a relaxing threshold variable
    model = "lif" if disc.spiking else "li"
    for k, var in enumerate(names):
        if k == iv:
            continue
        others = [j for j in range(len(names)) if j != k]
        coupled = [names[j] for j in others if abs(T[k, j]) >= 1e-300]
        driven = abs(off[k]) >= 1e-300
        feeds_v = abs(T[iv, k]) > 0
        in_threshold = disc.spiking and abs(coeffs[k]) > 0
        # an adaptive threshold that relaxes to a rest value (dvt/dt = (vt0 - vt)/tau_t, as
        # Brian2's examples/adaptive_threshold.py writes it) is the constant vt0 plus an
        # adaptation that decays to 0: the rest value moves into the threshold
        relaxing_threshold = (driven and not coupled and in_threshold and not feeds_v and var in reset_add
                              and 0 < float(T[k, k]) < 1)
        if coupled:
            raise FormError(
                f"{where}: variable {var} depends on {', '.join(coupled)}; Loihi's current and auxiliary "
                f"compartment only decay on their own"
            )
        if driven and not relaxing_threshold:
            raise FormError(
                f"{where}: variable {var} has a constant drive (it relaxes to a value other than 0); Loihi's "
                f"current and auxiliary compartment decay to 0 (only an adaptive threshold may relax to a "
                f"rest value)"
            )
        if var in currents:
            if var in reset_add or var in reset_set or in_threshold or not feeds_v:
                raise FormError(
                    f"{where}: synaptic variable {var} must only decay and feed {vname} (it is "
                    f"reset or part of the threshold)"
                )
            if gains and not math.isclose(float(T[k, k]), alpha_u, rel_tol=1e-9):
                first = next(iter(gains))
                raise FormError(
                    f"{where}: synaptic currents {first} and {var} decay differently ({alpha_u:.6g} and "
                    f"{float(T[k, k]):.6g} retained per step, i.e. different time constants); a Loihi 1 "
                    f"compartment has one current u -- give them one time constant or use one variable"
                )
            if not gains:
                alpha_u, gain = float(T[k, k]), float(T[iv, k])
                notes.append(f"synaptic variable {var} mapped to Loihi's current u (retained {alpha_u:.6g}/step)")
            else:
                notes.append(f"synaptic variable {var} shares Loihi's current u (same decay)")
            gains[var] = float(T[iv, k])
        elif var in reset_add and feeds_v and not in_threshold:
            if aux_alpha is not None:
                raise FormError(f"{where}: two adaptation currents; Loihi 1 has one auxiliary compartment")
            aux_alpha, aux_step = float(T[k, k]), float(T[iv, k]) * float(reset_add[var])
            model = "ahp"
        elif var in reset_add and in_threshold and not feeds_v:
            if alif == "reject":
                raise FormError(
                    f"{where}: adaptive threshold {var} has no Loihi 1 hardware form (setting "
                    f"alif='reject'); use alif='ahp' to map it onto the AHP form"
                )
            if aux_alpha is not None:
                raise FormError(f"{where}: two adaptation variables; Loihi 1 has one auxiliary compartment")
            scale = float(coeffs[k]) / float(coeffs[iv])  # threshold in units of v: v > c - scale*theta
            if relaxing_threshold:
                rest = float(off[k]) / (1.0 - float(T[k, k]))
                threshold_shift += float(coeffs[k]) * rest
                unit = disc.state_units[k] if disc.state_units[k] not in ("1", "Unit(1)") else ""
                notes.append(f"threshold variable {var} relaxes to {rest:.6g} {unit}".rstrip() + ": mapped as the "
                             f"threshold at that rest value plus an adaptation ({var} minus the rest value) that "
                             f"decays to 0 and starts at 0")
            delta_theta = -scale * float(reset_add[var])
            aux_alpha, aux_step, note = alif_as_ahp(alpha_v, float(T[k, k]), delta_theta, disc.dt)
            notes.append(note)
            threshold_var = var
            model = "ahp"
        elif not feeds_v and not in_threshold:
            notes.append(f"variable {var} does not affect spikes and is not mapped")
        elif feeds_v and not in_threshold and var not in reset_add and var not in reset_set \
                and abs(float(disc.initial[k])) == 0:
            notes.append(f"variable {var} feeds {vname} but nothing drives it (no synapse, no reset): it stays 0 "
                         f"and is not mapped")
        else:
            raise FormError(
                f"{where}: variable {var} is neither a synaptic current (pass it as the synaptic "
                f"variable), an AHP current (decays, jumps at spikes, feeds {vname}) nor an adaptive "
                f"threshold; Loihi 1 has no compartment for it"
            )
    threshold = None
    if disc.spiking:
        threshold = (float(disc.threshold_const) - threshold_shift) / float(coeffs[iv]) - v_offset
        if not threshold > 0:
            raise FormError(
                f"{where}: threshold {threshold + v_offset:.6g} is not above the reset value "
                f"{v_offset:.6g}; the neuron would fire every step after a reset"
            )
    if disc.spiking and any(abs(coeffs[k]) > 0 for k in range(len(names)) if k not in (iv,) and names[k] != threshold_var):
        raise FormError(f"{where}: the threshold depends on variables Loihi cannot compare")
    bias = float(off[iv]) + (alpha_v - 1.0) * v_offset
    v_init = float(disc.initial[iv]) - v_offset
    if abs(v_init) > 0 and disc.spiking:
        notes.append(
            f"every sample starts at {vname} = {disc.initial[iv]:.6g} ({v_init:+.6g} from the reset value)"
        )
    return NeuronForm(
        name=name, size=size, model=model, source_model=source_model or disc.model,
        alpha_v=alpha_v, threshold=threshold, dt=disc.dt, alpha_u=alpha_u, input_gain=gain,
        v_offset=v_offset, v_init=v_init, bias=bias, refractory_steps=int(disc.refractory_steps),
        aux_alpha=aux_alpha, aux_step=aux_step, unit=_unit_name(unit or disc.state_units[iv]),
        input_gains=gains, notes=notes,
    )


def placeholder_form(name: str, size: int, dt: float, reason: str) -> NeuronForm:
    """Stand-in for a population without a Loihi form, so its resources still count.

    A plain one-compartment LIF (retained 0.95 per step, threshold 1 unit of its own
    scale); ``source_model`` says ``"unrecognised"``. Its parameters mean nothing and
    must not be emulated; only its compartments, axons and synapses are placed.
    """
    return NeuronForm(name=name, size=size, model="lif", source_model="unrecognised",
                      alpha_v=0.95, threshold=1.0, dt=dt, unit="1",
                      notes=[f"not recognised ({reason}); counted as a one-compartment neuron "
                             f"for placement only"])


def _unit_name(unit: str) -> str:
    return "volt" if unit in ("V", "volt") else ("1" if unit in ("", "1", "Unit(1)") else unit)


def form_from_population(pop, dt, *, alif: str = "ahp") -> NeuronForm:
    """The :class:`NeuronForm` of a :class:`biolstm.spec.Population` at step ``dt``.

    ALIF populations are mapped onto the AHP form with the matched parameters
    (``tau_ahp = tau_a``, ``delta_I_ahp = delta_theta/R_m``) unless ``alif="reject"``.
    """
    params = pop.neuron_params()
    if pop.model == "alif":
        if alif == "reject":
            raise FormError(
                f"population '{pop.name}' (alif): an adaptive threshold has no Loihi 1 hardware "
                f"form (setting alif='reject'); use alif='ahp' to map it onto the two-compartment "
                f"AHP neuron with matched parameters"
            )
        membrane = {k: getattr(params, k) for k in ("tau_m", "v_rest", "v_th", "v_reset", "R_m", "t_ref")}
        ahp = AHPParams(**membrane, tau_ahp=params.tau_a, delta_I_ahp=params.delta_theta / params.R_m)
        try:
            ahp = get_model("ahp").make_params({k: getattr(ahp, k) for k in get_model("ahp").param_names()},
                                               owner=pop.name)
        except ValueError as err:
            raise FormError(f"population '{pop.name}' (alif -> ahp): {err}") from None
        disc = get_model("ahp").discrete(ahp, dt)
        form = form_from_discrete(pop.name, pop.size, disc, source_model="alif")
        form.notes.insert(0, (
            f"ALIF mapped onto the two-compartment AHP form with tau_ahp = tau_a = "
            f"{float(params.tau_a) * 1e3:.4g} ms and delta_I_ahp = delta_theta/R_m = "
            f"{float(params.delta_theta / params.R_m) * 1e12:.4g} pA (docs/sources.md P1.4): the "
            f"quasi-static threshold increase is matched; firing agrees within a few % while "
            f"interspike intervals are long against tau_m (biolstm.neurons)"
        ))
        return form
    disc = pop.neuron_model.discrete(params, dt)
    return form_from_discrete(pop.name, pop.size, disc, source_model=pop.model)
