"""Loihi fixed-point description of a network: the contract between quantizer and emulator.

:func:`biolstm.loihi.quantize.quantize` turns a :class:`~biolstm.spec.NetworkSpec`
into a :class:`QuantizedNetwork`; the constraint checker, placement, and the
Loihi-exact Brian2 mode (:mod:`biolstm.brian.loihi_mode`) all read this one object,
so the numbers that are checked are the numbers that are emulated.

Conventions (Loihi 1, ``../shared/reference/loihi.md`` §2a-§2b and
``paper_model.md`` §1.4), all values plain Python/numpy integers:

* decays are given as NxSDK accepts them: ``decay_u``, ``decay_v`` in ``0..4096``;
  one step keeps ``x - sign(x)*floor(|x|*decay/4096)`` (truncation toward zero);
  ``4096`` on the current means "only this step's input" (full decay);
* a synapse adds ``weight_mant * 2**(6 + weight_exp)`` to the target's current;
* the threshold is ``vth_mant * 2**6`` and a compartment spikes when ``v > vth`` (strict),
  then ``v = 0``; ``refractory_delay`` in ``1..63`` (1 = no blocked step);
* an AHP neuron is two compartments on one core: an auxiliary compartment that never
  spikes, receives its soma's spikes through an inhibitory synapse of
  ``-aux_weight_mant * 2**(6 + aux_weight_exp)`` one step later, decays with
  ``aux_decay_v`` (and ``aux_decay_u``), and whose voltage is added to the soma's input
  each step;
* spikes of compartments reach their targets one step after they are emitted; input
  spikes in the step they are injected; ``delay_steps`` adds to both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["QuantizedPopulation", "QuantizedProjection", "QuantizedNetwork"]


@dataclass
class QuantizedPopulation:
    """Fixed-point parameters of one population (all neurons share them).

    Attributes
    ----------
    name : str
    size : int
    model : str
        ``"lif"``, ``"ahp"`` (two compartments) or ``"li"`` (non-spiking readout).
    decay_u, decay_v : int
        Current and voltage decay in 0..4096 (see module docstring).
    vth_mant : int
        Threshold mantissa 1..131071 (threshold = ``vth_mant * 64``); non-spiking
        populations use the largest value and ``spiking = False``.
    refractory_delay : int
        1..63; the compartment is held for ``refractory_delay - 1`` steps after a spike.
    volt_per_unit : float
        Volts of the float model per integer voltage unit (the scale the quantizer chose).
    spiking : bool
    bias_mant, bias_exp : int
        Constant input ``bias_mant * 2**bias_exp`` per step (0 unless the model has one).
    aux_decay_u, aux_decay_v, aux_weight_mant, aux_weight_exp : int or None
        The AHP auxiliary compartment (only for ``model == "ahp"``).
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

    @property
    def compartments_per_neuron(self) -> int:
        """Loihi compartments one neuron of this population uses."""
        return 2 if self.model == "ahp" else 1


@dataclass
class QuantizedProjection:
    """Fixed-point synapses of one projection (one synapse format for all of them).

    Attributes
    ----------
    name, pre, post : str
    pre_index, post_index : ndarray of int64, shape (n_synapses,)
        Synapses sorted by ``(pre, post)``.
    weight_mant : ndarray of int64, shape (n_synapses,)
        Signed mantissas after rounding (a multiple of ``2**(8 - num_weight_bits [+1 if mixed])``).
    weight_exp : int
        Shared exponent, effective weight ``weight_mant * 2**(6 + weight_exp)``.
    sign_mode : str
        ``"excitatory"``, ``"inhibitory"`` or ``"mixed"``.
    num_weight_bits : int
        Mantissa bits in {1,2,3,4,5,6,8}.
    delay_steps : ndarray of int64, shape (n_synapses,)
        Extra delay per synapse in steps (0..62 on Loihi 1 with 6 delay bits).
    error : dict
        Quantization error of this projection (e.g. ``max_abs_volt``,
        ``rms_rel``, ``n_rounded_to_zero``), as the quantizer reports it.
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

    @property
    def effective_weights(self) -> np.ndarray:
        """Integer increments added to the target's current per spike."""
        return self.weight_mant.astype(np.int64) << (6 + self.weight_exp) if self.weight_exp >= -6 \
            else self.weight_mant.astype(np.int64) // (1 << -(6 + self.weight_exp))


@dataclass
class QuantizedNetwork:
    """A whole network in Loihi fixed point.

    Attributes
    ----------
    chip : str
        Chip description used (``"loihi1"``, ``"loihi2"``).
    dt : float
        Seconds of the float model per Loihi step.
    inputs : dict of str to int
        Input groups and their channel counts.
    populations : list of QuantizedPopulation
    projections : list of QuantizedProjection
    readout : tuple of (population, variable, at) or None
    conventions : dict of str to str
        The settings that differ between tools (loihi.md §7): ``weight_rounding``,
        ``tau_to_decay``, ... so every report can state them.
    """

    chip: str
    dt: float
    inputs: dict[str, int]
    populations: list[QuantizedPopulation]
    projections: list[QuantizedProjection]
    readout: tuple[str, str, str] | None = None
    conventions: dict[str, str] = field(default_factory=dict)

    def population(self, name: str) -> QuantizedPopulation:
        """The population called ``name``."""
        for pop in self.populations:
            if pop.name == name:
                return pop
        raise KeyError(f"no population {name!r}; populations are {[p.name for p in self.populations]}")
