"""Does a network fit on Loihi? Quantize, place, and list every broken limit.

``check(spec_or_qnet, chip="loihi1", **settings) -> CheckReport``. The report has
``.ok``, ``.status`` (0 fits, 1 a limit is violated, 2 something could not be
translated), ``.violations`` (object, rule, value, limit, fix), ``.cores`` (pandas
per-core usage), ``.pieces`` (which neurons sit where), ``.to_text()`` and
``.to_dict()`` (JSON-able). ``biolstm check PATH`` prints the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from biolstm.loihi.chips import Chip, load_chip
from biolstm.loihi.fixed_point import QuantizedNetwork
from biolstm.loihi.placement import Placement, place
from biolstm.loihi.settings import LoihiSettings, make_settings
from biolstm.loihi.violations import Violation, format_violations

__all__ = ["CheckReport", "check", "check_quantized"]


@dataclass
class CheckReport:
    """Outcome of :func:`check`.

    Attributes
    ----------
    chip : str
    source : str
        What was checked (file name or "NetworkSpec").
    qnet : QuantizedNetwork
    placement : Placement
    violations : list of Violation
        Everything found, warnings included (see :mod:`.violations`).
    settings : dict
    notes : list of str
        Approximations the mapper made (ALIF as AHP, scales, Brian2 schedule...).
    timings : dict of str to float
        Seconds spent quantizing and placing.
    """

    chip: str
    source: str
    qnet: QuantizedNetwork
    placement: Placement
    violations: list[Violation]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> list[Violation]:
        """Broken limits (severity ``"violation"``)."""
        return [v for v in self.violations if v.severity == "violation"]

    @property
    def unrecognised(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "unrecognised"]

    @property
    def warnings(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when the network fits and everything in it was recognised."""
        return not self.errors and not self.unrecognised

    @property
    def status(self) -> int:
        """Exit status: 0 fits, 1 a limit is violated, 2 parts could not be translated.

        Untranslated parts take precedence: their resources are counted as if they were
        one-compartment LIF neurons, so a violation found with them is what they would
        break as LIF, not a verdict on the real model.
        """
        if self.unrecognised:
            return 2
        if self.errors:
            return 1
        return 0

    @property
    def cores(self):
        """pandas DataFrame of per-core usage and limits."""
        return self.placement.cores_table()

    @property
    def pieces(self):
        """pandas DataFrame: which neurons of which population sit on which core and chip."""
        return self.placement.pieces_table()

    def to_text(self, max_cores: int = 20) -> str:
        """A readable report (verdict, usage, violations with fixes, settings)."""
        pl = self.placement
        verdict = {0: "FITS", 1: "DOES NOT FIT", 2: "CANNOT BE FULLY CHECKED"}[self.status]
        lines = [
            f"biolstm check: {self.source} on {self.chip}: {verdict}",
            f"  {self.qnet.n_neurons} neurons in {len(self.qnet.populations)} populations, "
            f"{self.qnet.n_synapses} synapses, {sum(self.qnet.inputs.values())} input channels",
            f"  placed on {pl.n_cores} cores on {pl.n_chips} chip(s) "
            f"({pl.limits.cores_per_chip} cores per chip)",
        ]
        if self.unrecognised:
            lines.append("  (parts that could not be translated are counted as one-compartment LIF neurons with "
                         "their synapses: the neurons, synapses, axons and cores above are what they would need "
                         "as LIF" + (", and the violations below are what they would break" if self.errors else "")
                         + ")")
        if self.errors or self.unrecognised:
            lines.append(f"\nProblems ({len(self.errors)} violations, {len(self.unrecognised)} unrecognised):")
            lines.append(format_violations(self.unrecognised + self.errors))
        if self.warnings:
            lines.append(f"\nWarnings ({len(self.warnings)}):")
            lines.append(format_violations(self.warnings))
        lines.append("\nPopulations (fixed point):")
        lines.append(_indent(self.qnet.parameters_table().to_string(index=False)))
        if self.qnet.projections:
            lines.append("\nProjections (weights):")
            lines.append(_indent(self.qnet.weights_table().to_string(index=False)))
        lines.append("\nPer-core usage" + (f" (first {max_cores} of {pl.n_cores})" if pl.n_cores > max_cores else "") + ":")
        cols = ["core", "chip", "populations", "compartments", "compartment_limit", "input_axons",
                "output_axons", "output_axon_limit", "synapse_bits", "compartment_profiles",
                "threshold_profiles", "synapse_formats"]
        lines.append(_indent(self.cores[cols].head(max_cores).to_string(index=False)))
        if self.notes:
            lines.append("\nNotes:")
            lines += [f"  - {n}" for n in self.notes]
        lines.append("\nConventions: " + "; ".join(f"{k}: {v}" for k, v in self.qnet.conventions.items()))
        lines.append(f"Chip data: {self.placement.chip.path}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (used by ``biolstm check --json``)."""
        pl = self.placement
        return {
            "source": self.source,
            "chip": self.chip,
            "fits": self.ok,
            "status": self.status,
            "cores": pl.n_cores,
            "chips": pl.n_chips,
            "neurons": self.qnet.n_neurons,
            "synapses": self.qnet.n_synapses,
            "violations": [v.to_dict() for v in self.violations],
            "populations": _records(self.qnet.parameters_table()),
            "projections": _records(self.qnet.weights_table()),
            "pieces": _records(self.pieces),
            "core_usage": _records(self.cores),
            "settings": _jsonable(self.settings),
            "conventions": self.qnet.conventions,
            "notes": self.notes,
            "timings": self.timings,
        }


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        v = float(x)
        return v if np.isfinite(v) else None
    if isinstance(x, float):
        return x if np.isfinite(x) else None
    if isinstance(x, np.bool_):
        return bool(x)
    if x is None or isinstance(x, (str, int, bool)):
        return x
    return str(x)


def _records(df) -> list[dict[str, Any]]:
    return [_jsonable(r) for r in df.to_dict(orient="records")]


def check_quantized(qnet: QuantizedNetwork, chip: str | Chip | None = None, *, source: str = "network",
                    settings: LoihiSettings | Mapping[str, Any] | None = None, notes: list[str] | None = None,
                    timings: dict[str, float] | None = None, **kwargs: Any) -> CheckReport:
    """Place an already quantized network and collect every violation."""
    t0 = time.perf_counter()
    pl = place(qnet, chip, settings=settings, **kwargs)
    timings = dict(timings or {})
    timings["place_s"] = time.perf_counter() - t0
    all_notes = list(notes or [])
    for pop in qnet.populations:
        all_notes += [f"population '{pop.name}': {n}" for n in pop.notes if not n.startswith("voltage scale")]
    all_notes += qnet.notes
    return CheckReport(
        chip=pl.chip.name, source=source, qnet=qnet, placement=pl,
        violations=list(qnet.violations) + list(pl.violations), settings=pl.settings.as_dict(),
        notes=all_notes, timings=timings)


def check(network, chip: str | Chip = "loihi1", *, settings: LoihiSettings | Mapping[str, Any] | None = None,
          source: str | None = None, **kwargs: Any) -> CheckReport:
    """Check that a network fits on a Loihi chip.

    Parameters
    ----------
    network : NetworkSpec or QuantizedNetwork
    chip : str, path or Chip
        ``"loihi1"`` (default), ``"loihi2"`` or a chip JSON file.
    settings, **kwargs
        :class:`~.settings.LoihiSettings` fields.

    Returns
    -------
    CheckReport
        ``report.ok``, ``report.status``, ``report.violations``, ``report.cores``.
    """
    from biolstm.loihi.quantize import quantize

    chip = load_chip(chip)
    cfg = make_settings(settings, **kwargs)
    if isinstance(network, QuantizedNetwork):
        return check_quantized(network, chip, source=source or "QuantizedNetwork", settings=cfg)
    t0 = time.perf_counter()
    qnet = quantize(network, chip, strict=False, settings=cfg)
    timings = {"quantize_s": time.perf_counter() - t0}
    return check_quantized(qnet, chip, source=source or "NetworkSpec", settings=cfg, timings=timings)
