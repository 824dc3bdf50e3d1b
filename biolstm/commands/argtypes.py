"""Argument types for the subcommands: numbers checked at parse time, with the valid range.

Each function takes the option's text and returns the value, or raises
:class:`argparse.ArgumentTypeError` whose message says what would be valid; argparse
prefixes it with the option (``argument --epochs: ...``) and :func:`biolstm.cli.main`
prints it as ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["positive_int", "nonnegative_int", "positive_float", "nonnegative_float", "fraction"]


def _number(text: str, kind: type, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not {what}")
    return value


def _checked(text: str, kind: type, what: str, ok, message: str):
    """``text`` as a ``kind`` (``what`` names it) for which ``ok(value)`` holds, else an
    error ``message.format(value)``."""
    value = _number(text, kind, what)
    if not ok(value):
        raise argparse.ArgumentTypeError(message.format(value))
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _checked(text, int, "an integer >= 1", lambda v: v >= 1, "{} must be an integer >= 1")


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    return _checked(text, int, "an integer >= 0", lambda v: v >= 0, "{} must be an integer >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _checked(text, float, "a finite number > 0", lambda v: v > 0, "{:g} must be a number > 0")


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    return _checked(text, float, "a finite number >= 0", lambda v: v >= 0, "{:g} must be a number >= 0")


def fraction(text: str) -> float:
    """A number in (0, 1] (e.g. a connection density)."""
    return _checked(text, float, "a number in (0, 1]", lambda v: 0 < v <= 1,
                    "{:g} must be in (0, 1] (a fraction of the possible weights)")
