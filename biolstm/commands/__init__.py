"""Subcommands of the ``biolstm`` command line (one module each).

Library code reports progress through :mod:`logging` (``logging.getLogger(__name__)``);
only these commands print. A command that wants the library's progress messages on its
standard output calls :func:`print_library_log` first.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["print_library_log"]


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
