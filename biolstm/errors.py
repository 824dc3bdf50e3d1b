"""The common base of biolstm's errors about a user's input.

Every error class that means "this input, file or option cannot be used" derives from
:class:`BiolstmError` (and keeps its older parent, usually :class:`ValueError`, so
``except ValueError`` still works). Its message names the object, the value, the limit
and the fix. The ``biolstm`` command line prints such an error as one line
``error: <message>`` (or ``{"error": ...}`` with ``--json``) and exits with status 2;
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["BiolstmError", "check_at_least"]


class BiolstmError(Exception):
    """An input, file or option that cannot be used; the message says what would be valid."""


def check_at_least(obj: Any, names: Iterable[str], minimum: float, error: type[Exception] = BiolstmError,
                   *, owner: str = "") -> None:
    """Raise ``error`` for the first attribute of ``obj`` in ``names`` that is below ``minimum``:
    ``"<owner><name> = <value> must be >= <minimum>"``."""
    for name in names:
        value = getattr(obj, name)
        if value < minimum:
            raise error(f"{owner}{name} = {value} must be >= {minimum}")
