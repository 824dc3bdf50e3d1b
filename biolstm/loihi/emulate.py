"""Loihi-exact emulation in Brian2: integer compartments that compute what Loihi 1 computes.

:func:`simulate_quantized` turns a :class:`~biolstm.loihi.fixed_point.QuantizedNetwork`
and a batch of :class:`~biolstm.encoding.SpikeTrains` into Brian2 objects whose state
holds integers, runs them on ``numpy``, ``cython`` or ``cpp_standalone`` and returns an
:class:`~biolstm.activity.Activity` whose readout and traces are **integer Loihi units**
(``activity.metadata["units"] == "loihi"``; ``metadata["volt_per_unit"]`` gives the scale
of each population). :func:`simulate_loihi` quantizes a float
:class:`~biolstm.spec.NetworkSpec` first (:func:`biolstm.loihi.quantize.quantize`).

The network lowers to a plain description (:func:`loihi_description`) that the one Brian2
builder (:mod:`biolstm.brian.build`) turns into objects and :mod:`biolstm.brian.run`
executes, exactly like a float network: samples laid end to end in time (on
``cpp_standalone`` through the structure-keyed program cache,
:mod:`biolstm.brian.standalone`, so new weights, profiles and inputs never recompile),
every compartment reset at each sample start (the paper's SNIP resets the whole core
between samples: everything to 0, the soma voltage to the quantizer's ``v_init``) and
synapses drop spikes emitted in an earlier sample. ``batch_size`` splits a long
evaluation on ``numpy``/``cython`` into several runs (same results). A QuantizedNetwork
gives the builder this description itself (its ``brian_description`` method, which
:func:`biolstm.brian.build.describe` calls), so every entry point of :mod:`biolstm.brian`
takes it without knowing about Loihi. :func:`genn_description` and :func:`run_genn` run
the same update through brian2genn (the runner of :mod:`biolstm.brian.genn`), and
:func:`loihi_activity` is the Activity of every Loihi-exact run outside Brian2's runner.

One step, per compartment (nengo-loihi's bit-exact emulator); ``decay(x, d)`` keeps
``sign(x) * floor(|x| * (4096 - d) / 4096)``, i.e. the magnitude is truncated toward
zero (``decay(-7, 2048) = -3``); widths are the chip file's (Loihi 1: ``Q = 21``,
``U = 23``; :mod:`biolstm.loihi.fixed_point` holds them and the integer helpers)::

    q  = wrapQ(q)                       # dendritic accumulator: this step's synaptic input
    u  = wrapU(decay(u, decay_u) + q)   # current
    u2 = wrapU(u + bias + a)            # a: the AHP auxiliary voltage (0 for LIF)
    v  = clip(decay(v, decay_v) + u2, -(2**U - 1), 2**U - 1)
    v  = 0 while the refractory counter is > 0 (then the counter counts down)
    spike if v > vth_mant * 64 (strict); then v = 0, counter = refractory_delay - 1

``wrapN`` is two's-complement overflow to ``N`` bits plus sign (``[-2**N, 2**N - 1]``),
which is what the chip does to ``q`` and ``u``; ``v`` saturates. ``refractory_delay = 1``
therefore blocks no step. While blocked, the current keeps integrating its input (only
``v`` is held), as in nengo-loihi's emulator and brian2-loihi; with ``decay_u = 4096`` (the
paper's networks) this is the same as dropping the input. The auxiliary compartment of
an ``"ahp"`` population runs the same update with its own decays and the input
``-aux_weight_mant * 2**(6 + aux_weight_exp)`` (``QuantizedPopulation.aux_weight``; < 0
for an AHP) when its soma spiked in the previous step; it never spikes and is never
reset except at sample starts; its voltage enters the soma's ``u2`` in the same step (it
sits before the soma on the core).

Schedule: ``start`` (input spikes, sample reset) -> ``synapses`` (add weights to ``q``) ->
``groups`` (the integer update above) -> ``thresholds`` -> ``resets`` -> ``end``
(monitors). A compartment's spike reaches its targets one step after it is emitted
(Loihi's implicit delay), input spikes in the step they are injected, and
``delay_steps`` adds to both, as :mod:`biolstm.loihi.fixed_point` specifies. All neurons
share one ``NeuronGroup`` with per-neuron constants (like a core's profiles) and there is
one ``Synapses`` object per source, so ``cpp_standalone`` compiles few files.

Values are stored as float64 holding integers: every intermediate (at most
``2**23 * 4096 < 2**53``) is exact, on every backend, with or without ``-ffast-math``
(all divisions are by powers of two).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from biolstm.activity import Activity
from biolstm.brian import genn
from biolstm.brian.backends import STANDALONE_BACKENDS
from biolstm.brian.build import GroupDescription, Member, NetworkDescription, ProjectionDescription
from biolstm.brian.run import concatenate_activities, run_description
from biolstm.brian.runner import BrianNetwork, as_brian_network, build_batch
from biolstm.encoding import InputError, SpikeTrains
from biolstm.errors import BiolstmError
from biolstm.loihi.fixed_point import (
    BIAS_EXP_MAX,
    BIAS_MANT_MAX,
    DECAY_ONE,
    MAX_DELAY_STEPS,
    Q_BITS,
    REFRACTORY_MAX,
    U_BITS,
    V_MAX,
    VTH_MANT_MAX,
    VTH_SHIFT,
    WEIGHT_EXP_MAX,
    WEIGHT_MANT_MAX,
    WEIGHT_SHIFT,
    QuantizedNetwork,
    QuantizedPopulation,
    QuantizedProjection,
    decay_int,
    effective_weight,
    wrap_signed,
)

__all__ = [
    "LOIHI_SCHEDULE",
    "LoihiModeError",
    "check_quantized",
    "loihi_description",
    "build_loihi_network",
    "simulate_quantized",
    "simulate_loihi",
    "loihi_activity",
    "genn_description",
    "run_genn",
    "STATE_VARIABLES",
    "core_update",
    "chip_state_bits",
]
# The integer widths and helpers (Q_BITS, U_BITS, V_MAX, decay_int, wrap_signed,
# effective_weight, ...) are biolstm.loihi.fixed_point's; this module imports them.

LOIHI_SCHEDULE = ["start", "synapses", "groups", "thresholds", "resets", "end"]
"""Brian2 schedule of the Loihi mode: synaptic input is summed before the state update."""

MODELS = ("lif", "ahp", "li")

STATE_VARIABLES = {
    "v": "voltage (soma)",
    "u": "current (soma)",
    "a": "AHP auxiliary voltage (ahp only, <= 0 in the paper's network)",
    "ua": "AHP auxiliary current (ahp only)",
}
"""Variables that ``record`` may ask for, in integer Loihi units."""


class LoihiModeError(BiolstmError, ValueError):
    """A QuantizedNetwork the Loihi mode cannot emulate (the message names the value and limit)."""


def _wrap_expr(expr: str, bits: int) -> str:
    """Brian2 expression: ``expr`` wrapped to ``bits`` plus sign (two's complement)."""
    return f"(({expr}) - {2 ** (bits + 1)}*floor((({expr}) + {2 ** bits})/{2 ** (bits + 1)}))"


def _wrap_code(var: str, bits: int) -> str:
    return f"{var} = {_wrap_expr(var, bits)}"


def _decay_code(var: str, keep: int | str) -> str:
    # sign(x)*floor(|x|*keep/4096): the magnitude is truncated toward zero
    return f"sign({var})*floor(abs({var})*{keep}/{float(DECAY_ONE)!r})"


# --------------------------------------------------------------------------------------
# Validation: every value the chip could not hold is an error, never a silent clip.
# --------------------------------------------------------------------------------------


def _check_int(owner: str, name: str, value: Any, low: int, high: int, fix: str) -> int:
    if value is None or isinstance(value, bool) or not float(value).is_integer():
        raise LoihiModeError(f"{owner}: {name} = {value!r} must be an integer in {low}..{high}; {fix}")
    value = int(value)
    if not low <= value <= high:
        raise LoihiModeError(f"{owner}: {name} = {value} is outside {low}..{high}; {fix}")
    return value


def _check_population(pop: QuantizedPopulation) -> None:
    owner = f"population {pop.name!r}"
    if getattr(pop, "source_model", "") == "unrecognised":
        raise LoihiModeError(f"{owner} is a placeholder: its neuron model has no Loihi form, so the "
                             f"quantizer only counted its resources; it cannot be emulated "
                             f"({'; '.join(getattr(pop, 'notes', []) or []) or 'see the quantizer report'})")
    if pop.model not in MODELS:
        raise LoihiModeError(f"{owner}: model {pop.model!r} has no Loihi emulation; use one of {MODELS}")
    if int(pop.size) < 1:
        raise LoihiModeError(f"{owner}: size {pop.size} must be at least 1")
    fix = "re-run the quantizer or fix the value by hand"
    _check_int(owner, "decay_u", pop.decay_u, 0, DECAY_ONE, fix)
    _check_int(owner, "decay_v", pop.decay_v, 0, DECAY_ONE, fix)
    _check_int(owner, "bias_mant", pop.bias_mant, -BIAS_MANT_MAX, BIAS_MANT_MAX, fix)
    _check_int(owner, "bias_exp", pop.bias_exp, 0, BIAS_EXP_MAX, fix)
    _check_int(owner, "v_init", getattr(pop, "v_init", 0), -V_MAX, V_MAX, fix)
    if pop.spiking:
        if pop.model == "li":
            raise LoihiModeError(f"{owner}: model 'li' is a non-spiking readout; set spiking=False")
        _check_int(owner, "vth_mant", pop.vth_mant, 1, VTH_MANT_MAX, fix)
        _check_int(owner, "refractory_delay", pop.refractory_delay, 1, REFRACTORY_MAX,
                   "Loihi 1 holds it in 6 bits (1 = no blocked step)")
    elif pop.model == "ahp":
        raise LoihiModeError(f"{owner}: an 'ahp' population must spike (its spikes drive the aux compartment)")
    if pop.model == "ahp":
        for name in ("aux_decay_u", "aux_decay_v", "aux_weight_mant", "aux_weight_exp"):
            if getattr(pop, name) is None:
                raise LoihiModeError(f"{owner}: model 'ahp' needs {name} (the auxiliary compartment); "
                                     f"it is None")
        _check_int(owner, "aux_decay_u", pop.aux_decay_u, 0, DECAY_ONE, fix)
        _check_int(owner, "aux_decay_v", pop.aux_decay_v, 0, DECAY_ONE, fix)
        _check_int(owner, "aux_weight_mant", pop.aux_weight_mant, -(WEIGHT_MANT_MAX + 1), WEIGHT_MANT_MAX + 1,
                   "it is the mantissa of the soma->aux weight (positive = inhibitory, the AHP case)")
        _check_int(owner, "aux_weight_exp", pop.aux_weight_exp, -WEIGHT_SHIFT, WEIGHT_EXP_MAX, fix)


def _check_projection(proj: QuantizedProjection, qnet: QuantizedNetwork, sizes: Mapping[str, int]) -> None:
    owner = f"projection {proj.name!r}"
    if proj.pre not in sizes:
        raise LoihiModeError(f"{owner}: source {proj.pre!r} is neither an input nor a population "
                             f"({sorted(sizes)})")
    if proj.post not in {p.name for p in qnet.populations}:
        raise LoihiModeError(f"{owner}: target {proj.post!r} is not a population "
                             f"({[p.name for p in qnet.populations]})")
    n = len(proj.weight_mant)
    for name in ("pre_index", "post_index", "delay_steps"):
        arr = np.asarray(getattr(proj, name))
        if arr.shape != (n,):
            raise LoihiModeError(f"{owner}: {name} has shape {arr.shape}, weight_mant has {n} synapses")
    for name, arr, limit in (("pre_index", proj.pre_index, sizes[proj.pre]),
                             ("post_index", proj.post_index, qnet.population(proj.post).size)):
        arr = np.asarray(arr)
        if n and (arr.min() < 0 or arr.max() >= limit):
            raise LoihiModeError(f"{owner}: {name} spans {arr.min()}..{arr.max()}, valid is 0..{limit - 1}")
    mant = np.asarray(proj.weight_mant)
    if n and not np.all(np.mod(mant, 1) == 0):
        raise LoihiModeError(f"{owner}: weight_mant must hold integers")
    if n and (mant.min() < -(WEIGHT_MANT_MAX + 1) or mant.max() > WEIGHT_MANT_MAX):
        raise LoihiModeError(f"{owner}: weight mantissas span {int(mant.min())}..{int(mant.max())}; "
                             f"Loihi 1 holds {-(WEIGHT_MANT_MAX + 1)}..{WEIGHT_MANT_MAX} (8 bits plus sign)")
    _check_int(owner, "weight_exp", proj.weight_exp, -WEIGHT_SHIFT, WEIGHT_EXP_MAX,
               f"re-run the quantizer (the contract keeps it >= {-WEIGHT_SHIFT})")
    delays = np.asarray(proj.delay_steps)
    if n and (delays.min() < 0 or delays.max() > MAX_DELAY_STEPS):
        raise LoihiModeError(f"{owner}: delay_steps span {int(delays.min())}..{int(delays.max())}; "
                             f"Loihi 1 allows 0..{MAX_DELAY_STEPS}")


def check_quantized(qnet: QuantizedNetwork) -> None:
    """Raise :class:`LoihiModeError` unless every value of ``qnet`` fits Loihi 1's formats."""
    names = [p.name for p in qnet.populations]
    if len(set(names) | set(qnet.inputs)) != len(names) + len(qnet.inputs):
        raise LoihiModeError(f"population and input names must be unique: {names}, {sorted(qnet.inputs)}")
    for pop in qnet.populations:
        _check_population(pop)
    sizes = {**{k: int(v) for k, v in qnet.inputs.items()}, **{p.name: int(p.size) for p in qnet.populations}}
    for proj in qnet.projections:
        _check_projection(proj, qnet, sizes)
    if qnet.readout is not None:
        pop, var, at = qnet.readout
        if pop not in names:
            raise LoihiModeError(f"readout population {pop!r} is not one of {names}")
        _check_variable(qnet.population(pop), var, "readout")
        if at not in ("last", "mean", "max"):
            raise LoihiModeError(f"readout at={at!r} must be 'last', 'mean' or 'max'")


def _check_variable(pop: QuantizedPopulation, var: str, what: str) -> None:
    allowed = ["v", "u"] + (["a", "ua"] if pop.model == "ahp" else [])
    if var not in allowed:
        raise LoihiModeError(f"{what}: population {pop.name!r} ({pop.model}) has no Loihi variable "
                             f"{var!r}; it has {allowed} ({'; '.join(f'{k}: {STATE_VARIABLES[k]}' for k in allowed)})")


# --------------------------------------------------------------------------------------
# Brian2 objects.
# --------------------------------------------------------------------------------------


STATE = ("v", "u", "q", "ref", "a", "ua", "za")
"""State of every neuron (soma ``v, u, q, ref``; aux compartment ``a, ua``; ``za`` = the soma
spiked in the previous step), integers held in float64."""

PROFILE = ("keep_u", "keep_v", "keep_ua", "keep_a", "bias", "aux_in", "vth", "ref_after", "spiking", "v_init")
"""Per-neuron constants, like the compartment and threshold profiles of a Loihi core."""

CORE_MODEL = "\n".join([*(f"{var} : 1" for var in STATE), *(f"{c} : 1 (constant)" for c in PROFILE)])


def core_update(q_bits: int = Q_BITS, u_bits: int = U_BITS, v_max: int = V_MAX) -> str:
    """Brian2 code of one step of every neuron, for a chip's state widths.

    No temporaries: Brian2's numpy target may alias a temporary to a state array and then
    update it in place (``tmp = u`` followed by ``tmp -= ...``).
    """
    return "\n".join([
        _wrap_code("q", q_bits),
        f"u = {_decay_code('u', 'keep_u')} + q",
        _wrap_code("u", u_bits),
        "q = 0",
        f"ua = {_decay_code('ua', 'keep_ua')} + aux_in*za",
        _wrap_code("ua", u_bits),
        f"a = clip({_decay_code('a', 'keep_a')} + ua, {-v_max}, {v_max})",
        "za = 0",
        f"v = clip({_decay_code('v', 'keep_v')} + {_wrap_expr('u + bias + a', u_bits)}, {-v_max}, {v_max})",
        "v = v*int(ref < 0.5)",
        "ref = clip(ref - 1, 0, 64)",
    ])


def chip_state_bits(chip: str) -> tuple[int, int]:
    """``(input accumulator bits, current/voltage bits)`` of a chip, from its chip file.

    Loihi 1: (21, 23), the numbers :mod:`biolstm.loihi.quantize` checks against.
    """
    from biolstm.loihi.chips import ChipError, load_chip

    try:
        c = load_chip(chip)
    except ChipError as err:
        raise LoihiModeError(f"QuantizedNetwork.chip = {chip!r}: {err}") from None
    q_bits, uv_bits = c.value("input_accumulator_bits"), c.value("voltage_bits")
    if q_bits is None or uv_bits is None:
        raise LoihiModeError(f"chip {c.name!r} ({c.path}) does not give input_accumulator_bits and "
                             f"voltage_bits; the Loihi mode needs both to emulate overflow")
    return int(q_bits), int(uv_bits)


CORE_THRESHOLD = "spiking > 0.5 and v > vth"
CORE_RESET = "v = 0\nref = ref_after\nza = 1"
SAMPLE_RESET = "\n".join(f"{var} = 0" for var in STATE if var != "v") + "\nv = v_init"


def _profiles(qnet: QuantizedNetwork) -> tuple[dict[str, np.ndarray], dict[str, slice]]:
    """Per-neuron constants of all populations laid end to end, and each population's slice.

    A LIF or readout neuron has an aux compartment with ``aux_in = 0`` that stays at zero.
    """
    columns: dict[str, list[np.ndarray]] = {c: [] for c in PROFILE}
    slices: dict[str, slice] = {}
    start = 0
    for pop in qnet.populations:
        n = int(pop.size)
        slices[pop.name] = slice(start, start + n)
        start += n
        ahp = pop.model == "ahp"
        values = {
            "keep_u": DECAY_ONE - int(pop.decay_u),
            "keep_v": DECAY_ONE - int(pop.decay_v),
            "keep_ua": DECAY_ONE - int(pop.aux_decay_u) if ahp else 0,
            "keep_a": DECAY_ONE - int(pop.aux_decay_v) if ahp else 0,
            "bias": int(pop.bias),
            # aux input per soma spike: -aux_weight_mant * 2**(6 + aux_weight_exp) (< 0 for an AHP)
            "aux_in": int(pop.aux_weight) if ahp else 0,
            "vth": int(pop.vth) if pop.spiking else float(2**40),
            "ref_after": int(pop.refractory_delay) - 1 if pop.spiking else 0,
            "spiking": 1 if pop.spiking else 0,
            "v_init": int(getattr(pop, "v_init", 0)),
        }
        for c in PROFILE:
            columns[c].append(np.full(n, values[c], dtype=float))
    return {c: np.concatenate(v) for c, v in columns.items()}, slices


class _PopulationSpikes:
    """One population's view of the core's SpikeMonitor (``t`` and ``i`` as the runner reads them).

    The monitor's arrays are read once and shared by all populations (on ``cpp_standalone``
    every read loads them from disk).
    """

    def __init__(self, monitor: Any, sl: slice, cache: dict) -> None:
        self._monitor, self._slice, self._cache = monitor, sl, cache

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if "i" not in self._cache:
            self._cache["i"] = np.asarray(self._monitor.i[:])
            self._cache["t"] = np.asarray(self._monitor.t_[:])
        i = self._cache["i"]
        keep = (i >= self._slice.start) & (i < self._slice.stop)
        return i, self._cache["t"], keep

    @property
    def t(self) -> np.ndarray:
        _, t, keep = self._arrays()
        return t[keep]

    @property
    def i(self) -> np.ndarray:
        i, _, keep = self._arrays()
        return i[keep] - self._slice.start


def _check_record(qnet: QuantizedNetwork, record) -> dict[str, tuple[list[str], list[int]]]:
    record = {k: (list(v), [int(x) for x in np.asarray(n, dtype=int).reshape(-1)])
              for k, (v, n) in dict(record or {}).items()}
    unknown = sorted(set(record) - {p.name for p in qnet.populations})
    if unknown:
        raise LoihiModeError(f"record: no population(s) {unknown}; populations are "
                             f"{[p.name for p in qnet.populations]}")
    for name, (rec_vars, neurons) in record.items():
        pop = qnet.population(name)
        for var in rec_vars:
            _check_variable(pop, var, "record")
        neurons = np.asarray(neurons, dtype=int)
        if neurons.size and (neurons.min() < 0 or neurons.max() >= pop.size):
            raise LoihiModeError(f"record: neuron indices of {name!r} span "
                                 f"{neurons.min()}..{neurons.max()}, valid is 0..{pop.size - 1}")
    return record


def _units(qnet: QuantizedNetwork) -> dict[str, Any]:
    """The metadata every Loihi-exact result carries: integer Loihi units and their scale."""
    return {"units": "loihi", "mode": "loihi", "chip": qnet.chip,
            "volt_per_unit": {p.name: float(p.volt_per_unit) for p in qnet.populations}}


def loihi_activity(qnet: QuantizedNetwork, inputs: SpikeTrains, spikes: dict[str, np.ndarray], *,
                   metadata: Mapping[str, Any] | None = None, **fields: Any) -> Activity:
    """An Activity of ``qnet`` run on ``inputs``, in integer Loihi units (like
    :meth:`biolstm.activity.Activity.from_spec` for a float network).

    Derives ``dt``, ``n_samples``, ``n_steps``, ``population_sizes``, ``input_counts``
    and the readout description from ``qnet`` and ``inputs``; ``metadata`` has
    ``units="loihi"``, ``mode``, ``chip`` and ``volt_per_unit`` per population, then the
    entries of ``metadata``; ``fields`` give the rest (``readout``, ``traces``,
    ``trace_neurons``, ``backend``, ``timings``). The emulators outside Brian2's runner
    (:func:`run_genn`, :func:`biolstm.loihi.numpy_emulate.simulate_quantized_numpy`) use it.
    """
    readout = qnet.readout
    return Activity(
        dt=float(qnet.dt), n_samples=inputs.n_samples, n_steps=inputs.n_steps,
        population_sizes={p.name: int(p.size) for p in qnet.populations},
        spikes=spikes,
        input_counts={name: inputs.counts_per_step(name) for name in inputs.sizes},
        readout_population=readout[0] if readout else None,
        readout_variable=readout[1] if readout else None,
        readout_at=readout[2] if readout else "last",
        metadata={**_units(qnet), **dict(metadata or {})},
        **fields,
    )


def loihi_description(
    qnet: QuantizedNetwork,
    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
) -> NetworkDescription:
    """The Loihi-exact integer network as a plain description for :func:`biolstm.brian.build.build`.

    All neurons live in one group (``loihi_core``) whose per-neuron constants
    (:data:`PROFILE`) are the group's *values*, as the compartments of a Loihi core share
    one update engine with per-compartment profiles: a compiled program takes new
    profiles (and weights) without being compiled again. There is one projection per
    input group and one for the recurrent/feed-forward connections (few objects, few
    generated files); every spike adds its effective weight to the accumulator ``q``.
    The update :func:`core_update` runs in the ``groups`` slot after the synapses
    (:data:`LOIHI_SCHEDULE`); :data:`SAMPLE_RESET` at every sample start.

    Parameters
    ----------
    qnet : QuantizedNetwork
    record : mapping, optional
        ``{population: (variables, neuron_indices)}`` with variables from
        :data:`STATE_VARIABLES`.
    """
    check_quantized(qnet)
    record = _check_record(qnet, record)
    profiles, slices = _profiles(qnet)
    q_bits, uv_bits = chip_state_bits(qnet.chip)
    n = len(profiles["vth"])
    core = GroupDescription(
        name="loihi_core", size=n,
        kwargs={"model": CORE_MODEL, "threshold": CORE_THRESHOLD, "reset": CORE_RESET},
        initial={}, values=profiles, sample_reset=SAMPLE_RESET, reset_name="loihi_sample_reset",
        updates=[(core_update(q_bits, uv_bits, 2**uv_bits - 1), "groups", 0, "loihi_update")],
        members=[Member(p.name, slices[p.name].start, int(p.size), bool(p.spiking)) for p in qnet.populations],
        monitor_name="loihi_spikes")
    by_source: dict[str, list] = {}
    for proj in qnet.projections:
        from_input = proj.pre in qnet.inputs
        by_source.setdefault(proj.pre if from_input else "", []).append((
            proj.name,
            np.asarray(proj.pre_index, dtype=np.int64) + (0 if from_input else slices[proj.pre].start),
            np.asarray(proj.post_index, dtype=np.int64) + slices[proj.post].start,
            effective_weight(np.asarray(proj.weight_mant).astype(np.int64), proj.weight_exp).astype(float),
            np.asarray(proj.delay_steps, dtype=np.int64)))
    projections = []
    for source, parts in by_source.items():
        names, pre, post, w, steps = zip(*parts)
        pre, post, w, steps = (np.concatenate(x) for x in (pre, post, w, steps))
        # synapse order (i, j): integer sums are exact in any order
        order = np.lexsort((post, pre))
        from_input = source in qnet.inputs
        projections.append(ProjectionDescription(
            name=f"syn_input_{source}" if from_input else "syn_core", label="+".join(names),
            pre=source if from_input else "loihi_core", post="loihi_core",
            i=pre[order], j=post[order], w=w[order], delay_steps=steps[order], target="q", unit="1",
            gate="", from_input=from_input))
    metadata = {
        **_units(qnet),
        "conventions": dict(qnet.conventions),
        # values the quantizer clamped (quantize(..., strict=False)): the emulation runs the clamped ones
        "quantizer_violations": [str(v) for v in getattr(qnet, "violations", [])],
    }
    return NetworkDescription(
        dt=float(qnet.dt), inputs={k: int(v) for k, v in qnet.inputs.items()}, groups=[core],
        projections=projections, readout=tuple(qnet.readout) if qnet.readout is not None else None,
        record=record, schedule=list(LOIHI_SCHEDULE), name="biolstm_loihi_network",
        integer_units=True, metadata=metadata, kind="loihi")


def build_loihi_network(
    qnet: QuantizedNetwork,
    inputs: SpikeTrains,
    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
) -> BrianNetwork:
    """Create the Brian2 objects of the Loihi mode for one batch on the current device.

    :func:`loihi_description` built by :func:`biolstm.brian.build.build` with the
    samples end to end (one copy, every sample a slot).

    Returns
    -------
    BrianNetwork
        ``groups`` holds the core group; ``spike_monitors`` per-population views of its
        spike monitor.
    """
    _check_inputs(qnet, inputs)
    built = build_batch(loihi_description(qnet, record), inputs)
    net = as_brian_network(built, inputs)
    monitor = built.spike_monitors.get("loihi_core")
    if monitor is not None:
        cache: dict = {}
        net.spike_monitors = {m.name: _PopulationSpikes(monitor, slice(m.start, m.start + m.size), cache)
                              for m in built.description.groups[0].members if m.spiking}
    return net


def _check_inputs(qnet: QuantizedNetwork, inputs: SpikeTrains) -> None:
    expected = {k: int(v) for k, v in qnet.inputs.items()}
    if set(expected) != set(inputs.sizes):
        raise InputError(f"the network's input groups are {sorted(expected)}, the spike trains give "
                         f"{sorted(inputs.sizes)}; provide spikes for exactly the network's input groups")
    for name, size in expected.items():
        if inputs.sizes[name] != size:
            raise InputError(f"input '{name}' has {inputs.sizes[name]} channels in the spike trains but "
                             f"{size} in the network")


def simulate_quantized(
    qnet: QuantizedNetwork,
    inputs: SpikeTrains,
    backend: str = "numpy",
    *,
    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
    progress: bool = True,
    directory: str | None = None,
    batch_size: int | None = None,
) -> Activity:
    """Emulate Loihi 1 step for step on a Brian2 backend.

    Parameters
    ----------
    qnet : QuantizedNetwork
        Fixed-point network (from :func:`biolstm.loihi.quantize.quantize` or built by hand).
    inputs : SpikeTrains
        The batch; each sample starts from all-zero state.
    backend : {"numpy", "cython", "cpp_standalone", "cuda_standalone"}
    record : mapping, optional
        Integer state traces ``{population: (variables, neuron_indices)}``, variables from
        :data:`STATE_VARIABLES`.
    progress : bool
    directory : str, optional
        Project folder for the standalone backends (default: the program cache).
    batch_size : int, optional
        ``numpy``/``cython``: run at most this many samples per Brian2 run (bounds memory:
        the state of a batch is held at once). The standalone backends run a compiled
        program that takes at most :data:`biolstm.brian.standalone.MAX_SLOTS` samples per
        run anyway. Results are identical to one run of all samples.

    Returns
    -------
    Activity
        Spikes per spiking population; ``readout`` ``[S, T, n_out]`` and ``traces`` as int64
        Loihi units (after each step, i.e. after reset); ``metadata`` has ``units="loihi"``,
        ``volt_per_unit`` per population, ``chip`` and ``conventions``.
    """
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size = {batch_size} must be at least 1")
    if (batch_size is not None and inputs.n_samples > int(batch_size)
            and backend not in STANDALONE_BACKENDS):
        return _in_batches(qnet, inputs, backend, int(batch_size), record=record, progress=progress)
    desc = loihi_description(qnet, record)
    _check_inputs(qnet, inputs)
    return run_description(desc, inputs, backend, progress=progress, directory=directory,
                           layout_metadata=False)


def _in_batches(qnet: QuantizedNetwork, inputs: SpikeTrains, backend: str, batch_size: int, *,
                record, progress: bool) -> Activity:
    from tqdm.auto import tqdm

    starts = range(0, inputs.n_samples, batch_size)
    parts = []
    for start in tqdm(starts, desc=f"Loihi mode ({backend})", unit="batch", disable=not progress):
        chunk = inputs.subset(slice(start, min(start + batch_size, inputs.n_samples)))
        parts.append(simulate_quantized(qnet, chunk, backend, record=record, progress=False))
    return concatenate_activities(parts)


def simulate_loihi(
    spec_or_qnet: Any,
    inputs: SpikeTrains,
    backend: str = "numpy",
    *,
    chip: str = "loihi1",
    record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
    progress: bool = True,
    directory: str | None = None,
    batch_size: int | None = None,
    **quantize_settings: Any,
) -> Activity:
    """Quantize a NetworkSpec for Loihi (unless given a QuantizedNetwork) and emulate it.

    ``spec_or_qnet`` is a NetworkSpec, which :func:`biolstm.loihi.quantize.quantize` quantizes
    for ``chip`` with ``**quantize_settings``, or a QuantizedNetwork (quantizer settings
    given with one raise TypeError). The other arguments and the result are those of
    :func:`simulate_quantized` (one list of parameters, documented there); the Activity's
    ``metadata["quantized_network"]`` is the QuantizedNetwork that ran.
    """
    if isinstance(spec_or_qnet, QuantizedNetwork):
        if quantize_settings:
            raise TypeError(f"quantizer settings {sorted(quantize_settings)} were given with an "
                            f"already quantized network; quantize again instead")
        qnet = spec_or_qnet
    else:
        try:
            from biolstm.loihi.quantize import quantize
        except ImportError as err:  # pragma: no cover - until the quantizer is merged
            raise ImportError("the Loihi quantizer (biolstm.loihi.quantize) is not installed in this "
                              "checkout; pass a QuantizedNetwork instead") from err
        qnet = quantize(spec_or_qnet, chip=chip, **quantize_settings)
    activity = simulate_quantized(qnet, inputs, backend, record=record, progress=progress,
                                  directory=directory, batch_size=batch_size)
    activity.metadata["quantized_network"] = qnet
    return activity


# --------------------------------------------------------------------------------------
# The same network through brian2genn and GeNN (the runner of biolstm.brian.genn).
# --------------------------------------------------------------------------------------


def genn_description(qnet: QuantizedNetwork, inputs: SpikeTrains,
                     record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None
                     ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The GeNN runner's description (:mod:`biolstm.brian.genn`) of the Loihi-exact network.

    One group ``loihi_core`` holds every compartment with its profile constants, exactly
    as :func:`build_loihi_network` builds it; synapses add to ``qin``, and the update is:
    sample reset, ``q += qin``, then :func:`core_update` (the same code). All values are
    integers in float64, so every device computes the same numbers.
    """
    check_quantized(qnet)
    _check_inputs(qnet, inputs)
    record = {k: (list(v), [int(x) for x in n]) for k, (v, n) in dict(record or {}).items()}
    for name, (variables, neurons) in record.items():
        pop = qnet.population(name)
        for var in variables:
            _check_variable(pop, var, "record")
    T = inputs.n_steps
    profiles, slices = _profiles(qnet)
    q_bits, uv_bits = chip_state_bits(qnet.chip)
    n = len(profiles["vth"])
    before = [genn.fresh_line(T)]
    before += [f"{var} = {var}*(1 - biolstm_fresh)" for var in STATE if var != "v"]
    before.append("v = v*(1 - biolstm_fresh) + v_init*biolstm_fresh")
    before.append("q = q + qin\nqin = 0")
    # record: the readout variable of its population plus requested traces, one monitor
    rec_vars: list[str] = []
    rec_neurons: list[int] = []
    if qnet.readout is not None:
        pop, var, _ = qnet.readout
        rec_vars.append(var)
        rec_neurons.extend(range(slices[pop].start, slices[pop].stop))
    for name, (variables, neurons) in record.items():
        rec_vars += [v for v in variables if v not in rec_vars]
        rec_neurons += [slices[name].start + int(k) for k in neurons]
    rec_neurons_arr = np.unique(np.asarray(rec_neurons, dtype=np.int64))
    group = {
        "name": "loihi_core", "size": int(n), "equations": CORE_MODEL + "\nqin : 1",
        "threshold": CORE_THRESHOLD, "reset": CORE_RESET, "namespace": {},
        "before_update": "\n".join(before),
        "after_update": core_update(q_bits, uv_bits, 2**uv_bits - 1),
        "initial": list(STATE) + list(PROFILE) + ["qin"], "record": rec_vars,
        "monitor_spikes": any(p.spiking for p in qnet.populations),
    }
    arrays: dict[str, np.ndarray] = {f"group/loihi_core/{c}": np.asarray(v, float) for c, v in profiles.items()}
    for var in STATE:
        arrays[f"group/loihi_core/{var}"] = np.zeros(n)
    arrays["group/loihi_core/v"] = profiles["v_init"].astype(float)
    arrays["group/loihi_core/qin"] = np.zeros(n)
    if rec_vars:
        arrays["group/loihi_core/record_neurons"] = rec_neurons_arr
    synapses: list = []
    zero = [0.0] * 7
    for proj in qnet.projections:
        from_input = proj.pre in qnet.inputs
        pre = np.asarray(proj.pre_index, dtype=np.int64) + (0 if from_input else slices[proj.pre].start)
        post = np.asarray(proj.post_index, dtype=np.int64) + slices[proj.post].start
        w = effective_weight(np.asarray(proj.weight_mant).astype(np.int64), proj.weight_exp).astype(float)
        genn.split_by_delay(proj.name, proj.pre if from_input else "loihi_core", "loihi_core", "qin", zero,
                            pre, post, w, np.asarray(proj.delay_steps, dtype=np.int64), from_input,
                            arrays, synapses)
    arrays.update(genn.input_arrays(inputs, list(qnet.inputs)))
    header = genn.description_header(float(qnet.dt), inputs, {k: int(v) for k, v in qnet.inputs.items()},
                                     [group], synapses, "loihi")
    header["record"] = {k: [list(v), n_] for k, (v, n_) in record.items()}
    return header, arrays


def run_genn(qnet: QuantizedNetwork, inputs: SpikeTrains, *, device: str = "genn", use_gpu: bool = False,
             record: Mapping[str, tuple[Sequence[str], Sequence[int]]] | None = None,
             directory: str | None = None, timeout: float | None = None) -> Activity:
    """Emulate a QuantizedNetwork through the GeNN runner (:func:`biolstm.brian.genn.run_description`).

    ``device``, ``use_gpu``, ``directory`` and ``timeout`` are the runner's
    (:func:`biolstm.brian.genn.run_description`; ``device="numpy"`` runs the same
    description on this environment's Brian2). Returns an Activity like
    :func:`simulate_quantized`'s: spikes per spiking population, integer readout and
    traces (Loihi units); ``metadata`` adds the runner's ``versions`` and the ``device``.
    """
    header, arrays = genn_description(qnet, inputs, record)
    result, out = genn.run_description(header, arrays, device=device, use_gpu=use_gpu,
                                       directory=directory, timeout=timeout)
    S, T, off = inputs.n_samples, inputs.n_steps, int(result["offset"])
    _, slices = _profiles(qnet)
    spikes = {}
    if "spikes/loihi_core/i" in out:
        i, step = out["spikes/loihi_core/i"], out["spikes/loihi_core/step"]
        for pop in qnet.populations:
            if not pop.spiking:
                continue
            sl = slices[pop.name]
            keep = (i >= sl.start) & (i < sl.stop)
            spikes[pop.name] = genn.spike_events(i[keep] - sl.start, step[keep], T, off)
    rec_neurons = arrays.get("group/loihi_core/record_neurons")

    def columns(var: str, neurons: np.ndarray) -> np.ndarray:
        values = genn.per_sample(out[f"trace/loihi_core/{var}"], S, T, off)
        pos = np.searchsorted(rec_neurons, neurons)
        return np.rint(values[:, :, pos]).astype(np.int64)

    readout = None
    if qnet.readout is not None:
        pop, var, _ = qnet.readout
        sl = slices[pop]
        readout = columns(var, np.arange(sl.start, sl.stop))
    traces, trace_neurons = {}, {}
    for name, (variables, neurons) in header["record"].items():
        idx = np.asarray(neurons, dtype=np.int64)
        for var in variables:
            traces[f"{name}.{var}"] = columns(var, slices[name].start + idx)
            trace_neurons[f"{name}.{var}"] = idx
    return loihi_activity(qnet, inputs, spikes, readout=readout, traces=traces, trace_neurons=trace_neurons,
                          backend=genn.backend_label(device, use_gpu), timings=dict(result["timings"]),
                          metadata={"versions": result["versions"], "runner": "genn_runner", "device": device})
