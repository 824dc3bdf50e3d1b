"""Neuron models with spike-frequency adaptation, written once as Brian2 equations.

Three spiking models and one non-spiking readout are defined here:

``lif``
    Leaky integrate-and-fire neuron.
``ahp``
    LIF neuron plus an after-hyperpolarizing (AHP) current ``I_ahp`` that jumps by
    ``delta_I_ahp`` at each spike, decays with ``tau_ahp`` and is subtracted in the
    membrane equation. This is the adaptive neuron of Rao, Plank, Wild & Maass
    (arXiv 2107.03992, Nature Machine Intelligence 2022) as the authors ran it on
    Loihi: an auxiliary compartment whose slowly decaying negative voltage is added
    to the soma's input each step (``docs/sources.md`` P1.2, P1.4).
``alif``
    Adaptive-threshold LIF neuron as in LSNN (Bellec et al. 2018): the threshold is
    ``v_th + theta``; ``theta`` jumps by ``delta_theta`` at each spike and decays
    with ``tau_a``. In LSNN notation ``A = b0 + beta*b`` with ``b`` jumping by
    ``dt/tau_a``, so ``delta_theta = beta*dt/tau_a``.
``li``
    Leaky integrator without a threshold: the output units of the sMNIST network.

**One definition.** Each model is a :class:`NeuronModel`: its Brian2 equations,
threshold and reset strings, and a parameter class with units. Everything else is
derived from those strings: :meth:`NeuronModel.discrete` linearises the equations
with sympy and integrates them exactly over one time step (the same closed form that
Brian2's ``method='exact'`` integrator produces), which is the discrete-time form
the torch training code and the Loihi mapper use.

Analytic references
-------------------
*LIF f-I curve.* With ``v_reset = v_rest`` and constant input current ``I`` the
interspike interval is ``T = t_ref + tau_m*ln(R_m*I / (R_m*I - (v_th - v_rest)))`` for
``R_m*I > v_th - v_rest`` and there are no spikes otherwise (:func:`lif_rate`).

*AHP quasi-static rate.* When ``tau_ahp`` is much longer than the interspike interval
the AHP current is almost constant; its time average for a neuron firing at rate
``f`` is ``<I_ahp> = delta_I_ahp * f * tau_ahp`` (each spike contributes an
exponential of area ``delta_I_ahp*tau_ahp``). The steady-state rate is then the
self-consistent solution of ``f = f_LIF(I_ext - delta_I_ahp*f*tau_ahp)``; it has
exactly one root because the left side rises and the right side falls with ``f``.

*AHP-ALIF match (docs/sources.md P1.4).* Filtered by the membrane
(``tau_m << tau_ahp``), an AHP current ``I_ahp`` shifts the voltage by
``-R_m*I_ahp``, which is the same as raising the threshold by ``R_m*I_ahp``. An ALIF
neuron with ``tau_a = tau_ahp`` and ``delta_theta = R_m*delta_I_ahp`` therefore fires
at nearly the same rate (:meth:`ALIFParams.matched_to`). The match also needs the
interspike interval to be long against ``tau_m``: the ALIF threshold jumps at once,
while the AHP current reaches the membrane through ``tau_m``. Measured over 4 s with
the paper's ``tau_m = 20 ms``: spike counts agree within 3.3 % up to 15 Hz, but the
ALIF neuron fires 6 % less at 24 Hz and 17 % less at 40 Hz; with ``tau_m = 5 ms``
they agree within 3 % up to 60 Hz (tests/test_neurons.py).

Defaults follow the paper with one Loihi step per millisecond (``dt = 1 ms``): the
membrane time constant is 20 steps, the adaptation time constant 700 steps, there is
no blocked refractory step (Loihi ``refractoryDelay = 1``), reset is to 0 and the
quasi-static threshold increase per spike is about 0.24 of the threshold. The
paper's networks are scale-free in voltage; we take ``v_th = 10 mV`` and
``R_m = 100 MOhm`` so that currents come out in picoamperes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np
import scipy.linalg
import sympy
from brian2 import Equations, Mohm, Quantity, mV, ms, pA, second
from brian2.parsing.sympytools import str_to_sympy
from brian2.units.fundamentalunits import get_dimensions, get_unit, have_same_dimensions

from biolstm.errors import BiolstmError

__all__ = [
    "LIFParams",
    "AHPParams",
    "ALIFParams",
    "LIParams",
    "NeuronModel",
    "DiscreteModel",
    "MODELS",
    "get_model",
    "lif_rate",
    "ModelError",
    "NO_LEAK_STEPS",
]

NO_LEAK_STEPS = 1e18
"""``tau_m`` in steps of ``dt`` for a neuron without leak: ``exp(-1/1e18)`` is 1.0 in float64
(any value above ``2**54`` would do), so the exact one-step form keeps the membrane unchanged
and the Loihi quantizer gives decayV 0 (a pure integrator). Used by the rate-coded layers of
:mod:`biolstm.convert.relu_mlp`."""


class ModelError(BiolstmError, ValueError):
    """A neuron model name or parameter that cannot be used."""


def _default(value: Quantity) -> Any:
    """Dataclass field with a quantity default (quantities are not hashable)."""
    return field(default_factory=lambda: value)


# --------------------------------------------------------------------------------------
# Parameter classes: one field per parameter, a Brian2 quantity with its default.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LIFParams:
    """Parameters of the leaky integrate-and-fire neuron.

    Attributes
    ----------
    tau_m : Quantity (second)
        Membrane time constant (paper: 20 steps of 1 ms).
    v_rest : Quantity (volt)
        Resting potential; also the state every sample starts from.
    v_th : Quantity (volt)
        Firing threshold; a spike is emitted when ``v > v_th`` (strict, as on Loihi).
    v_reset : Quantity (volt)
        Potential after a spike (paper: hard reset to 0).
    R_m : Quantity (ohm)
        Membrane resistance, scales the external current ``I_ext``.
    t_ref : Quantity (second)
        Refractory period. Brian2 semantics: with ``t_ref = k*dt`` the neuron is
        held at ``v_reset`` (ignoring input) for the ``k - 1`` steps after the spike,
        which is Loihi's ``refractoryDelay = k``. ``0 ms`` and ``1*dt`` block nothing.
    """

    tau_m: Quantity = _default(20 * ms)
    v_rest: Quantity = _default(0 * mV)
    v_th: Quantity = _default(10 * mV)
    v_reset: Quantity = _default(0 * mV)
    R_m: Quantity = _default(100 * Mohm)
    t_ref: Quantity = _default(0 * ms)


@dataclass(frozen=True)
class AHPParams(LIFParams):
    """Parameters of the LIF neuron with an after-hyperpolarizing current.

    Attributes (in addition to :class:`LIFParams`)
    ----------------------------------------------
    tau_ahp : Quantity (second)
        Decay time constant of the AHP current (paper: 700 steps nominal; the chip's
        12-bit decay 5/4096 makes it 819 steps).
    delta_I_ahp : Quantity (amp)
        Jump of the AHP current at each spike. The default, 24 pA with
        ``R_m = 100 MOhm``, raises the quasi-static threshold by 2.4 mV = 0.24 ``v_th``
        per spike, the paper's 1.5/127 per step divided by (1 - exp(-1/20)).
    """

    tau_ahp: Quantity = _default(700 * ms)
    delta_I_ahp: Quantity = _default(24 * pA)


@dataclass(frozen=True)
class ALIFParams(LIFParams):
    """Parameters of the adaptive-threshold LIF neuron (LSNN).

    Attributes (in addition to :class:`LIFParams`)
    ----------------------------------------------
    tau_a : Quantity (second)
        Decay time constant of the threshold adaptation (LSNN: 700 steps).
    delta_theta : Quantity (volt)
        Threshold increase per spike; LSNN's ``beta*dt/tau_a`` in voltage units.
    """

    tau_a: Quantity = _default(700 * ms)
    delta_theta: Quantity = _default(2.4 * mV)

    @classmethod
    def matched_to(cls, ahp: AHPParams) -> "ALIFParams":
        """The ALIF neuron that fires like ``ahp`` when ``tau_m << tau_ahp``.

        Same membrane parameters, ``tau_a = tau_ahp`` and
        ``delta_theta = R_m * delta_I_ahp`` (docs/sources.md P1.4).
        """
        membrane = {f.name: getattr(ahp, f.name) for f in dataclasses.fields(LIFParams)}
        return cls(**membrane, tau_a=ahp.tau_ahp, delta_theta=ahp.R_m * ahp.delta_I_ahp)


@dataclass(frozen=True)
class LIParams:
    """Parameters of the non-spiking leaky integrator used as readout.

    Attributes
    ----------
    tau_m : Quantity (second)
        Time constant (paper: the output compartments decay like the neurons, 20 steps).
    v_rest : Quantity (volt)
        Resting value and start of every sample.
    R_m : Quantity (ohm)
        Resistance for the external current ``I_ext``.
    """

    tau_m: Quantity = _default(20 * ms)
    v_rest: Quantity = _default(0 * mV)
    R_m: Quantity = _default(100 * Mohm)


# --------------------------------------------------------------------------------------
# The discrete-time form derived from the equations.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscreteModel:
    """One neuron model integrated exactly over one time step ``dt``.

    All numbers are plain floats in SI units (volt, amp, second). With the state
    vector ``x`` (order :attr:`state_names`), one step of a network runs in this
    order, the order of biolstm's Brian2 schedule:

    1. ``x = transition @ x + offset`` (for a refractory neuron the membrane row is
       replaced by "stay", see :attr:`refractory_steps`);
    2. synaptic input (volt) is added to ``x[input_index]``, dropped while refractory;
    3. spike if ``threshold_coeffs @ x > threshold_const``;
    4. on a spike, ``x[i] = value`` for ``reset_set`` and ``x[i] += value`` for
       ``reset_add``.

    Attributes
    ----------
    model : str
        Model name (``"lif"``, ``"ahp"``, ``"alif"``, ``"li"``).
    dt : float
        Time step in seconds.
    state_names : tuple of str
        Names of the state variables, e.g. ``("v", "I_ahp")``.
    state_units : tuple of str
        Unit of each state variable (``"volt"``, ``"amp"``).
    transition : ndarray, shape (n, n)
        Exact one-step propagator ``expm(A*dt)`` of the linear dynamics.
    offset : ndarray, shape (n,)
        Constant part of one step (from ``v_rest``), with ``I_ext = 0``.
    input_index : int
        Index of the variable synaptic weights are added to (the membrane).
    spiking : bool
        False for the readout integrator.
    threshold_coeffs : ndarray, shape (n,)
    threshold_const : float
        Spike condition ``threshold_coeffs @ x > threshold_const``.
    reset_set, reset_add : tuple of (int, float)
        Reset assignments ``x[i] = value`` and increments ``x[i] += value``.
    refractory_steps : int
        ``k = round(t_ref/dt)``; after a spike the membrane is held and input is
        dropped for ``max(k - 1, 0)`` steps, during which the neuron cannot spike.
    initial : ndarray, shape (n,)
        State at the start of every sample.
    """

    model: str
    dt: float
    state_names: tuple[str, ...]
    state_units: tuple[str, ...]
    transition: np.ndarray
    offset: np.ndarray
    input_index: int
    spiking: bool
    threshold_coeffs: np.ndarray
    threshold_const: float
    reset_set: tuple[tuple[int, float], ...]
    reset_add: tuple[tuple[int, float], ...]
    refractory_steps: int
    initial: np.ndarray

    @property
    def membrane_decay(self) -> float:
        """Fraction of the membrane potential kept after one step (``exp(-dt/tau_m)``)."""
        return float(self.transition[self.input_index, self.input_index])

    @property
    def blocked_steps(self) -> int:
        """Number of steps after a spike during which the membrane is held."""
        return max(self.refractory_steps - 1, 0)


# --------------------------------------------------------------------------------------
# The model definitions.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model: Brian2 strings plus the parameter class that fills them.

    Attributes
    ----------
    name : str
        Registry key (``"lif"``, ``"ahp"``, ``"alif"``, ``"li"``).
    description : str
        One line for reports.
    params_type : type
        Dataclass of parameters (each a Brian2 quantity with a default).
    equations : str
        Brian2 equations. ``I_ext`` is a per-neuron external current (a parameter,
        0 unless set); every other identifier is a field of ``params_type``.
    threshold, reset : str or None
        Brian2 threshold condition and reset statements (``None`` for the readout).
    membrane : str
        The variable synaptic input is added to.
    adaptation : str or None
        The adaptation variable (``"I_ahp"``, ``"theta"``), if any.
    compartments_on_loihi : int
        Loihi 1 compartments per neuron (an AHP neuron is soma + auxiliary).
    """

    name: str
    description: str
    params_type: type
    equations: str
    threshold: str | None
    reset: str | None
    membrane: str = "v"
    adaptation: str | None = None
    compartments_on_loihi: int = 1
    _REFRACTORY_FIELD: ClassVar[str] = "t_ref"

    # -- parameters --------------------------------------------------------------
    def param_names(self) -> tuple[str, ...]:
        """Names of the model's parameters, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(self.params_type))

    def make_params(self, overrides: Mapping[str, Any] | None = None, *, owner: str = "") -> Any:
        """Build the parameter object, checking names, units and signs.

        Parameters
        ----------
        overrides : mapping of str to Quantity
            Values that replace the defaults.
        owner : str
            Name of the population, used in error messages.

        Raises
        ------
        ModelError
            For an unknown name, a value of the wrong dimension, or a time constant
            or resistance that is not a positive finite number.
        """
        where = f"population '{owner}' ({self.name})" if owner else f"model '{self.name}'"
        defaults = self.params_type()
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.param_names()))
        if unknown:
            raise ModelError(
                f"{where}: unknown parameter(s) {unknown}; valid parameters are "
                f"{list(self.param_names())}"
            )
        values = {}
        for pname in self.param_names():
            default = getattr(defaults, pname)
            value = overrides.get(pname, default)
            if not isinstance(value, Quantity) or not have_same_dimensions(value, default):
                unit = default.get_best_unit() if isinstance(default, Quantity) else "1"
                raise ModelError(
                    f"{where}: parameter {pname} = {value!r} has the wrong unit; it needs "
                    f"the dimension of {unit} (e.g. {pname}={default!r})"
                )
            if np.ndim(value) != 0:
                raise ModelError(
                    f"{where}: parameter {pname} must be a scalar quantity, got shape "
                    f"{np.shape(value)}"
                )
            if not np.isfinite(float(value)):
                raise ModelError(f"{where}: parameter {pname} = {value!r} is not finite")
            is_time_constant = pname.startswith("tau")
            if (is_time_constant or pname == "R_m") and float(value) <= 0:
                raise ModelError(
                    f"{where}: {pname} = {value!r} must be > 0 (a time constant or "
                    f"resistance of zero or below has no meaning)"
                )
            if pname == self._REFRACTORY_FIELD and float(value) < 0:
                raise ModelError(f"{where}: t_ref = {value!r} must be >= 0 ms")
            values[pname] = value
        params = self.params_type(**values)
        if self.name == "ahp" and math.isclose(float(params.tau_ahp), float(params.tau_m)):
            raise ModelError(
                f"{where}: tau_ahp = {params.tau_ahp!r} equals tau_m; the exact integrator's "
                f"closed form is singular there, choose tau_ahp != tau_m"
            )
        return params

    def namespace(self, params: Any) -> dict[str, Quantity]:
        """Brian2 namespace (parameter name -> quantity) for ``NeuronGroup``."""
        return {f.name: getattr(params, f.name) for f in dataclasses.fields(params)}

    # -- Brian2 ------------------------------------------------------------------
    def brian_kwargs(self, params: Any) -> dict[str, Any]:
        """Keyword arguments for ``brian2.NeuronGroup`` (all but the size).

        Returns ``model``, ``threshold``, ``reset``, ``refractory``, ``method`` and
        ``namespace``; the equations are linear, so the method is ``"exact"``.
        """
        kwargs: dict[str, Any] = {
            "model": Equations(self.equations),
            "method": "exact",
            "namespace": self.namespace(params),
        }
        if self.threshold is not None:
            kwargs["threshold"] = self.threshold
            kwargs["reset"] = self.reset
            kwargs["refractory"] = getattr(params, self._REFRACTORY_FIELD)
        return kwargs

    def initial_values(self, params: Any) -> dict[str, Quantity]:
        """State every sample starts from: ``v = v_rest``, adaptation 0."""
        eqs = Equations(self.equations)
        values: dict[str, Quantity] = {}
        for var in eqs.diff_eq_names:
            values[var] = params.v_rest if var == self.membrane else Quantity(0, dim=eqs[var].dim)
        return values

    # -- derived discrete-time form ------------------------------------------------
    def discrete(self, params: Any, dt: Quantity) -> DiscreteModel:
        """Integrate the equations exactly over one step ``dt`` (see :class:`DiscreteModel`).

        The equations are parsed by Brian2, differentiated with sympy to get the
        linear system ``dx/dt = A x + b`` (with ``I_ext = 0``), and propagated with
        ``expm`` of the augmented matrix, so no equation is typed twice.
        """
        dt_s = float(dt)
        if not dt_s > 0:
            raise ModelError(f"model '{self.name}': dt = {dt!r} must be > 0")
        eqs = Equations(self.equations)
        names = tuple(sorted(eqs.diff_eq_names, key=lambda n: n != self.membrane))
        symbols = {n: sympy.Symbol(n, real=True) for n in names}
        subs = {sympy.Symbol(k, real=True): float(v) for k, v in self.namespace(params).items()}
        subs[sympy.Symbol("I_ext", real=True)] = 0.0
        n = len(names)
        A = np.zeros((n, n))
        b = np.zeros(n)
        for i, var in enumerate(names):
            expr = _real(str_to_sympy(str(eqs[var].expr)))
            for j, other in enumerate(names):
                coeff = sympy.diff(expr, symbols[other]).subs(subs)
                A[i, j] = float(coeff)
            constant = expr.subs({s: 0 for s in symbols.values()}).subs(subs)
            b[i] = float(constant)
        augmented = np.zeros((n + 1, n + 1))
        augmented[:n, :n] = A * dt_s
        augmented[:n, n] = b * dt_s
        propagator = scipy.linalg.expm(augmented)
        transition, offset = propagator[:n, :n], propagator[:n, n]

        coeffs = np.zeros(n)
        const = 0.0
        reset_set: list[tuple[int, float]] = []
        reset_add: list[tuple[int, float]] = []
        if self.threshold is not None:
            coeffs, const = _linear_condition(self.threshold, names, symbols, subs)
            for var, op, value in _parse_reset(self.reset or "", subs):
                (reset_set if op == "=" else reset_add).append((names.index(var), value))
        t_ref = float(getattr(params, self._REFRACTORY_FIELD, 0 * second))
        initial = np.array([float(self.initial_values(params)[v]) for v in names])
        return DiscreteModel(
            model=self.name,
            dt=dt_s,
            state_names=names,
            state_units=tuple(str(get_unit(eqs[v].dim)) for v in names),
            transition=transition,
            offset=offset,
            input_index=names.index(self.membrane),
            spiking=self.threshold is not None,
            threshold_coeffs=coeffs,
            threshold_const=const,
            reset_set=tuple(reset_set),
            reset_add=tuple(reset_add),
            refractory_steps=int(round(t_ref / dt_s)),
            initial=initial,
        )


def _real(expr: sympy.Expr) -> sympy.Expr:
    """Replace Brian2's sympy symbols by real symbols of the same name."""
    return expr.subs({s: sympy.Symbol(s.name, real=True) for s in expr.free_symbols})


