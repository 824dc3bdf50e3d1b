"""Mapper settings: the choices on which published tools disagree (docs/sources.md L7).

Every choice is a field of :class:`LoihiSettings` with a documented default, and
every report states the settings it used. Pass them as keyword arguments:
``quantize(spec, weight_rounding="floor")``, ``check(spec, output_axons="davies")``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

from biolstm.errors import BiolstmError

__all__ = ["LoihiSettings", "SettingsError", "make_settings", "SETTING_CHOICES"]


class SettingsError(BiolstmError, ValueError):
    """An unknown setting or a value that is not one of its choices."""


SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "weight_rounding": ("nearest_even", "trunc", "floor"),
    "tau_to_decay": ("nengo", "nxsdk", "exact"),
    "weight_exponent_range": ("nengo", "brian2_loihi"),
    "refractory_max": ("nengo", "brian2_loihi"),
    "sign_mode": ("auto", "mixed"),
    "alif": ("ahp", "reject"),
    "output_axons": ("intel", "davies", "slayer"),
    "profile_limits": ("registers", "nengo_builder", "nengo_validate"),
}


@dataclass(frozen=True)
class LoihiSettings:
    """Choices of the Loihi mapper, each with its default and where it comes from.

    Attributes
    ----------
    weight_rounding : {"nearest_even", "trunc", "floor"}
        How weight mantissas are rounded (docs/sources.md L2b, L7). ``nearest_even``
        (default): nengo-loihi, round to nearest, ties to even, the smallest error.
        ``trunc``: brian2_loihi, toward zero. ``floor``: Lava, toward minus infinity.
    tau_to_decay : {"nengo", "nxsdk", "exact"}
        Retained fraction ``a = exp(-dt/tau)`` per step -> 12-bit decay (§2a, §7.6).
        ``nengo`` (default): ``round(4095*(1 - a))``. ``nxsdk``: ``int(4096/tau_steps)``
        (NxSDK, brian2_loihi). ``exact``: ``round(4096*(1 - a))``, the value whose
        retained fraction ``(4096 - d)/4096`` is nearest to ``a``.
    weight_exponent_range : {"nengo", "brian2_loihi"}
        Allowed shared weight exponents: -7..7 (nengo-loihi, default) or -8..7
        (brian2_loihi) (§7.4). The quantizer never picks an exponent below -6: with
        ``6 + exp < 0`` the mantissa's low bits are shifted out and no precision is gained.
    refractory_max : {"nengo", "brian2_loihi"}
        Largest refractory delay: 63 (nengo-loihi, NxSDK; default) or 64 (brian2_loihi).
    sign_mode : {"auto", "mixed"}
        ``auto`` (default): a projection whose weights all have one sign uses the
        excitatory or inhibitory format (8-bit magnitude); a mixed-sign projection is
        stored as two formats, one per sign, as Rao et al. did on Loihi
        (docs/sources.md P1.3; ``sign_mode="split"`` in the result). ``mixed``: one
        mixed-sign format per projection (sign bit takes the LSB: even mantissas,
        -256..254).
    weight_bits : int or mapping of projection name to int
        Mantissa bits (1, 2, 3, 4, 5, 6 or 8); default 8.
    alif : {"ahp", "reject"}
        Adaptive-threshold (ALIF) populations have no Loihi 1 hardware form. ``ahp``
        (default): map them onto the two-compartment AHP neuron with
        ``tau_ahp = tau_a`` and ``delta_I_ahp = delta_theta / R_m`` (docs/sources.md P1.4;
        firing rates agree within a few percent while interspike intervals are long
        against ``tau_m``, see biolstm.neurons), and say so in every report.
        ``reject``: report them as not mappable.
    volt_per_unit : mapping of population name to float
        Volts per Loihi integer voltage unit, overriding ``spec.metadata["loihi"]``.
        Without either, the scale is chosen so that the largest incoming weight is
        mantissa 255 at exponent 0 (Rao et al.'s convention), see :mod:`.quantize`.
    ahp_threshold_scale : int
        Power of two 1..128 by which the automatic rule refines the voltage scale of AHP
        populations (their threshold mantissa becomes this many times the LIF rule's;
        incoming weights keep their mantissas, one exponent step per factor 2). Default
        4, Rao et al.'s ``thrAdaScale`` (threshold 508, docs/sources.md P1.2): the aux
        compartment's per-spike jump then spans 4x more integer units, so Loihi's
        truncating decay (one unit per step below ``4096/decayV`` units) shortens the
        AHP current less. 1 gives the LIF rule. Not used when ``volt_per_unit`` or the
        spec's hint sets the scale.
    output_axons : {"intel", "davies", "slayer"}
        Output-axon budget per core (§1a C3, §7.1). ``intel`` (default; Intel's own
        LSNN placement code): 4096 when every target of the core is on its chip, 2048
        otherwise. ``davies``: 4096 always (Davies et al. 2018, nengo-loihi).
        ``slayer``: 4096 on-chip, 1024 across chips (Intel's slayer2loihi).
    profile_limits : {"registers", "nengo_builder", "nengo_validate"}
        Distinct compartment / threshold profiles per core (§1a C7-C8, §7.2):
        ``registers`` (default) 32 / 8, the register-file sizes; ``nengo_builder``
        31 / 7 (its strict asserts); ``nengo_validate`` 32 / 16.
    neuron_fanout_limit : bool
        Enforce Intel's (undocumented) limit of 511 destination cores per neuron
        (§1a C4). Default True.
    pack : bool
        Place several small populations on one core when all resources allow it (the
        paper's sMNIST network shares one core). Default True; False gives every
        population its own cores, like nengo-loihi.
    """

    weight_rounding: str = "nearest_even"
    tau_to_decay: str = "nengo"
    weight_exponent_range: str = "nengo"
    refractory_max: str = "nengo"
    sign_mode: str = "auto"
    weight_bits: Any = 8
    alif: str = "ahp"
    volt_per_unit: Mapping[str, float] = field(default_factory=dict)
    ahp_threshold_scale: int = 4
    output_axons: str = "intel"
    profile_limits: str = "registers"
    neuron_fanout_limit: bool = True
    pack: bool = True

    def __post_init__(self) -> None:
        for name, choices in SETTING_CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise SettingsError(f"setting {name}={value!r} is not one of {choices}")
        bits = self.weight_bits
        values = bits.values() if isinstance(bits, Mapping) else [bits]
        for b in values:
            if b not in (1, 2, 3, 4, 5, 6, 8):
                raise SettingsError(
                    f"setting weight_bits={b!r}: Loihi weight mantissas have 1, 2, 3, 4, 5, 6 "
                    f"or 8 bits (7 is not representable, docs/sources.md L2b)"
                )
        k = self.ahp_threshold_scale
        if not (isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 128 and k & (k - 1) == 0):
            raise SettingsError(
                f"setting ahp_threshold_scale={k!r} must be a power of two from 1 to 128 "
                f"(1 = the LIF rule, 4 = Rao et al.'s thrAdaScale)")
        for pop, vpu in dict(self.volt_per_unit).items():
            if not (isinstance(vpu, (int, float)) and vpu > 0):
                raise SettingsError(f"setting volt_per_unit[{pop!r}] = {vpu!r} must be a positive number")

    def bits_for(self, projection: str) -> int:
        """Weight mantissa bits of one projection."""
        if isinstance(self.weight_bits, Mapping):
            return int(self.weight_bits.get(projection, 8))
        return int(self.weight_bits)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly copy, for reports."""
        out = asdict(self)
        out["volt_per_unit"] = dict(self.volt_per_unit)
        if isinstance(self.weight_bits, Mapping):
            out["weight_bits"] = dict(self.weight_bits)
        return out


def make_settings(settings: LoihiSettings | Mapping[str, Any] | None = None, **kwargs: Any) -> LoihiSettings:
    """Build :class:`LoihiSettings` from an instance, a mapping and/or keywords.

    Raises :class:`SettingsError` for unknown names, listing the valid ones.
    """
    base: dict[str, Any] = {}
    if isinstance(settings, LoihiSettings):
        base = {f.name: getattr(settings, f.name) for f in fields(LoihiSettings)}
    elif settings:
        base = dict(settings)
    base.update(kwargs)
    valid = [f.name for f in fields(LoihiSettings)]
    unknown = sorted(set(base) - set(valid))
    if unknown:
        raise SettingsError(f"unknown Loihi setting(s) {unknown}; valid settings are {valid}")
    return LoihiSettings(**base)
