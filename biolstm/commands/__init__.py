"""Subcommands of the ``biolstm`` command line (one module each).

Library code reports progress through :mod:`logging` (``logging.getLogger(__name__)``);
only these commands print. A command that wants the library's progress messages on its
standard output calls :func:`print_library_log` first.

A user's mistake ends a command as one line (:func:`report_error`); a command that finds
one argparse cannot see raises :class:`UsageError`. Both live here, below
:mod:`biolstm.cli`, so that no command imports the command line's entry point.
"""

from __future__ import annotations

import json
import logging
import sys

from biolstm.errors import BiolstmError

__all__ = ["UsageError", "print_library_log", "report_error"]


class UsageError(BiolstmError):
    """A command line that argparse rejects (bad option, missing argument)."""


def report_error(message: str, as_json: bool = False) -> int:
    """Print ``message`` as the command's error (one line, or JSON) and return exit status 2."""
    message = " ".join(str(message).split())  # one line
    if as_json:
        print(json.dumps({"error": message}))
    else:
        print(f"error: {message}", file=sys.stderr)
    return 2


class _StdoutHandler(logging.StreamHandler):
    """Writes each record's message to the *current* ``sys.stdout`` (so a redirected or
    captured stdout receives it), one line, flushed."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def print_library_log(level: int = logging.INFO) -> None:
    """Print the ``biolstm`` loggers' messages at ``level`` and above on stdout, as plain
    lines (the message only). Calling it again changes nothing but the level."""
    logger = logging.getLogger("biolstm")
    logger.setLevel(level)
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        handler = _StdoutHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
