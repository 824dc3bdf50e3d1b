"""The common base of biolstm's errors about a user's input.

Every error class that means "this input, file or option cannot be used" derives from
:class:`BiolstmError` (and keeps its older parent, usually :class:`ValueError`, so
``except ValueError`` still works). Its message names the object, the value, the limit
and the fix. The ``biolstm`` command line prints such an error as one line
``error: <message>`` (or ``{"error": ...}`` with ``--json``) and exits with status 2;
any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["BiolstmError"]


class BiolstmError(Exception):
    """An input, file or option that cannot be used; the message says what would be valid."""
