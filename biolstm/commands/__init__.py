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

__all__ = ["UsageError", "print_library_log", "report_error", "text_table"]


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


class _StreamHandler(logging.StreamHandler):
    """Writes each record's message to the *current* ``sys.stdout`` or ``sys.stderr`` (so a
    redirected or captured stream receives it), one line, flushed."""

    def __init__(self, stream_name: str, prefix: str) -> None:
        super().__init__(getattr(sys, stream_name))
        self.stream_name, self.prefix = stream_name, prefix
        self.setFormatter(logging.Formatter(prefix.replace("%", "%%") + "%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = getattr(sys, self.stream_name)
        super().emit(record)


_HANDLER: tuple[logging.Logger, logging.Handler] | None = None
"""The one handler :func:`print_library_log` installed, and its logger."""


def print_library_log(level: int = logging.INFO, *, stream: str = "stdout", prefix: str = "",
                      logger: str = "biolstm") -> None:
    """Print the messages of ``logger`` (and the loggers below it) at ``level`` and above on
    ``stream`` (``"stdout"`` or ``"stderr"``), as plain lines: ``prefix`` + the message.
    biolstm's loggers have one such handler in all: calling it again (another command in the same process,
    e.g. ``biolstm.cli.main`` called twice) replaces the earlier stream, prefix and level, so a
    ``--json`` command's standard output never receives another command's log lines."""
    if stream not in ("stdout", "stderr"):
        raise ValueError(f"stream {stream!r} must be 'stdout' or 'stderr'")
    log = logging.getLogger(logger)
    log.setLevel(level)
    global _HANDLER
    if _HANDLER is not None:
        _HANDLER[0].removeHandler(_HANDLER[1])
    _HANDLER = (log, _StreamHandler(stream, prefix))
    log.addHandler(_HANDLER[1])


def text_table(rows: list[dict], float_format: str = "{:.4f}") -> str:
    """Rows of equal keys as a plain text table: a header line, right-aligned columns,
    floats as ``float_format`` (what ``DataFrame.to_string(index=False)`` prints, without
    importing pandas)."""
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[float_format.format(v) if isinstance(v, float) else str(v) for v in (r[k] for k in keys)]
             for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = [" ".join(k.rjust(w) for k, w in zip(keys, widths))]
    lines += [" ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