def _linear_condition(
    condition: str, names: tuple[str, ...], symbols: dict, subs: dict
) -> tuple[np.ndarray, float]:
    """Turn ``"lhs > rhs"`` into coefficients ``c`` and constant ``k`` with ``c@x > k``."""
    if condition.count(">") != 1 or ">=" in condition:
        raise ModelError(f"threshold '{condition}' must have the form 'lhs > rhs'")
    lhs, rhs = condition.split(">")
    diff = _real(str_to_sympy(lhs)) - _real(str_to_sympy(rhs))
    coeffs = np.array([float(sympy.diff(diff, symbols[v]).subs(subs)) for v in names])
    const = -float(diff.subs({s: 0 for s in symbols.values()}).subs(subs))
    return coeffs, const


def _parse_reset(reset: str, subs: dict) -> list[tuple[str, str, float]]:
    """Parse ``"v = v_reset; I_ahp += delta_I_ahp"`` into (variable, op, SI value)."""
    out = []
    for statement in reset.replace("\n", ";").split(";"):
        statement = statement.strip()
        if not statement:
            continue
        op = "+=" if "+=" in statement else "="
        var, expr = (s.strip() for s in statement.split(op, 1))
        out.append((var, op, float(_real(str_to_sympy(expr)).subs(subs))))
    return out


