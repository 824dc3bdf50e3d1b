"""Loihi fixed-point arithmetic and the description of a network: the contract between
quantizer and emulator, and the one home of Loihi's integer widths and helpers.

:func:`biolstm.loihi.quantize.quantize` turns a :class:`~biolstm.spec.NetworkSpec`
into a :class:`QuantizedNetwork`; the constraint checker, placement, and the
Loihi-exact Brian2 emulator (:mod:`biolstm.loihi.emulate`) all read this one object,
so the numbers that are checked are the numbers that are emulated. The integer widths
(:data:`Q_BITS`, :data:`U_BITS`, :data:`V_MAX`, the threshold, bias, refractory, weight
and delay limits) are read from the chip file ``biolstm/loihi/chips/loihi1.json``, which
names the primary source of each, and the integer helpers (:func:`decay_int`,
:func:`wrap_signed`, :func:`saturate`, :func:`effective_weight`) are defined here once.

Conventions (Loihi 1, ``docs/sources.md`` L2a-L2b and P1.4), all values plain Python/numpy integers:

* decays are effective values in ``0..4096``: one step keeps
  ``x - sign(x)*floor(|x|*decay/4096)`` (truncation toward zero); ``decay_u = 4096``
  means "only this step's input" (full decay). (Loihi 1 stores the current decay as
  ``decay_u - 1``; that hidden offset is already applied here.)
* a synapse adds ``weight_mant * 2**(6 + weight_exp)`` to the target's current ``u``
  (``weight_exp >= -6``, so this is an integer);
* each step ``u = decay(u, decay_u) + input``; ``v = decay(v, decay_v) + u + bias``
  (``+ aux`` for an AHP neuron), where ``bias = bias_mant * 2**bias_exp``;
* the threshold is ``vth_mant * 2**6`` and a compartment spikes when ``v > vth`` (strict),
  then ``v = 0``; ``refractory_delay`` in ``1..63`` (1 = no blocked step; while blocked
  ``v`` is held at 0 and input is dropped);
* an AHP neuron is two compartments on one core: an auxiliary compartment that never
  spikes, receives its soma's spikes through a synapse of effective weight
  ``-aux_weight_mant * 2**(6 + aux_weight_exp)`` one step later, decays with
  ``aux_decay_v`` (its current with ``aux_decay_u``), and whose voltage is added to the
  soma's input each step (updated before the soma). ``aux_weight_mant > 0`` is an
  inhibitory synapse (the AHP case); a negative value means an excitatory one;
* spikes of compartments reach their targets one step after they are emitted; input
  spikes in the step they are injected; ``delay_steps`` adds to both;
* the float model's membrane value is ``v_offset_volt + v * volt_per_unit``
  (``v_offset_volt`` is the reset value, Loihi's 0), and every sample starts at
  ``v = v_init``, aux and ``u`` at 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biolstm.loihi.chips import load_chip
from biolstm.spec import NamedNetwork

__all__ = [
    "Q_BITS", "U_BITS", "V_MAX", "DECAY_ONE", "VTH_SHIFT", "VTH_MANT_MAX", "REFRACTORY_MAX",
    "BIAS_MANT_MAX", "BIAS_EXP_MAX", "WEIGHT_SHIFT", "WEIGHT_EXP_MAX", "WEIGHT_MANT_MAX", "MAX_DELAY_STEPS",
    "decay_int", "wrap_signed", "saturate", "effective_weight",
    "QuantizedPopulation", "QuantizedProjection", "QuantizedNetwork",
]

# --------------------------------------------------------------------------------------
# Loihi 1's integer widths, read from its chip file (each entry there names its source).
# --------------------------------------------------------------------------------------

_LOIHI1 = load_chip("loihi1")

Q_BITS: int = int(_LOIHI1.value("input_accumulator_bits"))
"""Loihi 1 dendritic accumulator: 21 bits plus sign, wraps."""
U_BITS: int = int(_LOIHI1.value("voltage_bits"))
"""Loihi 1 current ``u`` (and ``u + bias + aux``): 23 bits plus sign, wraps."""
V_MAX: int = 2**U_BITS - 1
"""Loihi 1 voltage saturates at ``+-V_MAX`` (24-bit signed state)."""
DECAY_ONE: int = int(_LOIHI1.value("decay_max")) + 1
"""4096: a decay of ``d`` keeps ``(DECAY_ONE - d) / DECAY_ONE`` of the value (12-bit decays)."""
VTH_SHIFT: int = int(_LOIHI1.value("threshold_shift"))
"""The threshold is ``vth_mant << VTH_SHIFT`` (6)."""
VTH_MANT_MAX: int = int(_LOIHI1.value("threshold_mantissa_max"))
"""Largest threshold mantissa (17 bits unsigned)."""
REFRACTORY_MAX: int = int(_LOIHI1.option("refractory_max", "nengo"))
"""Largest ``refractory_delay`` (6 bits; 1 = no blocked step)."""
BIAS_MANT_MAX: int = int(_LOIHI1.value("bias_mantissa_max"))
"""Largest bias mantissa magnitude (13-bit signed)."""
BIAS_EXP_MAX: int = int(_LOIHI1.value("bias_exponent_max"))
"""Largest bias exponent."""
WEIGHT_SHIFT: int = int(_LOIHI1.value("weight_exponent_shift"))
"""Effective weight ``mant * 2**(WEIGHT_SHIFT + exp)`` (6); the contract keeps ``exp >= -WEIGHT_SHIFT``."""
WEIGHT_MANT_MAX: int = int(_LOIHI1.value("weight_mantissa_max"))
"""Largest weight mantissa (255; signed mantissas span ``-(WEIGHT_MANT_MAX + 1)..WEIGHT_MANT_MAX``)."""
WEIGHT_EXP_MAX: int = int(_LOIHI1.option("weight_exponent_range", "nengo")[1])
"""Largest weight exponent (7)."""
MAX_DELAY_STEPS: int = int(_LOIHI1.value("max_delay_steps"))
"""Largest extra synaptic delay in steps (62)."""


# --------------------------------------------------------------------------------------
# Integer helpers: the reference semantics the emulator's Brian2 code implements.
# --------------------------------------------------------------------------------------


def decay_int(x: np.ndarray, decay: int | np.ndarray) -> np.ndarray:
    """One 12-bit decay step: ``sign(x) * floor(|x| * (4096 - decay) / 4096)`` (int64).

    ``decay`` is one value or an integer array that broadcasts against ``x`` (e.g. one
    decay per neuron along the last axis).
    """
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * ((np.abs(x) * (DECAY_ONE - np.asarray(decay, dtype=np.int64))) >> 12)


def wrap_signed(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement overflow to ``bits`` plus sign: result in ``[-2**bits, 2**bits - 1]``."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << bits)) & ((1 << (bits + 1)) - 1)) - (1 << bits)


def saturate(x: np.ndarray, v_max: int = V_MAX) -> np.ndarray:
    """Clip to ``[-v_max, v_max]`` (int64), what the chip does to the voltage ``v``."""
    return np.clip(np.asarray(x, dtype=np.int64), -int(v_max), int(v_max))


def effective_weight(mant: np.ndarray | int, exp: int) -> np.ndarray:
    """Integer added to the target's accumulator per spike: ``mant * 2**(6 + exp)`` (int64).

    The contract keeps ``exp >= -6`` (an exact left shift); below that the mantissa would
    be shifted right arithmetically (floor), as nengo-loihi's ``shift`` does.
    """
    mant = np.asarray(mant, dtype=np.int64)
    shift = WEIGHT_SHIFT + int(exp)
    return mant << shift if shift >= 0 else mant >> -shift


@dataclass
class QuantizedPopulation:
    """Fixed-point parameters of one population (all neurons share them).

    Attributes
    ----------
    name : str
    size : int
    model : str
        Loihi form: ``"lif"``, ``"ahp"`` (soma + auxiliary compartment) or ``"li"``
        (non-spiking readout). ALIF populations arrive here as ``"ahp"`` (see
        ``source_model``).
    decay_u, decay_v : int
        Current and voltage decay (see module docstring); ``decay_v`` in 0..4095,
        ``decay_u`` in 1..4096.
    vth_mant : int
        Threshold mantissa 1..131071 (threshold = ``vth_mant * 64``); non-spiking
        populations use the largest value and ``spiking = False``.
    refractory_delay : int
        1..63; the compartment is held for ``refractory_delay - 1`` steps after a spike.
    volt_per_unit : float
        Volts (SI unit of the membrane) of the float model per integer voltage unit.
    spiking : bool
    bias_mant, bias_exp : int
        Constant input ``bias_mant * 2**bias_exp`` per step (0 unless the resting
        potential differs from the reset value).
    aux_decay_u, aux_decay_v, aux_weight_mant, aux_weight_exp : int or None
        The AHP auxiliary compartment (only for ``model == "ahp"``).
    v_offset_volt : float
        Float membrane value that Loihi's ``v = 0`` stands for (the reset value).
    v_init : int
        Membrane value every sample starts from (integer units).
    source_model : str
        The model it came from (``"lif"``, ``"ahp"``, ``"alif"``, ``"li"``, ``"brian2:..."``).
    compartments_per_neuron : int
        Loihi compartments one neuron uses (2 for an AHP neuron on Loihi 1, 1 on Loihi 2).
    error : dict
        Quantization error of the parameters (``vth_rel``, ``retained_v``...).
    notes : list of str
        Approximations made (e.g. an ALIF population mapped onto the AHP form).
    """

    name: str
    size: int
    model: str
    decay_u: int
    decay_v: int
    vth_mant: int
    refractory_delay: int
    volt_per_unit: float
    spiking: bool = True
    bias_mant: int = 0
    bias_exp: int = 0
    aux_decay_u: int | None = None
    aux_decay_v: int | None = None
    aux_weight_mant: int | None = None
    aux_weight_exp: int | None = None
    v_offset_volt: float = 0.0
    v_init: int = 0
    source_model: str = ""
    compartments_per_neuron: int | None = None
    error: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.compartments_per_neuron is None:
            self.compartments_per_neuron = 2 if self.model == "ahp" else 1
        if not self.source_model:
            self.source_model = self.model

    @property
    def vth(self) -> int:
        """Effective threshold in integer voltage units (``vth_mant * 64``)."""
        return int(self.vth_mant) << VTH_SHIFT

    @property
    def bias(self) -> int:
        """Effective bias per step in integer voltage units."""
        return int(self.bias_mant) * (1 << int(self.bias_exp))

    @property
    def aux_weight(self) -> int | None:
        """Effective input of one spike to the auxiliary compartment (negative = AHP)."""
        if self.aux_weight_mant is None:
            return None
        return -int(effective_weight(int(self.aux_weight_mant), int(self.aux_weight_exp)))

    def profile(self) -> tuple:
        """Compartment profile (decays, refractory, bias) that takes a register per core."""
        return (self.decay_u, self.decay_v, self.refractory_delay, self.bias_mant, self.bias_exp)


@dataclass
class QuantizedProjection:
    """Fixed-point synapses of one projection.

    Attributes
    ----------
    name, pre, post : str
    pre_index, post_index : ndarray of int (int32 or int64), shape (n_synapses,)
        Synapses sorted by ``(pre, post)``.
    weight_mant : ndarray of int (int16 or wider), shape (n_synapses,)
        Signed mantissas after rounding (multiples of the format's grid step). Cast to
        int64 before arithmetic (see :attr:`effective_weights`).
    weight_exp : int
        Shared exponent, effective weight ``weight_mant * 2**(6 + weight_exp)``;
        always ``>= -6``.
    sign_mode : str
        ``"excitatory"``, ``"inhibitory"``, ``"mixed"``, or ``"split"`` (a mixed-sign
        projection stored as one excitatory and one inhibitory format, each with an
        8-bit magnitude, as Rao et al. did).
    num_weight_bits : int
        Mantissa bits in {1,2,3,4,5,6,8} (magnitude bits per format for ``"split"``).
    delay_steps : ndarray of int, shape (n_synapses,)
        Extra delay per synapse in steps (may be a read-only broadcast view of 0).
    error : dict
        Quantization error (``max_abs_volt``, ``rms_rel``, ``n_rounded_to_zero``...).
    n_pre, n_post : int
        Sizes of source and target.
    pre_is_input : bool
        True when the source is an input group (host-injected spikes).
    """

    name: str
    pre: str
    post: str
    pre_index: np.ndarray
    post_index: np.ndarray
    weight_mant: np.ndarray
    weight_exp: int
    sign_mode: str
    num_weight_bits: int
    delay_steps: np.ndarray
    error: dict[str, Any] = field(default_factory=dict)
    n_pre: int = 0
    n_post: int = 0
    pre_is_input: bool = False

    @property
    def n_synapses(self) -> int:
        return int(len(self.weight_mant))

    @property
    def effective_weights(self) -> np.ndarray:
        """Integer increments (int64) added to the target's current per spike.

        ``mant << (6 + exp)``; for ``exp < -6`` (never chosen by the quantizer) the low bits
        are shifted out, rounding toward minus infinity like an arithmetic shift.
        """
        return effective_weight(self.weight_mant, self.weight_exp)

    @property
    def n_formats(self) -> int:
        """Synapse formats this projection uses (2 for ``"split"`` with both signs)."""
        if self.sign_mode != "split":
            return 1
        return int((self.weight_mant > 0).any()) + int((self.weight_mant < 0).any())

    @property
    def max_delay(self) -> int:
        return int(self.delay_steps.max()) if len(self.delay_steps) else 0


@dataclass
class QuantizedNetwork(NamedNetwork):
    """A whole network in Loihi fixed point.

    Attributes
    ----------
    chip : str
        Chip description used (``"loihi1"``, ``"loihi2"``, or a file's chip name).
    dt : float
        Seconds of the float model per Loihi step.
    inputs : dict of str to int
        Input groups and their channel counts.
    populations : list of QuantizedPopulation
    projections : list of QuantizedProjection
    readout : tuple of (population, variable, at) or None
    conventions : dict of str to str
        The settings that differ between tools (docs/sources.md L7) with a description, so
        every report can state them.
    settings : dict
        All mapper settings used (:class:`~biolstm.loihi.settings.LoihiSettings`).
    violations : list of Violation
        Problems found while quantizing (only when quantized with ``strict=False``;
        the offending values were clamped to the nearest representable value).
    notes : list of str
    """

    chip: str
    dt: float
    inputs: dict[str, int]
    populations: list[QuantizedPopulation]
    projections: list[QuantizedProjection]
    readout: tuple[str, str, str] | None = None
    conventions: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    violations: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    # population(name), projection(name) (KeyError naming the others), n_neurons, n_synapses
    _missing = KeyError

    def brian_description(self, record=None):
        """This network as the Brian2 builder's description: the Loihi-exact integer emulation
        (:func:`biolstm.loihi.emulate.loihi_description`).

        :func:`biolstm.brian.build.describe` calls it, so every Brian2 entry point
        (:func:`biolstm.brian.evaluate`, :class:`~biolstm.brian.CompiledNetwork`,
        :func:`~biolstm.brian.is_cached`) takes a QuantizedNetwork like a NetworkSpec.
        """
        from biolstm.loihi.emulate import loihi_description

        return loihi_description(self, record)

    def parameters_table(self):
        """pandas DataFrame: one row per population with its integer parameters and errors."""
        import pandas as pd

        rows = []
        for p in self.populations:
            rows.append({
                "population": p.name, "size": p.size, "model": p.model, "from": p.source_model,
                "decay_v": p.decay_v, "decay_u": p.decay_u, "vth_mant": p.vth_mant if p.spiking else None,
                "refractory_delay": p.refractory_delay, "bias": p.bias,
                "aux_decay_v": p.aux_decay_v, "aux_weight": p.aux_weight,
                "volt_per_unit": p.volt_per_unit,
                "vth_rel_error": p.error.get("vth_rel"),
                "tau_v_eff_steps": p.error.get("tau_v_eff_steps"),
            })
        return pd.DataFrame(rows)

    def weights_table(self):
        """pandas DataFrame: one row per projection with format and quantization error."""
        import pandas as pd

        rows = []
        for q in self.projections:
            rows.append({
                "projection": q.name, "pre": q.pre, "post": q.post, "synapses": q.n_synapses,
                "sign_mode": q.sign_mode, "bits": q.num_weight_bits, "weight_exp": q.weight_exp,
                "max_delay": q.max_delay,
                "max_abs_error": q.error.get("max_abs"), "unit": q.error.get("unit"),
                "rms_rel_error": q.error.get("rms_rel"),
                "rounded_to_zero": q.error.get("n_rounded_to_zero", 0),
            })
        return pd.DataFrame(rows)
