"""Chip descriptions: every limit, number format and energy figure of a chip, as data.

A chip is one JSON file (``biolstm/loihi/chips/<name>.json``). Every quantity is an
entry ``{"value": ..., "source": "..."}``; ``value`` is ``null`` where no public source
gives the number, and the checks that need it are then skipped and reported as
unchecked. Energy models sit under ``energy_models`` (one entry per model, every
figure with its source). To describe another chip, copy one of the shipped files,
change the numbers and sources, and pass its path wherever a chip name is accepted
(``check(spec, chip="my_chip.json")``, ``biolstm check --chip my_chip.json``).

Shipped chips: ``loihi1`` (Davies et al. 2018 and the tools that target it) and
``loihi2`` (only what Intel and Lava have published; see ``docs/sources.md``
L1c).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from biolstm.errors import BiolstmError
from biolstm.fileio import existing_path

__all__ = ["ChipError", "Chip", "EnergyModel", "load_chip", "available_chips", "CHIP_DIR"]

CHIP_DIR = Path(__file__).resolve().parent / "chips"
"""Folder of the chip files shipped with biolstm."""

#: Entries every chip file must have (value may be null where unpublished).
REQUIRED = (
    "cores_per_chip", "cores_per_tile", "mesh_tiles", "compartments_per_core",
    "input_axons_per_core", "output_axons_per_core", "output_axons_per_neuron",
    "synapse_memory_bits_per_core", "synapse_encoding", "compartment_profiles_per_core",
    "threshold_profiles_per_core", "synapse_formats_per_core", "dendritic_accumulator_bits",
    "min_delay_bits", "max_delay_steps", "weight_mantissa_bits", "weight_mantissa_max",
    "weight_exponent_range", "weight_exponent_shift", "threshold_mantissa_max",
    "threshold_shift", "decay_max", "bias_mantissa_max", "bias_exponent_max",
    "refractory_max", "voltage_bits", "input_accumulator_bits",
    "ahp_compartments_per_neuron", "ahp_extra_axons_and_synapses",
    "static_power_per_chip_W", "static_power_per_core_W", "x86_power_per_chip_W",
    "measured_step_seconds",
)
#: Must have a non-null value: without them nothing can be placed.
ESSENTIAL = ("cores_per_chip", "compartments_per_core", "weight_mantissa_max",
             "threshold_mantissa_max", "decay_max", "weight_exponent_shift", "threshold_shift")


class ChipError(BiolstmError, ValueError):
    """A chip name or chip file that cannot be used."""


@dataclass(frozen=True)
class EnergyModel:
    """Per-event energies (pJ) and latencies (ns) of one published model.

    Attributes
    ----------
    name : str
        ``"davies2018"`` or ``"sanafe"`` (or a user's name).
    description : str
    values : dict of str to Any
        Figure name -> value (``*_pJ``, ``*_ns``, tables as lists of pairs).
    sources : dict of str to str
        Figure name -> where the number comes from.
    """

    name: str
    description: str
    values: dict[str, Any]
    sources: dict[str, str]

    def __getitem__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise ChipError(
                f"energy model '{self.name}' has no figure {key!r}; it has {sorted(self.values)}"
            ) from None


@dataclass(frozen=True)
class Chip:
    """A chip description read from a JSON file.

    ``chip.value(key)`` returns a number (or None where unpublished) and
    ``chip.source(key)`` where it comes from. Common figures are also properties.
    """

    name: str
    description: str
    path: str
    values: dict[str, Any]
    sources: dict[str, str]
    references: dict[str, str]
    energy_models: dict[str, EnergyModel] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        """The value of entry ``key`` (None when the chip file says it is unpublished)."""
        try:
            return self.values[key]
        except KeyError:
            raise ChipError(f"chip '{self.name}' ({self.path}) has no entry {key!r}") from None

    def source(self, key: str) -> str:
        """Where the value of ``key`` comes from."""
        return self.sources.get(key, "")

    def option(self, key: str, choice: str) -> Any:
        """One named option of a multi-valued entry (e.g. ``refractory_max`` 'nengo')."""
        entry = self.value(key)
        if entry is None:
            return None
        if not isinstance(entry, dict):
            return entry
        if choice not in entry:
            raise ChipError(
                f"chip '{self.name}': {key} has no option {choice!r}; options are {sorted(entry)}"
            )
        return entry[choice]

    def energy_model(self, name: str) -> EnergyModel:
        """The energy model ``name``; a clear error when the chip has none by that name."""
        if name not in self.energy_models:
            have = sorted(self.energy_models) or "none (no per-event energies are published)"
            raise ChipError(
                f"chip '{self.name}' has no energy model {name!r}; it has {have}. Add one to "
                f"{self.path} under 'energy_models' or use chip 'loihi1'"
            )
        return self.energy_models[name]

    # -- convenience ---------------------------------------------------------------
    @property
    def cores_per_chip(self) -> int:
        return int(self.values["cores_per_chip"])

    @property
    def compartments_per_core(self) -> int:
        return int(self.values["compartments_per_core"])

    @property
    def cores_per_tile(self) -> int:
        return int(self.values.get("cores_per_tile") or 1)

    @property
    def mesh_tiles(self) -> tuple[int, int]:
        mesh = self.values.get("mesh_tiles") or [self.cores_per_chip // self.cores_per_tile, 1]
        return int(mesh[0]), int(mesh[1])


def _sourced(entries: dict, skip: tuple[str, ...], bad) -> tuple[dict[str, Any], dict[str, str]]:
    """The values and sources of ``entries``, each ``{"value": ..., "source": "..."}`` (keys in
    ``skip`` aside); an entry without both raises :class:`ChipError` with ``bad(key, entry)``."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, entry in entries.items():
        if key in skip:
            continue
        if not isinstance(entry, dict) or "value" not in entry or not entry.get("source"):
            raise ChipError(bad(key, entry))
        values[key] = entry["value"]
        sources[key] = str(entry["source"])
    return values, sources


def _parse(data: dict, path: str) -> Chip:
    if not isinstance(data, dict) or "name" not in data:
        raise ChipError(f"chip file {path} must be a JSON object with a 'name'")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ChipError(
            f"chip file {path} lacks entries {missing}; give each as "
            f'{{"value": ..., "source": "..."}} (value null if unpublished)'
        )
    values, sources = _sourced(
        data, ("name", "description", "sources", "energy_models"),
        lambda key, entry: (f"chip file {path}: entry {key!r} must be {{\"value\": ..., \"source\": \"...\"}} "
                            f"with a non-empty source, got {entry!r}"))
    for key in ESSENTIAL:
        if values.get(key) is None:
            raise ChipError(f"chip file {path}: {key} must have a value (it cannot be null)")
    models = {}
    for mname, mdata in (data.get("energy_models") or {}).items():
        mvalues, msources = _sourced(
            mdata, ("description",),
            lambda key, entry: f"chip file {path}: energy model {mname!r} figure {key!r} needs a value and a source")
        models[mname] = EnergyModel(mname, str(mdata.get("description", "")), mvalues, msources)
    return Chip(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        path=path,
        values=values,
        sources=sources,
        references=dict(data.get("sources") or {}),
        energy_models=models,
    )


def available_chips() -> list[str]:
    """Names of the chips shipped with biolstm."""
    return sorted(p.stem for p in CHIP_DIR.glob("*.json"))


@lru_cache(maxsize=32)
def _load_path(path: str, mtime: float) -> Chip:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        raise ChipError(f"chip file {path} is not valid JSON: {err}") from None
    return _parse(data, path)


def load_chip(chip: "str | os.PathLike | Chip") -> Chip:
    """A chip by name (``"loihi1"``, ``"loihi2"``), by path to a JSON file, or as given.

    Raises
    ------
    ChipError
        Unknown name (lists the shipped ones), missing file, or a file whose entries
        lack values or sources.
    """
    if isinstance(chip, Chip):
        return chip
    text = os.fspath(chip)
    candidate = Path(text)
    if candidate.suffix == ".json" or os.sep in text:
        path = existing_path(candidate, ChipError, "chip file").resolve()
    else:
        path = CHIP_DIR / f"{text}.json"
        if not path.exists():
            raise ChipError(
                f"unknown chip {text!r}; shipped chips are {available_chips()}, or pass the "
                f"path of a chip JSON file"
            )
    return _load_path(str(path), path.stat().st_mtime)