_MEMBRANE = "dv/dt = (v_rest - v + R_m*I_ext)/tau_m : volt (unless refractory)\nI_ext : amp"

MODELS: dict[str, NeuronModel] = {
    "lif": NeuronModel(
        name="lif",
        description="leaky integrate-and-fire",
        params_type=LIFParams,
        equations=_MEMBRANE,
        threshold="v > v_th",
        reset="v = v_reset",
    ),
    "ahp": NeuronModel(
        name="ahp",
        description="LIF with after-hyperpolarizing current (Rao et al. 2022)",
        params_type=AHPParams,
        equations=(
            "dv/dt = (v_rest - v + R_m*(I_ext - I_ahp))/tau_m : volt (unless refractory)\n"
            "dI_ahp/dt = -I_ahp/tau_ahp : amp\n"
            "I_ext : amp"
        ),
        threshold="v > v_th",
        reset="v = v_reset; I_ahp += delta_I_ahp",
        adaptation="I_ahp",
        compartments_on_loihi=2,
    ),
    "alif": NeuronModel(
        name="alif",
        description="LIF with adaptive threshold (LSNN)",
        params_type=ALIFParams,
        equations=_MEMBRANE + "\ndtheta/dt = -theta/tau_a : volt",
        threshold="v > v_th + theta",
        reset="v = v_reset; theta += delta_theta",
        adaptation="theta",
        compartments_on_loihi=2,
    ),
    "li": NeuronModel(
        name="li",
        description="leaky integrator readout (no spikes)",
        params_type=LIParams,
        equations="dv/dt = (v_rest - v + R_m*I_ext)/tau_m : volt\nI_ext : amp",
        threshold=None,
        reset=None,
    ),
}


