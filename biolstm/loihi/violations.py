"""One record per broken limit, unusable model or notable approximation.

The quantizer, the placer and the checker all describe problems as :class:`Violation`
records: which object, which rule, the value, the limit and a concrete fix. The
``severity`` says what it means for the exit status of ``biolstm check``:

* ``"violation"``   -- a chip limit is exceeded: the network does not fit (exit 1);
* ``"unrecognised"`` -- a model or object the mapper cannot translate: the network
  cannot be fully checked (exit 2 when there is no violation);
* ``"warning"``     -- representable, but with a loss the user should know about
  (weights rounded to zero, a limit that is not published for this chip).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable

from biolstm.errors import BiolstmError

__all__ = ["Violation", "LoihiLimitError", "format_violations"]

SEVERITIES = ("violation", "unrecognised", "warning")


@dataclass(frozen=True)
class Violation:
    """A broken limit (or a warning) with the numbers and the fix.

    Attributes
    ----------
    object : str
        What it is about, e.g. ``"population 'rec'"``, ``"projection 'w_in'"``,
        ``"core 3 (chip 0)"``.
    rule : str
        The limit, e.g. ``"input axons per core (C2)"``.
    value : Any
        The offending value (number, or text).
    limit : Any
        The limit it breaks.
    fix : str
        A concrete change that resolves it.
    severity : {"violation", "unrecognised", "warning"}
    """

    object: str
    rule: str
    value: Any
    limit: Any
    fix: str
    severity: str = "violation"

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")

    def text(self) -> str:
        """One line: object, rule, value vs limit, fix."""
        return f"{self.object}: {self.rule}: {_fmt(self.value)} (limit {_fmt(self.limit)}). Fix: {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["value"] = _jsonable(self.value)
        out["limit"] = _jsonable(self.limit)
        return out


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item") and callable(x.item):
        try:
            return x.item()
        except (ValueError, TypeError):
            pass
    if isinstance(x, (int, float, str, bool)) or x is None:
        return x
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return str(x)


def format_violations(violations: Iterable[Violation]) -> str:
    """Numbered lines, violations first."""
    order = {s: k for k, s in enumerate(SEVERITIES)}
    items = sorted(violations, key=lambda v: order[v.severity])
    return "\n".join(f"  {k + 1}. [{v.severity}] {v.text()}" for k, v in enumerate(items))


class LoihiLimitError(BiolstmError, ValueError):
    """A network that breaks Loihi limits; ``.violations`` lists every one of them."""

    def __init__(self, what: str, violations: list[Violation]):
        self.violations = list(violations)
        super().__init__(
            f"{what}: {len(self.violations)} problem(s)\n{format_violations(self.violations)}"
        )