def get_model(name: str) -> NeuronModel:
    """Look up a model by name, with an error that lists the valid names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(
            f"unknown neuron model {name!r}; valid models are {sorted(MODELS)}"
        ) from None


def lif_rate(params: LIFParams, current: Quantity) -> Quantity:
    """Closed-form firing rate of a LIF neuron under constant current (continuous time).

    ``1/(t_ref + tau_m*ln(R_m*I/(R_m*I - (v_th - v_reset))))`` for ``v_reset = v_rest``;
    0 Hz below rheobase. Accepts an array of currents; returns hertz.
    """
    if not math.isclose(float(params.v_reset), float(params.v_rest)):
        raise ModelError("lif_rate assumes v_reset == v_rest")
    if not have_same_dimensions(current, pA):
        raise ModelError(f"lif_rate: current {current!r} must have the dimension of amp")
    drive = float(params.R_m) * np.atleast_1d(np.asarray(current, dtype=float))
    theta = float(params.v_th - params.v_rest)
    rate = np.zeros_like(drive, dtype=float)
    above = drive > theta
    isi = float(params.t_ref) + float(params.tau_m) * np.log(drive[above] / (drive[above] - theta))
    rate[above] = 1.0 / isi
    return Quantity(rate, dim=(1 / second).dim)
